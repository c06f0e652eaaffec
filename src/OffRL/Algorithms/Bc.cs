using OffRL.Data;
using OffRL.Nn;
using OffRL.Tensors;

namespace OffRL.Algorithms;

/// <summary>Behavior cloning hyperparameters; TopFraction &lt; 1 gives %BC (Chen et al. 2021: clone the best x% of episodes by return).</summary>
public sealed record BcConfig(int[]? Hidden = null, double Lr = 1e-3, int BatchSize = 256, double TopFraction = 1.0, bool NormalizeObservations = true)
{
    [System.Text.Json.Serialization.JsonIgnore] public int[] HiddenSizes => Hidden ?? [256, 256];
}

/// <summary>Behavior cloning: a deterministic tanh policy regressed on the dataset's actions, min E (pi(s) - a)^2.</summary>
public sealed class Bc : Agent
{
    private readonly Mlp _actor;
    private readonly Adam _opt;
    public BcConfig Config { get; }
    public override string Name => Config.TopFraction < 1 ? "pbc" : "bc";

    public Bc(int obs, Space actionSpace, BcConfig? config = null, ulong seed = 0) : base(obs, actionSpace, seed)
    {
        Config = config ?? new BcConfig();
        _actor = new Mlp(new MlpConfig(obs, Config.HiddenSizes, actionSpace.Width, Activation.Relu, Activation.Tanh), Rng);
        _opt = Optim("actor", new Adam(_actor.Parameters(), Config.Lr));
    }

    /// <summary>The episodes %BC trains on: the top fraction by return (all of them for plain BC).</summary>
    public static Dataset Select(Dataset d, double topFraction)
    {
        if (topFraction >= 1) return d;
        if (topFraction <= 0) throw new ArgumentException($"%BC: the fraction must be in (0, 1], got {topFraction}");
        var ret = d.EpisodeReturns();
        int keep = Math.Max(1, (int)Math.Round(d.EpisodeCount * topFraction));
        var best = Enumerable.Range(0, d.EpisodeCount).OrderByDescending(e => ret[e]).Take(keep).OrderBy(e => e).ToList();
        return d.SelectEpisodes(best, $"%BC: top {topFraction:P0} of episodes by return ({keep} of {d.EpisodeCount})");
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
        _actor.Forward(s).Data.AsSpan(0, ActionDim).CopyTo(action);

    protected override IEnumerable<(string, Module)> Modules() => [("actor", _actor)];
}
