using OffRL.Data;
using OffRL.Nn;
using OffRL.Tensors;

namespace OffRL.Algorithms;

/// <summary>
/// HNPG hyperparameters (Zhou, Sekhari, Song and Sun 2024, "Offline Data Enhanced On-Policy Policy Gradient with
/// Provable Guarantees"), as the authors' code runs them (github.com/YifeiZhou02/HNPG @7d7ace1, trpo.py, models.py,
/// utils.py): 1000 on-policy steps per iteration; a Q(s, a) critic of 64-64 tanh, its head scaled 0.1, refitted each
/// iteration by a fresh Adam 3e-4 for 30 full-batch steps on the on-policy returns and, as many rows, the offline data's
/// one-sample fitted-Q targets, equally weighted; V(s) the mean of Q over 10 of the policy's actions; GAE lambda 0.97;
/// TRPO's step on the on-policy and offline states together (max KL 0.01, damping 0.1, 10 conjugate-gradient
/// iterations, 10 backtracks accepting an improvement of at least 0.1 of the predicted); a 16-16 tanh Gaussian policy
/// with a state-independent log std. Where OffRL differs: the authors' comblock is finite-horizon with one network per
/// step and gamma 1; here one stationary policy and critic, gamma 0.99, the returns bootstrapped with V where a rollout
/// cuts an episode, the critic's offline targets from the critic before the refit; Q reads the action the environment
/// got (clipped to [-1, 1]). The dataset's reward fields transform the rollouts' rewards as well: with returns far from
/// the comblock's [0, 1] (pendulum's -1000s), reward_scale brings them where 30 steps of Adam 3e-4 can fit the critic.
/// </summary>
public sealed record HnpgConfig : OnPolicyConfig
{
    public HnpgConfig()
    {
        NumEnvs = 1;
        NumSteps = 1000;
        GaeLambda = 0.97f;
        Hidden = [16, 16];
    }

    /// <summary>The Q critic's hidden widths (64-64 tanh).</summary>
    [FieldRange("[1, 16384]")]
    public int[] CriticHidden { get; init; } = [64, 64];
    /// <summary>The critic's Adam rate (3e-4; a fresh optimizer each iteration).</summary>
    [FieldRange("(0, 1]")]
    public double CriticLr { get; init; } = 3e-4;
    /// <summary>Full-batch critic steps per iteration (30).</summary>
    [FieldRange("[1, 100000]")]
    public int CriticSteps { get; init; } = 30;
    /// <summary>Policy actions averaged for V(s) = E_a~pi Q(s, a) (10).</summary>
    [FieldRange("[1, 1000]")]
    public int ValueSamples { get; init; } = 10;
    /// <summary>Offline rows per on-policy row in the critic fit and the policy step (1: the authors' even mix); 0: TRPO on the rollouts alone (their HYBRID = False).</summary>
    [FieldRange("[0, 100]")]
    public float OfflineRatio { get; init; } = 1f;
    /// <summary>TRPO's KL bound on each step, delta (max_kl 0.01).</summary>
    [FieldRange("(0, inf)")]
    public float MaxKl { get; init; } = 0.01f;
    /// <summary>Added to the Fisher matrix's diagonal (damping 0.1).</summary>
    [FieldRange("[0, inf)")]
    public float Damping { get; init; } = 0.1f;
    /// <summary>Conjugate-gradient iterations for the natural direction (10).</summary>
    [FieldRange("[1, 1000]")]
    public int CgIterations { get; init; } = 10;
    /// <summary>Halvings the line search tries before it keeps the policy (10).</summary>
    [FieldRange("[1, 100]")]
    public int Backtracks { get; init; } = 10;
    /// <summary>The least improvement the line search accepts, as a share of the linear prediction (0.1).</summary>
    [FieldRange("(0, 1]")]
    public float AcceptRatio { get; init; } = 0.1f;

    /// <summary>The dataset's reward fields (reward_scale, reward_normalization, ...) transform the rollouts' rewards too.</summary>
    protected override bool LearnsFromDataset => true;

    public override void Validate()
    {
        base.Validate();
        if (NormalizeObservations || NormalizeRewards)
            throw new ArgumentException($"config: {nameof(HnpgConfig)} learns from the dataset's rows as they are beside its rollouts; running normalization (normalize_observations, normalize_rewards) would put the two on different scales");
    }
}

/// <summary>
/// Hybrid Natural Policy Gradient (Zhou et al. 2024, Algorithm 2, the parameterized HAC): each iteration the critic is
/// fitted on both sources (hybrid fitted policy evaluation): min_Q E_on[(Q(s, a) - G)^2] + E_off[(Q(s, a) - (r +
/// gamma Q(s', a')))^2], a' ~ pi, G the rollout's return; then one natural-gradient (TRPO) step on the surrogate
/// E[A(s, a) pi_theta(a|s) / pi_old(a|s)] over the rollout's states (A by GAE with V(s) = E_a~pi Q(s, a)) and the
/// offline states with actions drawn from pi (A = Q(s, a) - V(s)), so the offline data shape both the critic and where
/// the policy improves.
/// </summary>
public sealed class Hnpg : PolicyGradient<HnpgConfig>, IAlgorithmFamily
{
    public static IReadOnlyList<AlgorithmSpec> Algorithms =>
    [
        AlgorithmSpec.Of("hnpg", LearningMode.Hybrid, ActionKind.Continuous, "Natural policy gradient with a critic fitted on offline and on-policy data (Zhou et al. 2024)",
            new HnpgConfig(), (obs, space, c, seed) => new Hnpg(obs, space, c, seed)),
    ];

    private readonly Mlp _q;
    private readonly NaturalGradient _npg;
    private Dataset? _data;
    private float[] _obs = [], _act = [], _adv = [], _oldLogp = [], _oldHead = [];

    public Hnpg(int obs, Space actionSpace, HnpgConfig? config = null, ulong seed = 0) : base(obs, actionSpace, config ?? new HnpgConfig(), seed)
    {
        _q = new Mlp(new MlpConfig(obs + actionSpace.Width, Config.CriticHidden, 1, Activation.Tanh), Rng);
        var head = _q.Layers[^1];
        for (int i = 0; i < head.Weight.Size; i++) head.Weight.Data[i] *= 0.1f;   // the authors' head: weights x 0.1, bias 0
        Array.Clear(head.Bias!.Data);
        _npg = new NaturalGradient(PolicyParameters)
        {
            MaxKl = Config.MaxKl, Damping = Config.Damping, CgIterations = Config.CgIterations, Backtracks = Config.Backtracks, AcceptRatio = Config.AcceptRatio,
        };
    }

    public override void UseDataset(Dataset prepared) => _data = prepared;

    /// <summary>V(s) = mean over value_samples actions a ~ pi(.|s) of Q(s, a).</summary>
    public override void Value(ReadOnlySpan<float> observations, int n, Span<float> values)
    {
        using var scope = TensorScope.Begin();
        using var noGrad = Tensor.NoGrad();
        var s = Tensor.Temp(new Shape(n, ObservationDim));
        observations.CopyTo(s.Data);
        StateValue(s).Data.AsSpan(0, n).CopyTo(values);
    }

    private Tensor StateValue(Tensor s)
    {
        int k = Config.ValueSamples, n = s.Shape[0];
        var many = s.RepeatInterleave(k);
        return Q(many, Draw(Head(many))).Reshape(new Shape(n, k)).Mean(1, keepDim: true);
    }

    /// <summary>Actions drawn from the Gaussian whose means are <paramref name="head"/> (no gradient).</summary>
    private Tensor Draw(Tensor head)
    {
        var a = Tensor.Temp(head.Shape);
        var logStd = LogStd!.Value.Data;
        for (int i = 0; i < a.Size; i++) a.Data[i] = head.Data[i] + MathF.Exp(logStd[i % Outputs]) * Rng.Normal();
        return a;
    }

    /// <summary>Q(s, a) at the action the environment gets, clip(a, -1, 1).</summary>
    private Tensor Q(Tensor s, Tensor a) => _q.Forward(Tensor.Concat(s, a.Clamp(-1f, 1f), -1));

    public override void Learn(RolloutBuffer r, int iteration, int iterations, Rng shuffle)
    {
        int on = r.Rows, od = ObservationDim, aw = Outputs;
        int off = _data is null ? 0 : (int)Math.Round(Config.OfflineRatio * on);
        if (Config.OfflineRatio > 0 && _data is null)
            throw new InvalidOperationException($"{Name}: no offline data (train with --dataset, or set offline_ratio: 0 for TRPO on the rollouts alone)");
        int n = on + off;
        if (_obs.Length != n * od)
        {
            (_obs, _act, _adv, _oldLogp, _oldHead) = (new float[n * od], new float[n * aw], new float[n], new float[n], new float[n * aw]);
        }
        Array.Copy(r.Observations, _obs, on * od);
        Array.Copy(r.Actions, _act, on * aw);
        // uniform draws, with replacement, from the trainer's generator
        var offline = off > 0 ? new UniformSampler(_data!, off, shuffle, Config.Gamma).Sample() : null;
        using (TensorScope.Begin())
        {
            FitCritic(r, offline);
            Advantages(r, offline);
        }
        PolicyStep(n);
        Updates++;
        Record("explained_variance", r.ExplainedVariance());
    }

    /// <summary>
    /// Hybrid fitted policy evaluation: the returns G of the rollout (lambda 1, bootstrapped by V where it ends) and the
    /// offline targets r + gamma (1 - d) Q(s', a'), a' ~ pi, both from the critic before the fit, then critic_steps
    /// full-batch steps of a fresh Adam on the two mean squared errors summed.
    /// </summary>
    private void FitCritic(RolloutBuffer r, TransitionBatch? offline)
    {
        int on = r.Rows, od = ObservationDim, aw = Outputs;
        var onObs = Tensor.FromArray(r.Observations, on, od);
        var onAct = Tensor.FromArray(r.Actions, on, aw);
        Tensor? y = null;
        using (Tensor.NoGrad())
        {
            StateValue(onObs).Data.AsSpan(0, on).CopyTo(r.Values);
            r.ComputeAdvantages(Config.Gamma, 1f);   // G: the discounted return-to-go, V at the rollout's cut
            if (offline is { } b) y = b.RewT + b.DiscountT * Q(b.NextT, Draw(Head(b.NextT)));
        }
        var g = Tensor.FromArray((float[])r.Returns.Clone(), on, 1);
        var opt = new Adam(_q.Parameters(), Config.CriticLr);
        for (int step = 0; step < Config.CriticSteps; step++)
        {
            opt.ZeroGrad();
            var loss = (Q(onObs, onAct) - g).Square().Mean();
            if (offline is { } b) loss = loss + (Q(b.ObsT, b.ActT) - y!).Square().Mean();
            loss.Backward();
            opt.Step();
            if (step == Config.CriticSteps - 1) Record("critic_loss", loss);
        }
    }

    /// <summary>
    /// The advantages of the policy step: the rollout's by GAE with V from the refitted critic; the offline states' at
    /// a fresh action of pi, Q(s, a) - V(s). Also pi_old's head and log-probabilities at every row.
    /// </summary>
    private void Advantages(RolloutBuffer r, TransitionBatch? offline)
    {
        int on = r.Rows, off = offline?.Size ?? 0, od = ObservationDim, aw = Outputs;
        using var noGrad = Tensor.NoGrad();
        var onObs = Tensor.FromArray(r.Observations, on, od);
        StateValue(onObs).Data.AsSpan(0, on).CopyTo(r.Values);
        Value(r.NextObservations, r.Envs, r.NextValues);
        r.ComputeAdvantages(Config.Gamma, Config.GaeLambda);
        r.Advantages.AsSpan(0, on).CopyTo(_adv);
        if (offline is { } b)
        {
            var s = b.ObsT;
            var a = Draw(Head(s));
            var advantage = Q(s, a) - StateValue(s);
            advantage.Data.AsSpan(0, off).CopyTo(_adv.AsSpan(on));
            s.Data.AsSpan(0, off * od).CopyTo(_obs.AsSpan(on * od));
            a.Data.AsSpan(0, off * aw).CopyTo(_act.AsSpan(on * aw));
        }
        int n = on + off;
        var all = Tensor.FromArray(_obs, n, od);
        var head = Head(all);
        head.Data.AsSpan(0, n * aw).CopyTo(_oldHead);
        GaussianLogProb(head, LogStd!.Value, Tensor.FromArray(_act, n, aw)).Data.AsSpan(0, n).CopyTo(_oldLogp);
    }

    /// <summary>One natural-gradient step on -E[A pi(a|s) / pi_old(a|s)] within KL(pi || pi_old) &lt;= max_kl.</summary>
    private void PolicyStep(int n)
    {
        int od = ObservationDim, aw = Outputs;
        var oldLogStd = LogStd!.Value.Clone();
        var obs = Tensor.FromArray(_obs, n, od);
        var act = Tensor.FromArray(_act, n, aw);
        var adv = Tensor.FromArray(_adv, n, 1);
        var oldLogp = Tensor.FromArray(_oldLogp, n, 1);
        var oldHead = Tensor.FromArray(_oldHead, n, aw);
        float taken = _npg.Step(
            () => -(adv * (GaussianLogProb(Head(obs), LogStd.Value, act) - oldLogp).Exp()).Mean(),
            () => KlToOld(Head(obs), oldHead, oldLogStd));
        Record("step_fraction", taken);
        using (TensorScope.Begin())
        using (Tensor.NoGrad())
            Record("kl", KlToOld(Head(obs), oldHead, oldLogStd));
    }

    protected override IEnumerable<(string, Module)> Modules()
    {
        foreach (var m in base.Modules()) yield return m;
        yield return ("q", _q);
    }
}
