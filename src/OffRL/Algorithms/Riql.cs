using OffRL.Data;
using OffRL.Nn;
using OffRL.Tensors;

namespace OffRL.Algorithms;

/// <summary>
/// RIQL hyperparameters (Yang et al. 2023, "Towards Robust Offline Reinforcement Learning under Diverse Data
/// Corruption"), as the authors' RIQL.py runs clean data (github.com/YangRui2015/RIQL @cc07d81, RIQL_config.py L3):
/// IQL with K = 5 critics, the value fitted by expectile (0.7) to the 0.25-quantile of the target critics, a Huber loss
/// (sigma 1: threshold 1 / sigma^2) on targets clipped to [-100, 1000], the critics started as EDAC's (biases 0.1, output
/// layer U(+-3e-3), CORL's fan-in quirk), a deterministic tanh actor (beta 3, weights clipped at 100, cosine schedule over
/// 3e6 updates), observations standardized over observations and next observations together (std + 1e-3), raw rewards.
/// The corrupted-data settings of RIQL_config.py (sigma 0.1 to 3, quantile 0.1 to 0.5, K 3 for some) are set by hand.
/// </summary>
public sealed record RiqlConfig : IqlConfig
{
    public RiqlConfig()
    {
        NumCritics = 5;
        DeterministicActor = true;
        CosineActorLrSteps = 3_000_000;
        RewardNormalization = RewardNormalization.None;
        StatsWithNextObservations = true;
    }

    /// <summary>The quantile of the K target critics the value is fitted to (torch.quantile's linear interpolation; 0 is their minimum).</summary>
    [FieldRange("[0, 1]")]
    public float Quantile { get; init; } = 0.25f;
    /// <summary>sigma of the Huber loss on the critics: quadratic (0.5 sigma^2 u^2) within |u| &lt; 1 / sigma^2, linear beyond (RIQL.py L261-266).</summary>
    [FieldRange("(0, 1000]")]
    public float HuberSigma { get; init; } = 1f;
    /// <summary>The critics' target y clipped to [target_min, target_max] (RIQL.py L520-524).</summary>
    public float TargetMin { get; init; } = -100f;
    public float TargetMax { get; init; } = 1000f;
    /// <summary>Hidden biases of the critics at start (EDAC's initialization); null: as built.</summary>
    [FieldRange("[-1000, 1000]")]
    public float? CriticHiddenBias { get; init; } = 0.1f;
    /// <summary>The critics' output layers (weights and bias) from U(-b, b) at start; null: as built.</summary>
    [FieldRange("(0, 1000]")]
    public float? CriticOutputUniform { get; init; } = 3e-3f;
    /// <summary>The critics' weights from U(+-1/sqrt(fan_out)) as CORL's VectorizedLinear draws them (<see cref="SacConfig.CriticWeightsByOutputs"/>); off: U(+-1/sqrt(fan_in)).</summary>
    public bool CriticWeightsByOutputs { get; init; } = true;

    public override void Validate()
    {
        base.Validate();
        if (!(TargetMin < TargetMax)) throw new ArgumentException($"config: field 'target_min' of {GetType().Name} ({TargetMin}) must be below 'target_max' ({TargetMax})");
    }
}

/// <summary>
/// RIQL: IQL made robust to corrupted data. Value (eq. 5 with a quantile): expectile regression towards the
/// q-quantile over the K target critics of Q'(s, a); critics: Huber loss of clip(r + gamma (1 - d) V(s'), -100, 1000)
/// - Q_i(s, a), averaged over the K critics and the batch; the actor as IQL's deterministic one.
/// </summary>
public sealed class Riql(int obs, Space actionSpace, RiqlConfig? config = null, ulong seed = 0)
    : Iql<RiqlConfig>(obs, actionSpace, config ?? new RiqlConfig(), seed), IAlgorithmFamily
{
    private static readonly Preset[] Presets =
    [
        new("authors", "Yang et al. (github.com/YangRui2015/RIQL @cc07d81)",
        [
            new(Preset.Locomotion, "num_critics: 5, quantile: 0.25, huber_sigma: 1, target_min: -100, target_max: 1000, expectile: 0.7, beta: 3, " +
                "max_weight: 100, deterministic_actor: true, actor_lr: 3e-4, critic_lr: 3e-4, value_lr: 3e-4, cosine_actor_lr_steps: 3000000, " +
                "batch_size: 256, gamma: 0.99, tau: 0.005, hidden: [256, 256], normalize_observations: true, stats_with_next_observations: true, " +
                "reward_normalization: none, qlearning_rows: true, critic_hidden_bias: 0.1, critic_output_uniform: 0.003, critic_weights_by_outputs: true",
                "RIQL_config.py L3 (clean data: K 5, sigma 1, quantile 0.25); RIQL.py L44-77 (TrainConfig), L399-444 (networks), L520-525 (targets)"),
        ]),
    ];

    public static IReadOnlyList<AlgorithmSpec> Algorithms =>
    [
        AlgorithmSpec.Of("riql", LearningMode.Offline, ActionKind.Continuous, "Robust IQL: quantile value target over K critics, Huber critic loss (Yang et al. 2023)",
            new RiqlConfig(), (o, space, c, s) => new Riql(o, space, c, s)) with { Presets = Presets },
    ];

    /// <summary>EDAC's start (RIQL.py L417-422 on VectorizedLinear): every bias 0.1, the output layer U(+-3e-3), weights by outputs.</summary>
    protected override void InitializeCritic(EnsembleMlp critic, Rng rng)
    {
        if (Config.CriticWeightsByOutputs) Networks.WeightsByOutputs(critic, rng);
        Networks.EdacInit(critic, Config.CriticHiddenBias, Config.CriticOutputUniform, rng);
    }

    /// <summary>The q-quantile over the K target critics (RIQL.py L486-487).</summary>
    protected override Tensor ValueTarget(Tensor targetQ) => targetQ.Quantile(Config.Quantile, 0);

    /// <summary>Huber(clip(y) - Q_i) with threshold delta = 1 / sigma^2, the mean over critics and batch (RIQL.py L261-266, L520-525).</summary>
    protected override Tensor CriticLoss(Tensor q, Tensor y) => Huber(y.Clamp(Config.TargetMin, Config.TargetMax) - q, 1f / (Config.HuberSigma * Config.HuberSigma)).Mean();

    /// <summary>0.5 u^2 / delta where |u| &lt; delta, |u| - 0.5 delta beyond: written as 0.5 m^2 / delta + (|u| - m) with m = min(|u|, delta).</summary>
    public static Tensor Huber(Tensor u, float delta)
    {
        var abs = u.Abs();
        var m = abs.Clamp(0f, delta);
        return m.Square() * (0.5f / delta) + (abs - m);
    }
}
