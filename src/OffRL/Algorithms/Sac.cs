using OffRL.Data;
using OffRL.Nn;
using OffRL.Tensors;

namespace OffRL.Algorithms;

/// <summary>
/// SAC hyperparameters (Haarnoja et al. 2018, "Soft Actor-Critic Algorithms and Applications", table 1: learning rates
/// 3e-4, 2 x 256, batch 256, tau 0.005, gamma 0.99, target entropy -|A|). Observations are not normalized online.
/// </summary>
public record SacConfig : CriticEnsembleConfig
{
    public SacConfig() => NormalizeObservations = false;

    [FieldRange("(0, 1]")]
    public double ActorLr { get; init; } = 3e-4;
    [FieldRange("(0, 1]")]
    public double CriticLr { get; init; } = 3e-4;
    /// <summary>Learning rate of the temperature log alpha.</summary>
    [FieldRange("(0, 1]")]
    public double AlphaLr { get; init; } = 3e-4;
    /// <summary>Tune the temperature towards the target entropy (eq. 18); false: alpha stays at initial_alpha (OfflineRL-Kit's --auto-alpha False).</summary>
    public bool AutoAlpha { get; init; } = true;
    /// <summary>Temperature alpha at the start (> 0).</summary>
    [FieldRange("(0, inf)")]
    public float InitialAlpha { get; init; } = 1f;
    /// <summary>
    /// Upper clamp of the temperature the losses use, min(exp(log alpha), alpha_max), log alpha itself unclamped
    /// (OfflineRL-Kit's SAC, MOPO and MOBILE: 1); null: exp(log alpha) as it is.
    /// </summary>
    [FieldRange("(0, inf)")]
    public float? AlphaMax { get; init; }
    /// <summary>Entropy the temperature is tuned towards; null: -|A|.</summary>
    public float? TargetEntropy { get; init; }
    /// <summary>Subtract alpha log pi(a'|s') in the TD target (SAC's soft backup, eq. 3); CQL turns it off.</summary>
    public bool BackupEntropy { get; init; } = true;
    /// <summary>Lower clamp of the actor's log std: -5 as SAC's reference code and CQL's authors (rlkit); CORL's and young-geng's tanh-Gaussian: -20.</summary>
    [FieldRange("[-100, 2)")]
    public float LogStdMin { get; init; } = -5f;
    /// <summary>
    /// Start of a learnable offset o on the actor's log std, log_std = m raw + o with a learnable multiplier m starting at
    /// 1 (CORL's and young-geng's TanhGaussianPolicy: -1); null: neither (the raw head output, as SAC's reference code).
    /// </summary>
    [FieldRange("[-20, 20]")]
    public float? LogStdOffset { get; init; }
    /// <summary>Critics initialized orthogonally (hidden gain sqrt(2), output 0.01, biases 0), as CORL's CQL configs (orthogonal_init: true).</summary>
    public bool OrthogonalCriticInit { get; init; }
    /// <summary>
    /// The critics' hidden widths where they differ from the actor's (CORL's cal_ql.py: the actor 3 x 256, the critics
    /// q_n_hidden_layers 2 x 256); null: <see cref="AgentConfig.Hidden"/> for both.
    /// </summary>
    [FieldRange("[1, 16384]")]
    public int[]? CriticHidden { get; init; }
    /// <summary>
    /// The critics' output layer initialized Xavier-uniform with this gain and bias 0 (young-geng's CQL with orthogonal
    /// init off: 0.01); null: the layers' default init. Not with <see cref="OrthogonalCriticInit"/>, which sets the output layer itself.
    /// </summary>
    [FieldRange("(0, 10]")]
    public float? CriticOutputGain { get; init; }
    /// <summary>The actor's output layer initialized Xavier-uniform with this gain and bias 0 (CORL's CQL actor: 0.01); null: the layers' default init.</summary>
    [FieldRange("(0, 10]")]
    public float? ActorOutputGain { get; init; }
    /// <summary>
    /// Order of an update: false, SAC's (critic step, then the actor against the updated critic, then the temperature);
    /// true, CORL's and young-geng's CQL (losses formed first, then temperature, actor against the critics before their
    /// step, and the critics last).
    /// </summary>
    public bool ActorBeforeCritic { get; init; }
    /// <summary>
    /// Order of an update, CORL's sac_n.py and edac.py (the EDAC paper's): the temperature first, on a fresh sample of
    /// pi(.|s); the actor against the critics before their step, with the new alpha; then the critic loss, its targets
    /// drawn from the stepped actor. Not with <see cref="ActorBeforeCritic"/>, another order.
    /// </summary>
    public bool TemperatureFirst { get; init; }
    /// <summary>Every hidden layer's bias, actor and critics, set to this value (the EDAC paper's init, CORL's sac_n.py and edac.py: 0.1); null: the layers' default.</summary>
    [FieldRange("[-1, 1]")]
    public float? HiddenBias { get; init; }
    /// <summary>The critics' output layer, weights and biases, from U(-x, x) (EDAC: 3e-3); null: as the other init fields say.</summary>
    [FieldRange("(0, 1]")]
    public float? CriticOutputUniform { get; init; }
    /// <summary>The actor's output layer (mean and log std), weights and biases, from U(-x, x) (EDAC: 1e-3); null: as the other init fields say.</summary>
    [FieldRange("(0, 1]")]
    public float? ActorOutputUniform { get; init; }
    /// <summary>
    /// Every critic member's weights from U(-1/sqrt(out), 1/sqrt(out)): CORL's VectorizedLinear stores a member's weight
    /// as [in, out] and PyTorch's kaiming_uniform_ reads the fan-in from its second axis, so the first layer is drawn with
    /// the hidden width's bound (1/16), not the input's (sac_n.py and edac.py L186-193). False: nn.Linear's 1/sqrt(in).
    /// </summary>
    public bool CriticWeightsByOutputs { get; init; }
    /// <summary>The policy's log-density with log(1 - tanh(u)^2 + epsilon) (CORL's sac_n.py and edac.py: 1e-6); null: the exact form.</summary>
    [FieldRange("(0, 0.01]")]
    public float? SquashEpsilon { get; init; }

    /// <summary>
    /// A layer norm on every hidden layer of the critics, between the linear map and the activation, with a learned
    /// scale and shift (flax's nn.LayerNorm, epsilon 1e-6: the RLPD authors' critics, Ball et al. 2023 sec. 3.2).
    /// </summary>
    public bool CriticLayerNorm { get; init; }
    /// <summary>
    /// The TD target's minimum over a random subset of this many target critics, drawn without replacement once per
    /// update (REDQ's in-target minimization, Chen et al. 2021; RLPD's num_min_qs 2); null: over all of them.
    /// </summary>
    [FieldRange("[1, 1000]")]
    public int? TargetMembers { get; init; }
    /// <summary>The actor maximizes the mean over the critics instead of their minimum (REDQ's and RLPD's policy loss).</summary>
    public bool ActorMeanQ { get; init; }
    /// <summary>Every layer of actor and critics Xavier-uniform with biases 0 (flax's default init in the RLPD authors' networks); false: the layers' default.</summary>
    public bool XavierInit { get; init; }
    /// <summary>
    /// The temperature's loss as alpha (H - target entropy), H the policy's entropy estimate (the RLPD and jaxrl
    /// authors'); false: -log alpha (log pi + target entropy) (eq. 18 as rlkit, CORL and d3rlpy write it). The two
    /// point the same way; their gradients differ by the factor alpha.
    /// </summary>
    public bool TemperatureLossOnAlpha { get; init; }

    /// <summary>The entropy the temperature is tuned towards when <see cref="TargetEntropy"/> is null: -|A| (SAC's heuristic).</summary>
    public virtual float DefaultTargetEntropy(int actionDim) => -actionDim;

    public override void Validate()
    {
        base.Validate();
        if (OrthogonalCriticInit && CriticOutputGain is not null)
            throw new ArgumentException($"config: fields 'orthogonal_critic_init' and 'critic_output_gain' of {GetType().Name} both set the critics' output layer; set one");
        if (CriticOutputUniform is not null && (OrthogonalCriticInit || CriticOutputGain is not null))
            throw new ArgumentException($"config: field 'critic_output_uniform' of {GetType().Name} and '{(OrthogonalCriticInit ? "orthogonal_critic_init" : "critic_output_gain")}' both set the critics' output layer; set one");
        if (ActorOutputUniform is not null && ActorOutputGain is not null)
            throw new ArgumentException($"config: fields 'actor_output_uniform' and 'actor_output_gain' of {GetType().Name} both set the actor's output layer; set one");
        if (CriticWeightsByOutputs && OrthogonalCriticInit)
            throw new ArgumentException($"config: fields 'critic_weights_by_outputs' and 'orthogonal_critic_init' of {GetType().Name} both set the critics' weights; set one");
        if (TemperatureFirst && ActorBeforeCritic)
            throw new ArgumentException($"config: fields 'temperature_first' and 'actor_before_critic' of {GetType().Name} are two orders of an update; set one");
        if (TargetMembers > NumCritics)
            throw new ArgumentException($"config: field 'target_members' of {GetType().Name} is {TargetMembers}, more than the {NumCritics} critics ('num_critics') it draws from");
        if (XavierInit && (OrthogonalCriticInit || CriticOutputGain is not null || CriticOutputUniform is not null || CriticWeightsByOutputs
                || ActorOutputGain is not null || ActorOutputUniform is not null || HiddenBias is not null))
            throw new ArgumentException($"config: field 'xavier_init' of {GetType().Name} sets every layer's init, and another init field is set too; set one");
    }
}

/// <summary>
/// Soft Actor-Critic with automatic temperature: twin Q, tanh-Gaussian policy, Polyak targets. The body of
/// <see cref="Sac"/> and of the methods built on SAC (<see cref="Cql"/>), each with its own config type.
/// </summary>
public abstract class Sac<TConfig> : Agent<TConfig> where TConfig : SacConfig
{
    private readonly Mlp _actor;
    private readonly EnsembleMlp _critic, _criticTarget;
    private readonly EnsembleMlp? _targetSubset;     // target_members of the target critics, redrawn each update
    private readonly int[] _subsetMembers = [], _allMembers = [];
    protected Mlp Actor => _actor;
    protected EnsembleMlp Critic => _critic;
    private readonly ParameterModule _temperature = new("log_alpha", new Shape(1));
    private readonly ParameterModule? _logStdAffine;
    private Tensor LogAlpha => _temperature.Value;
    private readonly Adam _actorOpt, _criticOpt, _alphaOpt;
    private readonly float _targetEntropy;
    public float Alpha => Config.AlphaMax is { } most ? MathF.Min(MathF.Exp(LogAlpha.Data[0]), most) : MathF.Exp(LogAlpha.Data[0]);
    /// <summary>The critics' Polyak-averaged copies (the TD targets' Q').</summary>
    protected EnsembleMlp CriticTarget => _criticTarget;
    /// <summary>The actor's optimizer (for schedules a method sets).</summary>
    protected Adam ActorOptimizer => _actorOpt;

    protected Sac(int obs, Space actionSpace, TConfig config, ulong seed) : base(obs, actionSpace, config, seed)
    {
        int act = actionSpace.Width;
        _actor = new Mlp(new MlpConfig(obs, Config.Hidden, 2 * act), Rng);
        if (Config.ActorOutputGain is { } gain) Networks.SmallOutputInit(_actor, gain, Rng);
        Networks.EdacInit(_actor, Config.HiddenBias, Config.ActorOutputUniform, Rng);
        if (Config.XavierInit) Networks.XavierInit(_actor, Rng, headWidth: act);
        int[] criticHidden = Config.CriticHidden ?? Config.Hidden;
        _critic = Networks.Critic(obs, act, criticHidden, Rng, Config.NumCritics, layerNorm: Config.CriticLayerNorm);
        if (Config.XavierInit) Networks.XavierInit(_critic, Rng);
        if (Config.CriticWeightsByOutputs) Networks.WeightsByOutputs(_critic, Rng);
        if (Config.OrthogonalCriticInit) Networks.OrthogonalInit(_critic, Rng);
        else if (Config.CriticOutputGain is { } criticGain) Networks.SmallOutputInit(_critic, criticGain, Rng);
        Networks.EdacInit(_critic, Config.HiddenBias, Config.CriticOutputUniform, Rng);
        _criticTarget = Networks.Target(_critic, () => Networks.Critic(obs, act, criticHidden, new Rng(0), Config.NumCritics, layerNorm: Config.CriticLayerNorm));
        if (Config.TargetMembers is { } k && k < Config.NumCritics)
        {
            _targetSubset = Networks.Critic(obs, act, criticHidden, new Rng(0), k, layerNorm: Config.CriticLayerNorm);
            _targetSubset.SetRequiresGrad(false);
            _subsetMembers = new int[k];
            _allMembers = new int[Config.NumCritics];
        }
        LogAlpha.Data[0] = MathF.Log(Config.InitialAlpha);
        _targetEntropy = Config.TargetEntropy ?? Config.DefaultTargetEntropy(act);
        var actorParams = _actor.Parameters().ToList();
        if (Config.LogStdOffset is { } offset)
        {
            _logStdAffine = new ParameterModule("log_std_affine", new Shape(2));
            _logStdAffine.Value.Data[0] = 1f;        // multiplier
            _logStdAffine.Value.Data[1] = offset;    // offset
            actorParams.Add(_logStdAffine.Value);
        }
        _actorOpt = Optim("actor", new Adam(actorParams, Config.ActorLr));
        _criticOpt = Optim("critic", new Adam(_critic.Parameters(), Config.CriticLr));
        _alphaOpt = Optim("alpha", new Adam([LogAlpha], Config.AlphaLr));
    }

    /// <summary>
    /// The actor and the temperature step on every k-th update only, the critics on every one (RLPD: one actor step
    /// per environment step, after its update-to-data ratio of critic steps); 1: every update, as SAC.
    /// </summary>
    protected virtual int ActorUpdateEvery => 1;

    protected override void UpdateCore(TransitionBatch b)
    {
        float alpha = Alpha;
        bool actorDue = (Updates + 1) % ActorUpdateEvery == 0;   // the k-th, 2k-th, ... update
        if (Config.TemperatureFirst)
        {
            // CORL's sac_n.py and edac.py: the temperature on a fresh sample, the actor with the new alpha against the
            // critics before their step, then the critic loss with the stepped actor and alpha, and the critics' step.
            if (actorDue)
            {
                Tensor logp;
                using (Tensor.NoGrad()) logp = PolicyOf(b.ObsT).RSample(Rng).LogProb;
                TemperatureStep(logp);
                ActorStep(b, Alpha);
            }
            CriticStep(CriticLoss(b));
        }
        else if (Config.ActorBeforeCritic)
        {
            // CORL's order: the critic loss is formed with the actor before its step (its sampled actions are detached),
            // the temperature and the actor step against the critics before theirs, the critics step last.
            var criticLoss = CriticLoss(b);
            if (actorDue) TemperatureStep(ActorStep(b, alpha));
            CriticStep(criticLoss);
        }
        else
        {
            CriticStep(CriticLoss(b));
            if (actorDue) TemperatureStep(ActorStep(b, alpha));
        }
        Polyak.Update(_criticTarget, _critic, Config.Tau);
    }

    /// <summary>
    /// The critics the TD target minimizes over: all target critics, or (<see cref="SacConfig.TargetMembers"/>) a subset
    /// of them drawn without replacement for this update, shared by every row of the batch (REDQ, RLPD).
    /// </summary>
    private EnsembleMlp TargetCritics()
    {
        if (_targetSubset is null) return _criticTarget;
        for (int i = 0; i < _allMembers.Length; i++) _allMembers[i] = i;
        for (int j = 0; j < _subsetMembers.Length; j++)   // a partial Fisher-Yates shuffle: the first k of a random order
        {
            int pick = j + Rng.NextInt(_allMembers.Length - j);
            (_allMembers[j], _allMembers[pick]) = (_allMembers[pick], _allMembers[j]);
            _subsetMembers[j] = _allMembers[j];
        }
        _targetSubset.CopyMembersFrom(_criticTarget, _subsetMembers);
        return _targetSubset;
    }

    /// <summary>The policy of states s: the actor's tanh-Gaussian with the configured log-std bounds and affine.</summary>
    protected TanhGaussian PolicyOf(Tensor s) => Networks.Policy(_actor, s, ActionDim, Config.LogStdMin, 2f, _logStdAffine?.Value, Config.SquashEpsilon);

    /// <summary>Critic loss (eq. 5): sum over both Q of the mean squared error to the soft Bellman target, plus any regularizer.</summary>
    private Tensor CriticLoss(TransitionBatch b)
    {
        // Soft Bellman target (eq. 3): y = r + gamma (1 - d) (min Q'(s', a') - alpha log pi(a'|s')), a' ~ pi(.|s');
        // without backup_entropy the entropy term is left out (CQL's deterministic backup)
        Tensor y;
        using (Tensor.NoGrad())
        {
            var (a2, logp2) = PolicyOf(b.NextT).RSample(Rng);
            var next = Networks.MinQ(Networks.Q(TargetCritics(), b.NextT, a2));
            y = Backup(b, b.RewT + b.DiscountT * (Config.BackupEntropy ? next - logp2 * Alpha : next));
        }
        var qData = Networks.Q(_critic, b.ObsT, b.ActT);
        Record("q_data", qData.Detach().Mean());   // mean Q at the batch's actions over the critics (SAC-N's blow-up, An et al. fig. 1)
        var criticLoss = TdLoss(b, qData, y);
        if (CriticRegularizer(b, qData) is { } extra) criticLoss = criticLoss + extra;
        return criticLoss;
    }

    /// <summary>The critics' TD loss (eq. 5) between Q [N, B, 1] and the target y [B, 1]: each member's mean squared error, summed (H2O weighs its rows).</summary>
    protected virtual Tensor TdLoss(TransitionBatch b, Tensor q, Tensor y) => Networks.CriticLoss(q, y);

    private void CriticStep(Tensor criticLoss)
    {
        _criticOpt.ZeroGrad();
        criticLoss.Backward();
        _criticOpt.Step();
        Record("critic_loss", criticLoss);
    }

    /// <summary>
    /// Policy loss (eq. 7): E[alpha log pi(a|s) - min Q(s, a)] (with <see cref="SacConfig.ActorMeanQ"/>, the mean over
    /// the critics), a reparameterized, the critic frozen; returns log pi(a|s).
    /// </summary>
    private Tensor ActorStep(TransitionBatch b, float alpha)
    {
        _critic.SetRequiresGrad(false);
        _actorOpt.ZeroGrad();
        var pi = PolicyOf(b.ObsT);
        var (a, logp) = pi.RSample(Rng);
        var actorLoss = (logp * alpha - (ActorObjective(b, pi) ?? CriticsAtPolicy(Networks.Q(_critic, b.ObsT, a)))).Mean();
        if (ActorRegularizer(b) is { } extra) actorLoss = actorLoss + extra;
        actorLoss.Backward();
        _actorOpt.Step();
        _critic.SetRequiresGrad(true);
        Record("actor_loss", actorLoss);
        return logp;
    }

    private Tensor CriticsAtPolicy(Tensor q) => Config.ActorMeanQ ? q.Mean(0) : Networks.MinQ(q);

    /// <summary>Temperature loss (eq. 18): -log alpha * (log pi + target entropy), or its alpha form; one step (unless auto_alpha is off).</summary>
    private void TemperatureStep(Tensor logp)
    {
        if (Config.AutoAlpha)
        {
            _alphaOpt.ZeroGrad();
            var alphaLoss = Config.TemperatureLossOnAlpha
                ? TemperatureLossOnAlpha(LogAlpha, logp, _targetEntropy)
                : TemperatureLoss(LogAlpha, logp, _targetEntropy);
            alphaLoss.Backward();
            _alphaOpt.Step();
        }
        Record("alpha", Alpha);
        Record("entropy", -logp.Mean().Item());
    }

    /// <summary>The temperature's loss (eq. 18): -mean(log alpha (log pi(a|s) + target entropy)), log pi detached.</summary>
    public static Tensor TemperatureLoss(Tensor logAlpha, Tensor logp, float targetEntropy) =>
        (logAlpha * (logp.Detach() + targetEntropy)).Mean().Neg();

    /// <summary>The temperature's loss in the flax codes' form (RLPD, FamO2O's balance model): alpha (H - target), H = -mean log pi detached.</summary>
    public static Tensor TemperatureLossOnAlpha(Tensor logAlpha, Tensor logp, float targetEntropy) =>
        (logAlpha.Exp() * (logp.Detach().Mean().Neg() - targetEntropy)).Mean();

    /// <summary>The TD target y [B, 1] as a method changes it (MOBILE's penalty and floor); SAC's as it is. No gradient is recorded.</summary>
    protected virtual Tensor Backup(TransitionBatch b, Tensor y) => y;

    /// <summary>What the actor maximizes instead of min Q(s, a~pi) (CQL's behavior-cloning warm-up); null: min Q, as SAC.</summary>
    protected virtual Tensor? ActorObjective(TransitionBatch b, TanhGaussian pi) => null;

    /// <summary>A term added to the actor loss (RO2O's policy smoothness); none for SAC.</summary>
    protected virtual Tensor? ActorRegularizer(TransitionBatch b) => null;

    /// <summary>A term added to the critic loss (CQL's conservative penalty); none for SAC.</summary>
    protected virtual Tensor? CriticRegularizer(TransitionBatch b, Tensor qData) => null;

    protected override void ActCore(Tensor s, Span<float> action, bool deterministic)
    {
        var a = deterministic ? PolicyOutput(s) : PolicyOf(s).RSample(Rng).Action;
        a.Data.AsSpan(0, ActionDim).CopyTo(action);
    }

    protected internal override Tensor PolicyOutput(Tensor s) => Networks.Policy(_actor, s, ActionDim).Mode();

    protected override IEnumerable<(string, Module)> Modules() => _logStdAffine is null
        ? [("actor", _actor), ("critic", _critic), ("critic_target", _criticTarget), ("temperature", _temperature)]
        : [("actor", _actor), ("log_std_affine", _logStdAffine), ("critic", _critic), ("critic_target", _criticTarget), ("temperature", _temperature)];
}

/// <summary>Soft Actor-Critic (Haarnoja et al. 2018), online.</summary>
public sealed class Sac(int obs, Space actionSpace, SacConfig? config = null, ulong seed = 0)
    : Sac<SacConfig>(obs, actionSpace, config ?? new SacConfig(), seed), IAlgorithmFamily
{
    public static IReadOnlyList<AlgorithmSpec> Algorithms =>
    [
        AlgorithmSpec.Of("sac", LearningMode.Online, ActionKind.Continuous, "Soft actor-critic with automatic temperature (Haarnoja et al. 2018)",
            new SacConfig(), (obs, space, c, seed) => new Sac(obs, space, c, seed)),
    ];
}
