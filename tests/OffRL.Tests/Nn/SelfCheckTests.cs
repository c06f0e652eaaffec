using OffRL.Nn;
using Xunit;

namespace OffRL.Tests.Nn;

/// <summary>`offrl selfcheck`'s problems, run through the library: each reaches its known answer from a fixed seed.</summary>
public class SelfCheckTests
{
    [Fact]
    public void EveryProblemReachesItsTarget()
    {
        var text = new System.Text.StringBuilder();
        var rows = SelfCheck.Run(0, Directory.CreateTempSubdirectory("offrl-selfcheck").FullName, s => text.Append(s));
        Assert.Equal(5, rows.Count);
        foreach (var r in rows) Assert.True(r.Ok, $"{r.Task}: {r.Metric} = {r.Value} (target {r.Target})");
        Assert.Contains("sine regression: ", text.ToString());   // progress reaches the caller
    }
}
