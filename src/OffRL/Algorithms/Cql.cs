using OffRL.Data;
using OffRL.Nn;
using OffRL.Tensors;

namespace OffRL.Algorithms;

/// <summary>
/// CQL hyperparameters (Kumar et al. 2020, "Conservative Q-Learning for Offline RL"), as the authors' code and d3rlpy
/// run locomotion: 3 x 256 networks, actor learning rate 1e-4, critic 3e-4, temperature 1e-4, conservative weight
/// alpha 5, 10 actions per set, no entropy in the TD target (the authors' deterministic_backup). CORL's cql.py differs:
/// actor and temperature 3e-5 (--set actor_lr=3e-5 --set alpha_lr=3e-5), alpha 10 (cql_alpha=10) and 100 000 BC
/// steps first (bc_steps=100000). With <see cref="Lagrange"/>, alpha' is tuned so that the penalty alpha * gap stays at
/// <see cref="TargetActionGap"/> (the authors' form; CORL's is alpha' * alpha * (gap - tau)). The other SAC fields
/// (critic learning rate, target entropy) are inherited.
/// </summary>
public sealed record CqlConfig : SacConfig
{
    public CqlConfig()
    {
        Hidden = [256, 256, 256];
        ActorLr = 1e-4;
        AlphaLr = 1e-4;
        BackupEntropy = false;
        NormalizeObservations = true;
        WeightTemperature = 0.2;   // with sampler return/advantage_weighted: Hong et al.'s CQL runs (experiments/d4rl/run_cql.py L160-161)
    }

    /// <summary>Weight alpha of the conservative penalty (eq. 4; the authors' min_q_weight, d3rlpy's conservative_weight).</summary>
    [FieldRange("[0, inf)")]
    public float CqlAlpha { get; init; } = 5f;
    /// <summary>Actions sampled per state and per set (uniform, pi(.|s), pi(.|s')) for the log-sum-exp.</summary>
    [FieldRange("[1, 1000]")]
    public int SampledActions { get; init; } = 10;
    /// <summary>Temperature of the log-sum-exp: T log sum exp(Q / T) (1 in all three references).</summary>
    [FieldRange("(0, inf)")]
    public float CqlTemperature { get; init; } = 1f;
    /// <summary>Tune alpha' by dual gradient descent (eq. 30) instead of a fixed weight.</summary>
    public bool Lagrange { get; init; } = false;
    /// <summary>Threshold tau of the Lagrange variant (the authors' lagrange_thresh, d3rlpy's alpha_threshold: 10).</summary>
    [FieldRange("[0, inf)")]
    public float TargetActionGap { get; init; } = 10f;
    /// <summary>Learning rate of log alpha' (the authors: the critic's, 3e-4).</summary>
    [FieldRange("(0, 1]")]
    public double AlphaPrimeLr { get; init; } = 3e-4;
    /// <summary>
    /// Updates at the start in which the actor maximizes log pi(a|s) of the dataset's actions instead of Q: 0 as CORL's
    /// configs (its ContinuousCQL class default 100 000 never takes effect), young-geng's SimpleSAC and d3rlpy; the
    /// authors' cql_mujoco_new.py defaults policy_eval_start to 40 000.
    /// </summary>
    [FieldRange("[0, inf)")]
    public long BcSteps { get; init; }
    /// <summary>
    /// Cal-QL (Nakamoto et al. 2023, "Cal-QL: Calibrated Offline RL Pre-Training for Efficient Online Fine-Tuning"): in
    /// the log-sum-exp, the Q-values of the policy's actions (sampled at s and at s', both scored at s) are bounded
    /// below by the row's Monte-Carlo return-to-go in the dataset, max(Q, G); the uniform actions and the data's Q are
    /// not (CORL's cal_ql.py L736-759). The bound holds while training on the dataset and is switched off when a
    /// fine-tuning run's online phase starts (L1129-1132: its online transitions carry no return).
    /// </summary>
    public bool CalibrationBound { get; init; }
}

/// <summary>CQL(H) on top of SAC: the critic also minimizes log-sum-exp of Q over sampled actions minus Q on dataset actions.</summary>
public sealed class Cql : Sac<CqlConfig>, IAlgorithmFamily
{
    private const string CorlCommon = "cql_alpha: 10, sampled_actions: 10, cql_temperature: 1, lagrange: false, bc_steps: 0, backup_entropy: false, " +
        "actor_lr: 3e-5, alpha_lr: 3e-5, critic_lr: 3e-4, tau: 0.005, batch_size: 256, gamma: 0.99, hidden: [256, 256, 256], normalize_observations: true, qlearning_rows: true, " +
        "log_std_min: -20, log_std_offset: -1, orthogonal_critic_init: true, actor_output_gain: 0.01, actor_before_critic: true, ";

    /// <summary>
    /// CQL's published settings. CORL's nine configs are identical but for hopper-medium (rewards normalized); its log
    /// alpha's Adam uses the policy's rate (3e-5); its tanh-Gaussian actor has a learnable log-std multiplier and offset
    /// (-1), clamp [-20, 2], an output layer Xavier 0.01 and default hidden init; its critics are orthogonal (output
    /// 0.01); the actor steps against the critics before theirs (cql.py L256-383, L740-789). young-geng's code (which
    /// CORL cites) has the same actor and order, 2 x 256 networks and critics with default hidden init, output Xavier 0.01.
    /// </summary>
    private static readonly Preset[] Presets =
    [
        new("corl", "CORL (github.com/tinkoff-ai/CORL @6afec90)",
        [
            new(["hopper-medium"], CorlCommon + "reward_normalization: return_range, return_segments: corl, reward_scale: 1, reward_bias: 0",
                "configs/offline/cql/hopper/medium_v2.yaml (normalize_reward: true); cql.py L223-249, L504-509 (alpha lr = policy_lr)"),
            new(Preset.Locomotion.Where(d => d != "hopper-medium").ToArray(), CorlCommon + "reward_normalization: none",
                "configs/offline/cql/*/*_v2.yaml"),
        ]),
        new("authors", "Kumar et al. as CORL cites them (github.com/young-geng/CQL @934b0e8, SimpleSAC defaults)",
        [
            new(Preset.Locomotion, "cql_alpha: 5, sampled_actions: 10, cql_temperature: 1, lagrange: false, bc_steps: 0, backup_entropy: false, " +
                "actor_lr: 3e-4, alpha_lr: 3e-4, critic_lr: 3e-4, tau: 0.005, batch_size: 256, gamma: 0.99, hidden: [256, 256], " +
                "normalize_observations: false, qlearning_rows: true, reward_normalization: none, log_std_min: -20, log_std_offset: -1, orthogonal_critic_init: false, " +
                "critic_output_gain: 0.01, actor_output_gain: 0.01, actor_before_critic: true, action_clip: 0.999",
                "SimpleSAC/conservative_sac_main.py L25-51 (clip_action 0.999), conservative_sac.py L19-44, model.py L42-76"),
        ]),
    ];

    /// <summary>
    /// Cal-QL's defaults are CQL's (above) with the calibration bound. CORL's cal_ql.py TrainConfig (L27-69) sets
    /// cql_alpha 10, policy_lr 3e-5, two hidden Q layers, orthogonal init and mixing_ratio 0.5 (finetune's --ratio);
    /// its shipped configs are for AntMaze and Adroit only.
    /// </summary>
    public static IReadOnlyList<AlgorithmSpec> Algorithms =>
    [
        AlgorithmSpec.Of("cql", LearningMode.Offline, ActionKind.Continuous, "Conservative Q-learning, CQL(H) on SAC (Kumar et al. 2020)",
            new CqlConfig(), (obs, space, c, seed) => new Cql(obs, space, c, seed)) with { Presets = Presets },
        AlgorithmSpec.Of("cal-ql", LearningMode.Offline, ActionKind.Continuous, "CQL with the policy's Q bounded below by the data's returns (Nakamoto et al. 2023)",
            new CqlConfig { CalibrationBound = true }, (obs, space, c, seed) => new Cql(obs, space, c, seed)),
    ];

    /// <summary>The dataset rows' Monte-Carlo returns-to-go (Cal-QL's bound), from <see cref="UseDataset"/>; null: no bound.</summary>
    private float[]? _returnToGo;
    private bool _online;

    public override void UseDataset(Dataset prepared)
    {
        if (Config.CalibrationBound) _returnToGo = prepared.DiscountedReturnsToGo(Config.Gamma);
    }

    /// <summary>Cal-QL's bound is off from here on (CORL's switch_calibration at the first online step).</summary>
    public override void StartOnline(OnlinePhase phase) => _online = true;

    private readonly ParameterModule _alphaPrime = new("log_alpha_prime", new Shape(1));
    private Tensor LogAlphaPrime => _alphaPrime.Value;
    private readonly Adam? _alphaPrimeOpt;

    public Cql(int obs, Space actionSpace, CqlConfig? config = null, ulong seed = 0) : base(obs, actionSpace, config ?? new CqlConfig(), seed)
    {
        if (Config.Lagrange) _alphaPrimeOpt = Optim("alpha_prime", new Adam([LogAlphaPrime], Config.AlphaPrimeLr));
    }

    /// <summary>
    /// CQL(H) (eq. 4) with the importance-sampled log-sum-exp of the authors' code (appendix F): N actions from each of
    /// U(-1, 1), pi(.|s) and pi(.|s'), all scored at s and weighted by 1 / density; the three sets go through each
    /// critic in one pass.
    /// </summary>
    protected override Tensor? CriticRegularizer(TransitionBatch b, Tensor qData)
    {
        int bs = b.Size, n = Config.SampledActions, act = ActionDim, bn = bs * n, members = Config.NumCritics;
        var statesN = b.ObsT.RepeatInterleave(n);                                   // s of row i, n times: [B N, obs]
        var states = statesN.Tile(3);                                               // the three action sets at s
        var aRand = Tensor.Temp(new Shape(bn, act));
        Rng.FillUniform(aRand.Data, -1f, 1f);
        Tensor aPi, logPi;
        // pi(.|s) and pi(.|s'), n actions per state from one evaluation of the policy per state
        using (Tensor.NoGrad()) (aPi, logPi) = PolicyOf(Tensor.Concat(0, b.ObsT, b.NextT)).RepeatInterleave(n).RSample(Rng);
        var q = Networks.Q(Critic, states, Tensor.Concat(0, aRand, aPi));   // [members, 3 B N, 1]
        float logUniform = act * MathF.Log(0.5f);                              // density of U(-1, 1)^act
        var logPiS = logPi.Slice(0, 0, bn).Reshape(bs, n);
        var logPiNext = logPi.Slice(0, bn, bn).Reshape(bs, n);
        float t = Config.CqlTemperature;
        Tensor gap = Tensor.Scalar(0f);
        var bound = CalibrationBound(b);
        for (int m = 0; m < members; m++)
        {
            var qm = q.Slice(0, m, 1).Reshape(3 * bn, 1);
            Tensor qPolicy = qm.Slice(0, bn, bn).Reshape(bs, n), qNextPolicy = qm.Slice(0, 2 * bn, bn).Reshape(bs, n);
            if (bound is not null) (qPolicy, qNextPolicy) = (Tensor.Maximum(qPolicy, bound), Tensor.Maximum(qNextPolicy, bound));   // Cal-QL: max(Q, G)
            gap = gap + ConservativeGap(qm.Slice(0, 0, bn).Reshape(bs, n), qPolicy, qNextPolicy, logUniform, logPiS, logPiNext, qData.Slice(0, m, 1), t);
        }
        float gapValue = gap.Item();
        Record("cql_gap", gapValue / members);
        if (!Config.Lagrange) return gap * Config.CqlAlpha;
        // Lagrange variant (eq. 30): alpha' >= 0 grows while the weighted gap alpha * gap exceeds tau, for each critic
        float alphaPrime = Math.Clamp(MathF.Exp(LogAlphaPrime.Data[0]), 0f, 1e6f);
        _alphaPrimeOpt!.ZeroGrad();
        var alphaPrimeLoss = (LogAlphaPrime.Exp() * (Config.CqlAlpha * gapValue - members * Config.TargetActionGap)).Sum() * (-1f / members);
        alphaPrimeLoss.Backward();
        _alphaPrimeOpt.Step();
        Record("alpha_prime", alphaPrime);
        return (gap * Config.CqlAlpha - members * Config.TargetActionGap) * alphaPrime;
    }

    /// <summary>Cal-QL's lower bound for a batch, each row's return-to-go [B, 1]; null without the bound or once online.</summary>
    private Tensor? CalibrationBound(TransitionBatch b)
    {
        if (!Config.CalibrationBound || _online) return null;
        var g = _returnToGo ?? throw new InvalidOperationException($"{Name}: no dataset returns for the calibration bound (an offline run gives them through Agent.UseDataset)");
        var bound = Tensor.Temp(new Shape(b.Size, 1));
        for (int i = 0; i < b.Size; i++) bound.Data[i] = g[b.Rows[i]];
        return bound;
    }

    /// <summary>
    /// One critic's conservative gap (eq. 4 with appendix F's importance sampling): the mean over states of
    /// T logsumexp over the 3N sampled actions of (Q - log density) / T (uniform actions' density exp(logUniform),
    /// the policy's at s and at s'), minus the mean Q on the dataset's actions. Q and log densities [B, N]; qData [B, 1].
    /// </summary>
    public static Tensor ConservativeGap(Tensor qRandom, Tensor qPolicy, Tensor qNextPolicy, float logUniform, Tensor logPi, Tensor logPiNext,
        Tensor qData, float temperature)
    {
        var cat = Tensor.Concat(1, qRandom - logUniform, qPolicy - logPi, qNextPolicy - logPiNext);
        var logSumExp = temperature == 1f ? cat.LogSumExp(1) : (cat * (1f / temperature)).LogSumExp(1) * temperature;
        return logSumExp.Mean() - qData.Mean();
    }

    /// <summary>The behavior-cloning warm-up (<see cref="CqlConfig.BcSteps"/>): log pi(a|s) of the dataset's actions.</summary>
    protected override Tensor? ActorObjective(TransitionBatch b, TanhGaussian pi) => Updates < Config.BcSteps ? pi.LogProb(b.ActT) : null;

    /// <summary>SAC's modules, and with the Lagrange variant its log alpha-prime (so a resumed run keeps the tuned weight).</summary>
    protected override IEnumerable<(string, Module)> Modules() => Config.Lagrange ? [.. base.Modules(), ("alpha_prime", _alphaPrime)] : base.Modules();
}
