using OffRL.Data;
using OffRL.Nn;
using OffRL.Tensors;

namespace OffRL.Algorithms;

/// <summary>
/// A2PR hyperparameters (Liu et al. 2024, "Adaptive Advantage-Guided Policy Regularization for Offline Reinforcement
/// Learning", ICML), as the authors' code runs them (github.com/ltlhuuu/A2PR @f92a2a4: A2PR.py, core/network/, utils/config.py):
/// TD3+BC's schedule (alpha 2.5, noise 0.2 clipped at 0.5, actor every 2nd update, learning rates 3e-4, batch 256,
/// standardized states), an actor of 3 x 256, critics and the value of 4 x 256, a VAE of 750-750 with a latent of twice
/// the action width (learning rate 1e-3, torch's Adam default there), mask 0.5 and vae_weight 1 by default
/// (utils/config.py L18-23); alpha, vae_weight, mask and gamma per dataset in the preset.
/// </summary>
public sealed record A2prConfig : Td3BcConfig
{
    public A2prConfig() => Hidden = [256, 256, 256];

    /// <summary>Hidden sizes of the twin critics (core/network/critic.py: 4 x 256).</summary>
    [FieldRange("[1, 16384]")]
    public int[] CriticHidden { get; init; } = [256, 256, 256, 256];
    /// <summary>Hidden sizes of the state value V(s) (core/network/critic.py's Value: 4 x 256).</summary>
    [FieldRange("[1, 16384]")]
    public int[] ValueHidden { get; init; } = [256, 256, 256, 256];
    [FieldRange("(0, 1]")]
    public double ValueLr { get; init; } = 3e-4;
    /// <summary>Hidden sizes of the VAE's encoder and of its decoder (A2PR.py's VAE: 750-750).</summary>
    [FieldRange("[1, 16384]")]
    public int[] VaeHidden { get; init; } = [750, 750];
    /// <summary>Width of the VAE's latent z (null: twice the action width, A2PR.py L73).</summary>
    [FieldRange("[1, 16384]")]
    public int? VaeLatent { get; init; }
    [FieldRange("(0, 1]")]
    public double VaeLr { get; init; } = 1e-3;
    /// <summary>Bounds of the VAE encoder's log-std (A2PR.py L29, as BCQ: [-4, 15]).</summary>
    [FieldRange("[-100, 100]")]
    public float VaeLogStdMin { get; init; } = -4f;
    [FieldRange("[-100, 100]")]
    public float VaeLogStdMax { get; init; } = 15f;
    /// <summary>Weight of the KL term in the VAE loss (A2PR.py L157: 0.5).</summary>
    [FieldRange("[0, 1000000]")]
    public float KlWeight { get; init; } = 0.5f;
    /// <summary>Weight of the VAE's reconstruction of the actions with positive advantage (the authors' vae_weight).</summary>
    [FieldRange("[0, 1000000]")]
    public float VaeWeight { get; init; } = 1f;
    /// <summary>
    /// epsilon_A of the behavior-cloning weight: each of 1[A(s, a_hat) >= 0] and 1[A(s, a) > 0] adds this much (the
    /// authors' mask).
    /// </summary>
    [FieldRange("[0, 1000000]")]
    public float Mask { get; init; } = 0.5f;

    public override void Validate()
    {
        base.Validate();
        if (!(VaeLogStdMin < VaeLogStdMax))
            throw new ArgumentException($"config: field 'vae_log_std_min' of {GetType().Name} is {VaeLogStdMin}, not below vae_log_std_max {VaeLogStdMax}");
    }
}

/// <summary>
/// A2PR: TD3+BC whose actor is pulled towards the better of the dataset's action and a VAE's reconstruction of its own
/// action, by advantage. Alongside the critics it fits a state value V(s) to min(y, r + gamma (1 - d) min_i Q_i(s', a'))
/// (the target critics' and the just-updated critics' targets) and a VAE on the dataset actions whose advantage
/// Q_1(s, a) - V(s) is positive. The actor's target is a_hat = VAE(s, pi(s)) where A(s, a_hat) >= A(s, a), else a;
/// its BC term is weighted by mask (1[A(s, a_hat) >= 0] + 1[A(s, a) > 0]) (section 4, A2PR.py L100-215).
/// </summary>
public sealed class A2pr : Td3<A2prConfig>, IAlgorithmFamily
{
    private const string Common = "hidden: [256, 256, 256], critic_hidden: [256, 256, 256, 256], value_hidden: [256, 256, 256, 256], " +
        "vae_hidden: [750, 750], batch_size: 256, tau: 0.005, policy_noise: 0.2, noise_clip: 0.5, policy_freq: 2, actor_lr: 3e-4, " +
        "critic_lr: 3e-4, value_lr: 3e-4, vae_lr: 1e-3, kl_weight: 0.5, normalize_observations: true, qlearning_rows: true, reward_normalization: none, ";

    /// <summary>A dataset's row of the authors' commands: alpha, vae_weight, mask, discount.</summary>
    private static PresetEntry Row(string dataset, string alpha, string vaeWeight, string mask, string gamma, string line) =>
        new([dataset], Common + $"alpha: {alpha}, vae_weight: {vaeWeight}, mask: {mask}, gamma: {gamma}", line + "; utils/config.py L15-70");

    private static readonly Preset[] Presets =
    [
        new("authors", "Liu et al. (github.com/ltlhuuu/A2PR @f92a2a4; the commands of its README, the full list at @a90b9d0)",
        [
            Row("hopper-medium", "2.5", "1.0", "0.4", "0.995", "README.md L74"),
            Row("hopper-medium-replay", "2.5", "1.5", "0.5", "0.99", "README.md @a90b9d0 L46"),
            Row("hopper-medium-expert", "2.5", "1.0", "4.0", "0.99", "README.md @a90b9d0 L48"),
            Row("halfcheetah-medium", "40.0", "1.0", "1.0", "0.99", "README.md L72"),
            Row("halfcheetah-medium-replay", "40.0", "1.5", "0.8", "0.995", "README.md @a90b9d0 L53"),
            Row("halfcheetah-medium-expert", "40.0", "1.0", "10.0", "0.99", "README.md @a90b9d0 L55"),
            Row("walker2d-medium", "2.5", "1.5", "1.0", "0.99", "README.md L76"),
            Row("walker2d-medium-replay", "2.5", "1.5", "1.2", "0.995", "README.md @a90b9d0 L60"),
            Row("walker2d-medium-expert", "2.5", "1.0", "0.8", "0.99", "README.md @a90b9d0 L62"),
        ]),
    ];

    public static IReadOnlyList<AlgorithmSpec> Algorithms =>
    [
        AlgorithmSpec.Of("a2pr", LearningMode.Offline, ActionKind.Continuous, "TD3+BC towards the better of the data's and a VAE's action by advantage (Liu et al. 2024)",
            new A2prConfig(), (o, space, c, s) => new A2pr(o, space, c, s)) with { Presets = Presets },
    ];

    private readonly Mlp _value;
    private readonly ConditionalVae _vae;
    private readonly Adam _valueOpt, _vaeOpt;
    private Tensor _latentNoise = null!, _vaeWeights = null!, _bcWeights = null!;
    private float[] _valueBefore = [], _qData = [];
    private bool[] _takeVae = [];

    public A2pr(int obs, Space actionSpace, A2prConfig? config = null, ulong seed = 0) : base(obs, actionSpace, config ?? new A2prConfig(), seed)
    {
        var c = Config;
        int act = actionSpace.Width, latent = c.VaeLatent ?? 2 * act;
        _value = new Mlp(new MlpConfig(obs, c.ValueHidden, 1, Sequence: c.HistoryInput(obs)), Rng);
        _vae = new ConditionalVae(obs, act, latent, c.VaeHidden, Rng, c.VaeLogStdMin, c.VaeLogStdMax);
        _valueOpt = Optim("value", new Adam(_value.Parameters(), c.ValueLr));
        _vaeOpt = Optim("vae", new Adam(_vae.Parameters(), c.VaeLr));
        Resize(c.BatchSize);
    }

    protected override int[] CriticHidden => Config.CriticHidden;

    /// <summary>The value and the VAE, each one step after the critics' (A2PR.py L136-160).</summary>
    protected override void AfterCritic(TransitionBatch b, Tensor nextAction, Tensor y)
    {
        var c = Config;
        Resize(b.Size);
        // V(s) towards t = min(r + gamma (1 - d) min_i Q_i(s', a'), y): the updated critics' target, bounded by the target critics'
        Tensor t, qData;
        using (Tensor.NoGrad())
        {
            t = Tensor.Minimum(b.RewT + b.DiscountT * Networks.MinQ(Networks.Q(Critic, b.NextT, nextAction)), y);
            qData = Networks.Q(Critic, b.ObsT, b.ActT).Slice(0, 0, 1);
        }
        var v = _value.Forward(b.ObsT);
        v.Data.AsSpan(0, b.Size).CopyTo(_valueBefore);   // the advantages below use V before its step, as the authors' code
        qData.Data.AsSpan(0, b.Size).CopyTo(_qData);
        _valueOpt.ZeroGrad();
        var valueLoss = (v - t).Square().Mean();
        valueLoss.Backward();
        _valueOpt.Step();
        Record("value_loss", valueLoss);

        // The VAE on the dataset's actions with positive advantage: vae_weight 1[Q_1(s, a) > V(s)] |a_rec - a|^2 + kl_weight KL
        for (int i = 0; i < b.Size; i++) _vaeWeights.Data[i] = _qData[i] > _valueBefore[i] ? c.VaeWeight : 0f;
        Rng.FillNormal(_latentNoise.Data, 0f, 1f);
        var (recon, mean, logStd) = _vae.Forward(b.ObsT, b.ActT, _latentNoise);
        var reconLoss = ((recon - b.ActT).Square() * _vaeWeights).Mean();
        var kl = ConditionalVae.KlMean(mean, logStd);
        _vaeOpt.ZeroGrad();
        var vaeLoss = reconLoss + kl * c.KlWeight;
        vaeLoss.Backward();
        _vaeOpt.Step();
        Record("vae_loss", vaeLoss);
        Record("vae_kl", kl);
    }

    /// <summary>
    /// The advantage-guided BC term (eq. 9): mean over batch and action of w (pi(s) - a_hat)^2, a_hat = VAE(s, pi(s)) where
    /// Q_1(s, a_hat) - V(s) >= Q_1(s, a) - V(s), else a; w = mask (1[Q_1(s, a_hat) >= V(s)] + 1[Q_1(s, a) > V(s)]). a_hat
    /// is not held fixed: as in the authors' code the gradient also reaches pi through the (frozen) VAE.
    /// </summary>
    protected override Tensor BcTerm(TransitionBatch b, Tensor pi)
    {
        var c = Config;
        int ad = ActionDim;
        _vae.SetRequiresGrad(false);
        Rng.FillNormal(_latentNoise.Data, 0f, 1f);
        var (reconPi, _, _) = _vae.Forward(b.ObsT, pi, _latentNoise);
        Tensor qVae;
        using (Tensor.NoGrad()) qVae = Networks.Q(Critic, b.ObsT, reconPi).Slice(0, 0, 1);
        int better = 0;
        for (int i = 0; i < b.Size; i++)
        {
            float v = _valueBefore[i], aVae = qVae.Data[i] - v, aData = _qData[i] - v;
            bool takeVae = aVae >= aData;
            better += takeVae ? 1 : 0;
            _takeVae.AsSpan(i * ad, ad).Fill(takeVae);
            _bcWeights.Data[i] = c.Mask * ((qVae.Data[i] >= v ? 1f : 0f) + (_qData[i] > v ? 1f : 0f));
        }
        var target = Tensor.Where(_takeVae, reconPi, b.ActT);
        var bc = ((pi - target).Square() * _bcWeights).Mean();
        _vae.SetRequiresGrad(true);
        Record("vae_target_share", (float)better / b.Size);
        return bc;
    }

    private void Resize(int rows)
    {
        if (_valueBefore.Length == rows) return;
        (_valueBefore, _qData, _takeVae) = (new float[rows], new float[rows], new bool[rows * ActionDim]);
        (_latentNoise, _vaeWeights, _bcWeights) = (Tensor.Zeros(rows, _vae.Latent), Tensor.Zeros(rows, 1), Tensor.Zeros(rows, 1));
    }

    protected override IEnumerable<(string, Module)> Modules() => [.. base.Modules(), ("value", _value), ("vae", _vae)];
}
