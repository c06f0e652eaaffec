using System.Numerics.Tensors;

namespace OffRL.Tensors;

public sealed partial class Tensor
{
    /// <summary>op(a) @ op(b) for rank-2 tensors; op transposes when asked.</summary>
    public static Tensor Matmul(Tensor a, Tensor b, bool transA = false, bool transB = false)
    {
        if (a.Rank != 2 || b.Rank != 2) throw new ArgumentException($"matmul: needs rank-2 tensors, got a {a.Shape} and b {b.Shape} (use BatchedMatmul for batches)");
        int m = transA ? a.Shape[1] : a.Shape[0], k = transA ? a.Shape[0] : a.Shape[1];
        int kb = transB ? b.Shape[1] : b.Shape[0], n = transB ? b.Shape[0] : b.Shape[1];
        if (k != kb) throw new ArgumentException($"matmul: inner dimensions differ: a {a.Shape}{(transA ? "^T" : "")} and b {b.Shape}{(transB ? "^T" : "")} ({k} vs {kb})");
        var o = Temp(new Shape(m, n));
        Gemm.Sgemm(transA, transB, m, n, k, 1f, a._data, a.Shape[1], b._data, b.Shape[1], 0f, o._data, n);
        if (Track(a, b)) { o.Record(MatmulBackward, a, b); o.I0 = (transA ? 1 : 0) | (transB ? 2 : 0); }
        return o;
    }

    private static void MatmulBackward(Tensor o)
    {
        Tensor a = o.A!, b = o.B!;
        bool ta = (o.I0 & 1) != 0, tb = (o.I0 & 2) != 0;
        int m = o.Shape[0], n = o.Shape[1], k = ta ? a.Shape[0] : a.Shape[1];
        float[] g = o.Grad!;
        if (a.RequiresGrad)
        {   // dA = G op(B)^T, or (G op(B)^T)^T = op(B) G^T when A was transposed
            if (!ta) Gemm.Sgemm(false, !tb, m, k, n, 1f, g, n, b._data, b.Shape[1], 1f, a.GradBuffer(), k);
            else Gemm.Sgemm(tb, true, k, m, n, 1f, b._data, b.Shape[1], g, n, 1f, a.GradBuffer(), m);
        }
        if (b.RequiresGrad)
        {   // dB = op(A)^T G, or G^T op(A) when B was transposed
            if (!tb) Gemm.Sgemm(!ta, false, k, n, m, 1f, a._data, a.Shape[1], g, n, 1f, b.GradBuffer(), n);
            else Gemm.Sgemm(true, ta, n, k, m, 1f, g, n, a._data, a.Shape[1], 1f, b.GradBuffer(), k);
        }
    }

    /// <summary>Batched op(a) @ op(b): [..., M, K] x [..., K, N] with equal leading dimensions (or b without them, shared).</summary>
    public static Tensor BatchedMatmul(Tensor a, Tensor b, bool transA = false, bool transB = false)
    {
        if (a.Rank < 3) throw new ArgumentException($"bmm: a must have rank 3 or 4, got {a.Shape}");
        int ar = a.Rank;
        int batch = a.Size / (a.Shape[ar - 1] * a.Shape[ar - 2]);
        int m = transA ? a.Shape[ar - 1] : a.Shape[ar - 2], k = transA ? a.Shape[ar - 2] : a.Shape[ar - 1];
        int br = b.Rank;
        if (br < 2) throw new ArgumentException($"bmm: b must have rank 2 to 4, got {b.Shape}");
        int bBatch = b.Size / (b.Shape[br - 1] * b.Shape[br - 2]);
        if (bBatch != batch && bBatch != 1) throw new ArgumentException($"bmm: batch sizes differ: a {a.Shape} and b {b.Shape}");
        int kb = transB ? b.Shape[br - 1] : b.Shape[br - 2], n = transB ? b.Shape[br - 2] : b.Shape[br - 1];
        if (k != kb) throw new ArgumentException($"bmm: inner dimensions differ: a {a.Shape} and b {b.Shape} ({k} vs {kb})");
        var os = a.Shape.With(ar - 2, m).With(ar - 1, n);
        var o = Temp(os);
        int sa = m * k, sb = k * n, sc = m * n, lda = a.Shape[ar - 1], ldb = b.Shape[br - 1];
        for (int i = 0; i < batch; i++)
            Gemm.Sgemm(transA, transB, m, n, k, 1f, a._data.AsSpan(i * sa, sa), lda, b._data.AsSpan(bBatch == 1 ? 0 : i * sb, sb), ldb, 0f, o._data.AsSpan(i * sc, sc), n);
        if (Track(a, b)) { o.Record(BmmBackward, a, b); o.I0 = (transA ? 1 : 0) | (transB ? 2 : 0); o.I1 = batch; o.I2 = bBatch; }
        return o;
    }

    private static void BmmBackward(Tensor o)
    {
        Tensor a = o.A!, b = o.B!;
        bool ta = (o.I0 & 1) != 0, tb = (o.I0 & 2) != 0;
        int batch = o.I1, bBatch = o.I2, or = o.Rank;
        int m = o.Shape[or - 2], n = o.Shape[or - 1];
        int k = ta ? a.Shape[a.Rank - 2] : a.Shape[a.Rank - 1];
        int lda = a.Shape[a.Rank - 1], ldb = b.Shape[b.Rank - 1];
        int sa = m * k, sb = k * n, sc = m * n;
        float[] g = o.Grad!;
        float[]? da = a.RequiresGrad ? a.GradBuffer() : null, db = b.RequiresGrad ? b.GradBuffer() : null;
        for (int i = 0; i < batch; i++)
        {
            var gi = g.AsSpan(i * sc, sc);
            var ai = a._data.AsSpan(i * sa, sa);
            int bo = bBatch == 1 ? 0 : i * sb;
            var bi = b._data.AsSpan(bo, sb);
            if (da is not null)
            {
                if (!ta) Gemm.Sgemm(false, !tb, m, k, n, 1f, gi, n, bi, ldb, 1f, da.AsSpan(i * sa, sa), k);
                else Gemm.Sgemm(tb, true, k, m, n, 1f, bi, ldb, gi, n, 1f, da.AsSpan(i * sa, sa), m);
            }
            if (db is not null)
            {
                if (!tb) Gemm.Sgemm(!ta, false, k, n, m, 1f, ai, lda, gi, n, 1f, db.AsSpan(bo, sb), n);
                else Gemm.Sgemm(true, ta, n, k, m, 1f, gi, n, ai, lda, 1f, db.AsSpan(bo, sb), k);
            }
        }
    }

    /// <summary>
    /// Fused linear layer: act(x W^T + b) with W [out, in] (PyTorch layout), x [..., in].
    /// Relu, LeakyRelu, Tanh, Sigmoid and Elu are fused (their derivative comes from the output);
    /// other activations are applied as a separate op.
    /// </summary>
    public static Tensor Linear(Tensor x, Tensor weight, Tensor? bias, Activation act = Activation.None)
    {
        if (weight.Rank != 2) throw new ArgumentException($"linear: weight must be [out, in], got {weight.Shape}");
        int outF = weight.Shape[0], inF = weight.Shape[1];
        if (x.Shape.Last != inF) throw new ArgumentException($"linear: input {x.Shape} has {x.Shape.Last} features, weight {weight.Shape} expects {inF}");
        if (bias is not null && bias.Size != outF) throw new ArgumentException($"linear: bias {bias.Shape} does not match {outF} outputs");
        bool fused = act is Activation.None or Activation.Relu or Activation.LeakyRelu or Activation.Tanh or Activation.Sigmoid or Activation.Elu;
        int rows = x.Shape.Rows;
        var o = Temp(x.Shape.With(x.Rank - 1, outF));
        var fact = fused ? act : Activation.None;
        Gemm.SgemmBiasAct(false, true, rows, outF, inF, x._data, inF, weight._data, inF, bias?._data, o._data, outF, fact);
        if (Track(x, weight, bias)) { o.Record(LinearBackward, x, weight, bias); o.I0 = (int)fact; }
        return fused ? o : o.Apply(act);
    }

    /// <summary>
    /// A fused layer's output gradient, row by row: g = go * act'(y) over rows x n values from <paramref name="offset"/>,
    /// and, unless <paramref name="db"/> is empty, each row of g added to db as it is made (the bias gradient, one pass
    /// over memory instead of two; the same sums in the same order).
    /// </summary>
    internal static void ActGradColumnSum(Activation act, float[] go, float[] y, float[] g, int offset, int rows, int n, Span<float> db)
    {
        for (int r = 0, o = offset; r < rows; r++, o += n)
        {
            if (act != Activation.None) Simd.ActGradFromOutput(act, go.AsSpan(o, n), y.AsSpan(o, n), g.AsSpan(o, n));
            if (!db.IsEmpty) TensorPrimitives.Add(db, new ReadOnlySpan<float>(g, o, n), db);
        }
    }

    private static void LinearBackward(Tensor o)
    {
        Tensor x = o.A!, w = o.B!;
        var bias = o.C;
        int outF = w.Shape[0], inF = w.Shape[1], rows = x.Shape.Rows;
        var act = (Activation)o.I0;
        var g = act == Activation.None ? o.Grad! : TempArray(o.Grad!.Length);
        ActGradColumnSum(act, o.Grad!, o._data, g, 0, rows, outF, bias is not null && bias.RequiresGrad ? bias.GradBuffer() : default);
        if (x.RequiresGrad) Gemm.Sgemm(false, false, rows, inF, outF, 1f, g, outF, w._data, inF, 1f, x.GradBuffer(), inF);
        if (w.RequiresGrad) Gemm.Sgemm(true, false, outF, inF, rows, 1f, g, outF, x._data, inF, 1f, w.GradBuffer(), inF);
    }

    /// <summary>
    /// E independent linear layers as one batched product: x [E, B, in] (or [B, in] shared by all members),
    /// W [E, in, out], b [E, out] -> act(x_e W_e + b_e) of shape [E, B, out].
    /// </summary>
    public static Tensor EnsembleLinear(Tensor x, Tensor weight, Tensor? bias, Activation act = Activation.None)
    {
        if (weight.Rank != 3) throw new ArgumentException($"ensemble_linear: weight must be [E, in, out], got {weight.Shape}");
        int e = weight.Shape[0], inF = weight.Shape[1], outF = weight.Shape[2];
        bool shared = x.Rank == 2;
        if (!shared && (x.Rank != 3 || x.Shape[0] != e)) throw new ArgumentException($"ensemble_linear: input must be [{e}, B, {inF}] or [B, {inF}], got {x.Shape}");
        if (x.Shape.Last != inF) throw new ArgumentException($"ensemble_linear: input {x.Shape} has {x.Shape.Last} features, weight {weight.Shape} expects {inF}");
        if (bias is not null && bias.Size != e * outF) throw new ArgumentException($"ensemble_linear: bias {bias.Shape} must be [{e}, {outF}]");
        bool fused = act is Activation.None or Activation.Relu or Activation.LeakyRelu or Activation.Tanh or Activation.Sigmoid or Activation.Elu;
        // SiLU's gradient needs its input, so it is fused only where no gradient is recorded (model rollouts,
        // prediction): applied to each member's block while it is in cache.
        bool tracked = Track(x, weight, bias);
        bool siluInPlace = act == Activation.Silu && !tracked;
        int rows = shared ? x.Shape[0] : x.Shape[1];
        var o = Temp(new Shape(e, rows, outF));
        var fact = fused ? act : Activation.None;
        float[] xd = x._data, wd = weight._data, od = o._data, bd = bias?._data ?? [];
        bool hasBias = bias is not null;
        // Members run on separate cores: E mid-sized products scale better than each product split in two.
        Gemm.ParallelFor(e, i =>
        {
            var xs = xd.AsSpan(shared ? 0 : i * rows * inF, rows * inF);
            var blk = od.AsSpan(i * rows * outF, rows * outF);
            Gemm.SgemmBiasAct(false, false, rows, outF, inF, xs, inF, wd.AsSpan(i * inF * outF, inF * outF), outF,
                hasBias ? bd.AsSpan(i * outF, outF) : default, blk, outF, fact);
            if (siluInPlace)
            {
                Span<float> sig = stackalloc float[4096];
                for (int at = 0; at < blk.Length; at += sig.Length)
                {
                    var part = blk.Slice(at, Math.Min(sig.Length, blk.Length - at));
                    TensorPrimitives.Sigmoid(part, sig[..part.Length]);
                    TensorPrimitives.Multiply(part, sig[..part.Length], part);
                }
            }
        });
        if (tracked) { o.Record(EnsembleLinearBackward, x, weight, bias); o.I0 = (int)fact; }
        return fused || siluInPlace ? o : o.Apply(act);
    }

    private static void EnsembleLinearBackward(Tensor o)
    {
        Tensor x = o.A!, w = o.B!;
        var bias = o.C;
        int e = w.Shape[0], inF = w.Shape[1], outF = w.Shape[2], rows = o.Shape[1];
        bool shared = x.Rank == 2;
        var act = (Activation)o.I0;
        // The activation's gradient and the bias gradient, member by member inside the parallel loop below (the
        // shared-input case needs them first).
        float[] g = act == Activation.None ? o.Grad! : TempArray(o.Grad!.Length), go = o.Grad!, y = o._data;
        int block = rows * outF;
        float[]? dx = x.RequiresGrad ? x.GradBuffer() : null, dw = w.RequiresGrad ? w.GradBuffer() : null;
        float[]? db = bias is not null && bias.RequiresGrad ? bias.GradBuffer() : null;
        Span<float> BiasGrad(int i) => db is null ? default : db.AsSpan(i * outF, outF);
        if (shared)
            for (int i = 0; i < e; i++) ActGradColumnSum(act, go, y, g, i * block, rows, outF, BiasGrad(i));
        float[] xd = x._data, wd = w._data;
        // A shared input's gradient sums over members: computed serially to avoid racing on dx.
        if (dx is not null && shared)
            for (int i = 0; i < e; i++)
                Gemm.Sgemm(false, true, rows, inF, outF, 1f, g.AsSpan(i * rows * outF, rows * outF), outF, wd.AsSpan(i * inF * outF, inF * outF), outF, 1f, dx, inF);
        Gemm.ParallelFor(e, i =>
        {
            var gi = g.AsSpan(i * block, block);
            if (!shared) ActGradColumnSum(act, go, y, g, i * block, rows, outF, BiasGrad(i));
            int xo = shared ? 0 : i * rows * inF;
            if (dx is not null && !shared) Gemm.Sgemm(false, true, rows, inF, outF, 1f, gi, outF, wd.AsSpan(i * inF * outF, inF * outF), outF, 1f, dx.AsSpan(xo, rows * inF), inF);
            if (dw is not null) Gemm.Sgemm(true, false, inF, outF, rows, 1f, xd.AsSpan(xo, rows * inF), inF, gi, outF, 1f, dw.AsSpan(i * inF * outF, inF * outF), outF);
        });
    }

    /// <summary>
    /// Layer normalization over the last dimension with affine gamma, beta (Ba et al. 2016): shared, [n], or one pair per
    /// ensemble member, [E, 1, n] for x [E, B, n] (an ensemble of layer-normalized networks, each with its own scale and
    /// shift, as a vmapped flax LayerNorm); then <paramref name="activation"/> (ReLU fused into the same pass over each
    /// row, forward and backward; another activation applied after).
    /// </summary>
    public static Tensor LayerNorm(Tensor x, Tensor? gamma, Tensor? beta, float eps = 1e-5f, Activation activation = Activation.None)
    {
        if (activation is not (Activation.None or Activation.Relu)) return LayerNorm(x, gamma, beta, eps).Apply(activation);
        int n = x.Shape.Last, rows = x.Shape.Rows;
        int perMember = AffineRows(x, gamma, "gamma");
        if (beta is not null && AffineRows(x, beta, "beta") is var b && gamma is not null && b != perMember)
            throw new ArgumentException($"layer_norm: gamma {gamma.Shape} and beta {beta.Shape} differ in shape");
        if (gamma is null && beta is not null) perMember = AffineRows(x, beta, "beta");
        bool relu = activation == Activation.Relu;
        var o = Temp(x.Shape);
        var stats = o.NewAux(2 * rows);
        float[] xd = x._data, od = o._data;
        float[]? gd = gamma?._data, bd = beta?._data;
        void Rows(int from, int to)
        {
            for (int r = from; r < to; r++)
            {
                var xr = new ReadOnlySpan<float>(xd, r * n, n);
                var yr = new Span<float>(od, r * n, n);
                float mean = TensorPrimitives.Sum(xr) / n;
                float rstd = 1f / MathF.Sqrt(LayerNormKernels.CenterAndSquares(xr, mean, yr) / n + eps);
                int at = r / perMember * n;
                LayerNormKernels.ScaleShift(yr, rstd, gd is null ? default : gd.AsSpan(at, n), bd is null ? default : bd.AsSpan(at, n), relu);
                stats[2 * r] = mean; stats[2 * r + 1] = rstd;
            }
        }
        RowParts(rows, n, Rows);
        o.Aux = stats;
        o.F0 = eps;   // for the graph gradient
        o.I0 = perMember;
        o.I1 = relu ? 1 : 0;
        if (Track(x, gamma, beta)) o.Record(LayerNormBackward, x, gamma, beta);
        return o;
    }

    /// <summary>Rows of x that share one row of a layer norm's gamma or beta: all of them ([n]), or a member's ([E, 1, n]).</summary>
    private static int AffineRows(Tensor x, Tensor? p, string name)
    {
        int n = x.Shape.Last, rows = x.Shape.Rows;
        if (p is null || p.Size == n) return Math.Max(1, rows);
        if (x.Shape.Rank == 3 && p.Shape.Rank == 3 && p.Shape[0] == x.Shape[0] && p.Shape[1] == 1 && p.Shape[2] == n) return x.Shape[1];
        throw new ArgumentException($"layer_norm: {name} {p.Shape} matches neither the {n} features of {x.Shape} nor one row per member ([{x.Shape[0]}, 1, {n}])");
    }

    private static void LayerNormBackward(Tensor o)
    {
        Tensor x = o.A!;
        Tensor? gamma = o.B, beta = o.C;
        int n = x.Shape.Last, rows = x.Shape.Rows, perMember = o.I0;
        bool relu = o.I1 == 1;
        float[] g = o.Grad!, stats = o.Aux!, xd = x._data, od = o._data;
        float[]? dx = x.RequiresGrad ? x.GradBuffer() : null;
        float[]? dg = gamma is not null && gamma.RequiresGrad ? gamma.GradBuffer() : null;
        float[]? dbt = beta is not null && beta.RequiresGrad ? beta.GradBuffer() : null;
        float[]? gd = gamma?._data;
        // One row: the input's gradient, and with params the row's share of the scale's and shift's gradients.
        void Rows(int from, int to, bool withParams)
        {
            var xhat = n <= 1024 ? stackalloc float[n] : new float[n];
            var gout = n <= 1024 ? stackalloc float[n] : new float[n];
            for (int r = from; r < to; r++)
            {
                int at = r / perMember * n;
                LayerNormKernels.Backward(new ReadOnlySpan<float>(xd, r * n, n), new ReadOnlySpan<float>(g, r * n, n), relu ? new ReadOnlySpan<float>(od, r * n, n) : default,
                    stats[2 * r], stats[2 * r + 1], gd is null ? default : gd.AsSpan(at, n), dx is null ? default : dx.AsSpan(r * n, n),
                    withParams && dg is not null ? dg.AsSpan(at, n) : default, withParams && dbt is not null ? dbt.AsSpan(at, n) : default, xhat, gout);
            }
        }
        bool parameters = dg is not null || dbt is not null;
        if (parameters && perMember < rows)
        {
            // an ensemble's own scales and shifts: each member's rows on one worker, summed in row order
            Gemm.ParallelFor(rows / perMember, e => Rows(e * perMember, (e + 1) * perMember, withParams: true));
            return;
        }
        if (dx is not null) RowParts(rows, n, (from, to) => Rows(from, to, withParams: false));
        if (parameters) LayerNormKernels.ParamRows(xd, g, relu ? od : null, stats, n, rows, dg, dbt);   // shared: in row order on this thread
    }

    /// <summary>
    /// Runs <paramref name="rows"/>(from, to) over all rows of <paramref name="width"/> values: in one call, or in one
    /// contiguous part per engine thread when the tensor is large enough to be worth the hand-off (each row is computed
    /// the same either way, so the numbers do not depend on the thread count).
    /// </summary>
    private static void RowParts(int count, int width, Action<int, int> rows)
    {
        int parts = Math.Min(Math.Min(Gemm.Threads, Environment.ProcessorCount), Math.Max(1, (int)((long)count * width / 32768)));
        if (parts <= 1) { rows(0, count); return; }
        Gemm.ParallelFor(parts, p => rows((int)((long)count * p / parts), (int)((long)count * (p + 1) / parts)));
    }

    /// <summary>Inverted dropout: zero with probability p, scale the rest by 1/(1-p). Identity when not training.</summary>
    public Tensor Dropout(float p, Rng rng, bool training = true)
    {
        if (p < 0f || p >= 1f) throw new ArgumentException($"dropout: p must be in [0, 1), got {p}");
        if (!training || p == 0f) return this;
        var o = Temp(Shape);
        var mask = o.NewAux(Size);
        float keep = 1f / (1f - p);
        for (int i = 0; i < Size; i++) mask[i] = rng.NextFloat() < p ? 0f : keep;
        TensorPrimitives.Multiply(_data, mask, o._data);
        o.Aux = mask;
        if (Track(this)) o.Record(DropoutBackward, this);
        return o;
    }

    private static void DropoutBackward(Tensor o)
    {
        var dx = o.A!.GradBuffer();
        TensorPrimitives.FusedMultiplyAdd(o.Grad!, o.Aux!, dx, dx);
    }
}
