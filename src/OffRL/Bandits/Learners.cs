using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;
using OffRL.Tensors;

namespace OffRL.Bandits;

/// <summary>
/// Settings of a contextual-bandit learner (one record for all; each learner reads its own fields). Defaults:
/// SquareCB's gamma_t = GammaScale * t^GammaExponent as in Vowpal Wabbit (10, 0.5); LinUCB alpha 1 (Li et al. 2010);
/// Thompson sampling posterior scale v (Agrawal &amp; Goyal 2013); Floor mixes a share of uniform exploration into any
/// learner so every candidate keeps a positive logged probability (needed to evaluate other policies from the logs).
/// </summary>
public sealed record BanditLearnerConfig
{
    /// <summary>epsilon-greedy | softmax | squarecb | linucb | thompson | fixed-softmax</summary>
    public string Algo { get; init; } = "squarecb";
    /// <summary>ridge | neural (linucb and thompson always use ridge).</summary>
    public string Oracle { get; init; } = "ridge";
    [FieldRange("[0, 1]")]
    public double Epsilon { get; init; } = 0.05;
    [FieldRange("(0, inf)")]
    public double Temperature { get; init; } = 0.05;
    [FieldRange("(0, inf)")]
    public double GammaScale { get; init; } = 10;
    [FieldRange("[0, 1]")]
    public double GammaExponent { get; init; } = 0.5;
    [FieldRange("[0, inf)")]
    public double Alpha { get; init; } = 1.0;
    [FieldRange("(0, inf)")]
    public double V { get; init; } = 0.5;
    [FieldRange("[1, 100000]")]
    public int ThompsonDraws { get; init; } = 200;
    [FieldRange("(0, inf)")]
    public double Lambda { get; init; } = 1.0;
    [FieldRange("[0, 1]")]
    public double Floor { get; init; } = 0.01;
    [FieldRange("[1, 65536]")]
    public int[] Hidden { get; init; } = [64, 64];
    [FieldRange("(0, 1]")]
    public float LearningRate { get; init; } = 1e-3f;
    [FieldRange("[1, 100000]")]
    public int NeuralBatch { get; init; } = 32;
    /// <summary>Learn once this many rewards have arrived (1 = after every reward).</summary>
    [FieldRange("[1, 1000000]")]
    public int BatchSize { get; init; } = 1;
    public ulong Seed { get; init; } = 0;
}

/// <summary>
/// A contextual-bandit learner: a distribution over the current candidates (every entry in [0, 1], summing to 1, and
/// positive when Floor &gt; 0), a sampled decision with its probability to log, and batched learning from rewards.
/// Candidates with a known reward (one-sided feedback) are scored by that value and never learned from.
/// </summary>
public abstract class BanditLearner
{
    public BanditLearnerConfig Config { get; }
    public int ContextDim { get; }
    public int ActionDim { get; }
    public IRewardOracle Oracle { get; }
    /// <summary>Decisions made so far (t in the schedules).</summary>
    public long Decisions { get; internal set; }
    private readonly List<Feedback> _pending = [];

    protected BanditLearner(BanditLearnerConfig config, int contextDim, int actionDim, IRewardOracle oracle)
    {
        FieldRange.Check(config);
        if (contextDim < 0 || contextDim > MaxWidth) throw new ArgumentException($"context width must be in [0, {MaxWidth}], got {contextDim}");
        if (actionDim < 0 || actionDim > MaxWidth) throw new ArgumentException($"action feature width must be in [0, {MaxWidth}], got {actionDim}");
        Config = config; ContextDim = contextDim; ActionDim = actionDim; Oracle = oracle;
    }

    public string Name => Config.Algo;

    /// <summary>The widest context or action-feature vector a learner takes (its joint features grow with their product).</summary>
    public const int MaxWidth = 4096;


    /// <summary>The share of uniform exploration mixed into every distribution.</summary>
    protected virtual double Floor => Config.Floor;

    /// <summary>The learner's own distribution over candidates before the uniform floor.</summary>
    protected abstract void Distribution(BanditContext c, ReadOnlySpan<double> yhat, Span<double> p, Rng rng);

    /// <summary>The distribution over the candidates of <paramref name="c"/> (after the floor).</summary>
    public void Probabilities(BanditContext c, Span<float> probs, Rng rng)
    {
        Check(c);
        int k = c.Count;
        Span<double> yhat = k <= 256 ? stackalloc double[k] : new double[k];
        Oracle.Predict(c, yhat);
        for (int i = 0; i < k; i++)
            if (c.Actions[i].KnownReward is float known) yhat[i] = known;
        Span<double> p = k <= 256 ? stackalloc double[k] : new double[k];
        Distribution(c, yhat, p, rng);
        double floor = Floor, sum = 0;
        for (int i = 0; i < k; i++) { p[i] = (1 - floor) * p[i] + floor / k; sum += p[i]; }
        for (int i = 0; i < k; i++) probs[i] = (float)(p[i] / sum);
    }

    public BanditDecision Decide(BanditContext c, Rng rng)
    {
        var probs = new float[c.Count];
        Probabilities(c, probs, rng);
        int a = rng.Categorical(probs);
        Decisions++;
        return new BanditDecision(a, probs[a], probs);
    }

    /// <summary>Count decisions made elsewhere (e.g. replayed from a decision log) in the exploration schedules.</summary>
    public void AdvanceClock(long decisions) => Decisions += decisions;

    /// <summary>Queue one observed reward for the chosen candidate; learns when a batch is full. Known-reward actions are skipped.</summary>
    public void Observe(BanditContext c, int index, float reward)
    {
        if (c.Actions[index].KnownReward is not null) return;
        _pending.Add(new Feedback(c.Context, c.Actions[index].Features, reward));
        if (_pending.Count >= Config.BatchSize) Flush();
    }

    /// <summary>Learn from every queued reward now.</summary>
    public void Flush()
    {
        if (_pending.Count == 0) return;
        Oracle.Update(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(_pending));
        _pending.Clear();
        OnUpdated();
    }

    protected virtual void OnUpdated() { }

    private void Check(BanditContext c)
    {
        if (c.Context.Length != ContextDim) throw new DataException($"has {c.Context.Length} values, the policy expects {ContextDim}", field: "context");
        for (int i = 0; i < c.Count; i++)
            if (c.Actions[i].Features.Length != ActionDim)
                throw new DataException($"action '{c.Actions[i].Id}' has {c.Actions[i].Features.Length} features, the policy expects {ActionDim}", field: $"actions[{i}].features");
    }

    /// <summary>Index of the largest score; ties go to the first (callers that need fair ties randomize candidates).</summary>
    protected static int ArgMax(ReadOnlySpan<double> v)
    {
        int best = 0;
        for (int i = 1; i < v.Length; i++) if (v[i] > v[best]) best = i;
        return best;
    }

    /// <summary>Uniform over the maximizers of <paramref name="scores"/>.</summary>
    protected static void ArgMaxUniform(ReadOnlySpan<double> scores, Span<double> p)
    {
        double m = scores[ArgMax(scores)];
        int ties = 0;
        for (int i = 0; i < scores.Length; i++) if (scores[i] >= m - 1e-12) ties++;
        for (int i = 0; i < scores.Length; i++) p[i] = scores[i] >= m - 1e-12 ? 1.0 / ties : 0;
    }

    public static BanditLearner Create(BanditLearnerConfig config, int contextDim, int actionDim)
    {
        IRewardOracle Make() => config.Oracle.ToLowerInvariant() switch
        {
            "ridge" => new RidgeOracle(contextDim, actionDim, config.Lambda),
            "neural" => new NeuralOracle(contextDim, actionDim, config.Hidden, config.LearningRate, config.NeuralBatch, seed: config.Seed),
            _ => throw new ArgumentException($"unknown oracle '{config.Oracle}' (ridge, neural)"),
        };
        RidgeOracle Ridge() => new(contextDim, actionDim, config.Lambda);
        return config.Algo.ToLowerInvariant() switch
        {
            "epsilon-greedy" or "greedy" => new EpsilonGreedy(config, contextDim, actionDim, Make()),
            "softmax" or "boltzmann" => new SoftmaxExplorer(config, contextDim, actionDim, Make()),
            "squarecb" or "igw" => new SquareCb(config, contextDim, actionDim, Make()),
            "linucb" => new LinUcb(config, contextDim, actionDim, Ridge()),
            "thompson" or "lints" => new LinearThompson(config, contextDim, actionDim, Ridge()),
            _ => throw new ArgumentException($"unknown learner '{config.Algo}' (epsilon-greedy, softmax, squarecb, linucb, thompson)"),
        };
    }

    public static readonly string[] Names = ["epsilon-greedy", "softmax", "squarecb", "linucb", "thompson"];
}

/// <summary>Epsilon-greedy: the greedy action with probability 1 - epsilon, uniform otherwise (epsilon is added to the floor).</summary>
public sealed class EpsilonGreedy(BanditLearnerConfig config, int contextDim, int actionDim, IRewardOracle oracle)
    : BanditLearner(config, contextDim, actionDim, oracle)
{
    protected override double Floor => 1 - (1 - Config.Floor) * (1 - Config.Epsilon);

    protected override void Distribution(BanditContext c, ReadOnlySpan<double> yhat, Span<double> p, Rng rng) => ArgMaxUniform(yhat, p);
}

/// <summary>Softmax (Boltzmann) exploration: p(a) proportional to exp(yhat(a) / temperature).</summary>
public sealed class SoftmaxExplorer(BanditLearnerConfig config, int contextDim, int actionDim, IRewardOracle oracle)
    : BanditLearner(config, contextDim, actionDim, oracle)
{
    protected override void Distribution(BanditContext c, ReadOnlySpan<double> yhat, Span<double> p, Rng rng)
    {
        double m = yhat[ArgMax(yhat)], z = 0;
        for (int i = 0; i < p.Length; i++) { p[i] = Math.Exp((yhat[i] - m) / Config.Temperature); z += p[i]; }
        for (int i = 0; i < p.Length; i++) p[i] /= z;
    }
}

/// <summary>
/// SquareCB (Foster &amp; Rakhlin 2020, inverse gap weighting): p(a) = 1 / (K + gamma (yhat(a*) - yhat(a))) for a != a*,
/// and the rest to the greedy a*; gamma_t = GammaScale * t^GammaExponent.
/// </summary>
public sealed class SquareCb(BanditLearnerConfig config, int contextDim, int actionDim, IRewardOracle oracle)
    : BanditLearner(config, contextDim, actionDim, oracle)
{
    public double Gamma => Config.GammaScale * Math.Pow(Decisions + 1, Config.GammaExponent);

    protected override void Distribution(BanditContext c, ReadOnlySpan<double> yhat, Span<double> p, Rng rng)
    {
        int k = p.Length, best = ArgMax(yhat);
        double gamma = Gamma, rest = 0;
        for (int i = 0; i < k; i++)
        {
            if (i == best) continue;
            p[i] = 1.0 / (k + gamma * (yhat[best] - yhat[i]));
            rest += p[i];
        }
        p[best] = 1 - rest;
    }
}

/// <summary>LinUCB (Li et al. 2010): argmax of theta' phi + alpha sqrt(phi' A^-1 phi), ties split evenly.</summary>
public sealed class LinUcb(BanditLearnerConfig config, int contextDim, int actionDim, RidgeOracle ridge)
    : BanditLearner(config, contextDim, actionDim, ridge)
{
    protected override void Distribution(BanditContext c, ReadOnlySpan<double> yhat, Span<double> p, Rng rng)
    {
        var ucb = new double[p.Length];
        for (int i = 0; i < p.Length; i++)
            ucb[i] = c.Actions[i].KnownReward is float known ? known
                : yhat[i] + Config.Alpha * Math.Sqrt(ridge.Width2(ridge.Features(c.Context, c.Actions[i].Features)));
        ArgMaxUniform(ucb, p);
    }
}

/// <summary>
/// Linear Thompson sampling (Agrawal &amp; Goyal 2013): theta~ ~ N(theta, v^2 A^-1), play argmax theta~' phi. The
/// probability of each action under that draw has no closed form, so it is estimated from ThompsonDraws posterior draws
/// and the action is sampled from that estimate: the logged probability is then exactly the one used.
/// </summary>
public sealed class LinearThompson(BanditLearnerConfig config, int contextDim, int actionDim, RidgeOracle ridge)
    : BanditLearner(config, contextDim, actionDim, ridge)
{
    private double[]? _chol;

    protected override void OnUpdated() => _chol = null;

    protected override void Distribution(BanditContext c, ReadOnlySpan<double> yhat, Span<double> p, Rng rng)
    {
        int d = ridge.Dim, k = p.Length;
        _chol ??= Linalg.Cholesky(ridge.AInverse, d, clampPivots: true);
        // theta~' phi_i = yhat(i) + v z' (L' phi_i) with z ~ N(0, I): project the candidates once, M = L' Phi' [d, k].
        var m = new double[d * k];
        for (int i = 0; i < k; i++)
        {
            var phi = ridge.Features(c.Context, c.Actions[i].Features);
            for (int r = 0; r < d; r++)
            {
                double acc = 0;
                for (int j = r; j < d; j++) acc += _chol[j * d + r] * phi[j];
                m[r * k + i] = acc * Config.V;
            }
        }
        var z = new double[d]; var score = new double[k];
        p.Clear();
        int draws = Math.Max(1, Config.ThompsonDraws);
        for (int s = 0; s < draws; s++)
        {
            for (int i = 0; i < k; i++) score[i] = yhat[i];
            for (int r = 0; r < d; r++)
            {
                double zr = rng.NextNormal();
                TensorPrimitives.MultiplyAdd(new ReadOnlySpan<double>(m, r * k, k), zr, score, score);
            }
            for (int i = 0; i < k; i++)
                if (c.Actions[i].KnownReward is float known) score[i] = known;
            p[ArgMax(score)] += 1.0 / draws;
        }
    }
}
