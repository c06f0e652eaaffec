using System.Numerics;
using System.Runtime.CompilerServices;

namespace OffRL.Tensors;

/// <summary>
/// The one seedable random generator used everywhere in OffRL: xoshiro256** (Blackman and Vigna),
/// seeded through SplitMix64. Same seed, same numbers, on every machine. Its state can be saved
/// and restored (checkpoints) and forked into independent streams (workers, ensemble members).
/// </summary>
public sealed class Rng
{
    private ulong _s0, _s1, _s2, _s3;
    private double _spareNormal;
    private bool _hasSpare;

    public Rng(ulong seed)
    {
        ulong x = seed;
        _s0 = SplitMix(ref x); _s1 = SplitMix(ref x); _s2 = SplitMix(ref x); _s3 = SplitMix(ref x);
    }

    public Rng(int seed) : this((ulong)(uint)seed) { }

    private static ulong SplitMix(ref ulong x)
    {
        ulong z = x += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ulong NextULong()
    {
        ulong result = BitOperations.RotateLeft(_s1 * 5, 7) * 9;
        ulong t = _s1 << 17;
        _s2 ^= _s0; _s3 ^= _s1; _s1 ^= _s2; _s0 ^= _s3; _s2 ^= t;
        _s3 = BitOperations.RotateLeft(_s3, 45);
        return result;
    }

    /// <summary>Uniform in [0, 1) with 24 bits of precision.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public float NextFloat() => (NextULong() >> 40) * (1.0f / (1 << 24));

    /// <summary>Uniform in [0, 1) with 53 bits of precision.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public double NextDouble() => (NextULong() >> 11) * (1.0 / (1UL << 53));

    public float Uniform(float lo, float hi) => lo + (hi - lo) * NextFloat();

    /// <summary>Uniform integer in [0, n), unbiased (Lemire's method).</summary>
    public int NextInt(int n)
    {
        if (n <= 0) throw new ArgumentOutOfRangeException(nameof(n), $"NextInt: n must be positive, got {n}");
        ulong range = (ulong)n;
        ulong x = NextULong() >> 32;
        ulong m = x * range;
        ulong l = m & 0xFFFFFFFFUL;
        if (l < range)
        {
            ulong t = (0x100000000UL - range) % range;
            while (l < t)
            {
                x = NextULong() >> 32;
                m = x * range;
                l = m & 0xFFFFFFFFUL;
            }
        }
        return (int)(m >> 32);
    }

    /// <summary>Standard normal (Box-Muller in double precision; the second draw is cached).</summary>
    public double NextNormal()
    {
        if (_hasSpare) { _hasSpare = false; return _spareNormal; }
        double u1;
        do u1 = NextDouble(); while (u1 <= double.Epsilon);
        double u2 = NextDouble();
        double r = Math.Sqrt(-2.0 * Math.Log(u1));
        double th = 2.0 * Math.PI * u2;
        _spareNormal = r * Math.Sin(th);
        _hasSpare = true;
        return r * Math.Cos(th);
    }

    public float Normal(float mean = 0f, float std = 1f) => mean + std * (float)NextNormal();

    public void FillUniform(Span<float> dst, float lo = 0f, float hi = 1f)
    {
        float w = hi - lo;
        for (int i = 0; i < dst.Length; i++) dst[i] = lo + w * NextFloat();
    }

    public void FillNormal(Span<float> dst, float mean = 0f, float std = 1f)
    {
        for (int i = 0; i < dst.Length; i++) dst[i] = mean + std * (float)NextNormal();
    }

    /// <summary>Index drawn with the given (unnormalized, non-negative) weights.</summary>
    public int Categorical(ReadOnlySpan<float> weights)
    {
        double total = 0;
        for (int i = 0; i < weights.Length; i++)
        {
            if (!(weights[i] >= 0) || float.IsInfinity(weights[i]))
                throw new ArgumentException($"Categorical: weight {i} is {weights[i]}; weights must be finite and non-negative");
            total += weights[i];
        }
        if (!(total > 0)) throw new ArgumentException("Categorical: weights sum to zero");
        double u = NextDouble() * total, acc = 0;
        int last = 0;
        for (int i = 0; i < weights.Length; i++)
        {
            if (weights[i] <= 0) continue;
            acc += weights[i];
            last = i;
            if (u < acc) return i;
        }
        return last;
    }

    /// <summary>Fisher-Yates shuffle in place.</summary>
    public void Shuffle<T>(Span<T> items)
    {
        for (int i = items.Length - 1; i > 0; i--)
        {
            int j = NextInt(i + 1);
            (items[i], items[j]) = (items[j], items[i]);
        }
    }

    public int[] Permutation(int n)
    {
        var p = new int[n];
        for (int i = 0; i < n; i++) p[i] = i;
        Shuffle<int>(p);
        return p;
    }

    /// <summary>A draw on {0, 1, ...} with the given mean (geometric); always 0 when the mean is 0.</summary>
    public int Geometric(double mean)
    {
        if (mean <= 0) return 0;
        double q = mean / (1 + mean);
        return (int)Math.Floor(Math.Log(1 - NextDouble()) / Math.Log(q));
    }

    /// <summary>An independent generator derived from this one's stream.</summary>
    public Rng Fork() => new(NextULong());

    /// <summary>Why <paramref name="s"/> is not a state a generator can be in (<see cref="SetState"/> refuses it), or null when it is.</summary>
    public static string? Problem(RngState s)
    {
        if ((s.S0 | s.S1 | s.S2 | s.S3) == 0) return "all four words are zero (xoshiro256**'s forbidden state; a saved generator is never in it)";
        if (s.HasSpare && !double.IsFinite(s.Spare)) return $"the cached normal draw is {s.Spare}; it must be finite";
        return null;
    }

    /// <summary>Full generator state, for checkpoints.</summary>
    public RngState GetState() => new(_s0, _s1, _s2, _s3, _hasSpare, _spareNormal);

    /// <summary>
    /// Restore a state from <see cref="GetState"/>. A state no generator can be in is refused: all four words zero
    /// (xoshiro256**'s one forbidden state: it yields zeros forever, and normal draws never end) or a cached normal
    /// draw that is not finite.
    /// </summary>
    public void SetState(RngState s)
    {
        if (Problem(s) is { } why) throw new ArgumentException($"rng state: {why}");
        (_s0, _s1, _s2, _s3, _hasSpare, _spareNormal) = (s.S0, s.S1, s.S2, s.S3, s.HasSpare, s.Spare);
    }
}

public readonly record struct RngState(ulong S0, ulong S1, ulong S2, ulong S3, bool HasSpare, double Spare);
