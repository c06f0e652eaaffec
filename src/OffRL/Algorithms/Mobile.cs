using OffRL.Data;
using OffRL.Tensors;

namespace OffRL.Algorithms;

/// <summary>
/// MOBILE hyperparameters (Sun et al. 2023, "Model-Bellman Inconsistency for Model-based Offline Reinforcement
/// Learning"), as OfflineRL-Kit runs it (yihaosun1124/OfflineRL-Kit @e3ce697, run_example/run_mobile.py):
/// <see cref="ModelBasedSacConfig"/>'s shared settings with the ensemble's fit capped at 30 epochs
/// (--dynamics-max-epochs), 2 critics, the deterministic backup (no entropy term in the target), 10 sampled next states
/// per elite for the penalty, penalty weight beta 1.5 and rollouts of h 1 (the script's defaults); its suggested h and
/// beta per dataset (hopper-medium with a fixed temperature 0.2) are the <c>offlinerl-kit</c> preset.
/// </summary>
public sealed record MobileConfig : ModelBasedSacConfig
{
    public MobileConfig()
    {
        DynamicsMaxEpochs = 30;
        BackupEntropy = false;
        RolloutHorizon = 1;
    }

    /// <summary>beta, the weight of the Bellman-inconsistency penalty in the target (--penalty-coef 1.5).</summary>
    [FieldRange("[0, 1000000]")]
    public float PenaltyCoef { get; init; } = 1.5f;
    /// <summary>Next states sampled per elite for the penalty (--num-samples 10).</summary>
    [FieldRange("[1, 10000]")]
    public int PenaltySamples { get; init; } = 10;

    public override void Validate()
    {
        base.Validate();
        if (Model == Simulator) throw new ArgumentException($"config: field 'model' of {GetType().Name} is simulator, but MOBILE's penalty is the learned ensemble's disagreement, which a simulator does not have");
        if (DynamicsElites < 2) throw new ArgumentException($"config: field 'dynamics_elites' of {GetType().Name} is {DynamicsElites}; the penalty is a standard deviation over the elites, so it needs 2 or more");
    }
}

/// <summary>
/// MOBILE: SAC on data and model rollouts whose TD target carries the model-Bellman inconsistency (eq. 6 and 7):
/// u(s, a) = std over the elites e of the mean over M samples s'_em ~ T_e(s, a) of min_j Q'_j(s'_em, a'), a' ~ pi(s'_em);
/// y = max(0, r - beta u(s, a) + gamma (1 - d) min_j Q'_j(s', a')), u zero on the batch's dataset rows (mobile.py learn).
/// </summary>
public sealed class Mobile : ModelBasedSac<MobileConfig>, IAlgorithmFamily
{
    private readonly float[] _x, _next, _mask;
    private readonly Tensor _maskT;

    public Mobile(int obs, Space actionSpace, MobileConfig? config = null, ulong seed = 0) : base(obs, actionSpace, config ?? new MobileConfig(), seed)
    {
        int b = Config.BatchSize;
        _x = new float[b * Dynamics.InputDim];
        _next = new float[Config.PenaltySamples * Config.DynamicsElites * b * obs];
        _mask = new float[b];
        _maskT = Tensor.FromArray(_mask, b, 1);
    }

    private const string Source = "run_example/run_mobile.py (suggested hypers)";

    private static readonly Preset[] Presets =
    [
        new("offlinerl-kit", "OfflineRL-Kit (github.com/yihaosun1124/OfflineRL-Kit @e3ce697)",
        [
            new(["halfcheetah-random", "halfcheetah-medium", "walker2d-medium"], "rollout_horizon: 5, penalty_coef: 0.5", Source),
            new(["hopper-random"], "rollout_horizon: 5, penalty_coef: 5.0", Source),
            new(["walker2d-random", "halfcheetah-medium-expert"], "rollout_horizon: 5, penalty_coef: 2.0", Source),
            new(["hopper-medium"], "rollout_horizon: 5, penalty_coef: 1.5, auto_alpha: false, initial_alpha: 0.2", Source),
            new(["halfcheetah-medium-replay", "hopper-medium-replay"], "rollout_horizon: 5, penalty_coef: 0.1", Source),
            new(["walker2d-medium-replay"], "rollout_horizon: 1, penalty_coef: 0.5", Source),
            new(["hopper-medium-expert"], "rollout_horizon: 5, penalty_coef: 1.5", Source),
            new(["walker2d-medium-expert"], "rollout_horizon: 1, penalty_coef: 1.5", Source),
        ]),
    ];

    public static IReadOnlyList<AlgorithmSpec> Algorithms =>
    [
        AlgorithmSpec.Of("mobile", LearningMode.Offline, ActionKind.Continuous, "SAC on model rollouts, the target penalized by the model-Bellman inconsistency (Sun et al. 2023)",
            new MobileConfig(), (obs, space, c, seed) => new Mobile(obs, space, c, seed)) with { Presets = Presets },
    ];

    /// <summary>The target y with the penalty of the batch's model rows subtracted (eq. 7), floored at 0.</summary>
    protected override Tensor Backup(TransitionBatch b, Tensor y)
    {
        var u = Inconsistency(b);
        int real = RealRows;
        for (int i = 0; i < _mask.Length; i++) _mask[i] = i < real ? 0f : 1f;
        var penalty = u.Reshape(b.Size, 1) * _maskT;
        Record("bellman_penalty", penalty.Sum().Item() / Math.Max(1, b.Size - real));
        return (y - penalty * Config.PenaltyCoef).Clamp(0f, float.PositiveInfinity);
    }

    /// <summary>
    /// u(s, a) for every row of the batch [B] (mobile.py compute_lcb): per elite e, M next states s' = s + mu_e + sigma_e eps
    /// (ensemble_dynamics.py sample_next_obss), a' ~ pi(s'), min over the target critics; the mean over the M samples,
    /// then the standard deviation (unbiased) over the elites.
    /// </summary>
    private Tensor Inconsistency(TransitionBatch b)
    {
        int rows = b.Size, od = ObservationDim, ad = ActionDim, inDim = Dynamics.InputDim, outDim = Dynamics.OutputDim;
        int samples = Config.PenaltySamples;
        var elites = Dynamics.Elites;
        for (int r = 0; r < rows; r++) Dynamics.Input(b.Obs.AsSpan(r * od, od), b.Act.AsSpan(r * ad, ad), _x.AsSpan(r * inDim, inDim));
        var (mean, logVar) = Dynamics.Predict(Tensor.FromArray(_x, rows, inDim));
        var mu = mean.Data; var lv = logVar.Data;
        for (int m = 0; m < samples; m++)
            for (int k = 0; k < elites.Length; k++)
                for (int r = 0; r < rows; r++)
                {
                    int from = (elites[k] * rows + r) * outDim, to = ((m * elites.Length + k) * rows + r) * od;
                    for (int j = 0; j < od; j++)
                        _next[to + j] = b.Obs[r * od + j] + mu[from + j] + MathF.Exp(0.5f * lv[from + j]) * Rng.Normal();
                }
        var s2 = Tensor.FromArray(_next, samples * elites.Length * rows, od);
        var a2 = PolicyOf(s2).RSample(Rng).Action;
        var q = Networks.MinQ(Networks.Q(CriticTarget, s2, a2));          // [M E B, 1]
        return q.Reshape(samples, elites.Length, rows).Mean(0).Std(0);       // [B]
    }
}
