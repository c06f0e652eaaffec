using OffRL.Data;
using OffRL.Nn;
using OffRL.Tensors;

namespace OffRL.Algorithms;

/// <summary>
/// SAC hyperparameters (Haarnoja et al. 2018, "Soft Actor-Critic Algorithms and Applications", table 1: learning rates
/// 3e-4, 2 x 256, batch 256, tau 0.005, gamma 0.99, target entropy -|A|). Observations are not normalized online.
/// </summary>
public record SacConfig : TdConfig
{
    public SacConfig() => NormalizeObservations = false;

    [FieldRange("(0, 1]")]
    public double ActorLr { get; init; } = 3e-4;
    [FieldRange("(0, 1]")]
    public double CriticLr { get; init; } = 3e-4;
    /// <summary>Learning rate of the temperature log alpha.</summary>
    [FieldRange("(0, 1]")]
    public double AlphaLr { get; init; } = 3e-4;
    /// <summary>Temperature alpha at the start (> 0).</summary>
    [FieldRange("(0, inf)")]
    public float InitialAlpha { get; init; } = 1f;
    /// <summary>Entropy the temperature is tuned towards; null: -|A|.</summary>
    public float? TargetEntropy { get; init; }
    /// <summary>Subtract alpha log pi(a'|s') in the TD target (SAC's soft backup, eq. 3); CQL turns it off.</summary>
    public bool BackupEntropy { get; init; } = true;
}

/// <summary>Soft Actor-Critic with automatic temperature: twin Q, tanh-Gaussian policy, Polyak targets.</summary>
public class Sac : Agent, IAlgorithmFamily
{
    public static IReadOnlyList<AlgorithmSpec> Algorithms =>
    [
        AlgorithmSpec.Of("sac", LearningMode.Online, ActionKind.Continuous, "Soft actor-critic with automatic temperature (Haarnoja et al. 2018)",
            new SacConfig(), (obs, space, c, seed) => new Sac(obs, space, c, seed)),
    ];

    private readonly Mlp _actor;
    private readonly EnsembleMlp _critic, _criticTarget;
    protected Mlp Actor => _actor;
    protected EnsembleMlp Critic => _critic;
    private readonly ParameterModule _temperature = new("log_alpha", new Shape(1));
    private Tensor LogAlpha => _temperature.Value;
    private readonly Adam _actorOpt, _criticOpt, _alphaOpt;
    private readonly float _targetEntropy;
    public new SacConfig Config => (SacConfig)base.Config;
    public override string Name => "sac";
    public float Alpha => MathF.Exp(LogAlpha.Data[0]);

    public Sac(int obs, Space actionSpace, SacConfig? config = null, ulong seed = 0) : base(obs, actionSpace, config ?? new SacConfig(), seed)
    {
        int act = actionSpace.Width;
        _actor = new Mlp(new MlpConfig(obs, Config.Hidden, 2 * act), Rng);
        _critic = Networks.Critic(obs, act, Config.Hidden, Rng);
        _criticTarget = Networks.Target(_critic, () => Networks.Critic(obs, act, Config.Hidden, new Rng(0)));
        LogAlpha.Data[0] = MathF.Log(Config.InitialAlpha);
        _targetEntropy = Config.TargetEntropy ?? -act;   // heuristic target entropy -|A|
        _actorOpt = Optim("actor", new Adam(_actor.Parameters(), Config.ActorLr));
        _criticOpt = Optim("critic", new Adam(_critic.Parameters(), Config.CriticLr));
        _alphaOpt = Optim("alpha", new Adam([LogAlpha], Config.AlphaLr));
    }

    protected override void UpdateCore(TransitionBatch b)
    {
        int act = ActionDim;
        float alpha = Alpha;
        // Soft Bellman target (eq. 3): y = r + gamma (1 - d) (min Q'(s', a') - alpha log pi(a'|s')), a' ~ pi(.|s');
        // without backup_entropy the entropy term is left out (CQL's deterministic backup)
        Tensor y;
        using (Tensor.NoGrad())
        {
            var (a2, logp2) = Networks.Policy(_actor, b.NextT, act).RSample(Rng);
            var next = Networks.MinQ(Networks.Q(_criticTarget, b.NextT, a2));
            y = b.RewT + b.DiscountT * (Config.BackupEntropy ? next - logp2 * alpha : next);
        }
        // Critic loss (eq. 5): sum over both Q of the mean squared Bellman error
        _criticOpt.ZeroGrad();
        var qData = Networks.Q(_critic, b.ObsT, b.ActT);
        var criticLoss = (qData - y).Square().Mean() * 2f;
        if (CriticRegularizer(b, qData) is { } extra) criticLoss = criticLoss + extra;
        criticLoss.Backward();
        _criticOpt.Step();
        Record("critic_loss", criticLoss);

        // Policy loss (eq. 7): E[alpha log pi(a|s) - min Q(s, a)], a reparameterized; the critic is frozen here
        _critic.SetRequiresGrad(false);
        _actorOpt.ZeroGrad();
        var pi = Networks.Policy(_actor, b.ObsT, act);
        var (a, logp) = pi.RSample(Rng);
        var actorLoss = (logp * alpha - (ActorObjective(b, pi) ?? Networks.MinQ(Networks.Q(_critic, b.ObsT, a)))).Mean();
        actorLoss.Backward();
        _actorOpt.Step();
        _critic.SetRequiresGrad(true);
        Record("actor_loss", actorLoss);

        // Temperature loss (eq. 18): -log alpha * (log pi + target entropy)
        _alphaOpt.ZeroGrad();
        var alphaLoss = (LogAlpha * (logp.Detach() + _targetEntropy)).Mean().Neg();
        alphaLoss.Backward();
        _alphaOpt.Step();
        Record("alpha", Alpha);
        Record("entropy", -logp.Mean().Item());

        Polyak.Update(_criticTarget, _critic, Config.Tau);
    }

    /// <summary>What the actor maximizes instead of min Q(s, a~pi) (CQL's behavior-cloning warm-up); null: min Q, as SAC.</summary>
    protected virtual Tensor? ActorObjective(TransitionBatch b, TanhGaussian pi) => null;

    /// <summary>A term added to the critic loss (CQL's conservative penalty); none for SAC.</summary>
    protected virtual Tensor? CriticRegularizer(TransitionBatch b, Tensor qData) => null;

    protected override void ActCore(Tensor s, Span<float> action, bool deterministic)
    {
        var a = deterministic ? PolicyOutput(s) : Networks.Policy(_actor, s, ActionDim).RSample(Rng).Action;
        a.Data.AsSpan(0, ActionDim).CopyTo(action);
    }

    protected internal override Tensor PolicyOutput(Tensor s) => Networks.Policy(_actor, s, ActionDim).Mode();

    protected override IEnumerable<(string, Module)> Modules() => [("actor", _actor), ("critic", _critic), ("critic_target", _criticTarget), ("temperature", _temperature)];
}
