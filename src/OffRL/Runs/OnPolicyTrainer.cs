using System.Text.Json;
using OffRL.Algorithms;
using OffRL.Data;
using OffRL.Envs;
using OffRL.Tensors;

namespace OffRL.Runs;

public static partial class Trainer
{
    /// <summary>
    /// On-policy training (<see cref="IOnPolicy"/>: PPO and its family), as CleanRL's PPO loop: the learner's
    /// <see cref="RolloutSettings.Envs"/> copies of the environment (a <see cref="VectorEnv"/>, copy i seeded seed + i,
    /// autoreset) are stepped together, one batched <see cref="IOnPolicy.Sample"/> per step; after
    /// <see cref="RolloutSettings.Steps"/> steps the rollout's advantages are computed and the learner learns from it,
    /// floor(steps / rollout size) times in all (CleanRL's num_iterations; the steps after the last full rollout are not
    /// taken). Steps count environment steps (CleanRL's global_step). Continuous actions are clipped to [-1, 1] (the
    /// env's bounds, Gymnasium's ClipAction) for the environment only; the rollout keeps the drawn action. Observations
    /// are normalized with running statistics (updated with each step's observations, then applied, the agent's
    /// <see cref="Agent.Preprocessing"/> holding them so evaluation and the saved model see the same) and rewards by the
    /// running std of each env's discounted return, as Gymnasium's wrappers, where the settings ask. A checkpoint holds
    /// the agent, the rollout filled so far, the statistics and the shuffling generator; the episodes in progress end
    /// there (the next observation starts an episode), so a resumed run equals one never stopped. A learner with a
    /// <see cref="RolloutSettings.Window"/> above one learns after each rollout from the last ones kept, all of them
    /// renormalized with the current statistics from the raw observations and rewards the buffer keeps.
    /// </summary>
    /// <param name="offline">An offline phase first (<c>offrl finetune</c> of an on-policy learner, Uni-O4): its steps are
    /// updates on batches of the (prepared) dataset, drawn with the shuffling generator; then the agent's
    /// <see cref="Agent.StartOnline"/> and the rollouts, for the rest of <c>c.Steps</c>. One evaluation curve with a
    /// <c>phase</c> column; checkpoints in either phase (with the dataset's fingerprint) resume to the same result.</param>
    public static TrainResult FitOnPolicy(Agent agent, string envName, TrainerConfig c, OfflinePrefix? offline = null)
    {
        var learner = agent as IOnPolicy ?? throw new ArgumentException($"{agent.Name}: not an on-policy learner");
        var s = learner.Rollouts;
        long first = offline?.Steps ?? 0;   // the first environment step's index in the run
        if (first > c.Steps) throw new ArgumentException($"finetune: --offline-steps {first} is more than the run's {c.Steps} steps in all");
        int iterations = (int)Math.Min(int.MaxValue, (c.Steps - first) / s.Size);
        if (iterations < 1 && (offline is null || c.Steps > first))   // a run may end with its offline phase (no rollout)
            throw new ArgumentException($"--{(offline is null ? "steps" : "online-steps")}: {c.Steps - first} is less than one rollout of {agent.Name} ({s.Steps} steps x {s.Envs} envs = {s.Size} environment steps)");
        using var folder = Claim(c);
        using var envs = new VectorEnv(_ => ObservationHistory.For(EnvRegistry.Make(envName), agent), s.Envs) { Threads = 1 };
        int n = s.Envs, od = envs.ObservationSpace.Width, aw = envs.ActionSpace.Width;
        bool box = envs.ActionSpace is Box;
        if (s.Window < 1) throw new ArgumentException($"{agent.Name}: a rollout window of {s.Window}; it keeps at least the last rollout");
        var rollout = new RolloutBuffer(s.Steps * s.Window, n, od, aw);
        var obsStats = s.NormalizeObservations ? new RunningMeanStd(od) : null;
        var returnStats = s.NormalizeRewards ? new RunningMeanStd(1) : null;
        var discounted = new float[n];          // each env's running discounted return (NormalizeReward's)
        var episodeReturn = new double[n];      // each env's raw return so far (CleanRL's episodic_return)
        double finishedSum = 0; int finished = 0;
        var obs = new float[n * od];
        var rawObs = new float[n * od];
        var actions = new float[n * aw];
        var envActions = new float[n * aw];
        var logProbs = new float[n];
        var values = new float[n];
        var starts = new bool[n];
        var shuffle = new Rng(c.Seed ^ 0x5A5A5A5AUL);
        var envKey = EnvRegistry.Find(envName).Name;
        string? fingerprint = offline is null ? null : Fingerprint(offline.Data);
        var phase = new OnlinePhase(first, c.Steps - first);

        float[] mean = new float[od], std = new float[od];
        // The agent's preprocessing holds the running statistics (its arrays written in place after each update).
        void UseStatistics()
        {
            if (obsStats is null) return;
            obsStats.CopyTo(mean, std);
            if (!ReferenceEquals(agent.Preprocessing.ObservationMean, mean))
                agent.Preprocessing = agent.Preprocessing with { ObservationMean = mean, ObservationStd = std, ObservationClip = s.ObservationClip > 0 ? s.ObservationClip : null };
        }
        // The observations the agent sees: the running statistics updated with the raw ones first, then applied.
        void Observe(float[] raw)
        {
            if (obsStats is not null) { obsStats.Update(raw, n); UseStatistics(); }
            raw.CopyTo(rawObs, 0);
            raw.CopyTo(obs, 0);
            agent.Preprocessing.NormalizeObservation(obs);
        }
        void Begin(ulong seed)
        {
            Observe(envs.Reset(seed));
            Array.Fill(starts, true);
            Array.Clear(episodeReturn);
        }

        long start = 0;
        if (c.ResumeFrom is { } resume)
        {
            var from = CheckpointFolder(resume);
            var t = CheckResume(agent, from, c, online: true, envKey);
            if (t.DatasetSha256 != fingerprint)
                throw new ArgumentException($"--resume: the checkpoint is not of {(offline is null ? "an on-policy run without a dataset" : "a fine-tuning run on this dataset")} ({Path.Combine(from, "trainer.json")})");
            agent.LoadCheckpoint(from);
            rollout.Load(Path.Combine(from, "rollout.bin"));
            ReadStatistics(Path.Combine(from, "normalizers.json"), obsStats, returnStats, discounted);
            shuffle.SetState(t.SamplerRng);
            start = t.Step;
            if (start >= first && offline is not null) agent.StartOnline(phase);
            UseStatistics();
            Begin(EpisodeSeed(c, start));
        }
        else
        {
            UseStatistics();
            Begin(c.Seed);
        }
        Action<long>? checkpoint = null;
        if (c.CheckpointEvery > 0 || c.CheckpointAtEnd)
            checkpoint = step =>
            {
                WriteCheckpoint(Path.Combine(c.OutDir!, "checkpoint"), dir =>
                {
                    agent.SaveCheckpoint(dir);
                    rollout.Save(Path.Combine(dir, "rollout.bin"));
                    WriteStatistics(Path.Combine(dir, "normalizers.json"), obsStats, returnStats, discounted);
                    WriteState(dir, new TrainerState(step, shuffle.GetState(), shuffle.GetState(), fingerprint, envKey));
                });
                Begin(EpisodeSeed(c, step));
            };

        ITransitionSampler? batches = null;
        if (offline is not null)
        {   // after a resume has loaded the agent (a method that fits a model before its updates keeps the checkpoint's)
            batches = agent.OfflineBatches(new OfflineRun(offline.Data, envName, shuffle, c.Progress ? new LineProgress(Console.Out) : null))
                ?? Sampler(agent, new DatasetSource(offline.Data), shuffle);
            if (checkpoint is not null && c.CheckpointEvery > 0 && start == 0) checkpoint(0);
        }
        long lastStep = first + (long)iterations * s.Size;
        return Loop(agent, c.EvalEnv ?? envName, c, null, t =>
        {
            if (t < first) { agent.Update(batches!.Sample()); return; }
            if (t == first && offline is not null)
            {
                agent.StartOnline(phase);
                UseStatistics();
                Begin(EpisodeSeed(c, t));
            }
            if ((t - first) % n != 0 || t >= lastStep) return;   // one call per environment step; the vector steps every n-th
            int k = rollout.Filled, row = k * n;
            obs.CopyTo(rollout.Observations, row * od);
            rawObs.CopyTo(rollout.RawObservations, row * od);
            starts.CopyTo(rollout.Starts, row);
            learner.Sample(obs, n, actions, logProbs, values);
            actions.CopyTo(rollout.Actions, row * aw);
            logProbs.CopyTo(rollout.LogProbs, row);
            values.CopyTo(rollout.Values, row);
            actions.CopyTo(envActions, 0);
            if (box)
            {
                System.Numerics.Tensors.TensorPrimitives.Clamp(envActions, -1f, 1f, envActions);
                agent.Preprocessing.UnscaleAction(envActions);
            }
            envs.Step(envActions);
            for (int i = 0; i < n; i++)
            {
                episodeReturn[i] += envs.Rewards[i];
                float r = agent.Preprocessing.TransformReward(envs.Rewards[i]);   // as a dataset beside the rollouts holds its rewards (identity without one)
                rollout.RawRewards[row + i] = r;
                if (returnStats is not null)
                {   // NormalizeReward: the discounted return restarts after a termination only
                    discounted[i] = discounted[i] * s.Gamma * (envs.Terminated[i] ? 0f : 1f) + r;
                }
                starts[i] = envs.Terminated[i] || envs.Truncated[i];
                if (starts[i]) { finishedSum += episodeReturn[i]; finished++; episodeReturn[i] = 0; }
            }
            if (returnStats is not null) returnStats.Update(discounted, n);
            float returnStd = returnStats is null ? 1f : (float)Math.Sqrt(returnStats.Var[0] + 1e-8);
            for (int i = 0; i < n; i++)
            {
                float r = rollout.RawRewards[row + i] / returnStd;
                rollout.Rewards[row + i] = s.RewardClip > 0 ? Math.Clamp(r, -s.RewardClip, s.RewardClip) : r;
            }
            Observe(envs.Observations);
            rollout.Filled = k + 1;
            if (rollout.Filled % s.Steps != 0) return;
            learner.Value(obs, n, rollout.NextValues);
            obs.CopyTo(rollout.NextObservations, 0);
            starts.CopyTo(rollout.NextStarts, 0);
            if (s.Window > 1) rollout.Renormalize(agent.Preprocessing, returnStd, s.RewardClip);
            rollout.ComputeAdvantages(s.Gamma, s.GaeLambda);
            learner.Learn(rollout, (int)((t - first + n) / s.Size), iterations, shuffle);
            if (rollout.Full) rollout.Drop(s.Steps);   // the oldest rollout leaves the window (all of it, with a window of one)
            if (finished > 0) { agent.Metrics["train_return"] = (float)(finishedSum / finished); finishedSum = 0; finished = 0; }
        }, start, checkpoint, offline is null ? null : done => done <= first ? "offline" : "online");
    }

    private sealed record NormalizerState(double[]? Observations, double[]? Returns, float[] Discounted);

    private static void WriteStatistics(string path, RunningMeanStd? obs, RunningMeanStd? ret, float[] discounted) =>
        IO.AtomicFile.WriteAllText(path, JsonSerializer.Serialize(new NormalizerState(obs?.State(), ret?.State(), discounted)));

    private static void ReadStatistics(string path, RunningMeanStd? obs, RunningMeanStd? ret, float[] discounted)
    {
        if (!File.Exists(path)) throw new DataException("missing: an on-policy checkpoint holds its normalizers' statistics there", path);
        NormalizerState state;
        try { state = JsonSerializer.Deserialize<NormalizerState>(File.ReadAllText(path)) ?? throw new JsonException("empty"); }
        catch (JsonException e) { throw new DataException($"not normalizer statistics: {e.Message}", path); }
        if ((obs is null) != (state.Observations is null) || (ret is null) != (state.Returns is null))
            throw new DataException("its normalizers are not this run's (another config's checkpoint?)", path);
        obs?.SetState(state.Observations!, path);
        ret?.SetState(state.Returns!, path);
        if (state.Discounted is null || state.Discounted.Length != discounted.Length)
            throw new DataException($"holds {state.Discounted?.Length ?? 0} running returns, this run steps {discounted.Length} environments", path);
        state.Discounted.CopyTo(discounted, 0);
    }
}

/// <summary>The offline phase of an on-policy learner's fine-tuning run: updates on the prepared dataset before the first rollout.</summary>
public sealed record OfflinePrefix(Dataset Data, long Steps);
