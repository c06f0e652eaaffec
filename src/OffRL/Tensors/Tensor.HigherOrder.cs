using System.Reflection;
using System.Runtime.CompilerServices;

namespace OffRL.Tensors;

/// <summary>Adds the gradient of one input of <paramref name="node"/>, given the node's gradient g, as graph values.</summary>
internal delegate void GraphGradFn(Tensor node, Tensor g);

/// <summary>
/// Gradients as graph values (torch.autograd.grad with create_graph): <see cref="Gradients"/> walks the graph like
/// <see cref="Backward()"/>, but each op's gradient is computed with tensor ops that record their own graph, so a loss
/// may contain gradients of outputs with respect to inputs (EDAC's diversity term, gradient penalties) and
/// <see cref="Backward()"/> of that loss differentiates them again. Each op's graph gradient is written beside its
/// first-order backward below; the first-order path (<see cref="Backward()"/>) is untouched and as fast as before.
/// </summary>
public sealed partial class Tensor
{
    internal Tensor? GraphGrad;

    [ThreadStatic] private static List<Tensor>? t_graphOrder;
    [ThreadStatic] private static HashSet<Tensor>? t_reach;

    /// <summary>
    /// d output / d input for each input, as tensors of the inputs' shapes: sum over output elements of
    /// outputGradient (ones when null) times the output's derivative. With <paramref name="createGraph"/> the results
    /// are part of the graph (differentiable again); without it they are plain values. An input the output does not
    /// depend on gets zeros. A path through an op without a second derivative is refused, naming the op.
    /// </summary>
    public static void Gradients(Tensor output, ReadOnlySpan<Tensor> inputs, Span<Tensor> result, Tensor? outputGradient = null, bool createGraph = true)
    {
        if (result.Length != inputs.Length) throw new ArgumentException($"gradients: {inputs.Length} inputs but room for {result.Length} results");
        if (!output.RequiresGrad) throw new InvalidOperationException("gradients: the output does not require grad (no input reaches it, or it was computed under NoGrad)");
        if (outputGradient is not null && outputGradient.Shape != output.Shape)
            throw new ArgumentException($"gradients: output gradient {outputGradient.Shape} does not match the output {output.Shape}");
        var order = t_graphOrder ??= new List<Tensor>(256);
        var reach = t_reach ??= new HashSet<Tensor>(ReferenceEqualityComparer.Instance);
        output.TopoOrder(order);
        bool noGradBefore = t_noGrad;
        try
        {
            // reach: the nodes on a path from an input to the output; only their gradients are formed
            reach.Clear();
            foreach (var n in order)
            {
                bool on = false;
                foreach (var x in inputs) on |= ReferenceEquals(x, n);
                for (int i = 0; !on; i++)
                {
                    var (done, child) = n.Input(i);
                    if (done) break;
                    on = child is not null && reach.Contains(child);
                }
                if (on) reach.Add(n);
            }
            if (!createGraph) t_noGrad = true;
            output.GraphGrad = outputGradient ?? Ones(output.Shape);
            for (int i = order.Count - 1; i >= 0; i--)
            {
                var n = order[i];
                if (n.BackwardFn is null || n.GraphGrad is null || !reach.Contains(n)) continue;
                GraphGradOf(n)(n, n.GraphGrad);
            }
            for (int k = 0; k < inputs.Length; k++) result[k] = inputs[k].GraphGrad ?? TempZeros(inputs[k].Shape);
        }
        finally
        {
            t_noGrad = noGradBefore;
            foreach (var n in order) n.GraphGrad = null;
            foreach (var x in inputs) x.GraphGrad = null;
            reach.Clear();
            order.Clear();
        }
    }

    /// <summary>d output / d input as a graph value (one input; see <see cref="Gradients"/>).</summary>
    public static Tensor Gradient(Tensor output, Tensor input, Tensor? outputGradient = null, bool createGraph = true)
    {
        Span<Tensor> r = [null!];
        Gradients(output, [input], r, outputGradient, createGraph);
        return r[0];
    }

    /// <summary>Nodes reaching this one through tensors that require grad, inputs before the nodes that use them.</summary>
    private void TopoOrder(List<Tensor> order)
    {
        var stack = t_stack ??= new Stack<(Tensor, int)>(64);
        order.Clear();
        // One counter for all threads: a parameter's graph may be walked on one thread in one update and on another in the
        // next (Gemm.Beside), and a mark left by one must never read as the other's current one.
        int mark = Interlocked.Increment(ref s_mark);
        if (mark >= int.MaxValue - 1) Interlocked.CompareExchange(ref s_mark, 1, mark);
        stack.Push((this, 0));
        Mark = mark;
        while (stack.Count > 0)
        {
            var (node, child) = stack.Pop();
            var next = node.Input(child);
            if (next.Done) { order.Add(node); continue; }
            stack.Push((node, child + 1));
            var inp = next.Node;
            if (inp is not null && inp.RequiresGrad && inp.Mark != mark)
            {
                inp.Mark = mark;
                stack.Push((inp, 0));
            }
        }
    }

    private static bool Wants(Tensor? t) => t is not null && t.RequiresGrad && t_reach!.Contains(t);

    private static void Accumulate(Tensor t, Tensor g) => t.GraphGrad = t.GraphGrad is null ? g : t.GraphGrad + g;

    private static Tensor Ones(Shape s)
    {
        var t = Temp(s);
        Array.Fill(t._data, 1f);
        return t;
    }

    /// <summary>A constant (no graph) of shape s: 1 where the predicate holds on x's element, else 0.</summary>
    private static Tensor MaskOf(float[] x, Shape s, Func<float, bool> keep)
    {
        var t = Temp(s);
        for (int i = 0; i < t.Size; i++) t._data[i] = keep(x[i]) ? 1f : 0f;
        return t;
    }

    private static readonly Dictionary<MethodInfo, GraphGradFn> GraphGrads = new()
    {
        [M(BinaryBackward)] = BinaryGraph, [M(UnaryBackward)] = UnaryGraph, [M(ReduceBackward)] = ReduceGraph,
        [M(SoftmaxBackward)] = SoftmaxGraph, [M(ReshapeBackward)] = (o, g) => Accumulate(o.A!, g.Reshape(o.A!.Shape)),
        [M(PermuteBackward)] = PermuteGraph, [M(ConcatBackward)] = ConcatGraph, [M(SliceBackward)] = SliceGraph,
        [M(CopiesBackward)] = CopiesGraph, [M(QuantileBackward)] = QuantileGraph, [M(MatmulBackward)] = MatmulGraph,
        [M(BmmBackward)] = BmmGraph, [M(LinearBackward)] = LinearGraph, [M(EnsembleLinearBackward)] = EnsembleLinearGraph,
        [M(LayerNormBackward)] = LayerNormGraph, [M(SumToBackward)] = (o, g) => Accumulate(o.A!, g.ExpandTo(o.A!.Shape)),
        [M(ExpandToBackward)] = (o, g) => Accumulate(o.A!, g.SumTo(o.A!.Shape)),
        [M(DropoutBackward)] = (o, g) => Accumulate(o.A!, g * FromAux(o.Aux!, o.Shape)),
        [M(MaskedFillBackward)] = (o, g) => Accumulate(o.A!, g * BoolMask(o.Mask!, o.Shape, keepWhere: false)),
        [M(WhereBackward)] = WhereGraph,
    };

    private static MethodInfo M(BackwardFn f) => f.Method;

    private static GraphGradFn GraphGradOf(Tensor n) =>
        GraphGrads.TryGetValue(n.BackwardFn!.Method, out var f) ? f
        : throw new NotSupportedException($"gradients: op '{OpName(n)}' has no second derivative (create_graph); use ops that have one (linear, ensemble_linear, matmul, layer_norm, the elementwise and reduction ops)");

    /// <summary>The op's name as errors show it: the backward function's name without "Backward", lower case.</summary>
    private static string OpName(Tensor n)
    {
        var name = n.BackwardFn!.Method.Name;
        return (name.EndsWith("Backward") ? name[..^"Backward".Length] : name).ToLowerInvariant();
    }

    private static Tensor FromAux(float[] aux, Shape s)
    {
        var t = Temp(s);
        Array.Copy(aux, t._data, t.Size);
        return t;
    }

    private static Tensor BoolMask(bool[] mask, Shape s, bool keepWhere)
    {
        var t = Temp(s);
        for (int i = 0; i < t.Size; i++) t._data[i] = mask[i % mask.Length] == keepWhere ? 1f : 0f;
        return t;
    }

    // ---------- broadcasting helpers with graph gradients of their own ----------

    /// <summary>Sums a broadcast result back to a shape it was broadcast from (the gradient of broadcasting).</summary>
    public Tensor SumTo(Shape target)
    {
        if (target == Shape) return this;
        var o = TempZeros(target);
        Broadcast.ReduceInto(o._data, target, _data, Shape);
        if (Track(this)) o.Record(SumToBackward, this);
        return o;
    }

    private static void SumToBackward(Tensor o)
    {
        var t = TempArray(o.A!.Size);
        Broadcast.Expand(o.Grad!, o.Shape, t, o.A.Shape);
        var dx = o.A.GradBuffer();
        System.Numerics.Tensors.TensorPrimitives.Add(dx, t, dx);
    }

    /// <summary>Broadcasts to a larger shape (a copy), as torch's expand followed by contiguous.</summary>
    public Tensor ExpandTo(Shape target)
    {
        if (target == Shape) return this;
        var o = Temp(Broadcast.ResultShape(Shape, target, "expand"));
        if (o.Shape != target) throw new ArgumentException($"expand: shape {Shape} does not broadcast to {target}");
        Broadcast.Expand(_data, Shape, o._data, target);
        if (Track(this)) o.Record(ExpandToBackward, this);
        return o;
    }

    private static void ExpandToBackward(Tensor o) => Broadcast.ReduceInto(o.A!.GradBuffer(), o.A.Shape, o.Grad!, o.Shape);

    // ---------- graph gradients, op by op ----------

    private static void BinaryGraph(Tensor o, Tensor g)
    {
        Tensor a = o.A!, b = o.B!;
        bool wa = Wants(a), wb = Wants(b);
        switch ((BinKind)o.I0)
        {
            case BinKind.Add:
                if (wa) Accumulate(a, g.SumTo(a.Shape));
                if (wb) Accumulate(b, g.SumTo(b.Shape));
                return;
            case BinKind.Sub:
                if (wa) Accumulate(a, g.SumTo(a.Shape));
                if (wb) Accumulate(b, (-g).SumTo(b.Shape));
                return;
            case BinKind.Mul:
                if (wa) Accumulate(a, (g * b).SumTo(a.Shape));
                if (wb) Accumulate(b, (g * a).SumTo(b.Shape));
                return;
            case BinKind.Div:
                if (wa) Accumulate(a, (g / b).SumTo(a.Shape));
                if (wb) Accumulate(b, (-(g * o) / b).SumTo(b.Shape));   // d(a/b)/db = -(a/b) / b
                return;
            default:
            {   // min / max: the gradient to the chosen input (ties to a), a constant mask
                var ea = TempArray(o.Size); var eb = TempArray(o.Size);
                Broadcast.Expand(a._data, a.Shape, ea, o.Shape);
                Broadcast.Expand(b._data, b.Shape, eb, o.Shape);
                bool isMin = (BinKind)o.I0 == BinKind.Min;
                var toA = Temp(o.Shape);
                for (int i = 0; i < o.Size; i++) toA._data[i] = (isMin ? ea[i] <= eb[i] : ea[i] >= eb[i]) ? 1f : 0f;
                if (wa) Accumulate(a, (g * toA).SumTo(a.Shape));
                if (wb) Accumulate(b, (g * (1f - toA)).SumTo(b.Shape));
                return;
            }
        }
    }

    private static void UnaryGraph(Tensor o, Tensor g)
    {
        var x = o.A!;
        float p0 = o.F0, p1 = o.F1;
        var kind = (UnaryKind)o.I0;
        Tensor dx = kind switch
        {
            UnaryKind.Neg => -g,
            UnaryKind.Exp => g * o,
            UnaryKind.Log => g / x,
            UnaryKind.Log1p => g / (x + 1f),
            UnaryKind.Sqrt => g / o * 0.5f,
            UnaryKind.NormRoot => NormRootGraph(g, o),
            UnaryKind.Abs => g * SignOf(x),
            UnaryKind.Square => g * x * 2f,
            UnaryKind.Pow => g * x.Pow(p0 - 1f) * p0,
            UnaryKind.Tanh => g - g * o * o,
            UnaryKind.Sigmoid => g * o * (1f - o),
            UnaryKind.Relu => g * MaskOf(o._data, o.Shape, v => v > 0f),
            UnaryKind.LeakyRelu => g * SlopeOf(x, p0),
            UnaryKind.Elu => EluGraph(g, x, o, p0),
            UnaryKind.Softplus => g * x.Sigmoid(),
            UnaryKind.Clamp => g * ClampMask(x, p0, p1),
            UnaryKind.Affine => g * p0,
            UnaryKind.Silu => SiluGraph(g, x),
            UnaryKind.Sin => g * (x + MathF.PI / 2).Sin(),   // cos x
            _ => throw new NotSupportedException($"gradients: op '{kind.ToString().ToLowerInvariant()}' has no second derivative (create_graph); use tanh, elu, silu, relu, softplus or sin"),
        };
        Accumulate(x, dx);
    }

    /// <summary>d sqrt(u) = g / (2 sqrt(u)) where the root is positive, 0 where it is 0 (<see cref="Norm"/>).</summary>
    private static Tensor NormRootGraph(Tensor g, Tensor o)
    {
        var on = MaskOf(o._data, o.Shape, v => v > 0f);
        return g * on / (o + (1f - on)) * 0.5f;
    }

    private static Tensor SignOf(Tensor x)
    {
        var t = Temp(x.Shape);
        for (int i = 0; i < t.Size; i++) t._data[i] = MathF.Sign(x._data[i]);
        return t;
    }

    private static Tensor SlopeOf(Tensor x, float slope)
    {
        var t = Temp(x.Shape);
        for (int i = 0; i < t.Size; i++) t._data[i] = x._data[i] > 0 ? 1f : slope;
        return t;
    }

    private static Tensor ClampMask(Tensor x, float lo, float hi)
    {
        var t = Temp(x.Shape);
        for (int i = 0; i < t.Size; i++) t._data[i] = x._data[i] >= lo && x._data[i] <= hi ? 1f : 0f;
        return t;
    }

    /// <summary>elu'(x) = 1 above 0, y + alpha below (y the output, itself a graph value); the sign read from <paramref name="signOf"/>.</summary>
    private static Tensor EluGraph(Tensor g, Tensor signOf, Tensor y, float alpha)
    {
        var pos = MaskOf(signOf._data, signOf.Shape, v => v > 0f);
        return g * (pos + (y + alpha) * (1f - pos));
    }

    /// <summary>silu'(x) = s (1 + x (1 - s)), s = sigmoid(x).</summary>
    private static Tensor SiluGraph(Tensor g, Tensor x)
    {
        var s = x.Sigmoid();
        return g * s * (x * (1f - s) + 1f);
    }

    /// <summary>The gradient of a reduction over axis I1 broadcast back over that axis ([.., 1, ..] expanded).</summary>
    private static Tensor Spread(Tensor g, Shape inputShape, int axis) => g.Reshape(inputShape.With(axis, 1)).ExpandTo(inputShape);

    private static void ReduceGraph(Tensor o, Tensor g)
    {
        var x = o.A!;
        int ax = o.I1;
        var (outer, dim, inner) = x.Shape.Split(ax);
        switch ((RedKind)o.I0)
        {
            case RedKind.Sum:
                Accumulate(x, o.F0 == 1f ? Spread(g, x.Shape, ax) : Spread(g, x.Shape, ax) * o.F0);
                return;
            case RedKind.Max:
            case RedKind.Min:
            {
                var pick = TempZeros(x.Shape);
                for (int p = 0; p < outer; p++)
                    for (int q = 0; q < inner; q++)
                        pick._data[(p * dim + (int)o.Aux![p * inner + q]) * inner + q] = 1f;
                Accumulate(x, Spread(g, x.Shape, ax) * pick);
                return;
            }
            default:   // logsumexp: softmax weights exp(x - lse)
                Accumulate(x, Spread(g, x.Shape, ax) * (x - Spread(o, x.Shape, ax)).Exp());
                return;
        }
    }

    private static void SoftmaxGraph(Tensor o, Tensor g)
    {
        int ax = o.I1;
        if (o.I0 == 1) Accumulate(o.A!, g - o.Exp() * g.Sum(ax, keepDim: true));   // log-softmax
        else Accumulate(o.A!, o * (g - (g * o).Sum(ax, keepDim: true)));
    }

    private static void PermuteGraph(Tensor o, Tensor g)
    {
        var a = o.A!;
        Span<int> inverse = stackalloc int[a.Rank];
        for (int i = 0; i < a.Rank; i++) inverse[(o.I0 >> (4 * i)) & 0xF] = i;
        Accumulate(a, g.Permute(inverse));
    }

    private static void ConcatGraph(Tensor o, Tensor g)
    {
        int off = 0;
        foreach (var x in o.Inputs!)
        {
            int w = x.Shape[o.I0];
            if (Wants(x)) Accumulate(x, g.Slice(o.I0, off, w));
            off += w;
        }
    }

    private static void SliceGraph(Tensor o, Tensor g)
    {
        var a = o.A!;
        int ax = o.I0, start = o.I1, len = o.Shape[ax], after = a.Shape[ax] - start - len;
        // the slice's gradient placed in zeros: concat(0s before, g, 0s after), differentiable in g
        if (start == 0 && after == 0) { Accumulate(a, g); return; }
        var parts = new List<Tensor>(3);
        if (start > 0) parts.Add(TempZeros(a.Shape.With(ax, start)));
        parts.Add(g);
        if (after > 0) parts.Add(TempZeros(a.Shape.With(ax, after)));
        Accumulate(a, Concat(ax, [.. parts]));
    }

    private static void CopiesGraph(Tensor o, Tensor g)
    {
        var a = o.A!;
        var (outer, dim, inner) = a.Shape.Split(o.I0);
        int times = o.I1;
        bool interleave = o.I2 == 1;
        var blocks = interleave ? g.Reshape(outer, dim, times, inner) : g.Reshape(outer, times, dim, inner);
        Accumulate(a, blocks.Sum(interleave ? 2 : 1).Reshape(a.Shape));
    }

    private static void QuantileGraph(Tensor o, Tensor g)
    {
        var a = o.A!;
        var (outer, dim, inner) = a.Shape.Split(o.I0);
        var w = TempZeros(a.Shape);
        float frac = o.F0;
        for (int p = 0; p < outer; p++)
            for (int r = 0; r < inner; r++)
            {
                int bas = p * dim * inner + r, oi = p * inner + r;
                w._data[bas + (int)o.Aux![2 * oi] * inner] += 1f - frac;
                w._data[bas + (int)o.Aux[2 * oi + 1] * inner] += frac;
            }
        Accumulate(a, Spread(g, a.Shape, o.I0) * w);
    }

    private static void MatmulGraph(Tensor o, Tensor g)
    {
        Tensor a = o.A!, b = o.B!;
        bool ta = (o.I0 & 1) != 0, tb = (o.I0 & 2) != 0;
        if (Wants(a)) Accumulate(a, ta ? Matmul(b, g, tb, true) : Matmul(g, b, false, !tb));
        if (Wants(b)) Accumulate(b, tb ? Matmul(g, a, true, ta) : Matmul(a, g, !ta, false));
    }

    private static void BmmGraph(Tensor o, Tensor g)
    {
        Tensor a = o.A!, b = o.B!;
        bool ta = (o.I0 & 1) != 0, tb = (o.I0 & 2) != 0, shared = o.I2 == 1 && o.I1 > 1;
        if (Wants(a))
        {
            if (ta && shared) throw new NotSupportedException("gradients: op 'bmm' with a transposed batch and a shared b has no second derivative (create_graph)");
            Accumulate(a, ta ? BatchedMatmul(b, g, tb, true) : BatchedMatmul(g, b, false, !tb));
        }
        if (!Wants(b)) return;
        if (!shared) { Accumulate(b, (tb ? BatchedMatmul(g, a, true, ta) : BatchedMatmul(a, g, !ta, false)).Reshape(b.Shape)); return; }
        if (ta) throw new NotSupportedException("gradients: op 'bmm' with a transposed batch and a shared b has no second derivative (create_graph)");
        // a shared b: the batch's rows stacked, one product sums over the batch
        int k = a.Shape[a.Rank - 1], n = o.Shape[o.Rank - 1], rows = a.Size / k;
        var a2 = a.Reshape(rows, k);
        var g2 = g.Reshape(rows, n);
        Accumulate(b, tb ? Matmul(g2, a2, true, false) : Matmul(a2, g2, true, false));
    }

    /// <summary>g times the fused activation's derivative, from the output y (a graph value).</summary>
    private static Tensor ActGraph(Tensor g, Tensor y, Activation act) => act switch
    {
        Activation.None => g,
        Activation.Relu => g * MaskOf(y._data, y.Shape, v => v > 0f),
        Activation.LeakyRelu => g * SlopeOf(y, 0.01f),
        Activation.Tanh => g - g * y * y,
        Activation.Sigmoid => g * y * (1f - y),
        Activation.Elu => EluGraph(g, y, y, 1f),   // elu(x) > 0 exactly where x > 0
        _ => throw new NotSupportedException($"gradients: fused activation '{act}' has no second derivative"),
    };

    private static void LinearGraph(Tensor o, Tensor g)
    {
        Tensor x = o.A!, w = o.B!;
        var bias = o.C;
        int outF = w.Shape[0], inF = w.Shape[1], rows = x.Shape.Rows;
        var g2 = ActGraph(g, o, (Activation)o.I0).Reshape(rows, outF);
        if (Wants(x)) Accumulate(x, Matmul(g2, w).Reshape(x.Shape));
        if (Wants(w)) Accumulate(w, Matmul(g2, x.Reshape(rows, inF), transA: true));
        if (Wants(bias)) Accumulate(bias!, g2.Sum(0).Reshape(bias!.Shape));
    }

    private static void EnsembleLinearGraph(Tensor o, Tensor g)
    {
        Tensor x = o.A!, w = o.B!;
        var bias = o.C;
        int e = w.Shape[0], rows = o.Shape[1];
        bool shared = x.Rank == 2;
        var gp = ActGraph(g, o, (Activation)o.I0);   // [E, B, out]
        if (Wants(x))
        {
            var dx = BatchedMatmul(gp, w, transB: true);   // [E, B, in]
            Accumulate(x, shared ? dx.Sum(0) : dx);
        }
        if (Wants(w)) Accumulate(w, BatchedMatmul(shared ? x.Reshape(1, rows, x.Shape[1]).Tile(e) : x, gp, transA: true));
        if (Wants(bias)) Accumulate(bias!, gp.Sum(1).Reshape(bias!.Shape));
    }

    private static void LayerNormGraph(Tensor o, Tensor g)
    {
        Tensor x = o.A!;
        Tensor? gamma = o.B, beta = o.C;
        if (o.I1 == 1)
        {
            // the fused ReLU: its derivative is a constant mask where the output is positive
            var mask = Temp(o.Shape);
            for (int i = 0; i < mask.Size; i++) mask._data[i] = o._data[i] > 0f ? 1f : 0f;
            g = g * mask;
        }
        // x-hat and 1 / std recomputed as graph values (the forward kept them as numbers)
        var xc = x - x.Mean(-1, keepDim: true);
        var rstd = (xc.Square().Mean(-1, keepDim: true) + o.F0).Pow(-0.5f);
        var xhat = xc * rstd;
        if (Wants(x))
        {
            var dxhat = gamma is null ? g : g * gamma;
            Accumulate(x, rstd * (dxhat - dxhat.Mean(-1, keepDim: true) - xhat * (dxhat * xhat).Mean(-1, keepDim: true)));
        }
        if (Wants(gamma)) Accumulate(gamma!, (g * xhat).SumTo(gamma!.Shape));
        if (Wants(beta)) Accumulate(beta!, g.SumTo(beta!.Shape));
    }

    private static void WhereGraph(Tensor o, Tensor g)
    {
        if (Wants(o.A)) Accumulate(o.A!, g * BoolMask(o.Mask!, o.Shape, keepWhere: true));
        if (Wants(o.B)) Accumulate(o.B!, g * BoolMask(o.Mask!, o.Shape, keepWhere: false));
    }
}
