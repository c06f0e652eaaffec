using OffRL.Data;
using OffRL.Nn;
using OffRL.Tensors;

namespace OffRL.Algorithms;

/// <summary>AWAC hyperparameters (Nair et al. 2020, "AWAC: Accelerating Online RL with Offline Datasets"; CORL's defaults).</summary>
public sealed record AwacConfig(
    int[]? Hidden = null, double ActorLr = 3e-4, double CriticLr = 3e-4, float Gamma = 0.99f, float Tau = 0.005f,
    float Lambda = 1f, float MaxWeight = 100f, int BatchSize = 256, bool NormalizeObservations = true)
{
    [System.Text.Json.Serialization.JsonIgnore] public int[] HiddenSizes => Hidden ?? [256, 256];
}

/// <summary>Advantage-weighted actor-critic: TD critic under the current policy, policy by exp(A / lambda)-weighted likelihood.</summary>
public sealed class Awac : Agent
{
    private readonly GaussianMeanPolicy _actor;
    private readonly EnsembleMlp _critic, _criticTarget;
    private readonly Adam _actorOpt, _criticOpt;
    private readonly Tensor _eps;
    public AwacConfig Config { get; }
    public override string Name => "awac";

    public Awac(int obs, Space actionSpace, AwacConfig? config = null, ulong seed = 0) : base(obs, actionSpace, seed)
    {
        Config = config ?? new AwacConfig();
        int act = actionSpace.Width;
        _actor = new GaussianMeanPolicy(obs, Config.HiddenSizes, act, Rng);
        _critic = Networks.Critic(obs, act, Config.HiddenSizes, Rng);
        _criticTarget = Networks.Target(_critic, () => Networks.Critic(obs, act, Config.HiddenSizes, new Rng(0)));
        _actorOpt = Optim("actor", new Adam(_actor.Parameters(), Config.ActorLr));
        _criticOpt = Optim("critic", new Adam(_critic.Parameters(), Config.CriticLr));
        _eps = Tensor.Zeros(Config.BatchSize, act);
    }

    private Tensor Sample(Tensor s)
    {
        Rng.FillNormal(_eps.Data);
        return _actor.Sample(s, _eps);
    }

    protected override void UpdateCore(TransitionBatch b)
    {
        // Critic (eq. 4): y = r + gamma (1 - d) min Q'(s', a'), a' ~ pi(.|s')
        Tensor y;
        using (Tensor.NoGrad()) y = b.RewT + b.DiscountT * Networks.MinQ(Networks.Q(_criticTarget, b.NextT, Sample(b.NextT)));
        _criticOpt.ZeroGrad();
        var criticLoss = (Networks.Q(_critic, b.ObsT, b.ActT) - y).Square().Mean() * 2f;
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

    protected override IEnumerable<(string, Module)> Modules() => [("actor", _actor), ("critic", _critic), ("critic_target", _criticTarget)];
}
