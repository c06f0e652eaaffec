using System.Text.Json.Serialization;

using OffRL.Tensors;

namespace OffRL;

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
