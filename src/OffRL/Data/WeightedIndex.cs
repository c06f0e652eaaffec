using OffRL.Tensors;

namespace OffRL.Data;

/// <summary>Draws an index with probability proportional to non-negative weights (cumulative sums + binary search; no allocation per draw).</summary>
public sealed class WeightedIndex
{
    private readonly double[] _cum;

    public WeightedIndex(IReadOnlyList<double> weights)
    {
        _cum = new double[weights.Count];
        double acc = 0;
        for (int i = 0; i < weights.Count; i++) { acc += Math.Max(0, weights[i]); _cum[i] = acc; }
        if (!(acc > 0)) throw new ArgumentException("weighted draw: all weights are zero");
    }

    public int Draw(Rng rng)
    {
        double u = rng.NextDouble() * _cum[^1];
        int i = Array.BinarySearch(_cum, u);
        if (i < 0) i = ~i;
        while (i < _cum.Length - 1 && (i == 0 ? _cum[0] : _cum[i] - _cum[i - 1]) <= 0) i++;   // skip zero-weight entries hit exactly
        return Math.Min(i, _cum.Length - 1);
    }
}
