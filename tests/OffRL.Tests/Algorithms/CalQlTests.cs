using System.Text.Json;
using OffRL.Algorithms;
using OffRL.Data;
using OffRL.Runs;
using OffRL.Tensors;
using Xunit;

namespace OffRL.Tests.Algorithms;

/// <summary>Cal-QL (issue 38, item 2): CQL whose policy Q-values are bounded below by the data's returns-to-go.</summary>
public class CalQlTests
{
    [Fact]
    public void ReturnsToGoStopAtTerminalsTimeoutsAndTheDatasEnd()
    {
        // episodes: rows 0-2 end in a terminal, rows 3-4 in a timeout, rows 5-6 are cut off by the data's end (a timeout)
        var d = Make([1, 1, 1, 2, 2, 4, 4], terminalAt: [2], timeoutAt: [4]);
        Assert.Equal([1.75f, 1.5f, 1f, 3f, 2f, 6f, 4f], d.DiscountedReturnsToGo(0.5f));
    }

    /// <summary>
    /// One update of CQL and of Cal-QL from the same networks on the same batch: the same when every return-to-go is
    /// below the critics' values (max(Q, G) = Q), different when they are above, and the same again once the online
    /// phase has switched the bound off.
    /// </summary>
    [Theory]
    [InlineData(-1000f, false, true)]
    [InlineData(1000f, false, false)]
    [InlineData(1000f, true, true)]
    public void CalQlIsCqlWhereverItsBoundDoesNotBind(float reward, bool online, bool same)
    {
        var rewards = Enumerable.Repeat(reward, 200).ToArray();
        var d = Make(rewards, terminalAt: [], timeoutAt: [49, 99, 149]);
        var small = JsonDocument.Parse("""{"hidden": [16, 16], "batch_size": 32, "sampled_actions": 4}""").RootElement;
        var (cql, prepared) = Training.Prepare("cql", d, 3, small);
        var (calQl, _) = Training.Prepare("cal-ql", d, 3, small);
        if (online) calQl.StartOnline(new OnlinePhase(0, 100));
        var batch = new UniformSampler(prepared, 32, new Rng(9), 0.99f).Sample();
        cql.Update(batch);
        calQl.Update(batch);
        var a = Parameters(cql);
        var b = Parameters(calQl);
        Assert.Equal(a.Length, b.Length);
        bool equal = a.Zip(b).All(p => p.First.AsSpan().SequenceEqual(p.Second));
        Assert.True(equal == same, $"rewards {reward}, online {online}: parameters {(equal ? "equal" : "differ")}; cql_gap {cql.Metrics["cql_gap"]} vs {calQl.Metrics["cql_gap"]}");
        if (!same) Assert.True(calQl.Metrics["cql_gap"] > cql.Metrics["cql_gap"] + 100, $"the bound raises the pushed-down values: {calQl.Metrics["cql_gap"]} vs {cql.Metrics["cql_gap"]}");
    }

    [Fact]
    public void WithoutItsDatasetCalQlSaysSo()
    {
        var agent = AlgorithmRegistry.Create("cal-ql", 3, Box.Uniform(1, -1f, 1f), 0);
        var d = Make(new float[64], terminalAt: [], timeoutAt: [31]);
        var batch = new UniformSampler(d, 256, new Rng(1), 0.99f).Sample();
        Assert.Contains("UseDataset", Assert.Throws<InvalidOperationException>(() => agent.Update(batch)).Message);
    }

    private static float[][] Parameters(Agent agent) =>
        agent.NamedModules.SelectMany(m => m.Module.Parameters()).Select(p => p.Data.ToArray()).ToArray();

    private static Dataset Make(float[] rewards, int[] terminalAt, int[] timeoutAt)
    {
        int n = rewards.Length;
        var rng = new Rng(5);
        var obs = new float[n * 3]; var act = new float[n];
        rng.FillNormal(obs);
        rng.FillUniform(act, -1f, 1f);
        var term = new bool[n]; var tout = new bool[n];
        foreach (var i in terminalAt) term[i] = true;
        foreach (var i in timeoutAt) tout[i] = true;
        return new Dataset(new DatasetColumns { Observations = obs, Actions = act, Rewards = rewards, Terminals = term, Timeouts = tout },
            Box.Unbounded(3), Box.Uniform(1, -1, 1), options: new Dataset.ValidationOptions(TruncateTail: true));
    }
}
