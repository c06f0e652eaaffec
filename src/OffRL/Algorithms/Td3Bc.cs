using OffRL.Data;
using OffRL.Nn;
using OffRL.Tensors;

namespace OffRL.Algorithms;

/// <summary>
/// TD3+BC hyperparameters (Fujimoto and Gu 2021, "A Minimalist Approach to Offline RL", table 3, as CORL's td3_bc.py:
/// alpha 2.5, policy noise 0.2 clipped at 0.5, actor every 2nd update, learning rates 3e-4, 2 x 256, batch 256,
/// normalized states). With <see cref="BehaviorCloning"/> off it is TD3 (Fujimoto et al. 2018, same defaults, online).
/// </summary>
public record Td3BcConfig : Td3FamilyConfig
{
    /// <summary>alpha of lambda = alpha / mean |Q| (eq. 3).</summary>
    [FieldRange("[0, inf)")]
    public float Alpha { get; init; } = 2.5f;
    /// <summary>The BC term in the actor loss: on for TD3+BC, off for TD3.</summary>
    public bool BehaviorCloning { get; init; } = true;

    /// <summary>Clipped double Q-learning (TD3, section 4.2) is a minimum over two critics at least.</summary>
    protected override int MinCritics => 2;
    /// <summary>Std of the Gaussian noise on stochastic actions (online exploration; TD3: 0.1).</summary>
    [FieldRange("[0, inf)")]
    public float ExplorationNoise { get; init; } = 0.1f;
}

/// <summary>
/// What the TD3 family (TD3, TD3+BC, PRDC, ReBRAC) shares: a deterministic actor trained every N-th update against
/// critics whose targets use a smoothed target action (Fujimoto et al. 2018: learning rates 3e-4, noise 0.2 clipped at
/// 0.5, N = 2; a method's own config sets its published values).
/// </summary>
public abstract record Td3FamilyConfig : CriticEnsembleConfig
{
    [FieldRange("(0, 1]")]
    public double ActorLr { get; init; } = 3e-4;
    [FieldRange("(0, 1]")]
    public double CriticLr { get; init; } = 3e-4;
    /// <summary>Std of the target policy smoothing noise (TD3).</summary>
    [FieldRange("[0, inf)")]
    public float PolicyNoise { get; init; } = 0.2f;
    /// <summary>Clip of the smoothing noise.</summary>
    [FieldRange("[0, inf)")]
    public float NoiseClip { get; init; } = 0.5f;
    /// <summary>Actor and target updates every N critic updates (>= 1): TD3 and TD3+BC on the N-th, 2N-th, ... (the authors' TD3_BC.py and CORL count from 1), ReBRAC from the first (CORL's rebrac.py).</summary>
    [FieldRange("[1, 1000000]")]
    public int PolicyFreq { get; init; } = 2;
}

/// <summary>
/// TD3 with a behavior-cloning term: pi = argmax lambda Q(s, pi(s)) - (pi(s) - a)^2, lambda = alpha / mean|Q|.
/// Without the term (BehaviorCloning = false) it is TD3 (Fujimoto et al. 2018) for online learning.
/// </summary>
public sealed class Td3Bc(int obs, Space actionSpace, Td3BcConfig? config = null, ulong seed = 0)
    : Td3<Td3BcConfig>(obs, actionSpace, config ?? new Td3BcConfig(), seed), IAlgorithmFamily
{
    /// <summary>TD3+BC's published settings: CORL's nine configs are identical; the authors' main.py has the same values.</summary>
    private static readonly Preset[] Presets =
    [
        new("corl", "CORL (github.com/tinkoff-ai/CORL @6afec90)",
        [
            new(Preset.Locomotion, "alpha: 2.5, batch_size: 256, gamma: 0.99, tau: 0.005, policy_noise: 0.2, noise_clip: 0.5, policy_freq: 2, " +
                "actor_lr: 3e-4, critic_lr: 3e-4, hidden: [256, 256], normalize_observations: true, qlearning_rows: true, reward_normalization: none",
                "configs/offline/td3_bc/{env}/{dataset}_v2.yaml (all nine identical); learning rates hard-coded in algorithms/offline/td3_bc.py L435-440"),
        ]),
        new("authors", "Fujimoto and Gu (github.com/sfujim/TD3_BC @8791ad7)",
        [
            new(Preset.Locomotion, "alpha: 2.5, batch_size: 256, gamma: 0.99, tau: 0.005, policy_noise: 0.2, noise_clip: 0.5, policy_freq: 2, " +
                "actor_lr: 3e-4, critic_lr: 3e-4, hidden: [256, 256], normalize_observations: true, qlearning_rows: true, reward_normalization: none",
                "main.py L13-31 (one setting for every dataset), TD3_BC.py"),
        ]),
    ];

    public static IReadOnlyList<AlgorithmSpec> Algorithms =>
    [
        AlgorithmSpec.Of("td3bc", LearningMode.Offline, ActionKind.Continuous, "TD3 with a behavior-cloning term (Fujimoto and Gu 2021)",
            new Td3BcConfig(), (obs, space, c, seed) => new Td3Bc(obs, space, c, seed)) with { Presets = Presets },
        AlgorithmSpec.Of("td3", LearningMode.Online, ActionKind.Continuous, "Twin delayed DDPG (Fujimoto et al. 2018)",
            new Td3BcConfig { BehaviorCloning = false, NormalizeObservations = false }, (obs, space, c, seed) => new Td3Bc(obs, space, c, seed)),
    ];
}

/// <summary>
/// The body of <see cref="Td3Bc"/> (TD3+BC and TD3) and of the methods built on TD3+BC (<see cref="Prdc"/>,
/// <see cref="A2pr"/>), each with its own config type: they change the critics' sizes, add networks trained after the
/// critic (<see cref="AfterCritic"/>) or change the behavior-cloning term (<see cref="BcTerm"/>).
/// </summary>
public abstract class Td3<TConfig> : Agent<TConfig> where TConfig : Td3BcConfig
{
    private readonly Mlp _actor, _actorTarget;
    private readonly EnsembleMlp _critic, _criticTarget;
    private readonly Adam _actorOpt, _criticOpt;
    private Tensor _noise;

    protected Td3(int obs, Space actionSpace, TConfig config, ulong seed) : base(obs, actionSpace, config, seed)
    {
        int act = actionSpace.Width;
        var history = Config.HistoryInput(obs);
        Mlp Actor(Rng r) => new(new MlpConfig(obs, Config.Hidden, act, Activation.Relu, Activation.Tanh, Sequence: history), r);
        _actor = Actor(Rng);
        _actorTarget = Networks.Target(_actor, () => Actor(new Rng(0)));
        _critic = Networks.Critic(obs, act, CriticHidden, Rng, Config.NumCritics, history);
        _criticTarget = Networks.Target(_critic, () => Networks.Critic(obs, act, CriticHidden, new Rng(0), Config.NumCritics, history));
        _actorOpt = Optim("actor", new Adam(_actor.Parameters(), Config.ActorLr));
        _criticOpt = Optim("critic", new Adam(_critic.Parameters(), Config.CriticLr));
        _noise = Tensor.Zeros(Config.BatchSize, act);
    }

    protected override void UpdateCore(TransitionBatch b)
    {
        // Target policy smoothing (TD3): a' = clip(pi'(s') + clip(eps, -c, c), -1, 1), eps ~ N(0, sigma)
        Tensor y, a2;
        if (_noise.Shape[0] != b.Size) _noise = Tensor.Zeros(b.Size, ActionDim);
        using (Tensor.NoGrad())
        {
            Rng.FillNormal(_noise.Data, 0f, Config.PolicyNoise);
            a2 = (_actorTarget.Forward(b.NextT) + _noise.Clamp(-Config.NoiseClip, Config.NoiseClip)).Clamp(-1f, 1f);
            // Clipped double-Q target: y = r + gamma (1 - d) min_i Q'_i(s', a')
            y = b.RewT + b.DiscountT * Networks.MinQ(Networks.Q(_criticTarget, b.NextT, a2));
        }
        _criticOpt.ZeroGrad();
        var criticLoss = Networks.CriticLoss(Networks.Q(_critic, b.ObsT, b.ActT), y);
        criticLoss.Backward();
        _criticOpt.Step();
        Record("critic_loss", criticLoss);
        AfterCritic(b, a2, y);

        if ((Updates + 1) % Config.PolicyFreq != 0) return;   // the 2nd, 4th, ... update (TD3.py, TD3_BC.py: total_it counted first)
        // Actor (TD3+BC, eq. 3): maximize lambda Q_1(s, pi(s)) - (pi(s) - a)^2, lambda = alpha / mean |Q| (detached)
        _critic.SetRequiresGrad(false);
        _actorOpt.ZeroGrad();
        var pi = _actor.Forward(b.ObsT);
        var q = Networks.Q(_critic, b.ObsT, pi).Slice(0, 0, 1);
        Tensor actorLoss;
        if (Config.BehaviorCloning)
        {
            (actorLoss, var bc) = ActorLoss(q, BcTerm(b, pi), Config.Alpha);
            Record("bc_loss", bc);
        }
        else actorLoss = q.Mean().Neg();   // TD3 (eq. 6): deterministic policy gradient through Q_1
        actorLoss.Backward();
        _actorOpt.Step();
        _critic.SetRequiresGrad(true);
        Record("actor_loss", actorLoss);
        Polyak.Update(_criticTarget, _critic, Config.Tau);
        Polyak.Update(_actorTarget, _actor, Config.Tau);
    }

    protected override bool BuildsHistoryEncoders => true;

    /// <summary>The critics' hidden sizes: the actor's (TD3, TD3+BC, PRDC) unless a method sets its own.</summary>
    protected virtual int[] CriticHidden => Config.Hidden;

    /// <summary>The critic ensemble (member 0 is Q_1), for methods that read it after its update.</summary>
    protected EnsembleMlp Critic => _critic;

    /// <summary>
    /// Called after every critic step with the batch, the smoothed target action a' at s' and the critic target y
    /// (neither differentiated): where methods train networks of their own (A2PR's value and VAE).
    /// </summary>
    protected virtual void AfterCritic(TransitionBatch b, Tensor nextAction, Tensor y) { }

    /// <summary>The behavior-cloning term of the actor loss: mean (pi(s) - a_target)^2 towards <see cref="BcTarget"/>.</summary>
    protected virtual Tensor BcTerm(TransitionBatch b, Tensor pi) => (pi - BcTarget(b, pi)).Square().Mean();

    /// <summary>The action the actor is pulled towards at the batch's states: the dataset's (TD3+BC); PRDC's nearest one.</summary>
    protected virtual Tensor BcTarget(TransitionBatch b, Tensor pi) => b.ActT;

    /// <summary>
    /// TD3+BC's actor loss (eq. 3): -lambda mean Q(s, pi(s)) + mean (pi(s) - a)^2 with lambda = alpha / mean |Q| (a
    /// number, not differentiated); returns the loss and its behavior-cloning term.
    /// </summary>
    public static (Tensor Loss, Tensor Bc) ActorLoss(Tensor q, Tensor pi, Tensor a, float alpha) => ActorLoss(q, (pi - a).Square().Mean(), alpha);

    /// <summary>TD3+BC's actor loss with a given behavior-cloning term: -lambda mean Q + bc, lambda = alpha / mean |Q| (a number).</summary>
    public static (Tensor Loss, Tensor Bc) ActorLoss(Tensor q, Tensor bc, float alpha)
    {
        float lambda = alpha / q.Detach().Abs().Mean().Item();
        return (q.Mean() * -lambda + bc, bc);
    }

    protected override void ActCore(Tensor s, Span<float> action, bool deterministic)
    {
        var a = PolicyOutput(s).Data;
        for (int j = 0; j < ActionDim; j++)
            action[j] = deterministic ? a[j] : Math.Clamp(a[j] + Config.ExplorationNoise * Rng.Normal(), -1f, 1f);
    }

    protected internal override Tensor PolicyOutput(Tensor s) => _actor.Forward(s);

    protected override IEnumerable<(string, Module)> Modules() =>
        [("actor", _actor), ("actor_target", _actorTarget), ("critic", _critic), ("critic_target", _criticTarget)];
}
