using System.Diagnostics;
using OffRL.Tensors;

namespace OffRL.Nn;

/// <summary>
/// The engine on problems with known answers (`offrl selfcheck`): a sine regression, XOR, a critic ensemble, a causal
/// transformer, and a safetensors save and reload; each trained a fixed number of steps from a seed and judged against
/// its target.
/// </summary>
public static class SelfCheck
{
    /// <summary>One problem's outcome: the metric's value against its target, the time and the step rate.</summary>
    public sealed record Result(string Task, string Metric, double Value, string Target, bool Ok, double Seconds, double StepsPerSecond);

    /// <summary>Every problem in turn; <paramref name="progress"/> receives progress text as it goes.</summary>
    public static IReadOnlyList<Result> Run(int seed, string outDir, Action<string>? progress = null)
    {
        var p = new Problems(progress);
        return [p.Sine(seed), p.Xor(seed), p.Ensemble(seed), p.Transformer(seed), p.SaveLoad(seed, outDir)];
    }

    private sealed class Problems(Action<string>? progress)
    {
        private Result Train(string task, string metric, string target, int steps, Func<Tensor> loss, Optimizer opt, Func<double> score, Func<double, bool> ok)
        {
            progress?.Invoke($"{task}: ");
            var sw = Stopwatch.StartNew();
            for (int i = 0; i < steps; i++)
            {
                using var _ = TensorScope.Begin();
                opt.ZeroGrad();
                var l = loss();
                l.Backward();
                opt.Step();
                if (i % Math.Max(1, steps / 10) == 0) progress?.Invoke(".");
            }
            double secs = sw.Elapsed.TotalSeconds;
            double s = score();
            progress?.Invoke($" {metric} = {s:G5}\n");
            return new Result(task, metric, s, target, ok(s), secs, steps / secs);
        }

        public Result Sine(int seed)
        {
            var rng = new Rng(seed);
            var net = new Mlp(new MlpConfig(1, [64, 64], 1, Activation.Tanh), rng);
            var x = Tensor.Zeros(256, 1); var y = Tensor.Zeros(256, 1);
            for (int i = 0; i < 256; i++) { x.Data[i] = -MathF.PI + 2 * MathF.PI * i / 255; y.Data[i] = MathF.Sin(x.Data[i]); }
            return Train("sine regression", "held-out MSE", "< 1e-3", 3000,
                () => (net.Forward(x) - y).Square().Mean(), new Adam(net.Parameters(), 3e-3),
                () =>
                {
                    using var _ = Tensor.NoGrad();
                    var xt = Tensor.Zeros(100, 1);
                    for (int i = 0; i < 100; i++) xt.Data[i] = -3f + 6f * (i + 0.37f) / 100f;
                    var p = net.Forward(xt);
                    double e = 0;
                    for (int i = 0; i < 100; i++) e += Math.Pow(p.Data[i] - Math.Sin(xt.Data[i]), 2);
                    return e / 100;
                }, v => v < 1e-3);
        }

        public Result Xor(int seed)
        {
            var net = new Mlp(new MlpConfig(2, [8], 1, Activation.Tanh), new Rng(seed + 1));
            var x = Tensor.FromArray(new float[] { 0, 0, 0, 1, 1, 0, 1, 1 }, 4, 2);
            var t = Tensor.FromArray(new float[] { 0, 1, 1, 0 }, 4, 1);
            return Train("xor", "max |p - target|", "< 0.1", 500,
                () => { var z = net.Forward(x); return (z.Softplus() - t * z).Mean(); }, new Adam(net.Parameters(), 0.05),
                () =>
                {
                    using var _ = Tensor.NoGrad();
                    var p = net.Forward(x).Sigmoid();
                    double worst = 0;
                    for (int i = 0; i < 4; i++) worst = Math.Max(worst, Math.Abs(p.Data[i] - t.Data[i]));
                    return worst;
                }, v => v < 0.1);
        }

        public Result Ensemble(int seed)
        {
            // 10 critics regress different targets from shared inputs (minibatches of 256 from 8192 samples);
            // every member must fit its own function on held-out inputs.
            var rng = new Rng(seed + 2);
            var ens = new EnsembleMlp(10, new MlpConfig(23, [256, 256], 1), rng);
            static float Target(ReadOnlySpan<float> row, int m) => MathF.Sin(row[m]) + 0.5f * row[22];
            Tensor Inputs(int n) => Tensor.Randn(new Shape(n, 23), rng);
            Tensor Targets(Tensor x)
            {
                int n = x.Shape[0];
                var y = Tensor.Zeros(10, n, 1);
                for (int m = 0; m < 10; m++)
                    for (int i = 0; i < n; i++) y.Data[m * n + i] = Target(x.Data.AsSpan(i * 23, 23), m);
                return y;
            }
            var data = Inputs(8192);
            var xb = Tensor.Zeros(256, 23);
            var yb = Tensor.Zeros(10, 256, 1);
            var test = Inputs(1024);
            var testY = Targets(test);
            return Train("critic ensemble x10", "held-out MSE", "< 0.05", 1000,
                () =>
                {
                    for (int i = 0; i < 256; i++)
                    {
                        int r = rng.NextInt(8192);
                        var row = data.Data.AsSpan(r * 23, 23);
                        row.CopyTo(xb.Data.AsSpan(i * 23, 23));
                        for (int m = 0; m < 10; m++) yb.Data[m * 256 + i] = Target(row, m);
                    }
                    return (ens.Forward(xb) - yb).Square().Mean();
                }, new Adam(ens.Parameters(), 1e-3),
                () => { using var _ = Tensor.NoGrad(); return (ens.Forward(test) - testY).Square().Mean().Item(); }, v => v < 0.05);
        }

        public Result Transformer(int seed)
        {
            // Predict the running mean of a sequence: needs attention to all earlier steps (causal).
            var rng = new Rng(seed + 3);
            var net = new CausalTransformer(new TransformerConfig(1, 64, 2, 2, 20, 1, Dropout: 0f), rng);
            var x = Tensor.Randn(new Shape(64, 20, 1), rng);
            var y = Tensor.Zeros(64, 20, 1);
            for (int b = 0; b < 64; b++)
            {
                float s = 0;
                for (int t = 0; t < 20; t++) { s += x.Data[b * 20 + t]; y.Data[b * 20 + t] = s / (t + 1); }
            }
            double baseline = 0;
            foreach (var v in y.Data) baseline += v * v;
            baseline /= y.Size;
            return Train("causal transformer", "MSE / variance", "< 0.1", 400,
                () => (net.Forward(x) - y).Square().Mean(), new AdamW(net.Parameters(), 1e-3, weightDecay: 1e-4f),
                () => { using var _ = Tensor.NoGrad(); return (net.Forward(x) - y).Square().Mean().Item() / baseline; }, v => v < 0.1);
        }

        public Result SaveLoad(int seed, string outDir)
        {
            var sw = Stopwatch.StartNew();
            var cfg = new MlpConfig(17, [256, 256], 6);
            var net = new Mlp(cfg, new Rng(seed));
            var path = Path.Combine(outDir, "actor.safetensors");
            net.Save(path, cfg);
            var back = new Mlp(Module.LoadConfig<MlpConfig>(path), new Rng(seed + 99));
            back.Load(path);
            int diff = 0;
            var a = net.Parameters(); var b = back.Parameters();
            for (int i = 0; i < a.Count; i++)
                for (int j = 0; j < a[i].Size; j++)
                    if (BitConverter.SingleToInt32Bits(a[i].Data[j]) != BitConverter.SingleToInt32Bits(b[i].Data[j])) diff++;
            progress?.Invoke($"save/load: {path} ({new FileInfo(path).Length} bytes), {diff} differing values\n");
            return new Result("safetensors round trip", "differing values", diff, "0", diff == 0, sw.Elapsed.TotalSeconds, 0);
        }
    }
}
