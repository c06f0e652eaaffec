using OffRL.Data;
using OffRL.Nn;
using OffRL.Tensors;

namespace OffRL.Algorithms;

/// <summary>
/// CQL hyperparameters (Kumar et al. 2020, "Conservative Q-Learning for Offline RL"; locomotion: 3x256 critics,
/// 10 sampled actions, alpha 5; with <see cref="Lagrange"/>, alpha is tuned so the penalty gap stays at <see cref="TargetActionGap"/>).
/// </summary>
public sealed record CqlConfig(
    int[]? Hidden = null, double ActorLr = 1e-4, double CriticLr = 3e-4, float Gamma = 0.99f, float Tau = 0.005f,
    float CqlAlpha = 5f, int SampledActions = 10, bool Lagrange = false, float TargetActionGap = 10f, double AlphaPrimeLr = 3e-4,
    int BatchSize = 256, bool NormalizeObservations = true)
{
    [System.Text.Json.Serialization.JsonIgnore] public int[] HiddenSizes => Hidden ?? [256, 256, 256];
}

/// <summary>CQL(H) on top of SAC: the critic also minimizes log-sum-exp of Q over sampled actions minus Q on dataset actions.</summary>
public sealed class Cql : Sac
{
    private readonly Tensor _logAlphaPrime = Tensor.Parameter(new Shape(1), "log_alpha_prime");
    private readonly Adam? _alphaPrimeOpt;
    private Tensor? _sRep;
    public CqlConfig Cfg { get; }
    public override string Name => "cql";

    public Cql(int obs, Space actionSpace, CqlConfig? config = null, ulong seed = 0)
        : base(obs, actionSpace, ToSac(config ??= new CqlConfig()), seed)
    {
        Cfg = config;
        if (config.Lagrange) _alphaPrimeOpt = Optim("alpha_prime", new Adam([_logAlphaPrime], config.AlphaPrimeLr));
    }

    private static SacConfig ToSac(CqlConfig c) => new(c.HiddenSizes, c.ActorLr, c.CriticLr, 3e-4, c.Gamma, c.Tau, BatchSize: c.BatchSize);

    /// <summary>CQL(H) (eq. 4) with importance-sampled log-sum-exp: actions ~ U(-1, 1) and ~ pi(.|s), N of each.</summary>
    protected override Tensor? CriticRegularizer(TransitionBatch b, Tensor qData)
    {
        int bs = b.Size, n = Cfg.SampledActions, od = ObservationDim, act = ActionDim;
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
        if (!Cfg.Lagrange) return gap * Cfg.CqlAlpha;
        // Lagrange variant (eq. 30): alpha' >= 0 grows while the gap exceeds tau
        float alphaPrime = Math.Clamp(MathF.Exp(_logAlphaPrime.Data[0]), 0f, 1e6f);
        _alphaPrimeOpt!.ZeroGrad();
        var alphaLoss = (_logAlphaPrime.Exp() * (gap.Item() - 2 * Cfg.TargetActionGap)).Sum().Neg();
        alphaLoss.Backward();
        _alphaPrimeOpt.Step();
        Record("alpha_prime", alphaPrime);
        return (gap - 2 * Cfg.TargetActionGap) * alphaPrime;
    }
}
