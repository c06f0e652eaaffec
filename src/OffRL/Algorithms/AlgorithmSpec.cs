using OffRL.Data;
using OffRL.Tensors;

namespace OffRL.Algorithms;

/// <summary>
/// Where an algorithm learns: from a fixed dataset; by acting in an environment; or hybrid, acting in an environment
/// from its first step with a dataset's transitions in every batch (RLPD; the agent is an <see cref="IHybridSchedule"/>).
/// </summary>
public enum LearningMode { Offline, Online, Hybrid }

/// <summary>
/// A fine-tuning run's online phase as an agent sees it (<see cref="Agent.StartOnline"/>): the agent's update count at
/// its first update, and the updates it makes in all (its environment steps after any random ones, times the
/// update-to-data ratio).
/// </summary>
public sealed record OnlinePhase(long FirstUpdate, long Updates)
{
    /// <summary>The fraction of the phase's updates still to come at update <paramref name="update"/>: 1 at its start, 0 at its end.</summary>
    public double Remaining(long update) => Updates <= 0 ? 0 : Math.Clamp((double)(FirstUpdate + Updates - update) / Updates, 0, 1);
}

/// <summary>
/// What a hybrid method (<see cref="LearningMode.Hybrid"/>) says of its run, read by the trainer from the agent's
/// config through this: the share of each batch drawn from the dataset, the updates per environment step, the random
/// steps before the first update, and how steps and updates alternate.
/// </summary>
public interface IHybridSchedule
{
    double OfflineRatio { get; }
    int UpdateToDataRatio { get; }
    /// <summary>Environment steps with uniformly random actions and no updates at the start (RLPD's start_training).</summary>
    long RandomSteps { get; }
    /// <summary>Environment steps collected before each round of CollectSteps x UpdateToDataRatio updates (H2O: 1000; 1: updates after every step).</summary>
    int CollectSteps => 1;
    /// <summary>The online buffer's capacity for a dataset of <paramref name="datasetRows"/> rows (H2O: 10 times it); null: the trainer's.</summary>
    long? OnlineCapacity(long datasetRows) => null;
}

/// <summary>
/// How an on-policy learner's rollouts are collected (<see cref="IOnPolicy"/>): environments stepped together and
/// steps per rollout, the running normalization of observations and rewards (Gymnasium's NormalizeObservation and
/// NormalizeReward with their clips, as CleanRL's continuous PPO wraps its envs; clip 0: none), and GAE's discount
/// and lambda. <see cref="Window"/>: the learner learns from the last this-many rollouts together (1: each rollout
/// alone, then forgotten; PROPS keeps several, each of its rollouts one behaviour update long), the older ones
/// renormalized with the current statistics before each learning step.
/// </summary>
public sealed record RolloutSettings(int Envs, int Steps, bool NormalizeObservations, float ObservationClip, bool NormalizeRewards,
    float RewardClip, float Gamma, float GaeLambda, int Window = 1)
{
    /// <summary>Environment steps per rollout: the learner learns after each.</summary>
    public int Size => Envs * Steps;
}

/// <summary>
/// An on-policy learner (PPO and its family, <see cref="LearningMode.Online"/>): the trainer
/// (<c>Trainer.FitOnPolicy</c>) steps <see cref="RolloutSettings.Envs"/> environments with one batched call of
/// <see cref="Sample"/> per step, fills a <see cref="RolloutBuffer"/> and hands each full one, advantages computed, to
/// <see cref="Learn"/>.
/// </summary>
public interface IOnPolicy
{
    RolloutSettings Rollouts { get; }
    /// <summary>
    /// Draws an action for each of <paramref name="n"/> normalized observations [n, obs] (continuous: the networks'
    /// range, before any clipping; discrete: the index), with its log-probability and the state's value.
    /// </summary>
    void Sample(ReadOnlySpan<float> observations, int n, Span<float> actions, Span<float> logProbs, Span<float> values);
    /// <summary>The values of <paramref name="n"/> normalized observations (the rollout's bootstrap).</summary>
    void Value(ReadOnlySpan<float> observations, int n, Span<float> values);
    /// <summary>
    /// One iteration's learning on a full rollout (with <see cref="RolloutSettings.Window"/> above 1, the last rollouts
    /// kept, up to that many: <see cref="RolloutBuffer.Filled"/> says how many steps): <paramref name="iteration"/> of
    /// <paramref name="iterations"/> (1-based, for schedules), minibatches drawn with <paramref name="shuffle"/> (the
    /// trainer's generator).
    /// </summary>
    void Learn(RolloutBuffer rollout, int iteration, int iterations, Rng shuffle);
}

/// <summary>The action spaces an algorithm handles.</summary>
public enum ActionKind { Continuous, Discrete }

/// <summary>
/// One algorithm name as the rest of OffRL sees it: how it learns, which actions it takes, its config record with the
/// paper's defaults, how to build the agent, and any data preparation of its own (%BC's episode selection). Declared in
/// the algorithm's own file (<see cref="IAlgorithmFamily.Algorithms"/>); the CLI's help, <c>offrl list</c>, checkpoint
/// loading and ARCHITECTURE.md's table all read <see cref="AlgorithmRegistry"/>, which collects these.
/// </summary>
public sealed record AlgorithmSpec(
    string Name, LearningMode Mode, ActionKind Actions, string Summary, AgentConfig Defaults,
    Func<int, Space, AgentConfig, ulong, Agent> Create)
{
    /// <summary>Applied to the dataset before preprocessing is fitted (offline only); null: the dataset as it is.</summary>
    public Func<Dataset, AgentConfig, Dataset>? PrepareData { get; init; }

    /// <summary>Published per-dataset configurations (<c>--preset corl</c>, <c>--preset authors</c>), each row beside its source file.</summary>
    public IReadOnlyList<Preset> Presets { get; init; } = [];

    public Type ConfigType => Defaults.GetType();

    /// <summary>A spec whose factory takes the config as its own record type.</summary>
    public static AlgorithmSpec Of<TConfig>(string name, LearningMode mode, ActionKind actions, string summary, TConfig defaults,
        Func<int, Space, TConfig, ulong, Agent> create) where TConfig : AgentConfig =>
        new(name, mode, actions, summary, defaults, (obs, space, cfg, seed) =>
        {
            var agent = create(obs, space, (TConfig)cfg, seed);
            agent.Named(name);   // the spec's name, whatever the config's values
            return agent;
        });
}

/// <summary>
/// Implemented by every algorithm class (static): the names it is reachable by. A new method is one file: its agent
/// class implements this, and the registry finds it.
/// </summary>
public interface IAlgorithmFamily
{
    static abstract IReadOnlyList<AlgorithmSpec> Algorithms { get; }
}

/// <summary>
/// What an offline run gives a method that draws its own batches (<see cref="Agent.OfflineBatches"/>): the dataset as
/// the updates see it (prepared and preprocessed), the environment the run evaluates in, the run's sampling generator
/// (saved in its checkpoints), and where to report progress on long preparation (null: quiet).
/// </summary>
public sealed record OfflineRun(Dataset Data, string Env, Rng Rng, IProgress<string>? Progress);
