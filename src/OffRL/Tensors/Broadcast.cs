using System.Numerics.Tensors;

namespace OffRL.Tensors;

internal enum BinKind { Add, Sub, Mul, Div, Min, Max }

/// <summary>NumPy broadcasting for rank <= 4, with fast paths for the patterns RL code uses.</summary>
internal static class Broadcast
{
    internal enum Pattern { Same, ScalarB, ScalarA, TrailingB, TrailingA, ColumnB, ColumnA, General }

    public static Shape ResultShape(Shape a, Shape b, string op)
    {
        if (a == b) return a;
        int r = Math.Max(a.Rank, b.Rank);
        Span<int> d = stackalloc int[Shape.MaxRank];
        for (int i = 0; i < r; i++)
        {
            int da = i - (r - a.Rank) >= 0 ? a[i - (r - a.Rank)] : 1;
            int db = i - (r - b.Rank) >= 0 ? b[i - (r - b.Rank)] : 1;
            if (da != db && da != 1 && db != 1)
                throw new ArgumentException($"{op}: shapes {a} and {b} cannot be broadcast (dimension {i}: {da} vs {db})");
            d[i] = da == 1 ? db : da;
        }
        return Shape.Of(d[..r]);
    }

    /// <summary>How an input of shape <paramref name="x"/> is laid over an output of shape <paramref name="o"/>.</summary>
    public static Pattern Classify(Shape x, Shape o, bool isB)
    {
        if (x.Size == o.Size) return Pattern.Same;
        if (x.Size == 1) return isB ? Pattern.ScalarB : Pattern.ScalarA;
        // trailing: x's dims equal o's last dims (after dropping x's leading ones)
        int xr = x.Rank; while (xr > 0 && x[x.Rank - xr] == 1) xr--;
        bool trailing = xr <= o.Rank;
        for (int i = 0; trailing && i < xr; i++) if (x[x.Rank - 1 - i] != o[o.Rank - 1 - i]) trailing = false;
        if (trailing) return isB ? Pattern.TrailingB : Pattern.TrailingA;
        // column: same leading dims, last dim 1
        if (x.Rank == o.Rank && x.Last == 1)
        {
            bool col = true;
            for (int i = 0; i < o.Rank - 1; i++) if (x[i] != o[i]) col = false;
            if (col) return isB ? Pattern.ColumnB : Pattern.ColumnA;
        }
        return Pattern.General;
    }

    private static void Strides(Shape x, Shape o, Span<int> st)
    {
        // 4-d padded strides of x over o's index space (0 where broadcast).
        int off = Shape.MaxRank - o.Rank, xoff = Shape.MaxRank - x.Rank;
        Span<int> dims = stackalloc int[Shape.MaxRank];
        for (int i = 0; i < Shape.MaxRank; i++) dims[i] = i - xoff >= 0 ? x[i - xoff] : 1;
        int s = 1;
        for (int i = Shape.MaxRank - 1; i >= 0; i--)
        {
            st[i] = dims[i] == 1 ? 0 : s;
            s *= dims[i];
        }
        _ = off;
    }

    private static void Dims4(Shape o, Span<int> d)
    {
        int off = Shape.MaxRank - o.Rank;
        for (int i = 0; i < Shape.MaxRank; i++) d[i] = i - off >= 0 ? o[i - off] : 1;
    }

    public static float Apply(BinKind k, float a, float b) => k switch
    {
        BinKind.Add => a + b,
        BinKind.Sub => a - b,
        BinKind.Mul => a * b,
        BinKind.Div => a / b,
        BinKind.Min => MathF.Min(a, b),
        _ => MathF.Max(a, b),
    };

    private static void Vec(BinKind k, ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> o)
    {
        switch (k)
        {
            case BinKind.Add: TensorPrimitives.Add(a, b, o); break;
            case BinKind.Sub: TensorPrimitives.Subtract(a, b, o); break;
            case BinKind.Mul: TensorPrimitives.Multiply(a, b, o); break;
            case BinKind.Div: TensorPrimitives.Divide(a, b, o); break;
            case BinKind.Min: TensorPrimitives.Min(a, b, o); break;
            default: TensorPrimitives.Max(a, b, o); break;
        }
    }

    private static void VecScalarB(BinKind k, ReadOnlySpan<float> a, float b, Span<float> o)
    {
        switch (k)
        {
            case BinKind.Add: TensorPrimitives.Add(a, b, o); break;
            case BinKind.Sub: TensorPrimitives.Subtract(a, b, o); break;
            case BinKind.Mul: TensorPrimitives.Multiply(a, b, o); break;
            case BinKind.Div: TensorPrimitives.Divide(a, b, o); break;
            case BinKind.Min: TensorPrimitives.Min(a, b, o); break;
            default: TensorPrimitives.Max(a, b, o); break;
        }
    }

    private static void VecScalarA(BinKind k, float a, ReadOnlySpan<float> b, Span<float> o)
    {
        switch (k)
        {
            case BinKind.Add: TensorPrimitives.Add(b, a, o); break;
            case BinKind.Sub: TensorPrimitives.Subtract(a, b, o); break;
            case BinKind.Mul: TensorPrimitives.Multiply(b, a, o); break;
            case BinKind.Div: TensorPrimitives.Divide(a, b, o); break;
            case BinKind.Min: TensorPrimitives.Min(b, a, o); break;
            default: TensorPrimitives.Max(b, a, o); break;
        }
    }

    /// <summary>o = a (op) b with broadcasting; o has the broadcast shape.</summary>
    public static void Binary(BinKind k, ReadOnlySpan<float> a, Shape sa, ReadOnlySpan<float> b, Shape sb, Span<float> o, Shape so)
    {
        var pa = Classify(sa, so, false);
        var pb = Classify(sb, so, true);
        if (pa == Pattern.Same && pb == Pattern.Same) { Vec(k, a, b, o); return; }
        if (pa == Pattern.Same && pb == Pattern.ScalarB) { VecScalarB(k, a, b[0], o); return; }
        if (pb == Pattern.Same && pa == Pattern.ScalarA) { VecScalarA(k, a[0], b, o); return; }
        if (pa == Pattern.Same && pb == Pattern.TrailingB)
        {
            int n = b.Length;
            for (int s = 0; s < o.Length; s += n) Vec(k, a.Slice(s, n), b, o.Slice(s, n));
            return;
        }
        if (pb == Pattern.Same && pa == Pattern.TrailingA)
        {
            int n = a.Length;
            for (int s = 0; s < o.Length; s += n) Vec(k, a, b.Slice(s, n), o.Slice(s, n));
            return;
        }
        if (pa == Pattern.Same && pb == Pattern.ColumnB)
        {
            int n = so.Last;
            for (int r = 0; r < b.Length; r++) VecScalarB(k, a.Slice(r * n, n), b[r], o.Slice(r * n, n));
            return;
        }
        if (pb == Pattern.Same && pa == Pattern.ColumnA)
        {
            int n = so.Last;
            for (int r = 0; r < a.Length; r++) VecScalarA(k, a[r], b.Slice(r * n, n), o.Slice(r * n, n));
            return;
        }
        General(k, a, sa, b, sb, o, so);
    }

    private static void General(BinKind k, ReadOnlySpan<float> a, Shape sa, ReadOnlySpan<float> b, Shape sb, Span<float> o, Shape so)
    {
        Span<int> d = stackalloc int[4], ta = stackalloc int[4], tb = stackalloc int[4];
        Dims4(so, d); Strides(sa, so, ta); Strides(sb, so, tb);
        int idx = 0;
        for (int i0 = 0; i0 < d[0]; i0++)
            for (int i1 = 0; i1 < d[1]; i1++)
                for (int i2 = 0; i2 < d[2]; i2++)
                {
                    int oa = i0 * ta[0] + i1 * ta[1] + i2 * ta[2], ob = i0 * tb[0] + i1 * tb[1] + i2 * tb[2];
                    for (int i3 = 0; i3 < d[3]; i3++)
                        o[idx++] = Apply(k, a[oa + i3 * ta[3]], b[ob + i3 * tb[3]]);
                }
    }

    /// <summary>dst (shape sx) += scale * sum of t (shape so) over the broadcast dimensions.</summary>
    public static void ReduceInto(Span<float> dst, Shape sx, ReadOnlySpan<float> t, Shape so, float scale = 1f)
    {
        var p = Classify(sx, so, true);
        switch (p)
        {
            case Pattern.Same:
                if (scale == 1f) TensorPrimitives.Add(dst, t, dst);
                else TensorPrimitives.MultiplyAdd(t, scale, dst, dst);
                return;
            case Pattern.ScalarB:
                dst[0] += scale * TensorPrimitives.Sum(t);
                return;
            case Pattern.TrailingB:
            {
                int n = dst.Length;
                for (int s = 0; s < t.Length; s += n)
                {
                    if (scale == 1f) TensorPrimitives.Add(dst, t.Slice(s, n), dst);
                    else TensorPrimitives.MultiplyAdd(t.Slice(s, n), scale, dst, dst);
                }
                return;
            }
            case Pattern.ColumnB:
            {
                int n = so.Last;
                for (int r = 0; r < dst.Length; r++) dst[r] += scale * TensorPrimitives.Sum(t.Slice(r * n, n));
                return;
            }
        }
        Span<int> d = stackalloc int[4], st = stackalloc int[4];
        Dims4(so, d); Strides(sx, so, st);
        int idx = 0;
        for (int i0 = 0; i0 < d[0]; i0++)
            for (int i1 = 0; i1 < d[1]; i1++)
                for (int i2 = 0; i2 < d[2]; i2++)
                {
                    int ox = i0 * st[0] + i1 * st[1] + i2 * st[2];
                    for (int i3 = 0; i3 < d[3]; i3++) dst[ox + i3 * st[3]] += scale * t[idx++];
                }
    }

    /// <summary>Materialize x (shape sx) broadcast to shape so.</summary>
    public static void Expand(ReadOnlySpan<float> x, Shape sx, Span<float> o, Shape so)
    {
        if (sx.Size == so.Size) { x.CopyTo(o); return; }
        Span<int> d = stackalloc int[4], st = stackalloc int[4];
        Dims4(so, d); Strides(sx, so, st);
        int idx = 0;
        for (int i0 = 0; i0 < d[0]; i0++)
            for (int i1 = 0; i1 < d[1]; i1++)
                for (int i2 = 0; i2 < d[2]; i2++)
                {
                    int ox = i0 * st[0] + i1 * st[1] + i2 * st[2];
                    for (int i3 = 0; i3 < d[3]; i3++) o[idx++] = x[ox + i3 * st[3]];
                }
    }
}
