using System.Text.Json;
using OffRL.Algorithms;
using OffRL.Data;
using OffRL.Dynamics;
using OffRL.IO;
using OffRL.Nn;
using OffRL.Runs;
using OffRL.Tensors;
using Xunit;

namespace OffRL.Tests.Algorithms;

/// <summary>MOPO, MOBILE and RAVL: their reductions to the model-free methods they build on, the model they keep, bad input.</summary>
public class ModelBasedTests
{
    private const int Obs = 3, Act = 1;   // pendulum's widths: the trainer evaluates in it

    // a tiny ensemble fitted in a few steps: what these tests check does not depend on its quality
    private const string Tiny = "dynamics_members: 3, dynamics_elites: 2, dynamics_hidden: [8], dynamics_weight_decays: [0.0, 0.0], dynamics_max_steps: 4, " +
        "rollout_starts: 16, rollout_horizon: 2";

    private static JsonElement Fields(string yamlFlow) => ConfigFile.ParseYamlMap("{" + yamlFlow + "}", "test");

    /// <summary>A smooth world: s' = 0.9 s + 0.1 a, r = 5 + s0; 50-step episodes; pendulum's action bounds.</summary>
    private static Dataset World(int n, ulong seed = 3)
    {
        var rng = new Rng(seed);
        var obs = new float[n * Obs]; var next = new float[n * Obs]; var act = new float[n * Act]; var rew = new float[n];
        for (int i = 0; i < n; i++)
        {
            for (int j = 0; j < Obs; j++) obs[i * Obs + j] = rng.Uniform(-1f, 1f);
            for (int j = 0; j < Act; j++) act[i * Act + j] = rng.Uniform(-1f, 1f);
            for (int j = 0; j < Obs; j++) next[i * Obs + j] = 0.9f * obs[i * Obs + j] + 0.1f * act[i * Act + Math.Min(j, Act - 1)];
            rew[i] = 5f + obs[i * Obs];
        }
        var tout = Enumerable.Range(0, n).Select(i => i % 50 == 49 || i == n - 1).ToArray();
        return new Dataset(new DatasetColumns { Observations = obs, NextObservations = next, Actions = act, Rewards = rew, Terminals = new bool[n], Timeouts = tout },
            Box.Unbounded(Obs), Box.Uniform(Act, -2f, 2f));
    }

    private static TransitionBatch Batch(int size, ulong seed)
    {
        var rng = new Rng(seed);
        var batch = new TransitionBatch(size, Obs, Act);
        rng.FillNormal(batch.Obs); rng.FillUniform(batch.Act, -1f, 1f); rng.FillNormal(batch.Next);
        for (int i = 0; i < size; i++) batch.Rew[i] = 5f + rng.Uniform(0f, 1f);   // positive targets: MOBILE's floor at 0 stays inactive
        Array.Fill(batch.Discount, 0.99f);
        return batch;
    }

    private static Agent Create(string algo, string fields, ulong seed = 4) => AlgorithmRegistry.Create(algo, Obs, Box.Uniform(Act, -1f, 1f), seed, Fields(fields));

    private static float[] Parameters(Agent agent, string module) =>
        agent.NamedModules.Single(m => m.Name == module).Module.Parameters().SelectMany(p => p.Data.Take(p.Size)).ToArray();

    /// <summary>
    /// MOPO's update is SAC's (its penalty lives in the rollouts' rewards): from the same parameters on the same batches,
    /// MOPO with and without a penalty and SAC with OfflineRL-Kit's settings end at the same actor, losses and temperature.
    /// </summary>
    [Fact]
    public void MopoUpdatesAsSacOnTheSameBatchWhateverItsPenalty()
    {
        float[] Run(string algo, string fields)
        {
            var agent = Create(algo, fields);
            for (int i = 0; i < 8; i++) agent.Update(Batch(32, (ulong)i));
            var a = new float[Act];
            agent.Act([0.3f, -1.2f, 0.5f], a, deterministic: true);
            return [.. a, agent.Metrics["critic_loss"], agent.Metrics["actor_loss"], agent.Metrics["alpha"], .. Parameters(agent, "critic")];
        }
        var sac = Run("sac", "actor_lr: 1e-4, alpha_lr: 1e-4, alpha_max: 1, squash_epsilon: 1e-6, normalize_observations: false");
        Assert.Equal(sac, Run("mopo", "penalty_coef: 0"));
        Assert.Equal(sac, Run("mopo", "penalty_coef: 5"));
        Assert.NotEqual(sac, Run("sac", "normalize_observations: false"));   // the settings matter: a test that could fail
    }

    /// <summary>
    /// RAVL with every row of its batches from the data is EDAC: through the trainer, same seed, same dataset, the two
    /// runs draw the same batches (no rollouts are made when no model row is drawn) and end at the same agent.
    /// </summary>
    [Fact]
    public void RavlOnDataAloneIsEdac()
    {
        var data = World(400);
        float[] Run(string algo, string fields)
        {
            var (agent, prepared) = Training.Prepare(algo, data, seed: 2, overrides: Fields(fields));
            Trainer.FitOffline(agent, prepared, "pendulum", new TrainerConfig(Steps: 6, EvalEvery: 1000, EvalEpisodes: 1, Seed: 2, Progress: false));
            return [.. Parameters(agent, "actor"), .. Parameters(agent, "critic"), agent.Metrics["diversity"]];
        }
        const string Small = "num_critics: 3, hidden: [16, 16], batch_size: 8";
        Assert.Equal(Run("edac", Small), Run("ravl", Small + ", real_ratio: 1, " + Tiny));
        Assert.NotEqual(Run("edac", Small), Run("ravl", Small + ", real_ratio: 0.5, " + Tiny));
    }

    /// <summary>
    /// MOBILE's penalty is zero on the batch's dataset rows: with every row real, one update moves the critics exactly as
    /// SAC's with the deterministic backup; with model rows, the penalty is positive and the critics move otherwise.
    /// </summary>
    [Fact]
    public void MobilesPenaltyFallsOnModelRowsOnly()
    {
        var data = World(400);
        const string Sac = "actor_lr: 1e-4, alpha_lr: 1e-4, alpha_max: 1, squash_epsilon: 1e-6, normalize_observations: false, backup_entropy: false, hidden: [16, 16], batch_size: 32";
        float[] Critic(string algo, string fields, out Agent agent)
        {
            agent = Create(algo, fields);
            agent.OfflineBatches(new OfflineRun(data, "pendulum", new Rng(1), null));   // fits the ensemble (null for SAC)
            agent.Update(Batch(32, 7));
            return Parameters(agent, "critic");
        }
        var sac = Critic("sac", Sac, out _);
        Assert.Equal(sac, Critic("mobile", "hidden: [16, 16], batch_size: 32, real_ratio: 1, " + Tiny, out var allReal));
        Assert.Equal(0f, allReal.Metrics["bellman_penalty"]);
        var mixed = Critic("mobile", "hidden: [16, 16], batch_size: 32, real_ratio: 0.25, " + Tiny, out var withModel);
        Assert.True(withModel.Metrics["bellman_penalty"] > 0f);
        Assert.NotEqual(sac, mixed);
    }

    /// <summary>
    /// The ensemble is part of the agent: a saved MOPO loads with it fitted and predicting as before, and a run from it
    /// does not fit again; an ensemble from <c>offrl model fit</c> is taken as it is, one of another shape is refused.
    /// </summary>
    [Fact]
    public void TheEnsembleTravelsWithTheAgentAndAFittedOneIsReused()
    {
        var data = World(400);
        var dir = Directory.CreateTempSubdirectory("offrl-mopo-").FullName;
        try
        {
            var mopo = (Mopo)Create("mopo", "hidden: [16], " + Tiny);
            var lines = new List<string>();
            var progress = new Progress(lines);
            mopo.OfflineBatches(new OfflineRun(data, "pendulum", new Rng(1), progress));
            Assert.Contains(lines, l => l.Contains("dynamics fitted"));
            mopo.Save(Path.Combine(dir, "agent"));
            var back = (Mopo)AlgorithmRegistry.Load(Path.Combine(dir, "agent"));
            Assert.True(back.Dynamics.Fitted);
            Assert.Equal(mopo.Dynamics.Elites, back.Dynamics.Elites);
            Assert.Equal(Predict(mopo.Dynamics), Predict(back.Dynamics));
            lines.Clear();
            back.OfflineBatches(new OfflineRun(data, "pendulum", new Rng(1), progress));
            Assert.DoesNotContain(lines, l => l.Contains("dynamics"));

            // an ensemble fitted apart, read through the model field
            var model = EnsembleDynamics.For(data, ((MopoConfig)mopo.Config).Dynamics(9));
            model.Fit(data);
            model.Save(Path.Combine(dir, "model"));
            var reader = (Mopo)Create("mopo", $"hidden: [16], model: '{Path.Combine(dir, "model")}', " + Tiny);
            reader.OfflineBatches(new OfflineRun(data, "pendulum", new Rng(1), null));
            Assert.Equal(Predict(model), Predict(reader.Dynamics));
            var other = (Mopo)Create("mopo", $"hidden: [16], model: '{Path.Combine(dir, "model")}', " + Tiny.Replace("dynamics_hidden: [8]", "dynamics_hidden: [9]"));
            var e = Assert.Throws<DataException>(() => other.OfflineBatches(new OfflineRun(data, "pendulum", new Rng(1), null)));
            Assert.Contains(Path.Combine(dir, "model"), e.Message);
            Assert.Contains("dynamics_", e.Message);
        }
        finally { try { Directory.Delete(dir, true); } catch { } }
    }

    /// <summary>
    /// A model-based run with checkpoints writes one before its first update, holding the fitted ensemble (step 0): a run
    /// stopped before its first periodic checkpoint goes on from there without fitting again.
    /// </summary>
    [Fact]
    public void ARunIsCheckpointedRightAfterItsFit()
    {
        var data = World(400);
        var dir = Directory.CreateTempSubdirectory("offrl-mopo-resume-").FullName;
        try
        {
            const string Fields = "hidden: [16], batch_size: 16, rollout_every: 4, " + Tiny;
            // stopped at once: 1 update, but its checkpoint (step 0) was written before it
            var (agent, prepared) = Training.Prepare("mopo", data, seed: 3, overrides: ModelBasedTests.Fields(Fields));
            Trainer.FitOffline(agent, prepared, "pendulum", new TrainerConfig(Steps: 1, EvalEvery: 1000, EvalEpisodes: 1, Seed: 3, Progress: false,
                OutDir: Path.Combine(dir, "a"), CheckpointEvery: 1000));
            var state = File.ReadAllText(Path.Combine(dir, "a", "checkpoint", "trainer.json"));
            Assert.Contains("\"Step\":0", state.Replace(" ", ""));
            var back = (Mopo)AlgorithmRegistry.Load(Path.Combine(dir, "a", "checkpoint"));
            Assert.True(back.Dynamics.Fitted);
        }
        finally { try { Directory.Delete(dir, true); } catch { } }
    }

    private static float[] Predict(EnsembleDynamics m)
    {
        var x = new float[m.InputDim];
        m.Input([0.2f, -0.1f, 0.4f], [0.5f], x);
        using var scope = TensorScope.Begin();
        return m.Predict(Tensor.FromArray(x, 1, m.InputDim)).Mean.Data.Take(m.Config.Members * m.OutputDim).ToArray();
    }

    private sealed class Progress(List<string> lines) : IProgress<string>
    {
        public void Report(string value) => lines.Add(value);
    }

    /// <summary>Every model field, from a config file's text (--set goes the same way), reaches the ensemble, the rollouts and the actor's schedule.</summary>
    [Fact]
    public void EveryModelFieldReachesTheEnsembleTheRolloutsAndTheSchedule()
    {
        var c = (MopoConfig)AlgorithmRegistry.Config(AlgorithmRegistry.Find("mopo"), Fields(
            "dynamics_members: 4, dynamics_elites: 3, dynamics_hidden: [32, 16], dynamics_weight_decays: [0.1, 0.2, 0.3], dynamics_lr: 0.002, " +
            "dynamics_batch_size: 64, dynamics_holdout_ratio: 0.3, dynamics_max_holdout: 77, dynamics_patience: 7, dynamics_max_epochs: 11, dynamics_max_steps: 99, rollout_every: 250, rollout_starts: 123, rollout_horizon: 4, " +
            "rollout_retain_rounds: 3, real_ratio: 0.5, penalty_coef: 1.25, uncertainty: ensemble_std, cosine_actor_lr: true, epoch_updates: 10, model: some/dir"));
        var d = c.Dynamics(5);
        Assert.Equal((4, 3, 0.002f, 7, 11, 99, 5UL), (d.Members, d.Elites, d.LearningRate, d.MaxEpochsSinceUpdate, d.MaxEpochs, d.MaxSteps, d.Seed));
        Assert.Equal((64, 0.3, 77), (d.BatchSize, d.HoldoutRatio, d.MaxHoldout));
        Assert.Equal([32, 16], d.Hidden);
        Assert.Equal([0.1f, 0.2f, 0.3f], d.WeightDecays);
        var r = c.Rollouts();
        Assert.Equal((250, 123, 4, 3, 0.5, 1.25f, Uncertainty.EnsembleStd), (r.Every, r.Starts, r.Horizon, r.RetainRounds, r.RealRatio, r.PenaltyCoef, r.Penalty));
        Assert.Equal("some/dir", c.Model);
        var mopo = (Mopo)AlgorithmRegistry.Find("mopo").Create(Obs, Box.Uniform(Act, -1f, 1f), c, 0);
        Assert.Equal(4, mopo.Dynamics.Config.Members);
        mopo.PlanRun(100);
        // the schedule steps every 10 updates: the same factor within an epoch, a lower one in the next
        var schedule = ((MopoConfig)mopo.Config).CosineActorLr ? Schedule(mopo) : null;
        Assert.NotNull(schedule);
        Assert.Equal(schedule!.Factor(10), schedule.Factor(19));
        Assert.True(schedule.Factor(20) < schedule.Factor(19));
        // MOBILE's own fields
        var m = (MobileConfig)AlgorithmRegistry.Config(AlgorithmRegistry.Find("mobile"), Fields("penalty_coef: 0.7, penalty_samples: 3"));
        Assert.Equal((0.7f, 3, 0f), (m.PenaltyCoef, m.PenaltySamples, m.Rollouts().PenaltyCoef));   // its penalty is in the target, not the rollouts
        Assert.Equal(2f, ((RavlConfig)AlgorithmRegistry.Config(AlgorithmRegistry.Find("ravl"), Fields("eta: 2"))).Eta);
    }

    private static LrSchedule Schedule(Agent agent) =>
        ((System.Reflection.PropertyInfo)typeof(Sac<MopoConfig>).GetProperty("ActorOptimizer", System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Instance)!)
            .GetValue(agent) is Optimizer o ? o.Schedule : throw new InvalidOperationException("no actor optimizer");

    /// <summary>
    /// model: simulator rolls out in the environment's own dynamics: from a pendulum observation and an action in [-1, 1]
    /// it gives the next observation and reward the env gives from that state for the action at its bounds' scale;
    /// an env whose observation is not its state, and MOBILE (whose penalty needs an ensemble), refuse it by name.
    /// </summary>
    [Fact]
    public void TheSimulatorIsAModelWithoutError()
    {
        using var model = SimulatorModel.For("pendulum");
        var env = new OffRL.Envs.Pendulum();
        float[] obs = [MathF.Cos(0.7f), MathF.Sin(0.7f), -1.5f], expected = new float[3], next = new float[3], reward = new float[1], penalty = new float[1];
        env.ResetTo([0.7f, -1.5f], new float[3]);
        var step = env.Step([1f], expected);                    // 0.5 in the networks' range is 1 in [-2, 2]
        model.Step(obs, [0.5f], 1, new Rng(0), next, reward, Uncertainty.Aleatoric, penalty);
        for (int j = 0; j < 3; j++) Assert.Equal(expected[j], next[j], 1e-5);   // theta back from (cos, sin) in float
        Assert.Equal((float)step.Reward, reward[0], 1e-5);
        Assert.Equal(0f, penalty[0]);
        Assert.Contains("--env", Assert.Throws<ArgumentException>(() => SimulatorModel.For("cartpole")).Message);   // discrete actions
        Assert.Contains("model", Assert.Throws<ArgumentException>(() => Create("mobile", "model: simulator")).Message);
        // a run in it: the rollouts come from the simulator, the ensemble is never fitted
        var mopo = (Mopo)Create("mopo", "hidden: [16], model: simulator, " + Tiny);
        var sampler = mopo.OfflineBatches(new OfflineRun(World(400), "pendulum", new Rng(1), null))!;
        sampler.Sample();
        Assert.False(mopo.Dynamics.Fitted);
        Assert.Equal(16 * 2, ((RolloutSampler)sampler).LastRound!.Transitions);   // pendulum never ends: starts x horizon
    }

    /// <summary>More elites than members, a horizon below 1, an env without a termination rule, a dataset too small to hold out from, a model that predicts NaN: one line each, naming what is wrong.</summary>
    [Fact]
    public void BadModelSettingsAndDataAreRefusedByName()
    {
        Assert.Contains("dynamics_elites", Assert.Throws<ArgumentException>(() => Create("mopo", "dynamics_members: 3, dynamics_elites: 4")).Message);
        Assert.Contains("rollout_horizon", Assert.Throws<ArgumentException>(() => Create("mobile", "rollout_horizon: 0")).Message);
        Assert.Contains("dynamics_weight_decays", Assert.Throws<ArgumentException>(() => Create("ravl", "dynamics_hidden: [8, 8]")).Message);
        Assert.Contains("normalize_observations", Assert.Throws<ArgumentException>(() => Create("mopo", "normalize_observations: true")).Message);

        var data = World(400);
        var mopo = Create("mopo", "hidden: [16], " + Tiny);
        Assert.Contains("--env", Assert.Throws<ArgumentException>(() => mopo.OfflineBatches(new OfflineRun(data, "nonsense", new Rng(1), null))).Message);
        Assert.Contains("hold-out", Assert.Throws<DataException>(() => mopo.OfflineBatches(new OfflineRun(World(1), "pendulum", new Rng(1), null))).Message);

        var sampler = mopo.OfflineBatches(new OfflineRun(data, "pendulum", new Rng(1), null))!;
        ((Mopo)mopo).Dynamics.Network.Body.Layers[^1].Bias.Data[0] = float.NaN;
        var e = Assert.Throws<DataException>(() => sampler.Sample());
        Assert.Contains("step 0", e.Message);
        Assert.Contains("member", e.Message);
    }
}
