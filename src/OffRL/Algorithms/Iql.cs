using OffRL.Data;
using OffRL.Nn;
using OffRL.Tensors;

namespace OffRL.Algorithms;

/// <summary>IQL hyperparameters (Kostrikov et al. 2022, "Offline RL with Implicit Q-Learning"; locomotion: tau 0.7, beta 3).</summary>
public sealed record IqlConfig(
    int[]? Hidden = null, double ActorLr = 3e-4, double CriticLr = 3e-4, double ValueLr = 3e-4, float Gamma = 0.99f, float Tau = 0.005f,
    float Expectile = 0.7f, float Beta = 3f, float MaxWeight = 100f, long? CosineActorLrSteps = null, int BatchSize = 256, bool NormalizeObservations = true)
{
    [System.Text.Json.Serialization.JsonIgnore] public int[] HiddenSizes => Hidden ?? [256, 256];
}

/// <summary>Implicit Q-learning: expectile regression for V, TD for Q against V, advantage-weighted regression for the policy.</summary>
public sealed class Iql : Agent
{
    private readonly GaussianMeanPolicy _actor;
    private readonly Mlp _value;
    private readonly EnsembleMlp _critic, _criticTarget;
    private readonly Adam _actorOpt, _criticOpt, _valueOpt;
    public IqlConfig Config { get; }
    public override string Name => "iql";

    public Iql(int obs, Space actionSpace, IqlConfig? config = null, ulong seed = 0) : base(obs, actionSpace, seed)
    {
        Config = config ?? new IqlConfig();
        int act = actionSpace.Width;
        _actor = new GaussianMeanPolicy(obs, Config.HiddenSizes, act, Rng);
        _value = new Mlp(new MlpConfig(obs, Config.HiddenSizes, 1), Rng);
        _critic = Networks.Critic(obs, act, Config.HiddenSizes, Rng);
        _criticTarget = Networks.Target(_critic, () => Networks.Critic(obs, act, Config.HiddenSizes, new Rng(0)));
        _actorOpt = Optim("actor", new Adam(_actor.Parameters(), Config.ActorLr));
        if (Config.CosineActorLrSteps is { } n) _actorOpt.Schedule = LrSchedule.Cosine(n);
        _criticOpt = Optim("critic", new Adam(_critic.Parameters(), Config.CriticLr));
        _valueOpt = Optim("value", new Adam(_value.Parameters(), Config.ValueLr));
    }

    protected override void UpdateCore(TransitionBatch b)
    {
        Tensor qTarget, vNext;
        using (Tensor.NoGrad())
        {
            qTarget = Networks.MinQ(Networks.Q(_criticTarget, b.ObsT, b.ActT));
            vNext = _value.Forward(b.NextT);
        }
        // Value (eq. 5): expectile regression L2^tau(Q'(s, a) - V(s)), weight |tau - 1(u < 0)|
        _valueOpt.ZeroGrad();
        var v = _value.Forward(b.ObsT);
        var adv = qTarget - v;
        var weight = Tensor.Temp(adv.Shape);
        for (int i = 0; i < weight.Size; i++) weight.Data[i] = adv.Data[i] < 0 ? 1f - Config.Expectile : Config.Expectile;
        var valueLoss = (weight * adv.Square()).Mean();
        valueLoss.Backward();
        _valueOpt.Step();
        Record("value_loss", valueLoss);

        // Q (eq. 6): (r + gamma (1 - d) V(s') - Q(s, a))^2 for both Q
        _criticOpt.ZeroGrad();
        var y = b.RewT + b.DiscountT * vNext;
        var criticLoss = (Networks.Q(_critic, b.ObsT, b.ActT) - y).Square().Mean() * 2f;
        criticLoss.Backward();
        _criticOpt.Step();
        Record("critic_loss", criticLoss);
        Polyak.Update(_criticTarget, _critic, Config.Tau);

        // Policy (eq. 7): advantage-weighted regression, weights exp(beta (Q'(s, a) - V(s))) clipped at 100
        _actorOpt.ZeroGrad();
        var expAdv = (adv.Detach() * Config.Beta).Exp().Clamp(0f, Config.MaxWeight);
        var logp = _actor.LogProb(b.ObsT, b.ActT);
        var actorLoss = (expAdv * logp).Mean().Neg();
        actorLoss.Backward();
        _actorOpt.Step();
        Record("actor_loss", actorLoss);
    }

    protected override void ActCore(Tensor s, Span<float> action, bool deterministic) => _actor.Act(s, action, deterministic, Rng);

    protected override IEnumerable<(string, Module)> Modules() =>
        [("actor", _actor), ("value", _value), ("critic", _critic), ("critic_target", _criticTarget)];
}
