using OffRL.Data;
using OffRL.Nn;
using OffRL.Tensors;

namespace OffRL.Algorithms;

/// <summary>TD3+BC hyperparameters (Fujimoto and Gu 2021, "A Minimalist Approach to Offline RL"; CORL's defaults).</summary>
public sealed record Td3BcConfig(
    int[]? Hidden = null, double ActorLr = 3e-4, double CriticLr = 3e-4, float Gamma = 0.99f, float Tau = 0.005f,
    float PolicyNoise = 0.2f, float NoiseClip = 0.5f, int PolicyFreq = 2, float Alpha = 2.5f, int BatchSize = 256, bool NormalizeObservations = true,
    bool BehaviorCloning = true, float ExplorationNoise = 0.1f)
{
    [System.Text.Json.Serialization.JsonIgnore] public int[] HiddenSizes => Hidden ?? [256, 256];
}

/// <summary>
/// TD3 with a behavior-cloning term: pi = argmax lambda Q(s, pi(s)) - (pi(s) - a)^2, lambda = alpha / mean|Q|.
/// Without the term (BehaviorCloning = false) it is TD3 (Fujimoto et al. 2018) for online learning.
/// </summary>
public sealed class Td3Bc : Agent
{
    private readonly Mlp _actor, _actorTarget;
    private readonly EnsembleMlp _critic, _criticTarget;
    private readonly Adam _actorOpt, _criticOpt;
    private readonly Tensor _noise;
    public Td3BcConfig Config { get; }
    public override string Name => Config.BehaviorCloning ? "td3bc" : "td3";

    public Td3Bc(int obs, Space actionSpace, Td3BcConfig? config = null, ulong seed = 0) : base(obs, actionSpace, seed)
    {
        Config = config ?? new Td3BcConfig();
        int act = actionSpace.Width;
        Mlp Actor(Rng r) => new(new MlpConfig(obs, Config.HiddenSizes, act, Activation.Relu, Activation.Tanh), r);
        _actor = Actor(Rng);
        _actorTarget = Networks.Target(_actor, () => Actor(new Rng(0)));
        _critic = Networks.Critic(obs, act, Config.HiddenSizes, Rng);
        _criticTarget = Networks.Target(_critic, () => Networks.Critic(obs, act, Config.HiddenSizes, new Rng(0)));
        _actorOpt = Optim("actor", new Adam(_actor.Parameters(), Config.ActorLr));
        _criticOpt = Optim("critic", new Adam(_critic.Parameters(), Config.CriticLr));
        _noise = Tensor.Zeros(Config.BatchSize, act);
    }

    protected override void UpdateCore(TransitionBatch b)
    {
        // Target policy smoothing (TD3): a' = clip(pi'(s') + clip(eps, -c, c), -1, 1), eps ~ N(0, sigma)
        Tensor y;
        using (Tensor.NoGrad())
        {
            Rng.FillNormal(_noise.Data, 0f, Config.PolicyNoise);
            var a2 = (_actorTarget.Forward(b.NextT) + _noise.Clamp(-Config.NoiseClip, Config.NoiseClip)).Clamp(-1f, 1f);
            // Clipped double-Q target: y = r + gamma (1 - d) min_i Q'_i(s', a')
            y = b.RewT + b.DiscountT * Networks.MinQ(Networks.Q(_criticTarget, b.NextT, a2));
        }
        _criticOpt.ZeroGrad();
        var criticLoss = (Networks.Q(_critic, b.ObsT, b.ActT) - y).Square().Mean() * 2f;
        criticLoss.Backward();
        _criticOpt.Step();
        Record("critic_loss", criticLoss);

        if (Updates % Config.PolicyFreq != 0) return;
        // Actor (TD3+BC, eq. 3): maximize lambda Q_1(s, pi(s)) - (pi(s) - a)^2, lambda = alpha / mean |Q| (detached)
        _critic.SetRequiresGrad(false);
        _actorOpt.ZeroGrad();
        var pi = _actor.Forward(b.ObsT);
        var q = Networks.Q(_critic, b.ObsT, pi).Slice(0, 0, 1);
        Tensor actorLoss;
        if (Config.BehaviorCloning)
        {
            float lambda = Config.Alpha / q.Detach().Abs().Mean().Item();
            var bc = (pi - b.ActT).Square().Mean();
            actorLoss = q.Mean() * -lambda + bc;
            Record("bc_loss", bc);
        }
        else actorLoss = q.Mean().Neg();   // TD3 (eq. 6): deterministic policy gradient through Q_1
        actorLoss.Backward();
        _actorOpt.Step();
        _critic.SetRequiresGrad(true);
        Record("actor_loss", actorLoss);
        Polyak.Update(_criticTarget, _critic, Config.Tau);
        Polyak.Update(_actorTarget, _actor, Config.Tau);
    }

    protected override void ActCore(Tensor s, Span<float> action, bool deterministic)
    {
        var a = _actor.Forward(s).Data;
        for (int j = 0; j < ActionDim; j++)
            action[j] = deterministic ? a[j] : Math.Clamp(a[j] + Config.ExplorationNoise * Rng.Normal(), -1f, 1f);
    }

    protected override IEnumerable<(string, Module)> Modules() =>
        [("actor", _actor), ("actor_target", _actorTarget), ("critic", _critic), ("critic_target", _criticTarget)];
}
