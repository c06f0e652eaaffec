using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using OffRL;
using OffRL.Algorithms;
using OffRL.Data;
using OffRL.Data.IO;
using OffRL.Envs;
using OffRL.Nn;
using OffRL.Tensors;

// OffRL benchmarks: dotnet run -c Release --project bench/OffRL.Bench -- NAME [--json] [--threads N] (default: OFFRL_THREADS, else all cores)
// With --json the last line printed is one flat JSON object of figures.
OffRL.MuJoCo.MuJoCoEnvs.Register();
var names = new Dictionary<string, Func<int, Dictionary<string, double>>>
{
    ["gemm"] = _ => Benchmarks.GemmFigures(),
    ["peak"] = t => PeakBenchmark.Run(t),
    ["mlp-step"] = t => Benchmarks.MlpStep(t),
    ["ensemble-step"] = t => Benchmarks.EnsembleStep(t),
    ["transformer-step"] = t => Benchmarks.TransformerStep(t),
    ["dataset-sample"] = _ => DataBenchmarks.Sample(),
    ["dataset-load"] = _ => DataBenchmarks.Load(),
    ["nearest"] = t => DataBenchmarks.Nearest(t),
    ["env-step"] = _ => EnvBenchmarks.Steps(),
    ["td3bc-update"] = t => AlgoBenchmarks.Updates("td3bc", t),
    ["iql-update"] = t => AlgoBenchmarks.Updates("iql", t),
    ["sac-update"] = t => AlgoBenchmarks.Updates("sac", t),
    ["cql-update"] = t => AlgoBenchmarks.Updates("cql", t),
    ["ensemble-update"] = t => AlgoBenchmarks.EnsembleUpdates(t),
    ["edac-update"] = t => AlgoBenchmarks.Updates("edac", t),
    ["rebrac-update"] = t => AlgoBenchmarks.Updates("rebrac", t),
    ["rlpd-step"] = t => AlgoBenchmarks.Updates("rlpd", t),   // RLPD's update: 10 layer-normed critics, batch 256; the actor every 20th
    ["rlpd-loop"] = t => AlgoBenchmarks.RlpdLoop(t),
    ["rlpd-profile"] = t => AlgoBenchmarks.Profile("rlpd", t, Environment.GetEnvironmentVariable("OVERRIDES") is { } o ? JsonDocument.Parse(o).RootElement : null),
    ["ppo-iteration"] = t => AlgoBenchmarks.PpoIteration(t),   // CleanRL's continuous PPO: 8 envs x 256 hopper steps, 10 epochs of minibatch 64
    ["prdc-update"] = t => AlgoBenchmarks.PrdcUpdates(t),
    ["dynamics-fit"] = t => AlgoBenchmarks.DynamicsFit(t),
    ["dynamics-profile"] = t => AlgoBenchmarks.DynamicsFit(t, profile: true),
    ["model-rollout"] = t => AlgoBenchmarks.ModelRollout(t),
    ["mobile-update"] = t => AlgoBenchmarks.MobileUpdate(t),
    ["pgd"] = t => AlgoBenchmarks.PolicyGuidedDiffusion(t),
    ["rebrac-profile"] = t => AlgoBenchmarks.Profile("rebrac", t),
    ["riql-update"] = t => AlgoBenchmarks.Updates("riql", t),
    ["riql-profile"] = t => AlgoBenchmarks.Profile("riql", t),
    ["edac-profile"] = t => AlgoBenchmarks.Profile("edac", t),
    ["td3bc-profile"] = t => AlgoBenchmarks.Profile("td3bc", t),
    ["iql-profile"] = t => AlgoBenchmarks.Profile("iql", t),
    ["sac-profile"] = t => AlgoBenchmarks.Profile("sac", t),
    ["cql-profile"] = t => AlgoBenchmarks.Profile("cql", t),
    ["ensemble-profile"] = t => AlgoBenchmarks.Profile("sac-n", t, AlgoBenchmarks.SacN(Environment.GetEnvironmentVariable("CRITICS") ?? "10")),
    ["serve-load"] = _ => ServeBenchmarks.LoadTest(),
    ["serve-crash"] = _ => ServeBenchmarks.CrashTest(),
    ["bandit-decide"] = _ => BanditBenchmarks.Decide(),
    ["mujoco-compare"] = _ => EnvBenchmarks.CompareWithGym(Environment.GetEnvironmentVariable("GYM_XML_DIR")),
    ["offline-table"] = _ => OfflineTable.Build(Environment.GetEnvironmentVariable("OUT") ?? "bench/results/mujoco"),
    ["import-check"] = _ => ImportCheck.Run(Environment.GetEnvironmentVariable("CHECKPOINT")),
    ["lockstep"] = _ => Lockstep.Run(),
    ["figure"] = _ => Figure.Run(args),
};
if (args.Length == 0 || !names.ContainsKey(args[0]))
{
    Console.Error.WriteLine($"usage: OffRL.Bench NAME [--json] [--threads N]\nNAME: {string.Join(", ", names.Keys)}");
    return 2;
}
bool json = args.Contains("--json");
int threads = OffRL.Tensors.Gemm.Threads;   // --threads N, else OFFRL_THREADS as the library reads it, else all cores
int ti = Array.IndexOf(args, "--threads");
if (ti >= 0 && (ti + 1 >= args.Length || !int.TryParse(args[ti + 1], out threads) || threads < 1))
{
    Console.Error.WriteLine("--threads: expected a positive integer");
    return 2;
}
var figures = names[args[0]](threads);
foreach (var (k, v) in figures) Console.WriteLine($"{args[0]} {k}: {v.ToString("G5", CultureInfo.InvariantCulture)}");
if (json) Console.WriteLine(JsonSerializer.Serialize(figures.ToDictionary(kv => kv.Key, kv => Math.Round(kv.Value, Math.Abs(kv.Value) < 10 ? 3 : 1))));
return 0;

static class Benchmarks
{
    /// <summary>
    /// Median over 3 timed runs of the rate of <paramref name="step"/>, each run about 1.5 s, after a warmup of
    /// at least 3 s and 30 calls: long enough for tiered JIT compilation to reach its final code.
    /// </summary>
    public static double Rate(Action step, double seconds = 1.5)
    {
        var sw = Stopwatch.StartNew();
        int warm = 0;
        double warmup = double.TryParse(Environment.GetEnvironmentVariable("OFFRL_BENCH_WARMUP_S"), out var w) ? w : 3.0;
        while (sw.Elapsed.TotalSeconds < warmup || warm < 30) { step(); warm++; }
        sw.Restart();
        warm = 0;
        while (sw.Elapsed.TotalSeconds < 0.3 || warm < 3) { step(); warm++; }
        int n = Math.Max(3, (int)(warm / sw.Elapsed.TotalSeconds * seconds));
        var rates = new double[3];
        for (int r = 0; r < 3; r++)
        {
            sw.Restart();
            for (int i = 0; i < n; i++) step();
            rates[r] = n / sw.Elapsed.TotalSeconds;
        }
        Array.Sort(rates);
        return rates[1];
    }

    public static Dictionary<string, double> GemmFigures()
    {
        var f = new Dictionary<string, double>();
        foreach (int s in new[] { 256, 1024 })
            foreach (int t in new[] { 1, 2 })
            {
                Gemm.Threads = t;
                var rng = new Rng(1);
                var a = new float[s * s]; var b = new float[s * s]; var c = new float[s * s];
                rng.FillNormal(a); rng.FillNormal(b);
                double rate = Rate(() => Gemm.Sgemm(false, false, s, s, s, 1f, a, s, b, s, 0f, c, s));
                f[$"gflops_{s}_t{t}"] = 2.0 * s * s * s * rate / 1e9;
            }
        Gemm.Threads = 1;
        foreach (var (ta, tb, m, n, k) in new[] { (false, false, 7680, 256, 256), (false, true, 7680, 256, 256), (true, false, 256, 256, 7680), (false, false, 256, 256, 256) })
        {
            var rng = new Rng(1);
            var a = new float[m * k]; var b = new float[k * n]; var c = new float[m * n];
            rng.FillNormal(a); rng.FillNormal(b);
            double rate = Rate(() => Gemm.Sgemm(ta, tb, m, n, k, 1f, a, ta ? m : k, b, tb ? k : n, 0f, c, n));
            f[$"gflops_{(ta ? 'T' : 'N')}{(tb ? 'T' : 'N')}_{m}x{n}x{k}"] = 2.0 * m * n * k * rate / 1e9;
        }
        foreach (int t in new[] { 1, 2 })
        {   // ten independent 256^3 products spread over the cores, as an ensemble layer runs its members
            Gemm.Threads = t;
            const int E = 10, S = 256;
            var rng = new Rng(3);
            var a = new float[E * S * S]; var b = new float[E * S * S]; var c = new float[E * S * S];
            rng.FillNormal(a); rng.FillNormal(b);
            double rate = Rate(() => Gemm.ParallelFor(E, i => Gemm.Sgemm(false, false, S, S, S, 1f, a.AsSpan(i * S * S, S * S), S, b.AsSpan(i * S * S, S * S), S, 0f, c.AsSpan(i * S * S, S * S), S)));
            f[$"gflops_ensemble10_256_t{t}"] = 2.0 * E * S * S * S * rate / 1e9;
        }
        {   // ten members through three 256 x 256 layers (bias, ReLU), one thread: all members layer by layer (the
            // engine's order: a layer is one op) against each member through all its layers (depth first)
            Gemm.Threads = 1;
            const int E = 10, S = 256, L = 3;
            var rng = new Rng(4);
            var x = new float[E * S * S]; var w = new float[L * E * S * S]; var bias = new float[S];
            var h = new float[(L + 1) * E * S * S];
            rng.FillNormal(x); rng.FillNormal(w); Array.Copy(x, h, x.Length);
            void Layer(int l, int e) => Gemm.SgemmBiasAct(false, false, S, S, S, h.AsSpan((l * E + e) * S * S, S * S), S,
                w.AsSpan((l * E + e) * S * S, S * S), S, bias, h.AsSpan(((l + 1) * E + e) * S * S, S * S), S, Activation.Relu);
            double flops = 2.0 * E * L * S * S * S;
            f["gflops_ensemble10_3layers_layer_first"] = flops * Rate(() => { for (int l = 0; l < L; l++) for (int e = 0; e < E; e++) Layer(l, e); }) / 1e9;
            f["gflops_ensemble10_3layers_member_first"] = flops * Rate(() => { for (int e = 0; e < E; e++) for (int l = 0; l < L; l++) Layer(l, e); }) / 1e9;
        }
        Gemm.Threads = Environment.ProcessorCount;
        return f;
    }

    /// <summary>Steps/s of one supervised step: zero grads, MSE of forward(x) to y, backward, optional clip, optimizer step.</summary>
    private static Dictionary<string, double> StepRate(int threads, Func<Tensor, Tensor> forward, Optimizer opt, Tensor x, Tensor y, float clip = 0f)
    {
        Gemm.Threads = threads;
        double rate = Rate(() =>
        {
            using var _ = TensorScope.Begin();
            opt.ZeroGrad();
            (forward(x) - y).Square().Mean().Backward();
            if (clip > 0f) Grad.ClipNorm(opt.Params, clip);
            opt.Step();
        });
        return new() { ["steps_per_s"] = rate };
    }

    /// <summary>forward + backward + Adam for 17 -> 256 -> 256 -> 6 at batch 256 (MSE to a fixed target).</summary>
    public static Dictionary<string, double> MlpStep(int threads)
    {
        var rng = new Rng(1);
        var net = new Mlp(new MlpConfig(17, [256, 256], 6), rng);
        return StepRate(threads, net.Forward, new Adam(net.Parameters(), 3e-4), Tensor.Randn(new Shape(256, 17), rng), Tensor.Randn(new Shape(256, 6), rng));
    }

    /// <summary>10-member critic ensemble 23 -> 256 -> 256 -> 1 at batch 256: forward + backward + Adam.</summary>
    public static Dictionary<string, double> EnsembleStep(int threads)
    {
        var rng = new Rng(1);
        var net = new EnsembleMlp(10, new MlpConfig(23, [256, 256], 1), rng);
        return StepRate(threads, net.Forward, new Adam(net.Parameters(), 3e-4), Tensor.Randn(new Shape(256, 23), rng), Tensor.Randn(new Shape(10, 256, 1), rng));
    }

    /// <summary>3 layers, 1 head, width 128, context 20, batch 64: forward + backward + clip + AdamW.</summary>
    public static Dictionary<string, double> TransformerStep(int threads)
    {
        var rng = new Rng(1);
        var net = new CausalTransformer(new TransformerConfig(Input: 23, Width: 128, Layers: 3, Heads: 1, Context: 20, Output: 6, Dropout: 0.1f), rng);
        var opt = new AdamW(net.Parameters(), 1e-4, weightDecay: 1e-4f);
        return StepRate(threads, net.Forward, opt, Tensor.Randn(new Shape(64, 20, 23), rng), Tensor.Randn(new Shape(64, 20, 6), rng), clip: 0.25f);
    }
}

static class DataBenchmarks
{
    /// <summary>A D4RL-shaped dataset: obs 17, act 6, episodes of 1000 steps ending by timeout.</summary>
    public static Dataset Synthetic(int n)
    {
        var rng = new Rng(1);
        var obs = new float[n * 17]; var act = new float[n * 6]; var rew = new float[n]; var term = new bool[n]; var tout = new bool[n];
        rng.FillNormal(obs); rng.FillUniform(act, -1f, 1f); rng.FillNormal(rew);
        for (int i = 0; i < n; i++) tout[i] = i % 1000 == 999 || i == n - 1;
        return new Dataset(new DatasetColumns { Observations = obs, Actions = act, Rewards = rew, Terminals = term, Timeouts = tout },
            Box.Unbounded(17), Box.Uniform(6, -1f, 1f), new DatasetInfo("synthetic"));
    }

    /// <summary>
    /// PRDC's search (issue 36): the k-d tree over a dataset's keys [beta s, a] (beta 2, s standardized as PRDC's
    /// TD3+BC base does), DATASET a built-in name or a file (default halfcheetah-medium: 1M points of 23 values), queried
    /// with batches of 256 dataset states whose actions are moved by N(0, 0.1) noise (a policy near the data). Figures:
    /// build seconds, queries/s on THREADS threads, and a brute-force scan's queries/s for scale.
    /// </summary>
    public static Dictionary<string, double> Nearest(int threads)
    {
        Gemm.Threads = threads;
        var (d, _) = OffRL.Runs.Recipes.Open(Environment.GetEnvironmentVariable("DATASET") ?? "halfcheetah-medium", needEnv: false);
        int n = d.Count, od = d.ObservationDim, ad = d.ActionDim, dim = od + ad;
        var (mean, std) = ColumnStats.MeanStd(d.Observations, od);
        var keys = new float[n * dim];
        const float beta = 2f;
        for (int i = 0; i < n; i++)
        {
            for (int k = 0; k < od; k++) keys[i * dim + k] = beta * (float)((d.Observations[i * od + k] - mean[k]) / Math.Max(std[k], 1e-3));
            d.Actions.Slice(i * ad, ad).CopyTo(keys.AsSpan(i * dim + od, ad));
        }
        var sw = Stopwatch.StartNew();
        var tree = new KdTree(keys, n, dim);
        double build = sw.Elapsed.TotalSeconds;
        var rng = new Rng(3);
        const int batch = 256;
        var query = new float[batch * dim];
        var noise = new float[ad];
        var result = new int[batch];
        void NewBatch()
        {
            for (int q = 0; q < batch; q++)
            {
                int row = rng.NextInt(n);
                keys.AsSpan(row * dim, dim).CopyTo(query.AsSpan(q * dim, dim));
                rng.FillNormal(noise);
                for (int k = 0; k < ad; k++) query[q * dim + od + k] = Math.Clamp(query[q * dim + od + k] + 0.1f * noise[k], -1f, 1f);
            }
        }
        NewBatch();
        double batches = Benchmarks.Rate(() => { NewBatch(); tree.Nearest(query, batch, result); });
        // brute force on one batch's first 8 queries, for scale
        sw.Restart();
        for (int q = 0; q < 8; q++)
        {
            float best = float.PositiveInfinity;
            for (int i = 0; i < n; i++)
            {
                float s2 = 0f;
                for (int k = 0; k < dim; k++) { float diff = query[q * dim + k] - keys[i * dim + k]; s2 += diff * diff; }
                if (s2 < best) best = s2;
            }
        }
        double brute = 8 / sw.Elapsed.TotalSeconds;
        return new() { ["points"] = n, ["dimension"] = dim, ["build_s"] = build, ["queries_per_s"] = batches * batch, ["brute_force_queries_per_s"] = brute };
    }

    /// <summary>Uniform batches of 256 transitions (obs 17, act 6) per second from a 1M-transition dataset.</summary>
    public static Dictionary<string, double> Sample()
    {
        var d = Synthetic(1_000_000);
        var s = new UniformSampler(d, 256, new Rng(2));
        double rate = Benchmarks.Rate(() => s.Sample());
        return new() { ["batches_per_s"] = rate, ["transitions_per_s"] = rate * 256 };
    }

    /// <summary>Seconds and MB/s to load 1M transitions from D4RL HDF5 and OffRL Parquet; bytes per transition in memory.</summary>
    public static Dictionary<string, double> Load()
    {
        var d = Synthetic(1_000_000);
        var dir = Path.Combine(Path.GetTempPath(), "offrl-bench-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        try
        {
            var f = new Dictionary<string, double> { ["bytes_per_transition"] = d.BytesPerTransition };
            foreach (var (name, ext) in new[] { ("hdf5", ".hdf5"), ("parquet", ".parquet") })
            {
                var path = Path.Combine(dir, "d" + ext);
                var sw = Stopwatch.StartNew();
                DatasetFile.Write(d, path);
                f[$"write_{name}_s"] = sw.Elapsed.TotalSeconds;
                double best = double.MaxValue;
                for (int r = 0; r < 3; r++)
                {
                    sw.Restart();
                    var back = DatasetFile.Read(path);
                    best = Math.Min(best, sw.Elapsed.TotalSeconds);
                    if (back.Count != d.Count) throw new InvalidOperationException("round trip lost rows");
                }
                double mb = new FileInfo(path).Length / 1e6;
                f[$"load_{name}_s"] = best;
                f[$"load_{name}_mb_per_s"] = mb / best;
                f[$"file_{name}_mb"] = mb;
            }
            return f;
        }
        finally { Directory.Delete(dir, true); }
    }
}

static class EnvBenchmarks
{
    /// <summary>
    /// Runs OffRL's MJCF models and Gym's own XML files (hopper.xml, walker2d.xml, half_cheetah.xml from a folder named by
    /// GYM_XML_DIR; attributes newer than MuJoCo 2.2.2 such as gravcomp removed) side by side in libmujoco with identical
    /// reset noise and random actions, and reports the largest difference in qpos and qvel.
    /// </summary>
    public static Dictionary<string, double> CompareWithGym(string? dir)
    {
        if (dir is null || !Directory.Exists(dir)) throw new ArgumentException("mujoco-compare: set GYM_XML_DIR to a folder holding Gym's hopper.xml / walker2d.xml / half_cheetah.xml");
        var f = new Dictionary<string, double>();
        foreach (var (name, file, ours, frameSkip) in new[] { ("hopper", "hopper.xml", OffRL.MuJoCo.Models.Hopper, 4), ("walker2d", "walker2d.xml", OffRL.MuJoCo.Models.Walker2d, 4), ("halfcheetah", "half_cheetah.xml", OffRL.MuJoCo.Models.HalfCheetah, 5), ("ant", "ant.xml", OffRL.MuJoCo.Models.Ant, 5) })
        {
            var path = Path.Combine(dir, file);
            if (!File.Exists(path)) continue;
            var xml = System.Text.RegularExpressions.Regex.Replace(File.ReadAllText(path), @"\s+gravcomp=""[^""]*""", "");
            using var a = OffRL.MuJoCo.MjModel.FromXml(ours, name);
            using var b = OffRL.MuJoCo.MjModel.FromXml(xml, name + "-gym");
            using var da = new OffRL.MuJoCo.MjData(a);
            using var db = new OffRL.MuJoCo.MjData(b);
            var rng = new Rng(1);
            double maxDiff = 0;
            int steps = 0;
            for (int ep = 0; ep < 5; ep++)
            {
                da.Reset(); db.Reset();
                for (int i = 0; i < a.Nq; i++) { double n = rng.Uniform(-0.005f, 0.005f); da.Qpos[i] = a.Qpos0[i] + n; db.Qpos[i] = b.Qpos0[i] + n; }
                for (int i = 0; i < a.Nv; i++) { double n = rng.Uniform(-0.005f, 0.005f); da.Qvel[i] = n; db.Qvel[i] = n; }
                da.Forward(); db.Forward();
                for (int t = 0; t < 1000; t++)
                {
                    for (int i = 0; i < a.Nu; i++) { double u = rng.Uniform(-1, 1); da.Ctrl[i] = u; db.Ctrl[i] = u; }
                    for (int k = 0; k < frameSkip; k++) { da.Step(); db.Step(); }
                    steps++;
                    for (int i = 0; i < a.Nq; i++) maxDiff = Math.Max(maxDiff, Math.Abs(da.Qpos[i] - db.Qpos[i]));
                    for (int i = 0; i < a.Nv; i++) maxDiff = Math.Max(maxDiff, Math.Abs(da.Qvel[i] - db.Qvel[i]));
                    if (name is "hopper" or "walker2d" && da.Qpos[1] < 0.3) break;
                    if (name == "ant" && (da.Qpos[2] < 0.2 || da.Qpos[2] > 1.0)) break;
                }
            }
            f[$"{name}_steps"] = steps;
            f[$"{name}_max_abs_diff"] = maxDiff;
        }
        return f;
    }

    /// <summary>Random-action steps per second: one env, and a VectorEnv of 8 copies on 2 cores (total env steps/s).</summary>
    public static Dictionary<string, double> Steps()
    {
        var f = new Dictionary<string, double>();
        foreach (var name in EnvRegistry.All.Select(e => e.Name).Where(n => n is "cartpole" or "pointmaze-umaze" or "hopper" or "halfcheetah"))
        {
            using var env = EnvRegistry.Make(name);
            var rng = new Rng(1);
            var obs = new float[env.ObservationSpace.Width];
            var act = new float[env.ActionSpace.Width];
            env.Reset(0UL, obs);
            f[$"{name}_steps_per_s"] = Benchmarks.Rate(() =>
            {
                for (int i = 0; i < 1000; i++)
                {
                    env.ActionSpace.SampleAction(rng, act);
                    if (env.Step(act, obs).Done) env.Reset(null, obs);
                }
            }) * 1000;
            using var vec = new VectorEnv(_ => EnvRegistry.Make(name), 8);
            vec.Reset(0);
            var acts = new float[8 * vec.ActionSpace.Width];
            f[$"{name}_vec8_steps_per_s"] = Benchmarks.Rate(() =>
            {
                for (int i = 0; i < 100; i++)
                {
                    for (int k = 0; k < 8; k++) vec.ActionSpace.SampleAction(rng, acts.AsSpan(k * vec.ActionSpace.Width, vec.ActionSpace.Width));
                    vec.Step(acts);
                }
            }) * 800;
        }
        return f;
    }
}

/// <summary>
/// The machine's FMA peak: independent chains of fused multiply-adds at each vector width the CPU has (AVX2 256-bit,
/// AVX-512 512-bit), on 1..threads cores at once, the best width kept (some CPUs run 512-bit FMAs at half rate).
/// </summary>
static class PeakBenchmark
{
    public static Dictionary<string, double> Run(int threads)
    {
        var f = new Dictionary<string, double>();
        for (int t = 1; t <= threads; t++)
        {
            f[$"gflops_avx2_t{t}"] = Measure(t, wide: false);
            if (System.Runtime.Intrinsics.Vector512.IsHardwareAccelerated) f[$"gflops_avx512_t{t}"] = Measure(t, wide: true);
        }
        f["peak_gflops"] = Gflops(threads);
        return f;
    }

    private static readonly Dictionary<int, double> Cache = [];

    /// <summary>The best width's GFLOP/s on <paramref name="threads"/> cores (measured once per process).</summary>
    public static double Gflops(int threads)
    {
        if (Cache.TryGetValue(threads, out var g)) return g;
        g = Measure(threads, false);
        if (System.Runtime.Intrinsics.Vector512.IsHardwareAccelerated) g = Math.Max(g, Measure(threads, true));
        return Cache[threads] = g;
    }

    private static double Measure(int threads, bool wide)
    {
        const long iters = 100_000_000;
        double best = 0;
        for (int rep = 0; rep < 3; rep++)
        {
            var sw = Stopwatch.StartNew();
            Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, _ =>
            {
                if (wide) Chains512(iters / 4); else Chains256(iters);
            });
            double secs = sw.Elapsed.TotalSeconds;
            // 10 chains x lanes x 2 FLOPs (multiply and add) per iteration per core.
            double flops = (wide ? iters / 4 * 16 : iters * 8) * 10.0 * 2 * threads;
            best = Math.Max(best, flops / secs / 1e9);
        }
        return best;
    }

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    private static float Chains256(long n)
    {
        var m = System.Runtime.Intrinsics.Vector256.Create(0.999999f);
        var c = System.Runtime.Intrinsics.Vector256.Create(1e-7f);
        System.Runtime.Intrinsics.Vector256<float> a0 = m, a1 = m, a2 = m, a3 = m, a4 = m, a5 = m, a6 = m, a7 = m, a8 = m, a9 = m;
        for (long i = 0; i < n; i++)
        {
            a0 = System.Runtime.Intrinsics.X86.Fma.MultiplyAdd(a0, m, c); a1 = System.Runtime.Intrinsics.X86.Fma.MultiplyAdd(a1, m, c);
            a2 = System.Runtime.Intrinsics.X86.Fma.MultiplyAdd(a2, m, c); a3 = System.Runtime.Intrinsics.X86.Fma.MultiplyAdd(a3, m, c);
            a4 = System.Runtime.Intrinsics.X86.Fma.MultiplyAdd(a4, m, c); a5 = System.Runtime.Intrinsics.X86.Fma.MultiplyAdd(a5, m, c);
            a6 = System.Runtime.Intrinsics.X86.Fma.MultiplyAdd(a6, m, c); a7 = System.Runtime.Intrinsics.X86.Fma.MultiplyAdd(a7, m, c);
            a8 = System.Runtime.Intrinsics.X86.Fma.MultiplyAdd(a8, m, c); a9 = System.Runtime.Intrinsics.X86.Fma.MultiplyAdd(a9, m, c);
        }
        return System.Runtime.Intrinsics.Vector256.ToScalar(a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9);
    }

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    private static float Chains512(long n)
    {
        var m = System.Runtime.Intrinsics.Vector512.Create(0.999999f);
        var c = System.Runtime.Intrinsics.Vector512.Create(1e-7f);
        System.Runtime.Intrinsics.Vector512<float> a0 = m, a1 = m, a2 = m, a3 = m, a4 = m, a5 = m, a6 = m, a7 = m, a8 = m, a9 = m;
        for (long i = 0; i < n; i++)
        {
            a0 = System.Runtime.Intrinsics.X86.Avx512F.FusedMultiplyAdd(a0, m, c); a1 = System.Runtime.Intrinsics.X86.Avx512F.FusedMultiplyAdd(a1, m, c);
            a2 = System.Runtime.Intrinsics.X86.Avx512F.FusedMultiplyAdd(a2, m, c); a3 = System.Runtime.Intrinsics.X86.Avx512F.FusedMultiplyAdd(a3, m, c);
            a4 = System.Runtime.Intrinsics.X86.Avx512F.FusedMultiplyAdd(a4, m, c); a5 = System.Runtime.Intrinsics.X86.Avx512F.FusedMultiplyAdd(a5, m, c);
            a6 = System.Runtime.Intrinsics.X86.Avx512F.FusedMultiplyAdd(a6, m, c); a7 = System.Runtime.Intrinsics.X86.Avx512F.FusedMultiplyAdd(a7, m, c);
            a8 = System.Runtime.Intrinsics.X86.Avx512F.FusedMultiplyAdd(a8, m, c); a9 = System.Runtime.Intrinsics.X86.Avx512F.FusedMultiplyAdd(a9, m, c);
        }
        return System.Runtime.Intrinsics.Vector512.ToScalar(a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9);
    }
}

static class AlgoBenchmarks
{
    /// <summary>
    /// Gradient updates per second at the shapes of shared/bench/torch_rl_updates.py: obs 17, act 6, 256-unit MLPs,
    /// random data, the algorithm's own batch size (256; ReBRAC 1024).
    /// </summary>
    public static Dictionary<string, double> Updates(string algo, int threads, JsonElement? overrides = null)
    {
        Gemm.Threads = threads;
        var rng = new Rng(0);
        var agent = Agent(algo, overrides);
        var batch = new TransitionBatch(agent.Config.BatchSize, 17, 6);
        long updates = 0;
        double rate = Benchmarks.Rate(() =>
        {
            rng.FillNormal(batch.Obs); rng.FillUniform(batch.Act, -1f, 1f); rng.FillNormal(batch.Rew); rng.FillNormal(batch.Next);
            Array.Fill(batch.Discount, 0.99f);
            agent.Update(batch);
            updates++;
        });
        // FLOPs per update as the engine counts them (2 m n k per matrix product), over a few more updates.
        long f0 = Gemm.Flops, u0 = updates, b0 = GC.GetTotalAllocatedBytes(precise: true);
        for (int i = 0; i < 20; i++) { agent.Update(batch); updates++; }
        double flops = (double)(Gemm.Flops - f0) / (updates - u0);
        double bytes = (double)(GC.GetTotalAllocatedBytes(precise: true) - b0) / (updates - u0);
        double peak = PeakBenchmark.Gflops(threads);
        return new()
        {
            ["updates_per_s"] = rate, ["gflop_per_update"] = flops / 1e9, ["gflops"] = rate * flops / 1e9,
            ["peak_gflops"] = peak, ["share_of_peak"] = rate * flops / 1e9 / peak, ["bytes_allocated_per_update"] = bytes,
        };
    }

    /// <summary>
    /// PPO's iteration (issue 39), ppo-continuous on hopper's shapes (observation 11, action 3): the learning on a rollout
    /// of 8 envs x 256 steps (2 048 rows, 10 epochs of 32 minibatches of 64: 320 Adam steps), random data, as iterations
    /// and minibatch steps per second (the PyTorch counterpart: bench/reference/ppo_update.py); and the rollout's
    /// collection in the real environment, 8 hopper copies stepped with one batched forward per step, as environment
    /// steps per second.
    /// </summary>
    public static Dictionary<string, double> PpoIteration(int threads)
    {
        Gemm.Threads = threads;
        const int envs = 8, steps = 256, od = 11, ad = 3;
        var config = PpoConfig.Continuous with { NumEnvs = envs, NumSteps = steps, NumMinibatches = envs * steps / 64 };
        var agent = new Ppo(od, Box.Uniform(ad, -1f, 1f), config, seed: 0);
        var rng = new Rng(0);
        var rollout = new RolloutBuffer(steps, envs, od, ad) { Filled = steps };
        rng.FillNormal(rollout.Observations); rng.FillNormal(rollout.Actions, 0f, 0.5f); rng.FillNormal(rollout.Rewards);
        rng.FillNormal(rollout.Values); rng.FillNormal(rollout.NextValues);
        for (int i = 0; i < rollout.LogProbs.Length; i++) rollout.LogProbs[i] = -3f + 0.1f * rng.Normal();
        rollout.ComputeAdvantages(0.99f, 0.95f);
        var shuffle = new Rng(1);
        double iterations = Benchmarks.Rate(() => agent.Learn(rollout, 1, 1000, shuffle));
        using var vec = new VectorEnv(_ => EnvRegistry.Make("hopper"), envs) { Threads = 1 };
        var obs = vec.Reset(0);
        float[] act = new float[envs * ad], logp = new float[envs], val = new float[envs];
        double stepsPerS = envs * Benchmarks.Rate(() =>
        {
            agent.Sample(obs, envs, act, logp, val);
            System.Numerics.Tensors.TensorPrimitives.Clamp(act, -1f, 1f, act);
            vec.Step(act);
        });
        return new()
        {
            ["iterations_per_s"] = iterations, ["minibatch_steps_per_s"] = iterations * config.UpdateEpochs * config.NumMinibatches,
            ["seconds_per_iteration"] = 1 / iterations, ["env_steps_per_s"] = stepsPerS,
        };
    }

    /// <summary>
    /// Gradient steps per second of the dynamics ensemble (issue 37): OfflineRL-Kit's 7 members of 4 x 200 SiLU, batch
    /// 256 per member, obs 17 + act 6 -> 18 outputs (mean and log-variance each), random data. The reference is
    /// bench/reference/dynamics_reference.py --speed.
    /// </summary>
    public static Dictionary<string, double> DynamicsFit(int threads, bool profile = false)
    {
        Gemm.Threads = threads;
        var model = new OffRL.Dynamics.EnsembleDynamics(17, 6, 0);
        var rng = new Rng(0);
        var x = Tensor.Zeros(7, 256, 23); var y = Tensor.Zeros(7, 256, 18);
        rng.FillNormal(x.Data); rng.FillNormal(y.Data);
        double rate = Benchmarks.Rate(() => model.TrainStep(x, y));
        if (profile) return ProfileSteps(() => model.TrainStep(x, y), rate, "step");
        long f0 = Gemm.Flops;
        for (int i = 0; i < 20; i++) model.TrainStep(x, y);
        double flops = (double)(Gemm.Flops - f0) / 20;
        double peak = PeakBenchmark.Gflops(threads);
        return new()
        {
            ["steps_per_s"] = rate, ["gflop_per_step"] = flops / 1e9, ["gflops"] = rate * flops / 1e9, ["peak_gflops"] = peak,
            ["share_of_peak"] = rate * flops / 1e9 / peak,
        };
    }

    /// <summary>Random transitions of halfcheetah's shapes (obs 17, act 6), 1000-step episodes: what the model benches start from.</summary>
    private static Dataset CheetahShaped(int n) => Shaped(n, 17, 6);

    /// <summary>Random transitions with <paramref name="obs"/> observations and <paramref name="act"/> actions in [-1, 1], 1000-step episodes.</summary>
    private static Dataset Shaped(int n, int obs, int act)
    {
        var rng = new Rng(1);
        var c = new DatasetColumns
        {
            Observations = new float[n * obs], NextObservations = new float[n * obs], Actions = new float[n * act], Rewards = new float[n],
            Terminals = new bool[n], Timeouts = Enumerable.Range(0, n).Select(i => i % 1000 == 999 || i == n - 1).ToArray(),
        };
        rng.FillNormal(c.Observations); rng.FillNormal(c.NextObservations); rng.FillUniform(c.Actions, -1f, 1f); rng.FillNormal(c.Rewards);
        return new Dataset(c, Box.Unbounded(obs), Box.Uniform(act, -1f, 1f));
    }

    /// <summary>
    /// Environment steps per second of RLPD's whole loop in hopper (issue 38): act, step MuJoCo, store the transition,
    /// then 20 updates of the 10 layer-normed critics on half-dataset, half-online batches (the actor once); random
    /// transitions of hopper's shapes stand in for the dataset (the speed does not depend on what they are). 80
    /// learning steps after a first run of 20 for the JIT.
    /// </summary>
    public static Dictionary<string, double> RlpdLoop(int threads)
    {
        Gemm.Threads = threads;
        var data = Shaped(20_000, 11, 3);
        double Run(long steps) => OffRL.Runs.Training.Hybrid("rlpd", data, "hopper", new OffRL.Runs.TrainerConfig(Steps: steps, EvalEvery: (int)steps, EvalEpisodes: 1, Progress: false),
            JsonDocument.Parse("""{"random_steps": 0}""").RootElement).Result.LearningUpdatesPerSecond;
        Run(20);
        double updates = Run(80);
        var f = new Dictionary<string, double> { ["env_steps_per_s"] = updates / ((RlpdConfig)AlgorithmRegistry.Find("rlpd").Defaults).UpdateToDataRatio, ["updates_per_s"] = updates };
        if (Environment.GetEnvironmentVariable("PROFILE") == "1")   // where a loop's update goes (the engine's profiler over 40 more steps)
        {
            var sw = Stopwatch.StartNew();
            Profiler.Start();
            Run(40);
            foreach (var (part, seconds) in Profiler.Stop()) f[$"ms_{part}"] = seconds / 800 * 1e3;
            f["ms_total_profiled"] = sw.Elapsed.TotalSeconds / 800 * 1e3;
        }
        return f;
    }

    /// <summary>
    /// Model transitions per second of branched rollouts (issue 37; OfflineRL-Kit's mopo.py rollout and
    /// ensemble_dynamics.py step with halfcheetah's shapes): ROLLOUTS (default 5 000) rollouts of 5 steps a round,
    /// the SAC actor (2 x 256) sampling, the 7 x 4 x 200 ensemble stepping through a random elite with MOPO's aleatoric
    /// penalty; halfcheetah never terminates, so a round is ROLLOUTS x 5 transitions. The reference is
    /// bench/reference/model_based.py --bench model-rollout.
    /// </summary>
    public static Dictionary<string, double> ModelRollout(int threads)
    {
        Gemm.Threads = threads;
        int starts = int.TryParse(Environment.GetEnvironmentVariable("ROLLOUTS"), out var r) ? r : 5_000;
        var data = CheetahShaped(20_000);
        // MODEL=simulator: halfcheetah's own dynamics (the edge-of-reach runs' model) instead of the ensemble
        bool simulator = Environment.GetEnvironmentVariable("MODEL") == "simulator";
        OffRL.Dynamics.IWorldModel model = simulator ? OffRL.Dynamics.SimulatorModel.For("halfcheetah") : OffRL.Dynamics.EnsembleDynamics.For(data);
        var rng = new Rng(0);
        var actor = new Mlp(new MlpConfig(17, [256, 256], 12), rng);
        OffRL.Dynamics.ModelRollouts.BatchPolicy policy = (s, a, g) =>
        {
            using var noGrad = Tensor.NoGrad();
            Networks.Policy(actor, s, 6).RSample(g).Action.Data.AsSpan(0, a.Length).CopyTo(a);
        };
        var rollouts = new OffRL.Dynamics.ModelRollouts(new OffRL.Dynamics.RolloutConfig { Starts = starts, Horizon = 5, RetainRounds = 1, PenaltyCoef = 1f }, 17, 6);
        var ends = OffRL.Dynamics.Termination.For("halfcheetah");
        long f0 = Gemm.Flops;
        rollouts.Run(data, model, ends, policy, rng);
        double flops = Gemm.Flops - f0;
        double rate = Benchmarks.Rate(() => rollouts.Run(data, model, ends, policy, rng));
        double peak = PeakBenchmark.Gflops(threads);
        return new()
        {
            ["transitions_per_s"] = rate * starts * 5, ["rounds_per_s"] = rate, ["gflops"] = rate * flops / 1e9, ["peak_gflops"] = peak,
            ["share_of_peak"] = rate * flops / 1e9 / peak,
        };
    }

    /// <summary>
    /// Policy-guided diffusion on pendulum-medium-replay (issue 37; Jackson et al. 2024): one diffusion model fitted on
    /// the data (DiffusionConfig's defaults, TRAIN_STEPS default 20 000), sampled with guidance 0, 0.01, 0.02, 0.05,
    /// 0.1, 0.2 towards the agent in POLICY (a trained pendulum agent's folder); per guidance the synthetic data's mean
    /// log-likelihood under the target (a Gaussian of std 0.1 around its action) and its dynamics error: the mean
    /// |s' - s'_true| and |r - r_true| of each synthetic transition against pendulum's own step from its (s, a). The data's
    /// own figures come first (guidance -1).
    /// </summary>
    public static Dictionary<string, double> PolicyGuidedDiffusion(int threads)
    {
        Gemm.Threads = threads;
        var data = OffRL.Runs.Recipes.Get("pendulum-medium-replay");
        var target = AlgorithmRegistry.Load(Environment.GetEnvironmentVariable("POLICY") ?? throw new ArgumentException("POLICY: a trained pendulum agent's folder"));
        var config = new OffRL.Dynamics.DiffusionConfig { TrainSteps = int.TryParse(Environment.GetEnvironmentVariable("TRAIN_STEPS"), out var n) ? n : 20_000 };
        var model = new OffRL.Dynamics.TrajectoryDiffusion(3, 1, config);
        model.Fit(data, new LineProgress(Console.Error));
        using var simulator = OffRL.Dynamics.SimulatorModel.For("pendulum");
        (double Ll, double Obs, double Rew) Judge(Dataset d)
        {
            double ll = 0, eo = 0, er = 0;
            var next = new float[3]; var r = new float[1]; var scaled = new float[1];
            for (int i = 0; i < d.Count; i++)
            {
                using (TensorScope.Begin())
                using (Tensor.NoGrad())
                {
                    float a = target.ActionOf(Tensor.FromArray(d.Observation(i).ToArray(), 1, 3)).Data[0];
                    double e = d.Actions[i] - a;
                    ll += -0.5 * (e * e / 0.01 + Math.Log(2 * Math.PI * 0.01));
                }
                scaled[0] = d.Actions[i] / 2f;   // the simulator takes [-1, 1]
                simulator.Step(d.Observation(i), scaled, 1, new Rng(0), next, r, null, default);
                var s2 = d.NextObservation(i);
                for (int j = 0; j < 3; j++) eo += Math.Abs(s2[j] - next[j]) / 3;
                er += Math.Abs(d.Rewards[i] - r[0]);
            }
            return (ll / d.Count, eo / d.Count, er / d.Count);
        }
        var f = new Dictionary<string, double>();
        void Put(string key, (double Ll, double Obs, double Rew) j)
        {
            f[$"{key}_log_likelihood"] = j.Ll; f[$"{key}_obs_error"] = j.Obs; f[$"{key}_reward_error"] = j.Rew;
            Console.Error.WriteLine($"{key}: target log-likelihood {j.Ll:G4}, |s' - s'_true| {j.Obs:G4}, |r - r_true| {j.Rew:G4}");
        }
        Put("data", Judge(data));
        foreach (var g in new[] { 0f, 0.01f, 0.02f, 0.05f, 0.1f, 0.2f })
        {
            var guided = new OffRL.Dynamics.TrajectoryDiffusion(3, 1, config with { Guidance = g });
            guided.CopyFrom(model);
            Put($"guidance_{g:G3}", Judge(guided.Sample(500, data.ObservationSpace, data.ActionSpace, new Rng(7), target.ActionOf)));
        }
        return f;
    }

    /// <summary>
    /// MOBILE updates per second (issue 37; OfflineRL-Kit's mobile.py learn with halfcheetah's shapes): SAC with 2 x 256
    /// networks on a batch of 256 (12 real rows), the penalty from 10 next states per elite (5) through the target
    /// critics and the actor. The reference is bench/reference/model_based.py --bench mobile-update.
    /// </summary>
    public static Dictionary<string, double> MobileUpdate(int threads)
    {
        Gemm.Threads = threads;
        var data = CheetahShaped(5_000);
        var agent = new Mobile(17, Box.Uniform(6, -1f, 1f), new MobileConfig { DynamicsMaxSteps = 1, DynamicsMaxEpochs = 1 }, 0);
        agent.OfflineBatches(new OfflineRun(data, "halfcheetah", new Rng(2), null));
        var batch = new TransitionBatch(256, 17, 6);
        var rng = new Rng(3);
        rng.FillNormal(batch.Obs); rng.FillUniform(batch.Act, -1f, 1f); rng.FillNormal(batch.Rew); rng.FillNormal(batch.Next);
        Array.Fill(batch.Discount, 0.99f);
        long f0 = Gemm.Flops;
        agent.Update(batch);
        double flops = Gemm.Flops - f0;
        double rate = Benchmarks.Rate(() => agent.Update(batch));
        double peak = PeakBenchmark.Gflops(threads);
        return new() { ["updates_per_s"] = rate, ["gflops"] = rate * flops / 1e9, ["peak_gflops"] = peak, ["share_of_peak"] = rate * flops / 1e9 / peak };
    }

    /// <summary>
    /// SAC-N updates per second (issue 42; An et al. 2021, CORL's sac_n.py shapes): SAC with N critics of 3 x 256 and a
    /// 3 x 256 actor, the actor and temperature stepping before the critics, for each N in CRITICS (default "10 50").
    /// The reference is bench/reference/ensemble_update.py.
    /// </summary>
    public static Dictionary<string, double> EnsembleUpdates(int threads)
    {
        var f = new Dictionary<string, double>();
        foreach (var n in (Environment.GetEnvironmentVariable("CRITICS") ?? "10 50").Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            foreach (var (k, v) in Updates("sac-n", threads, SacN(n))) f[$"{k}_n{n}"] = v;
        }
        return f;
    }

    /// <summary>
    /// The agent at the benchmarks' shapes, given a dataset whose every row has a next action (the batches' rows index
    /// it: ReBRAC reads a'_D there).
    /// </summary>
    private static Agent Agent(string algo, JsonElement? overrides)
    {
        var agent = AlgorithmRegistry.Create(algo, 17, Box.Uniform(6, -1f, 1f), 0, overrides);
        const int rows = 1_000_000;
        agent.UseDataset(new Dataset(new DatasetColumns
        {
            Observations = new float[rows * 17], Actions = new float[rows * 6], NextActions = new float[rows * 6], Rewards = new float[rows],
            Terminals = new bool[rows], Timeouts = new bool[rows],
        }, Box.Unbounded(17), Box.Uniform(6, -1f, 1f), options: new Dataset.ValidationOptions(TruncateTail: true)));
        return agent;
    }

    /// <summary>
    /// PRDC's updates per second (issue 36) on a real dataset: DATASET (default halfcheetah-medium: 1M transitions),
    /// prepared as an offline run prepares it with the authors' preset (standardized states, qlearning rows), the k-d
    /// tree over all its keys [2 s, a], uniform batches of 256 from it; every 2nd update searches the tree for the
    /// batch. The reference is bench/reference/update_rate.py --algo prdc on the same data (scipy's KDTree, as the authors).
    /// </summary>
    public static Dictionary<string, double> PrdcUpdates(int threads)
    {
        Gemm.Threads = threads;
        string name = Environment.GetEnvironmentVariable("DATASET") ?? "halfcheetah-medium";
        var (d, _) = OffRL.Runs.Recipes.Open(name, needEnv: false);
        var spec = AlgorithmRegistry.Find("prdc");
        var (preset, _) = Preset.Resolve(spec, "authors", name);
        var sw = Stopwatch.StartNew();
        var (agent, prepared) = OffRL.Runs.Training.Prepare("prdc", d, 0, preset);   // builds the tree (UseDataset)
        double prepare = sw.Elapsed.TotalSeconds;
        var sampler = new UniformSampler(prepared, agent.Config.BatchSize, new Rng(1));
        double rate = Benchmarks.Rate(() => agent.Update(sampler.Sample()), 3.0);
        return new() { ["points"] = prepared.Count, ["prepare_and_build_s"] = prepare, ["updates_per_s"] = rate };
    }

    /// <summary>SAC-N (the `sac-n` algorithm: CORL's sac_n.py, 3 x 256 networks, temperature -> actor -> critic) with N critics.</summary>
    public static JsonElement SacN(string critics) => JsonDocument.Parse($"{{\"num_critics\": {critics}}}").RootElement;

    /// <summary>
    /// Where one update's time goes (issue 28): the update of <see cref="Updates"/> with its batch drawn by a uniform
    /// sampler from a 1M-transition replay buffer, warmed up, then profiled by the engine's <see cref="Profiler"/> over
    /// about 5 s. Figures: milliseconds per update in each part, the total with and without profiling (its overhead).
    /// </summary>
    /// <summary>Where the time of a step (an update, a model step) goes: the engine's Profiler over about 5 s of them, ms per <paramref name="unit"/> in each part.</summary>
    private static Dictionary<string, double> ProfileSteps(Action step, double plain, string unit)
    {
        int n = Math.Max(20, (int)(plain * 5));
        var sw = Stopwatch.StartNew();
        Profiler.Start();
        for (int i = 0; i < n; i++) step();
        var products = Profiler.Products().OrderByDescending(x => x.Seconds).ToList();
        var ops = Profiler.BackwardFunctions().OrderByDescending(x => x.Seconds).ToList();
        var parts = Profiler.Stop();
        if (Environment.GetEnvironmentVariable("OFFRL_PROFILE_PRODUCTS") == "1")
        {
            foreach (var x in ops)
                Console.WriteLine($"backward {x.Name} calls/{unit}={(double)x.Calls / n:F2} ms/{unit}={x.Seconds / n * 1e3:F3} (products inside included)");
            foreach (var x in products)
                Console.WriteLine($"product {(x.TransA ? "T" : "N")}{(x.TransB ? "T" : "N")} m={x.M} n={x.N} k={x.K} calls/{unit}={(double)x.Calls / n:F2} ms/{unit}={x.Seconds / n * 1e3:F3} gflops={2.0 * x.M * x.N * x.K * x.Calls / x.Seconds / 1e9:F1}");
        }
        var f = new Dictionary<string, double>();
        foreach (var (part, seconds) in parts) f[$"ms_{part}"] = seconds / n * 1e3;
        f["ms_total_profiled"] = sw.Elapsed.TotalSeconds / n * 1e3;
        f["ms_total_unprofiled"] = 1e3 / plain;
        f[$"{unit}s_per_s"] = plain;
        return f;
    }

    public static Dictionary<string, double> Profile(string algo, int threads, JsonElement? overrides = null)
    {
        Gemm.Threads = threads;
        var rng = new Rng(0);
        const int rows = 1_000_000;
        var buffer = new ReplayBuffer(rows, 17, 6);
        float[] o = new float[17], a = new float[6], o2 = new float[17];
        for (int i = 0; i < rows; i++)
        {
            rng.FillNormal(o); rng.FillUniform(a, -1f, 1f); rng.FillNormal(o2);
            buffer.Add(o, a, rng.Normal(), o2, terminated: rng.NextFloat() < 0.001f, truncated: false);
        }
        var agent = Agent(algo, overrides);
        var sampler = new UniformSampler(buffer, agent.Config.BatchSize, new Rng(1));
        void Step()
        {
            TransitionBatch b;
            using (Profiler.Enter(Profiler.Part.Sampling)) b = sampler.Sample();
            agent.Update(b);
        }
        return ProfileSteps(Step, Benchmarks.Rate(Step), "update");
    }
}
