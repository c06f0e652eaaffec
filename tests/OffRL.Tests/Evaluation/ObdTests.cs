using OffRL.Bandits;
using OffRL.Evaluation;
using Xunit;
using Xunit.Abstractions;
using OffRL.Serving;

namespace OffRL.Tests.Evaluation;

/// <summary>
/// Real logs: the Open Bandit Dataset sample in ../shared/data/obd (beside the checkout). The on-policy click rate of
/// one policy's logs is the truth for OPE from the other policy's logs.
/// </summary>
public class ObdTests(ITestOutputHelper output)
{
    private static string? Root()
    {
        for (var at = new DirectoryInfo(AppContext.BaseDirectory); at is not null; at = at.Parent)
        {
            var dir = Path.Combine(at.FullName, "shared", "data", "obd");
            if (File.Exists(Path.Combine(dir, "bts_action_dist.csv"))) return dir;
        }
        const string workplace = "/work/shared/data/obd";   // where the shared folder sits when the checkout is elsewhere
        return File.Exists(Path.Combine(workplace, "bts_action_dist.csv")) ? workplace : null;
    }

    private List<OpeEstimate> Run(string logs, string target, double truth)
    {
        var res = BanditOpeJob.Run(new BanditOpeJob.Request(logs, "obd", target, Options: new BanditOpe.Options(BootstrapSamples: 300)));
        output.WriteLine($"{Path.GetFileName(Path.GetDirectoryName(Path.GetDirectoryName(logs)))}/{Path.GetFileName(logs)} -> {Path.GetFileName(target)} (truth {truth:F4})");
        foreach (var e in res.Estimates)
            output.WriteLine($"  {e.Estimator,-12} {e.Estimate:F5} [{e.CiLow:F5}, {e.CiHigh:F5}] ess {e.EffectiveSampleSize:F1} max w {e.MaxWeight:G4} covers {e.Covers(truth)}");
        return res.Estimates;
    }

    [SkippableFact]
    public void BtsFromRandomLogsAndUniformFromBtsLogs()
    {
        var root = Root();
        Skip.If(root is null, "../shared/data/obd (the Open Bandit Dataset) is not beside this checkout");
        foreach (var campaign in new[] { "men", "women" })
        {
            string random = Path.Combine(root!, "random", campaign, campaign + ".csv"), bts = Path.Combine(root!, "bts", campaign, campaign + ".csv");
            double btsTruth = BanditFeedback.ReadObd(bts).MeanReward(), randomTruth = BanditFeedback.ReadObd(random).MeanReward();
            // bts policy evaluated from the uniform-random logs: weights are bounded (at most 46 x 0.96 here).
            var forward = Run(random, Path.Combine(root!, "bts_action_dist.csv"), btsTruth);
            foreach (var name in new[] { "ips", "snips", "dr", "sndr" })
            {
                var e = forward.Single(x => x.Estimator == name);
                Assert.True(e.Covers(btsTruth), $"{campaign}: {name} interval [{e.CiLow:G4}, {e.CiHigh:G4}] misses the bts click rate {btsTruth:G4}");
                Assert.True(e.EffectiveSampleSize > 1000);
                Assert.Null(e.Warning);
            }
            // Uniform policy evaluated from the bts logs: tiny logged propensities give huge weights, which must be flagged.
            var backward = Run(bts, "uniform", randomTruth);
            var ips = backward.Single(x => x.Estimator == "ips");
            Assert.All(backward, e => Assert.True(double.IsFinite(e.Estimate)));
            if (campaign == "women")
            {
                Assert.True(ips.MaxWeight > 20_000, $"max weight {ips.MaxWeight}");
                Assert.NotNull(ips.Warning);
            }
        }
    }
}
