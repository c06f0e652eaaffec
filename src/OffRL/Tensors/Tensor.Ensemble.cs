namespace OffRL.Tensors;

/// <summary>
/// Ops over a member axis (an ensemble's [N, B, ...] outputs) and the copies that feed members: quantile, standard
/// deviation, tile and repeat-interleave. Min, max, mean and sum over an axis live with the other reductions.
/// </summary>
public sealed partial class Tensor
{
    /// <summary>
    /// The q-quantile over an axis with linear interpolation between the two nearest order statistics, as
    /// torch.quantile's default: position q (n - 1) in the sorted values. The gradient goes to those two elements,
    /// weighted 1 - frac and frac (ties: to the first in sorted order, which is stable).
    /// </summary>
    public Tensor Quantile(float q, int axis, bool keepDim = false)
    {
        if (!(q >= 0f && q <= 1f)) throw new ArgumentException($"quantile: q must be in [0, 1], got {q}");
        int ax = Shape.NormalizeAxis(axis, "quantile");
        var (outer, dim, inner) = Shape.Split(ax);
        if (dim == 0) throw new ArgumentException($"quantile: axis {axis} of shape {Shape} is empty");
        var o = Temp(ReducedShape(ax, keepDim));
        double pos = (double)q * (dim - 1);
        int lo = (int)Math.Floor(pos), hi = Math.Min(lo + 1, dim - 1);
        float frac = (float)(pos - lo);
        bool track = Track(this);
        // Per output: the indices (along the axis) of the lo-th and hi-th smallest values, kept for backward.
        var picks = track ? o.NewAux(2 * o.Size) : TempArray(2 * o.Size);
        var order = TempArray(dim);
        Span<int> idx = dim <= 256 ? stackalloc int[dim] : new int[dim];
        for (int p = 0; p < outer; p++)
            for (int r = 0; r < inner; r++)
            {
                int bas = p * dim * inner + r, oi = p * inner + r;
                for (int j = 0; j < dim; j++) { order[j] = _data[bas + j * inner]; idx[j] = j; }
                // insertion sort of the fiber (ensembles are small), stable so ties keep their order
                for (int j = 1; j < dim; j++)
                {
                    float v = order[j]; int id = idx[j], k = j - 1;
                    while (k >= 0 && order[k] > v) { order[k + 1] = order[k]; idx[k + 1] = idx[k]; k--; }
                    order[k + 1] = v; idx[k + 1] = id;
                }
                o._data[oi] = order[lo] + frac * (order[hi] - order[lo]);
                picks[2 * oi] = idx[lo]; picks[2 * oi + 1] = idx[hi];
            }
        if (track) { o.Record(QuantileBackward, this); o.I0 = ax; o.F0 = frac; o.Aux = picks; }
        return o;
    }

    private static void QuantileBackward(Tensor o)
    {
        var a = o.A!;
        var (outer, dim, inner) = a.Shape.Split(o.I0);
        float[] g = o.Grad!, dx = a.GradBuffer(), picks = o.Aux!;
        float frac = o.F0;
        for (int p = 0; p < outer; p++)
            for (int r = 0; r < inner; r++)
            {
                int bas = p * dim * inner + r, oi = p * inner + r;
                dx[bas + (int)picks[2 * oi] * inner] += (1f - frac) * g[oi];
                dx[bas + (int)picks[2 * oi + 1] * inner] += frac * g[oi];
            }
    }

    /// <summary>
    /// Standard deviation over an axis: sqrt(sum (x - mean)^2 / (n - correction)), correction 1 (unbiased, torch.std's
    /// default) or 0. Built from differentiable ops, so it has first and second derivatives.
    /// </summary>
    public Tensor Std(int axis, bool keepDim = false, int correction = 1)
    {
        int ax = Shape.NormalizeAxis(axis, "std");
        int n = Shape[ax];
        if (correction is not (0 or 1)) throw new ArgumentException($"std: correction must be 0 or 1, got {correction}");
        if (n - correction <= 0) throw new ArgumentException($"std: axis {axis} of shape {Shape} has {n} elements, too few for correction {correction}");
        var dev = this - Mean(ax, keepDim: true);
        return (dev.Square().Sum(ax, keepDim) * (1f / (n - correction))).Sqrt();
    }

    /// <summary>
    /// <paramref name="times"/> copies of the tensor one after another along an axis (torch's x.repeat with one
    /// factor above 1): [A, B] tiled 3 times on axis 0 is [3A, B], rows 0..A-1 then again.
    /// </summary>
    public Tensor Tile(int times, int axis = 0) => Copies(times, axis, interleave: false, "tile");

    /// <summary>Each element along an axis <paramref name="repeats"/> times in a row (torch.repeat_interleave): rows a, a, b, b.</summary>
    public Tensor RepeatInterleave(int repeats, int axis = 0) => Copies(repeats, axis, interleave: true, "repeat_interleave");

    private Tensor Copies(int times, int axis, bool interleave, string name)
    {
        if (times < 1) throw new ArgumentException($"{name}: the number of copies must be at least 1, got {times}");
        int ax = Shape.NormalizeAxis(axis, name);
        if ((long)Size * times > int.MaxValue) throw new ArgumentException($"{name}: {times} copies of shape {Shape} exceed one tensor");
        var (outer, dim, inner) = Shape.Split(ax);
        var o = Temp(Shape.With(ax, dim * times));
        // layout of a block p of the output: [times, dim, inner] (tile) or [dim, times, inner] (interleave)
        for (int p = 0; p < outer; p++)
        {
            int src = p * dim * inner, dst = p * dim * inner * times;
            if (!interleave)
                for (int t = 0; t < times; t++) Array.Copy(_data, src, o._data, dst + t * dim * inner, dim * inner);
            else
                for (int j = 0; j < dim; j++)
                    for (int t = 0; t < times; t++) Array.Copy(_data, src + j * inner, o._data, dst + (j * times + t) * inner, inner);
        }
        if (Track(this)) { o.Record(CopiesBackward, this); o.I0 = ax; o.I1 = times; o.I2 = interleave ? 1 : 0; }
        return o;
    }

    private static void CopiesBackward(Tensor o)
    {
        var a = o.A!;
        var (outer, dim, inner) = a.Shape.Split(o.I0);
        int times = o.I1;
        bool interleave = o.I2 == 1;
        float[] g = o.Grad!, dx = a.GradBuffer();
        for (int p = 0; p < outer; p++)
        {
            int src = p * dim * inner * times, dst = p * dim * inner;
            for (int j = 0; j < dim; j++)
                for (int t = 0; t < times; t++)
                {
                    int from = src + (interleave ? j * times + t : t * dim + j) * inner;
                    var d = new Span<float>(dx, dst + j * inner, inner);
                    System.Numerics.Tensors.TensorPrimitives.Add(d, new ReadOnlySpan<float>(g, from, inner), d);
                }
        }
    }
}
