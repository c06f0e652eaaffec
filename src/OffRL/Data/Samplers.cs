using OffRL.Tensors;

namespace OffRL.Data;

/// <summary>
/// A preallocated batch of transitions. Targets use <see cref="Discount"/>: y = r + Discount * V(s'), where
/// Discount is gamma^n, or 0 when the MDP terminated within the n steps (a timeout still bootstraps).
/// Tensors wrap the arrays (no copy); a sampler refills the same batch on every call.
/// </summary>
public sealed class TransitionBatch
{
    public int Size { get; }
    public int ObservationDim { get; }
    public int ActionDim { get; }
    public float[] Obs { get; }
    public float[] Act { get; }
    public float[] Rew { get; }
    public float[] Next { get; }
    public float[] Done { get; }
    public float[] Discount { get; }
    public int[] Rows { get; }
    /// <summary>
    /// Rows [0, DatasetRows) came from the dataset, the rest from the online buffer (a <see cref="MixedSampler"/>'s
    /// batch in a fine-tuning or hybrid run: H2O weighs the two apart); a batch of one source: <see cref="Size"/>.
    /// </summary>
    public int DatasetRows { get; internal set; }
    /// <summary>Discrete action indices (when the actions are discrete).</summary>
    public int[] ActionIndex { get; }
    public Tensor ObsT { get; }
    public Tensor ActT { get; }
    public Tensor RewT { get; }
    public Tensor NextT { get; }
    public Tensor DoneT { get; }
    public Tensor DiscountT { get; }

    public TransitionBatch(int size, int observationDim, int actionDim)
    {
        if (size <= 0) throw new ArgumentException($"batch size must be positive, got {size}");
        Size = size; ObservationDim = observationDim; ActionDim = actionDim;
        Obs = new float[size * observationDim]; Next = new float[size * observationDim];
        Act = new float[size * actionDim]; Rew = new float[size]; Done = new float[size]; Discount = new float[size];
        Rows = new int[size]; ActionIndex = new int[size];
        DatasetRows = size;
        ObsT = Tensor.FromArray(Obs, size, observationDim); NextT = Tensor.FromArray(Next, size, observationDim);
        ActT = Tensor.FromArray(Act, size, actionDim); RewT = Tensor.FromArray(Rew, size, 1);
        DoneT = Tensor.FromArray(Done, size, 1); DiscountT = Tensor.FromArray(Discount, size, 1);
    }

    internal void Fill(ITransitionSource src, int slot, int row, float gamma)
    {
        int od = ObservationDim, ad = ActionDim;
        src.CopyTransition(row, Obs.AsSpan(slot * od, od), Act.AsSpan(slot * ad, ad), out float r, Next.AsSpan(slot * od, od), out bool term);
        Rew[slot] = r;
        Done[slot] = term ? 1f : 0f;
        Discount[slot] = term ? 0f : gamma;
        Rows[slot] = row;
        ActionIndex[slot] = (int)Act[slot * ad];
    }
}

/// <summary>Draws the batches a trainer updates on; every sampler refills one preallocated batch per call.</summary>
public interface ITransitionSampler
{
    TransitionBatch Sample();
}

/// <summary>How an offline run draws its batches (<see cref="OfflineSampler.Create"/>).</summary>
public enum SamplerKind { Uniform, NStep, ReturnWeighted, AdvantageWeighted }

/// <summary>The sampler an offline run's config asks for, over its (prepared) dataset.</summary>
public static class OfflineSampler
{
    /// <param name="nStep">Steps of discounted reward per transition (<see cref="SamplerKind.NStep"/>).</param>
    /// <param name="temperature">The trajectory weights' temperature alpha (<see cref="SamplerKind.ReturnWeighted"/>, <see cref="SamplerKind.AdvantageWeighted"/>).</param>
    public static ITransitionSampler Create(Dataset d, SamplerKind kind, int batchSize, Rng rng, float gamma, int nStep = 1, double temperature = 0.1) => kind switch
    {
        SamplerKind.Uniform => new UniformSampler(new DatasetSource(d), batchSize, rng, gamma),
        SamplerKind.NStep => new NStepSampler(d, nStep, batchSize, rng, gamma),
        SamplerKind.ReturnWeighted => new TrajectoryWeightedSampler(d, TrajectoryWeights.Compute(d, TrajectoryWeighting.Return, temperature), batchSize, rng, gamma),
        SamplerKind.AdvantageWeighted => new TrajectoryWeightedSampler(d, TrajectoryWeights.Compute(d, TrajectoryWeighting.Advantage, temperature), batchSize, rng, gamma),
        _ => throw new ArgumentException($"sampler: unknown kind {kind}"),
    };
}

/// <summary>Uniform transitions with replacement from a dataset or replay buffer (seeded; no allocation per batch).</summary>
public sealed class UniformSampler : ITransitionSampler
{
    private readonly ITransitionSource _src;
    private readonly Rng _rng;
    private readonly float _gamma;
    public TransitionBatch Batch { get; }

    public UniformSampler(ITransitionSource source, int batchSize, Rng rng, float gamma = 0.99f)
    {
        _src = source; _rng = rng; _gamma = gamma;
        Batch = new TransitionBatch(batchSize, source.ObservationDim, source.ActionDim);
    }

    public UniformSampler(Dataset d, int batchSize, Rng rng, float gamma = 0.99f) : this(new DatasetSource(d), batchSize, rng, gamma) { }

    public TransitionBatch Sample()
    {
        FillSlots(Batch, 0, Batch.Size);
        return Batch;
    }

    internal void FillSlots(TransitionBatch b, int start, int count)
    {
        int n = _src.SampleableCount;
        if (n == 0) throw new InvalidOperationException("sampler: the source has no transitions to sample");
        for (int s = start; s < start + count; s++) b.Fill(_src, s, _src.SampleableRow(_rng.NextInt(n)), _gamma);
    }
}

/// <summary>Batches mixing two sources at a set ratio (e.g. RLPD's 50% offline / 50% online).</summary>
public sealed class MixedSampler : ITransitionSampler
{
    private readonly ITransitionSource _first, _second;
    private readonly UniformSampler _a, _b;
    private readonly int? _fromA;
    private readonly Rng _rng;
    public TransitionBatch Batch { get; }

    /// <param name="ratio">Fraction of each batch drawn from <paramref name="first"/>; null: in proportion to the
    /// sources' sizes, as one buffer holding both would draw (each row from <paramref name="first"/> with probability
    /// n_first / (n_first + n_second), the first rows of the batch).</param>
    public MixedSampler(ITransitionSource first, ITransitionSource second, int batchSize, double? ratio, Rng rng, float gamma = 0.99f)
    {
        if (ratio is < 0 or > 1) throw new ArgumentException($"mixed sampler: ratio must be in [0, 1], got {ratio}");
        if (first.ObservationDim != second.ObservationDim || first.ActionDim != second.ActionDim) throw new ArgumentException("mixed sampler: the sources have different dimensions");
        (_first, _second, _rng) = (first, second, rng);
        _a = new UniformSampler(first, 1, rng, gamma);
        _b = new UniformSampler(second, 1, rng, gamma);
        _fromA = ratio is { } r ? (int)Math.Round(batchSize * r) : null;
        Batch = new TransitionBatch(batchSize, first.ObservationDim, first.ActionDim) { DatasetRows = _fromA ?? 0 };
    }

    public TransitionBatch Sample()
    {
        int fromA = _fromA ?? FromFirstInProportion();
        Batch.DatasetRows = fromA;
        if (fromA > 0) _a.FillSlots(Batch, 0, fromA);
        if (fromA < Batch.Size) _b.FillSlots(Batch, fromA, Batch.Size - fromA);
        return Batch;
    }

    /// <summary>How many of the batch's rows come from the first source, each with probability n_first / (n_first + n_second).</summary>
    private int FromFirstInProportion()
    {
        long n1 = _first.SampleableCount, n2 = _second.SampleableCount;
        if (n2 == 0) return Batch.Size;
        double p = (double)n1 / (n1 + n2);
        int k = 0;
        for (int i = 0; i < Batch.Size; i++) if (_rng.NextDouble() < p) k++;
        return k;
    }
}

/// <summary>
/// n-step transitions: R = sum_{k<m} gamma^k r_{i+k}, s' = s_{i+m}, Discount = gamma^m (0 if the episode
/// terminated within), where m = n or fewer steps when the episode ends first.
/// </summary>
public sealed class NStepSampler : ITransitionSampler
{
    private readonly Dataset _d;
    private readonly Rng _rng;
    private readonly int _n;
    private readonly float _gamma;
    private readonly int[] _rows;
    public TransitionBatch Batch { get; }

    public NStepSampler(Dataset d, int n, int batchSize, Rng rng, float gamma = 0.99f)
    {
        if (n < 1) throw new ArgumentException($"n-step: n must be at least 1, got {n}");
        _d = d; _n = n; _gamma = gamma; _rng = rng;
        var rows = new List<int>();
        for (int i = 0; i < d.Count; i++) if (d.HasNext(End(i))) rows.Add(i);
        _rows = rows.ToArray();
        Batch = new TransitionBatch(batchSize, d.ObservationDim, d.ActionDim);
    }

    private int End(int i)
    {
        int j = i;
        for (int k = 0; k < _n - 1 && !_d.IsEpisodeEnd(j); k++) j++;
        return j;
    }

    public TransitionBatch Sample()
    {
        var b = Batch;
        int od = _d.ObservationDim, ad = _d.ActionDim;
        for (int s = 0; s < b.Size; s++)
        {
            int i = _rows[_rng.NextInt(_rows.Length)];
            double ret = 0, g = 1;
            int j = i;
            bool term = false;
            while (true)
            {
                ret += g * _d.Rewards[j];
                g *= _gamma;
                if (_d.Terminals[j]) { term = true; break; }
                if (_d.IsEpisodeEnd(j) || j - i + 1 == _n) break;
                j++;
            }
            _d.Observation(i).CopyTo(b.Obs.AsSpan(s * od, od));
            _d.Action(i).CopyTo(b.Act.AsSpan(s * ad, ad));
            _d.NextObservation(j).CopyTo(b.Next.AsSpan(s * od, od));
            b.Rew[s] = (float)ret;
            b.Done[s] = term ? 1f : 0f;
            b.Discount[s] = term ? 0f : (float)g;
            b.Rows[s] = i;
            b.ActionIndex[s] = (int)b.Act[s * ad];
        }
        return b;
    }
}

/// <summary>How trajectories are weighted when sampled.</summary>
public enum TrajectoryWeighting { Uniform, Return, Advantage }

/// <summary>
/// Trajectory weights from Hong et al., "Harnessing Mixed Offline RL Datasets via Trajectory Weighting" (ICLR 2023), as
/// the authors' code computes them (github.com/Improbable-AI/harness-offline-rl: JaxCQL/dataset_utils.py L233-256,
/// implicit_q_learning/dataset_utils.py L166-187): every transition of trajectory i has probability proportional to
/// exp(v_i / alpha), v_i its trajectory's return min-max normalized to [0, 1] over the dataset (return-weighted), or
/// its advantage G_i - V(s_0^i) min-max normalized (advantage-weighted, V an ordinary least-squares fit of the return
/// on the first state with an intercept). A trajectory's weight is its length times that. Uniform gives each
/// trajectory weight proportional to its length (every transition equally likely). The authors use alpha 0.1 with IQL
/// and TD3+BC, 0.2 with CQL (experiments/d4rl/run_{iql,td3bc,cql}.py).
/// </summary>
public static class TrajectoryWeights
{
    public static double[] Compute(Dataset d, TrajectoryWeighting kind, double temperature = 0.1)
    {
        int e = d.EpisodeCount;
        var w = new double[e];
        for (int i = 0; i < e; i++) w[i] = d.EpisodeLength(i);
        if (kind == TrajectoryWeighting.Uniform) return Normalize(w);
        if (!(temperature > 0)) throw new ArgumentException($"trajectory weights: temperature must be positive, got {temperature}");
        var score = d.EpisodeReturns();
        if (kind == TrajectoryWeighting.Advantage)
        {
            var v = InitialStateValue(d, score);
            for (int i = 0; i < e; i++) score[i] -= v[i];
        }
        double lo = score.Min(), hi = score.Max(), span = hi > lo ? hi - lo : 1;
        // exp((v - 1) / alpha) with v in [0, 1]: the best trajectory's transitions weigh exp(0) = 1, so nothing overflows.
        for (int i = 0; i < e; i++) w[i] *= Math.Exp(((score[i] - lo) / span - 1) / temperature);
        return Normalize(w);
    }

    private static double[] Normalize(double[] w)
    {
        double s = w.Sum();
        for (int i = 0; i < w.Length; i++) w[i] /= s;
        return w;
    }

    /// <summary>Least squares of the returns on [s_0, 1] (a ridge of 1e-9 only keeps a singular system solvable); fitted values per episode.</summary>
    private static double[] InitialStateValue(Dataset d, double[] y)
    {
        int e = d.EpisodeCount, p = d.ObservationDim + 1;
        var ne = new NormalEquations(p);
        var x = new double[p];
        for (int i = 0; i < e; i++)
        {
            var s0 = d.Observation(d.EpisodeStart(i));
            for (int j = 0; j < p - 1; j++) x[j] = s0[j];
            x[p - 1] = 1;
            ne.Add(x, y[i]);
        }
        ne.AddRidge(1e-9);
        var beta = ne.Solve();
        var v = new double[e];
        for (int i = 0; i < e; i++)
        {
            var s0 = d.Observation(d.EpisodeStart(i));
            double s = beta[p - 1];
            for (int j = 0; j < p - 1; j++) s += beta[j] * s0[j];
            v[i] = s;
        }
        return v;
    }
}

/// <summary>Transitions drawn by choosing a trajectory with given weights, then a row uniformly inside it.</summary>
public sealed class TrajectoryWeightedSampler : ITransitionSampler
{
    private readonly Dataset _d;
    private readonly DatasetSource _src;
    private readonly Rng _rng;
    private readonly float _gamma;
    private readonly WeightedIndex _pick;
    private readonly int[] _lo, _hi;   // per usable episode: [lo, hi) into the source's sampleable rows
    public TransitionBatch Batch { get; }

    public TrajectoryWeightedSampler(Dataset d, double[] episodeWeights, int batchSize, Rng rng, float gamma = 0.99f)
    {
        if (episodeWeights.Length != d.EpisodeCount) throw new ArgumentException($"weighted sampler: {episodeWeights.Length} weights for {d.EpisodeCount} episodes");
        _d = d; _src = new DatasetSource(d); _rng = rng; _gamma = gamma;
        var lo = new List<int>(); var hi = new List<int>(); var w = new List<double>();
        int k = 0;
        for (int e = 0; e < d.EpisodeCount; e++)
        {
            int start = k;
            while (k < _src.SampleableCount && d.EpisodeOf(_src.SampleableRow(k)) == e) k++;
            if (k == start || episodeWeights[e] <= 0) continue;
            lo.Add(start); hi.Add(k); w.Add(episodeWeights[e]);
        }
        if (w.Count == 0) throw new InvalidOperationException("weighted sampler: no episode with positive weight and sampleable rows");
        _lo = lo.ToArray(); _hi = hi.ToArray(); _pick = new WeightedIndex(w);
        Batch = new TransitionBatch(batchSize, d.ObservationDim, d.ActionDim);
    }

    public TransitionBatch Sample()
    {
        for (int s = 0; s < Batch.Size; s++)
        {
            int e = _pick.Draw(_rng);
            int row = _src.SampleableRow(_lo[e] + _rng.NextInt(_hi[e] - _lo[e]));
            Batch.Fill(_src, s, row, _gamma);
        }
        return Batch;
    }
}

/// <summary>Windows of K consecutive steps for sequence models (Decision Transformer), left-padded at episode starts.</summary>
public sealed class SequenceBatch
{
    public int Size { get; }
    public int Context { get; }
    public float[] States { get; }
    public float[] Actions { get; }
    public float[] Rewards { get; }
    public float[] ReturnsToGo { get; }
    public int[] Timesteps { get; }
    /// <summary>1 for real steps, 0 for padding.</summary>
    public float[] Mask { get; }
    public Tensor StatesT { get; }
    public Tensor ActionsT { get; }
    public Tensor ReturnsToGoT { get; }
    public Tensor MaskT { get; }

    public SequenceBatch(int size, int context, int obsDim, int actDim)
    {
        Size = size; Context = context;
        States = new float[size * context * obsDim]; Actions = new float[size * context * actDim];
        Rewards = new float[size * context]; ReturnsToGo = new float[size * context];
        Timesteps = new int[size * context]; Mask = new float[size * context];
        StatesT = Tensor.FromArray(States, size, context, obsDim); ActionsT = Tensor.FromArray(Actions, size, context, actDim);
        ReturnsToGoT = Tensor.FromArray(ReturnsToGo, size, context, 1); MaskT = Tensor.FromArray(Mask, size, context);
    }
}

public sealed class TrajectoryWindowSampler
{
    private readonly Dataset _d;
    private readonly Rng _rng;
    private readonly float[] _rtg;
    private readonly WeightedIndex _pick;
    private readonly float _rtgScale;
    public SequenceBatch Batch { get; }

    /// <param name="episodeWeights">Probability of each episode (default: ∝ length, every step equally likely).</param>
    /// <param name="rtgScale">Returns-to-go are multiplied by this (Decision Transformer divides by e.g. 1000).</param>
    public TrajectoryWindowSampler(Dataset d, int context, int batchSize, Rng rng, double[]? episodeWeights = null, double gamma = 1.0, float rtgScale = 1f)
    {
        if (context < 1) throw new ArgumentException($"window sampler: context must be at least 1, got {context}");
        _d = d; _rng = rng; _rtgScale = rtgScale;
        _rtg = d.ReturnsToGo(gamma);
        var w = episodeWeights ?? TrajectoryWeights.Compute(d, TrajectoryWeighting.Uniform);
        if (w.Length != d.EpisodeCount) throw new ArgumentException($"window sampler: {w.Length} weights for {d.EpisodeCount} episodes");
        _pick = new WeightedIndex(w);
        Batch = new SequenceBatch(batchSize, context, d.ObservationDim, d.ActionDim);
    }

    public SequenceBatch Sample()
    {
        var b = Batch;
        int k = b.Context, od = _d.ObservationDim, ad = _d.ActionDim;
        for (int s = 0; s < b.Size; s++)
        {
            int e = _pick.Draw(_rng);
            int start = _d.EpisodeStart(e), len = _d.EpisodeLength(e);
            int end = start + _rng.NextInt(len);          // last step of the window
            for (int t = 0; t < k; t++)
            {
                int row = end - (k - 1 - t);
                int slot = s * k + t;
                if (row < start)
                {   // left padding
                    b.States.AsSpan(slot * od, od).Clear();
                    b.Actions.AsSpan(slot * ad, ad).Clear();
                    b.Rewards[slot] = 0; b.ReturnsToGo[slot] = 0; b.Timesteps[slot] = 0; b.Mask[slot] = 0;
                    continue;
                }
                _d.Observation(row).CopyTo(b.States.AsSpan(slot * od, od));
                _d.Action(row).CopyTo(b.Actions.AsSpan(slot * ad, ad));
                b.Rewards[slot] = _d.Rewards[row];
                b.ReturnsToGo[slot] = _rtg[row] * _rtgScale;
                b.Timesteps[slot] = row - start;
                b.Mask[slot] = 1;
            }
        }
        return b;
    }
}
