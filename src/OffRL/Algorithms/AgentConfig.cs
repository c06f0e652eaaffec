using OffRL.Data;

namespace OffRL.Algorithms;

/// <summary>
/// What every agent's config shares, one place per knob. Algorithm configs extend it as records with init properties
/// (settable from <c>--config FILE</c>, <c>--set key=value</c> and C# <c>with</c>); the trainer and the sampler read
/// these fields from the agent's own config, so no second copy exists to disagree with it.
/// </summary>
public abstract record AgentConfig
{
    /// <summary>Widest hidden layer (<see cref="Nn.Linear.MaxWidth"/>).</summary>
    public const int MaxHidden = Nn.Linear.MaxWidth;

    /// <summary>Hidden layer widths of the agent's networks (actor, critics, value); 2 x 256 as CORL and d3rlpy (1 .. 16384 each).</summary>
    [FieldRange("[1, 16384]")]
    public int[] Hidden { get; init; } = [256, 256];

    /// <summary>Discount gamma in [0, 1]: the sampler's per-transition discount (gamma^n, 0 at terminals) that TD targets use, and the discount of returns where a method ranks episodes (%BC).</summary>
    [FieldRange("[0, 1]")]
    public float Gamma { get; init; } = 0.99f;

    /// <summary>Transitions per gradient update: the sampler draws this many (1 .. 1 000 000).</summary>
    [FieldRange("[1, 1000000]")]
    public int BatchSize { get; init; } = 256;

    /// <summary>Standardize observations with the dataset's mean and std (fitted once, saved with the model, applied when acting).</summary>
    public bool NormalizeObservations { get; init; } = true;

    /// <summary>
    /// Reward normalization fitted on the dataset before training (offline): none, or return_range
    /// (r * 1000 / (max - min episode return), IQL's locomotion protocol). Saved with the model in preprocessing.json.
    /// </summary>
    public RewardNormalization RewardNormalization { get; init; } = RewardNormalization.None;

    /// <summary>Reward multiplier after normalization: r' = reward_scale * r + reward_bias (finite, not 0).</summary>
    public float RewardScale { get; init; } = 1f;

    /// <summary>Reward offset after scaling (IQL on sparse goal tasks such as AntMaze: -1).</summary>
    public float RewardBias { get; init; }

    /// <summary>
    /// How return_range (and %BC's ranking) cut the data into segments: episodes (the dataset's episodes, the last one
    /// even when cut off: the IQL authors' rule, and OffRL's default) or corl (the rows D4RL's qlearning_dataset keeps, cut
    /// at a terminal or every 1000 rows, the incomplete tail left out: CORL's modify_reward and keep_best_trajectories).
    /// </summary>
    public ReturnSegments ReturnSegments { get; init; } = ReturnSegments.Episodes;

    /// <summary>
    /// Train on the transitions D4RL's qlearning_dataset yields, as CORL and the IQL, CQL and TD3+BC authors load D4RL
    /// (every preset sets it): rows flagged timeout and the dataset's last row left out, s' the next row's observation;
    /// observation statistics, reward range and %BC computed over those rows. Off (default): every row with a next
    /// observation, stored next observations used.
    /// </summary>
    public bool QlearningRows { get; init; }

    /// <summary>
    /// Dataset actions, once rescaled to [-1, 1], clipped to [-action_clip, action_clip] before training (training data
    /// only: nothing is saved with the model). 1 (default, CORL): no clipping. The IQL authors clip to 1 - 1e-5
    /// (dataset_utils.py L78-80), young-geng's CQL to 0.999 (clip_action): a tanh policy's log-probability of an action
    /// at the bound is infinite. Only actions with finite bounds are rescaled, so only those are clipped.
    /// </summary>
    [FieldRange("(0, 1]")]
    public float ActionClip { get; init; } = 1f;

    /// <summary>
    /// How offline batches are drawn: uniform (default: every transition equally likely), n_step (each transition
    /// carries <see cref="NStep"/> steps of discounted reward and bootstraps with gamma^n), return_weighted or
    /// advantage_weighted (Hong et al. 2023, "Harnessing Mixed Offline RL Datasets via Trajectory Weighting": a
    /// trajectory drawn with probability proportional to exp(score / <see cref="WeightTemperature"/>), its score the
    /// return normalized to [0, 1] over the dataset, minus a ridge-regression value of its first state for
    /// advantage_weighted; then a row inside it). Online learners sample their replay buffer uniformly.
    /// </summary>
    public SamplerKind Sampler { get; init; } = SamplerKind.Uniform;

    /// <summary>Steps of discounted reward per transition for sampler n_step (1: one-step targets).</summary>
    [FieldRange("[1, 1000]")]
    public int NStep { get; init; } = 1;

    /// <summary>Temperature alpha of the trajectory weights (sampler return_weighted, advantage_weighted): lower favours the best trajectories more.</summary>
    [FieldRange("(0, 1000]")]
    public double WeightTemperature { get; init; } = 0.1;

    /// <summary>
    /// Observation mean and std over the observations and the next observations together (RIQL.py L625-626); off
    /// (default): over the observations (CORL, the TD3+BC and IQL authors).
    /// </summary>
    public bool StatsWithNextObservations { get; init; }

    /// <summary>
    /// Observation history k (Hong et al. 2024, "Offline RL with Observation Histories"): the agent sees the last k
    /// observations, oldest first, as one input; the dataset's rows are stacked within their episodes (an episode's
    /// first observation repeated before it, <see cref="Data.Dataset.WithHistory"/>) and every environment the agent
    /// acts in is wrapped alike (<see cref="Envs.ObservationHistory"/>). 1: the current observation only.
    /// </summary>
    [FieldRange("[1, 64]")]
    public int History { get; init; } = 1;

    /// <summary>
    /// How the networks read a history: stack, the k observations side by side as one input; gru, each network reads
    /// them with a GRU of its own first (<see cref="Nn.Gru"/>; separate encoders for actor and critics, as Ni et al. 2022
    /// recommend for recurrent model-free RL). gru is built by the TD3 family (td3bc, prdc, a2pr) and IQL (iql, riql).
    /// </summary>
    public HistoryEncoder HistoryEncoder { get; init; } = HistoryEncoder.Stack;

    /// <summary>Units of each network's GRU (history_encoder gru).</summary>
    [FieldRange("[1, 4096]")]
    public int HistoryHidden { get; init; } = DefaultHistoryHidden;

    private const int DefaultHistoryHidden = 128;

    /// <summary>What a network of an agent with <paramref name="observationDim"/> inputs reads with a GRU first (history_encoder gru), else null.</summary>
    public Nn.SequenceInput? HistoryInput(int observationDim) =>
        HistoryEncoder == HistoryEncoder.Gru ? new(History, observationDim / History, HistoryHidden) : null;

    /// <summary>The preprocessing this config asks for, fitted once on the training data (<see cref="Data.Preprocessing.Fit"/>).</summary>
    public PreprocessingConfig Preprocessing(bool rescaleActions) =>
        new(NormalizeObservations, RewardNormalization, RewardScale, RewardBias, rescaleActions, ReturnSegments: ReturnSegments,
            StatsWithNextObservations: StatsWithNextObservations);

    /// <summary>
    /// Refuses values no run could use: every field against the range written beside it (<see cref="FieldRange"/>),
    /// then what one field cannot say alone; a derived config adds its cross-field checks after calling this.
    /// </summary>
    /// <summary>
    /// The length of the offline phase of <c>offrl finetune</c>, in updates, where the method's own stages fix it
    /// (Uni-O4: its value, behaviour-cloning and improvement steps); null: the run's --offline-steps.
    /// </summary>
    public virtual long? OfflinePhaseUpdates() => null;

    public virtual void Validate()
    {
        FieldRange.Check(this);
        // A batch of activations (batch_size x width) is one tensor, indexed by int.
        foreach (var h in Hidden)
            if ((long)BatchSize * h > int.MaxValue)
                throw new ArgumentException($"config: field 'batch_size' of {GetType().Name} times hidden width {h} is {(long)BatchSize * h} values, more than one tensor holds ({int.MaxValue}); lower batch_size or hidden");
        if (RewardScale == 0) throw new ArgumentException($"config: field 'reward_scale' of {GetType().Name} must not be 0");
        if (!Enum.IsDefined(RewardNormalization)) throw new ArgumentException($"config: field 'reward_normalization' of {GetType().Name} must be none or return_range, got {RewardNormalization}");
        if (!Enum.IsDefined(ReturnSegments)) throw new ArgumentException($"config: field 'return_segments' of {GetType().Name} must be episodes or corl, got {ReturnSegments}");
        if (!Enum.IsDefined(Sampler)) throw new ArgumentException($"config: field 'sampler' of {GetType().Name} must be uniform, n_step, return_weighted or advantage_weighted, got {Sampler}");
        if (!Enum.IsDefined(HistoryEncoder)) throw new ArgumentException($"config: field 'history_encoder' of {GetType().Name} must be stack or gru, got {HistoryEncoder}");
        if (HistoryHidden != DefaultHistoryHidden && HistoryEncoder != HistoryEncoder.Gru)
            throw new ArgumentException($"config: field 'history_hidden' of {GetType().Name} is {HistoryHidden}, but only history_encoder gru reads it; set history_encoder: gru");
        if (NStep != 1 && Sampler != SamplerKind.NStep)
            throw new ArgumentException($"config: field 'n_step' of {GetType().Name} is {NStep}, but only sampler n_step reads it (sampler is {IO.ConfigFile.Snake(Sampler.ToString())}); set sampler: n_step");
    }
}

/// <summary>Configs of agents with target networks (every TD learner): the Polyak rate.</summary>
public abstract record TdConfig : AgentConfig
{
    /// <summary>Polyak rate tau in (0, 1] of the target networks: target = tau online + (1 - tau) target, after each update (0.005 as TD3, SAC, CORL).</summary>
    [FieldRange("(0, 1]")]
    public float Tau { get; init; } = 0.005f;
}

/// <summary>
/// Configs of agents with Q critics: how many. The critics are one ensemble module (members computed as batched
/// products), the critic loss sums the members' mean squared errors (CORL's SAC-N and EDAC), and targets take the
/// minimum over members. 2 (default) is the clipped double Q of TD3 and SAC; SAC-N and EDAC use 10 to 500.
/// </summary>
public abstract record CriticEnsembleConfig : TdConfig
{
    /// <summary>Q networks in the critic ensemble (1 .. 1000; at least <see cref="MinCritics"/>).</summary>
    [FieldRange("[1, 1000]")]
    public int NumCritics { get; init; } = 2;

    /// <summary>The fewest critics the method is defined with (TD3's clipped double Q needs two).</summary>
    protected virtual int MinCritics => 1;

    public override void Validate()
    {
        base.Validate();
        if (NumCritics < MinCritics)
            throw new ArgumentException($"config: field 'num_critics' of {GetType().Name} is {NumCritics}, but the method takes the minimum over at least {MinCritics} critics");
    }
}

/// <summary>How the networks read an observation history (<see cref="AgentConfig.HistoryEncoder"/>).</summary>
public enum HistoryEncoder { Stack, Gru }
