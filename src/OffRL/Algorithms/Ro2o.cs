using OffRL.Data;
using OffRL.Nn;
using OffRL.Tensors;

namespace OffRL.Algorithms;

/// <summary>
/// RO2O hyperparameters (Wen et al. 2023, "Towards Robust Offline-to-Online Reinforcement Learning via Uncertainty and
/// Smoothness"; RORL's terms, Yang et al. 2022, applied offline to online): SAC-N with N = 10 critics plus three terms
/// on states perturbed in an L-infinity ball (n uniform draws shared by the batch's states, fresh per term and update):
/// Q smoothness (eq. 4: the worst draw's asymmetric squared change of Q at the dataset action, tau 0.2, weight 1e-4),
/// an OOD penalty (eq. 5: Q at the policy's action on perturbed states pulled toward the detached Q - lambda std over the
/// ensemble, lambda decaying linearly per update), and policy smoothness (eq. 6: the worst draw's symmetric KL between
/// the pre-tanh Gaussians at s and at the perturbed s). Defaults from the authors' code (github.com/BattleWen/RO2O
/// @d066702, algorithms/offline/ro2o_mujoco.py TrainConfig L35-59, equal to its README's walker2d-medium run): SAC-N's
/// networks and order (3 x 256, biases 0.1, heads U(+-1e-3), critics' outputs U(+-3e-3), log std [-5, 2],
/// temperature -> actor -> critics), n 20, every epsilon 0.01 (in standardized-state units: observations are
/// standardized, std + 1e-3), beta_policy 1, beta_ood 0.1, lambda 1 to 0.1 by 5e-7 per update. Online, the released
/// fine-tuning code (ro2o_ft_mujoco.py @26ad528 L411-412, L447-448) drops the three terms (plain SAC-N, warm-started);
/// online_regularizers keeps them with lambda at its minimum, as the README asks.
/// </summary>
public sealed record Ro2oConfig : EdacConfig
{
    public Ro2oConfig()
    {
        Eta = 0f;
        NormalizeObservations = true;
    }

    /// <summary>n: perturbed copies of each state (shared noise draws across the batch).</summary>
    [FieldRange("[1, 1000]")]
    public int SampleSize { get; init; } = 20;
    /// <summary>epsilon_Q, epsilon_P, epsilon_ood: the L-infinity radii of the perturbations of each term.</summary>
    [FieldRange("[0, 100]")]
    public float QSmoothEps { get; init; } = 0.01f;
    [FieldRange("[0, 100]")]
    public float PolicySmoothEps { get; init; } = 0.01f;
    [FieldRange("[0, 100]")]
    public float OodEps { get; init; } = 0.01f;
    /// <summary>eta_1: weight of the Q-smoothness term (hard-coded 1e-4 in ro2o_mujoco.py L462).</summary>
    [FieldRange("[0, 1000]")]
    public float QSmoothCoef { get; init; } = 1e-4f;
    /// <summary>tau of the asymmetric squared change: increases of Q weigh 1 - tau, decreases tau (L457).</summary>
    [FieldRange("[0, 1]")]
    public float QSmoothTau { get; init; } = 0.2f;
    /// <summary>beta_policy: weight of the policy-smoothness term in the actor loss.</summary>
    [FieldRange("[0, 1000]")]
    public float PolicySmoothCoef { get; init; } = 1f;
    /// <summary>beta_ood: weight of the OOD penalty in the critic loss.</summary>
    [FieldRange("[0, 1000]")]
    public float OodCoef { get; init; } = 0.1f;
    /// <summary>lambda at the start, its floor and its decrease per update: max(lambda - t decay, lambda_min).</summary>
    [FieldRange("[0, 1000]")]
    public float OodLambda { get; init; } = 1f;
    [FieldRange("[0, 1000]")]
    public float OodLambdaMin { get; init; } = 0.1f;
    [FieldRange("[0, 1]")]
    public float OodLambdaDecay { get; init; } = 5e-7f;
    /// <summary>Keep the three terms in the online phase (lambda at its minimum; RO2O's README); false: drop them (the released code).</summary>
    public bool OnlineRegularizers { get; init; }

    public override void Validate()
    {
        base.Validate();
        if (OodCoef > 0 && NumCritics < 2)
            throw new ArgumentException($"config: field 'ood_coef' of {GetType().Name} penalizes the std over two or more critics; 'num_critics' is {NumCritics}");
    }
}

/// <summary>RO2O: SAC-N with RORL's smoothness and uncertainty terms on perturbed states (<see cref="Ro2oConfig"/>).</summary>
public sealed class Ro2o : Sac<Ro2oConfig>, IAlgorithmFamily
{
    public static IReadOnlyList<AlgorithmSpec> Algorithms =>
    [
        AlgorithmSpec.Of("ro2o", LearningMode.Offline, ActionKind.Continuous,
            "SAC-N with Q and policy smoothness and an uncertainty penalty on perturbed states, offline then online (Wen et al. 2023)",
            new Ro2oConfig(), (obs, space, c, seed) => new Ro2o(obs, space, c, seed)),
    ];

    private bool _online;

    public Ro2o(int obs, Space actionSpace, Ro2oConfig? config = null, ulong seed = 0) : base(obs, actionSpace, config ?? new Ro2oConfig(), seed) { }

    public override void StartOnline(OnlinePhase phase) => _online = true;

    private bool Regularized => !_online || Config.OnlineRegularizers;

    /// <summary>lambda of this update: max(lambda_0 - t decay, lambda_min) after t updates (its minimum online).</summary>
    public float OodLambdaAt(long updates) =>
        _online ? Config.OodLambdaMin : MathF.Max(Config.OodLambda - updates * Config.OodLambdaDecay, Config.OodLambdaMin);

    /// <summary>Each of the batch's states n times in a row, each copy plus one of n draws from U[-eps, eps]^d shared by every state [B n, d].</summary>
    private Tensor Perturbed(Tensor s, float eps)
    {
        int n = Config.SampleSize;
        var noise = Tensor.Temp(new Shape(n, s.Shape[1]));
        Rng.FillUniform(noise.Data, -eps, eps);
        return s.RepeatInterleave(n) + noise.Tile(s.Shape[0]);
    }

    /// <summary>The critics' terms: Q smoothness (eq. 4) and the OOD penalty (eq. 5), and EDAC's diversity when eta > 0; a term weighed 0 draws nothing.</summary>
    protected override Tensor? CriticRegularizer(TransitionBatch b, Tensor qData)
    {
        Tensor? total = Config.Eta > 0 ? Edac.Diversity(Critic, b.ObsT, b.ActT) * Config.Eta : null;
        if (!Regularized) return total;
        if (Config.QSmoothCoef > 0) total = Add(total, QSmoothness(b, qData));
        if (Config.OodCoef > 0) total = Add(total, OodPenalty(b.ObsT));
        return total;
        static Tensor Add(Tensor? sum, Tensor term) => sum is null ? term : sum + term;
    }

    /// <summary>eta_1 mean over s of max over j of mean over k of (1 - tau) d+^2 + tau d-^2, d = Q_k(s + delta_j, a) - Q_k(s, a), a the dataset's.</summary>
    private Tensor QSmoothness(TransitionBatch b, Tensor qData)
    {
        int n = Config.SampleSize;
        var qHat = Networks.Q(Critic, Perturbed(b.ObsT, Config.QSmoothEps), b.ActT.RepeatInterleave(n)).Reshape(Config.NumCritics, b.Size, n);
        var diff = qHat - qData;
        var asym = diff.Relu().Square() * (1f - Config.QSmoothTau) + diff.Neg().Relu().Square() * Config.QSmoothTau;
        var loss = asym.Mean(0).Max(1).Mean() * Config.QSmoothCoef;
        Record("q_smooth_loss", loss);
        return loss;
    }

    /// <summary>beta_ood times the mean over every entry of (Q_k(s^, a^) - target)^2, target = Q_k - lambda std over k, detached; a^ ~ pi(.|s^).</summary>
    private Tensor OodPenalty(Tensor s)
    {
        var sOod = Perturbed(s, Config.OodEps);
        Tensor aOod;
        using (Tensor.NoGrad()) aOod = PolicyOf(sOod).RSample(Rng).Action;
        var qOod = Networks.Q(Critic, sOod, aOod);
        var pseudo = (qOod - qOod.Std(0, keepDim: true) * OodLambdaAt(Updates)).Detach();
        var loss = (qOod - pseudo).Square().Mean() * Config.OodCoef;
        Record("ood_loss", loss);
        return loss;
    }

    /// <summary>Policy smoothness (eq. 6): beta_policy times the mean over states of the max over draws of KL(P || P^) + KL(P^ || P), pre-tanh Gaussians.</summary>
    protected override Tensor? ActorRegularizer(TransitionBatch b)
    {
        if (!Regularized || Config.PolicySmoothCoef == 0) return null;
        int n = Config.SampleSize;
        var p = PolicyOf(b.ObsT).Base;
        var q = PolicyOf(Perturbed(b.ObsT, Config.PolicySmoothEps)).Base;
        Tensor mu1 = p.Mean.RepeatInterleave(n), ls1 = p.LogStd.RepeatInterleave(n), mu2 = q.Mean, ls2 = q.LogStd;
        var meanGap = (mu1 - mu2).Square();
        Tensor v1 = (ls1 * 2f).Exp(), v2 = (ls2 * 2f).Exp();
        // KL(N1 || N2) + KL(N2 || N1) per dimension: the log terms cancel; (v1 + gap) / (2 v2) + (v2 + gap) / (2 v1) - 1
        var kl = ((v1 + meanGap) / v2 + (v2 + meanGap) / v1) * 0.5f - 1f;
        var smooth = kl.Sum(-1).Reshape(b.Size, n).Max(1).Mean() * Config.PolicySmoothCoef;
        Record("policy_smooth_loss", smooth);
        return smooth;
    }
}
