using OffRL.Algorithms;
using OffRL.Data;
using OffRL.Nn;
using OffRL.Tensors;

namespace OffRL.PluginExample;

/// <summary>Behavior cloning with an absolute-error loss: the config of a plug-in algorithm, with its own field.</summary>
public sealed record L1BcConfig : AgentConfig
{
    [FieldRange("(0, 1]")]
    public double Lr { get; init; } = 1e-3;
}

/// <summary>
/// A plug-in algorithm, outside src/: min E |pi(s) - a| on a tanh MLP. It uses what an algorithm in OffRL itself uses:
/// a typed config (<see cref="Agent{TConfig}"/>), the update's scratch pool (<see cref="Tensor.Temp"/>), a named
/// checkpoint counter, and one <see cref="IAlgorithmFamily"/> entry that makes it reachable by name once its assembly
/// is registered (<see cref="AlgorithmRegistry.RegisterAssembly"/>).
/// </summary>
public sealed class L1Bc : Agent<L1BcConfig>, IAlgorithmFamily
{
    public static IReadOnlyList<AlgorithmSpec> Algorithms =>
    [
        AlgorithmSpec.Of("l1bc", LearningMode.Offline, ActionKind.Continuous, "Behavior cloning with an absolute-error loss (a plug-in example)",
            new L1BcConfig(), (obs, space, c, seed) => new L1Bc(obs, space, c, seed)),
    ];

    private readonly Mlp _actor;
    private readonly Adam _opt;
    private long _rowsSeen;

    /// <summary>Transitions the agent has learned from: a counter a checkpoint stores by name.</summary>
    public long RowsSeen => _rowsSeen;

    public L1Bc(int obs, Space actionSpace, L1BcConfig? config = null, ulong seed = 0) : base(obs, actionSpace, config ?? new L1BcConfig(), seed)
    {
        _actor = new Mlp(new MlpConfig(obs, Config.Hidden, actionSpace.Width, Activation.Relu, Activation.Tanh), Rng);
        _opt = Optim("actor", new Adam(_actor.Parameters(), Config.Lr));
    }

    protected override void UpdateCore(TransitionBatch b)
    {
        // the error pi(s) - a, written into a pooled scratch tensor first to show the pool is reachable from here
        var target = Tensor.Temp(b.ActT.Shape);
        b.ActT.Data.AsSpan(0, target.Size).CopyTo(target.Data);
        var loss = (_actor.Forward(b.ObsT) - target).Abs().Mean();
        _opt.ZeroGrad();
        loss.Backward();
        _opt.Step();
        Record("l1_loss", loss);
        _rowsSeen += b.Size;
    }

    protected override void ActCore(Tensor s, Span<float> action, bool deterministic) => _actor.Forward(s).Data.AsSpan(0, action.Length).CopyTo(action);
    protected override Tensor PolicyOutput(Tensor s) => _actor.Forward(s);
    protected override IEnumerable<(string, Module)> Modules() => [("actor", _actor)];
    protected override IEnumerable<(string Name, Func<long> Get, Action<long> Set)> CheckpointCounters => [("rows_seen", () => _rowsSeen, v => _rowsSeen = v)];
}
