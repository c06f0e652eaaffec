using System.Diagnostics;

namespace OffRL.Tensors;

/// <summary>
/// The engine's parallel loop: <see cref="Run"/>(count, body) calls body(i) for every i in [0, count) on the calling
/// thread and on persistent worker threads, and returns when all have finished. A training update starts a parallel
/// loop every few tens of microseconds (each ensemble layer, each large product), so workers spin for a while between
/// loops instead of being woken through the thread pool, and sleep once idle. Items are claimed from one 64-bit ticket
/// (generation, count, next index) by compare-and-swap, so a late worker can never run an item of a finished loop.
/// Nested calls and calls made while another thread's loop is running run serially on their caller.
/// </summary>
public static class ForkJoin
{
    private const int IdleSpinMicroseconds = 200;
    private const int IndexBits = 20;
    private const long IndexMask = (1L << IndexBits) - 1;

    private static readonly object s_gate = new();
    private static Thread[] s_threads = [];
    private static long s_ticket;          // generation << 40 | count << 20 | next
    private static Action<int>? s_body;
    private static int s_done;
    private static Exception? s_error;
    private static int s_sleepers;
    private static readonly SemaphoreSlim s_wake = new(0);
    [ThreadStatic] private static bool t_inside;

    /// <summary>True on a thread that is running an item of a parallel loop (nested loops there run serially).</summary>
    public static bool Inside => t_inside;

    /// <summary>Runs body(i) for i in [0, count) on up to <paramref name="threads"/> threads, the caller included.</summary>
    public static void Run(int count, int threads, Action<int> body)
    {
        if (count <= 0) return;
        if (count > IndexMask) throw new ArgumentOutOfRangeException(nameof(count), $"fork-join: at most {IndexMask} items, got {count}");
        if (threads <= 1 || count == 1 || t_inside || !Monitor.TryEnter(s_gate))
        {
            Serial(count, body);
            return;
        }
        try
        {
            EnsureWorkers(threads - 1);
            Publish(body, count);
            Work();
            Join(count);
            // An item's exception surfaces as itself, as it would from a serial loop (the first one, if several failed).
            if (s_error is { } e) System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(e);
        }
        finally { Monitor.Exit(s_gate); }
    }

    private static Action? s_other;
    private static readonly Action<int> s_runOther = _ => s_other!();

    /// <summary>
    /// Two independent pieces of work side by side: <paramref name="mine"/> on the calling thread while a worker runs
    /// <paramref name="other"/> (the caller runs it too, after its own, if no worker has taken it by then), each with
    /// its parallel loops run serially on its one core; returns when both have finished. With one thread, or inside a
    /// loop, mine then other on the caller. <paramref name="other"/> may run on another thread: it must not touch what
    /// <paramref name="mine"/> writes, and what it creates must end with it (a <see cref="TensorScope"/> of its own,
    /// scalars copied out); an exception in either surfaces as itself (mine's first).
    /// </summary>
    public static void Beside(int threads, Action mine, Action other)
    {
        if (threads <= 1 || t_inside || !Monitor.TryEnter(s_gate))
        {
            mine();
            other();
            return;
        }
        try
        {
            EnsureWorkers(1);
            s_other = other;
            Publish(s_runOther, 1);
            Exception? mineError = null;
            t_inside = true;
            try { mine(); }
            catch (Exception e) { mineError = e; }
            finally { t_inside = false; }
            Work();
            Join(1);
            s_other = null;
            if ((mineError ?? s_error) is { } e2) System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(e2);
        }
        finally { Monitor.Exit(s_gate); }
    }

    /// <summary>Makes <paramref name="body"/> over <paramref name="count"/> items the current loop (a new generation) and wakes sleeping workers for it.</summary>
    private static void Publish(Action<int> body, int count)
    {
        s_body = body;
        s_error = null;
        Volatile.Write(ref s_done, 0);
        long generation = (Interlocked.Read(ref s_ticket) >> 40) + 1;
        Interlocked.Exchange(ref s_ticket, (generation << 40) | ((long)count << IndexBits));
        int sleepers = Volatile.Read(ref s_sleepers);
        if (sleepers > 0) s_wake.Release(Math.Min(Math.Min(sleepers, s_threads.Length), count));
    }

    /// <summary>Waits until all <paramref name="count"/> items of the current loop are done, then retires it.</summary>
    private static void Join(int count)
    {
        var spin = new SpinWait();
        while (Volatile.Read(ref s_done) < count) spin.SpinOnce(sleep1Threshold: -1);
        s_body = null;
    }

    private static void Serial(int count, Action<int> body)
    {
        bool prev = t_inside;
        t_inside = true;
        try { for (int i = 0; i < count; i++) body(i); }
        finally { t_inside = prev; }
    }

    /// <summary>Claims and runs items of the current loop until none is left; false when there was nothing to claim.</summary>
    private static bool Work()
    {
        bool any = false;
        while (true)
        {
            long t = Interlocked.Read(ref s_ticket);
            long next = t & IndexMask, count = (t >> IndexBits) & IndexMask;
            if (next >= count) return any;
            if (Interlocked.CompareExchange(ref s_ticket, t + 1, t) != t) continue;
            any = true;
            // The loop's body cannot change before this item is counted done, so it is this generation's.
            var body = Volatile.Read(ref s_body)!;
            t_inside = true;
            try { body((int)next); }
            catch (Exception e) { Interlocked.CompareExchange(ref s_error, e, null); }
            finally { t_inside = false; }
            Interlocked.Increment(ref s_done);
        }
    }

    private static void EnsureWorkers(int n)
    {
        if (s_threads.Length >= n) return;
        var threads = new Thread[n];
        Array.Copy(s_threads, threads, s_threads.Length);
        for (int i = s_threads.Length; i < n; i++)
        {
            threads[i] = new Thread(WorkerLoop) { IsBackground = true, Name = $"OffRL worker {i + 1}" };
            threads[i].Start();
        }
        s_threads = threads;
    }

    private static void WorkerLoop()
    {
        long idleTicks = Stopwatch.Frequency * IdleSpinMicroseconds / 1_000_000;
        while (true)
        {
            long start = Stopwatch.GetTimestamp();
            while (Stopwatch.GetTimestamp() - start < idleTicks)
            {
                if (Work()) start = Stopwatch.GetTimestamp();
                else Thread.SpinWait(32);
            }
            // Idle: sleep until a loop starts. The ticket is read after announcing the sleep, so a loop published in
            // between is seen here or wakes the semaphore (a spare wake-up only costs one more look).
            Interlocked.Increment(ref s_sleepers);
            long t = Interlocked.Read(ref s_ticket);
            if ((t & IndexMask) >= ((t >> IndexBits) & IndexMask)) s_wake.Wait();
            Interlocked.Decrement(ref s_sleepers);
        }
    }
}
