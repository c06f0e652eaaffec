namespace OffRL.Tensors;

/// <summary>
/// Owns the temporary tensors created while it is current (on this thread) and returns their
/// buffers to a per-thread pool when disposed. Wrap each training step in one:
/// <code>using (TensorScope.Begin()) { var loss = ...; loss.Backward(); opt.Step(); }</code>
/// Tensors created inside must not be used after the scope ends (copy out with ToArray/Clone/Item).
/// </summary>
public sealed class TensorScope : IDisposable
{
    [ThreadStatic] private static TensorScope? t_current;
    [ThreadStatic] private static Pool? t_pool;
    [ThreadStatic] private static Stack<TensorScope>? t_free;

    private readonly List<Tensor> _tensors = new(256);
    private readonly List<float[]> _arrays = new(32);
    private TensorScope? _parent;
    private bool _active;

    public static TensorScope? Current => t_current;

    public static TensorScope Begin()
    {
        var free = t_free ??= new Stack<TensorScope>();
        var s = free.Count > 0 ? free.Pop() : new TensorScope();
        s._parent = t_current;
        s._active = true;
        t_current = s;
        return s;
    }

    private static Pool ThePool => t_pool ??= new Pool();

    internal Tensor Rent(Shape shape)
    {
        var t = ThePool.RentTensor(ThePool.RentArray(shape.Size), shape);
        _tensors.Add(t);
        return t;
    }

    internal Tensor RentView(float[] data, Shape shape)
    {
        var t = ThePool.RentTensor(data, shape);
        t.OwnsData = false;
        _tensors.Add(t);
        return t;
    }

    internal float[] RentArray(int size)
    {
        var a = ThePool.RentArray(size);
        _arrays.Add(a);
        return a;
    }

    /// <summary>An array for a pooled tensor's gradient or scratch: returned with the tensor.</summary>
    internal static float[] CurrentPoolArray(int size) => ThePool.RentArray(size);

    public void Dispose()
    {
        if (!_active) return;
        if (t_current != this) throw new InvalidOperationException("TensorScope: scopes must be disposed in reverse order, on the thread that began them");
        var pool = ThePool;
        foreach (var t in _tensors)
        {
            if (t.OwnsData) pool.ReturnArray(t.Data);
            if (t.Grad is not null) pool.ReturnArray(t.Grad);
            if (t.Aux is not null) pool.ReturnArray(t.Aux);
            pool.ReturnTensor(t);
        }
        foreach (var a in _arrays) pool.ReturnArray(a);
        _tensors.Clear();
        _arrays.Clear();
        t_current = _parent;
        _parent = null;
        _active = false;
        (t_free ??= new Stack<TensorScope>()).Push(this);
    }

    private sealed class Pool
    {
        private readonly Dictionary<int, Stack<float[]>> _arrays = new();
        private readonly Stack<Tensor> _tensors = new();
        private static readonly float[] Empty = [];

        public float[] RentArray(int size)
        {
            if (size == 0) return Empty;
            if (_arrays.TryGetValue(size, out var st) && st.Count > 0) return st.Pop();
            return new float[size];
        }

        public void ReturnArray(float[] a)
        {
            if (a.Length == 0) return;
            if (!_arrays.TryGetValue(a.Length, out var st)) _arrays[a.Length] = st = new Stack<float[]>();
            st.Push(a);
        }

        public Tensor RentTensor(float[] data, Shape shape)
        {
            if (_tensors.Count > 0)
            {
                var t = _tensors.Pop();
                t.ResetForPool(data, shape);
                return t;
            }
            var n = new Tensor(data, shape);
            n.ResetForPool(data, shape);
            return n;
        }

        public void ReturnTensor(Tensor t)
        {
            t.ResetForPool(Empty, default);
            _tensors.Push(t);
        }
    }
}
