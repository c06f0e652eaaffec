using OffRL.Data;
using OffRL.Nn;
using OffRL.Tensors;

namespace OffRL.Algorithms;

/// <summary>
/// IQL hyperparameters (Kostrikov et al. 2022, "Offline RL with Implicit Q-Learning", appendix B, locomotion:
/// expectile 0.7, inverse temperature beta 3, learning rates 3e-4, 2 x 256 networks, batch 256, rewards normalized by
/// the range of episode returns times 1000; the authors' code and CORL also clip the advantage weight at 100 and anneal
/// the actor's learning rate by a cosine schedule over 1e6 steps). Observations are standardized by default as CORL does
/// (the authors' code uses raw observations: preset "authors"); CORL normalizes rewards only on its hopper medium and
/// medium-replay configs (preset "corl"). For AntMaze-style sparse rewards the authors use reward_normalization none
/// with reward_bias -1, expectile 0.9 and beta 10.
/// </summary>
public record IqlConfig : CriticEnsembleConfig
{
    public IqlConfig() => RewardNormalization = RewardNormalization.ReturnRange;

    [FieldRange("(0, 1]")]
    public double ActorLr { get; init; } = 3e-4;
    [FieldRange("(0, 1]")]
    public double CriticLr { get; init; } = 3e-4;
    [FieldRange("(0, 1]")]
    public double ValueLr { get; init; } = 3e-4;
    /// <summary>Expectile tau of the value regression (eq. 5), in (0, 1).</summary>
    [FieldRange("(0, 1)")]
    public float Expectile { get; init; } = 0.7f;
    /// <summary>Inverse temperature beta of the advantage weights exp(beta A) (eq. 7).</summary>
    [FieldRange("[0, inf)")]
    public float Beta { get; init; } = 3f;
    /// <summary>Clip of the advantage weights (the authors' code: 100).</summary>
    [FieldRange("(0, inf)")]
    public float MaxWeight { get; init; } = 100f;
    /// <summary>
    /// Updates the actor's cosine learning-rate schedule spans: 1e6 as the authors' code (max_steps) and CORL's
    /// (max_timesteps), whatever the run's length, so a 20k-step run trains at almost the full rate; null: the run's
    /// own --steps (CORL's behaviour when max_timesteps is changed).
    /// </summary>
    [FieldRange("[1, inf)")]
    public long? CosineActorLrSteps { get; init; } = 1_000_000;
    /// <summary>Weighted regression of the mean, exp(beta A) |mu(s) - a|^2, instead of the Gaussian likelihood (CORL's iql_deterministic, used in its hopper configs).</summary>
    public bool DeterministicActor { get; init; }
    /// <summary>
    /// Lower clamp of the actor's log std: -5 as the authors' code (NormalTanhPolicy's log_std_min); CORL's iql.py uses -20
    /// (its preset sets it). The upper clamp is 2 in both.
    /// </summary>
    [FieldRange("[-100, 2)")]
    public float LogStdMin { get; init; } = -5f;
}

/// <summary>Implicit Q-learning: expectile regression for V, TD for Q against V, advantage-weighted regression for the policy.</summary>
public sealed class Iql(int obs, Space actionSpace, IqlConfig? config = null, ulong seed = 0)
    : Iql<IqlConfig>(obs, actionSpace, config ?? new IqlConfig(), seed), IAlgorithmFamily
{
    private const string CorlCommon = "actor_lr: 3e-4, critic_lr: 3e-4, value_lr: 3e-4, batch_size: 256, gamma: 0.99, hidden: [256, 256], " +
        "normalize_observations: true, qlearning_rows: true, log_std_min: -20, max_weight: 100, cosine_actor_lr_steps: 1000000, ";

    /// <summary>
    /// IQL's published settings. CORL: per dataset (its hopper configs: deterministic actor, tau 0.001, rewards normalized
    /// by CORL's segment rule; elsewhere no reward normalization). The authors: one setting for all locomotion, rewards
    /// normalized over every episode (the cut-off last one included), raw observations, log std >= -5.
    /// </summary>
    private static readonly Preset[] Presets =
    [
        new("corl", "CORL (github.com/tinkoff-ai/CORL @6afec90)",
        [
            new(["hopper-medium", "hopper-medium-replay"], CorlCommon + "expectile: 0.7, beta: 3, deterministic_actor: true, tau: 0.001, " +
                "reward_normalization: return_range, return_segments: corl", "configs/offline/iql/hopper/{medium,medium_replay}_v2.yaml; iql.py modify_reward L209-230"),
            new(["hopper-medium-expert"], CorlCommon + "expectile: 0.5, beta: 6, deterministic_actor: false, tau: 0.005, reward_normalization: none",
                "configs/offline/iql/hopper/medium_expert_v2.yaml"),
            new(["halfcheetah-medium", "halfcheetah-medium-replay", "halfcheetah-medium-expert", "walker2d-medium", "walker2d-medium-replay", "walker2d-medium-expert"],
                CorlCommon + "expectile: 0.7, beta: 3, deterministic_actor: false, tau: 0.005, reward_normalization: none",
                "configs/offline/iql/{halfcheetah,walker2d}/*_v2.yaml"),
        ]),
        new("authors", "Kostrikov et al. (github.com/ikostrikov/implicit_q_learning @09d7002)",
        [
            new(Preset.Locomotion, "actor_lr: 3e-4, critic_lr: 3e-4, value_lr: 3e-4, batch_size: 256, gamma: 0.99, hidden: [256, 256], tau: 0.005, " +
                "expectile: 0.7, beta: 3, deterministic_actor: false, normalize_observations: false, qlearning_rows: true, reward_normalization: return_range, " +
                "return_segments: episodes, log_std_min: -5, max_weight: 100, cosine_actor_lr_steps: 1000000, action_clip: 0.99999",
                "configs/mujoco_config.py L7-19; train_offline.py L35-74 (normalize by the range over all trajectories); learner.py L77-83 (log_std_min -5); dataset_utils.py L78-80 (actions clipped to 1 - 1e-5)"),
        ]),
    ];

    public static IReadOnlyList<AlgorithmSpec> Algorithms =>
    [
        AlgorithmSpec.Of("iql", LearningMode.Offline, ActionKind.Continuous, "Implicit Q-learning: expectile value, advantage-weighted policy (Kostrikov et al. 2022)",
            new IqlConfig(), (obs, space, c, seed) => new Iql(obs, space, c, seed)) with { Presets = Presets },
    ];

    /// <summary>Expectile regression (eq. 5): mean of |tau - 1(u &lt; 0)| u^2 over u = Q'(s, a) - V(s).</summary>
    public static Tensor ExpectileLoss(Tensor u, float tau)
    {
        var weight = Tensor.Temp(u.Shape);
        for (int i = 0; i < weight.Size; i++) weight.Data[i] = u.Data[i] < 0 ? 1f - tau : tau;
        return (weight * u.Square()).Mean();
    }

    /// <summary>
    /// Advantage-weighted regression (eq. 7): mean of exp(beta A) clipped at <paramref name="maxWeight"/> (A detached)
    /// times the behavior loss (-log pi(a|s), or the squared error of a deterministic actor).
    /// </summary>
    public static Tensor AwrLoss(Tensor advantage, Tensor behavior, float beta, float maxWeight) =>
        ((advantage.Detach() * beta).Exp().Clamp(0f, maxWeight) * behavior).Mean();

    /// <summary>The same with an inverse temperature per row [B, 1] (FamO2O's balance coefficients; no gradient reaches them).</summary>
    public static Tensor AwrLoss(Tensor advantage, Tensor behavior, Tensor beta, float maxWeight) =>
        ((advantage.Detach() * beta.Detach()).Exp().Clamp(0f, maxWeight) * behavior).Mean();
}

/// <summary>
/// The body of <see cref="Iql"/> and of the methods built on IQL (<see cref="Riql"/>, <see cref="Famo2o"/>), each with
/// its own config type: the value's target from the target critics, the critics' loss, and what the policy reads
/// besides the observation are the hooks.
/// </summary>
public abstract class Iql<TConfig> : Agent<TConfig> where TConfig : IqlConfig
{
    private readonly GaussianMeanPolicy _actor;
    private readonly Mlp _value;
    private readonly EnsembleMlp _critic, _criticTarget;
    private readonly Adam _actorOpt, _criticOpt, _valueOpt;
    private readonly Action _valueAndPolicyStep, _qStep;
    // One update's inputs and losses, shared by its two halves (which may run on two threads).
    private TransitionBatch? _batch;
    private Tensor? _qTarget, _vNext, _policyIn, _policyBeta;
    private float _valueLoss, _criticLoss, _actorLoss;

    protected override bool BuildsHistoryEncoders => true;

    protected Iql(int obs, Space actionSpace, TConfig config, ulong seed) : base(obs, actionSpace, config, seed)
    {
        int act = actionSpace.Width;
        var history = Config.HistoryInput(obs);
        _actor = new GaussianMeanPolicy(obs + PolicyConditionWidth, Config.Hidden, act, Rng, logStdMin: Config.LogStdMin, logStdMax: 2f, history: history);
        _value = new Mlp(new MlpConfig(obs, Config.Hidden, 1, Sequence: history), Rng);
        _critic = Networks.Critic(obs, act, Config.Hidden, Rng, Config.NumCritics, history);
        InitializeCritic(_critic, Rng);
        _criticTarget = Networks.Target(_critic, () => Networks.Critic(obs, act, Config.Hidden, new Rng(0), Config.NumCritics, history));
        _actorOpt = Optim("actor", new Adam(_actor.Parameters(), Config.ActorLr));
        if (Config.CosineActorLrSteps is { } n) _actorOpt.Schedule = LrSchedule.Cosine(n);
        _criticOpt = Optim("critic", new Adam(_critic.Parameters(), Config.CriticLr));
        _valueOpt = Optim("value", new Adam(_value.Parameters(), Config.ValueLr));
        (_valueAndPolicyStep, _qStep) = (ValueAndPolicyStep, QStep);
    }

    /// <summary>The policy: pi(a | s), or pi(a | s, c) with what <see cref="PolicyConditionWidth"/> adds to its input.</summary>
    protected GaussianMeanPolicy Actor => _actor;
    /// <summary>The critics' Polyak-averaged copies (the value's target Q').</summary>
    protected EnsembleMlp CriticTarget => _criticTarget;

    /// <summary>Values the policy reads after the observation (FamO2O's embedded balance coefficient); 0: pi(a | s).</summary>
    protected virtual int PolicyConditionWidth => 0;

    /// <summary>
    /// The policy step's input and inverse temperature per row [B, 1], made once before the value and policy steps: the
    /// batch's observations and null (config beta for every row), or FamO2O's [s, emb(beta)] and beta after its balance
    /// model's step. It must not read the value.
    /// </summary>
    protected virtual (Tensor Input, Tensor? Beta) PolicyStepInputs(TransitionBatch b) => (b.ObsT, null);

    /// <summary>The policy's input when acting on observations <paramref name="s"/> (FamO2O: with the balance model's beta).</summary>
    protected virtual Tensor ActingInput(Tensor s) => s;

    /// <summary>Without a fixed span the cosine schedule covers the run's own length.</summary>
    public override void PlanRun(long steps)
    {
        if (Config.CosineActorLrSteps is null && steps > 0) _actorOpt.Schedule = LrSchedule.Cosine(steps);
    }

    protected override void UpdateCore(TransitionBatch b)
    {
        using (Tensor.NoGrad())
        {
            _qTarget = ValueTarget(Networks.Q(_criticTarget, b.ObsT, b.ActT));
            _vNext = _value.Forward(b.NextT);
        }
        (_policyIn, _policyBeta) = PolicyStepInputs(b);
        _batch = b;
        // The Q update reads V(s') from before the value step; the value and policy updates read only the target critic:
        // independent, they run side by side on two cores (each product on one core: the numbers of one after the other).
        Gemm.Beside(_valueAndPolicyStep, _qStep);
        Record("value_loss", _valueLoss);
        Record("critic_loss", _criticLoss);
        Record("actor_loss", _actorLoss);
        (_batch, _qTarget, _vNext, _policyIn, _policyBeta) = (null, null, null, null, null);
    }

    private void ValueAndPolicyStep()
    {
        var b = _batch!;
        // Value (eq. 5): expectile regression L2^tau(Q'(s, a) - V(s)), weight |tau - 1(u < 0)|
        _valueOpt.ZeroGrad();
        var v = _value.Forward(b.ObsT);
        var adv = _qTarget! - v;
        var valueLoss = Iql.ExpectileLoss(adv, Config.Expectile);
        valueLoss.Backward();
        _valueOpt.Step();
        _valueLoss = valueLoss.Item();

        // Policy (eq. 7): advantage-weighted regression, weights exp(beta (Q'(s, a) - V(s))) clipped at 100, of -log pi(a|s)
        _actorOpt.ZeroGrad();
        var behavior = Config.DeterministicActor
            ? (_actor.Mean(_policyIn!) - b.ActT).Square().Sum(-1, keepDim: true)   // -log pi up to constants, for a fixed unit variance
            : _actor.LogProb(_policyIn!, b.ActT).Neg();
        var actorLoss = _policyBeta is { } beta ? Iql.AwrLoss(adv, behavior, beta, Config.MaxWeight) : Iql.AwrLoss(adv, behavior, Config.Beta, Config.MaxWeight);
        actorLoss.Backward();
        _actorOpt.Step();
        _actorLoss = actorLoss.Item();
    }

    private void QStep()
    {
        var b = _batch!;
        using var scope = TensorScope.Begin();   // its own: this may run on another thread
        // Q (eq. 6): (r + gamma (1 - d) V(s') - Q(s, a))^2 for every Q
        _criticOpt.ZeroGrad();
        var y = b.RewT + b.DiscountT * _vNext!;
        var criticLoss = CriticLoss(Networks.Q(_critic, b.ObsT, b.ActT), y);
        criticLoss.Backward();
        _criticOpt.Step();
        _criticLoss = criticLoss.Item();
        Polyak.Update(_criticTarget, _critic, Config.Tau);
    }

    /// <summary>The critics as they start, before the target copies them (IQL: as built).</summary>
    protected virtual void InitializeCritic(EnsembleMlp critic, Rng rng) { }

    /// <summary>The value's regression target from the target critics' Q'(s, a) [N, B, 1] (eq. 5: their minimum) [B, 1].</summary>
    protected virtual Tensor ValueTarget(Tensor targetQ) => Networks.MinQ(targetQ);

    /// <summary>The critics' loss against y = r + gamma (1 - d) V(s') (eq. 6: squared errors, summed over the critics).</summary>
    protected virtual Tensor CriticLoss(Tensor q, Tensor y) => Networks.CriticLoss(q, y);

    protected override void ActCore(Tensor s, Span<float> action, bool deterministic) => _actor.Act(ActingInput(s), action, deterministic, Rng);

    protected internal override Tensor PolicyOutput(Tensor s) => _actor.Mean(ActingInput(s));

    protected override IEnumerable<(string, Module)> Modules() =>
        [("actor", _actor), ("value", _value), ("critic", _critic), ("critic_target", _criticTarget)];
}
