using OffRL.Data;
using OffRL.Dynamics;
using OffRL.Nn;
using OffRL.Tensors;

namespace OffRL.Algorithms;

/// <summary>
/// What the model-based SAC methods (MOPO, MOBILE, RAVL) share, as OfflineRL-Kit runs them (yihaosun1124/OfflineRL-Kit
/// @e3ce697, run_example/run_mopo.py and run_mobile.py arguments): the dynamics ensemble (<see cref="DynamicsConfig"/>'s
/// defaults: 7 members, 5 elites, 4 x 200), branched rollouts every 1 000 updates from 50 000 dataset states kept for
/// 5 rounds, 5% real rows per batch; SAC with 2 x 256 networks, actor lr 1e-4 annealed by cosine per epoch of 1 000
/// updates, critic lr 3e-4, temperature from 1 (log alpha 0) with lr 1e-4 and used clamped to at most 1, target entropy
/// -|A|, batch 256, gamma 0.99, tau 0.005; raw observations and rewards. The ensemble is fitted when the run starts, or
/// read from <see cref="Model"/> (a folder of <c>offrl model fit</c>); either way it is saved with the agent.
/// </summary>
public abstract record ModelBasedSacConfig : SacConfig
{
    protected ModelBasedSacConfig()
    {
        ActorLr = 1e-4;
        AlphaLr = 1e-4;
        AlphaMax = 1f;
        SquashEpsilon = 1e-6f;
        NormalizeObservations = false;
    }

    /// <summary>
    /// Builds on another SAC config's values (the fields of <see cref="SacConfig"/> and below), then this record's own
    /// defaults: RAVL starts from EDAC's.
    /// </summary>
    protected ModelBasedSacConfig(SacConfig from) : base(from) { }

    /// <summary>
    /// A fitted ensemble to use (the folder <c>offrl model fit</c> wrote, --load-dynamics-path); <c>simulator</c>: the
    /// environment's own dynamics, a model without error (Sims et al.'s edge-of-reach experiment; pendulum and the MuJoCo
    /// locomotion tasks, <see cref="OffRL.Dynamics.SimulatorModel"/>); null:
    /// fitted when the run starts.
    /// </summary>
    public string? Model { get; init; }

    /// <summary>The value of <see cref="Model"/> that rolls out in the environment's own dynamics.</summary>
    public const string Simulator = "simulator";
    /// <summary>Members of the ensemble (--n-ensemble 7).</summary>
    [FieldRange("[1, 1000]")] public int DynamicsMembers { get; init; } = 7;
    /// <summary>Members rollouts draw from (--n-elites 5).</summary>
    [FieldRange("[1, 1000]")] public int DynamicsElites { get; init; } = 5;
    /// <summary>Hidden widths of each member (--dynamics-hidden-dims 200 200 200 200).</summary>
    [FieldRange("[1, 16384]")] public int[] DynamicsHidden { get; init; } = [200, 200, 200, 200];
    /// <summary>L2 weight of each layer, hidden layers then output (--dynamics-weight-decay).</summary>
    [FieldRange("[0, 1000]")] public float[] DynamicsWeightDecays { get; init; } = [2.5e-5f, 5e-5f, 7.5e-5f, 7.5e-5f, 1e-4f];
    /// <summary>The ensemble's Adam learning rate (--dynamics-lr 1e-3).</summary>
    [FieldRange("(0, 10]")] public float DynamicsLr { get; init; } = 1e-3f;
    /// <summary>Rows per member per gradient step of the fit (ensemble_dynamics.py train's batch_size 256).</summary>
    [FieldRange("[1, 1000000]")] public int DynamicsBatchSize { get; init; } = 256;
    /// <summary>Share of the rows held out to pick the kept weights and the elites (holdout_ratio 0.2), at most <see cref="DynamicsMaxHoldout"/>.</summary>
    [FieldRange("(0, 1)")] public double DynamicsHoldoutRatio { get; init; } = 0.2;
    /// <summary>Most rows held out (1000).</summary>
    [FieldRange("[1, 100000000]")] public int DynamicsMaxHoldout { get; init; } = 1000;
    /// <summary>Epochs without a hold-out improvement before the fit stops (--max-epochs-since-update 5).</summary>
    [FieldRange("[1, 1000000]")] public int DynamicsPatience { get; init; } = 5;
    /// <summary>Most epochs of the fit (MOBILE's --dynamics-max-epochs 30); null: until the patience runs out (MOPO).</summary>
    [FieldRange("[1, 1000000]")] public int? DynamicsMaxEpochs { get; init; }
    /// <summary>Most gradient steps of the fit (an OffRL budget for short runs); null: no cap.</summary>
    [FieldRange("[1, 1000000000]")] public int? DynamicsMaxSteps { get; init; }
    /// <summary>Updates between two rounds of rollouts (--rollout-freq 1000).</summary>
    [FieldRange("[1, 100000000]")] public int RolloutEvery { get; init; } = 1000;
    /// <summary>Rollouts per round (--rollout-batch-size 50000).</summary>
    [FieldRange("[1, 100000000]")] public int RolloutStarts { get; init; } = 50_000;
    /// <summary>Model steps per rollout, h (--rollout-length; per dataset in the presets).</summary>
    [FieldRange("[1, 10000]")] public int RolloutHorizon { get; init; } = 5;
    /// <summary>Rounds the model buffer keeps (--model-retain-epochs 5).</summary>
    [FieldRange("[1, 10000]")] public int RolloutRetainRounds { get; init; } = 5;
    /// <summary>Share of each batch from the dataset, rounded down to rows (--real-ratio 0.05: 12 of 256).</summary>
    [FieldRange("[0, 1]")] public double RealRatio { get; init; } = 0.05;
    /// <summary>Anneal the actor's learning rate by cosine over the run, stepped once per <see cref="EpochUpdates"/> (CosineAnnealingLR over the epochs).</summary>
    public bool CosineActorLr { get; init; } = true;
    /// <summary>Updates per epoch (--step-per-epoch 1000): how often the cosine schedule steps.</summary>
    [FieldRange("[1, 100000000]")] public int EpochUpdates { get; init; } = 1000;

    /// <summary>The ensemble these fields describe, seeded from the agent's seed.</summary>
    public DynamicsConfig Dynamics(ulong seed) => new()
    {
        Members = DynamicsMembers, Elites = DynamicsElites, Hidden = DynamicsHidden, WeightDecays = DynamicsWeightDecays,
        LearningRate = DynamicsLr, BatchSize = DynamicsBatchSize, HoldoutRatio = DynamicsHoldoutRatio, MaxHoldout = DynamicsMaxHoldout, MaxEpochsSinceUpdate = DynamicsPatience, MaxEpochs = DynamicsMaxEpochs, MaxSteps = DynamicsMaxSteps, Seed = seed,
    };

    /// <summary>The rollouts these fields describe; a method with a reward penalty adds it.</summary>
    public virtual RolloutConfig Rollouts() => new()
    {
        Every = RolloutEvery, Starts = RolloutStarts, Horizon = RolloutHorizon, RetainRounds = RolloutRetainRounds, RealRatio = RealRatio,
    };

    public override void Validate()
    {
        base.Validate();
        string name = GetType().Name;
        if (DynamicsElites > DynamicsMembers)
            throw new ArgumentException($"config: field 'dynamics_elites' of {name} is {DynamicsElites}, more than the {DynamicsMembers} members (dynamics_members)");
        if (DynamicsWeightDecays.Length != DynamicsHidden.Length + 1)
            throw new ArgumentException($"config: field 'dynamics_weight_decays' of {name} has {DynamicsWeightDecays.Length} values; 'dynamics_hidden' has {DynamicsHidden.Length} layers, so it needs {DynamicsHidden.Length + 1} (one per hidden layer and the output)");
        if (NormalizeObservations)
            throw new ArgumentException($"config: field 'normalize_observations' of {name} must be false: the rollouts end by the environment's rule, which reads raw observations");
        if (History > 1)
            throw new ArgumentException($"config: field 'history' of {name} must be 1: the dynamics model steps one observation");
        _ = checked(RolloutStarts * RolloutHorizon * RolloutRetainRounds);
    }
}

/// <summary>
/// SAC on a learned model's rollouts mixed with the data: the body of MOPO, MOBILE and RAVL. The ensemble is fitted
/// (or read from <see cref="ModelBasedSacConfig.Model"/>) when the run starts, unless a checkpoint brought it; a
/// <see cref="RolloutSampler"/> draws the batches; the ensemble is one of the agent's modules, so checkpoints and the
/// saved agent hold it.
/// </summary>
public abstract class ModelBasedSac<TConfig> : Sac<TConfig> where TConfig : ModelBasedSacConfig
{
    private RolloutSampler? _batches;

    /// <summary>The learned model of the world.</summary>
    public EnsembleDynamics Dynamics { get; }

    protected ModelBasedSac(int obs, Space actionSpace, TConfig config, ulong seed) : base(obs, actionSpace, config, seed) =>
        Dynamics = new EnsembleDynamics(obs, actionSpace.Width, 0, Config.Dynamics(seed));

    /// <summary>Rows of each batch that come from the dataset (the first ones); the rest are model rows.</summary>
    protected int RealRows => _batches?.RealRows ?? throw new InvalidOperationException($"{Name}: no model rollouts yet (an offline run makes them through Agent.OfflineBatches)");

    public override void PlanRun(long steps)
    {
        base.PlanRun(steps);
        if (Config.CosineActorLr) ActorOptimizer.Schedule = LrSchedule.Cosine(steps, every: Config.EpochUpdates);
    }

    public override string? NoOnlineForm =>
        "its batches are rollouts of a model fitted on the dataset (an online phase would refit the model on the new data, as MBPO does; not built)";

    public override ITransitionSampler OfflineBatches(OfflineRun run)
    {
        var ends = Termination.For(run.Env);   // before a fit that takes minutes
        if (!Dynamics.Models(run.Data))
            throw new DataException($"{Name} models {Dynamics.ObservationDim} observations and {Dynamics.ActionDim} actions; the dataset has {run.Data.ObservationDim} and {run.Data.ActionDim}", run.Data.Where);
        IWorldModel world = Dynamics;
        if (Config.Model == ModelBasedSacConfig.Simulator)
        {
            world = SimulatorModel.For(run.Env);
            run.Progress?.Report($"[{Name}] rolling out in {run.Env}'s own dynamics (model: simulator)");
        }
        else Dynamics.FitOrLoad(run.Data, Config.Model, Name, run.Progress);
        _batches = new RolloutSampler(new ModelRollouts(Config.Rollouts(), ObservationDim, ActionDim), run.Data, world, ends, RolloutActions,
            () => Updates, Config.BatchSize, run.Rng, Config.Gamma);
        return _batches;
    }

    /// <summary>The current policy's sampled actions for a batch of rollout states (run_mopo.py's select_action, deterministic false).</summary>
    private void RolloutActions(Tensor s, Span<float> actions, Rng rng)
    {
        using var noGrad = Tensor.NoGrad();
        PolicyOf(s).RSample(rng).Action.Data.AsSpan(0, actions.Length).CopyTo(actions);
    }

    protected override void UpdateCore(TransitionBatch b)
    {
        base.UpdateCore(b);
        if (_batches?.LastRound is { } round)
        {
            Record("model_reward", (float)round.RewardMean);
            Record("model_penalty", (float)round.PenaltyMean);
        }
    }

    protected override IEnumerable<(string, Module)> Modules() =>
        [.. base.Modules(), ("dynamics_model", Dynamics.Network), ("dynamics_state", Dynamics.State)];
}
