using OffRL.Data;
using OffRL.Tensors;
using Xunit;

namespace OffRL.Tests.Data;

public class SamplerTests
{
    [Fact]
    public void UniformSamplerCoversSampleableRowsUniformlyAndIsSeeded()
    {
        var d = Fixtures.Small();
        var s = new UniformSampler(d, 64, new Rng(1), gamma: 0.9f);
        var counts = new int[d.Count];
        for (int k = 0; k < 500; k++)
        {
            var b = s.Sample();
            for (int i = 0; i < b.Size; i++) counts[b.Rows[i]]++;
        }
        Assert.Equal(0, counts[4]);   // timeout without next observation: never drawn
        double expected = 500 * 64 / 8.0;
        double chi2 = counts.Where((c, i) => i != 4).Sum(c => (c - expected) * (c - expected) / expected);
        Assert.True(chi2 < 24.3, $"chi-square {chi2} over 7 degrees of freedom (p = 0.001 bound 24.3)");
        // batch contents follow the rows
        var b2 = new UniformSampler(d, 8, new Rng(2), gamma: 0.9f).Sample();
        for (int i = 0; i < 8; i++)
        {
            int r = b2.Rows[i];
            Assert.Equal(r, b2.Obs[2 * i]);
            Assert.Equal(d.Rewards[r], b2.Rew[i]);
            Assert.Equal(d.Terminals[r] ? 0f : 0.9f, b2.Discount[i]);
            Assert.Equal(d.NextObservation(r)[0], b2.Next[2 * i]);
        }
        var again = new UniformSampler(d, 8, new Rng(2), gamma: 0.9f).Sample();
        Assert.Equal(b2.Rows, again.Rows);
    }

    [Fact]
    public void SamplingAllocatesNothing()
    {
        var d = Fixtures.Linear(20);
        var s = new UniformSampler(d, 256, new Rng(1));
        for (int i = 0; i < 10; i++) s.Sample();
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 100; i++) s.Sample();
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 1024);
    }

    [Fact]
    public void NStepReturnsAndDiscounts()
    {
        var d = Fixtures.Small();   // rewards 1,2,3 (terminal) | 0.5,0.5 (timeout) | 2,2,2,2 (terminal)
        var s = new NStepSampler(d, 3, 200, new Rng(1), gamma: 0.5f);
        var seen = new Dictionary<int, (float R, float Disc, float Next)>();
        var b = s.Sample();
        for (int i = 0; i < b.Size; i++) seen[b.Rows[i]] = (b.Rew[i], b.Discount[i], b.Next[2 * i]);
        Assert.Equal((1 + 0.5f * 2 + 0.25f * 3, 0f), (seen[0].R, seen[0].Disc));        // terminal inside the window
        Assert.Equal((2 + 0.5f * 3, 0f), (seen[1].R, seen[1].Disc));
        Assert.Equal((2 + 0.5f * 2 + 0.25f * 2, 0.125f, 8f), seen[5]);                 // full 3 steps: next is row 8
        Assert.Equal((2 + 0.5f * 2, 0f), (seen[7].R, seen[7].Disc));                   // terminal after 2 steps
        Assert.False(seen.ContainsKey(3));   // its window ends at the timeout without a next observation
        Assert.False(seen.ContainsKey(4));
    }

    [Fact]
    public void ReturnWeightingFavoursGoodTrajectoriesAsSpecified()
    {
        var d = Fixtures.Small(nextObs: true);   // returns 6, 1, 8 -> normalized 5/7, 0, 1
        var w = TrajectoryWeights.Compute(d, TrajectoryWeighting.Return, temperature: 0.5);
        // each transition weighs exp(v / alpha): a trajectory, its length times that
        double[] expect = [d.EpisodeLength(0) * Math.Exp(5.0 / 7 / 0.5), d.EpisodeLength(1) * 1, d.EpisodeLength(2) * Math.Exp(1 / 0.5)];
        double z = expect.Sum();
        for (int i = 0; i < 3; i++) Assert.Equal(expect[i] / z, w[i], 9);
        var s = new TrajectoryWeightedSampler(d, w, 1000, new Rng(3));
        var counts = new int[3];
        for (int k = 0; k < 20; k++) { var b = s.Sample(); for (int i = 0; i < b.Size; i++) counts[d.EpisodeOf(b.Rows[i])]++; }
        for (int i = 0; i < 3; i++) Assert.InRange(counts[i] / 20000.0, w[i] - 0.015, w[i] + 0.015);
        var uni = TrajectoryWeights.Compute(d, TrajectoryWeighting.Uniform);
        Assert.Equal(3.0 / 9, uni[0], 9);
        var adv = TrajectoryWeights.Compute(Fixtures.Linear(30), TrajectoryWeighting.Advantage);
        Assert.Equal(1.0, adv.Sum(), 9);
        Assert.All(adv, x => Assert.True(x > 0));
    }

    [Fact]
    public void AdvantageWeightingSubtractsTheLeastSquaresValueOfTheFirstState()
    {
        // Four 2-step episodes, first states x = 0, 1, 2, 3, returns G = 1, 1, 3, 7 (rewards G/2 twice).
        double[] x = [0, 1, 2, 3], g = [1, 1, 3, 7];
        var obs = new float[8]; var rew = new float[8]; var term = new bool[8];
        for (int e = 0; e < 4; e++) { obs[2 * e] = (float)x[e]; obs[2 * e + 1] = (float)x[e] + 0.5f; rew[2 * e] = rew[2 * e + 1] = (float)g[e] / 2; term[2 * e + 1] = true; }
        var d = new Dataset(new DatasetColumns { Observations = obs, Actions = new float[8], Rewards = rew, Terminals = term, Timeouts = new bool[8] },
            Box.Unbounded(1), Box.Uniform(1, -1, 1));
        // Simple linear regression by its closed form: slope = cov(x, G) / var(x) = 2, intercept = 3 - 2 * 1.5 = 0.
        double mx = x.Average(), mg = g.Average();
        double slope = x.Zip(g).Sum(p => (p.First - mx) * (p.Second - mg)) / x.Sum(v => (v - mx) * (v - mx)), intercept = mg - slope * mx;
        var a = x.Zip(g).Select(p => p.Second - (intercept + slope * p.First)).ToArray();   // 1, -1, -1, 1
        double lo = a.Min(), hi = a.Max();
        var expect = a.Select(v => 2 * Math.Exp(((v - lo) / (hi - lo)) / 0.1)).ToArray();
        double z = expect.Sum();
        var w = TrajectoryWeights.Compute(d, TrajectoryWeighting.Advantage, temperature: 0.1);
        for (int i = 0; i < 4; i++) Assert.Equal(expect[i] / z, w[i], 6);
        Assert.Equal(w[0], w[3], 6);   // the same advantage, the same weight, though their returns differ sevenfold
    }

    [Fact]
    public void TrajectoryWindowsArePaddedOnTheLeftWithReturnsToGo()
    {
        var d = Fixtures.Small();
        var s = new TrajectoryWindowSampler(d, 4, 300, new Rng(1));
        var b = s.Sample();
        var rtg = d.ReturnsToGo();
        bool sawPadding = false;
        for (int i = 0; i < b.Size; i++)
        {
            int last = i * 4 + 3;
            Assert.Equal(1f, b.Mask[last]);   // the window always ends on a real step
            int real = 0;
            for (int t = 0; t < 4; t++)
            {
                int slot = i * 4 + t;
                if (b.Mask[slot] == 0) { Assert.Equal(0f, b.States[slot * 2]); Assert.Equal(0, real); sawPadding = true; continue; }
                real++;
                int row = (int)b.States[slot * 2];   // observation of row r is (r, 10 r)
                Assert.Equal(rtg[row], b.ReturnsToGo[slot]);
                Assert.Equal(row - d.EpisodeStart(d.EpisodeOf(row)), b.Timesteps[slot]);
            }
        }
        Assert.True(sawPadding);
    }

    [Fact]
    public void MixedSamplerKeepsTheRatio()
    {
        var offline = new DatasetSource(Fixtures.Small(nextObs: true));
        var online = new ReplayBuffer(10, 2, 1);
        for (int i = 0; i < 5; i++) online.Add([100f + i, 0], [0f], 7f, [0f, 0f], false, false);
        var s = new MixedSampler(offline, online, 10, 0.5, new Rng(1));
        var b = s.Sample();
        Assert.Equal(5, b.Rew.Count(r => r == 7f));
        Assert.All(b.Obs.Where((v, i) => i % 2 == 0 && i >= 10), v => Assert.True(v >= 100f));
    }

    /// <summary>Without a ratio the sources are drawn as one buffer holding both: each row from the dataset with probability n_data / (n_data + n_online).</summary>
    [Fact]
    public void MixedSamplerWithoutARatioDrawsInProportionToTheSizes()
    {
        var offline = new DatasetSource(Fixtures.Small(nextObs: true));
        var online = new ReplayBuffer(100, 2, 1);
        var s = new MixedSampler(offline, online, 64, null, new Rng(1));
        Assert.Equal(64, s.Sample().DatasetRows);   // nothing online yet: all from the dataset
        int n = offline.SampleableCount;
        for (int i = 0; i < 3 * n; i++) online.Add([100f + i, 0], [0f], 7f, [0f, 0f], false, false);
        long fromData = 0, batches = 400;
        for (int k = 0; k < batches; k++)
        {
            var b = s.Sample();
            Assert.Equal(b.Size - b.DatasetRows, b.Rew.Count(r => r == 7f));   // the online rows after the dataset's
            Assert.All(b.Obs.Where((v, i) => i % 2 == 0 && i >= 2 * b.DatasetRows), v => Assert.True(v >= 100f));
            fromData += b.DatasetRows;
        }
        Assert.InRange(fromData / (64.0 * batches), 0.23, 0.27);   // 1 / 4, within 6 standard errors
    }

    [Fact]
    public void ReplayBufferIsARing()
    {
        var rb = new ReplayBuffer(3, 1, 1);
        for (int i = 0; i < 5; i++) rb.Add([i], [0], i, [i + 1], i == 4, false);
        Assert.Equal(3, rb.Count);
        Assert.Equal(5, rb.Added);
        var d = rb.ToDataset(Box.Unbounded(1), Box.Unbounded(1));
        Assert.Equal([2f, 3f, 4f], d.Observations.ToArray());   // oldest first
        Assert.True(d.Terminals[2]);
        var s = new UniformSampler(rb, 32, new Rng(1)).Sample();
        Assert.All(s.Obs, v => Assert.InRange(v, 2f, 4f));
        Assert.Throws<ArgumentException>(() => rb.Add([1f, 2f], [0f], 0, [0f], false, false));
    }
}
