using OffRL.Tensors;
using Xunit;

namespace OffRL.Tests.Tensors;

public class GemmTests
{
    public static IEnumerable<object[]> Cases()
    {
        int[][] shapes = [[1, 1, 1], [3, 5, 7], [257, 129, 65], [6, 16, 1], [1, 40, 33], [40, 1, 33], [7, 300, 3], [130, 70, 600]];
        foreach (var s in shapes)
            foreach (bool ta in new[] { false, true })
                foreach (bool tb in new[] { false, true })
                    yield return [s[0], s[1], s[2], ta, tb];
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public unsafe void MatchesNaiveLoop(int m, int n, int k, bool ta, bool tb)
    {
        var rng = new Rng(m * 1000 + n * 10 + k);
        // Leading dimensions larger than needed, to exercise strides.
        int lda = (ta ? m : k) + 3, ldb = (tb ? k : n) + 2, ldc = n + 1;
        var a = new float[(ta ? k : m) * lda];
        var b = new float[(tb ? n : k) * ldb];
        rng.FillNormal(a); rng.FillNormal(b);
        var c = new float[m * ldc];
        rng.FillNormal(c);
        float alpha = 0.75f;
        bool defaultKernel = Gemm.UseAvx512;
        int savedThreads = Gemm.Threads;
        foreach (float beta in new[] { -0.5f, 0f })
        {
        var expect = (float[])c.Clone();
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++) expect[i * ldc + j] *= beta;
        fixed (float* pa = a) fixed (float* pb = b) fixed (float* pe = expect)
            Gemm.Naive(ta, tb, m, n, k, alpha, pa, lda, pb, ldb, pe, ldc);
        foreach (bool wide in new[] { false, true })
        foreach (int threads in new[] { 1, 2 })
        {
            Gemm.UseAvx512 = wide;   // no-op on machines without AVX-512
            Gemm.Threads = threads;
            var got = (float[])c.Clone();
            Gemm.Sgemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, got, ldc);
            for (int i = 0; i < m; i++)
                for (int j = 0; j < n; j++)
                {
                    float e = expect[i * ldc + j], g = got[i * ldc + j];
                    Assert.True(MathF.Abs(e - g) <= 1e-4f * (1 + MathF.Abs(e)) * MathF.Sqrt(k), $"C[{i},{j}] = {g}, expected {e} (threads {threads}, kernel {Gemm.Kernel})");
                }
            // padding columns untouched
            for (int i = 0; i < m; i++) Assert.Equal(c[i * ldc + n], got[i * ldc + n]);
        }
        }
        Gemm.Threads = savedThreads;
        Gemm.UseAvx512 = defaultKernel;
    }

    [Theory]
    [InlineData(256, 256, 256, false, true, Activation.Relu)]
    [InlineData(257, 130, 300, false, false, Activation.Relu)]
    [InlineData(40, 200, 300, true, false, Activation.Relu)]
    [InlineData(130, 64, 40, true, true, Activation.None)]
    [InlineData(100, 70, 23, false, true, Activation.Tanh)]
    [InlineData(7, 300, 3, false, false, Activation.None)]
    [InlineData(64, 1, 256, false, true, Activation.Sigmoid)]
    [InlineData(300, 64, 1, false, false, Activation.LeakyRelu)]
    public void BiasAndActivationAppliedAsStored(int m, int n, int k, bool ta, bool tb, Activation act)
    {
        var rng = new Rng(m + n + k);
        var a = new float[m * k]; var b = new float[k * n]; var bias = new float[n];
        rng.FillNormal(a); rng.FillNormal(b); rng.FillNormal(bias);
        var expect = new float[m * n];
        Gemm.Sgemm(ta, tb, m, n, k, 1f, a, ta ? m : k, b, tb ? k : n, 0f, expect, n);
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                float v = expect[i * n + j] + bias[j];
                expect[i * n + j] = act switch
                {
                    Activation.Relu => MathF.Max(v, 0f), Activation.Tanh => MathF.Tanh(v), Activation.Sigmoid => 1f / (1f + MathF.Exp(-v)),
                    Activation.LeakyRelu => v < 0 ? 0.01f * v : v, _ => v,
                };
            }
        int savedThreads = Gemm.Threads;
        foreach (int threads in new[] { 1, 2 })
        {
            Gemm.Threads = threads;
            var got = new float[m * n];
            Array.Fill(got, float.NaN);   // never read: beta is 0
            Gemm.SgemmBiasAct(ta, tb, m, n, k, a, ta ? m : k, b, tb ? k : n, bias, got, n, act);
            for (int i = 0; i < got.Length; i++)
                Assert.True(MathF.Abs(expect[i] - got[i]) <= 1e-5f * (1 + MathF.Abs(expect[i])), $"C[{i / n},{i % n}] = {got[i]}, expected {expect[i]} (threads {threads})");
        }
        Gemm.Threads = savedThreads;
    }

    [Fact]
    public void ForkJoinRunsEveryItemOnceAndReportsFailures()
    {
        for (int round = 0; round < 200; round++)
        {
            var hits = new int[1 + round % 7];
            ForkJoin.Run(hits.Length, 2, i => Interlocked.Increment(ref hits[i]));
            Assert.All(hits, h => Assert.Equal(1, h));
        }
        var nested = new int[4];
        ForkJoin.Run(2, 2, i => ForkJoin.Run(2, 2, j => Interlocked.Increment(ref nested[2 * i + j])));
        Assert.All(nested, h => Assert.Equal(1, h));
        // Parallel or serial (another test's loop may hold the workers), the item's exception surfaces as itself.
        var ex = Assert.Throws<InvalidOperationException>(() => ForkJoin.Run(4, 2, i => { if (i == 2) throw new InvalidOperationException("item 2"); }));
        Assert.Contains("item 2", ex.Message);
        Thread.Sleep(5);   // workers asleep: the next loop wakes them
        var late = new int[3];
        ForkJoin.Run(3, 2, i => Interlocked.Increment(ref late[i]));
        Assert.All(late, h => Assert.Equal(1, h));
    }

    [Fact]
    public void BesideRunsBothPartsOnceAndReportsFailures()
    {
        for (int round = 0; round < 200; round++)
        {
            int mine = 0, other = 0;
            var loop = new int[3];
            ForkJoin.Beside(2, () => mine++, () =>
            {
                other++;
                ForkJoin.Run(loop.Length, 2, i => Interlocked.Increment(ref loop[i]));   // nested: serial, each item once
            });
            Assert.Equal((1, 1), (mine, other));
            Assert.All(loop, h => Assert.Equal(1, h));
        }
        int ran = 0;
        ForkJoin.Beside(1, () => Assert.Equal(0, ran++), () => Assert.Equal(1, ran++));   // one thread: mine, then other
        var ex = Assert.Throws<InvalidOperationException>(() => ForkJoin.Beside(2, () => { }, () => throw new InvalidOperationException("other failed")));
        Assert.Contains("other failed", ex.Message);
        ex = Assert.Throws<InvalidOperationException>(() => ForkJoin.Beside(2, () => throw new InvalidOperationException("mine failed"), () => throw new InvalidOperationException("other failed")));
        Assert.Contains("mine failed", ex.Message);
    }

    [Fact]
    public void BetaZeroIgnoresNaNInOutput()
    {
        var a = new float[] { 1, 2, 3, 4 };
        var c = new float[] { float.NaN, float.NaN, float.NaN, float.NaN };
        Gemm.Sgemm(false, false, 2, 2, 2, 1f, a, 2, a, 2, 0f, c, 2);
        Assert.Equal(new float[] { 7, 10, 15, 22 }, c);
    }

    [Fact]
    public void TooSmallOperandIsRejected()
    {
        var ex = Assert.Throws<ArgumentException>(() => Gemm.Sgemm(false, false, 4, 4, 4, 1f, new float[8], 4, new float[16], 4, 0f, new float[16], 4));
        Assert.Contains("gemm", ex.Message);
    }
}
