using OffRL.Bandits;
using OffRL.Tensors;
using Xunit;
using Xunit.Abstractions;

namespace OffRL.Tests.Bandits;

public class PoemTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData("ips", 0)]
    [InlineData("dr", 0)]
    [InlineData("ips", 4)]
    public void Poem_improves_on_the_logging_policy_and_its_estimate_matches_the_truth(string weighting, int actionDim)
    {
        var sim = new SyntheticBandit(new SyntheticBanditConfig { ContextDim = 5, Actions = 8, ActionDim = actionDim, Reward = "logistic", Seed = 3 });
        // A weak logger: softmax(1 * mu) with 20% uniform.
        var logs = sim.Log(6000, beta: 1, epsilon: 0.2, new Rng(1));
        var (policy, report) = PolicyLearning.LearnAndEvaluate(logs, new PoemConfig { Weighting = weighting, Seed = 2 });
        // Truth on fresh contexts.
        var fresh = sim.Log(20000, 1, 0.2, new Rng(99));
        double learnedTrue = sim.TrueValue(fresh, Poem.Distribution(policy, fresh));
        var behaviorProbs = new float[fresh.Count * fresh.Actions];
        for (int i = 0; i < fresh.Count; i++) sim.Behavior(fresh.ContextOf(i), 1, 0.2, behaviorProbs.AsSpan(i * fresh.Actions, fresh.Actions));
        double behaviorTrue = sim.TrueValue(fresh, new OffRL.Evaluation.ActionDistribution(behaviorProbs, fresh.Count, fresh.Actions, 1));
        var bestProbs = new float[fresh.Count * fresh.Actions];
        for (int i = 0; i < fresh.Count; i++) sim.Behavior(fresh.ContextOf(i), 1000, 0, bestProbs.AsSpan(i * fresh.Actions, fresh.Actions));
        double bestTrue = sim.TrueValue(fresh, new OffRL.Evaluation.ActionDistribution(bestProbs, fresh.Count, fresh.Actions, 1));
        output.WriteLine($"{weighting}, action dim {actionDim}: true value behavior {behaviorTrue:F4}, POEM {learnedTrue:F4}, best {bestTrue:F4}");
        output.WriteLine($"  OPE on the held-out {report.TestRows} rows: logging {report.LoggingValue:F4} [{report.LoggingCiLow:F4}, {report.LoggingCiHigh:F4}]");
        foreach (var e in report.Learned) output.WriteLine($"  learned {e.Estimator}: {e.Estimate:F4} [{e.CiLow:F4}, {e.CiHigh:F4}] ESS {e.EffectiveSampleSize:F0}");
        // Learning closes most of the gap to the best policy.
        Assert.True(learnedTrue > behaviorTrue + 0.5 * (bestTrue - behaviorTrue), $"POEM {learnedTrue:F4} vs behavior {behaviorTrue:F4}, best {bestTrue:F4}");
        // The before/after estimates are right: the logging value covers the truth and DR on held-out data is close.
        Assert.InRange(behaviorTrue, report.LoggingCiLow - 0.01, report.LoggingCiHigh + 0.01);
        var dr = report.Learned.Single(e => e.Estimator == "dr");
        Assert.True(Math.Abs(dr.Estimate - learnedTrue) < 0.04, $"DR estimate {dr.Estimate:F4} vs truth {learnedTrue:F4}");
        Assert.True(dr.CiLow > report.LoggingCiHigh, "the learned policy is estimated better than the logger with non-overlapping intervals");
    }
}
