using OffRL.Data;
using OffRL.Nn;
using OffRL.Tensors;

namespace OffRL.Algorithms;

/// <summary>
/// Off-policy MDPO hyperparameters (Tomar et al. 2020, "Mirror Descent Policy Optimization", sec. 5.2), as the authors'
/// code runs MuJoCo (github.com/manantomar/Mirror-Descent-Policy-Optimization @c9bd3ba, mdpo_off/mdpo.py, policies.py,
/// run_mujoco.py and the README's command, on stable-baselines 2.7.0's SAC): Adam 3e-4 for the policy and for the value
/// networks, batch 256, gamma 0.99, tau 0.005 on the state-value target, 2 x 256 ReLU networks for the policy, V, Q1
/// and Q2; entropy weight lambda 0.2 (--lam), KL weight 1/t_k = 1 held constant (--klcoeff 1.0: the code's annealing is
/// commented out), the old policy pi_k refreshed every 1000 steps (--sgd_steps), 1e-3 penalties on the policy's mean and
/// log std, log std clipped to [-20, 2]; no observation normalization. The authors' runs take uniform actions for
/// their first 10 000 steps (learning_starts: <c>--start-steps 10000</c>) and then act with the policy's mean, no noise
/// (<see cref="StochasticExploration"/>).
/// </summary>
public sealed record MdpoOffPolicyConfig : TdConfig
{
    public MdpoOffPolicyConfig() => NormalizeObservations = false;

    /// <summary>Adam's rate for the policy and for the value networks (3e-4, fixed).</summary>
    [FieldRange("(0, 1]")]
    public double Lr { get; init; } = 3e-4;
    /// <summary>The entropy weight lambda of the soft value target and the policy loss (--lam 0.2).</summary>
    [FieldRange("[0, inf)")]
    public float EntropyWeight { get; init; } = 0.2f;
    /// <summary>The weight 1/t_k of KL(pi_theta || pi_k) in the policy loss (--klcoeff 1.0).</summary>
    [FieldRange("[0, inf)")]
    public float KlCoef { get; init; } = 1f;
    /// <summary>Updates between refreshes of the old policy pi_k, m in the paper (--sgd_steps 1000).</summary>
    [FieldRange("[1, inf)")]
    public int OldPolicyEvery { get; init; } = 1000;
    /// <summary>Weight of the penalty on the policy's mean, mean(mu^2) (stable-baselines' SAC: 1e-3).</summary>
    [FieldRange("[0, inf)")]
    public float MeanPenalty { get; init; } = 1e-3f;
    /// <summary>Weight of the penalty on the policy's log std, mean(log std^2) (1e-3).</summary>
    [FieldRange("[0, inf)")]
    public float LogStdPenalty { get; init; } = 1e-3f;
    /// <summary>Lower clip of the policy's log std (-20; the upper is 2).</summary>
    [FieldRange("[-100, 2)")]
    public float LogStdMin { get; init; } = -20f;
    /// <summary>Collect with actions drawn from the policy; false: its mean, as the authors' code acts after warm-up.</summary>
    public bool StochasticExploration { get; init; }
}

/// <summary>
/// Off-policy Mirror Descent Policy Optimization (Tomar et al. 2020, Algorithm 2): SAC's value networks (a state value
/// V with a Polyak target, twin Q) and a policy loss that adds a mirror-descent step's KL to the policy pi_k of m
/// updates ago. Policy loss (eq. 13 with the entropy term): E_s[(1/t_k) (log pi_theta(a|s) - log pi_k(a|s)) +
/// lambda log pi_k(a|s) - Q1(s, a)], a = tanh(mu + sigma eps) one reparameterized draw from pi_theta, so the first term
/// is a one-sample estimate of KL(pi_theta || pi_k); with 1/t_k = lambda it is SAC's policy loss. Critics: Q_i(s, a)
/// towards r + gamma (1 - d) V'(s'), V(s) towards min_i Q_i(s, a) - lambda log pi_theta(a|s) at the same draw; half
/// mean squared errors, the policy's step first.
/// </summary>
public sealed class MdpoOffPolicy : Agent<MdpoOffPolicyConfig>, IAlgorithmFamily
{
    public static IReadOnlyList<AlgorithmSpec> Algorithms =>
    [
        AlgorithmSpec.Of("mdpo-off", LearningMode.Online, ActionKind.Continuous, "Off-policy Mirror Descent Policy Optimization on SAC's value networks (Tomar et al. 2020)",
            new MdpoOffPolicyConfig(), (obs, space, c, seed) => new MdpoOffPolicy(obs, space, c, seed)),
    ];

    /// <summary>stable-baselines' squashing correction, log(1 - tanh(u)^2 + 1e-6).</summary>
    private const float SquashEpsilon = 1e-6f;
    private readonly Mlp _actor, _oldActor, _v, _vTarget;
    private readonly EnsembleMlp _q;
    private readonly Adam _policyOpt, _valueOpt;

    public MdpoOffPolicy(int obs, Space actionSpace, MdpoOffPolicyConfig? config = null, ulong seed = 0) : base(obs, actionSpace, config ?? new MdpoOffPolicyConfig(), seed)
    {
        int act = actionSpace.Width;
        _actor = new Mlp(new MlpConfig(obs, Config.Hidden, 2 * act), Rng);
        _oldActor = Networks.Target(_actor, () => new Mlp(new MlpConfig(obs, Config.Hidden, 2 * act), new Rng(0)));
        _q = Networks.Critic(obs, act, Config.Hidden, Rng);
        _v = new Mlp(new MlpConfig(obs, Config.Hidden, 1), Rng);
        _vTarget = Networks.Target(_v, () => new Mlp(new MlpConfig(obs, Config.Hidden, 1), new Rng(0)));
        _policyOpt = Optim("policy", new Adam(_actor.Parameters(), Config.Lr));
        _valueOpt = Optim("value", new Adam([.. _q.Parameters(), .. _v.Parameters()], Config.Lr));
    }

    private TanhGaussian PolicyOf(Mlp actor, Tensor s) => Networks.Policy(actor, s, ActionDim, Config.LogStdMin, 2f, null, SquashEpsilon);

    protected override void UpdateCore(TransitionBatch b)
    {
        if (Updates % Config.OldPolicyEvery == 0) _oldActor.CopyParametersFrom(_actor);   // pi_k <- pi_theta every m updates
        float c = Config.KlCoef, lambda = Config.EntropyWeight;

        // the policy's step (eq. 13), the critics held
        _q.SetRequiresGrad(false);
        _policyOpt.ZeroGrad();
        var pi = PolicyOf(_actor, b.ObsT);
        var u = pi.Base.RSample(Rng);                        // pre-tanh draw, a = tanh(u)
        var a = u.Tanh();
        var logp = pi.LogProbOfPreTanh(u);
        TanhGaussian old;
        using (Tensor.NoGrad()) old = PolicyOf(_oldActor, b.ObsT);
        var logpOld = old.LogProbOfPreTanh(u);               // log pi_k at the same draw; its gradient flows through a only
        var q = Networks.Q(_q, b.ObsT, a);                   // [2, B, 1]
        var q1 = q.Slice(0, 0, 1).Reshape(new Shape(b.Size, 1));
        var policyLoss = (logp * c + logpOld * (lambda - c) - q1).Mean()
            + pi.Base.Mean.Square().Mean() * Config.MeanPenalty + pi.Base.LogStd.Square().Mean() * Config.LogStdPenalty;
        Record("kl", (logp - logpOld).Detach().Mean());
        Record("entropy", -logp.Detach().Mean().Item());
        Record("policy_loss", policyLoss);
        Tensor vTarget;
        using (Tensor.NoGrad()) vTarget = Networks.MinQ(q.Detach()) - logp.Detach() * lambda;   // V's target at the same draw
        policyLoss.Backward();
        _policyOpt.Step();
        _q.SetRequiresGrad(true);

        // the value networks' step: Q_i towards r + gamma (1 - d) V'(s'), V towards min Q - lambda log pi
        _valueOpt.ZeroGrad();
        Tensor qTarget;
        using (Tensor.NoGrad()) qTarget = b.RewT + b.DiscountT * _vTarget.Forward(b.NextT);
        var qData = Networks.Q(_q, b.ObsT, b.ActT);
        var v = _v.Forward(b.ObsT);
        var valueLoss = Networks.CriticLoss(qData, qTarget) * 0.5f + (v - vTarget).Square().Mean() * 0.5f;
        Record("q_data", qData.Detach().Mean());
        Record("value_loss", valueLoss);
        valueLoss.Backward();
        _valueOpt.Step();
        Polyak.Update(_vTarget, _v, Config.Tau);
    }

    protected override void ActCore(Tensor s, Span<float> action, bool deterministic)
    {
        var a = deterministic || !Config.StochasticExploration ? PolicyOutput(s) : PolicyOf(_actor, s).RSample(Rng).Action;
        a.Data.AsSpan(0, ActionDim).CopyTo(action);
    }

    protected internal override Tensor PolicyOutput(Tensor s) => PolicyOf(_actor, s).Mode();

    protected override IEnumerable<(string, Module)> Modules() =>
        [("actor", _actor), ("old_actor", _oldActor), ("q", _q), ("v", _v), ("v_target", _vTarget)];
}
