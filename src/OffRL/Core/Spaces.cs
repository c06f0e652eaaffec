using System.Globalization;
using System.Text.Json.Serialization;

using OffRL.Tensors;

namespace OffRL;

/// <summary>An observation or action space, as Gymnasium's spaces: a vector box or a discrete set.</summary>
[JsonPolymorphic(TypeDiscriminatorPropertyName = "type")]
[JsonDerivedType(typeof(Box), "box")]
[JsonDerivedType(typeof(Discrete), "discrete")]
public abstract record Space
{
    /// <summary>Most values one element of a space may have (a row's observation or action width).</summary>
    public const int MaxWidth = 1 << 20;

    /// <summary>Most actions a discrete space may have.</summary>
    public const int MaxDiscrete = 1 << 20;

    /// <summary>Largest magnitude of a finite box bound; a bound beyond it is not a range of values (infinite means unbounded).</summary>
    public const float MaxBound = 1e6f;

    /// <summary>Width of one element as stored in a dataset row (a discrete value is stored as one float).</summary>
    public abstract int Width { get; }

    /// <summary>What is wrong with the space as a description of data, or null when it is well formed.</summary>
    public abstract string? Problem();

    /// <summary>
    /// Refuses a space no data could have, wherever one is built or read (a dataset, a file's metadata, a saved agent):
    /// a <see cref="DataException"/> naming <paramref name="file"/> and <paramref name="field"/>, prefixed with
    /// <paramref name="role"/> (e.g. "action_space").
    /// </summary>
    public void Check(string? file, string field, string role)
    {
        if (Problem() is { } p) throw new DataException($"{role} {Describe()}: {p}", file, field);
    }

    /// <summary>The space for messages, safe on a malformed one.</summary>
    public abstract string Describe();

    /// <summary>Checks a space that may be missing (e.g. from JSON without the field).</summary>
    public static void Check([System.Diagnostics.CodeAnalysis.NotNull] Space? space, string? file, string field, string role)
    {
        if (space is null) throw new DataException($"{role} is missing", file, field);
        space.Check(file, field, role);
    }
}

/// <summary>A box of float vectors with per-dimension bounds (infinite where unbounded).</summary>
public sealed record Box(float[] Low, float[] High) : Space
{
    public override int Width => Low.Length;

    public static Box Unbounded(int dim) => new(Enumerable.Repeat(float.NegativeInfinity, dim).ToArray(), Enumerable.Repeat(float.PositiveInfinity, dim).ToArray());
    public static Box Uniform(int dim, float low, float high) => new(Enumerable.Repeat(low, dim).ToArray(), Enumerable.Repeat(high, dim).ToArray());

    public bool IsBounded => Low.All(float.IsFinite) && High.All(float.IsFinite);

    /// <summary>
    /// Well formed: low and high given with one bound per dimension, 1 .. <see cref="Space.MaxWidth"/> dimensions; each
    /// bound finite within ±<see cref="Space.MaxBound"/>, or infinite on its own side (low -inf, high +inf: unbounded);
    /// never NaN; low &lt;= high.
    /// </summary>
    public override string? Problem()
    {
        if (Low is null || High is null) return $"{(Low is null ? "low" : "high")} is missing (a box has low and high bounds, one per dimension)";
        if (Low.Length != High.Length) return $"low has {Low.Length} values and high has {High.Length} (one bound of each per dimension)";
        if (Low.Length < 1 || Low.Length > MaxWidth) return $"has {Low.Length} dimensions; a box has 1 to {MaxWidth}";
        for (int i = 0; i < Low.Length; i++)
        {
            if (BoundProblem(Low[i], float.NegativeInfinity) is { } l) return $"low[{i}] is {F(Low[i])}: {l}";
            if (BoundProblem(High[i], float.PositiveInfinity) is { } h) return $"high[{i}] is {F(High[i])}: {h}";
            if (Low[i] > High[i]) return $"low[{i}] = {F(Low[i])} is above high[{i}] = {F(High[i])} (low must be <= high)";
        }
        return null;
    }

    private static string? BoundProblem(float b, float unbounded)
    {
        if (float.IsNaN(b)) return "a bound must be a number (finite within ±1e6, or infinite for unbounded)";
        if (float.IsInfinity(b)) return b == unbounded ? null : $"{(unbounded < 0 ? "low" : "high")} may be {F(unbounded)} (unbounded on that side), never {F(b)}";
        if (MathF.Abs(b) > MaxBound) return "a finite bound must be within ±1e6 (write an infinite bound for unbounded)";
        return null;
    }

    public bool Equals(Box? other) => other is not null && Low.AsSpan().SequenceEqual(other.Low) && High.AsSpan().SequenceEqual(other.High);
    public override int GetHashCode() => HashCode.Combine(Low.Length, Low.Length > 0 ? Low[0] : 0, High.Length > 0 ? High[0] : 0);

    /// <summary>Box([low...], [high...]) for up to 8 dimensions, else the width and the range of its bounds.</summary>
    public override string ToString() => Describe();

    public override string Describe()
    {
        if (Low is null || High is null) return "Box(?)";
        if (Low.Length <= 8 && High.Length <= 8) return $"Box([{string.Join(", ", Low.Select(F))}], [{string.Join(", ", High.Select(F))}])";
        if (Low.Length != High.Length) return $"Box(low {Low.Length} values, high {High.Length} values)";
        return $"Box({Low.Length} dims, low in [{F(Low.Min())}, {F(Low.Max())}], high in [{F(High.Min())}, {F(High.Max())}])";
    }

    internal static string F(float x) => float.IsPositiveInfinity(x) ? "inf" : float.IsNegativeInfinity(x) ? "-inf" : x.ToString("G7", CultureInfo.InvariantCulture);
}

/// <summary>Actions or observations 0 .. N-1.</summary>
public sealed record Discrete(int N) : Space
{
    public override int Width => 1;

    /// <summary>Well formed: 1 .. <see cref="Space.MaxDiscrete"/> values.</summary>
    public override string? Problem() => N < 1 || N > MaxDiscrete ? $"has {N} values; a discrete space has 1 to {MaxDiscrete}" : null;

    public override string ToString() => $"Discrete({N})";
    public override string Describe() => ToString();
}

/// <summary>Operations on spaces.</summary>
public static class SpaceExtensions
{
    /// <summary>A uniformly random action from the action space.</summary>
    public static void SampleAction(this Space space, Rng rng, Span<float> action)
    {
        switch (space)
        {
            case Discrete d: action[0] = rng.NextInt(d.N); break;
            case Box b:
                for (int i = 0; i < b.Width; i++)
                {
                    float lo = float.IsFinite(b.Low[i]) ? b.Low[i] : -1f, hi = float.IsFinite(b.High[i]) ? b.High[i] : 1f;
                    action[i] = rng.Uniform(lo, hi);
                }
                break;
        }
    }
}
