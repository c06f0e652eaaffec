using OffRL.Tensors;
using Xunit;

namespace OffRL.Tests.Tensors;

public class RngTests
{
    [Fact]
    public void SameSeedSameNumbers()
    {
        var a = new Rng(42); var b = new Rng(42); var c = new Rng(43);
        for (int i = 0; i < 100; i++) Assert.Equal(a.NextULong(), b.NextULong());
        Assert.NotEqual(new Rng(42).NextULong(), c.NextULong());
    }

    [Fact]
    public void StateRestoreReplaysTheStream()
    {
        var r = new Rng(5);
        r.NextNormal();   // leaves a cached spare
        var s = r.GetState();
        var first = Enumerable.Range(0, 10).Select(_ => r.NextNormal()).ToArray();
        r.SetState(s);
        Assert.Equal(first, Enumerable.Range(0, 10).Select(_ => r.NextNormal()).ToArray());
    }

    [Fact]
    public void DistributionsHaveTheRightMoments()
    {
        var r = new Rng(1);
        int n = 200_000;
        double s = 0, s2 = 0, u = 0;
        for (int i = 0; i < n; i++) { double x = r.NextNormal(); s += x; s2 += x * x; u += r.NextFloat(); }
        Assert.InRange(s / n, -0.01, 0.01);
        Assert.InRange(s2 / n, 0.98, 1.02);
        Assert.InRange(u / n, 0.497, 0.503);
        var counts = new int[3];
        for (int i = 0; i < 60_000; i++) counts[r.Categorical([1f, 2f, 3f])]++;
        Assert.InRange(counts[0] / 60000.0, 1 / 6.0 - 0.01, 1 / 6.0 + 0.01);
        Assert.InRange(counts[2] / 60000.0, 0.5 - 0.01, 0.5 + 0.01);
        var ints = new int[7];
        for (int i = 0; i < 70_000; i++) ints[r.NextInt(7)]++;
        Assert.All(ints, c => Assert.InRange(c, 9_500, 10_500));
    }

    [Fact]
    public void PermutationIsAPermutation()
    {
        var p = new Rng(3).Permutation(1000);
        Assert.Equal(Enumerable.Range(0, 1000), p.OrderBy(x => x));
        Assert.NotEqual(Enumerable.Range(0, 1000), p);
    }

    [Fact]
    public void BadCategoricalWeightsAreRejected()
    {
        var r = new Rng(1);
        Assert.Throws<ArgumentException>(() => r.Categorical([0f, 0f]));
        Assert.Contains("weight 1", Assert.Throws<ArgumentException>(() => r.Categorical([1f, float.NaN])).Message);
    }

    [Fact]
    public void AStateNoGeneratorCanBeInIsRefusedAndLeavesTheGeneratorAsItWas()
    {
        var r = new Rng(9);
        var before = r.GetState();
        var zero = Assert.Throws<ArgumentException>(() => r.SetState(new RngState(0, 0, 0, 0, false, 0)));
        Assert.Contains("all four words are zero", zero.Message);
        var spare = Assert.Throws<ArgumentException>(() => r.SetState(new RngState(1, 2, 3, 4, true, double.NaN)));
        Assert.Contains("cached normal draw", spare.Message);
        Assert.Equal(before, r.GetState());
        Assert.Null(Rng.Problem(before));
        r.SetState(new RngState(0, 0, 0, 1, false, 0));   // one nonzero word is a valid state
        Assert.NotEqual(0UL, r.NextULong() | r.NextULong() | r.NextULong());
    }
}
