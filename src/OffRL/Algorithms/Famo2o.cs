using OffRL.Data;
using OffRL.Nn;
using OffRL.Tensors;

namespace OffRL.Algorithms;

/// <summary>
/// FamO2O on IQL (Wang et al. 2023, "Train Once, Get a Family: State-Adaptive Balances for Offline-to-Online
/// Reinforcement Learning", NeurIPS): one universal policy pi_u(a | s, beta) for every balance coefficient beta (IQL's
/// inverse temperature: policy improvement against constraint to the data), and a balance model pi_b(beta | s) that
/// picks beta per state. Defaults from the authors' code (github.com/LeapLabTHU/FamO2O @ea9cb01, jax_iql): beta in
/// (1, 5) (FamilyIQLLearner's default, family_learner.py L86; their AntMaze config uses (8, 14) with expectile 0.9 and
/// rewards - 1), beta embedded as [sin(beta / n^(2i/d)), cos(beta / n^(2i/d))] with n = 10 000, d = 6 (family_utils.py
/// L16-49); the balance model a tanh-Gaussian with a state-independent log std in [-10, 2] (L119-123), its Adam at
/// the actor's 3e-4 (L132), its entropy temperature from 1 toward entropy -0.5 at 3e-4 (family_temperature.py,
/// L102-105, L143-145). The rest is IQL's (<see cref="IqlConfig"/>: expectile 0.7, the locomotion setting).
/// Where OffRL's IQL differs from the authors' learner: the critic's target reads V(s') from before this update's value
/// step (CORL's order; the authors' after it).
/// </summary>
public sealed record Famo2oConfig : IqlConfig
{
    /// <summary>The balance coefficients the universal policy learns (offline: beta ~ U[beta_min, beta_max) per row).</summary>
    [FieldRange("[0, 1000]")]
    public float BetaMin { get; init; } = 1f;
    [FieldRange("[0, 1000]")]
    public float BetaMax { get; init; } = 5f;
    /// <summary>n of the sinusoidal embedding of beta (frequencies n^(-2i/d)).</summary>
    [FieldRange("(1, 1e9]")]
    public float EmbeddingBase { get; init; } = 10_000f;
    /// <summary>d: values of the embedding the universal policy reads after the observation (even).</summary>
    [FieldRange("[2, 256]")]
    public int EmbeddingDim { get; init; } = 6;
    [FieldRange("(0, 1]")]
    public double BalanceLr { get; init; } = 3e-4;
    [FieldRange("(0, 1]")]
    public double BalanceTemperatureLr { get; init; } = 3e-4;
    /// <summary>The balance model's entropy temperature alpha_b at the start.</summary>
    [FieldRange("(0, 1e6]")]
    public float BalanceInitialTemperature { get; init; } = 1f;
    /// <summary>The entropy the balance model's temperature steers to (the authors' target_entropy None: -0.5).</summary>
    public float BalanceTargetEntropy { get; init; } = -0.5f;
    /// <summary>Lower clamp of the balance model's log std (the upper is 2).</summary>
    [FieldRange("[-100, 2)")]
    public float BalanceLogStdMin { get; init; } = -10f;

    public override void Validate()
    {
        base.Validate();
        if (BetaMax <= BetaMin)
            throw new ArgumentException($"config: field 'beta_max' of {GetType().Name} is {BetaMax}, not above beta_min {BetaMin}");
        if (EmbeddingDim % 2 != 0)
            throw new ArgumentException($"config: field 'embedding_dim' of {GetType().Name} is {EmbeddingDim}; the embedding pairs a sine with a cosine, so it must be even");
        if (Beta != new IqlConfig().Beta)
            throw new ArgumentException($"config: field 'beta' of {GetType().Name} is {Beta}, but FamO2O's balance model chooses beta per state; set beta_min and beta_max");
    }
}

/// <summary>FamO2O on IQL: IQL's value and critics, a universal policy conditioned on beta, and the balance model.</summary>
public sealed class Famo2o : Iql<Famo2oConfig>, IAlgorithmFamily
{
    public static IReadOnlyList<AlgorithmSpec> Algorithms =>
    [
        AlgorithmSpec.Of("famo2o", LearningMode.Offline, ActionKind.Continuous,
            "FamO2O on IQL: a universal policy for every balance coefficient and a balance model choosing it per state (Wang et al. 2023)",
            new Famo2oConfig(), (obs, space, c, seed) => new Famo2o(obs, space, c, seed)),
    ];

    private readonly GaussianMeanPolicy _balance;
    private readonly ParameterModule _temperature = new("log_alpha", new Shape(1));
    private readonly Adam _balanceOpt, _temperatureOpt;
    private readonly Tensor _frequencies, _phases;   // [1, d]: emb(beta) = sin(beta * frequency + phase)
    private bool _online;

    public Famo2o(int obs, Space actionSpace, Famo2oConfig? config = null, ulong seed = 0) : base(obs, actionSpace, config ?? new Famo2oConfig(), seed)
    {
        _balance = new GaussianMeanPolicy(obs, Config.Hidden, 1, Rng, tanhMean: false, logStdMin: Config.BalanceLogStdMin, logStdMax: 2f);
        _temperature.Value.Data[0] = MathF.Log(Config.BalanceInitialTemperature);
        _balanceOpt = Optim("balance", new Adam(_balance.Parameters(), Config.BalanceLr));
        _temperatureOpt = Optim("balance_temperature", new Adam([_temperature.Value], Config.BalanceTemperatureLr));
        int d = Config.EmbeddingDim;
        (_frequencies, _phases) = (Tensor.Zeros(1, d), Tensor.Zeros(1, d));
        for (int i = 0; i < d / 2; i++)
        {
            float f = MathF.Pow(Config.EmbeddingBase, -2f * i / d);
            (_frequencies.Data[2 * i], _frequencies.Data[2 * i + 1]) = (f, f);
            _phases.Data[2 * i + 1] = MathF.PI / 2;   // cos x = sin(x + pi/2)
        }
    }

    protected override int PolicyConditionWidth => Config.EmbeddingDim;

    /// <summary>The universal policy reads [s, emb(beta)]: a stacked history, not a GRU's (which reads the observations alone).</summary>
    protected override bool BuildsHistoryEncoders => false;

    /// <summary>From the switch on, the universal policy learns at the balance model's beta instead of uniform ones.</summary>
    public override void StartOnline(OnlinePhase phase) => _online = true;

    /// <summary>The sinusoidal embedding [B, d] of beta [B, 1] (family_utils.py's sin_cos_skill_func).</summary>
    public Tensor Embed(Tensor beta) => (beta * _frequencies + _phases).Sin();

    /// <summary>beta = beta_min + (u + 1) / 2 (beta_max - beta_min) of the balance model's u in (-1, 1).</summary>
    private Tensor BetaOf(Tensor u) => (u + 1f) * (0.5f * (Config.BetaMax - Config.BetaMin)) + Config.BetaMin;

    /// <summary>The balance model as it acts: beta of tanh(mean) [B, 1].</summary>
    public Tensor Balance(Tensor s) => BetaOf(_balance.Mean(s).Tanh());

    /// <summary>The universal policy's deterministic action at a chosen beta [B, 1]: one member of the family, pi_u(s, beta).</summary>
    public Tensor PolicyAt(Tensor s, Tensor beta) => Actor.Mean(Tensor.Concat(1, s, Embed(beta)));

    private TanhGaussian BalanceOf(Tensor s) => new(_balance.Mean(s), _balance.ClampedLogStd());

    protected override Tensor ActingInput(Tensor s) => Tensor.Concat(1, s, Embed(Balance(s)));

    /// <summary>The universal policy's step (eq. 7 of IQL at beta per row): exp(beta (Q'(s, a) - V(s))) clipped, of -log pi_u(a | s, emb(beta)).</summary>
    protected override (Tensor Input, Tensor? Beta) PolicyStepInputs(TransitionBatch b)
    {
        var s = b.ObsT;
        // The universal policy's beta: offline uniform over the range, online a draw of the balance model before its step
        var beta = Tensor.Temp(new Shape(b.Size, 1));
        if (_online)
            using (Tensor.NoGrad()) BetaOf(BalanceOf(s).RSample(Rng).Action).Data.AsSpan(0, b.Size).CopyTo(beta.Data);
        else
            for (int i = 0; i < b.Size; i++) beta.Data[i] = Rng.Uniform(Config.BetaMin, Config.BetaMax);
        BalanceStep(s);
        return (Tensor.Concat(1, s, Embed(beta)), beta);
    }

    /// <summary>
    /// The balance model (every update, both phases): maximize min Q'(s, a), a ~ pi_u(. | s, emb(beta)), beta ~ pi_b(. | s),
    /// with entropy: L_b = mean(alpha_b log pi_b(u | s) - Q'(s, a)) through the universal policy (its step zeroes what
    /// reaches it); then alpha_b's step on alpha_b (H - H_target), H = -mean log pi_b.
    /// </summary>
    private void BalanceStep(Tensor s)
    {
        _balanceOpt.ZeroGrad();
        var (u, logPb) = BalanceOf(s).RSample(Rng);
        var beta = BetaOf(u);
        var eps = Tensor.Temp(new Shape(s.Shape[0], ActionDim));
        Rng.FillNormal(eps.Data);
        var a = Actor.RSample(Tensor.Concat(1, s, Embed(beta)), eps);
        var q = Networks.MinQ(Networks.Q(CriticTarget, s, a));
        float alpha = MathF.Exp(_temperature.Value.Data[0]);
        var balanceLoss = (logPb * alpha - q).Mean();
        balanceLoss.Backward();
        _balanceOpt.Step();

        _temperatureOpt.ZeroGrad();
        Sac<SacConfig>.TemperatureLossOnAlpha(_temperature.Value, logPb, Config.BalanceTargetEntropy).Backward();
        _temperatureOpt.Step();
        Record("balance_loss", balanceLoss.Item());
        Record("balance_entropy", -logPb.Mean().Item());
        Record("balance_alpha", alpha);
        Record("beta", beta.Mean().Item());
    }

    protected override IEnumerable<(string, Module)> Modules() => [.. base.Modules(), ("balance", _balance), ("balance_temperature", _temperature)];
}
