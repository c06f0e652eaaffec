using OffRL.Data;
using OffRL.Nn;
using OffRL.Tensors;

namespace OffRL.Algorithms;

/// <summary>
/// ReBRAC hyperparameters (Tarasov et al. 2023, "Revisiting the Minimalist Approach to Offline Reinforcement Learning"),
/// as CORL's rebrac.py runs them (tinkoff-ai/CORL @6afec90, its Config L34-66 and configs/offline/rebrac/): TD3 with
/// 3 x 256 networks, layer norm after each hidden activation of the critics, hidden biases 0.1, output layers from
/// U(+-1e-3) (actor) and U(+-3e-3) (critics), learning rates 1e-3, batch 1024, gamma 0.99, tau 5e-3, policy noise 0.2
/// clipped at 0.5, the actor every 2nd update, raw observations and rewards; behavior-cloning penalties on the actor
/// (actor_bc_coef) and in the critic's target (critic_bc_coef), 1 and 1 by default, per dataset in the presets.
/// </summary>
public sealed record RebracConfig : Td3FamilyConfig
{
    public RebracConfig()
    {
        Hidden = [256, 256, 256];
        BatchSize = 1024;
        NormalizeObservations = false;
        ActorLr = 1e-3;
        CriticLr = 1e-3;
    }

    /// <summary>beta_1 of the actor's penalty beta_1 |pi(s) - a|^2 (eq. 3).</summary>
    [FieldRange("[0, 1000000]")]
    public float ActorBcCoef { get; init; } = 1f;
    /// <summary>beta_2 of the critic target's penalty beta_2 |a' - a'_D|^2, a'_D the dataset's next action (eq. 4).</summary>
    [FieldRange("[0, 1000000]")]
    public float CriticBcCoef { get; init; } = 1f;
    /// <summary>
    /// Online phase of a fine-tuning run (CORL's finetune/rebrac.py L1032-1042): the critic's penalty is off and the
    /// actor's beta_1 decays linearly over the phase's updates to this fraction of itself (min_decay_coef: 0.5).
    /// </summary>
    [FieldRange("[0, 1]")]
    public float MinDecayCoef { get; init; } = 0.5f;
    /// <summary>Scale Q in the actor loss by 1 / mean |Q| (not differentiated), as TD3+BC.</summary>
    public bool NormalizeQ { get; init; } = true;
    /// <summary>Layer norm after each hidden activation of the actor (CORL: off).</summary>
    public bool ActorLayerNorm { get; init; }
    /// <summary>Layer norm after each hidden activation of the critics (section 4: on).</summary>
    public bool CriticLayerNorm { get; init; } = true;
    /// <summary>Epsilon of the layer norms (flax's nn.LayerNorm: 1e-6).</summary>
    [FieldRange("(0, 1]")]
    public float LayerNormEps { get; init; } = 1e-6f;
    /// <summary>Bias of every hidden layer at start (CORL's rebrac.py: 0.1).</summary>
    [FieldRange("[-1000, 1000]")]
    public float HiddenBias { get; init; } = 0.1f;
    /// <summary>The actor's output layer (weights and bias) from U(-b, b) at start.</summary>
    [FieldRange("(0, 1000]")]
    public float ActorOutputUniform { get; init; } = 1e-3f;
    /// <summary>The critics' output layers (weights and bias) from U(-b, b) at start.</summary>
    [FieldRange("(0, 1000]")]
    public float CriticOutputUniform { get; init; } = 3e-3f;

    public override void Validate()
    {
        base.Validate();
        if (Sampler == SamplerKind.NStep && NStep > 1)
            throw new ArgumentException($"config: field 'sampler' of {GetType().Name} is n_step ({NStep} steps); ReBRAC's critic penalty needs the action at the next observation of one-step transitions");
    }
}

/// <summary>
/// ReBRAC: TD3+BC with its design choices (deeper networks, layer norm in the critics, large batches, the penalty in
/// the critic too). Critic target y = r + gamma (1 - d) [min_i Q'_i(s', a') - beta_2 |a' - a'_D|^2] with a' the target
/// actor's smoothed action and a'_D the action logged at s'; actor loss mean[beta_1 |pi(s) - a|^2 - lambda min_i Q_i(s, pi(s))],
/// lambda = 1 / mean |min_i Q_i| (detached). The targets move on actor updates only, the actor's towards its
/// parameters before that update (CORL's update_actor).
/// </summary>
public sealed class Rebrac : Agent<RebracConfig>, IAlgorithmFamily
{
    private const string Common = "hidden: [256, 256, 256], actor_lr: 1e-3, critic_lr: 1e-3, batch_size: 1024, gamma: 0.99, tau: 0.005, " +
        "policy_noise: 0.2, noise_clip: 0.5, policy_freq: 2, normalize_q: true, actor_layer_norm: false, critic_layer_norm: true, " +
        "normalize_observations: false, reward_normalization: none, qlearning_rows: true, ";

    /// <summary>A dataset's row: its two coefficients, from lines 1 and 6 of its config file.</summary>
    private static PresetEntry Row(string dataset, string actorBcCoef, string criticBcCoef) =>
        new([dataset], Common + $"actor_bc_coef: {actorBcCoef}, critic_bc_coef: {criticBcCoef}",
            $"configs/offline/rebrac/{dataset[..dataset.IndexOf('-')]}/{dataset[(dataset.IndexOf('-') + 1)..].Replace('-', '_')}_v2.yaml L1, L6");

    private static readonly Preset[] Presets =
    [
        new("corl", "CORL (github.com/tinkoff-ai/CORL @6afec90)",
        [
            Row("hopper-medium", "0.01", "0.01"), Row("hopper-medium-replay", "0.05", "0.5"), Row("hopper-medium-expert", "0.1", "0.01"),
            Row("halfcheetah-medium", "0.001", "0.01"), Row("halfcheetah-medium-replay", "0.01", "0.001"), Row("halfcheetah-medium-expert", "0.01", "0.1"),
            Row("walker2d-medium", "0.05", "0.1"), Row("walker2d-medium-replay", "0.05", "0.01"), Row("walker2d-medium-expert", "0.01", "0.01"),
        ]),
    ];

    public static IReadOnlyList<AlgorithmSpec> Algorithms =>
    [
        AlgorithmSpec.Of("rebrac", LearningMode.Offline, ActionKind.Continuous, "TD3+BC revisited: layer-normed critics, penalties on actor and critic (Tarasov et al. 2023)",
            new RebracConfig(), (o, space, c, s) => new Rebrac(o, space, c, s)) with { Presets = Presets },
    ];

    private readonly Mlp _actor, _actorTarget;
    private readonly EnsembleMlp _critic, _criticTarget;
    private readonly Adam _actorOpt, _criticOpt;
    private Tensor _noise, _nextActions;
    private Dataset? _data;

    public Rebrac(int obs, Space actionSpace, RebracConfig? config = null, ulong seed = 0) : base(obs, actionSpace, config ?? new RebracConfig(), seed)
    {
        int act = actionSpace.Width;
        var c = Config;
        Mlp Actor(Rng r)
        {
            var net = new Mlp(new MlpConfig(obs, c.Hidden, act, Activation.Relu, Activation.Tanh, LayerNorm: c.ActorLayerNorm, NormAfterActivation: true, NormEps: c.LayerNormEps), r);
            Networks.EdacInit(net, c.HiddenBias, c.ActorOutputUniform, r);
            return net;
        }
        EnsembleMlp Critic(Rng r)
        {
            var net = new EnsembleMlp(c.NumCritics, new MlpConfig(obs + act, c.Hidden, 1, LayerNorm: c.CriticLayerNorm, NormAfterActivation: true, NormEps: c.LayerNormEps), r);
            Networks.EdacInit(net, c.HiddenBias, c.CriticOutputUniform, r);
            return net;
        }
        _actor = Actor(Rng);
        _actorTarget = Networks.Target(_actor, () => Actor(new Rng(0)));
        _critic = Critic(Rng);
        _criticTarget = Networks.Target(_critic, () => Critic(new Rng(0)));
        _actorOpt = Optim("actor", new Adam(_actor.Parameters(), c.ActorLr));
        _criticOpt = Optim("critic", new Adam(_critic.Parameters(), c.CriticLr));
        _noise = Tensor.Zeros(c.BatchSize, act);
        _nextActions = Tensor.Zeros(c.BatchSize, act);
    }

    private OnlinePhase? _online;

    /// <summary>Online (CORL's finetune/rebrac.py): no critic penalty, so no next actions needed; the actor's penalty decays.</summary>
    public override void StartOnline(OnlinePhase phase) => _online = phase;

    /// <summary>The data the batches' rows index: where the next actions a'_D come from (refused when no row has one).</summary>
    public override void UseDataset(Dataset prepared)
    {
        for (int i = 0; i < prepared.Count; i++)
            if (prepared.HasNextAction(i)) { _data = prepared; return; }
        throw new DataException($"rebrac: no row has a next action (every one of the {prepared.Count} rows ends an episode); ReBRAC's critic penalty needs the action logged at s'",
            prepared.Where, "next_actions");
    }

    protected override void UpdateCore(TransitionBatch b)
    {
        var c = Config;
        if (_noise.Shape[0] != b.Size) (_noise, _nextActions) = (Tensor.Zeros(b.Size, ActionDim), Tensor.Zeros(b.Size, ActionDim));
        Tensor y;
        using (Tensor.NoGrad())
        {
            // Target policy smoothing (TD3): a' = clip(pi'(s') + clip(eps, -c, c), -1, 1), eps ~ N(0, sigma)
            Rng.FillNormal(_noise.Data, 0f, c.PolicyNoise);
            var a2 = (_actorTarget.Forward(b.NextT) + _noise.Clamp(-c.NoiseClip, c.NoiseClip)).Clamp(-1f, 1f);
            // eq. 4: y = r + gamma (1 - d) [min_i Q'_i(s', a') - beta_2 |a' - a'_D|^2]; online, beta_2 = 0
            var next = Networks.MinQ(Networks.Q(_criticTarget, b.NextT, a2));
            if (_online is null)
            {
                NextDatasetActions(b, a2);
                next = next - (a2 - _nextActions).Square().Sum(-1, keepDim: true) * c.CriticBcCoef;
            }
            y = b.RewT + b.DiscountT * next;
        }
        _criticOpt.ZeroGrad();
        var q = Networks.Q(_critic, b.ObsT, b.ActT);
        var criticLoss = Networks.CriticLoss(q, y);
        criticLoss.Backward();
        _criticOpt.Step();
        Record("critic_loss", criticLoss);
        Record("q_min", Networks.MinQ(q.Detach()).Mean());

        if (Updates % c.PolicyFreq != 0) return;
        // eq. 3: minimize mean[beta_1 |pi(s) - a|^2 - lambda min_i Q_i(s, pi(s))], lambda = 1 / mean |min_i Q_i| (a number)
        _critic.SetRequiresGrad(false);
        _actorOpt.ZeroGrad();
        var pi = _actor.Forward(b.ObsT);
        var bc = (pi - b.ActT).Square().Sum(-1, keepDim: true);
        var qPi = Networks.MinQ(Networks.Q(_critic, b.ObsT, pi));
        float lambda = c.NormalizeQ ? 1f / qPi.Detach().Abs().Mean().Item() : 1f;
        // online: beta_1 times max(min_decay_coef, the share of the online updates still to come)
        float beta1 = _online is { } phase ? c.ActorBcCoef * (float)Math.Max(c.MinDecayCoef, phase.Remaining(Updates)) : c.ActorBcCoef;
        var actorLoss = (bc * beta1 - qPi * lambda).Mean();
        actorLoss.Backward();
        Polyak.Update(_actorTarget, _actor, c.Tau);   // towards the actor before this update (CORL's update_actor)
        _actorOpt.Step();
        _critic.SetRequiresGrad(true);
        Polyak.Update(_criticTarget, _critic, c.Tau);
        Record("actor_loss", actorLoss);
        Record("bc_mse", bc.Mean());
        Record("actor_bc_coef", beta1);
    }

    /// <summary>
    /// a'_D for each row of the batch: the action logged at its s'. A row whose next action the data does not hold (an
    /// episode cut by a timeout, next observation stored but not the action after it) takes a' itself: no penalty.
    /// </summary>
    private void NextDatasetActions(TransitionBatch b, Tensor a2)
    {
        var data = _data ?? throw new InvalidOperationException("rebrac: no dataset to take the next actions from (an offline run gives it through Agent.UseDataset)");
        int ad = ActionDim;
        var dst = _nextActions.Data;
        for (int i = 0; i < b.Size; i++)
        {
            int row = b.Rows[i];
            (data.HasNextAction(row) ? data.NextAction(row) : a2.Data.AsSpan(i * ad, ad)).CopyTo(dst.AsSpan(i * ad, ad));
        }
    }

    /// <summary>The actor's action (ReBRAC's policy is deterministic: evaluation and data collection alike).</summary>
    protected override void ActCore(Tensor s, Span<float> action, bool deterministic) => PolicyOutput(s).Data.AsSpan(0, ActionDim).CopyTo(action);

    protected internal override Tensor PolicyOutput(Tensor s) => _actor.Forward(s);

    protected override IEnumerable<(string, Module)> Modules() =>
        [("actor", _actor), ("actor_target", _actorTarget), ("critic", _critic), ("critic_target", _criticTarget)];
}
