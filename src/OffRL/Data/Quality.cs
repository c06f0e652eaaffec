using OffRL.IO;
using OffRL.Tensors;

namespace OffRL.Data;

/// <summary>Reference returns and coverage for normalizing the quality measures (e.g. a random and an expert policy).</summary>
public sealed record QualityReference(double? RandomReturn = null, double? ExpertReturn = null, long? ReferenceUniquePairs = null);

/// <summary>What is in a dataset: sizes, returns, and the dataset-quality measures from the literature.</summary>
public sealed record DatasetStats
{
    public int Transitions { get; init; }
    public int Episodes { get; init; }
    public int Terminals { get; init; }
    public int Timeouts { get; init; }
    public double LengthMean { get; init; }
    public int LengthMin { get; init; }
    public int LengthMax { get; init; }
    public double ReturnMean { get; init; }
    public double ReturnStd { get; init; }
    public double ReturnMin { get; init; }
    public double ReturnMax { get; init; }
    public double ReturnMedian { get; init; }
    /// <summary>Trajectory quality (Schweighofer et al. 2022): (mean return - random) / (expert - random); against the dataset's own min/max when no reference is given.</summary>
    public double TrajectoryQuality { get; init; }
    public bool TrajectoryQualityIsReferenced { get; init; }
    /// <summary>State-action coverage (Schweighofer et al. 2022): unique (discretized) state-action pairs over the reference's; over the transition count when no reference is given.</summary>
    public double StateActionCoverage { get; init; }
    public long UniqueStateActionPairs { get; init; }
    /// <summary>Mean distance between a transition's action and the actions taken at its k nearest states (Belkhale et al. 2023's action divergence, estimated from data), in action-std units.</summary>
    public double ActionDivergence { get; init; }
    /// <summary>Mean distance between the next states that follow the k nearest (s, a) pairs (Belkhale et al. 2023's transition diversity, estimated from data), in state-std units.</summary>
    public double TransitionDiversity { get; init; }
    public double BytesPerTransition { get; init; }
}

public static class DatasetStatistics
{
    /// <param name="bins">Bins per dimension for discretizing continuous states and actions (SACo).</param>
    /// <param name="sample">Transitions sampled (seeded) for the nearest-neighbour estimates.</param>
    public static DatasetStats Compute(Dataset d, QualityReference? reference = null, int bins = 10, int sample = 2000, int k = 5, ulong seed = 0)
    {
        reference ??= new QualityReference();
        var ret = d.EpisodeReturns();
        var lens = Enumerable.Range(0, d.EpisodeCount).Select(d.EpisodeLength).ToArray();
        double mean = ret.Length > 0 ? ret.Average() : 0;
        double std = ret.Length > 0 ? Math.Sqrt(ret.Select(r => (r - mean) * (r - mean)).Average()) : 0;
        var sorted = ret.OrderBy(r => r).ToArray();
        double median = sorted.Length == 0 ? 0 : sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : 0.5 * (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]);
        bool referenced = reference.RandomReturn is not null && reference.ExpertReturn is not null;
        double lo = referenced ? reference.RandomReturn!.Value : (sorted.Length > 0 ? sorted[0] : 0);
        double hi = referenced ? reference.ExpertReturn!.Value : (sorted.Length > 0 ? sorted[^1] : 1);
        double tq = hi > lo ? (mean - lo) / (hi - lo) : 0;
        long unique = UniquePairs(d, bins);
        double saco = reference.ReferenceUniquePairs is > 0 ? (double)unique / reference.ReferenceUniquePairs.Value : d.Count == 0 ? 0 : (double)unique / d.Count;
        var (div, tdiv) = NeighbourMeasures(d, sample, k, seed);
        return new DatasetStats
        {
            Transitions = d.Count, Episodes = d.EpisodeCount,
            Terminals = Count(d.Terminals), Timeouts = Count(d.Timeouts),
            LengthMean = lens.Length > 0 ? lens.Average() : 0, LengthMin = lens.Length > 0 ? lens.Min() : 0, LengthMax = lens.Length > 0 ? lens.Max() : 0,
            ReturnMean = mean, ReturnStd = std, ReturnMin = sorted.Length > 0 ? sorted[0] : 0, ReturnMax = sorted.Length > 0 ? sorted[^1] : 0, ReturnMedian = median,
            TrajectoryQuality = tq, TrajectoryQualityIsReferenced = referenced,
            StateActionCoverage = saco, UniqueStateActionPairs = unique,
            ActionDivergence = div, TransitionDiversity = tdiv,
            BytesPerTransition = d.BytesPerTransition,
        };
    }

    private static int Count(ReadOnlySpan<bool> f) { int c = 0; foreach (var b in f) if (b) c++; return c; }

    /// <summary>Number of distinct (state, action) cells: each dimension cut into equal bins over its data range (discrete values kept as they are).</summary>
    public static long UniquePairs(Dataset d, int bins)
    {
        int od = d.ObservationDim, ad = d.ActionDim;
        var (olo, ohi) = Range(d.Observations, od);
        var (alo, ahi) = Range(d.Actions, ad);
        var set = new HashSet<(ulong, ulong)>();
        for (int i = 0; i < d.Count; i++)
        {
            ulong h1 = 1469598103934665603UL, h2 = 7809847782465536322UL;
            void Mix(int cell)
            {
                h1 = (h1 ^ (ulong)(uint)cell) * 1099511628211UL;
                h2 = (h2 + (ulong)(uint)cell + 0x9E3779B97F4A7C15UL) * 0xBF58476D1CE4E5B9UL;
            }
            var o = d.Observation(i);
            for (int j = 0; j < od; j++) Mix(Cell(o[j], olo[j], ohi[j], bins));
            var a = d.Action(i);
            if (d.DiscreteActions) Mix((int)a[0] + 1_000_003);
            else for (int j = 0; j < ad; j++) Mix(Cell(a[j], alo[j], ahi[j], bins) + 1_000_003);
            set.Add((h1, h2));
        }
        return set.Count;
    }

    private static int Cell(float v, float lo, float hi, int bins) => hi > lo ? Math.Clamp((int)((v - lo) / (hi - lo) * bins), 0, bins - 1) : 0;

    private static (float[] Lo, float[] Hi) Range(ReadOnlySpan<float> v, int w)
    {
        var lo = Enumerable.Repeat(float.PositiveInfinity, w).ToArray();
        var hi = Enumerable.Repeat(float.NegativeInfinity, w).ToArray();
        for (int i = 0; i < v.Length; i++) { int j = i % w; lo[j] = Math.Min(lo[j], v[i]); hi[j] = Math.Max(hi[j], v[i]); }
        return (lo, hi);
    }

    private static float[] Std(ReadOnlySpan<float> v, int w) => ColumnStats.MeanStd(v, w).Std.Select(x => (float)Math.Max(1e-6, x)).ToArray();

    /// <summary>Nearest-neighbour estimates on a seeded sample (brute force, standardized coordinates).</summary>
    private static (double ActionDivergence, double TransitionDiversity) NeighbourMeasures(Dataset d, int sample, int k, ulong seed)
    {
        var src = new DatasetSource(d);
        int n = src.SampleableCount;
        if (n < k + 2) return (0, 0);
        var rng = new Rng(seed);
        int m = Math.Min(sample, n);
        var rows = rng.Permutation(n).Take(m).Select(src.SampleableRow).ToArray();
        int od = d.ObservationDim, ad = d.ActionDim;
        var so = Std(d.Observations, od); var sa = Std(d.Actions, ad);
        var s = new float[m * od]; var a = new float[m * ad]; var nx = new float[m * od];
        for (int i = 0; i < m; i++)
        {
            var o = d.Observation(rows[i]); var ac = d.Action(rows[i]); var nn = d.NextObservation(rows[i]);
            for (int j = 0; j < od; j++) { s[i * od + j] = o[j] / so[j]; nx[i * od + j] = nn[j] / so[j]; }
            for (int j = 0; j < ad; j++) a[i * ad + j] = ac[j] / sa[j];
        }
        double div = 0, tdiv = 0;
        var dist = new (float D, int J)[m - 1];
        var dsa = new (float D, int J)[m - 1];
        for (int i = 0; i < m; i++)
        {
            int c = 0;
            for (int j = 0; j < m; j++)
            {
                if (j == i) continue;
                float ds = Sq(s, i, j, od);
                dist[c] = (ds, j);
                dsa[c] = (ds + Sq(a, i, j, ad), j);
                c++;
            }
            Array.Sort(dist, (x, y) => x.D.CompareTo(y.D));
            Array.Sort(dsa, (x, y) => x.D.CompareTo(y.D));
            double da = 0, dn = 0;
            for (int q = 0; q < k; q++)
            {
                da += Math.Sqrt(Sq(a, i, dist[q].J, ad));
                dn += Math.Sqrt(Sq(nx, i, dsa[q].J, od));
            }
            div += da / k; tdiv += dn / k;
        }
        return (div / m, tdiv / m);
    }

    private static float Sq(float[] v, int i, int j, int w)
    {
        float s = 0;
        for (int q = 0; q < w; q++) { float t = v[i * w + q] - v[j * w + q]; s += t * t; }
        return s;
    }
}
