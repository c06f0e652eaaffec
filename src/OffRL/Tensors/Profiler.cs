using System.Diagnostics;

namespace OffRL.Tensors;

/// <summary>
/// Where an update's time goes: exclusive wall time per <see cref="Part"/> on the one thread that called
/// <see cref="Start"/> (work other threads do for it shows as that thread's time inside the part that waited for them).
/// Off by default; when off each instrumented call costs one static read. Parts nest: time inside a product called from
/// a backward function counts as <see cref="Part.Gemm"/>, not as the backward function's.
/// </summary>
public static class Profiler
{
    /// <summary>The categories of a training update's time.</summary>
    public enum Part
    {
        /// <summary>Forward ops other than products, loss arithmetic, graph recording and the algorithm's own code.</summary>
        Forward,
        /// <summary>Matrix products (forward and backward), including their own split across threads.</summary>
        Gemm,
        /// <summary>Backward functions' elementwise work (activation gradients, reductions, bias gradients).</summary>
        BackwardOps,
        /// <summary>The graph walk: ordering the nodes, gradient buffers.</summary>
        Autograd,
        /// <summary>Optimizer steps and zeroing gradients.</summary>
        Optimizer,
        /// <summary>Polyak (soft) target-network updates.</summary>
        Targets,
        /// <summary>Drawing the minibatch from the dataset.</summary>
        Sampling,
        /// <summary>Handing independent work (ensemble members) to other threads and waiting for them.</summary>
        ThreadHandOff,
    }

    private static readonly int Count = Enum.GetValues<Part>().Length;
    private static volatile bool s_any;
    [ThreadStatic] private static long[]? t_ticks;
    [ThreadStatic] private static Part[]? t_stack;
    [ThreadStatic] private static int t_depth;
    [ThreadStatic] private static long t_last;

    [ThreadStatic] private static Dictionary<(bool, bool, int, int, int), (long Calls, long Ticks)>? t_products;

    /// <summary>True while the calling thread is being profiled.</summary>
    public static bool On => s_any && t_ticks is not null;

    /// <summary>Records one matrix product's shape and time (called by <see cref="Gemm"/> while profiling).</summary>
    internal static void Product(bool ta, bool tb, int m, int n, int k, long ticks)
    {
        var d = t_products ??= new();
        var key = (ta, tb, m, n, k);
        d.TryGetValue(key, out var v);
        d[key] = (v.Calls + 1, v.Ticks + ticks);
    }

    [ThreadStatic] private static Dictionary<string, (long Calls, long Ticks)>? t_ops;

    /// <summary>Records one backward function's time, products inside included (called by the graph walk while profiling).</summary>
    internal static void Op(string name, long ticks)
    {
        var d = t_ops ??= new();
        d.TryGetValue(name, out var v);
        d[name] = (v.Calls + 1, v.Ticks + ticks);
    }

    /// <summary>The backward functions run since <see cref="Start"/> on the calling thread: name, calls and seconds (products inside included).</summary>
    public static IEnumerable<(string Name, long Calls, double Seconds)> BackwardFunctions()
    {
        if (t_ops is null) yield break;
        foreach (var (name, (calls, ticks)) in t_ops) yield return (name, calls, (double)ticks / Stopwatch.Frequency);
    }

    /// <summary>The products seen since <see cref="Start"/> on the calling thread: op flags, m, n, k, calls and seconds.</summary>
    public static IEnumerable<(bool TransA, bool TransB, int M, int N, int K, long Calls, double Seconds)> Products()
    {
        if (t_products is null) yield break;
        foreach (var ((ta, tb, m, n, k), (calls, ticks)) in t_products)
            yield return (ta, tb, m, n, k, calls, (double)ticks / Stopwatch.Frequency);
    }

    /// <summary>Starts (or restarts) profiling on the calling thread; time before the first <see cref="Enter"/> counts as <see cref="Part.Forward"/>.</summary>
    public static void Start()
    {
        t_ticks = new long[Count];
        t_stack = new Part[64];
        t_depth = 1;
        t_stack[0] = Part.Forward;
        t_products = null;
        t_ops = null;
        t_last = Stopwatch.GetTimestamp();
        s_any = true;
    }

    /// <summary>Stops profiling on the calling thread and returns the seconds spent in each part.</summary>
    public static Dictionary<Part, double> Stop()
    {
        var ticks = t_ticks ?? new long[Count];
        if (t_ticks is not null && t_depth > 0) ticks[(int)t_stack![t_depth - 1]] += Stopwatch.GetTimestamp() - t_last;
        t_ticks = null; t_stack = null; t_depth = 0;
        s_any = false;
        var result = new Dictionary<Part, double>();
        for (int i = 0; i < Count; i++) result[(Part)i] = (double)ticks[i] / Stopwatch.Frequency;
        return result;
    }

    /// <summary>The part the calling thread's time is charged to now (<see cref="Part.Forward"/> when not profiling).</summary>
    public static Part Current => On && t_depth > 0 ? t_stack![t_depth - 1] : Part.Forward;

    /// <summary>Charges the time from here to the matching <see cref="Scope.Dispose"/> to <paramref name="part"/> (nested parts excluded).</summary>
    public static Scope Enter(Part part)
    {
        if (!s_any || t_ticks is null) return default;
        long now = Stopwatch.GetTimestamp();
        t_ticks[(int)t_stack![t_depth - 1]] += now - t_last;
        t_last = now;
        if (t_depth < t_stack.Length) t_stack[t_depth++] = part;
        return new Scope(true);
    }

    private static void Exit()
    {
        if (t_ticks is null || t_depth <= 1) return;
        long now = Stopwatch.GetTimestamp();
        t_ticks[(int)t_stack![--t_depth]] += now - t_last;
        t_last = now;
    }

    /// <summary>Ends a part begun by <see cref="Enter"/>.</summary>
    public readonly struct Scope(bool active) : IDisposable
    {
        public void Dispose()
        {
            if (active) Exit();
        }
    }
}
