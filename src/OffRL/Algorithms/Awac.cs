using OffRL.Data;
using OffRL.Nn;
using OffRL.Tensors;

namespace OffRL.Algorithms;

/// <summary>
/// AWAC hyperparameters (Nair et al. 2020, "AWAC: Accelerating Online RL with Offline Datasets"), as CORL runs it on
/// D4RL locomotion (awac.py with its tuned configs): actor and critic 3 x 256, learning rates 3e-4, tau 0.005, weights
/// clipped at 100, lambda 1/3 (the paper's and awac.py's default is 1: --set lambda=1).
/// </summary>
public sealed record AwacConfig : CriticEnsembleConfig
{
    public AwacConfig() => Hidden = [256, 256, 256];

    [FieldRange("(0, 1]")]
    public double ActorLr { get; init; } = 3e-4;
    [FieldRange("(0, 1]")]
    public double CriticLr { get; init; } = 3e-4;
    /// <summary>Temperature lambda of the weights exp(A / lambda) (eq. 13), > 0.</summary>
    [FieldRange("(0, inf)")]
    public float Lambda { get; init; } = 1f / 3f;
    /// <summary>Clip of the weights.</summary>
    [FieldRange("(0, inf)")]
    public float MaxWeight { get; init; } = 100f;
    /// <summary>Lower clamp of the actor's log std (CORL's awac.py: -20; the upper clamp is 2).</summary>
    [FieldRange("[-100, 2)")]
    public float LogStdMin { get; init; } = -20f;
    /// <summary>
    /// The actor's mean is tanh(MLP(s)), as OffRL's other Gaussian actors; CORL's awac.py uses the linear output (false:
    /// samples clamped to [-1, 1], the deterministic action the raw mean), which its preset sets. Kept true by default
    /// so a deployed actor never leaves the action box.
    /// </summary>
    public bool TanhMean { get; init; } = true;
}

/// <summary>Advantage-weighted actor-critic: TD critic under the current policy, policy by exp(A / lambda)-weighted likelihood.</summary>
public sealed class Awac : Agent<AwacConfig>, IAlgorithmFamily
{
    /// <summary>AWAC as CORL runs it: nine identical configs (lambda 0.3333), a linear-mean actor with log std in [-20, 2].</summary>
    private static readonly Preset[] Presets =
    [
        new("corl", "CORL (github.com/tinkoff-ai/CORL @6afec90)",
        [
            new(Preset.Locomotion, "lambda: 0.3333, actor_lr: 3e-4, critic_lr: 3e-4, batch_size: 256, gamma: 0.99, tau: 0.005, hidden: [256, 256, 256], " +
                "max_weight: 100, log_std_min: -20, tanh_mean: false, normalize_observations: true, qlearning_rows: true, reward_normalization: none",
                "configs/offline/awac/{env}/{dataset}_v2.yaml (all nine identical); awac.py L114-167 (actor), L228-245 (weights)"),
        ]),
    ];

    public static IReadOnlyList<AlgorithmSpec> Algorithms =>
    [
        AlgorithmSpec.Of("awac", LearningMode.Offline, ActionKind.Continuous, "Advantage-weighted actor-critic (Nair et al. 2020)",
            new AwacConfig(), (obs, space, c, seed) => new Awac(obs, space, c, seed)) with { Presets = Presets },
    ];

    private readonly GaussianMeanPolicy _actor;
    private readonly EnsembleMlp _critic, _criticTarget;
    private readonly Adam _actorOpt, _criticOpt;
    private Tensor _eps;

    public Awac(int obs, Space actionSpace, AwacConfig? config = null, ulong seed = 0) : base(obs, actionSpace, config ?? new AwacConfig(), seed)
    {
        int act = actionSpace.Width;
        _actor = new GaussianMeanPolicy(obs, Config.Hidden, act, Rng, Config.TanhMean, Config.LogStdMin, 2f);
        _critic = Networks.Critic(obs, act, Config.Hidden, Rng, Config.NumCritics);
        _criticTarget = Networks.Target(_critic, () => Networks.Critic(obs, act, Config.Hidden, new Rng(0), Config.NumCritics));
        _actorOpt = Optim("actor", new Adam(_actor.Parameters(), Config.ActorLr));
        _criticOpt = Optim("critic", new Adam(_critic.Parameters(), Config.CriticLr));
        _eps = Tensor.Zeros(Config.BatchSize, act);
    }

    private Tensor Sample(Tensor s)
    {
        if (_eps.Shape[0] != s.Shape[0]) _eps = Tensor.Zeros(s.Shape[0], ActionDim);
        Rng.FillNormal(_eps.Data);
        return _actor.Sample(s, _eps);
    }

    protected override void UpdateCore(TransitionBatch b)
    {
        // Critic (eq. 4): y = r + gamma (1 - d) min Q'(s', a'), a' ~ pi(.|s')
        Tensor y;
        using (Tensor.NoGrad()) y = b.RewT + b.DiscountT * Networks.MinQ(Networks.Q(_criticTarget, b.NextT, Sample(b.NextT)));
        _criticOpt.ZeroGrad();
        var criticLoss = Networks.CriticLoss(Networks.Q(_critic, b.ObsT, b.ActT), y);
        criticLoss.Backward();
        _criticOpt.Step();
        Record("critic_loss", criticLoss);
        Polyak.Update(_criticTarget, _critic, Config.Tau);

        // Actor (eq. 13): max E[log pi(a|s) exp(A(s, a) / lambda)], A = Q(s, a) - Q(s, a~pi)
        Tensor weight;
        using (Tensor.NoGrad())
        {
            var adv = Networks.MinQ(Networks.Q(_critic, b.ObsT, b.ActT)) - Networks.MinQ(Networks.Q(_critic, b.ObsT, Sample(b.ObsT)));
            weight = (adv * (1f / Config.Lambda)).Exp().Clamp(0f, Config.MaxWeight);
        }
        _actorOpt.ZeroGrad();
        var logp = _actor.LogProb(b.ObsT, b.ActT);
        var actorLoss = (weight * logp).Mean().Neg();
        actorLoss.Backward();
        _actorOpt.Step();
        Record("actor_loss", actorLoss);
    }

    protected override void ActCore(Tensor s, Span<float> action, bool deterministic) => _actor.Act(s, action, deterministic, Rng);

    protected internal override Tensor PolicyOutput(Tensor s) => _actor.Mean(s);

    protected override IEnumerable<(string, Module)> Modules() => [("actor", _actor), ("critic", _critic), ("critic_target", _criticTarget)];
}
