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
        var expect = (float[])c.Clone();
        float alpha = 0.75f, beta = -0.5f;
        for (int i = 0; i < expect.Length; i++) expect[i] *= beta;
        fixed (float* pa = a) fixed (float* pb = b) fixed (float* pe = expect)
            Gemm.Naive(ta, tb, m, n, k, alpha, pa, lda, pb, ldb, pe, ldc);
        bool defaultKernel = Gemm.UseAvx512;
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
        Gemm.Threads = Environment.ProcessorCount;
        Gemm.UseAvx512 = defaultKernel;
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
