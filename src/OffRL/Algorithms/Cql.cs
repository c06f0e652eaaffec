using OffRL.Data;
using OffRL.Nn;
using OffRL.Tensors;

namespace OffRL.Algorithms;

/// <summary>
/// CQL hyperparameters (Kumar et al. 2020, "Conservative Q-Learning for Offline RL"; locomotion: 3 x 256 networks,
/// actor learning rate 1e-4, 10 sampled actions, alpha 5; with <see cref="Lagrange"/>, alpha' is tuned so the penalty
/// gap stays at <see cref="TargetActionGap"/>). The SAC fields (temperature, critic learning rate) are inherited.
/// </summary>
public sealed record CqlConfig : SacConfig
{
    public CqlConfig()
    {
        Hidden = [256, 256, 256];
        ActorLr = 1e-4;
        NormalizeObservations = true;
    }

    /// <summary>Weight alpha of the conservative penalty (eq. 4).</summary>
    public float CqlAlpha { get; init; } = 5f;
    /// <summary>Actions sampled per state and per set (uniform, policy) for the log-sum-exp.</summary>
    public int SampledActions { get; init; } = 10;
    /// <summary>Tune alpha' by dual gradient descent (eq. 30) instead of a fixed weight.</summary>
    public bool Lagrange { get; init; } = false;
    /// <summary>Threshold tau of the Lagrange variant.</summary>
    public float TargetActionGap { get; init; } = 10f;
    public double AlphaPrimeLr { get; init; } = 3e-4;

    public override void Validate()
    {
        base.Validate();
        if (SampledActions < 1) throw new ArgumentException($"config: sampled_actions must be at least 1, got {SampledActions}");
    }
}

/// <summary>CQL(H) on top of SAC: the critic also minimizes log-sum-exp of Q over sampled actions minus Q on dataset actions.</summary>
public sealed class Cql : Sac, IAlgorithmFamily
{
    public static new IReadOnlyList<AlgorithmSpec> Algorithms =>
    [
        AlgorithmSpec.Of("cql", LearningMode.Offline, ActionKind.Continuous, "Conservative Q-learning, CQL(H) on SAC (Kumar et al. 2020)",
            new CqlConfig(), (obs, space, c, seed) => new Cql(obs, space, c, seed)),
    ];

    private readonly ParameterModule _alphaPrime = new("log_alpha_prime", new Shape(1));
    private Tensor LogAlphaPrime => _alphaPrime.Value;
    private readonly Adam? _alphaPrimeOpt;
    private Tensor? _sRep;
    public new CqlConfig Config => (CqlConfig)base.Config;
    public override string Name => "cql";

    public Cql(int obs, Space actionSpace, CqlConfig? config = null, ulong seed = 0) : base(obs, actionSpace, config ?? new CqlConfig(), seed)
    {
        if (Config.Lagrange) _alphaPrimeOpt = Optim("alpha_prime", new Adam([LogAlphaPrime], Config.AlphaPrimeLr));
    }

    /// <summary>CQL(H) (eq. 4) with importance-sampled log-sum-exp: actions ~ U(-1, 1) and ~ pi(.|s), N of each.</summary>
    protected override Tensor? CriticRegularizer(TransitionBatch b, Tensor qData)
    {
        int bs = b.Size, n = Config.SampledActions, od = ObservationDim, act = ActionDim;
        if (_sRep is null || _sRep.Shape[0] != bs * n) _sRep = Tensor.Zeros(bs * n, od);
        for (int i = 0; i < bs; i++)
            for (int k = 0; k < n; k++) Array.Copy(b.Obs, i * od, _sRep.Data, (i * n + k) * od, od);
        var aRand = Tensor.Temp(new Shape(bs * n, act));
        Rng.FillUniform(aRand.Data, -1f, 1f);
        Tensor aPi, logPi;
        using (Tensor.NoGrad()) (aPi, logPi) = Networks.Policy(Actor, _sRep, act).RSample(Rng);
        var qRand = Networks.Q(Critic, _sRep, aRand);     // [2, B*N, 1]
        var qPi = Networks.Q(Critic, _sRep, aPi);
        float logUniform = act * MathF.Log(0.5f);         // density of U(-1, 1)^act
        var lp = logPi.Reshape(bs, n);
        Tensor gap = Tensor.Scalar(0f);
        for (int m = 0; m < 2; m++)
        {
            var cat = Tensor.Concat(1, qRand.Slice(0, m, 1).Reshape(bs, n) - logUniform, qPi.Slice(0, m, 1).Reshape(bs, n) - lp);
            gap = gap + (cat.LogSumExp(1).Mean() - qData.Slice(0, m, 1).Mean());
        }
        Record("cql_gap", gap.Item() / 2);
        if (!Config.Lagrange) return gap * Config.CqlAlpha;
        // Lagrange variant (eq. 30): alpha' >= 0 grows while the gap exceeds tau
        float alphaPrime = Math.Clamp(MathF.Exp(LogAlphaPrime.Data[0]), 0f, 1e6f);
        _alphaPrimeOpt!.ZeroGrad();
        var alphaLoss = (LogAlphaPrime.Exp() * (gap.Item() - 2 * Config.TargetActionGap)).Sum().Neg();
        alphaLoss.Backward();
        _alphaPrimeOpt.Step();
        Record("alpha_prime", alphaPrime);
        return (gap - 2 * Config.TargetActionGap) * alphaPrime;
    }

    /// <summary>SAC's modules, and with the Lagrange variant its log alpha-prime (so a resumed run keeps the tuned weight).</summary>
    protected override IEnumerable<(string, Module)> Modules() => Config.Lagrange ? [.. base.Modules(), ("alpha_prime", _alphaPrime)] : base.Modules();
}
