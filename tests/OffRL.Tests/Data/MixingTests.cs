using OffRL.Data;
using OffRL.Tensors;
using Xunit;

namespace OffRL.Tests.Data;

/// <summary>Mixed datasets (a few episodes of one among all of another), as the trajectory-weighting study builds them.</summary>
public class MixingTests
{
    [Fact]
    public void WholeEpisodesOfTheFirstMakeUpTheFractionAndTheSecondStaysWhole()
    {
        var high = Fixtures.Linear(60, seed: 1);
        var low = Fixtures.Linear(200, seed: 2);
        var mix = Mixing.Mix(high, low, 0.05, new Rng(7));
        int fromHigh = mix.Count - low.Count;
        double share = (double)fromHigh / mix.Count;
        Assert.InRange(share, 0.05, 0.05 + 60.0 / mix.Count);   // at most one episode (20..60 steps) over
        Assert.InRange(mix.EpisodeCount - low.EpisodeCount, 1, high.EpisodeCount - 1);
        // the low-return part is the second dataset, row for row, after the drawn episodes
        for (int i = 0; i < low.Count; i += 37) Assert.Equal(low.Rewards[i], mix.Rewards[fromHigh + i]);
        // seeded: the same draw again, another with another seed
        Assert.Equal(mix.Rewards.ToArray(), Mixing.Mix(high, low, 0.05, new Rng(7)).Rewards.ToArray());
        Assert.NotEqual(mix.Rewards.ToArray(), Mixing.Mix(high, low, 0.05, new Rng(8)).Rewards.ToArray());
    }

    [Fact]
    public void AFractionTheFirstDatasetCannotFillIsOneClearError()
    {
        var e = Assert.Throws<ArgumentException>(() => Mixing.Mix(Fixtures.Linear(2), Fixtures.Linear(100, seed: 3), 0.5, new Rng(0)));
        Assert.Contains("lower --fraction", e.Message);
        Assert.Contains("--fraction must be in (0, 1)", Assert.Throws<ArgumentException>(() => Mixing.Mix(Fixtures.Linear(2), Fixtures.Linear(2), 1.0, new Rng(0))).Message);
    }
}
