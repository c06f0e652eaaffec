using OffRL.Data;
using OffRL.Tensors;

namespace OffRL.Algorithms;

/// <summary>
/// RLPD hyperparameters (Ball, Smith, Kostrikov and Levine 2023, "Efficient Online Reinforcement Learning with Offline
/// Data"), as the authors' code runs locomotion (github.com/ikostrikov/rlpd @c90fd4b: configs/rlpd_config.py over
/// sac_config.py and td_config.py; train_finetuning.py's flags with the README's command --utd_ratio 20
/// --start_training 5000). SAC from scratch with three changes (sec. 3): symmetric sampling, every batch half dataset,
/// half the agent's own transitions (offline_ratio 0.5); layer-normalized critics (critic_layer_norm); a large ensemble
/// (num_qs 10) whose TD target is the minimum over a random pair of target critics (num_min_qs 2), at update-to-data
/// ratio 20 (one actor and temperature step per environment step, after its 20 critic steps, each followed by the
/// Polyak step). The actor maximizes the mean over the 10 critics; the soft backup keeps the entropy term; target
/// entropy -|A|/2; temperature from 1, its loss alpha (H - target); learning rates 3e-4, 2 x 256, batch 256, gamma 0.99,
/// tau 0.005; log std in [-20, 2]; Xavier-uniform layers with zero biases (flax's default_init). The dataset is raw (no
/// normalization), D4RL's qlearning_dataset rows with actions clipped to 1 - 1e-5 (d4rl_datasets.py); timeouts bootstrap.
/// The first 5000 environment steps act uniformly at random with no updates (random_steps). The critic loss
/// here sums the members' errors where the authors average them: the same step under Adam (up to its epsilon).
/// AntMaze in the authors' README: backup_entropy false, hidden [256, 256, 256], target_members 1, reward_bias -1.
/// </summary>
public sealed record RlpdConfig : SacConfig
{
    public RlpdConfig()
    {
        NumCritics = 10;
        TargetMembers = 2;
        CriticLayerNorm = true;
        ActorMeanQ = true;
        XavierInit = true;
        TemperatureLossOnAlpha = true;
        LogStdMin = -20f;
        ActionClip = 1f - 1e-5f;
        QlearningRows = true;
        NormalizeObservations = false;
    }

    /// <summary>Critic updates per environment step (utd_ratio; the README's locomotion and AntMaze runs: 20); the actor and temperature step once per environment step.</summary>
    [FieldRange("[1, 10000]")]
    public int UpdateToDataRatio { get; init; } = 20;

    /// <summary>Fraction of every batch drawn from the dataset, the rest from the online buffer (offline_ratio: 0.5, symmetric sampling).</summary>
    [FieldRange("[0, 1]")]
    public double OfflineRatio { get; init; } = 0.5;

    /// <summary>Environment steps with uniformly random actions and no updates first (start_training; the README's locomotion runs: 5000).</summary>
    [FieldRange("[0, inf)")]
    public long RandomSteps { get; init; } = 5000;

    /// <summary>-|A|/2 (sac_learner.py: target_entropy = -action_dim / 2 when the config leaves it unset).</summary>
    public override float DefaultTargetEntropy(int actionDim) => -actionDim / 2f;
}

/// <summary>RLPD: online SAC with the dataset in every batch (<see cref="RlpdConfig"/>).</summary>
public sealed class Rlpd(int obs, Space actionSpace, RlpdConfig? config = null, ulong seed = 0)
    : Sac<RlpdConfig>(obs, actionSpace, config ?? new RlpdConfig(), seed), IAlgorithmFamily, IHybridSchedule
{
    public static IReadOnlyList<AlgorithmSpec> Algorithms =>
    [
        AlgorithmSpec.Of("rlpd", LearningMode.Hybrid, ActionKind.Continuous, "Online SAC with offline data in every batch, layer-normed critic ensemble, UTD 20 (Ball et al. 2023)",
            new RlpdConfig(), (obs, space, c, seed) => new Rlpd(obs, space, c, seed)),
    ];

    /// <summary>One actor and temperature step per environment step: on the last of its update_to_data_ratio updates.</summary>
    protected override int ActorUpdateEvery => Config.UpdateToDataRatio;

    public double OfflineRatio => Config.OfflineRatio;
    public int UpdateToDataRatio => Config.UpdateToDataRatio;
    public long RandomSteps => Config.RandomSteps;
}
