using OffRL.Data;
using OffRL.Nn;
using OffRL.Tensors;

namespace OffRL.Algorithms;

/// <summary>
/// Behavior cloning hyperparameters (2 x 256 tanh policy, Adam 1e-3, batch 256); <see cref="TopFraction"/> &lt; 1 gives
/// %BC (Chen et al. 2021, "Decision Transformer", section 5: clone the best x% of episodes; 10% as CORL's
/// any_percent_bc.py, which ranks episodes by their return discounted with <see cref="AgentConfig.Gamma"/>).
/// </summary>
public sealed record BcConfig : AgentConfig
{
    [FieldRange("(0, 1]")]
    public double Lr { get; init; } = 1e-3;
    /// <summary>Fraction in (0, 1] of episodes kept, the best by discounted return (1: plain BC on everything).</summary>
    [FieldRange("(0, 1]")]
    public double TopFraction { get; init; } = 1.0;
}

/// <summary>Behavior cloning: a deterministic tanh policy regressed on the dataset's actions, min E (pi(s) - a)^2.</summary>
public sealed class Bc : Agent, IAlgorithmFamily
{
    public static IReadOnlyList<AlgorithmSpec> Algorithms =>
    [
        AlgorithmSpec.Of("bc", LearningMode.Offline, ActionKind.Continuous, "Behavior cloning: regress the dataset's actions",
            new BcConfig(), (obs, space, c, seed) => new Bc(obs, space, c, seed)) with { PrepareData = Prepare },
        AlgorithmSpec.Of("pbc", LearningMode.Offline, ActionKind.Continuous, "%BC: behavior cloning on the best 10% of episodes (Chen et al. 2021)",
            new BcConfig { TopFraction = 0.1 }, (obs, space, c, seed) => new Bc(obs, space, c, seed)) with { PrepareData = Prepare },
    ];

    private static Dataset Prepare(Dataset d, AgentConfig c) => Select(d, ((BcConfig)c).TopFraction, c.Gamma);

    private readonly Mlp _actor;
    private readonly Adam _opt;
    public new BcConfig Config => (BcConfig)base.Config;
    public override string Name => Config.TopFraction < 1 ? "pbc" : "bc";

    public Bc(int obs, Space actionSpace, BcConfig? config = null, ulong seed = 0) : base(obs, actionSpace, config ?? new BcConfig(), seed)
    {
        _actor = new Mlp(new MlpConfig(obs, Config.Hidden, actionSpace.Width, Activation.Relu, Activation.Tanh), Rng);
        _opt = Optim("actor", new Adam(_actor.Parameters(), Config.Lr));
    }

    /// <summary>The episodes %BC trains on: the top fraction by return discounted with gamma (all of them for plain BC).</summary>
    public static Dataset Select(Dataset d, double topFraction, double gamma = 1.0)
    {
        if (topFraction >= 1) return d;
        if (topFraction <= 0) throw new ArgumentException($"%BC: the fraction must be in (0, 1], got {topFraction}");
        var ret = d.EpisodeReturns(gamma);
        int keep = Math.Max(1, (int)Math.Round(d.EpisodeCount * topFraction));
        var best = Enumerable.Range(0, d.EpisodeCount).OrderByDescending(e => ret[e]).Take(keep).OrderBy(e => e).ToList();
        return d.SelectEpisodes(best, $"%BC: top {topFraction:P0} of episodes by return discounted with gamma {gamma} ({keep} of {d.EpisodeCount})");
    }

    protected override void UpdateCore(TransitionBatch b)
    {
        _opt.ZeroGrad();
        var loss = (_actor.Forward(b.ObsT) - b.ActT).Square().Mean();
        loss.Backward();
        _opt.Step();
        Record("bc_loss", loss);
    }

    protected override void ActCore(Tensor s, Span<float> action, bool deterministic) =>
        PolicyOutput(s).Data.AsSpan(0, ActionDim).CopyTo(action);

    protected internal override Tensor PolicyOutput(Tensor s) => _actor.Forward(s);

    protected override IEnumerable<(string, Module)> Modules() => [("actor", _actor)];
}
