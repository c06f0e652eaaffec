using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using OffRL.Data;
using OffRL.Envs;
using OffRL.Tensors;

namespace OffRL.Algorithms;

/// <summary>
/// How a run is driven: steps, evaluation, logging, checkpoints. What the agent learns with (batch size, discount,
/// networks) is the agent's own <see cref="AgentConfig"/>, which the trainer and its sampler read.
/// </summary>
public sealed record TrainerConfig(
    long Steps = 100_000, int EvalEvery = 5000, int EvalEpisodes = 10, ulong Seed = 0,
    string? OutDir = null, int LogEvery = 1000, bool Progress = true,
    /// <summary>Online: random actions before learning starts, and updates per environment step.</summary>
    int StartSteps = 5000, int UpdatesPerStep = 1, int ReplayCapacity = 1_000_000,
    /// <summary>
    /// Write OutDir/checkpoint every N steps (0: only the final agent); resume from such a folder. Online checkpoints
    /// hold the replay buffer too, and end the episode in progress (the run goes on from a fresh episode seeded by the
    /// step), so a resumed run is the same as one never interrupted.
    /// </summary>
    int CheckpointEvery = 0, string? ResumeFrom = null);

/// <summary>One evaluation: mean and std of episode returns, and the normalized score when the env has references.</summary>
public sealed record EvalResult(long Step, double ReturnMean, double ReturnStd, double? NormalizedScore, double UpdatesPerSecond);

public sealed record TrainResult(IReadOnlyList<EvalResult> Evaluations, double UpdatesPerSecond, double Seconds)
{
    public EvalResult Final => Evaluations[^1];
}

/// <summary>
/// The training loop every algorithm shares: sample, update, evaluate every N steps in the environment, write
/// metrics as CSV and JSON Lines (flushed at each evaluation), print progress, save the agent at the end.
/// </summary>
public static class Trainer
{
    /// <summary>Offline training on a dataset (with an environment only for evaluation).</summary>
    public static TrainResult FitOffline(Agent agent, Dataset data, string envName, TrainerConfig c)
    {
        var samplerRng = new Rng(c.Seed ^ 0x5A5A5A5AUL);
        var sampler = Sampler(agent, new DatasetSource(data), samplerRng);
        long start = 0;
        if (c.ResumeFrom is { } from)
        {
            agent.LoadCheckpoint(from);
            var t = ReadState(from);
            start = t.Step;
            samplerRng.SetState(t.SamplerRng);
        }
        Action<long>? checkpoint = null;
        if (c.CheckpointEvery > 0)
        {
            if (c.OutDir is null) throw new ArgumentException("trainer: CheckpointEvery needs OutDir");
            checkpoint = step => WriteCheckpoint(Path.Combine(c.OutDir, "checkpoint"), dir =>
            {
                agent.SaveCheckpoint(dir);
                File.WriteAllText(Path.Combine(dir, "trainer.json"), JsonSerializer.Serialize(new TrainerState(step, samplerRng.GetState())));
            });
        }
        return Loop(agent, envName, c, null, _ => agent.Update(sampler.Sample()), start, checkpoint);
    }

    /// <summary>The sampler of a run: the agent's batch size and discount.</summary>
    internal static UniformSampler Sampler(Agent agent, ITransitionSource source, Rng rng) =>
        new(source, agent.Config.BatchSize, rng, agent.Config.Gamma);

    private sealed record TrainerState(long Step, RngState SamplerRng, RngState? ActionRng = null);

    private static TrainerState ReadState(string dir)
    {
        var path = Path.Combine(dir, "trainer.json");
        if (!File.Exists(path)) throw new DataException("checkpoint has no trainer.json (not a checkpoint folder?)", path);
        return JsonSerializer.Deserialize<TrainerState>(File.ReadAllText(path)) ?? throw new DataException("is empty", path);
    }

    private static ulong EpisodeSeed(TrainerConfig c, long step) => c.Seed + 7919UL * (ulong)step;

    /// <summary>Write a checkpoint folder under a temporary name, then swap it in: a crash never leaves half a checkpoint.</summary>
    private static void WriteCheckpoint(string dir, Action<string> write)
    {
        var tmp = dir + ".tmp";
        if (Directory.Exists(tmp)) Directory.Delete(tmp, true);
        write(tmp);
        var old = dir + ".old";
        if (Directory.Exists(old)) Directory.Delete(old, true);
        if (Directory.Exists(dir)) Directory.Move(dir, old);
        Directory.Move(tmp, dir);
        if (Directory.Exists(old)) Directory.Delete(old, true);
    }

    /// <summary>Online training in an environment with a replay buffer (SAC, TD3, DQN).</summary>
    public static TrainResult FitOnline(Agent agent, string envName, TrainerConfig c) => FitOnlineWithCallback(agent, envName, c, null);

    /// <summary>
    /// Online training that calls back after each evaluation with the replay buffer (dataset recipes); the run stops
    /// early when the callback returns true. The buffer stores actions in the agent's own range (continuous actions in
    /// [-1, 1], mapped from the env's bounds by <see cref="Agent.Preprocessing"/>), the range its networks learn in.
    /// </summary>
    public static TrainResult FitOnlineWithCallback(Agent agent, string envName, TrainerConfig c, Func<EvalResult, ReplayBuffer, bool>? onEval)
    {
        if (agent.Config.NormalizeObservations)
            throw new ArgumentException($"{agent.Name}: normalize_observations is offline-only (statistics come from the dataset); set it to false for online training");
        using var env = EnvRegistry.Make(envName);
        var buffer = new ReplayBuffer(c.ReplayCapacity, env.ObservationSpace.Width, env.ActionSpace.Width);
        var samplerRng = new Rng(c.Seed ^ 0x5A5A5A5AUL);
        var sampler = Sampler(agent, buffer, samplerRng);
        var rng = new Rng(c.Seed + 17);
        var obs = new float[env.ObservationSpace.Width];
        var next = new float[obs.Length];
        var act = new float[env.ActionSpace.Width];
        var stored = new float[act.Length];
        long start = 0;
        if (c.ResumeFrom is { } from)
        {
            agent.LoadCheckpoint(from);
            var t = ReadState(from);
            if (t.ActionRng is not { } actionRng) throw new DataException("is an offline checkpoint (no replay buffer); resume it with a dataset", Path.Combine(from, "trainer.json"));
            start = t.Step;
            samplerRng.SetState(t.SamplerRng);
            rng.SetState(actionRng);
            buffer.Load(Path.Combine(from, "replay.bin"));
            env.Reset(EpisodeSeed(c, start), obs);
        }
        else env.Reset(c.Seed, obs);
        Action<long>? checkpoint = null;
        if (c.CheckpointEvery > 0)
        {
            if (c.OutDir is null) throw new ArgumentException("trainer: CheckpointEvery needs OutDir");
            checkpoint = step =>
            {
                WriteCheckpoint(Path.Combine(c.OutDir, "checkpoint"), dir =>
                {
                    agent.SaveCheckpoint(dir);
                    buffer.Save(Path.Combine(dir, "replay.bin"));
                    File.WriteAllText(Path.Combine(dir, "trainer.json"), JsonSerializer.Serialize(new TrainerState(step, samplerRng.GetState(), rng.GetState())));
                });
                buffer.MarkTruncated();
                env.Reset(EpisodeSeed(c, step), obs);
            };
        }
        return Loop(agent, envName, c, onEval is null ? null : e => onEval(e, buffer), step =>
        {
            if (step < c.StartSteps) env.ActionSpace.SampleAction(rng, act);
            else agent.Act(obs, act, deterministic: false);
            var r = env.Step(act, next);
            // The buffer holds actions as the networks produce them ([-1, 1] for continuous spaces), not the env's range.
            act.CopyTo(stored, 0);
            agent.Preprocessing.ScaleAction(stored);
            buffer.Add(obs, stored, r.Reward, next, r.Terminated, r.Truncated);
            if (r.Done) env.Reset(null, obs); else next.CopyTo(obs, 0);
            if (step >= c.StartSteps)
                for (int k = 0; k < c.UpdatesPerStep; k++) agent.Update(sampler.Sample());
        }, start, checkpoint);
    }

    private static TrainResult Loop(Agent agent, string envName, TrainerConfig c, Func<EvalResult, bool>? onEval, Action<long> step,
        long start = 0, Action<long>? checkpoint = null)
    {
        agent.PlanRun(c.Steps);
        var evals = new List<EvalResult>();
        MetricsLog? log = c.OutDir is null ? null : new MetricsLog(c.OutDir, append: start > 0);
        var total = Stopwatch.StartNew();
        var window = Stopwatch.StartNew();
        long windowStart = agent.Updates;
        try
        {
            for (long t = start; t < c.Steps; t++)
            {
                step(t);
                if (checkpoint is not null && (t + 1) % c.CheckpointEvery == 0) checkpoint(t + 1);
                bool last = t == c.Steps - 1;
                if ((t + 1) % c.EvalEvery == 0 || last)
                {
                    double ups = (agent.Updates - windowStart) / Math.Max(1e-9, window.Elapsed.TotalSeconds);
                    var (mean, std) = Evaluate(agent, envName, c.EvalEpisodes, c.Seed + 1_000_000UL);
                    double? score = NormalizedScore.TryGet(envName, out _) ? NormalizedScore.Score(envName, mean) : null;
                    var e = new EvalResult(t + 1, mean, std, score, ups);
                    evals.Add(e);
                    log?.Write(e, agent.Metrics);
                    if (c.Progress)
                        Console.WriteLine($"[{agent.Name}] step {t + 1,8}/{c.Steps}  return {mean,9:F1} ± {std,-7:F1}{(score is { } s ? $" score {s,6:F1}" : "")}  {ups,7:F0} upd/s  {Format(agent.Metrics)}");
                    window.Restart();
                    windowStart = agent.Updates;
                    if (onEval?.Invoke(e) == true) break;
                }
                else if (c.Progress && c.LogEvery > 0 && (t + 1) % c.LogEvery == 0)
                    Console.Write($"\r[{agent.Name}] {Bar(t + 1 - start, c.Steps - start, total.Elapsed.TotalSeconds)} step {t + 1,8}/{c.Steps}  {Format(agent.Metrics)}   ");
            }
        }
        finally { log?.Dispose(); }
        double secs = total.Elapsed.TotalSeconds;
        if (c.OutDir is not null) agent.Save(c.OutDir);
        return new TrainResult(evals, agent.Updates / Math.Max(1e-9, secs), secs);
    }

    /// <summary>A text progress bar with percent and time left: [#########...........]  45%  ETA 01:23.</summary>
    internal static string Bar(long done, long total, double seconds, int width = 20)
    {
        double f = total <= 0 ? 1 : Math.Clamp((double)done / total, 0, 1);
        int filled = (int)Math.Round(f * width);
        double eta = f > 0 ? seconds * (1 - f) / f : 0;
        var left = TimeSpan.FromSeconds(Math.Min(eta, 359_999));
        return $"[{new string('#', filled)}{new string('.', width - filled)}] {f * 100,3:F0}%  ETA {(int)left.TotalHours:D2}:{left.Minutes:D2}:{left.Seconds:D2}";
    }

    private static string Format(Dictionary<string, float> m)
    {
        var sb = new StringBuilder();
        foreach (var (k, v) in m) sb.Append(k).Append(' ').Append(v.ToString("G4", CultureInfo.InvariantCulture)).Append("  ");
        return sb.ToString();
    }

    /// <summary>Mean and std of the deterministic policy's return over episodes (seeds seed, seed + 1, ...).</summary>
    public static (double Mean, double Std) Evaluate(IPolicy policy, string envName, int episodes, ulong seed)
    {
        var r = Rollout.Episodes(envName, policy, episodes, seed);
        return (r.Mean, r.Std);
    }

    /// <summary>
    /// Evaluation metrics as CSV, JSON Lines and a TensorBoard event file (OutDir/tensorboard; a resumed run starts a
    /// new event file, which TensorBoard merges by step), appended and flushed at each evaluation.
    /// </summary>
    private sealed class MetricsLog : IDisposable
    {
        private readonly StreamWriter _csv, _jsonl;
        private readonly IO.TensorBoardWriter _tb;
        private readonly List<KeyValuePair<string, float>> _scalars = [];
        private string[]? _keys;

        public MetricsLog(string dir, bool append)
        {
            Directory.CreateDirectory(dir);
            var csv = Path.Combine(dir, "metrics.csv");
            if (append && File.Exists(csv)) _keys = File.ReadLines(csv).First().Split(',').Skip(5).ToArray();
            _csv = new StreamWriter(csv, append);
            _jsonl = new StreamWriter(Path.Combine(dir, "metrics.jsonl"), append);
            _tb = new IO.TensorBoardWriter(Path.Combine(dir, "tensorboard"));
        }

        public void Write(EvalResult e, Dictionary<string, float> m)
        {
            if (_keys is null)
            {
                _keys = m.Keys.ToArray();
                _csv.WriteLine("step,return_mean,return_std,normalized_score,updates_per_s," + string.Join(",", _keys));
            }
            var inv = CultureInfo.InvariantCulture;
            _csv.WriteLine(string.Join(",", new[] { e.Step.ToString(inv), e.ReturnMean.ToString("R", inv), e.ReturnStd.ToString("R", inv),
                e.NormalizedScore?.ToString("R", inv) ?? "", e.UpdatesPerSecond.ToString("F1", inv) }
                .Concat(_keys.Select(k => m.TryGetValue(k, out var v) ? v.ToString("R", inv) : ""))));
            var row = new Dictionary<string, object?> { ["step"] = e.Step, ["return_mean"] = e.ReturnMean, ["return_std"] = e.ReturnStd, ["normalized_score"] = e.NormalizedScore, ["updates_per_s"] = e.UpdatesPerSecond };
            foreach (var (k, v) in m) row[k] = v;
            _jsonl.WriteLine(JsonSerializer.Serialize(row));
            _csv.Flush(); _jsonl.Flush();
            _scalars.Clear();
            _scalars.Add(new("eval/return_mean", (float)e.ReturnMean));
            _scalars.Add(new("eval/return_std", (float)e.ReturnStd));
            if (e.NormalizedScore is { } score) _scalars.Add(new("eval/normalized_score", (float)score));
            _scalars.Add(new("perf/updates_per_s", (float)e.UpdatesPerSecond));
            foreach (var (k, v) in m) _scalars.Add(new("train/" + k, v));
            _tb.Scalars(e.Step, _scalars);
        }

        public void Dispose() { _csv.Dispose(); _jsonl.Dispose(); _tb.Dispose(); }
    }
}
