using OffRL.Data;
using OffRL.Nn;
using OffRL.Tensors;

namespace OffRL.Algorithms;

/// <summary>
/// SAC-N and EDAC hyperparameters (An et al. 2021, "Uncertainty-Based Offline Reinforcement Learning with Diversified
/// Q-Ensemble"), as CORL's sac_n.py and edac.py run them (tinkoff-ai/CORL @6afec90, configs/offline/{sac_n,edac}/):
/// SAC with N critics 3 x 256 whose pessimism is the minimum over the ensemble; every hidden bias 0.1, the output
/// layers from U(+-3e-3) (critics) and U(+-1e-3) (actor), the critics' weights with CORL's fan-in quirk; log std clipped to [-5, 2]; log pi with log(1 - tanh^2 +
/// 1e-6); order temperature -> actor -> critic; learning rates 3e-4, batch 256, gamma 0.99, tau 5e-3; raw observations
/// and rewards. EDAC adds eta times the ensemble's gradient diversity to the critic loss. The per-dataset N (SAC-N
/// 10-500, EDAC 10-50) and eta are the presets; the defaults are halfcheetah's (N 10, eta 1).
/// </summary>
public record EdacConfig : SacConfig
{
    public EdacConfig()
    {
        NumCritics = 10;
        Hidden = [256, 256, 256];
        LogStdMin = -5f;
        TemperatureFirst = true;
        HiddenBias = 0.1f;
        CriticOutputUniform = 3e-3f;
        CriticWeightsByOutputs = true;
        ActorOutputUniform = 1e-3f;
        SquashEpsilon = 1e-6f;
        NormalizeObservations = false;
    }

    /// <summary>Weight of the ensemble's gradient diversity in the critic loss (eta; EDAC's configs 1, medium-expert 5); 0 is SAC-N.</summary>
    [FieldRange("[0, 1000]")]
    public float Eta { get; init; } = 1f;

    public override void Validate()
    {
        base.Validate();
        if (Eta > 0 && NumCritics < 2) throw new ArgumentException($"config: field 'eta' of {GetType().Name} weighs the diversity of two or more critics; 'num_critics' is {NumCritics}");
    }
}

/// <summary>SAC-N (EDAC with eta 0) and EDAC: <see cref="EdacConfig"/>.</summary>
public sealed class Edac : Sac<EdacConfig>, IAlgorithmFamily
{
    private const string Common = "hidden: [256, 256, 256], actor_lr: 3e-4, critic_lr: 3e-4, alpha_lr: 3e-4, batch_size: 256, gamma: 0.99, tau: 0.005, " +
        "initial_alpha: 1, log_std_min: -5, temperature_first: true, hidden_bias: 0.1, critic_output_uniform: 0.003, actor_output_uniform: 0.001, " +
        "squash_epsilon: 1e-6, critic_weights_by_outputs: true, backup_entropy: true, normalize_observations: false, reward_normalization: none, qlearning_rows: true, ";

    private static readonly Preset[] SacNPresets =
    [
        new("corl", "CORL (github.com/tinkoff-ai/CORL @6afec90)",
        [
            new(["hopper-medium"], Common + "eta: 0, num_critics: 500", "configs/offline/sac_n/hopper/medium_v2.yaml"),
            new(["hopper-medium-replay", "hopper-medium-expert"], Common + "eta: 0, num_critics: 200", "configs/offline/sac_n/hopper/{medium_replay,medium_expert}_v2.yaml"),
            new(["halfcheetah-medium", "halfcheetah-medium-replay", "halfcheetah-medium-expert"], Common + "eta: 0, num_critics: 10", "configs/offline/sac_n/halfcheetah/*_v2.yaml"),
            new(["walker2d-medium", "walker2d-medium-replay", "walker2d-medium-expert"], Common + "eta: 0, num_critics: 20", "configs/offline/sac_n/walker2d/*_v2.yaml"),
        ]),
    ];

    private static readonly Preset[] EdacPresets =
    [
        new("corl", "CORL (github.com/tinkoff-ai/CORL @6afec90)",
        [
            new(["hopper-medium", "hopper-medium-replay", "hopper-medium-expert"], Common + "eta: 1, num_critics: 50", "configs/offline/edac/hopper/*_v2.yaml"),
            new(["halfcheetah-medium", "halfcheetah-medium-replay", "walker2d-medium", "walker2d-medium-replay"], Common + "eta: 1, num_critics: 10",
                "configs/offline/edac/{halfcheetah,walker2d}/{medium,medium_replay}_v2.yaml"),
            new(["halfcheetah-medium-expert", "walker2d-medium-expert"], Common + "eta: 5, num_critics: 10", "configs/offline/edac/{halfcheetah,walker2d}/medium_expert_v2.yaml"),
        ]),
    ];

    public static IReadOnlyList<AlgorithmSpec> Algorithms =>
    [
        AlgorithmSpec.Of("sac-n", LearningMode.Offline, ActionKind.Continuous, "SAC with N critics, pessimism by the ensemble minimum (An et al. 2021)",
            new EdacConfig { Eta = 0f }, (obs, space, c, seed) => new Edac(obs, space, c, seed)) with { Presets = SacNPresets },
        AlgorithmSpec.Of("edac", LearningMode.Offline, ActionKind.Continuous, "SAC-N with the critics' action gradients diversified (An et al. 2021)",
            new EdacConfig(), (obs, space, c, seed) => new Edac(obs, space, c, seed)) with { Presets = EdacPresets },
    ];

    public Edac(int obs, Space actionSpace, EdacConfig? config = null, ulong seed = 0) : base(obs, actionSpace, config ?? new EdacConfig(), seed) { }

    /// <summary>EDAC's term (eta times <see cref="Diversity"/>) at the batch's state-action pairs; none for SAC-N (eta 0).</summary>
    protected override Tensor? CriticRegularizer(TransitionBatch b, Tensor qData)
    {
        if (Config.Eta == 0f) return null;
        var diversity = Diversity(Critic, b.ObsT, b.ActT);
        Record("diversity", diversity);
        return diversity * Config.Eta;
    }

    /// <summary>
    /// The ensemble's gradient diversity (the EDAC paper's ES term, eq. 5 as CORL's edac.py computes it): g_j = the
    /// gradient of Q_j(s, a) with respect to the dataset action a, normalized (|g_j| + 1e-10), and the mean over the
    /// batch of sum over pairs i != j of &lt;g_i, g_j&gt;, divided by N - 1; formed as |sum_j g_j|^2 - sum_j |g_j|^2 (the same
    /// sum), and differentiable: its gradient reaches the critics through the second derivative.
    /// </summary>
    public static Tensor Diversity(EnsembleMlp critic, Tensor s, Tensor a)
    {
        int n = critic.Members, batch = s.Shape[0];
        var states = s.Tile(n).Reshape(n, batch, s.Shape[1]);
        var actions = a.Tile(n).Reshape(n, batch, a.Shape[1]);
        actions.RequiresGrad = true;                                             // each member's own copy of a
        var grad = Tensor.Gradient(Networks.Q(critic, states, actions).Sum(), actions);   // [N, B, A]: dQ_j / da
        var unit = grad / (grad.Norm(-1, keepDim: true) + 1e-10f);   // torch.norm: no NaN where a g_j is 0
        var pairs = unit.Sum(0).Square().Sum(-1) - unit.Square().Sum(-1).Sum(0);  // [B]: sum over i != j of <g_i, g_j>
        return pairs.Mean() / (n - 1);
    }
}
