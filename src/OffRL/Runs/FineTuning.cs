using OffRL.Algorithms;
using OffRL.Data;
using OffRL.Envs;
using OffRL.Tensors;

namespace OffRL.Runs;

/// <summary>
/// The offline-to-online schedule of a fine-tuning run (<see cref="Trainer.FitFineTune"/>): how many of the run's
/// steps are offline updates before the agent starts acting, and how the online phase's batches mix the dataset with
/// the agent's own transitions.
/// </summary>
/// <param name="OfflineSteps">Gradient updates on the dataset alone before the first environment step (CORL's
/// offline_iterations).</param>
/// <param name="Ratio">Fraction of each online-phase batch drawn from the dataset, the rest from the online buffer
/// (RLPD's symmetric sampling is 0.5, as Cal-QL's mixing_ratio in CORL's configs); null: in proportion to their
/// sizes, as one buffer that holds the dataset and takes the online transitions (CORL's IQL, AWAC and CQL fine-tuning,
/// FamO2O's authors).</param>
/// <param name="RandomSteps">Environment steps at the start of the online phase that act uniformly at random, with no
/// updates (RLPD's start_training 5000, an agent that starts from nothing); 0: the (pre-trained) agent acts from the
/// first online step.</param>
/// <param name="CollectSteps">Environment steps per round: each round collects this many steps, then makes this many
/// times the update-to-data ratio updates (H2O's 1000 rollout steps, then 1000 gradient steps); 1: updates after every step.</param>
/// <param name="ActEnv">The environment the online phase acts in when it is not the one the run is evaluated in (H2O's
/// simulator, e.g. <c>halfcheetah:gravity=2</c>, beside the real environment); null: the same.</param>
/// <param name="OnlineCapacity">The online buffer's capacity; null: the trainer's replay_capacity.</param>
public sealed record FineTuning(
    [property: FieldRange("[0, inf)")] long OfflineSteps,
    [property: FieldRange("[0, 1]")] double? Ratio = 0.5,
    [property: FieldRange("[0, inf)")] long RandomSteps = 0,
    [property: FieldRange("[1, 1000000]")] int CollectSteps = 1,
    string? ActEnv = null,
    [property: FieldRange("[1, 1000000000]")] long? OnlineCapacity = null)
{
    public void Validate() => FieldRange.Check(this);
}

public static partial class Trainer
{
    /// <summary>
    /// Offline, then online, as one run: <see cref="FineTuning.OfflineSteps"/> updates on the (prepared) dataset, then
    /// <c>c.Steps - OfflineSteps</c> environment steps, each followed by <c>c.UpdatesPerStep</c> updates on batches
    /// that mix the dataset with the online buffer at <see cref="FineTuning.Ratio"/> (the first
    /// <see cref="FineTuning.RandomSteps"/> of them random, with no updates). With no offline steps this is a hybrid
    /// method's whole run (RLPD: <see cref="Training.Hybrid"/>). The agent keeps the
    /// preprocessing fitted on the dataset: online transitions are stored as the dataset was prepared (observations
    /// normalized, actions in the networks' range, rewards scaled and shifted), so both halves of a batch speak one
    /// language. One evaluation curve across both phases (the metrics' <c>phase</c> column: the evaluation at the
    /// switch is the last offline one). Checkpoints hold the online buffer and the acting generator in either phase, so
    /// a run stopped anywhere goes on to the same result as one never stopped.
    /// </summary>
    public static TrainResult FitFineTune(Agent agent, Dataset data, string envName, TrainerConfig c, FineTuning f)
    {
        f.Validate();
        if (f.OfflineSteps > c.Steps)
            throw new ArgumentException($"finetune: --offline-steps {f.OfflineSteps} is more than the run's {c.Steps} steps in all");
        if (agent.NoOnlineForm is { } why)
            throw new ArgumentException($"--algo {agent.Name}: has no online phase here: {why}");
        if (agent.Config.Sampler != SamplerKind.Uniform)
            throw new ArgumentException($"{agent.Name}: sampler {IO.ConfigFile.Snake(agent.Config.Sampler.ToString())} weighs or chains the dataset's episodes; " +
                "the online phase mixes uniform draws from the dataset and the online buffer, so finetune takes sampler: uniform");
        if (c.UpdatesPerStep < 1)
            throw new ArgumentException($"finetune: updates_per_step must be at least 1 (the online phase's update-to-data ratio), got {c.UpdatesPerStep}");
        using var folder = Claim(c);
        string actEnv = f.ActEnv ?? envName;
        using var env = ObservationHistory.For(EnvRegistry.Make(actEnv), agent);
        if (env.ObservationSpace.Width != agent.ObservationDim || env.ActionSpace.Width != agent.ActionDim)
            throw new ArgumentException($"{(f.ActEnv is null ? "--env" : "--sim-env")}: {actEnv} has observations of {env.ObservationSpace.Width} values and actions of {env.ActionSpace.Width}, " +
                $"the dataset's are {agent.ObservationDim} and {agent.ActionDim}");
        var cfg = agent.Config;
        var buffer = new ReplayBuffer((int)Math.Min(int.MaxValue, f.OnlineCapacity ?? c.ReplayCapacity), agent.ObservationDim, agent.ActionDim);
        agent.UseOnlineBuffer(buffer);
        var samplerRng = new Rng(c.Seed ^ 0x5A5A5A5AUL);
        var rng = new Rng(c.Seed + 17);
        var dataset = new DatasetSource(data);
        var offline = Sampler(agent, dataset, samplerRng);
        var mixed = new MixedSampler(dataset, buffer, cfg.BatchSize, f.Ratio, samplerRng, cfg.Gamma);
        string fingerprint = Fingerprint(data);
        var envKey = f.ActEnv ?? EnvRegistry.Find(envName).Name;
        var obs = new float[env.ObservationSpace.Width];
        var next = new float[obs.Length];
        var act = new float[env.ActionSpace.Width];
        float[] storedObs = new float[obs.Length], storedNext = new float[obs.Length], storedAct = new float[act.Length];
        long start = 0;
        if (c.ResumeFrom is { } resume)
        {
            var from = CheckpointFolder(resume);
            var t = CheckResume(agent, from, c, online: true, envKey);
            if (t.DatasetSha256 != fingerprint)
                throw new ArgumentException($"--resume: the checkpoint is not of a fine-tuning run on this dataset ({Path.Combine(from, "trainer.json")})");
            agent.LoadCheckpoint(from);
            start = t.Step;
            samplerRng.SetState(t.SamplerRng);
            rng.SetState(t.ActionRng!.Value);
            buffer.Load(Path.Combine(from, "replay.bin"));
        }
        // The first online episode starts from the seed of the step it starts at, whether the run was stopped or not.
        var phase = new OnlinePhase(f.OfflineSteps, Math.Max(0, c.Steps - f.OfflineSteps - f.RandomSteps) * c.UpdatesPerStep);
        if (start >= f.OfflineSteps) { env.Reset(EpisodeSeed(c, start), obs); agent.StartOnline(phase); }
        Action<long>? checkpoint = null;
        if (c.CheckpointEvery > 0 || c.CheckpointAtEnd)
        {
            var save = OnlineCheckpoint(agent, c, buffer, samplerRng, rng, envKey, fingerprint);
            checkpoint = step =>
            {
                save(step);
                if (step >= f.OfflineSteps)
                {
                    buffer.MarkTruncated();
                    env.Reset(EpisodeSeed(c, step), obs);
                }
            };
        }
        var pre = agent.Preprocessing;
        return Loop(agent, c.EvalEnv ?? envName, c, null, step =>
        {
            if (step < f.OfflineSteps) { agent.Update(offline.Sample()); return; }
            if (step == f.OfflineSteps) { env.Reset(EpisodeSeed(c, step), obs); agent.StartOnline(phase); }
            bool learning = step - f.OfflineSteps >= f.RandomSteps;
            if (learning) agent.Act(obs, act, deterministic: false);
            else env.ActionSpace.SampleAction(rng, act);
            var r = env.Step(act, next);
            // stored as the dataset was prepared: the preprocessing fitted on it, applied to the new transition
            obs.CopyTo(storedObs, 0); pre.NormalizeObservation(storedObs);
            next.CopyTo(storedNext, 0); pre.NormalizeObservation(storedNext);
            act.CopyTo(storedAct, 0); pre.ScaleAction(storedAct);
            buffer.Add(storedObs, storedAct, pre.TransformReward(r.Reward), storedNext, r.Terminated, r.Truncated);
            if (r.Done) env.Reset(null, obs); else next.CopyTo(obs, 0);
            // a round: collect_steps steps, then their updates (after every step when collect_steps is 1)
            if (learning && (step - f.OfflineSteps - f.RandomSteps + 1) % f.CollectSteps == 0)
                for (int k = 0; k < f.CollectSteps * c.UpdatesPerStep; k++) agent.Update(mixed.Sample());
        }, start, checkpoint, done => done <= f.OfflineSteps ? "offline" : "online");
    }
}
