namespace OffRL.Tensors;

public sealed partial class Tensor
{
    /// <summary>Same data, new shape (one dimension may be -1). A view: no copy.</summary>
    public Tensor Reshape(params int[] dims) => Reshape(ResolveDims(dims));

    public Tensor Reshape(Shape shape)
    {
        if (shape.Size != Size) throw new ArgumentException($"reshape: cannot view shape {Shape} ({Size} elements) as {shape} ({shape.Size} elements)");
        if (shape == Shape) return this;
        var o = TensorScope.Current?.RentView(_data, shape) ?? new Tensor(_data, shape, ownsData: false);
        if (Track(this)) o.Record(ReshapeBackward, this);
        return o;
    }

    private Shape ResolveDims(int[] dims)
    {
        int known = 1, free = -1;
        for (int i = 0; i < dims.Length; i++)
        {
            if (dims[i] == -1)
            {
                if (free >= 0) throw new ArgumentException($"reshape: more than one -1 in [{string.Join(", ", dims)}]");
                free = i;
            }
            else known *= dims[i];
        }
        if (free >= 0)
        {
            if (known == 0 || Size % known != 0) throw new ArgumentException($"reshape: cannot view shape {Shape} as [{string.Join(", ", dims)}]");
            var d = (int[])dims.Clone();
            d[free] = Size / known;
            return Shape.Of(d);
        }
        return Shape.Of(dims);
    }

    private static void ReshapeBackward(Tensor o)
    {
        var dx = o.A!.GradBuffer();
        System.Numerics.Tensors.TensorPrimitives.Add(dx, o.Grad!, dx);
    }

    /// <summary>Swap two axes (a copy in the new layout).</summary>
    public Tensor Transpose(int axis0, int axis1)
    {
        int a0 = Shape.NormalizeAxis(axis0, "transpose"), a1 = Shape.NormalizeAxis(axis1, "transpose");
        Span<int> perm = stackalloc int[Rank];
        for (int i = 0; i < Rank; i++) perm[i] = i;
        perm[a0] = a1; perm[a1] = a0;
        return Permute(perm);
    }

    /// <summary>Matrix transpose of a rank-2 tensor.</summary>
    public Tensor T()
    {
        if (Rank != 2) throw new ArgumentException($"T: needs a rank-2 tensor, got {Shape}");
        return Transpose(0, 1);
    }

    public Tensor Permute(ReadOnlySpan<int> perm)
    {
        if (perm.Length != Rank) throw new ArgumentException($"permute: {perm.Length} axes given for shape {Shape}");
        Span<int> od = stackalloc int[Rank];
        int seen = 0;
        for (int i = 0; i < Rank; i++)
        {
            if (perm[i] < 0 || perm[i] >= Rank || (seen & (1 << perm[i])) != 0) throw new ArgumentException($"permute: invalid permutation for shape {Shape}");
            seen |= 1 << perm[i];
            od[i] = Shape[perm[i]];
        }
        // Moving only size-1 axes keeps the memory order: a view (e.g. head split with one head).
        int last = -1;
        bool sameOrder = true;
        for (int i = 0; i < Rank && sameOrder; i++)
        {
            if (Shape[perm[i]] == 1) continue;
            if (perm[i] < last) sameOrder = false;
            last = perm[i];
        }
        if (sameOrder) return Reshape(Shape.Of(od));
        var o = Temp(Shape.Of(od));
        PermuteCopy(_data, Shape, perm, o._data, accumulate: false);
        if (Track(this))
        {
            o.Record(PermuteBackward, this);
            o.I0 = perm[0] | (Rank > 1 ? perm[1] << 4 : 0) | (Rank > 2 ? perm[2] << 8 : 0) | (Rank > 3 ? perm[3] << 12 : 0);
        }
        return o;
    }

    /// <summary>dst[out index] (=|+=) src[permuted index] where out dim i is src dim perm[i].</summary>
    private static void PermuteCopy(float[] src, Shape s, ReadOnlySpan<int> perm, float[] dst, bool accumulate)
    {
        int r = s.Rank;
        Span<int> sst = stackalloc int[4], d = stackalloc int[4], st = stackalloc int[4];
        int acc = 1;
        for (int i = r - 1; i >= 0; i--) { sst[i] = acc; acc *= s[i]; }
        for (int i = 0; i < 4; i++)
        {
            int k = i - (4 - r);
            d[i] = k >= 0 ? s[perm[k]] : 1;
            st[i] = k >= 0 ? sst[perm[k]] : 0;
        }
        int idx = 0;
        for (int i0 = 0; i0 < d[0]; i0++)
            for (int i1 = 0; i1 < d[1]; i1++)
                for (int i2 = 0; i2 < d[2]; i2++)
                {
                    int b = i0 * st[0] + i1 * st[1] + i2 * st[2];
                    if (accumulate) for (int i3 = 0; i3 < d[3]; i3++) dst[b + i3 * st[3]] += src[idx++];
                    else for (int i3 = 0; i3 < d[3]; i3++) dst[idx++] = src[b + i3 * st[3]];
                }
    }

    private static void PermuteBackward(Tensor o)
    {
        var a = o.A!;
        Span<int> perm = stackalloc int[a.Rank];
        for (int i = 0; i < a.Rank; i++) perm[i] = (o.I0 >> (4 * i)) & 0xF;
        // o[out] = a[perm(out)]: scatter o.Grad back through the same index map.
        PermuteCopy(o.Grad!, a.Shape, perm, a.GradBuffer(), accumulate: true);
    }

    /// <summary>Concatenate along an axis (all other dimensions equal).</summary>
    public static Tensor Concat(int axis, params Tensor[] xs)
    {
        if (xs.Length == 0) throw new ArgumentException("concat: no tensors");
        var s0 = xs[0].Shape;
        int ax = s0.NormalizeAxis(axis, "concat");
        int total = 0;
        foreach (var x in xs)
        {
            if (x.Rank != s0.Rank) throw new ArgumentException($"concat: rank mismatch, {s0} vs {x.Shape}");
            for (int i = 0; i < s0.Rank; i++)
                if (i != ax && x.Shape[i] != s0[i]) throw new ArgumentException($"concat: shapes {s0} and {x.Shape} differ outside axis {ax}");
            total += x.Shape[ax];
        }
        var os = s0.With(ax, total);
        var o = Temp(os);
        var (outer, _, inner) = os.Split(ax);
        int off = 0;
        bool track = false;
        foreach (var x in xs)
        {
            int w = x.Shape[ax] * inner;
            for (int p = 0; p < outer; p++)
                Array.Copy(x._data, p * w, o._data, p * total * inner + off, w);
            off += w;
            track |= Track(x);
        }
        if (track) { o.Record(ConcatBackward, null); o.Inputs = xs; o.I0 = ax; }
        return o;
    }

    public static Tensor Concat(Tensor a, Tensor b, int axis = -1) => Concat(axis, a, b);

    private static void ConcatBackward(Tensor o)
    {
        int ax = o.I0;
        var (outer, total, inner) = o.Shape.Split(ax);
        int off = 0;
        foreach (var x in o.Inputs!)
        {
            int w = x.Shape[ax] * inner;
            if (x.RequiresGrad)
            {
                var dx = x.GradBuffer();
                for (int p = 0; p < outer; p++)
                {
                    var d = new Span<float>(dx, p * w, w);
                    System.Numerics.Tensors.TensorPrimitives.Add(d, new ReadOnlySpan<float>(o.Grad!, p * total * inner + off, w), d);
                }
            }
            off += w;
        }
    }

    /// <summary>Elements [start, start + length) along an axis (a copy).</summary>
    public Tensor Slice(int axis, int start, int length)
    {
        int ax = Shape.NormalizeAxis(axis, "slice");
        if (start < 0 || length < 0 || start + length > Shape[ax])
            throw new ArgumentException($"slice: [{start}, {start + length}) is outside axis {ax} of shape {Shape}");
        var os = Shape.With(ax, length);
        var o = Temp(os);
        var (outer, dim, inner) = Shape.Split(ax);
        int w = length * inner;
        for (int p = 0; p < outer; p++) Array.Copy(_data, (p * dim + start) * inner, o._data, p * w, w);
        if (Track(this)) { o.Record(SliceBackward, this); o.I0 = ax; o.I1 = start; }
        return o;
    }

    private static void SliceBackward(Tensor o)
    {
        var a = o.A!;
        var (outer, dim, inner) = a.Shape.Split(o.I0);
        int w = o.Shape[o.I0] * inner;
        var dx = a.GradBuffer();
        for (int p = 0; p < outer; p++)
        {
            var d = new Span<float>(dx, (p * dim + o.I1) * inner, w);
            System.Numerics.Tensors.TensorPrimitives.Add(d, new ReadOnlySpan<float>(o.Grad!, p * w, w), d);
        }
    }

    /// <summary>
    /// torch.gather: out[p, j, q] = x[p, index[p, j, q], q] along <paramref name="axis"/>; the index has
    /// the shape of the output (same as x except along the axis).
    /// </summary>
    public Tensor Gather(int axis, int[] index, Shape indexShape)
    {
        int ax = Shape.NormalizeAxis(axis, "gather");
        if (index.Length != indexShape.Size) throw new ArgumentException($"gather: index has {index.Length} elements, index shape {indexShape} needs {indexShape.Size}");
        if (indexShape.Rank != Rank) throw new ArgumentException($"gather: index shape {indexShape} must have the rank of {Shape}");
        for (int i = 0; i < Rank; i++)
            if (i != ax && indexShape[i] != Shape[i]) throw new ArgumentException($"gather: index shape {indexShape} differs from {Shape} outside axis {ax}");
        var (outer, dim, inner) = Shape.Split(ax);
        int k = indexShape[ax];
        var o = Temp(indexShape);
        for (int p = 0; p < outer; p++)
            for (int j = 0; j < k; j++)
                for (int q = 0; q < inner; q++)
                {
                    int oi = (p * k + j) * inner + q, id = index[oi];
                    if ((uint)id >= (uint)dim) throw new IndexOutOfRangeException($"gather: index {id} at position {oi} is outside [0, {dim})");
                    o._data[oi] = _data[(p * dim + id) * inner + q];
                }
        if (Track(this)) { o.Record(GatherBackward, this); o.Ints = index; o.I0 = ax; }
        return o;
    }

    /// <summary>Pick one entry per row of a [N, C] tensor: out[i] = x[i, index[i]], shape [N, 1].</summary>
    public Tensor GatherRows(int[] index)
    {
        if (Rank != 2) throw new ArgumentException($"gather_rows: needs [N, C], got {Shape}");
        return Gather(1, index, new Shape(Shape[0], 1));
    }

    private static void GatherBackward(Tensor o)
    {
        var a = o.A!;
        var (outer, dim, inner) = a.Shape.Split(o.I0);
        int k = o.Shape[o.I0];
        float[] dx = a.GradBuffer(), g = o.Grad!;
        int[] index = o.Ints!;
        for (int p = 0; p < outer; p++)
            for (int j = 0; j < k; j++)
                for (int q = 0; q < inner; q++)
                {
                    int oi = (p * k + j) * inner + q;
                    dx[(p * dim + index[oi]) * inner + q] += g[oi];
                }
    }

    /// <summary>Rows of an embedding table [V, D] for the given ids: shape idsShape + [D].</summary>
    public static Tensor Embedding(Tensor weight, int[] ids, Shape idsShape)
    {
        if (weight.Rank != 2) throw new ArgumentException($"embedding: weight must be [V, D], got {weight.Shape}");
        if (ids.Length != idsShape.Size) throw new ArgumentException($"embedding: {ids.Length} ids for shape {idsShape}");
        if (idsShape.Rank >= Shape.MaxRank) throw new ArgumentException($"embedding: ids rank {idsShape.Rank} too high");
        int v = weight.Shape[0], d = weight.Shape[1];
        Span<int> dims = stackalloc int[idsShape.Rank + 1];
        idsShape.CopyTo(dims);
        dims[idsShape.Rank] = d;
        var o = Temp(Shape.Of(dims));
        for (int i = 0; i < ids.Length; i++)
        {
            if ((uint)ids[i] >= (uint)v) throw new IndexOutOfRangeException($"embedding: id {ids[i]} at position {i} is outside [0, {v})");
            Array.Copy(weight._data, ids[i] * d, o._data, i * d, d);
        }
        if (Track(weight)) { o.Record(EmbeddingBackward, weight); o.Ints = ids; }
        return o;
    }

    private static void EmbeddingBackward(Tensor o)
    {
        var w = o.A!;
        int d = w.Shape[1];
        float[] dw = w.GradBuffer(), g = o.Grad!;
        for (int i = 0; i < o.Ints!.Length; i++)
        {
            var row = new Span<float>(dw, o.Ints[i] * d, d);
            System.Numerics.Tensors.TensorPrimitives.Add(row, new ReadOnlySpan<float>(g, i * d, d), row);
        }
    }

    /// <summary>Set elements to <paramref name="value"/> where mask is true. The mask repeats over leading dimensions (its length must divide the size).</summary>
    public Tensor MaskedFill(bool[] mask, float value)
    {
        if (mask.Length == 0 || Size % mask.Length != 0) throw new ArgumentException($"masked_fill: mask of {mask.Length} elements does not tile shape {Shape}");
        var o = Temp(Shape);
        int m = mask.Length;
        for (int i = 0; i < Size; i++) o._data[i] = mask[i % m] ? value : _data[i];
        if (Track(this)) { o.Record(MaskedFillBackward, this); o.Mask = mask; }
        return o;
    }

    private static void MaskedFillBackward(Tensor o)
    {
        float[] dx = o.A!.GradBuffer(), g = o.Grad!;
        var mask = o.Mask!;
        int m = mask.Length;
        for (int i = 0; i < dx.Length; i++) if (!mask[i % m]) dx[i] += g[i];
    }

    /// <summary>cond ? a : b elementwise (a, b and cond of one size).</summary>
    public static Tensor Where(bool[] cond, Tensor a, Tensor b)
    {
        if (a.Shape != b.Shape) throw new ArgumentException($"where: shapes {a.Shape} and {b.Shape} differ");
        if (cond.Length != a.Size) throw new ArgumentException($"where: condition has {cond.Length} elements, tensors have {a.Size}");
        var o = Temp(a.Shape);
        for (int i = 0; i < cond.Length; i++) o._data[i] = cond[i] ? a._data[i] : b._data[i];
        if (Track(a, b)) { o.Record(WhereBackward, a, b); o.Mask = cond; }
        return o;
    }

    private static void WhereBackward(Tensor o)
    {
        var cond = o.Mask!;
        float[] g = o.Grad!;
        if (o.A!.RequiresGrad) { var d = o.A.GradBuffer(); for (int i = 0; i < d.Length; i++) if (cond[i]) d[i] += g[i]; }
        if (o.B!.RequiresGrad) { var d = o.B.GradBuffer(); for (int i = 0; i < d.Length; i++) if (!cond[i]) d[i] += g[i]; }
    }
}
