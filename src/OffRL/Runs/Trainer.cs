using OffRL.Algorithms;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using OffRL.Data;
using OffRL.Envs;
using OffRL.Tensors;

namespace OffRL.Runs;

/// <summary>
/// How a run is driven: steps, evaluation, logging, checkpoints. What the agent learns with (batch size, discount,
/// networks) is the agent's own <see cref="AgentConfig"/>, which the trainer and its sampler read.
/// </summary>
public sealed record TrainerConfig(
    [property: FieldRange("[1, inf)")] long Steps = 100_000,
    [property: FieldRange("[1, inf)")] int EvalEvery = 5000,
    [property: FieldRange("[1, 100000]")] int EvalEpisodes = 10,
    ulong Seed = 0,
    string? OutDir = null,
    [property: FieldRange("[0, inf)")] int LogEvery = 1000,
    bool Progress = true,
    /// <summary>Online: random actions before learning starts, and updates per environment step.</summary>
    [property: FieldRange("[0, inf)")] int StartSteps = 5000,
    [property: FieldRange("[0, 10000]")] int UpdatesPerStep = 1,
    [property: FieldRange("[1, 1000000000]")] int ReplayCapacity = 1_000_000,
    /// <summary>
    /// Write OutDir/checkpoint every N steps (0: only the final agent); resume from such a folder. Online checkpoints
    /// hold the replay buffer too, and end the episode in progress (the run goes on from a fresh episode seeded by the
    /// step), so a resumed run is the same as one never interrupted. A checkpoint comes after its step's evaluation: a
    /// run stopped while evaluating goes on from the checkpoint before and evaluates that step again.
    /// </summary>
    [property: FieldRange("[0, inf)")] int CheckpointEvery = 0,
    string? ResumeFrom = null,
    /// <summary>Remove an earlier run's own files from OutDir before starting (without it, an earlier run's OutDir needs ResumeFrom).</summary>
    bool Overwrite = false,
    /// <summary>What the run's run.json records of its data and preset (the commit and the resolved config are added by the trainer).</summary>
    Provenance? Provenance = null,
    /// <summary>
    /// Also write OutDir/checkpoint at the step the run ends (its last step, or where a callback stopped it), so another
    /// run can go on from there with <see cref="ResumeFrom"/>; nothing changes before that step (the periodic
    /// checkpoints of <see cref="CheckpointEvery"/> end the episode in progress, this one comes after the last).
    /// </summary>
    bool CheckpointAtEnd = false,
    /// <summary>
    /// The environment the evaluations run in when it is not the one the agent learns in or for (a policy trained in a
    /// simulator, <c>pendulum:g=2</c>, judged in the real task); null: the run's own.
    /// </summary>
    string? EvalEnv = null)
{
    /// <summary>Refuses values no run could use (each field's range is written beside it).</summary>
    public void Validate()
    {
        FieldRange.Check(this);
        if ((CheckpointEvery > 0 || CheckpointAtEnd) && OutDir is null) throw new ArgumentException("trainer: checkpoint_every needs an output folder (--out)");
        if (Overwrite && ResumeFrom is not null) throw new ArgumentException("trainer: --resume keeps an output folder and --overwrite empties it; pass one of them");
    }
}

/// <summary>
/// One evaluation: mean and std of episode returns, and the normalized score when the env has references; a run of
/// phases (<see cref="Trainer.FitFineTune"/>: offline, then online) names the phase the step belongs to.
/// </summary>
public sealed record EvalResult(long Step, double ReturnMean, double ReturnStd, double? NormalizedScore, double UpdatesPerSecond, string? Phase = null);

/// <param name="UpdatesPerSecond">Updates of this process over the whole run: learning, sampling, evaluation, logging, checkpoints.</param>
/// <param name="LearningUpdatesPerSecond">Updates over the time spent in the steps alone (sampling and updates; online,
/// also acting in the env): what the run would reach without evaluation, logging and checkpoints.</param>
public sealed record TrainResult(IReadOnlyList<EvalResult> Evaluations, double UpdatesPerSecond, double Seconds, double LearningUpdatesPerSecond = 0)
{
    public EvalResult Final => Evaluations[^1];
}

/// <summary>
/// The training loop every algorithm shares: sample, update, evaluate every N steps in the environment, write
/// metrics as CSV and JSON Lines (flushed at each evaluation), print progress, save the agent at the end.
/// </summary>
public static partial class Trainer
{
    /// <summary>Offline training on a dataset (with an environment only for evaluation).</summary>
    public static TrainResult FitOffline(Agent agent, Dataset data, string envName, TrainerConfig c)
    {
        using var folder = Claim(c);
        var samplerRng = new Rng(c.Seed ^ 0x5A5A5A5AUL);
        var cfg = agent.Config;
        // Hashed once per run, only when a checkpoint records it or a resume compares it.
        string? fingerprint = c.ResumeFrom is not null || c.CheckpointEvery > 0 || c.CheckpointAtEnd ? Fingerprint(data) : null;
        long start = 0;
        if (c.ResumeFrom is { } resume)
        {
            var from = CheckpointFolder(resume);
            var t = CheckResume(agent, from, c, online: false);
            if (t.DatasetSha256 is { } saved && saved != fingerprint)
                throw new ArgumentException($"--resume: the checkpoint was trained on a different dataset (or different preprocessing): sha256 {saved[..12]}..., this run's {fingerprint![..12]}... ({Path.Combine(from, "trainer.json")})");
            agent.LoadCheckpoint(from);
            start = t.Step;
            samplerRng.SetState(t.SamplerRng);
        }
        // after a resume has loaded the agent: a model-based agent's ensemble comes from its checkpoint, not a new fit
        var own = agent.OfflineBatches(new OfflineRun(data, envName, samplerRng, c.Progress ? new LineProgress(Console.Out) : null));
        var sampler = own ?? OfflineSampler.Create(data, cfg.Sampler, cfg.BatchSize, samplerRng, cfg.Gamma, cfg.NStep, cfg.WeightTemperature);
        Action<long>? checkpoint = null;
        if (c.CheckpointEvery > 0 || c.CheckpointAtEnd)
        {
            checkpoint = step => WriteCheckpoint(Path.Combine(c.OutDir!, "checkpoint"), dir =>
            {
                agent.SaveCheckpoint(dir);
                WriteState(dir, new TrainerState(step, samplerRng.GetState(), DatasetSha256: fingerprint));
            });
        }
        // A method that prepared its own batches (a model-based method's ensemble fit, an hour on D4RL-sized data) is
        // checkpointed before its first update, so a run stopped before its first periodic checkpoint keeps the fit.
        if (own is not null && checkpoint is not null && c.CheckpointEvery > 0 && start == 0) checkpoint(0);
        return Loop(agent, c.EvalEnv ?? envName, c, null, _ => agent.Update(sampler.Sample()), start, checkpoint);
    }

    /// <summary>The sampler of a run: the agent's batch size and discount.</summary>
    internal static UniformSampler Sampler(Agent agent, ITransitionSource source, Rng rng) =>
        new(source, agent.Config.BatchSize, rng, agent.Config.Gamma);

    /// <summary>
    /// A checkpoint's trainer.json: the step reached, the generators' states, and what the run trained on (the
    /// dataset's <see cref="Fingerprint"/>, or the environment of an online run), which a resume must match. A file
    /// written before those were recorded has them null and resumes unchecked.
    /// </summary>
    private sealed record TrainerState(long Step, RngState SamplerRng, RngState? ActionRng = null, string? DatasetSha256 = null, string? Env = null);

    private static readonly string[] StateFields = ["Step", "SamplerRng", "ActionRng", "DatasetSha256", "Env"];

    private static void WriteState(string dir, TrainerState t) =>
        File.WriteAllText(Path.Combine(dir, "trainer.json"), JsonSerializer.Serialize(t, StateJson));

    private static readonly JsonSerializerOptions StateJson = new() { DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull };

    /// <summary>A checkpoint's trainer.json, every field checked (an error names the file and field).</summary>
    private static TrainerState ReadState(string dir)
    {
        var path = Path.Combine(dir, "trainer.json");
        if (!File.Exists(path)) throw new DataException("checkpoint has no trainer.json (not a checkpoint folder?)", path);
        JsonElement root;
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(path));
            root = doc.RootElement.Clone();
        }
        catch (JsonException e) { throw new DataException($"not a trainer state: {e.Message}", path); }
        if (root.ValueKind != JsonValueKind.Object) throw new DataException($"must be a JSON object ({string.Join(", ", StateFields)}), got {root.ValueKind}", path);
        foreach (var p in root.EnumerateObject())
            if (Array.IndexOf(StateFields, p.Name) < 0) throw new DataException($"unknown field (a trainer.json holds {string.Join(", ", StateFields)})", path, p.Name);
        if (!root.TryGetProperty("Step", out var s) || s.ValueKind != JsonValueKind.Number || !s.TryGetInt64(out long step) || step < 0)
            throw new DataException($"must be an integer >= 0 (the step the checkpoint was written at), got {(root.TryGetProperty("Step", out s) ? s.GetRawText() : "nothing")}", path, "Step");
        if (!root.TryGetProperty("SamplerRng", out var sr)) throw new DataException("missing", path, "SamplerRng");
        var sampler = Agent.ReadRngState(sr, path, "SamplerRng");
        RngState? action = root.TryGetProperty("ActionRng", out var ar) && ar.ValueKind != JsonValueKind.Null ? Agent.ReadRngState(ar, path, "ActionRng") : null;
        string? sha = null, env = null;
        if (root.TryGetProperty("DatasetSha256", out var d) && d.ValueKind != JsonValueKind.Null)
            sha = d.ValueKind == JsonValueKind.String && d.GetString() is { Length: 64 } h && h.All(char.IsAsciiHexDigitLower)
                ? h : throw new DataException($"must be a SHA-256 as 64 lowercase hex digits, got {d.GetRawText()}", path, "DatasetSha256");
        if (root.TryGetProperty("Env", out var en) && en.ValueKind != JsonValueKind.Null)
            env = en.ValueKind == JsonValueKind.String && en.GetString() is { Length: > 0 } n ? n : throw new DataException($"must be an environment name, got {en.GetRawText()}", path, "Env");
        return new TrainerState(step, sampler, action, sha, env);
    }

    /// <summary>
    /// What a resume must match before anything is loaded or written: the checkpoint's files read (trainer.json
    /// checked field by field), written by the same algorithm as the agent trained now, at a step no later than
    /// the run's <c>--steps</c>, of the same kind (online or offline) and, online, in the same environment
    /// (<paramref name="envKey"/>). Returns the checkpoint's trainer state.
    /// </summary>
    private static TrainerState CheckResume(Agent agent, string from, TrainerConfig c, bool online, string? envKey = null)
    {
        var t = ReadState(from);
        var trainerJson = Path.Combine(from, "trainer.json");
        var algo = AlgorithmRegistry.SavedAlgorithm(from);
        if (algo != agent.Name)
            throw new ArgumentException($"--resume: the checkpoint is of {algo} ({Path.Combine(from, "agent.json")}), this run trains {agent.Name}");
        if (c.Steps < t.Step)
            throw new ArgumentException($"--steps: {c.Steps} is below the checkpoint's step {t.Step} ({trainerJson}); a resumed run continues to --steps, so pass at least {t.Step}");
        if (online && t.ActionRng is null) throw new DataException("is an offline checkpoint (no replay buffer); resume it with a dataset", trainerJson);
        if (!online && t.ActionRng is not null) throw new DataException("is an online checkpoint (it holds a replay buffer); resume it with --env, not a dataset", trainerJson);
        if (envKey is not null && t.Env is { } savedEnv && !string.Equals(savedEnv, envKey, StringComparison.OrdinalIgnoreCase))
            throw new ArgumentException($"--resume: the checkpoint was trained in {savedEnv} ({trainerJson}), this run's environment is {envKey}");
        return t;
    }

    /// <summary>
    /// SHA-256 of the dataset a run trains on, as 64 lowercase hex digits: its sizes, then the raw bytes of the
    /// observations, actions, rewards, terminals, timeouts and next observations (when it has them), in that order.
    /// Two runs on the same data after the same preparation hash the same.
    /// </summary>
    internal static string Fingerprint(Dataset d)
    {
        using var h = System.Security.Cryptography.IncrementalHash.CreateHash(System.Security.Cryptography.HashAlgorithmName.SHA256);
        Span<byte> sizes = stackalloc byte[16];
        System.Buffers.Binary.BinaryPrimitives.WriteInt32LittleEndian(sizes, d.Count);
        System.Buffers.Binary.BinaryPrimitives.WriteInt32LittleEndian(sizes[4..], d.ObservationDim);
        System.Buffers.Binary.BinaryPrimitives.WriteInt32LittleEndian(sizes[8..], d.ActionDim);
        System.Buffers.Binary.BinaryPrimitives.WriteInt32LittleEndian(sizes[12..], d.HasNextObservations ? 1 : 0);
        h.AppendData(sizes);
        h.AppendData(System.Runtime.InteropServices.MemoryMarshal.AsBytes(d.Observations));
        h.AppendData(System.Runtime.InteropServices.MemoryMarshal.AsBytes(d.Actions));
        h.AppendData(System.Runtime.InteropServices.MemoryMarshal.AsBytes(d.Rewards));
        h.AppendData(System.Runtime.InteropServices.MemoryMarshal.AsBytes(d.Terminals));
        h.AppendData(System.Runtime.InteropServices.MemoryMarshal.AsBytes(d.Timeouts));
        if (d.HasNextObservations) h.AppendData(System.Runtime.InteropServices.MemoryMarshal.AsBytes(d.NextObservations));
        return Convert.ToHexStringLower(h.GetHashAndReset());
    }

    /// <summary>The run's settings checked, then its output folder held for the run (null without one).</summary>
    private static IO.OutputFolder? Claim(TrainerConfig c)
    {
        c.Validate();
        return c.OutDir is null ? null : IO.OutputFolder.Claim(c.OutDir, resume: c.ResumeFrom is not null, overwrite: c.Overwrite);
    }

    /// <summary>
    /// The checkpoint to resume from: the folder given, or its <c>checkpoint</c> subfolder (a run's --out), or, when a
    /// kill came between the two renames of <see cref="WriteCheckpoint"/>, the previous checkpoint kept as <c>.old</c>.
    /// </summary>
    internal static string CheckpointFolder(string path)
    {
        foreach (var candidate in new[] { path, Path.Combine(path, "checkpoint"), path + ".old", Path.Combine(path, "checkpoint.old") })
            if (File.Exists(Path.Combine(candidate, "trainer.json"))) return candidate;
        throw new DataException("no checkpoint here (no trainer.json in it or in its checkpoint folder): the run was stopped before its first " +
            "checkpoint; start it again with --overwrite", path);
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
        if (agent.Config.Sampler != SamplerKind.Uniform)
            throw new ArgumentException($"{agent.Name}: sampler {IO.ConfigFile.Snake(agent.Config.Sampler.ToString())} is offline-only (it weighs a dataset's episodes); online learners sample their replay buffer uniformly");
        using var folder = Claim(c);
        using var env = ObservationHistory.For(EnvRegistry.Make(envName), agent);   // the agent's history, if it takes one
        var buffer = new ReplayBuffer(c.ReplayCapacity, env.ObservationSpace.Width, env.ActionSpace.Width);
        var samplerRng = new Rng(c.Seed ^ 0x5A5A5A5AUL);
        var sampler = Sampler(agent, buffer, samplerRng);
        var rng = new Rng(c.Seed + 17);
        var obs = new float[env.ObservationSpace.Width];
        var next = new float[obs.Length];
        var act = new float[env.ActionSpace.Width];
        var stored = new float[act.Length];
        long start = 0;
        var envKey = EnvRegistry.Find(envName).Name;
        if (c.ResumeFrom is { } resume)
        {
            var from = CheckpointFolder(resume);
            var t = CheckResume(agent, from, c, online: true, envKey);
            var actionRng = t.ActionRng!.Value;
            agent.LoadCheckpoint(from);
            start = t.Step;
            samplerRng.SetState(t.SamplerRng);
            rng.SetState(actionRng);
            buffer.Load(Path.Combine(from, "replay.bin"));
            env.Reset(EpisodeSeed(c, start), obs);
        }
        else env.Reset(c.Seed, obs);
        Action<long>? checkpoint = null;
        if (c.CheckpointEvery > 0 || c.CheckpointAtEnd)
        {
            var save = OnlineCheckpoint(agent, c, buffer, samplerRng, rng, envKey);
            checkpoint = step =>
            {
                save(step);
                buffer.MarkTruncated();
                env.Reset(EpisodeSeed(c, step), obs);
            };
        }
        return Loop(agent, c.EvalEnv ?? envName, c, onEval is null ? null : e => onEval(e, buffer), step =>
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

    /// <summary>
    /// Writes an online run's checkpoint (OutDir/checkpoint): the agent, the replay buffer, both generators, the
    /// environment and, for a run that also trains on a dataset, the dataset's fingerprint.
    /// </summary>
    private static Action<long> OnlineCheckpoint(Agent agent, TrainerConfig c, ReplayBuffer buffer, Rng samplerRng, Rng actionRng, string envKey,
        string? datasetSha256 = null) =>
        step => WriteCheckpoint(Path.Combine(c.OutDir!, "checkpoint"), dir =>
        {
            agent.SaveCheckpoint(dir);
            buffer.Save(Path.Combine(dir, "replay.bin"));
            WriteState(dir, new TrainerState(step, samplerRng.GetState(), actionRng.GetState(), datasetSha256, envKey));
        });

    /// <param name="phase">The phase a step belongs to, recorded with each evaluation (null: a run of one phase).</param>
    private static TrainResult Loop(Agent agent, string envName, TrainerConfig c, Func<EvalResult, bool>? onEval, Action<long> step,
        long start = 0, Action<long>? checkpoint = null, Func<long, string>? phase = null)
    {
        agent.PlanRun(c.Steps);
        if (c.OutDir is not null) WriteRunFile(agent, envName, c);
        var evals = new List<EvalResult>();
        MetricsLog? log = c.OutDir is null ? null : new MetricsLog(c.OutDir, resumedAt: c.ResumeFrom is null ? null : start);
        var total = Stopwatch.StartNew();
        var window = Stopwatch.StartNew();
        long windowStart = agent.Updates, runStart = agent.Updates;
        long learningTicks = 0, checkpointed = -1;
        EvalResult EvaluateAt(long step, double ups)
        {
            var (mean, std) = Evaluate(agent, envName, c.EvalEpisodes, c.Seed + 1_000_000UL);
            double? score = NormalizedScore.ScoreOrNull(envName, mean);
            return new EvalResult(step, mean, std, score, ups, phase?.Invoke(step));
        }
        try
        {
            for (long t = start; t < c.Steps; t++)
            {
                long t0 = Stopwatch.GetTimestamp();
                step(t);
                learningTicks += Stopwatch.GetTimestamp() - t0;
                bool last = t == c.Steps - 1, stop = false;
                if ((t + 1) % c.EvalEvery == 0 || last)
                {
                    double ups = (agent.Updates - windowStart) / Math.Max(1e-9, window.Elapsed.TotalSeconds);
                    var e = EvaluateAt(t + 1, ups);
                    evals.Add(e);
                    log?.Write(e, agent.Metrics);
                    if (c.Progress)
                        Console.WriteLine($"[{agent.Name}] step {t + 1,8}/{c.Steps}  return {e.ReturnMean,9:F1} ± {e.ReturnStd,-7:F1}{(e.NormalizedScore is { } s ? $" score {s,6:F1}" : "")}  {ups,7:F0} upd/s  {Format(agent.Metrics)}");
                    window.Restart();
                    windowStart = agent.Updates;
                    stop = onEval?.Invoke(e) == true;
                }
                else if (c.Progress && c.LogEvery > 0 && (t + 1) % c.LogEvery == 0)
                    Console.Write($"\r[{agent.Name}] {Bar(t + 1 - start, c.Steps - start, total.Elapsed.TotalSeconds)} step {t + 1,8}/{c.Steps}  {Format(agent.Metrics)}   ");
                // After the step's evaluation (its metrics row and its callback), so a run stopped while evaluating goes on
                // from the checkpoint before and redoes that evaluation, never skips it.
                if (checkpoint is not null && c.CheckpointEvery > 0 && (t + 1) % c.CheckpointEvery == 0) { checkpoint(t + 1); checkpointed = t + 1; }
                if (stop) break;
            }
            if (evals.Count == 0)
            {
                // Resumed from a checkpoint at the run's last step (killed while saving the final agent): evaluate the
                // agent once more for the result; its metrics row is written only if the killed run had not.
                var e = EvaluateAt(start, 0);
                evals.Add(e);
                if (log is not null && !log.HasStep(start)) log.Write(e, agent.Metrics);
            }
        }
        finally { log?.Dispose(); }
        // The run's end as a checkpoint (unless the periodic one just wrote it), for a later run to go on from.
        if (checkpoint is not null && c.CheckpointAtEnd && checkpointed != evals[^1].Step) checkpoint(evals[^1].Step);
        double secs = total.Elapsed.TotalSeconds;
        if (c.OutDir is not null) agent.Save(c.OutDir);
        // Updates of this process only: a resumed run does not count the updates its checkpoint had made.
        double learningSecs = (double)learningTicks / Stopwatch.Frequency;
        return new TrainResult(evals, (agent.Updates - runStart) / Math.Max(1e-9, secs), secs, (agent.Updates - runStart) / Math.Max(1e-9, learningSecs));
    }

    /// <summary>
    /// OutDir/run.json, written (atomically) when the run starts or resumes: the commit OffRL was built from, the algorithm
    /// and its fully resolved config, the dataset and its file's SHA-256, the preset, the environment and the run's
    /// settings. What a results table compares before it puts runs in one cell.
    /// </summary>
    private static void WriteRunFile(Agent agent, string envName, TrainerConfig c)
    {
        var p = c.Provenance ?? new Provenance();
        var run = new Dictionary<string, object?>
        {
            ["format_version"] = 1, ["commit"] = Provenance.Commit, ["algo"] = agent.Name,
            ["config"] = JsonSerializer.SerializeToElement(agent.Config, agent.Config.GetType(), IO.ConfigFile.JsonOptions),
            ["dataset"] = p.Dataset, ["dataset_sha256"] = p.DatasetSha256, ["preset"] = p.Preset, ["env"] = envName,
            ["steps"] = c.Steps, ["seed"] = c.Seed, ["eval_every"] = c.EvalEvery, ["eval_episodes"] = c.EvalEpisodes,
            ["resumed_from"] = c.ResumeFrom, ["started"] = DateTime.UtcNow.ToString("yyyy-MM-ddTHH:mm:ssZ"),
        };
        IO.AtomicFile.WriteAllText(Path.Combine(c.OutDir!, "run.json"), JsonSerializer.Serialize(run, IO.ConfigFile.JsonOptions));
    }

    /// <summary>
    /// The environment a run folder (or its checkpoint subfolder) was trained and evaluated in, from its run.json; null
    /// when there is none (an agent saved by the API, or a reference's snapshot).
    /// </summary>
    public static string? RunEnvironment(string folder)
    {
        foreach (var dir in new[] { folder, Path.GetDirectoryName(Path.GetFullPath(folder).TrimEnd(Path.DirectorySeparatorChar)) })
        {
            var file = dir is null ? null : Path.Combine(dir, "run.json");
            if (file is null || !File.Exists(file)) continue;
            try
            {
                using var doc = JsonDocument.Parse(File.ReadAllText(file), IO.ConfigFile.DocumentOptions);
                return doc.RootElement.TryGetProperty("env", out var e) && e.ValueKind == JsonValueKind.String && e.GetString() is { Length: > 0 } env ? env : null;
            }
            catch (JsonException e) { throw new DataException($"not valid JSON: {e.Message}", file); }
        }
        return null;
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
    /// Evaluation metrics as CSV and JSON Lines (both rewritten whole and atomically at each evaluation, so they are
    /// never half a row; a column appears when its metric first does, e.g. an online run's losses once learning starts)
    /// and a TensorBoard event file (OutDir/tensorboard; a resumed run starts a new event file, which TensorBoard merges
    /// by step). A resumed run keeps the rows up to its checkpoint's step and drops later ones, so no step repeats.
    /// </summary>
    private sealed class MetricsLog : IDisposable
    {
        private static readonly string[] Fixed = ["step", "return_mean", "return_std", "normalized_score", "updates_per_s"];
        private readonly string _csv, _jsonl;
        private readonly IO.TensorBoardWriter _tb;
        private readonly List<KeyValuePair<string, float>> _scalars = [];
        private readonly List<Dictionary<string, JsonElement>> _rows = [];
        private readonly List<string> _keys = [];

        public MetricsLog(string dir, long? resumedAt)
        {
            Directory.CreateDirectory(dir);
            _csv = Path.Combine(dir, "metrics.csv");
            _jsonl = Path.Combine(dir, "metrics.jsonl");
            if (resumedAt is { } step && File.Exists(_jsonl))
            {
                int line = 0;
                foreach (var text in File.ReadLines(_jsonl))
                {
                    line++;
                    if (text.Length == 0) continue;
                    Dictionary<string, JsonElement> row;
                    try { row = JsonSerializer.Deserialize<Dictionary<string, JsonElement>>(text) ?? []; }
                    catch (JsonException e) { throw new DataException($"not a metrics row ({e.Message})", _jsonl, null, line); }
                    if (!row.TryGetValue("step", out var s) || !s.TryGetInt64(out long rowStep)) throw new DataException("has no integer step", _jsonl, "step", line);
                    if (rowStep > step) continue;
                    _rows.Add(row);
                    foreach (var k in row.Keys) if (Array.IndexOf(Fixed, k) < 0 && !_keys.Contains(k)) _keys.Add(k);
                }
            }
            Flush();
            _tb = new IO.TensorBoardWriter(Path.Combine(dir, "tensorboard"));
        }

        public void Write(EvalResult e, Dictionary<string, float> m)
        {
            var row = new Dictionary<string, JsonElement>
            {
                ["step"] = JsonSerializer.SerializeToElement(e.Step), ["return_mean"] = JsonSerializer.SerializeToElement(e.ReturnMean),
                ["return_std"] = JsonSerializer.SerializeToElement(e.ReturnStd), ["normalized_score"] = JsonSerializer.SerializeToElement(e.NormalizedScore),
                ["updates_per_s"] = JsonSerializer.SerializeToElement(Math.Round(e.UpdatesPerSecond, 1)),
            };
            if (e.Phase is { } phase)
            {
                row["phase"] = JsonSerializer.SerializeToElement(phase);
                if (!_keys.Contains("phase")) _keys.Add("phase");
            }
            foreach (var (k, v) in m)
            {
                row[k] = JsonSerializer.SerializeToElement(v);
                if (!_keys.Contains(k)) _keys.Add(k);
            }
            _rows.Add(row);
            Flush();
            _scalars.Clear();
            _scalars.Add(new("eval/return_mean", (float)e.ReturnMean));
            _scalars.Add(new("eval/return_std", (float)e.ReturnStd));
            if (e.NormalizedScore is { } score) _scalars.Add(new("eval/normalized_score", (float)score));
            _scalars.Add(new("perf/updates_per_s", (float)e.UpdatesPerSecond));
            foreach (var (k, v) in m) _scalars.Add(new("train/" + k, v));
            _tb.Scalars(e.Step, _scalars);
        }

        public bool HasStep(long step) => _rows.Exists(r => r.TryGetValue("step", out var s) && s.TryGetInt64(out var v) && v == step);

        private void Flush()
        {
            var csv = new StringBuilder();
            csv.AppendJoin(',', Fixed.Concat(_keys)).Append('\n');
            var jsonl = new StringBuilder();
            foreach (var row in _rows)
            {
                int i = 0;
                foreach (var k in Fixed.Concat(_keys))
                {
                    if (i++ > 0) csv.Append(',');
                    if (row.TryGetValue(k, out var v) && v.ValueKind != JsonValueKind.Null) csv.Append(v.GetRawText().Trim('"'));
                }
                csv.Append('\n');
                jsonl.Append(JsonSerializer.Serialize(row)).Append('\n');
            }
            IO.AtomicFile.WriteAllText(_csv, csv.ToString());
            IO.AtomicFile.WriteAllText(_jsonl, jsonl.ToString());
        }

        public void Dispose() => _tb.Dispose();
    }
}
