using OffRL.Data;
using OffRL.Nn;
using OffRL.Tensors;

namespace OffRL.Algorithms;

/// <summary>
/// Behavior cloning hyperparameters (2 x 256 tanh policy, Adam 1e-3, batch 256; CORL's any_percent_bc.py hard-codes
/// 3e-4, which its preset sets); <see cref="TopFraction"/> &lt; 1 gives %BC (Chen et al. 2021, "Decision Transformer",
/// section 5: clone the best x% of episodes by return; 10% as CORL's bc_10 configs, which rank by the undiscounted
/// return: discount 1.0 in every one of them).
/// </summary>
public sealed record BcConfig : AgentConfig
{
    [FieldRange("(0, 1]")]
    public double Lr { get; init; } = 1e-3;
    /// <summary>Fraction in (0, 1] of episodes kept, the best max(1, floor(fraction x count)) by return (1: plain BC on everything).</summary>
    [FieldRange("(0, 1]")]
    public double TopFraction { get; init; } = 1.0;
    /// <summary>
    /// Discount of the return %BC ranks by: 1, the undiscounted return, as Chen et al. and all of CORL's bc_10 configs
    /// (CORL's script default 0.99 is overridden by each config). Segments as <see cref="AgentConfig.ReturnSegments"/> cuts them.
    /// </summary>
    [FieldRange("[0, 1]")]
    public double RankDiscount { get; init; } = 1.0;
}

/// <summary>Behavior cloning: a deterministic tanh policy regressed on the dataset's actions, min E (pi(s) - a)^2.</summary>
public sealed class Bc : Agent<BcConfig>, IAlgorithmFamily
{
    public static IReadOnlyList<AlgorithmSpec> Algorithms =>
    [
        AlgorithmSpec.Of("bc", LearningMode.Offline, ActionKind.Continuous, "Behavior cloning: regress the dataset's actions",
            new BcConfig(), (obs, space, c, seed) => new Bc(obs, space, c, seed)) with { PrepareData = Prepare, Presets = [CorlPreset(1.0, 0.99, "bc")] },
        AlgorithmSpec.Of("pbc", LearningMode.Offline, ActionKind.Continuous, "%BC: behavior cloning on the best 10% of episodes (Chen et al. 2021)",
            new BcConfig { TopFraction = 0.1 }, (obs, space, c, seed) => new Bc(obs, space, c, seed)) with { PrepareData = Prepare, Presets = [CorlPreset(0.1, 1.0, "bc_10")] },
    ];

    /// <summary>CORL's any_percent_bc.py configs: bc (frac 1.0, discount 0.99) and bc_10 (frac 0.1, discount 1.0); Adam 3e-4 hard-coded (L343).</summary>
    private static Preset CorlPreset(double fraction, double discount, string folder) => new("corl", "CORL (github.com/tinkoff-ai/CORL @6afec90)",
    [
        new(Preset.Locomotion, FormattableString.Invariant($"top_fraction: {fraction}, rank_discount: {discount}, return_segments: corl, lr: 3e-4, batch_size: 256, ") +
            "hidden: [256, 256], normalize_observations: true, qlearning_rows: true, reward_normalization: none",
            $"configs/offline/{folder}/{{env}}/{{dataset}}_v2.yaml; any_percent_bc.py keep_best_trajectories L192-225"),
    ]);

    private static Dataset Prepare(Dataset d, AgentConfig c) => Select(d, ((BcConfig)c).TopFraction, ((BcConfig)c).RankDiscount, c.ReturnSegments);

    private readonly Mlp _actor;
    private readonly Adam _opt;

    public Bc(int obs, Space actionSpace, BcConfig? config = null, ulong seed = 0) : base(obs, actionSpace, config ?? new BcConfig(), seed)
    {
        _actor = new Mlp(new MlpConfig(obs, Config.Hidden, actionSpace.Width, Activation.Relu, Activation.Tanh), Rng);
        _opt = Optim("actor", new Adam(_actor.Parameters(), Config.Lr));
    }

    /// <summary>
    /// The rows %BC trains on: the best max(1, floor(fraction x count)) segments by return discounted with
    /// <paramref name="discount"/> (CORL's keep_best_trajectories), segments cut by <paramref name="segments"/>; everything
    /// for plain BC.
    /// </summary>
    public static Dataset Select(Dataset d, double topFraction, double discount = 1.0, ReturnSegments segments = ReturnSegments.Episodes)
    {
        // CORL's rule drops the incomplete last segment even for plain BC (keep_best_trajectories runs for frac 1 too).
        if (topFraction >= 1 && segments == ReturnSegments.Episodes) return d;
        if (topFraction <= 0) throw new ArgumentException($"%BC: the fraction must be in (0, 1], got {topFraction}");
        var all = d.Segments(segments);
        var ret = d.SegmentReturns(all, discount);
        int keep = Math.Max(1, (int)Math.Floor(all.Count * topFraction));
        var order = new int[all.Count];
        for (int k = 0; k < order.Length; k++) order[k] = k;
        Array.Sort(order, (x, y) => ret[y].CompareTo(ret[x]) is var c && c != 0 ? c : x.CompareTo(y));   // best first, ties in data order
        var best = new int[keep];
        Array.Copy(order, best, keep);
        Array.Sort(best);
        var kept = new List<int[]>(keep);
        foreach (var k in best) kept.Add(all[k]);
        return d.SelectSegments(kept, $"%BC: top {topFraction:P0} of {(segments == ReturnSegments.Corl ? "CORL segments" : "episodes")} by return discounted with {discount} ({keep} of {all.Count})");
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
