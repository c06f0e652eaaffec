using System.Runtime.CompilerServices;

namespace OffRL.Tensors;

/// <summary>Computes the gradients of a node's inputs from the node's own gradient.</summary>
internal delegate void BackwardFn(Tensor node);

/// <summary>
/// A dense float32 row-major tensor of rank 0..4 and a node of the reverse-mode autodiff graph.
/// Parameters are leaves with <see cref="RequiresGrad"/>; every op on them records its inputs and a
/// backward function on the result, and <see cref="Backward()"/> walks the graph in reverse
/// topological order. Inside a <see cref="TensorScope"/> results and gradients come from a
/// per-thread pool and go back to it when the scope ends, so a training step allocates nothing.
/// </summary>
public sealed partial class Tensor
{
    private float[] _data;
    public Shape Shape { get; private set; }
    /// <summary>Accumulated gradient (null until a backward pass reaches this tensor).</summary>
    public float[]? Grad { get; internal set; }
    public bool RequiresGrad { get; set; }
    public string? Name { get; set; }

    // Graph: inputs, backward function and whatever the backward needs.
    internal Tensor? A, B, C;
    internal Tensor[]? Inputs;
    internal BackwardFn? BackwardFn;
    internal float F0, F1;
    internal int I0, I1, I2;
    internal float[]? Aux;      // pooled scratch saved for backward (masks, statistics)
    internal int[]? Ints;       // indices supplied by the caller (gather, embedding)
    internal bool[]? Mask;      // boolean mask supplied by the caller
    internal int Mark;
    internal bool Pooled, OwnsData;

    internal Tensor(float[] data, Shape shape, bool ownsData = true)
    {
        if (data.Length != shape.Size)
            throw new ArgumentException($"tensor: data has {data.Length} elements but shape {shape} needs {shape.Size}");
        _data = data; Shape = shape; OwnsData = ownsData;
    }

    public float[] Data => _data;
    public int Size => _data.Length;
    public int Rank => Shape.Rank;
    public Span<float> Span => _data;
    public bool IsLeaf => BackwardFn is null;

    // ---------- creation ----------
    public static Tensor Zeros(Shape shape) => new(new float[shape.Size], shape);
    public static Tensor Zeros(params int[] dims) => Zeros(Shape.Of(dims));
    public static Tensor Full(Shape shape, float value)
    {
        var t = Zeros(shape);
        Array.Fill(t._data, value);
        return t;
    }
    public static Tensor Scalar(float value) => new(new[] { value }, Shape.Scalar);

    /// <summary>Wraps an array (no copy).</summary>
    public static Tensor FromArray(float[] data, Shape shape) => new(data, shape);
    public static Tensor FromArray(float[] data, params int[] dims) => new(data, Shape.Of(dims));

    /// <summary>A trainable leaf: gradients accumulate in <see cref="Grad"/>.</summary>
    public static Tensor Parameter(Shape shape, string? name = null) => new(new float[shape.Size], shape) { RequiresGrad = true, Name = name };

    public static Tensor Rand(Shape shape, Rng rng, float lo = 0f, float hi = 1f)
    {
        var t = Zeros(shape);
        rng.FillUniform(t._data, lo, hi);
        return t;
    }

    public static Tensor Randn(Shape shape, Rng rng, float mean = 0f, float std = 1f)
    {
        var t = Zeros(shape);
        rng.FillNormal(t._data, mean, std);
        return t;
    }

    /// <summary>
    /// A scratch or result tensor: rented from the current <see cref="TensorScope"/>'s pool (an agent's update runs in
    /// one, so nothing is allocated per step; the tensor is returned when the scope ends and must not outlive it), fresh
    /// outside a scope. Contents are undefined. Public so algorithms in other assemblies use the same pool.
    /// </summary>
    public static Tensor Temp(Shape shape) => TensorScope.Current?.Rent(shape) ?? new Tensor(new float[shape.Size], shape);

    /// <summary>Like <see cref="Temp"/> but zero-filled.</summary>
    public static Tensor TempZeros(Shape shape)
    {
        var t = Temp(shape);
        if (t.Pooled) Array.Clear(t._data);
        return t;
    }

    internal static float[] TempArray(int size) => TensorScope.Current?.RentArray(size) ?? new float[size];

    /// <summary>Gradient buffer, allocated (zeroed) on first use.</summary>
    internal float[] GradBuffer()
    {
        GradTouched = true;
        if (Grad is null)
        {
            var g = Pooled ? TensorScope.CurrentPoolArray(Size) : new float[Size];
            if (Pooled) Array.Clear(g);
            Grad = g;
        }
        return Grad;
    }

    internal void ResetForPool(float[] data, Shape shape)
    {
        _data = data; Shape = shape; Grad = null; RequiresGrad = false; Name = null;
        A = B = C = null; Inputs = null; BackwardFn = null; Aux = null; Ints = null; Mask = null;
        F0 = F1 = 0; I0 = I1 = I2 = 0; Mark = 0; OwnsData = true; Pooled = true; GradTouched = false;
    }

    internal void SetShapeUnchecked(Shape s) => Shape = s;

    // ---------- element access ----------
    [IndexerName("At")]
    public float this[int i]
    {
        get => _data[Offset(i)];
        set => _data[Offset(i)] = value;
    }

    [IndexerName("At")]
    public float this[int i, int j]
    {
        get => _data[Offset(i, j)];
        set => _data[Offset(i, j)] = value;
    }

    [IndexerName("At")]
    public float this[int i, int j, int k]
    {
        get => _data[(i * Shape[1] + j) * Shape[2] + k];
        set => _data[(i * Shape[1] + j) * Shape[2] + k] = value;
    }

    private int Offset(int i) => Rank <= 1 ? i : throw new ArgumentException($"index: tensor of shape {Shape} needs {Rank} indices");
    private int Offset(int i, int j) => Rank == 2 ? i * Shape[1] + j : throw new ArgumentException($"index: tensor of shape {Shape} needs {Rank} indices");

    /// <summary>The value of a one-element tensor.</summary>
    public float Item()
    {
        if (Size != 1) throw new InvalidOperationException($"item: tensor of shape {Shape} has {Size} elements, not 1");
        return _data[0];
    }

    public float[] ToArray() => (float[])_data.Clone();

    /// <summary>A copy that is not part of any graph and not pooled.</summary>
    public Tensor Clone() => new((float[])_data.Clone(), Shape);

    public void CopyFrom(ReadOnlySpan<float> src)
    {
        if (src.Length != Size) throw new ArgumentException($"copy: source has {src.Length} elements, tensor {Shape} has {Size}");
        src.CopyTo(_data);
    }

    /// <summary>Zero the gradient and mark it as not computed (optimizers skip such parameters, as PyTorch skips grad=None).</summary>
    public void ZeroGrad()
    {
        if (Grad is not null) Array.Clear(Grad);
        GradTouched = false;
    }

    /// <summary>True once a backward pass has written this tensor's gradient since the last ZeroGrad.</summary>
    public bool GradTouched { get; internal set; }

    public override string ToString()
    {
        var sb = new System.Text.StringBuilder($"Tensor{Shape} [");
        for (int i = 0; i < Math.Min(Size, 8); i++) sb.Append(i == 0 ? "" : ", ").Append(_data[i].ToString("G5", System.Globalization.CultureInfo.InvariantCulture));
        if (Size > 8) sb.Append(", ...");
        return sb.Append(']').ToString();
    }

    // ---------- grad mode ----------
    [ThreadStatic] private static bool t_noGrad;

    /// <summary>True where ops record the graph (not inside <see cref="NoGrad"/>).</summary>
    public static bool GradEnabled => !t_noGrad;

    /// <summary>Within the returned scope no op records the graph (inference, target computation).</summary>
    public static NoGradScope NoGrad() => new(true);

    public readonly struct NoGradScope : IDisposable
    {
        private readonly bool _prev;
        internal NoGradScope(bool _) { _prev = t_noGrad; t_noGrad = true; }
        public void Dispose() => t_noGrad = _prev;
    }

    /// <summary>A view of the same data that is cut from the graph.</summary>
    public Tensor Detach()
    {
        var t = TensorScope.Current?.RentView(_data, Shape) ?? new Tensor(_data, Shape, ownsData: false);
        return t;
    }

    /// <summary>Records the op on the result when gradients are needed.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static bool Track(Tensor? a, Tensor? b = null, Tensor? c = null) =>
        !t_noGrad && ((a?.RequiresGrad ?? false) || (b?.RequiresGrad ?? false) || (c?.RequiresGrad ?? false));

    internal Tensor Record(BackwardFn fn, Tensor? a, Tensor? b = null, Tensor? c = null)
    {
        RequiresGrad = true; BackwardFn = fn; A = a; B = b; C = c;
        return this;
    }

    // ---------- backward ----------
    private static int s_mark;
    [ThreadStatic] private static List<Tensor>? t_order;
    [ThreadStatic] private static Stack<(Tensor, int)>? t_stack;

    /// <summary>Back-propagates from this one-element tensor (d this / d this = 1).</summary>
    public void Backward()
    {
        if (Size != 1) throw new InvalidOperationException($"backward: needs a one-element loss, got shape {Shape}; use Backward(gradient)");
        Backward(null);
    }

    /// <summary>Back-propagates a given output gradient (null means ones).</summary>
    public void Backward(ReadOnlySpan<float> seed)
    {
        if (!RequiresGrad) throw new InvalidOperationException("backward: tensor does not require grad (no parameter reaches it, or it was computed under NoGrad)");
        using var profile = Profiler.Enter(Profiler.Part.Autograd);
        var order = t_order ??= new List<Tensor>(256);
        TopoOrder(order);
        var g = GradBuffer();
        if (seed.IsEmpty) for (int i = 0; i < g.Length; i++) g[i] += 1f;
        else
        {
            if (seed.Length != Size) throw new ArgumentException($"backward: gradient has {seed.Length} elements, tensor {Shape} has {Size}");
            for (int i = 0; i < g.Length; i++) g[i] += seed[i];
        }
        for (int i = order.Count - 1; i >= 0; i--)
        {
            var n = order[i];
            if (n.BackwardFn is null || n.Grad is null) continue;
            using var op = Profiler.Enter(Profiler.Part.BackwardOps);
            if (!Profiler.On) n.BackwardFn(n);
            else
            {
                long t0 = System.Diagnostics.Stopwatch.GetTimestamp();
                n.BackwardFn(n);
                Profiler.Op(n.BackwardFn.Method.Name, System.Diagnostics.Stopwatch.GetTimestamp() - t0);
            }
        }
        order.Clear();
    }

    private (bool Done, Tensor? Node) Input(int i)
    {
        if (i == 0) return (false, A);
        if (i == 1) return (false, B);
        if (i == 2) return (false, C);
        int j = i - 3;
        if (Inputs is not null && j < Inputs.Length) return (false, Inputs[j]);
        return (true, null);
    }
}
