using OffRL.Data;
using OffRL.Nn;
using OffRL.Tensors;

namespace OffRL.Algorithms;

/// <summary>
/// DQN hyperparameters (Mnih et al. 2015 with Double DQN, van Hasselt et al. 2016); CqlAlpha > 0 makes it discrete CQL
/// (Kumar et al. 2020, eq. 1 with the log-sum-exp regularizer; alpha 1 as d3rlpy's DiscreteCQL).
/// Where it differs from d3rlpy's DQN/DoubleDQN/DiscreteCQL defaults (Atari-sized: learning rate 6.25e-5, batch 32,
/// Huber loss, a hard target copy every 8000 updates): learning rate 1e-3, batch 256, squared TD error and Polyak
/// targets (tau 0.005), tuned for the small vector-observation tasks OffRL builds datasets for (Double DQN learns
/// CartPole in 30k steps; discrete CQL holds 300 on its medium-expert data within 10k updates); every one of these is a field, so d3rlpy's settings are a config away except the
/// Huber loss and the hard copy (tau = 1 with an update interval is not yet expressible).
/// </summary>
public sealed record DqnConfig : TdConfig
{
    public DqnConfig() => NormalizeObservations = false;

    [FieldRange("(0, 1]")]
    public double Lr { get; init; } = 1e-3;
    /// <summary>Exploration: epsilon decays linearly from StartEpsilon to FinalEpsilon over EpsilonDecaySteps stochastic actions.</summary>
    [FieldRange("[0, 1]")]
    public float StartEpsilon { get; init; } = 1f;
    [FieldRange("[0, 1]")]
    public float FinalEpsilon { get; init; } = 0.05f;
    [FieldRange("[1, inf)")]
    public long EpsilonDecaySteps { get; init; } = 10_000;
    /// <summary>Weight of the discrete CQL penalty; 0: Double DQN.</summary>
    [FieldRange("[0, inf)")]
    public float CqlAlpha { get; init; } = 0f;
}

/// <summary>Double DQN: y = r + gamma (1 - d) Q'(s', argmax_a Q(s', a)); with CqlAlpha, discrete CQL.</summary>
public sealed class Dqn : Agent<DqnConfig>, IAlgorithmFamily
{
    public static IReadOnlyList<AlgorithmSpec> Algorithms =>
    [
        AlgorithmSpec.Of("dqn", LearningMode.Online, ActionKind.Discrete, "Double DQN (Mnih et al. 2015; van Hasselt et al. 2016)",
            new DqnConfig(), (obs, space, c, seed) => new Dqn(obs, space, c, seed)),
        AlgorithmSpec.Of("cql-discrete", LearningMode.Offline, ActionKind.Discrete, "Discrete CQL on Double DQN (Kumar et al. 2020, eq. 1)",
            new DqnConfig { CqlAlpha = 1f }, (obs, space, c, seed) => new Dqn(obs, space, c, seed)),
    ];

    private readonly Mlp _q, _qTarget;
    private readonly Adam _opt;
    private long _acts;
    private int[] _best = [];
    public int Actions { get; }

    public Dqn(int obs, Space actionSpace, DqnConfig? config = null, ulong seed = 0) : base(obs, actionSpace, config ?? new DqnConfig(), seed)
    {
        Actions = actionSpace is Discrete d ? d.N : throw new ArgumentException($"DQN: needs discrete actions, got {actionSpace}");
        Mlp Build(Rng r) => new(new MlpConfig(obs, Config.Hidden, Actions), r);
        _q = Build(Rng);
        _qTarget = Networks.Target(_q, () => Build(new Rng(0)));
        _opt = Optim("q", new Adam(_q.Parameters(), Config.Lr));
    }

    /// <summary>Exploration rate of stochastic actions: linear decay over the first EpsilonDecaySteps of them.</summary>
    public float Epsilon => Config.StartEpsilon + (Config.FinalEpsilon - Config.StartEpsilon) * Math.Min(1f, (float)_acts / Config.EpsilonDecaySteps);

    protected override void UpdateCore(TransitionBatch b)
    {
        Tensor y;
        using (Tensor.NoGrad())
        {
            // Double DQN: the online network picks a*, the target network evaluates it
            if (_best.Length != b.Size) _best = new int[b.Size];
            var qNext = _q.Forward(b.NextT);
            for (int i = 0; i < b.Size; i++) _best[i] = System.Numerics.Tensors.TensorPrimitives.IndexOfMax(qNext.Data.AsSpan(i * Actions, Actions));
            y = b.RewT + b.DiscountT * _qTarget.Forward(b.NextT).GatherRows(_best);
        }
        _opt.ZeroGrad();
        var q = _q.Forward(b.ObsT);
        var qData = q.GatherRows(b.ActionIndex);
        var loss = (qData - y).Square().Mean();
        Record("td_loss", loss);
        if (Config.CqlAlpha > 0)
        {   // CQL (eq. 1, discrete): alpha (log sum_a exp Q(s, a) - Q(s, a_data))
            var gap = (q.LogSumExp(1, keepDim: true) - qData).Mean();
            Record("cql_gap", gap);
            loss = loss + gap * Config.CqlAlpha;
        }
        loss.Backward();
        _opt.Step();
        Polyak.Update(_qTarget, _q, Config.Tau);
    }

    protected override void ActCore(Tensor s, Span<float> action, bool deterministic)
    {
        if (!deterministic && Rng.NextFloat() < Epsilon) action[0] = Rng.NextInt(Actions);
        else action[0] = System.Numerics.Tensors.TensorPrimitives.IndexOfMax(PolicyOutput(s).Data.AsSpan(0, Actions));
        if (!deterministic) _acts++;
    }

    protected internal override Tensor PolicyOutput(Tensor s) => _q.Forward(s);

    protected override IEnumerable<(string Name, Func<long> Get, Action<long> Set)> CheckpointCounters => [("acts", () => _acts, v => _acts = v)];

    /// <summary>Stop decaying: stochastic actions from now on use the final epsilon (a loaded or finished agent).</summary>
    public void SettleExploration() => _acts = Config.EpsilonDecaySteps;

    protected override IEnumerable<(string, Module)> Modules() => [("q", _q), ("q_target", _qTarget)];
}
