using System.Numerics;
using OffRL.Tensors;

namespace OffRL.Nn;

/// <summary>Learning-rate schedule: the factor applied to the base rate at a step (0-based).</summary>
public abstract record LrSchedule
{
    public abstract double Factor(long step);

    public static LrSchedule Constant { get; } = new ConstantLr();

    /// <summary>Linear from 1 to <paramref name="endFactor"/> over <paramref name="totalSteps"/>, after an optional linear warmup.</summary>
    public static LrSchedule Linear(long totalSteps, double endFactor = 0.0, long warmup = 0) => new LinearLr(totalSteps, endFactor, warmup);

    /// <summary>
    /// Cosine annealing from 1 to <paramref name="minFactor"/> over <paramref name="totalSteps"/> (SGDR without restarts),
    /// after an optional warmup; with <paramref name="every"/> &gt; 1 the factor changes only every that many steps
    /// (PyTorch's CosineAnnealingLR stepped once per epoch of that many updates).
    /// </summary>
    public static LrSchedule Cosine(long totalSteps, double minFactor = 0.0, long warmup = 0, long every = 1) =>
        every < 1 ? throw new ArgumentException($"cosine schedule: every must be >= 1, got {every}") : new CosineLr(totalSteps, minFactor, warmup, every);

    private static double Warm(long step, long warmup) => warmup > 0 && step < warmup ? (step + 1.0) / warmup : 1.0;

    private sealed record ConstantLr : LrSchedule { public override double Factor(long step) => 1.0; }

    private sealed record LinearLr(long Total, double End, long Warmup) : LrSchedule
    {
        public override double Factor(long step)
        {
            if (step < Warmup) return Warm(step, Warmup);
            double t = Math.Clamp((double)(step - Warmup) / Math.Max(1, Total - Warmup), 0, 1);
            return 1.0 + (End - 1.0) * t;
        }
    }

    private sealed record CosineLr(long Total, double Min, long Warmup, long Every) : LrSchedule
    {
        public override double Factor(long step)
        {
            if (step < Warmup) return Warm(step, Warmup);
            long done = (step - Warmup) / Every * Every;
            double t = Math.Clamp((double)done / Math.Max(1, Total - Warmup), 0, 1);
            return Min + (1.0 - Min) * 0.5 * (1.0 + Math.Cos(Math.PI * t));
        }
    }
}

/// <summary>Base of the optimizers: PyTorch semantics (parameters whose gradient was not computed since ZeroGrad are skipped).</summary>
public abstract class Optimizer
{
    public IReadOnlyList<Tensor> Params { get; }
    public double BaseLr { get; set; }
    public LrSchedule Schedule { get; set; } = LrSchedule.Constant;
    /// <summary>Number of Step calls so far.</summary>
    public long Steps { get; protected set; }
    public double CurrentLr => BaseLr * Schedule.Factor(Steps);

    protected Optimizer(IEnumerable<Tensor> parameters, double lr)
    {
        Params = parameters.ToList();
        if (Params.Count == 0) throw new ArgumentException("optimizer: no parameters");
        foreach (var p in Params) if (!p.RequiresGrad) throw new ArgumentException($"optimizer: parameter '{p.Name}' does not require grad");
        if (!(lr >= 0)) throw new ArgumentException($"optimizer: learning rate must be >= 0, got {lr}");
        BaseLr = lr;
    }

    public void ZeroGrad()
    {
        using var profile = Profiler.Enter(Profiler.Part.Optimizer);
        foreach (var p in Params) p.ZeroGrad();
    }

    public void Step()
    {
        using var profile = Profiler.Enter(Profiler.Part.Optimizer);
        _lr = (float)CurrentLr;
        Steps++;
        long touched = 0;
        foreach (var p in Params) if (p.GradTouched && p.Grad is not null) touched += p.Size;
        if (!Elementwise || touched < ParallelMinElements)
        {
            for (int i = 0; i < Params.Count; i++)
            {
                var p = Params[i];
                if (p.GradTouched && p.Grad is not null) Update(i, 0, p.Data, p.Grad, _lr);
            }
            return;
        }
        // Large parameter sets (ensembles of critics): fixed slices of every parameter, spread over the cores. Each
        // element is updated by the same arithmetic as in one pass, so the result does not depend on the thread count.
        _slices ??= Slices(Params);
        _sliceStep ??= StepSlice;
        Gemm.ParallelFor(_slices.Length, _sliceStep);
    }

    /// <summary>Parameters with at least this many elements to update in total are updated in slices across cores.</summary>
    internal const long ParallelMinElements = 1 << 20;
    private const int SliceElements = 1 << 16;
    private float _lr;
    private (int Index, int Offset, int Length)[]? _slices;
    private Action<int>? _sliceStep;

    private void StepSlice(int s)
    {
        var (i, offset, length) = _slices![s];
        var p = Params[i];
        if (p.GradTouched && p.Grad is not null) Update(i, offset, p.Data.AsSpan(offset, length), p.Grad.AsSpan(offset, length), _lr);
    }

    /// <summary>Every parameter cut into slices of <see cref="SliceElements"/> (a multiple of every vector width).</summary>
    internal static (int Index, int Offset, int Length)[] Slices(IReadOnlyList<Tensor> parameters)
    {
        var slices = new List<(int, int, int)>();
        for (int i = 0; i < parameters.Count; i++)
            for (int o = 0; o < parameters[i].Size; o += SliceElements) slices.Add((i, o, Math.Min(SliceElements, parameters[i].Size - o)));
        return [.. slices];
    }

    /// <summary>True when an update of one element reads only that element's state, so slices of a parameter may be updated apart.</summary>
    protected virtual bool Elementwise => false;

    /// <summary>Updates elements [offset, offset + p.Length) of parameter <paramref name="index"/> (p and g are those elements).</summary>
    protected abstract void Update(int index, int offset, Span<float> p, ReadOnlySpan<float> g, float lr);

    /// <summary>Optimizer state by name (moments), for checkpoints.</summary>
    public abstract IEnumerable<(string Name, float[] Value)> State();

    /// <summary>Restore the step counter (state arrays are restored in place through <see cref="State"/>).</summary>
    public void SetSteps(long steps) => Steps = steps;

    protected float[][] Buffers() => Params.Select(p => new float[p.Size]).ToArray();
}

/// <summary>SGD with momentum, dampening, Nesterov and L2 weight decay as torch.optim.SGD.</summary>
public sealed class Sgd : Optimizer
{
    private readonly float[][] _buf;
    private readonly bool[] _started;
    public float Momentum { get; }
    public float Dampening { get; }
    public float WeightDecay { get; }
    public bool Nesterov { get; }

    public Sgd(IEnumerable<Tensor> parameters, double lr, float momentum = 0f, float dampening = 0f, float weightDecay = 0f, bool nesterov = false)
        : base(parameters, lr)
    {
        Momentum = momentum; Dampening = dampening; WeightDecay = weightDecay; Nesterov = nesterov;
        _buf = Buffers();
        _started = new bool[Params.Count];
    }

    protected override void Update(int index, int offset, Span<float> p, ReadOnlySpan<float> g, float lr)
    {
        var buf = _buf[index].AsSpan(offset, p.Length);
        for (int i = 0; i < p.Length; i++)
        {
            float d = g[i] + WeightDecay * p[i];
            if (Momentum != 0f)
            {
                buf[i] = _started[index] ? Momentum * buf[i] + (1f - Dampening) * d : d;
                d = Nesterov ? d + Momentum * buf[i] : buf[i];
            }
            p[i] -= lr * d;
        }
        _started[index] = true;
    }

    public override IEnumerable<(string, float[])> State()
    {
        for (int i = 0; i < _buf.Length; i++) yield return ($"momentum.{i}", _buf[i]);
    }
}

/// <summary>
/// Adam (Kingma and Ba 2015) as torch.optim.Adam: m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
/// p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps). With decoupled = true it is AdamW
/// (Loshchilov and Hutter 2019): p *= 1 - lr * wd before the step; otherwise wd is L2 added to g.
/// </summary>
public class Adam : Optimizer
{
    private readonly float[][] _m, _v;
    public float Beta1 { get; }
    public float Beta2 { get; }
    public float Eps { get; }
    public float WeightDecay { get; }
    public bool Decoupled { get; }

    public Adam(IEnumerable<Tensor> parameters, double lr = 1e-3, float beta1 = 0.9f, float beta2 = 0.999f, float eps = 1e-8f, float weightDecay = 0f)
        : this(parameters, lr, beta1, beta2, eps, weightDecay, decoupled: false) { }

    protected Adam(IEnumerable<Tensor> parameters, double lr, float beta1, float beta2, float eps, float weightDecay, bool decoupled)
        : base(parameters, lr)
    {
        Beta1 = beta1; Beta2 = beta2; Eps = eps; WeightDecay = weightDecay; Decoupled = decoupled;
        _m = Buffers(); _v = Buffers();
    }

    protected override bool Elementwise => true;

    protected override void Update(int index, int offset, Span<float> p, ReadOnlySpan<float> g, float lr)
    {
        // Steps is already t (1-based) here: Step() counts before updating.
        double bc1 = 1.0 - Math.Pow(Beta1, Steps), bc2 = 1.0 - Math.Pow(Beta2, Steps);
        float stepSize = (float)(lr / bc1), invSqrtBc2 = (float)(1.0 / Math.Sqrt(bc2));
        float b1 = Beta1, b2 = Beta2, eps = Eps, wd = WeightDecay;
        var m = _m[index].AsSpan(offset, p.Length);
        var v = _v[index].AsSpan(offset, p.Length);
        if (Decoupled && wd != 0f)
        {
            float f = 1f - lr * wd;
            for (int i = 0; i < p.Length; i++) p[i] *= f;
        }
        bool l2 = !Decoupled && wd != 0f;
        int k = 0;
        if (Vector.IsHardwareAccelerated && !l2)
        {
            int w = Vector<float>.Count;
            var vb1 = new Vector<float>(b1); var vb1c = new Vector<float>(1f - b1);
            var vb2 = new Vector<float>(b2); var vb2c = new Vector<float>(1f - b2);
            var vs = new Vector<float>(stepSize); var vc = new Vector<float>(invSqrtBc2); var ve = new Vector<float>(eps);
            for (; k <= p.Length - w; k += w)
            {
                var gv = new Vector<float>(g.Slice(k));
                var mv = vb1 * new Vector<float>(m.Slice(k)) + vb1c * gv;
                var vv = vb2 * new Vector<float>(v.Slice(k)) + vb2c * gv * gv;
                mv.CopyTo(m.Slice(k)); vv.CopyTo(v.Slice(k));
                var pv = new Vector<float>(p.Slice(k)) - vs * mv / (Vector.SquareRoot(vv) * vc + ve);
                pv.CopyTo(p.Slice(k));
            }
        }
        for (; k < p.Length; k++)
        {
            float gi = l2 ? g[k] + wd * p[k] : g[k];
            m[k] = b1 * m[k] + (1f - b1) * gi;
            v[k] = b2 * v[k] + (1f - b2) * gi * gi;
            p[k] -= stepSize * m[k] / (MathF.Sqrt(v[k]) * invSqrtBc2 + eps);
        }
    }

    public override IEnumerable<(string, float[])> State()
    {
        for (int i = 0; i < _m.Length; i++) { yield return ($"exp_avg.{i}", _m[i]); yield return ($"exp_avg_sq.{i}", _v[i]); }
    }
}

/// <summary>AdamW: Adam with decoupled weight decay (default 0.01, as torch.optim.AdamW).</summary>
public sealed class AdamW(IEnumerable<Tensor> parameters, double lr = 1e-3, float beta1 = 0.9f, float beta2 = 0.999f, float eps = 1e-8f, float weightDecay = 0.01f)
    : Adam(parameters, lr, beta1, beta2, eps, weightDecay, decoupled: true);

/// <summary>Gradient utilities and target-network updates.</summary>
public static class Grad
{
    /// <summary>clip_grad_norm_: scale all gradients so their global L2 norm is at most maxNorm; returns the norm before clipping.</summary>
    public static float ClipNorm(IEnumerable<Tensor> parameters, float maxNorm)
    {
        double sq = 0;
        var list = parameters as IReadOnlyList<Tensor> ?? parameters.ToList();
        foreach (var p in list)
            if (p.Grad is not null && p.GradTouched)
            {
                float n = System.Numerics.Tensors.TensorPrimitives.Norm(p.Grad);
                sq += (double)n * n;
            }
        float total = (float)Math.Sqrt(sq);
        float coef = maxNorm / (total + 1e-6f);
        if (coef < 1f)
            foreach (var p in list)
                if (p.Grad is not null && p.GradTouched) System.Numerics.Tensors.TensorPrimitives.Multiply(p.Grad, coef, p.Grad);
        return total;
    }

    /// <summary>
    /// <see cref="ClipNorm"/> for each member of an ensemble on its own (members trained as separate networks, each
    /// with its own clip_grad_norm_): every parameter's leading axis is the member. Returns the members' mean norm before clipping.
    /// </summary>
    public static float ClipNormPerMember(IReadOnlyList<Tensor> parameters, int members, float maxNorm)
    {
        double mean = 0;
        for (int e = 0; e < members; e++)
        {
            double sq = 0;
            foreach (var p in parameters)
                if (p.Grad is not null && p.GradTouched)
                {
                    int size = p.Size / members;
                    float n = System.Numerics.Tensors.TensorPrimitives.Norm(p.Grad.AsSpan(e * size, size));
                    sq += (double)n * n;
                }
            float total = (float)Math.Sqrt(sq);
            mean += total / members;
            float coef = maxNorm / (total + 1e-6f);
            if (coef < 1f)
                foreach (var p in parameters)
                    if (p.Grad is not null && p.GradTouched)
                    {
                        int size = p.Size / members;
                        var g = p.Grad.AsSpan(e * size, size);
                        System.Numerics.Tensors.TensorPrimitives.Multiply(g, coef, g);
                    }
        }
        return (float)mean;
    }
}

public static class Polyak
{
    /// <summary>Soft target update: target = (1 - tau) target + tau source, parameter by parameter.</summary>
    public static void Update(Module target, Module source, float tau)
    {
        using var profile = Profiler.Enter(Profiler.Part.Targets);
        var t = target.Parameters();
        var s = source.Parameters();
        if (t.Count != s.Count) throw new ArgumentException($"polyak: target has {t.Count} parameters, source {s.Count}");
        long total = 0;
        for (int i = 0; i < t.Count; i++)
        {
            if (t[i].Size != s[i].Size) throw new ArgumentException($"polyak: parameter {i} sizes differ ({t[i].Shape} vs {s[i].Shape})");
            total += t[i].Size;
        }
        if (total < Optimizer.ParallelMinElements)
        {
            for (int i = 0; i < t.Count; i++) Blend(t[i].Data, s[i].Data, tau);
            return;
        }
        // An ensemble's targets: slices spread over the cores (elementwise, so the result does not depend on the split)
        if (!s_blends.TryGetValue(target, out var blend) || blend.Elements != total) s_blends.AddOrUpdate(target, blend = new SlicedBlend(t, total));
        (blend.Target, blend.Source, blend.Tau) = (t, s, tau);
        Gemm.ParallelFor(blend.Slices.Length, blend.Body);
        (blend.Target, blend.Source) = ([], []);   // the table keeps no module's parameters alive between updates
    }

    private static readonly System.Runtime.CompilerServices.ConditionalWeakTable<Module, SlicedBlend> s_blends = new();

    /// <summary>A target module's slices and the loop body that blends one, kept so that an update allocates no delegate.</summary>
    private sealed class SlicedBlend
    {
        public readonly long Elements;
        public readonly (int Index, int Offset, int Length)[] Slices;
        public readonly Action<int> Body;
        public IReadOnlyList<Tensor> Target = [], Source = [];
        public float Tau;

        public SlicedBlend(IReadOnlyList<Tensor> target, long elements)
        {
            Elements = elements;
            Slices = Optimizer.Slices(target);
            Body = k =>
            {
                var (i, offset, length) = Slices[k];
                Blend(Target[i].Data.AsSpan(offset, length), Source[i].Data.AsSpan(offset, length), Tau);
            };
        }
    }

    private static void Blend(Span<float> target, ReadOnlySpan<float> source, float tau)
    {
        System.Numerics.Tensors.TensorPrimitives.Multiply(target, 1f - tau, target);
        System.Numerics.Tensors.TensorPrimitives.MultiplyAdd(source, tau, target, target);
    }
}
