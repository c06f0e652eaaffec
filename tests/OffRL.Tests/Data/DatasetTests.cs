using OffRL.Data;
using Xunit;

namespace OffRL.Tests.Data;

public class DatasetTests
{
    [Fact]
    public void EpisodesReturnsAndNextObservations()
    {
        var d = Fixtures.Small();
        Assert.Equal(9, d.Count);
        Assert.Equal(3, d.EpisodeCount);
        Assert.Equal([3, 2, 4], Enumerable.Range(0, 3).Select(d.EpisodeLength));
        Assert.Equal([6.0, 1.0, 8.0], d.EpisodeReturns());
        Assert.Equal([6f, 5f, 3f, 1f, 0.5f, 8f, 6f, 4f, 2f], d.ReturnsToGo());
        var rtg = d.ReturnsToGo(0.5);
        Assert.Equal(1 + 0.5 * 2 + 0.25 * 3, rtg[0], 5);
        // next observation = the following row inside an episode
        Assert.Equal([1f, 10f], d.NextObservation(0).ToArray());
        Assert.True(d.HasNext(2));      // terminal: no bootstrap needed
        Assert.False(d.HasNext(4));     // timeout without stored next: unusable for TD
        Assert.Throws<InvalidOperationException>(() => d.NextObservation(4).ToArray());
        Assert.True(Fixtures.Small(nextObs: true).HasNext(4));
        Assert.Equal(1, d.EpisodeOf(3));
    }

    private static DatasetColumns Cols(int n, int od = 2, int ad = 1)
    {
        var term = new bool[n]; term[^1] = true;
        return new DatasetColumns { Observations = new float[n * od], Actions = new float[n * ad], Rewards = new float[n], Terminals = term, Timeouts = new bool[n] };
    }

    [Fact]
    public void RaggedColumnsNameTheField()
    {
        var c = Cols(5);
        var bad = new DatasetColumns { Observations = new float[9], Actions = c.Actions, Rewards = c.Rewards, Terminals = c.Terminals, Timeouts = c.Timeouts };
        var ex = Assert.Throws<DataException>(() => new Dataset(bad, Box.Unbounded(2), Box.Unbounded(1)));
        Assert.Equal("observations", ex.Field);
        Assert.Contains("9 values, expected 10", ex.Message);
        var bad2 = new DatasetColumns { Observations = c.Observations, Actions = c.Actions, Rewards = c.Rewards, Terminals = new bool[4], Timeouts = c.Timeouts };
        Assert.Equal("terminals", Assert.Throws<DataException>(() => new Dataset(bad2, Box.Unbounded(2), Box.Unbounded(1))).Field);
    }

    [Fact]
    public void NaNIsReportedWithRowAndColumn()
    {
        var c = Cols(5);
        c.Observations[7] = float.NaN;   // the 4th row (row 4: rows count from 1), column 1
        var ex = Assert.Throws<DataException>(() => new Dataset(c, Box.Unbounded(2), Box.Unbounded(1), options: new Dataset.ValidationOptions(File: "x.h5")));
        Assert.Equal(("observations", 4L, 1), (ex.Field, ex.Row, ex.Column));
        Assert.Contains("x.h5", ex.Message);
        var c2 = Cols(5);
        c2.Rewards[2] = float.PositiveInfinity;
        var ex2 = Assert.Throws<DataException>(() => new Dataset(c2, Box.Unbounded(2), Box.Unbounded(1)));
        Assert.Equal(("rewards", 3L), (ex2.Field, ex2.Row));
    }

    [Fact]
    public void EpisodeThatNeverEndsIsAnErrorUnlessTruncated()
    {
        var c = Cols(6);
        c.Terminals[5] = false;
        c.Terminals[1] = true;
        var ex = Assert.Throws<DataException>(() => new Dataset(c, Box.Unbounded(2), Box.Unbounded(1)));
        Assert.Equal(3, ex.Row);   // the episode starts at the 3rd row
        Assert.Contains("never ends", ex.Message);
        var d = new Dataset(c, Box.Unbounded(2), Box.Unbounded(1), options: new Dataset.ValidationOptions(TruncateTail: true));
        Assert.True(d.Timeouts[5]);
        Assert.Equal(2, d.EpisodeCount);
        Assert.Contains(d.Info.Processing, p => p.Contains("timed out"));
    }

    [Fact]
    public void ActionsOutOfRangeAreRejected()
    {
        var c = Cols(4, ad: 2);
        c.Actions[5] = 1.5f;   // the 3rd row (row 3), column 1
        var ex = Assert.Throws<DataException>(() => new Dataset(c, Box.Unbounded(2), Box.Uniform(2, -1, 1)));
        Assert.Equal(("actions", 3L, 1), (ex.Field, ex.Row, ex.Column));
        var c2 = Cols(4);
        c2.Actions[3] = 3;
        var ex2 = Assert.Throws<DataException>(() => new Dataset(c2, Box.Unbounded(2), new Discrete(3)));
        Assert.Equal(4, ex2.Row);
        var c3 = Cols(4);
        var withLogp = new DatasetColumns { Observations = c3.Observations, Actions = c3.Actions, Rewards = c3.Rewards, Terminals = c3.Terminals, Timeouts = c3.Timeouts, BehaviorLogProbs = [0, -1, float.NaN, -2] };
        Assert.Equal(3, Assert.Throws<DataException>(() => new Dataset(withLogp, Box.Unbounded(2), Box.Unbounded(1))).Row);
        // Continuous actions carry log-densities, which may be positive (a narrow Gaussian).
        _ = new Dataset(new DatasetColumns { Observations = c3.Observations, Actions = c3.Actions, Rewards = c3.Rewards, Terminals = c3.Terminals, Timeouts = c3.Timeouts, BehaviorLogProbs = [0, -1, 0.5f, -2] },
            Box.Unbounded(2), Box.Unbounded(1));
    }

    [Fact]
    public void WithNextObservationsDropsRowsWithoutOne()
    {
        var d = Fixtures.Small().WithNextObservations();
        Assert.Equal(8, d.Count);   // row 4 (timeout, no next) dropped
        Assert.True(d.HasNextObservations);
        Assert.True(d.Timeouts[3]);  // the row before it now ends episode 1
        Assert.Equal(3, d.EpisodeCount);
        Assert.Equal([4f, 40f], d.NextObservation(3).ToArray());
    }

    [Fact]
    public void SelectAndConcat()
    {
        var d = Fixtures.Small();
        var sel = d.SelectEpisodes([2, 0], "top");
        Assert.Equal([8.0, 6.0], sel.EpisodeReturns());
        var cat = Dataset.Concat([d, sel], new DatasetInfo("cat"));
        Assert.Equal(16, cat.Count);
        Assert.Equal(5, cat.EpisodeCount);
    }
}
