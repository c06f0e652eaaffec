using OffRL.Data;
using OffRL.Tensors;
using Xunit;

namespace OffRL.Tests.Data;

public class KdTreeTests
{
    /// <summary>The brute-force answer: smallest squared distance summed in dimension order, lowest index among equals.</summary>
    private static int BruteForce(float[] points, int count, int dim, ReadOnlySpan<float> q)
    {
        float best = float.PositiveInfinity;
        int bestIndex = -1;
        for (int i = 0; i < count; i++)
        {
            float s = 0f;
            for (int k = 0; k < dim; k++) { float diff = q[k] - points[i * dim + k]; s += diff * diff; }
            if (s < best) { best = s; bestIndex = i; }
        }
        return bestIndex;
    }

    [Theory]
    [InlineData(1, 1, 1)]
    [InlineData(1000, 1, 2)]
    [InlineData(5000, 3, 3)]
    [InlineData(20000, 14, 4)]   // PRDC's key on hopper: 11 state values (times beta) and 3 action values
    [InlineData(20000, 23, 5)]   // halfcheetah: 17 + 6
    public void AnswersAreTheBruteForceOnes(int count, int dim, ulong seed)
    {
        var rng = new Rng(seed);
        var points = new float[count * dim];
        rng.FillNormal(points);
        // duplicates, and points sharing values on some dimensions: ties in distance and on splitting planes
        for (int i = 0; i + 7 < count; i += 7) Array.Copy(points, i * dim, points, (i + 3) * dim, dim);
        for (int i = 0; i < points.Length; i += 5) points[i] = MathF.Round(points[i]);
        var tree = new KdTree(points, count, dim);
        const int queries = 300;
        var query = new float[queries * dim];
        rng.FillNormal(query);
        Array.Copy(points, 0, query, 0, Math.Min(dim * 10, Math.Min(query.Length, points.Length)));   // queries on data points
        var result = new int[queries];
        tree.Nearest(query, queries, result);
        for (int q = 0; q < queries; q++)
        {
            int expected = BruteForce(points, count, dim, query.AsSpan(q * dim, dim));
            Assert.Equal(expected, result[q]);
            Assert.Equal(expected, tree.Nearest(query.AsSpan(q * dim, dim)));
        }
        // queries away from the data (a policy's early actions): the cells' distances prune, the answers stay exact
        for (int i = 0; i < query.Length; i++) query[i] = 4f * query[i] + 2f;
        tree.Nearest(query, queries, result);
        for (int q = 0; q < queries; q++) Assert.Equal(BruteForce(points, count, dim, query.AsSpan(q * dim, dim)), result[q]);
    }

    [Fact]
    public void AllPointsEqualIsOneLeafAndTheLowestIndexWins()
    {
        var points = new float[100 * 2];
        Array.Fill(points, 1.5f);
        var tree = new KdTree(points, 100, 2);
        Assert.Equal(0, tree.Nearest([7f, -3f]));
    }

    [Fact]
    public void BadInputIsOneErrorNamingWhatIsWrong()
    {
        var e = Assert.Throws<OffRL.DataException>(() => new KdTree([0f, 1f, float.NaN, 2f], 2, 2));
        Assert.Contains("point 1, value 0", e.Message);
        Assert.Throws<ArgumentException>(() => new KdTree([0f, 1f, 2f], 2, 2));
        Assert.Throws<ArgumentOutOfRangeException>(() => new KdTree([], 0, 2));
        var tree = new KdTree([0f, 1f, 2f, 3f], 2, 2);
        Assert.Contains("has 2 values, got 3", Assert.Throws<ArgumentException>(() => tree.Nearest([0f, 1f, 2f])).Message);
        Assert.Throws<ArgumentException>(() => tree.Nearest(new float[4], 2, new int[1]));
    }
}
