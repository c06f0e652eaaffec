using OffRL.Dynamics;

namespace OffRL.Algorithms;

/// <summary>
/// MOPO hyperparameters (Yu et al. 2020, "MOPO: Model-based Offline Policy Optimization"), as OfflineRL-Kit runs it
/// (yihaosun1124/OfflineRL-Kit @e3ce697, run_example/run_mopo.py): <see cref="ModelBasedSacConfig"/>'s shared settings
/// (the ensemble fitted until 5 epochs pass without improvement, no epoch cap), and the penalty of eq. 8 on every model
/// reward, r~ = r - lambda u(s, a), u the largest ||sigma|| over all members (uncertainty_mode aleatoric). The script's
/// defaults are h 1, lambda 2.5; its suggested h and lambda per dataset are the <c>offlinerl-kit</c> preset.
/// </summary>
public sealed record MopoConfig : ModelBasedSacConfig
{
    public MopoConfig() => RolloutHorizon = 1;

    /// <summary>lambda, the penalty's weight (--penalty-coef 2.5); 0 is MBPO-style SAC on the model's rollouts.</summary>
    [FieldRange("[0, 1000000]")]
    public float PenaltyCoef { get; init; } = 2.5f;
    /// <summary>
    /// u(s, a) of the penalty: aleatoric (MOPO's, OfflineRL-Kit's default), or another of the heuristics Lu et al. 2022
    /// compare (pairwise_diff, ensemble_std as OfflineRL-Kit computes them; max_pairwise, MOReL's; log_likelihood_variance,
    /// LOMPO's). Lu et al. find the choice interacts with the penalty weight, the horizon and the ensemble size, and tune
    /// all four together; no heuristic wins everywhere, so the default stays MOPO's.
    /// </summary>
    public Uncertainty Uncertainty { get; init; } = Uncertainty.Aleatoric;

    public override RolloutConfig Rollouts() => base.Rollouts() with { PenaltyCoef = PenaltyCoef, Penalty = Uncertainty };
}

/// <summary>
/// MOPO: SAC on batches of 5% data and 95% model rollouts whose rewards carry the uncertainty penalty (eq. 8); the
/// update is SAC's (critics, then actor, then temperature), the penalty is in the rollouts.
/// </summary>
public sealed class Mopo(int obs, Space actionSpace, MopoConfig? config = null, ulong seed = 0)
    : ModelBasedSac<MopoConfig>(obs, actionSpace, config ?? new MopoConfig(), seed), IAlgorithmFamily
{
    private static readonly Preset[] Presets =
    [
        new("offlinerl-kit", "OfflineRL-Kit (github.com/yihaosun1124/OfflineRL-Kit @e3ce697)",
        [
            new(["halfcheetah-medium", "walker2d-medium", "halfcheetah-medium-replay"], "rollout_horizon: 5, penalty_coef: 0.5", "run_example/run_mopo.py (suggested hypers)"),
            new(["hopper-medium", "hopper-medium-expert"], "rollout_horizon: 5, penalty_coef: 5.0", "run_example/run_mopo.py (suggested hypers)"),
            new(["hopper-medium-replay"], "rollout_horizon: 5, penalty_coef: 2.5", "run_example/run_mopo.py (suggested hypers)"),
            new(["halfcheetah-medium-expert"], "rollout_horizon: 5, penalty_coef: 2.5", "run_example/run_mopo.py (suggested hypers)"),
            new(["walker2d-medium-replay", "walker2d-medium-expert"], "rollout_horizon: 1, penalty_coef: 2.5", "run_example/run_mopo.py (suggested hypers)"),
        ]),
    ];

    public static IReadOnlyList<AlgorithmSpec> Algorithms =>
    [
        AlgorithmSpec.Of("mopo", LearningMode.Offline, ActionKind.Continuous, "SAC on model rollouts with an uncertainty-penalized reward (Yu et al. 2020)",
            new MopoConfig(), (obs, space, c, seed) => new Mopo(obs, space, c, seed)) with { Presets = Presets },
    ];
}
