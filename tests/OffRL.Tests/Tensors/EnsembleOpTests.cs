using OffRL.Algorithms;
using OffRL.Tensors;
using Xunit;

namespace OffRL.Tests.Tensors;

/// <summary>Reductions over an ensemble's member axis and the copies that feed members, against their definitions.</summary>
public class EnsembleOpTests
{
    // Members [3, 2, 1]: member values per row chosen so the order differs by row.
    private static Tensor Members() => Tensor.FromArray([4f, -1f, 1f, 5f, 2f, 3f], 3, 2, 1);

    [Fact]
    public void MinOverMembersPicksTheSmallestAndSendsTheGradientThere()
    {
        var q = Members();
        q.RequiresGrad = true;
        var m = q.Min(0);
        Assert.Equal(new Shape(2, 1), m.Shape);
        Assert.Equal([1f, -1f], m.Data);
        m.Sum().Backward();
        Assert.Equal([0f, 1f, 1f, 0f, 0f, 0f], q.Grad!);
    }

    [Theory]
    [InlineData(0f, new[] { 1f, -1f })]
    [InlineData(1f, new[] { 4f, 5f })]
    [InlineData(0.5f, new[] { 2f, 3f })]
    [InlineData(0.25f, new[] { 1.5f, 1f })]   // torch.quantile: position q (n - 1) = 0.5 between the 1st and 2nd smallest
    public void QuantileInterpolatesLinearlyAsTorch(float level, float[] expected)
    {
        var q = Members();
        var v = q.Quantile(level, 0);
        Assert.Equal(expected, v.Data);
    }

    [Fact]
    public void QuantileGradientSplitsBetweenTheTwoOrderStatistics()
    {
        var q = Members();
        q.RequiresGrad = true;
        q.Quantile(0.25f, 0).Sum().Backward();
        // row 0: values 4, 1, 2 -> 1 (member 1) and 2 (member 2) weighted 0.5 each; row 1: -1, 5, 3 -> -1 and 3
        Assert.Equal([0f, 0.5f, 0.5f, 0f, 0.5f, 0.5f], q.Grad!);
        var x = GradCheck.Input(new Rng(3), 5, 4, 3);
        GradCheck.Check(() => x.Quantile(0.3f, 0), 1e-4f, 2e-2, x);
        GradCheck.Check(() => x.Quantile(0.7f, 1, keepDim: true), 1e-4f, 2e-2, x);
    }

    [Theory]
    [InlineData(-0.1f)]
    [InlineData(1.5f)]
    [InlineData(float.NaN)]
    public void QuantileOutsideTheUnitIntervalIsRefused(float level)
    {
        var e = Assert.Throws<ArgumentException>(() => Members().Quantile(level, 0));
        Assert.Contains("quantile: q must be in [0, 1]", e.Message);
    }

    [Fact]
    public void StdIsTorchsUnbiasedStdWithGradients()
    {
        var v = Members().Std(0);
        // row 0: 4, 1, 2 (mean 7/3), row 1: -1, 5, 3 (mean 7/3)
        double S(params double[] xs) { double m = xs.Average(); return Math.Sqrt(xs.Sum(x => (x - m) * (x - m)) / (xs.Length - 1)); }
        Assert.Equal(S(4, 1, 2), v.Data[0], 5);
        Assert.Equal(S(-1, 5, 3), v.Data[1], 5);
        Assert.Equal(Math.Sqrt(new[] { 4.0, 1, 2 }.Sum(x => (x - 7.0 / 3) * (x - 7.0 / 3)) / 3), Members().Std(0, correction: 0).Data[0], 5);
        var x = GradCheck.Input(new Rng(4), 4, 3, 2);
        GradCheck.Check(() => x.Std(0), x);
    }

    [Fact]
    public void TileAndRepeatInterleaveCopyAsTorchAndSumTheirGradients()
    {
        var x = Tensor.FromArray([1f, 2f, 3f, 4f], 2, 2);
        Assert.Equal([1f, 2f, 3f, 4f, 1f, 2f, 3f, 4f, 1f, 2f, 3f, 4f], x.Tile(3).Data);                  // x.repeat(3, 1)
        Assert.Equal([1f, 2f, 1f, 2f, 3f, 4f, 3f, 4f], x.RepeatInterleave(2).Data);                       // repeat_interleave(2, 0)
        Assert.Equal([1f, 1f, 2f, 2f, 3f, 3f, 4f, 4f], x.RepeatInterleave(2, 1).Data);
        Assert.Equal([1f, 2f, 1f, 2f, 3f, 4f, 3f, 4f], x.Tile(2, 1).Data);
        var p = GradCheck.Input(new Rng(5), 3, 2, 2);
        GradCheck.Check(() => p.Tile(3, 1), p);
        GradCheck.Check(() => p.RepeatInterleave(2, 0), p);
        GradCheck.Check(() => p.RepeatInterleave(4, 2), p);
        Assert.Contains("at least 1", Assert.Throws<ArgumentException>(() => x.Tile(0)).Message);
    }

    [Fact]
    public void CriticLossSumsEachMembersMeanSquaredError()
    {
        var q = Tensor.FromArray([1f, 2f, 3f, 0f, 0f, 0f, 2f, 2f, 2f], 3, 3, 1);
        var y = Tensor.FromArray([1f, 1f, 1f], 3, 1);
        // member errors: (0 + 1 + 4) / 3, (1 + 1 + 1) / 3, (1 + 1 + 1) / 3
        Assert.Equal(5f / 3 + 1f + 1f, Networks.CriticLoss(q, y).Item(), 5);
        Assert.Equal([0f, 0f, 0f], Networks.MinQ(q).Data);
    }
}
