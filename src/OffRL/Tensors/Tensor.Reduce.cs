using System.Numerics.Tensors;

namespace OffRL.Tensors;

public sealed partial class Tensor
{
    private enum RedKind { Sum, Max, LogSumExp, Min }

    private Shape ReducedShape(int axis, bool keepDim) => keepDim ? Shape.With(axis, 1) : Shape.Without(axis);

    /// <summary>Sum over an axis (negative counts from the end).</summary>
    public Tensor Sum(int axis, bool keepDim = false) => Reduce(RedKind.Sum, axis, keepDim, 1f, "sum");

    public Tensor Mean(int axis, bool keepDim = false)
    {
        int a = Shape.NormalizeAxis(axis, "mean");
        return Reduce(RedKind.Sum, a, keepDim, 1f / Math.Max(1, Shape[a]), "mean");
    }

    /// <summary>Maximum over an axis; the gradient goes to the first maximal element.</summary>
    public Tensor Max(int axis, bool keepDim = false) => Reduce(RedKind.Max, axis, keepDim, 1f, "max");

    /// <summary>Minimum over an axis (an ensemble's pessimistic value); the gradient goes to the first minimal element.</summary>
    public Tensor Min(int axis, bool keepDim = false) => Reduce(RedKind.Min, axis, keepDim, 1f, "min");

    /// <summary>log(sum(exp(x))) over an axis, computed stably.</summary>
    public Tensor LogSumExp(int axis, bool keepDim = false) => Reduce(RedKind.LogSumExp, axis, keepDim, 1f, "logsumexp");

    /// <summary>Sum of all elements (a scalar).</summary>
    public Tensor Sum() => Reshape(Size).Reduce(RedKind.Sum, 0, false, 1f, "sum");

    /// <summary>Mean of all elements (a scalar).</summary>
    public Tensor Mean() => Reshape(Size).Reduce(RedKind.Sum, 0, false, 1f / Math.Max(1, Size), "mean");

    private Tensor Reduce(RedKind kind, int axis, bool keepDim, float scale, string name)
    {
        int ax = Shape.NormalizeAxis(axis, name);
        var (outer, dim, inner) = Shape.Split(ax);
        if (dim == 0 && kind != RedKind.Sum) throw new ArgumentException($"{name}: axis {axis} of shape {Shape} is empty");
        var o = Temp(ReducedShape(ax, keepDim));
        float[] x = _data, y = o._data;
        float[]? arg = null;
        bool track = Track(this);
        if (kind is RedKind.Max or RedKind.Min && track) arg = NewAuxFor(o, o.Size);
        for (int p = 0; p < outer; p++)
        {
            if (inner == 1)
            {
                var row = new ReadOnlySpan<float>(x, p * dim, dim);
                switch (kind)
                {
                    case RedKind.Sum: y[p] = scale * TensorPrimitives.Sum(row); break;
                    case RedKind.Max:
                    case RedKind.Min:
                        int im = kind == RedKind.Max ? TensorPrimitives.IndexOfMax(row) : TensorPrimitives.IndexOfMin(row);
                        y[p] = row[im];
                        if (arg is not null) arg[p] = im;
                        break;
                    default:
                        float m = TensorPrimitives.Max(row);
                        if (float.IsNegativeInfinity(m)) { y[p] = m; break; }
                        double s = 0;
                        for (int j = 0; j < dim; j++) s += MathF.Exp(row[j] - m);
                        y[p] = m + (float)Math.Log(s);
                        break;
                }
                continue;
            }
            for (int q = 0; q < inner; q++)
            {
                int bas = p * dim * inner + q;
                switch (kind)
                {
                    case RedKind.Sum:
                    {
                        float s = 0;
                        for (int j = 0; j < dim; j++) s += x[bas + j * inner];
                        y[p * inner + q] = scale * s;
                        break;
                    }
                    case RedKind.Max:
                    case RedKind.Min:
                    {
                        int best = 0; float bv = x[bas];
                        bool max = kind == RedKind.Max;
                        for (int j = 1; j < dim; j++)
                        {
                            float v = x[bas + j * inner];
                            if (max ? v > bv : v < bv) { bv = v; best = j; }
                        }
                        y[p * inner + q] = bv;
                        if (arg is not null) arg[p * inner + q] = best;
                        break;
                    }
                    default:
                    {
                        float m = float.NegativeInfinity;
                        for (int j = 0; j < dim; j++) m = MathF.Max(m, x[bas + j * inner]);
                        double s = 0;
                        for (int j = 0; j < dim; j++) s += MathF.Exp(x[bas + j * inner] - m);
                        y[p * inner + q] = float.IsNegativeInfinity(m) ? m : m + (float)Math.Log(s);
                        break;
                    }
                }
            }
        }
        if (track) { o.Record(ReduceBackward, this); o.I0 = (int)kind; o.I1 = ax; o.F0 = scale; o.Aux = arg; }
        return o;
    }

    private static float[] NewAuxFor(Tensor o, int size) => o.NewAux(size);

    private static void ReduceBackward(Tensor o)
    {
        var a = o.A!;
        var (outer, dim, inner) = a.Shape.Split(o.I1);
        float[] g = o.Grad!, dx = a.GradBuffer(), x = a._data, y = o._data;
        var kind = (RedKind)o.I0;
        float scale = o.F0;
        for (int p = 0; p < outer; p++)
            for (int q = 0; q < inner; q++)
            {
                int oi = p * inner + q, bas = p * dim * inner + q;
                float gv = g[oi];
                switch (kind)
                {
                    case RedKind.Sum:
                        if (inner == 1)
                        {
                            var d = new Span<float>(dx, bas, dim);
                            TensorPrimitives.Add(d, scale * gv, d);
                        }
                        else for (int j = 0; j < dim; j++) dx[bas + j * inner] += scale * gv;
                        break;
                    case RedKind.Max:
                    case RedKind.Min:
                        dx[bas + (int)o.Aux![oi] * inner] += gv;
                        break;
                    default:
                        for (int j = 0; j < dim; j++) dx[bas + j * inner] += gv * MathF.Exp(x[bas + j * inner] - y[oi]);
                        break;
                }
            }
    }

    /// <summary>Softmax over an axis (default: the last).</summary>
    public Tensor Softmax(int axis = -1) => SoftmaxImpl(axis, false);

    /// <summary>log(softmax(x)) over an axis, computed stably.</summary>
    public Tensor LogSoftmax(int axis = -1) => SoftmaxImpl(axis, true);

    private Tensor SoftmaxImpl(int axis, bool log)
    {
        int ax = Shape.NormalizeAxis(axis, log ? "log_softmax" : "softmax");
        var (outer, dim, inner) = Shape.Split(ax);
        var o = Temp(Shape);
        float[] x = _data, y = o._data;
        if (inner == 1)
        {
            for (int p = 0; p < outer; p++)
            {
                var row = new ReadOnlySpan<float>(x, p * dim, dim);
                var dst = new Span<float>(y, p * dim, dim);
                float m = TensorPrimitives.Max(row);
                TensorPrimitives.Subtract(row, m, dst);
                if (log)
                {
                    float lse = MathF.Log(SumExp(dst));
                    TensorPrimitives.Subtract(dst, lse, dst);
                }
                else
                {
                    TensorPrimitives.Exp(dst, dst);
                    float s = TensorPrimitives.Sum(dst);
                    TensorPrimitives.Divide(dst, s, dst);
                }
            }
        }
        else
        {
            for (int p = 0; p < outer; p++)
                for (int q = 0; q < inner; q++)
                {
                    int bas = p * dim * inner + q;
                    float m = float.NegativeInfinity;
                    for (int j = 0; j < dim; j++) m = MathF.Max(m, x[bas + j * inner]);
                    double s = 0;
                    for (int j = 0; j < dim; j++) s += MathF.Exp(x[bas + j * inner] - m);
                    float lse = m + (float)Math.Log(s);
                    for (int j = 0; j < dim; j++)
                        y[bas + j * inner] = log ? x[bas + j * inner] - lse : MathF.Exp(x[bas + j * inner] - lse);
                }
        }
        if (Track(this)) { o.Record(SoftmaxBackward, this); o.I0 = log ? 1 : 0; o.I1 = ax; }
        return o;
    }

    private static float SumExp(ReadOnlySpan<float> shifted)
    {
        double s = 0;
        for (int i = 0; i < shifted.Length; i++) s += MathF.Exp(shifted[i]);
        return (float)s;
    }

    private static void SoftmaxBackward(Tensor o)
    {
        var a = o.A!;
        bool log = o.I0 == 1;
        var (outer, dim, inner) = a.Shape.Split(o.I1);
        float[] g = o.Grad!, dx = a.GradBuffer(), y = o._data;
        for (int p = 0; p < outer; p++)
            for (int q = 0; q < inner; q++)
            {
                int bas = p * dim * inner + q;
                float s = 0;
                if (log)
                {   // dx = g - softmax * sum(g)
                    for (int j = 0; j < dim; j++) s += g[bas + j * inner];
                    for (int j = 0; j < dim; j++) dx[bas + j * inner] += g[bas + j * inner] - MathF.Exp(y[bas + j * inner]) * s;
                }
                else
                {   // dx = y * (g - sum(g * y))
                    for (int j = 0; j < dim; j++) s += g[bas + j * inner] * y[bas + j * inner];
                    for (int j = 0; j < dim; j++) dx[bas + j * inner] += y[bas + j * inner] * (g[bas + j * inner] - s);
                }
            }
    }
}
