using System.Text.Json.Serialization;

namespace OffRL.Data;

/// <summary>An observation or action space, as Gymnasium's spaces: a vector box or a discrete set.</summary>
[JsonPolymorphic(TypeDiscriminatorPropertyName = "type")]
[JsonDerivedType(typeof(Box), "box")]
[JsonDerivedType(typeof(Discrete), "discrete")]
public abstract record Space
{
    /// <summary>Width of one element as stored in a dataset row (a discrete value is stored as one float).</summary>
    public abstract int Width { get; }
}

/// <summary>A box of float vectors with per-dimension bounds (infinite where unbounded).</summary>
public sealed record Box(float[] Low, float[] High) : Space
{
    public override int Width => Low.Length;

    public static Box Unbounded(int dim) => new(Enumerable.Repeat(float.NegativeInfinity, dim).ToArray(), Enumerable.Repeat(float.PositiveInfinity, dim).ToArray());
    public static Box Uniform(int dim, float low, float high) => new(Enumerable.Repeat(low, dim).ToArray(), Enumerable.Repeat(high, dim).ToArray());

    public bool IsBounded => Low.All(float.IsFinite) && High.All(float.IsFinite);

    public bool Equals(Box? other) => other is not null && Low.AsSpan().SequenceEqual(other.Low) && High.AsSpan().SequenceEqual(other.High);
    public override int GetHashCode() => HashCode.Combine(Low.Length, Low.Length > 0 ? Low[0] : 0, High.Length > 0 ? High[0] : 0);
    public override string ToString() => $"Box({Width})";
}

/// <summary>Actions or observations 0 .. N-1.</summary>
public sealed record Discrete(int N) : Space
{
    public override int Width => 1;
    public override string ToString() => $"Discrete({N})";
}

/// <summary>A data error that says where: file, field, row and column when known.</summary>
public sealed class DataException(string message, string? file = null, string? field = null, long row = -1, int column = -1)
    : Exception(Compose(message, file, field, row, column))
{
    public string? File { get; } = file;
    public string? Field { get; } = field;
    public long Row { get; } = row;
    public int Column { get; } = column;

    private static string Compose(string message, string? file, string? field, long row, int column)
    {
        var where = new List<string>();
        if (file is not null) where.Add(file);
        if (field is not null) where.Add($"field '{field}'");
        if (row >= 0) where.Add($"row {row}");
        if (column >= 0) where.Add($"column {column}");
        return where.Count == 0 ? message : $"{string.Join(", ", where)}: {message}";
    }
}

/// <summary>Per-column statistics of a row-major [rows, width] array (double accumulation).</summary>
public static class ColumnStats
{
    public static (double[] Mean, double[] Std) MeanStd(ReadOnlySpan<float> v, int width)
    {
        var m = new double[width]; var sq = new double[width];
        int n = width == 0 ? 0 : v.Length / width;
        for (int i = 0; i < v.Length; i++) { m[i % width] += v[i]; sq[i % width] += (double)v[i] * v[i]; }
        var std = new double[width];
        for (int j = 0; j < width; j++)
        {
            m[j] /= Math.Max(1, n);
            std[j] = Math.Sqrt(Math.Max(0, sq[j] / Math.Max(1, n) - m[j] * m[j]));
        }
        return (m, std);
    }
}

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

    public int Draw(OffRL.Tensors.Rng rng)
    {
        double u = rng.NextDouble() * _cum[^1];
        int i = Array.BinarySearch(_cum, u);
        if (i < 0) i = ~i;
        while (i < _cum.Length - 1 && (i == 0 ? _cum[0] : _cum[i] - _cum[i - 1]) <= 0) i++;   // skip zero-weight entries hit exactly
        return Math.Min(i, _cum.Length - 1);
    }
}
