using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace OffRL.Tensors;

/// <summary>
/// Single-precision GEMM, row-major: C = alpha * op(A) * op(B) + beta * C, op(X) = X or X^T.
/// GotoBLAS structure: B packed into KC x NR panels, A into MC x KC blocks of MR-row panels,
/// a register-tiled FMA micro-kernel (12x32 with AVX-512, 6x16 with AVX2) over the packed data.
/// Large products are split over cores along the longer of M and N.
/// </summary>
public static unsafe class Gemm
{
    // Micro-tile: 12x32 with AVX-512 (24 zmm accumulators), 6x16 with AVX2 + FMA (12 ymm accumulators).
    // OFFRL_GEMM_AVX2=1 forces the AVX2 kernel on AVX-512 machines.
    private static bool s_wide = Avx512F.IsSupported && Environment.GetEnvironmentVariable("OFFRL_GEMM_AVX2") != "1";
    private const int MaxTile = 12 * 32;

    /// <summary>Use the AVX-512 12x32 micro-kernel (default where the CPU has AVX-512F); false selects AVX2 6x16.</summary>
    public static bool UseAvx512
    {
        get => s_wide;
        set => s_wide = value && Avx512F.IsSupported;
    }

    /// <summary>Which micro-kernel the engine uses on this machine.</summary>
    public static string Kernel => !UseAvx2 ? "scalar" : s_wide ? "avx512 12x32" : "avx2 6x16";
    private const int KC = 256, MC = 120;
    private const int NC = 2048;
    private const long ParallelMinMacs = 1L << 20;   // below ~1M multiply-adds one core is faster

    private static int s_threads = TryParseThreads(Environment.GetEnvironmentVariable(ThreadsVariable), out var n) ? n : Environment.ProcessorCount;

    /// <summary>The environment variable that sets <see cref="Threads"/> for a process.</summary>
    public const string ThreadsVariable = "OFFRL_THREADS";

    /// <summary>
    /// Number of threads the engine's parallel work uses (default: OFFRL_THREADS, else all cores; a value the
    /// variable holds that is not a whole number >= 1 is ignored here and refused by <see cref="ParseThreads"/>).
    /// More than the machine's cores is allowed; the work then runs on at most as many threads as there are cores.
    /// </summary>
    public static int Threads
    {
        get => s_threads;
        set => s_threads = value >= 1 ? value : throw new ArgumentOutOfRangeException(nameof(Threads), $"threads: expected a whole number >= 1, got {value}");
    }

    /// <summary>A thread count as the user wrote it (<paramref name="name"/>: where, e.g. OFFRL_THREADS): a whole number >= 1, else an error naming it.</summary>
    public static int ParseThreads(string name, string value) => TryParseThreads(value, out var n) ? n
        : throw new ArgumentException($"{name}: expected a whole number >= 1, got '{value}'");

    private static bool TryParseThreads(string? value, out int n) =>
        int.TryParse(value, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out n) && n >= 1;

    [ThreadStatic] private static float* t_packA;

    /// <summary>
    /// Two independent pieces of an update side by side on the engine's threads (<see cref="ForkJoin.Beside"/>: mine on
    /// this thread, other on a worker, each product inside on one core); one after the other with one thread.
    /// </summary>
    public static void Beside(Action mine, Action other) => ForkJoin.Beside(Math.Min(Threads, Environment.ProcessorCount), mine, other);

    /// <summary>Runs <paramref name="body"/>(i) for i in [0, count) across cores (<see cref="ForkJoin"/>), each product inside running on one core.</summary>
    public static void ParallelFor(int count, Action<int> body)
    {
        int threads = Math.Min(Threads, Environment.ProcessorCount);
        if (!Profiler.On)
        {
            ForkJoin.Run(count, threads, body);
            return;
        }
        // Profiled: the items this thread runs count as the part that started the loop; the rest is hand-off and waiting.
        var part = Profiler.Current;
        using var profile = Profiler.Enter(Profiler.Part.ThreadHandOff);
        ForkJoin.Run(count, threads, i =>
        {
            using var item = Profiler.Enter(part);
            body(i);
        });
    }
    [ThreadStatic] private static float* t_packB;

    private static bool UseAvx2 => Fma.IsSupported && Avx2.IsSupported;

    public static void Sgemm(bool transA, bool transB, int m, int n, int k, float alpha,
        ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb, float beta, Span<float> c, int ldc)
    {
        if (m == 0 || n == 0) return;
        CheckOperands(transA, transB, m, n, k, a.Length, lda, b.Length, ldb, c.Length, ldc);
        fixed (float* pa = a)
        fixed (float* pb = b)
        fixed (float* pc = c)
            Sgemm(transA, transB, m, n, k, alpha, pa, lda, pb, ldb, beta, pc, ldc);
    }

    /// <summary>
    /// C = act(op(A) op(B) + bias), bias one value per column of C (empty for none): a linear layer's forward with the
    /// bias added and ReLU applied to each output tile as it is stored (other activations in one pass after).
    /// </summary>
    public static void SgemmBiasAct(bool transA, bool transB, int m, int n, int k, ReadOnlySpan<float> a, int lda,
        ReadOnlySpan<float> b, int ldb, ReadOnlySpan<float> bias, Span<float> c, int ldc, Activation act)
    {
        if (m == 0 || n == 0) return;
        if (!bias.IsEmpty && bias.Length < n) throw new ArgumentException($"gemm: bias has {bias.Length} values for {n} columns");
        CheckOperands(transA, transB, m, n, k, a.Length, lda, b.Length, ldb, c.Length, ldc);
        fixed (float* pa = a)
        fixed (float* pb = b)
        fixed (float* pc = c)
        fixed (float* pbias = bias)
        {
            var epilogue = new Epilogue(bias.IsEmpty ? null : pbias, act);
            if (!Profiler.On)
            {
                SgemmCore(transA, transB, m, n, k, 1f, pa, lda, pb, ldb, 0f, pc, ldc, epilogue);
                return;
            }
            using var profile = Profiler.Enter(Profiler.Part.Gemm);
            long t0 = System.Diagnostics.Stopwatch.GetTimestamp();
            SgemmCore(transA, transB, m, n, k, 1f, pa, lda, pb, ldb, 0f, pc, ldc, epilogue);
            Profiler.Product(transA, transB, m, n, k, System.Diagnostics.Stopwatch.GetTimestamp() - t0);
        }
    }

    /// <summary>What is done to C after the product: add a per-column bias, then an activation (ReLU inside the tile loop).</summary>
    private readonly struct Epilogue(float* bias, Activation act)
    {
        public readonly float* Bias = bias;
        public readonly Activation Act = act;
        public bool Any => Bias != null || Act != Activation.None;
        /// <summary>Work the tile loop does as it stores (bias, ReLU); the rest is <see cref="After"/>'s.</summary>
        public bool InTile => Bias != null || Act == Activation.Relu;
        public Epilogue Shifted(int columns) => new(Bias == null ? null : Bias + columns, Act);

        /// <summary>The whole epilogue over C in one pass, for products that do not go through the tile loop.</summary>
        public void All(int m, int n, float* c, int ldc)
        {
            if (!Any) return;
            for (int i = 0; i < m; i++)
            {
                var row = new Span<float>(c + (long)i * ldc, n);
                if (Bias != null) System.Numerics.Tensors.TensorPrimitives.Add(row, new ReadOnlySpan<float>(Bias, n), row);
                ActivationInPlace(row, Act);
            }
        }

        /// <summary>The activations the tile loop does not apply, in one pass over C.</summary>
        public void After(int m, int n, float* c, int ldc)
        {
            if (Act is Activation.None or Activation.Relu) return;
            for (int i = 0; i < m; i++) ActivationInPlace(new Span<float>(c + (long)i * ldc, n), Act);
        }
    }

    /// <summary>The fused activations of a linear layer, in place (the derivative of each comes from its output).</summary>
    internal static void ActivationInPlace(Span<float> v, Activation act)
    {
        switch (act)
        {
            case Activation.None: break;
            case Activation.Relu: System.Numerics.Tensors.TensorPrimitives.Max(v, 0f, v); break;
            case Activation.Tanh: System.Numerics.Tensors.TensorPrimitives.Tanh(v, v); break;
            case Activation.Sigmoid: System.Numerics.Tensors.TensorPrimitives.Sigmoid(v, v); break;
            case Activation.LeakyRelu: for (int i = 0; i < v.Length; i++) if (v[i] < 0) v[i] *= 0.01f; break;
            case Activation.Elu: for (int i = 0; i < v.Length; i++) if (v[i] < 0) v[i] = MathF.Exp(v[i]) - 1f; break;
            default: throw new ArgumentException($"gemm: activation {act} is not fused");
        }
    }

    private static void CheckOperands(bool transA, bool transB, int m, int n, int k, int aLength, int lda, int bLength, int ldb, int cLength, int ldc)
    {
        // Bounds: the last element each operand touches must be inside its span.
        long needA = transA ? (long)(k - 1) * lda + m : (long)(m - 1) * lda + k;
        long needB = transB ? (long)(n - 1) * ldb + k : (long)(k - 1) * ldb + n;
        long needC = (long)(m - 1) * ldc + n;
        if (k > 0 && (aLength < needA || bLength < needB))
            throw new ArgumentException($"gemm: operand too small for m={m} n={n} k={k} (a {aLength} < {needA} or b {bLength} < {needB})");
        if (cLength < needC) throw new ArgumentException($"gemm: output too small ({cLength} < {needC})");
    }

    private static long s_flops;

    /// <summary>
    /// Floating-point operations of every matrix product since the process started, counted by the engine as
    /// 2 m n k per product (the multiply-adds, which are the bulk of a network's work; elementwise work is not counted).
    /// Benchmarks read it before and after a timed region to report FLOPs per update.
    /// </summary>
    public static long Flops => Interlocked.Read(ref s_flops);

    public static void Sgemm(bool transA, bool transB, int m, int n, int k, float alpha,
        float* a, int lda, float* b, int ldb, float beta, float* c, int ldc)
    {
        if (m == 0 || n == 0) return;
        if (!Profiler.On)
        {
            SgemmCore(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, default);
            return;
        }
        using var profile = Profiler.Enter(Profiler.Part.Gemm);
        long t0 = System.Diagnostics.Stopwatch.GetTimestamp();
        SgemmCore(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, default);
        Profiler.Product(transA, transB, m, n, k, System.Diagnostics.Stopwatch.GetTimestamp() - t0);
    }

    private static void SgemmCore(bool transA, bool transB, int m, int n, int k, float alpha,
        float* a, int lda, float* b, int ldb, float beta, float* c, int ldc, Epilogue epilogue)
    {
        long macs = (long)m * n * k;
        bool rank1 = k == 1 && (!transB || ldb == 1);
        bool blocked = k > 0 && alpha != 0f && UseAvx2 && macs > 4096 && !rank1 && n != 1 && m != 1 && (macs > SmallMaxMacs || (transA && transB));
        if (!blocked)
        {
            ScaleC(m, n, beta, c, ldc);
            if (k > 0 && alpha != 0f) Unblocked(transA, transB, m, n, k, alpha, a, lda, b, ldb, c, ldc);
            epilogue.All(m, n, c, ldc);
            return;
        }
        Interlocked.Add(ref s_flops, 2 * macs);
        // beta = 0: the first k-block stores its tiles instead of adding to C, so C is neither cleared nor read.
        bool store = beta == 0f;
        if (!store) ScaleC(m, n, beta, c, ldc);
        int threads = Math.Min(Threads, Environment.ProcessorCount);
        // Split the longer output side into per-thread chunks aligned to the micro-tile.
        bool splitN = n >= m;
        int len = splitN ? n : m, align = splitN ? 32 : 12;
        int chunks = threads <= 1 || macs < ParallelMinMacs || ForkJoin.Inside ? 1 : Math.Min(threads, Math.Max(1, len / (align * 2)));
        if (chunks <= 1) Blocked(transA, transB, m, n, k, alpha, a, lda, b, ldb, c, ldc, store, epilogue);
        else
        {
            int per = (len + chunks - 1) / chunks;
            per = (per + align - 1) / align * align;
            var job = new Job(transA, transB, m, n, k, alpha, a, lda, b, ldb, c, ldc, splitN, per, store, epilogue);
            ForkJoin.Run(chunks, threads, job.Run);
        }
        epilogue.After(m, n, c, ldc);
    }

    /// <summary>Products too small or too thin for packing (accumulated into C, which the caller has scaled).</summary>
    private static void Unblocked(bool transA, bool transB, int m, int n, int k, float alpha,
        float* a, int lda, float* b, int ldb, float* c, int ldc)
    {
        long macs = (long)m * n * k;
        Interlocked.Add(ref s_flops, 2 * macs);
        if (k == 1 && (!transB || ldb == 1))
        {   // an outer product (a layer with one output, back-propagated): one row update per row of C
            Rank1(transA, m, n, alpha, a, lda, b, c, ldc);
            return;
        }
        if (macs <= 4096 || !UseAvx2)
        {
            Naive(transA, transB, m, n, k, alpha, a, lda, b, ldb, c, ldc);
            return;
        }
        if (n == 1 || m == 1)
        {
            Gemv(transA, transB, m, n, k, alpha, a, lda, b, ldb, c, ldc);
            return;
        }
        Small(transA, transB, m, n, k, alpha, a, lda, b, ldb, c, ldc);
    }

    private sealed class Job(bool ta, bool tb, int m, int n, int k, float alpha, float* a, int lda, float* b, int ldb, float* c, int ldc, bool splitN, int per,
        bool store, Epilogue epilogue)
    {
        public void Run(int t)
        {
            int start = t * per;
            if (splitN)
            {
                int len = Math.Min(per, n - start);
                if (len <= 0) return;
                float* bs = tb ? b + (long)start * ldb : b + start;
                Blocked(ta, tb, m, len, k, alpha, a, lda, bs, ldb, c + start, ldc, store, epilogue.Shifted(start));
            }
            else
            {
                int len = Math.Min(per, m - start);
                if (len <= 0) return;
                float* as_ = ta ? a + start : a + (long)start * lda;
                Blocked(ta, tb, len, n, k, alpha, as_, lda, b, ldb, c + (long)start * ldc, ldc, store, epilogue);
            }
        }
    }

    private static void ScaleC(int m, int n, float beta, float* c, int ldc)
    {
        if (beta == 1f) return;
        for (int i = 0; i < m; i++)
        {
            var row = new Span<float>(c + (long)i * ldc, n);
            if (beta == 0f) row.Clear();
            else System.Numerics.Tensors.TensorPrimitives.Multiply(row, beta, row);
        }
    }

    /// <summary>C += alpha op(A) op(B) with k = 1: op(A) is a column (a[i] or a[i lda]), op(B) one contiguous row b[0..n).</summary>
    private static void Rank1(bool ta, int m, int n, float alpha, float* a, int lda, float* b, float* c, int ldc)
    {
        var brow = new ReadOnlySpan<float>(b, n);
        for (int i = 0; i < m; i++)
        {
            float ai = alpha * (ta ? a[i] : a[(long)i * lda]);
            if (ai == 0f) continue;
            var crow = new Span<float>(c + (long)i * ldc, n);
            System.Numerics.Tensors.TensorPrimitives.MultiplyAdd(brow, ai, crow, crow);
        }
    }

    /// <summary>
    /// dst[p R + r] = alpha src[r ld + p] for r &lt; rows, 0 for rows &lt;= r &lt; R, p &lt; kc: R rows of a row-major
    /// matrix, read along their length and written interleaved (the packed layout of a transposed operand).
    /// Four rows at a time by 4 x 8 register transposes.
    /// </summary>
    private static void PackTransposed(float* src, long ld, int rows, int R, int kc, float alpha, float* dst)
    {
        int r = 0;
        if (Avx.IsSupported)
        {
            var va = Vector256.Create(alpha);
            for (; r + 4 <= rows; r += 4)
            {
                float* s0 = src + r * ld, s1 = s0 + ld, s2 = s1 + ld, s3 = s2 + ld;
                float* d = dst + r;
                int p = 0;
                for (; p + 8 <= kc; p += 8)
                {
                    var x0 = Avx.LoadVector256(s0 + p); var x1 = Avx.LoadVector256(s1 + p);
                    var x2 = Avx.LoadVector256(s2 + p); var x3 = Avx.LoadVector256(s3 + p);
                    if (alpha != 1f) { x0 = Avx.Multiply(x0, va); x1 = Avx.Multiply(x1, va); x2 = Avx.Multiply(x2, va); x3 = Avx.Multiply(x3, va); }
                    var t0 = Avx.UnpackLow(x0, x1); var t1 = Avx.UnpackHigh(x0, x1);   // r0p0 r1p0 r0p1 r1p1 | r0p4 r1p4 r0p5 r1p5
                    var t2 = Avx.UnpackLow(x2, x3); var t3 = Avx.UnpackHigh(x2, x3);
                    var c0 = Avx.Shuffle(t0, t2, 0x44); var c1 = Avx.Shuffle(t0, t2, 0xEE);   // column p | p + 4
                    var c2 = Avx.Shuffle(t1, t3, 0x44); var c3 = Avx.Shuffle(t1, t3, 0xEE);
                    float* q = d + (long)p * R;
                    Sse.Store(q, c0.GetLower()); Sse.Store(q + R, c1.GetLower());
                    Sse.Store(q + 2 * R, c2.GetLower()); Sse.Store(q + 3 * R, c3.GetLower());
                    Sse.Store(q + 4 * R, c0.GetUpper()); Sse.Store(q + 5 * R, c1.GetUpper());
                    Sse.Store(q + 6 * R, c2.GetUpper()); Sse.Store(q + 7 * R, c3.GetUpper());
                }
                for (; p < kc; p++)
                {
                    float* q = d + (long)p * R;
                    q[0] = alpha * s0[p]; q[1] = alpha * s1[p]; q[2] = alpha * s2[p]; q[3] = alpha * s3[p];
                }
            }
        }
        for (; r < rows; r++)
        {
            float* s = src + r * ld;
            for (int p = 0; p < kc; p++) dst[(long)p * R + r] = alpha * s[p];
        }
        for (; r < R; r++)
            for (int p = 0; p < kc; p++) dst[(long)p * R + r] = 0f;
    }

    /// <summary>Reference triple loop (accumulates into C); used for tiny products and as the test oracle.</summary>
    internal static void Naive(bool ta, bool tb, int m, int n, int k, float alpha, float* a, int lda, float* b, int ldb, float* c, int ldc)
    {
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                float s = 0f;
                for (int p = 0; p < k; p++)
                {
                    float av = ta ? a[(long)p * lda + i] : a[(long)i * lda + p];
                    float bv = tb ? b[(long)j * ldb + p] : b[(long)p * ldb + j];
                    s += av * bv;
                }
                c[(long)i * ldc + j] += alpha * s;
            }
    }

    private const long SmallMaxMacs = 1L << 16;   // below this, packing costs more than it saves

    /// <summary>Unpacked SIMD path for small products: row-axpy when op(B) rows are contiguous, dot products when B is transposed.</summary>
    private static void Small(bool ta, bool tb, int m, int n, int k, float alpha, float* a, int lda, float* b, int ldb, float* c, int ldc)
    {
        if (!tb)
        {
            for (int i = 0; i < m; i++)
            {
                var crow = new Span<float>(c + (long)i * ldc, n);
                for (int p = 0; p < k; p++)
                {
                    float av = alpha * (ta ? a[(long)p * lda + i] : a[(long)i * lda + p]);
                    if (av != 0f) System.Numerics.Tensors.TensorPrimitives.MultiplyAdd(new ReadOnlySpan<float>(b + (long)p * ldb, n), av, crow, crow);
                }
            }
        }
        else
        {   // !ta: row i of A and row j of B are both contiguous in p
            for (int i = 0; i < m; i++)
            {
                var arow = new ReadOnlySpan<float>(a + (long)i * lda, k);
                float* crow = c + (long)i * ldc;
                for (int j = 0; j < n; j++)
                    crow[j] += alpha * System.Numerics.Tensors.TensorPrimitives.Dot(arow, new ReadOnlySpan<float>(b + (long)j * ldb, k));
            }
        }
    }

    private static void Gemv(bool ta, bool tb, int m, int n, int k, float alpha, float* a, int lda, float* b, int ldb, float* c, int ldc)
    {
        if (n == 1)
        {
            // c[i] += alpha * sum_p opA[i,p] * opB[p,0]
            if (!ta && (tb || ldb == 1))
            {   // row of A and column of op(B) both contiguous: dot products
                var bv = new ReadOnlySpan<float>(b, k);
                for (int i = 0; i < m; i++)
                    c[(long)i * ldc] += alpha * System.Numerics.Tensors.TensorPrimitives.Dot(new ReadOnlySpan<float>(a + (long)i * lda, k), bv);
            }
            else if (!ta)
            {
                for (int i = 0; i < m; i++)
                {
                    float* ar = a + (long)i * lda; float s = 0;
                    for (int p = 0; p < k; p++) s += ar[p] * b[(long)p * ldb];
                    c[(long)i * ldc] += alpha * s;
                }
            }
            else
            {   // A^T: axpy over rows of A (length m) when C is contiguous
                if (ldc == 1)
                {
                    var cs = new Span<float>(c, m);
                    for (int p = 0; p < k; p++)
                    {
                        float bp = alpha * (tb ? b[p] : b[(long)p * ldb]);
                        System.Numerics.Tensors.TensorPrimitives.MultiplyAdd(new ReadOnlySpan<float>(a + (long)p * lda, m), bp, cs, cs);
                    }
                }
                else Naive(ta, tb, m, n, k, alpha, a, lda, b, ldb, c, ldc);
            }
            return;
        }
        // m == 1: c[j] += alpha * sum_p opA[0,p] * opB[p,j]
        var crow = new Span<float>(c, n);
        if (!tb)
        {
            for (int p = 0; p < k; p++)
            {
                float ap = alpha * (ta ? a[(long)p * lda] : a[p]);
                System.Numerics.Tensors.TensorPrimitives.MultiplyAdd(new ReadOnlySpan<float>(b + (long)p * ldb, n), ap, crow, crow);
            }
        }
        else if (!ta)
        {
            var av = new ReadOnlySpan<float>(a, k);
            for (int j = 0; j < n; j++)
                crow[j] += alpha * System.Numerics.Tensors.TensorPrimitives.Dot(av, new ReadOnlySpan<float>(b + (long)j * ldb, k));
        }
        else Naive(ta, tb, m, n, k, alpha, a, lda, b, ldb, c, ldc);
    }

    private static void EnsureBuffers()
    {
        if (t_packA == null)
        {
            t_packA = (float*)NativeMemory.AlignedAlloc((nuint)(MC * KC * sizeof(float)), 64);
            t_packB = (float*)NativeMemory.AlignedAlloc((nuint)(KC * (NC + 32) * sizeof(float)), 64);
        }
    }

    private static void Blocked(bool ta, bool tb, int m, int n, int k, float alpha, float* a, int lda, float* b, int ldb, float* c, int ldc,
        bool store, Epilogue epilogue)
    {
        EnsureBuffers();
        // The 12x32 tile wastes work on narrow products (RL heads have 1-6 outputs): use it only where it fills.
        bool wide = s_wide && m >= 48 && n >= 96;
        int MR = wide ? 12 : 6, NR = wide ? 32 : 16;
        float* pA = t_packA, pB = t_packB;
        for (int jc = 0; jc < n; jc += NC)
        {
            int nc = Math.Min(NC, n - jc);
            for (int pc = 0; pc < k; pc += KC)
            {
                int kc = Math.Min(KC, k - pc);
                PackB(tb, b, ldb, pc, jc, kc, nc, pB, NR);
                for (int ic = 0; ic < m; ic += MC)
                {
                    int mc = Math.Min(MC, m - ic);
                    PackA(ta, a, lda, ic, pc, mc, kc, alpha, pA, MR);
                    // The first k-block may store (beta = 0); the last applies the bias and ReLU as each tile leaves the registers.
                    Macro(mc, nc, kc, pA, pB, c + (long)ic * ldc + jc, ldc, wide, store && pc == 0,
                        pc + kc >= k && epilogue.InTile ? epilogue.Shifted(jc) : default);
                }
            }
        }
    }

    /// <summary>Pack op(B)[pc:pc+kc, jc:jc+nc] as NR-wide column panels, k-major inside a panel, zero padded.</summary>
    private static void PackB(bool tb, float* b, int ldb, int pc, int jc, int kc, int nc, float* dst, int NR)
    {
        int full = nc / NR * NR;
        if (!tb && full > 0)
        {   // whole panels row by row: each row of B is read once, in order, and scattered over the panels
            for (int p = 0; p < kc; p++)
            {
                float* s = b + (long)(pc + p) * ldb + jc;
                float* d = dst + (long)p * NR;
                for (int j0 = 0; j0 < full; j0 += NR, d += (long)NR * kc)
                    for (int j = 0; j < NR; j += 8) Vector256.Store(Vector256.Load(s + j0 + j), d + j);
            }
            if (full == nc) return;
        }
        for (int j0 = !tb ? full : 0; j0 < nc; j0 += NR)
        {
            int nr = Math.Min(NR, nc - j0);
            float* d = dst + (long)j0 * kc;
            if (!tb)
            {
                float* src = b + (long)pc * ldb + jc + j0;
                if (nr == NR)
                {
                    for (int p = 0; p < kc; p++)
                    {
                        float* s = src + (long)p * ldb;
                        for (int j = 0; j < NR; j += 8) Vector256.Store(Vector256.Load(s + j), d + j);
                        d += NR;
                    }
                }
                else
                {
                    for (int p = 0; p < kc; p++)
                    {
                        float* s = src + (long)p * ldb;
                        int j = 0;
                        for (; j < nr; j++) d[j] = s[j];
                        for (; j < NR; j++) d[j] = 0f;
                        d += NR;
                    }
                }
            }
            else
            {
                // op(B)[p, j] = B[j, p]: row j of B is contiguous in p.
                PackTransposed(b + (long)(jc + j0) * ldb + pc, ldb, nr, NR, kc, 1f, d);
            }
        }
    }

    /// <summary>Pack alpha * op(A)[ic:ic+mc, pc:pc+kc] as MR-tall row panels, k-major inside a panel, zero padded.</summary>
    private static void PackA(bool ta, float* a, int lda, int ic, int pc, int mc, int kc, float alpha, float* dst, int MR)
    {
        int full = mc / MR * MR;
        if (ta && alpha == 1f && full > 0)
        {   // whole panels row by row: row p of A holds op(A)'s column p, read once, in order, and scattered over the panels
            for (int p = 0; p < kc; p++)
            {
                float* s = a + (long)(pc + p) * lda + ic;
                float* d = dst + (long)p * MR;
                for (int i0 = 0; i0 < full; i0 += MR, d += (long)MR * kc)
                {
                    int i = 0;
                    for (; i + 4 <= MR; i += 4) Vector128.Store(Vector128.Load(s + i0 + i), d + i);
                    for (; i < MR; i++) d[i] = s[i0 + i];
                }
            }
            if (full == mc) return;
        }
        for (int i0 = ta && alpha == 1f ? full : 0; i0 < mc; i0 += MR)
        {
            int mr = Math.Min(MR, mc - i0);
            float* d = dst + (long)i0 * kc;
            if (!ta) PackTransposed(a + (long)(ic + i0) * lda + pc, lda, mr, MR, kc, alpha, d);
            else
            {
                // op(A)[i, p] = A[p, i]: row p of A holds the MR values contiguously.
                if (mr == MR && alpha == 1f)
                    for (int p = 0; p < kc; p++)
                    {
                        float* s = a + (long)(pc + p) * lda + ic + i0;
                        int i = 0;
                        for (; i + 4 <= MR; i += 4) Vector128.Store(Vector128.Load(s + i), d + i);
                        for (; i < MR; i++) d[i] = s[i];
                        d += MR;
                    }
                else
                    for (int p = 0; p < kc; p++)
                    {
                        float* s = a + (long)(pc + p) * lda + ic + i0;
                        int i = 0;
                        for (; i < mr; i++) d[i] = alpha * s[i];
                        for (; i < MR; i++) d[i] = 0f;
                        d += MR;
                    }
            }
        }
    }

    private static void Macro(int mc, int nc, int kc, float* pA, float* pB, float* c, int ldc, bool wide, bool store, Epilogue epilogue)
    {
        int MR = wide ? 12 : 6, NR = wide ? 32 : 16;
        float* tile = stackalloc float[MaxTile];
        bool relu = epilogue.Act == Activation.Relu, post = epilogue.InTile;
        for (int j0 = 0; j0 < nc; j0 += NR)
        {
            int nr = Math.Min(NR, nc - j0);
            float* bp = pB + (long)j0 * kc;
            float* bias = epilogue.Bias == null ? null : epilogue.Bias + j0;
            for (int i0 = 0; i0 < mc; i0 += MR)
            {
                int mr = Math.Min(MR, mc - i0);
                float* ap = pA + (long)i0 * kc;
                float* cij = c + (long)i0 * ldc + j0;
                if (mr == MR && nr == NR)
                {   // a whole tile: the bias and ReLU are applied in registers, after the sum is complete
                    var end = new TileEnd(store, post ? bias : null, post && relu);
                    if (wide) Kernel12x32(kc, ap, bp, cij, ldc, end);
                    else Kernel6x16(kc, ap, bp, cij, ldc, end);
                    continue;
                }
                if (wide) Kernel12x32(kc, ap, bp, tile, NR, new TileEnd(true, null, false));
                else Kernel6x16(kc, ap, bp, tile, NR, new TileEnd(true, null, false));
                for (int i = 0; i < mr; i++)
                    for (int j = 0; j < nr; j++)
                        cij[(long)i * ldc + j] = store ? tile[i * NR + j] : cij[(long)i * ldc + j] + tile[i * NR + j];
                if (post) TileEpilogue(cij, ldc, mr, nr, bias, relu);
            }
        }
    }

    /// <summary>Adds the bias and applies ReLU to an mr x nr tile of C just written (still in L1).</summary>
    private static void TileEpilogue(float* c, int ldc, int mr, int nr, float* bias, bool relu)
    {
        var zero = Vector256<float>.Zero;
        for (int i = 0; i < mr; i++, c += ldc)
        {
            int j = 0;
            for (; j + 8 <= nr; j += 8)
            {
                var v = Vector256.Load(c + j);
                if (bias != null) v += Vector256.Load(bias + j);
                if (relu) v = Vector256.Max(v, zero);
                v.Store(c + j);
            }
            for (; j < nr; j++)
            {
                float v = c[j] + (bias != null ? bias[j] : 0f);
                c[j] = relu ? MathF.Max(v, 0f) : v;
            }
        }
    }

    /// <summary>C[6x16] += Ap[6 x kc] * Bp[kc x 16] with 12 ymm accumulators.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Kernel6x16(int kc, float* a, float* b, float* c, int ldc, TileEnd end)
    {
        Vector256<float> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default;
        Vector256<float> c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default;
        for (int p = 0; p < kc; p++)
        {
            var b0 = Avx.LoadAlignedVector256(b);
            var b1 = Avx.LoadAlignedVector256(b + 8);
            var x = Avx.BroadcastScalarToVector256(a);
            c00 = Fma.MultiplyAdd(x, b0, c00); c01 = Fma.MultiplyAdd(x, b1, c01);
            x = Avx.BroadcastScalarToVector256(a + 1);
            c10 = Fma.MultiplyAdd(x, b0, c10); c11 = Fma.MultiplyAdd(x, b1, c11);
            x = Avx.BroadcastScalarToVector256(a + 2);
            c20 = Fma.MultiplyAdd(x, b0, c20); c21 = Fma.MultiplyAdd(x, b1, c21);
            x = Avx.BroadcastScalarToVector256(a + 3);
            c30 = Fma.MultiplyAdd(x, b0, c30); c31 = Fma.MultiplyAdd(x, b1, c31);
            x = Avx.BroadcastScalarToVector256(a + 4);
            c40 = Fma.MultiplyAdd(x, b0, c40); c41 = Fma.MultiplyAdd(x, b1, c41);
            x = Avx.BroadcastScalarToVector256(a + 5);
            c50 = Fma.MultiplyAdd(x, b0, c50); c51 = Fma.MultiplyAdd(x, b1, c51);
            a += 6; b += 16;
        }
        Acc(c, c00, c01, end); c += ldc;
        Acc(c, c10, c11, end); c += ldc;
        Acc(c, c20, c21, end); c += ldc;
        Acc(c, c30, c31, end); c += ldc;
        Acc(c, c40, c41, end); c += ldc;
        Acc(c, c50, c51, end);
    }

    /// <summary>C[12x32] += Ap[12 x kc] * Bp[kc x 32] with 24 zmm accumulators.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Kernel12x32(int kc, float* a, float* b, float* c, int ldc, TileEnd end)
    {
        Vector512<float> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default;
        Vector512<float> c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default;
        Vector512<float> c60 = default, c61 = default, c70 = default, c71 = default, c80 = default, c81 = default;
        Vector512<float> c90 = default, c91 = default, ca0 = default, ca1 = default, cb0 = default, cb1 = default;
        for (int p = 0; p < kc; p++)
        {
            var b0 = Avx512F.LoadAlignedVector512(b);
            var b1 = Avx512F.LoadAlignedVector512(b + 16);
            var x = Vector512.Create(a[0]);
            c00 = Avx512F.FusedMultiplyAdd(x, b0, c00); c01 = Avx512F.FusedMultiplyAdd(x, b1, c01);
            x = Vector512.Create(a[1]);
            c10 = Avx512F.FusedMultiplyAdd(x, b0, c10); c11 = Avx512F.FusedMultiplyAdd(x, b1, c11);
            x = Vector512.Create(a[2]);
            c20 = Avx512F.FusedMultiplyAdd(x, b0, c20); c21 = Avx512F.FusedMultiplyAdd(x, b1, c21);
            x = Vector512.Create(a[3]);
            c30 = Avx512F.FusedMultiplyAdd(x, b0, c30); c31 = Avx512F.FusedMultiplyAdd(x, b1, c31);
            x = Vector512.Create(a[4]);
            c40 = Avx512F.FusedMultiplyAdd(x, b0, c40); c41 = Avx512F.FusedMultiplyAdd(x, b1, c41);
            x = Vector512.Create(a[5]);
            c50 = Avx512F.FusedMultiplyAdd(x, b0, c50); c51 = Avx512F.FusedMultiplyAdd(x, b1, c51);
            x = Vector512.Create(a[6]);
            c60 = Avx512F.FusedMultiplyAdd(x, b0, c60); c61 = Avx512F.FusedMultiplyAdd(x, b1, c61);
            x = Vector512.Create(a[7]);
            c70 = Avx512F.FusedMultiplyAdd(x, b0, c70); c71 = Avx512F.FusedMultiplyAdd(x, b1, c71);
            x = Vector512.Create(a[8]);
            c80 = Avx512F.FusedMultiplyAdd(x, b0, c80); c81 = Avx512F.FusedMultiplyAdd(x, b1, c81);
            x = Vector512.Create(a[9]);
            c90 = Avx512F.FusedMultiplyAdd(x, b0, c90); c91 = Avx512F.FusedMultiplyAdd(x, b1, c91);
            x = Vector512.Create(a[10]);
            ca0 = Avx512F.FusedMultiplyAdd(x, b0, ca0); ca1 = Avx512F.FusedMultiplyAdd(x, b1, ca1);
            x = Vector512.Create(a[11]);
            cb0 = Avx512F.FusedMultiplyAdd(x, b0, cb0); cb1 = Avx512F.FusedMultiplyAdd(x, b1, cb1);
            a += 12; b += 32;
        }
        Acc(c, c00, c01, end); c += ldc; Acc(c, c10, c11, end); c += ldc; Acc(c, c20, c21, end); c += ldc;
        Acc(c, c30, c31, end); c += ldc; Acc(c, c40, c41, end); c += ldc; Acc(c, c50, c51, end); c += ldc;
        Acc(c, c60, c61, end); c += ldc; Acc(c, c70, c71, end); c += ldc; Acc(c, c80, c81, end); c += ldc;
        Acc(c, c90, c91, end); c += ldc; Acc(c, ca0, ca1, end); c += ldc; Acc(c, cb0, cb1, end);
    }

    /// <summary>How a micro-kernel leaves a row of its tile: stored or added to C, then (last k-block) bias and ReLU.</summary>
    private readonly struct TileEnd(bool store, float* bias, bool relu)
    {
        public readonly bool Store = store, Relu = relu;
        public readonly float* Bias = bias;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Acc(float* c, Vector512<float> v0, Vector512<float> v1, TileEnd end)
    {
        if (!end.Store) { v0 = Avx512F.Add(Avx512F.LoadVector512(c), v0); v1 = Avx512F.Add(Avx512F.LoadVector512(c + 16), v1); }
        if (end.Bias != null) { v0 = Avx512F.Add(v0, Avx512F.LoadVector512(end.Bias)); v1 = Avx512F.Add(v1, Avx512F.LoadVector512(end.Bias + 16)); }
        if (end.Relu) { v0 = Avx512F.Max(v0, Vector512<float>.Zero); v1 = Avx512F.Max(v1, Vector512<float>.Zero); }
        Avx512F.Store(c, v0);
        Avx512F.Store(c + 16, v1);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Acc(float* c, Vector256<float> v0, Vector256<float> v1, TileEnd end)
    {
        if (!end.Store) { v0 = Avx.Add(Avx.LoadVector256(c), v0); v1 = Avx.Add(Avx.LoadVector256(c + 8), v1); }
        if (end.Bias != null) { v0 = Avx.Add(v0, Avx.LoadVector256(end.Bias)); v1 = Avx.Add(v1, Avx.LoadVector256(end.Bias + 8)); }
        if (end.Relu) { v0 = Avx.Max(v0, Vector256<float>.Zero); v1 = Avx.Max(v1, Vector256<float>.Zero); }
        Avx.Store(c, v0);
        Avx.Store(c + 8, v1);
    }
}
