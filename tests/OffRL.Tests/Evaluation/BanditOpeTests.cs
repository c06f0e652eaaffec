using OffRL.Evaluation;
using OffRL.Tensors;
using Xunit;
using Xunit.Abstractions;

namespace OffRL.Tests.Evaluation;

/// <summary>A logistic contextual bandit with softmax behavior and target policies; the true value is computed exactly per context.</summary>
internal sealed class LogisticBandit
{
    public const int D = 3, A = 4;
    private readonly double[,] _theta = new double[A, D + 1];
    public LogisticBandit(ulong seed = 7)
    {
        var rng = new Rng(seed);
        for (int a = 0; a < A; a++) for (int j = 0; j <= D; j++) _theta[a, j] = rng.NextNormal() * (j == D ? 0.5 : 1.0) - (j == D ? 1.0 : 0);
    }

    public double P(ReadOnlySpan<float> x, int a)
    {
        double z = _theta[a, D];
        for (int j = 0; j < D; j++) z += _theta[a, j] * x[j];
        return 1 / (1 + Math.Exp(-z));
    }

    /// <summary>Softmax policy over beta * (some fixed per-action score of x).</summary>
    public static void Policy(ReadOnlySpan<float> x, double beta, double tilt, Span<float> probs)
    {
        double z = 0;
        Span<double> e = stackalloc double[A];
        for (int a = 0; a < A; a++) { e[a] = Math.Exp(beta * (x[a % D] * (a % 2 == 0 ? 1 : -1) + tilt * a)); z += e[a]; }
        for (int a = 0; a < A; a++) probs[a] = (float)(e[a] / z);
    }

    public static void Behavior(ReadOnlySpan<float> x, Span<float> p) => Policy(x, 0.5, 0.0, p);
    public static void Target(ReadOnlySpan<float> x, Span<float> p) => Policy(x, 1.5, 0.3, p);

    public (BanditFeedback Logs, ActionDistribution Target) Sample(int n, ulong seed)
    {
        var rng = new Rng(seed);
        var ctx = new float[n * D]; var act = new int[n]; var rew = new float[n]; var prop = new float[n];
        var pb = new float[A]; var pt = new float[n * A];
        for (int i = 0; i < n; i++)
        {
            var x = ctx.AsSpan(i * D, D);
            for (int j = 0; j < D; j++) x[j] = rng.Normal();
            Behavior(x, pb);
            act[i] = rng.Categorical(pb);
            prop[i] = pb[act[i]];
            rew[i] = rng.NextDouble() < P(x, act[i]) ? 1 : 0;
            Target(x, pt.AsSpan(i * A, A));
        }
        var logs = new BanditFeedback(ctx, D, act, new int[n], rew, prop, A, 1);
        return (logs, new ActionDistribution(pt, n, A, 1));
    }

    /// <summary>E_x sum_a pi(a|x) P(click|x,a) by averaging the exact inner sum over many contexts.</summary>
    public double TrueValue(Action<ReadOnlySpan<float>, Span<float>> policy, int contexts = 200_000)
    {
        var rng = new Rng(12345);
        var x = new float[D]; var p = new float[A];
        double s = 0;
        for (int i = 0; i < contexts; i++)
        {
            for (int j = 0; j < D; j++) x[j] = rng.Normal();
            policy(x, p);
            for (int a = 0; a < A; a++) s += p[a] * P(x, a);
        }
        return s / contexts;
    }
}

public class BanditOpeTests(ITestOutputHelper output)
{
    [Fact]
    public void UnbiasedEstimatorsAverageToTheTrueValueOverSeeds()
    {
        var bandit = new LogisticBandit();
        double truth = bandit.TrueValue(LogisticBandit.Target);
        var names = new[] { "ips", "dr", "snips", "sndr", "dm" };
        var sums = new double[names.Length];
        const int seeds = 60;
        for (int s = 0; s < seeds; s++)
        {
            var (logs, target) = bandit.Sample(2000, (ulong)(100 + s));
            var qhat = RewardModel.FitPredict(logs, () => new LogisticRegression(1.0), folds: 2, seed: (ulong)s);
            var x = BanditOpeInputs.From(logs, target, qhat);
            for (int k = 0; k < names.Length; k++) sums[k] += BanditEstimator.ByName(names[k]).Estimate(x) / seeds;
        }
        for (int k = 0; k < names.Length; k++) output.WriteLine($"{names[k]}: mean over {seeds} seeds {sums[k]:F4}, truth {truth:F4}");
        // IPS and DR are unbiased: their mean over 60 seeds of 2000 rows is within ~3 standard errors of the truth.
        Assert.InRange(sums[0], truth - 0.012, truth + 0.012);
        Assert.InRange(sums[1], truth - 0.008, truth + 0.008);
        // Self-normalized forms are consistent (bias O(1/n)).
        Assert.InRange(sums[2], truth - 0.012, truth + 0.012);
        Assert.InRange(sums[3], truth - 0.008, truth + 0.008);
    }

    [Fact]
    public void IpsWithTargetEqualToBehaviorIsTheSampleMean()
    {
        var (logs, _) = new LogisticBandit().Sample(500, 3);
        var p = new float[logs.Count * LogisticBandit.A];
        for (int i = 0; i < logs.Count; i++) LogisticBandit.Behavior(logs.ContextOf(i), p.AsSpan(i * LogisticBandit.A, LogisticBandit.A));
        var x = BanditOpeInputs.From(logs, new ActionDistribution(p, logs.Count, LogisticBandit.A, 1));
        Assert.Equal(logs.MeanReward(), new Ips().Estimate(x), 6);
        Assert.Equal(logs.MeanReward(), new SnIps().Estimate(x), 6);
    }

    [Fact]
    public void SelfNormalizedWeightsSumToOne()
    {
        var (logs, target) = new LogisticBandit().Sample(500, 4);
        var x = BanditOpeInputs.From(logs, target);
        var ones = new BanditOpeInputs(Enumerable.Repeat(1.0, x.Count).ToArray(), x.W);
        Assert.Equal(1.0, new SnIps().Estimate(ones), 12);   // sum_i (w_i / sum_j w_j) * 1
        Assert.NotEqual(1.0, new Ips().Estimate(ones), 3);
    }

    [Fact]
    public void DrIsDmWithZeroWeightsAndIpsWithZeroRewardModel()
    {
        var rng = new Rng(5);
        int n = 300;
        var r = Enumerable.Range(0, n).Select(_ => rng.NextDouble()).ToArray();
        var w = Enumerable.Range(0, n).Select(_ => 3 * rng.NextDouble()).ToArray();
        var qf = Enumerable.Range(0, n).Select(_ => rng.NextDouble()).ToArray();
        var qpi = Enumerable.Range(0, n).Select(_ => rng.NextDouble()).ToArray();
        var zeroW = new BanditOpeInputs(r, new double[n], qf, qpi);
        Assert.Equal(new DirectMethod().Estimate(zeroW), new DoublyRobust().Estimate(zeroW), 12);
        var zeroQ = new BanditOpeInputs(r, w, new double[n], new double[n]);
        Assert.Equal(new Ips().Estimate(zeroQ), new DoublyRobust().Estimate(zeroQ), 12);
        Assert.Equal(new SnIps().Estimate(zeroQ), new SnDr().Estimate(zeroQ), 12);
        // Shrinkage and switching interpolate between DR (no shrinkage) and DM.
        Assert.Equal(new DoublyRobust().Estimate(zeroQ), new SwitchDr(double.PositiveInfinity).Estimate(zeroQ), 12);
        Assert.Equal(new DirectMethod().Estimate(zeroQ), new SwitchDr(0).Estimate(zeroQ), 12);
        Assert.Equal(new DoublyRobust().Estimate(zeroQ), new DrOs(double.PositiveInfinity).Estimate(zeroQ), 12);
        Assert.Equal(new Ips().Estimate(zeroQ), new ClippedIps(double.PositiveInfinity).Estimate(zeroQ), 12);
    }

    [Fact]
    public void RewardModelsRecoverKnownCoefficients()
    {
        var rng = new Rng(9);
        int n = 5000, d = 3;
        var x = new float[n * d]; var yl = new float[n]; var yb = new float[n];
        double[] beta = [0.5, -1.0, 2.0];
        for (int i = 0; i < n; i++)
        {
            double z = -0.5;
            for (int j = 0; j < d; j++) { x[i * d + j] = rng.Normal(); z += beta[j] * x[i * d + j]; }
            yl[i] = (float)(z + 0.1 * rng.NextNormal());
            yb[i] = rng.NextDouble() < 1 / (1 + Math.Exp(-z)) ? 1 : 0;
        }
        var ridge = new RidgeRegression(1e-6);
        ridge.Fit(x, d, yl);
        Assert.Equal(-0.5 + 0.5 - 1.0 + 2.0, ridge.Predict([1, 1, 1]), 1);
        var logit = new LogisticRegression(1e-3);
        logit.Fit(x, d, yb);
        double p = logit.Predict([1, 1, 1]), truth = 1 / (1 + Math.Exp(-1.0));
        Assert.InRange(p, truth - 0.05, truth + 0.05);
    }

    [Fact]
    public void BootstrapIntervalsCoverTheTruthAtAboutTheNominalRate()
    {
        var bandit = new LogisticBandit();
        double truth = bandit.TrueValue(LogisticBandit.Target);
        int covered = 0, coveredNormal = 0, coveredBernstein = 0;
        const int seeds = 60;
        for (int s = 0; s < seeds; s++)
        {
            var (logs, target) = bandit.Sample(1000, (ulong)(500 + s));
            var x = BanditOpeInputs.From(logs, target);
            var boot = BanditOpe.Run(x, [new Ips()], new BanditOpe.Options(BootstrapSamples: 300, Seed: (ulong)s))[0];
            var norm = BanditOpe.Run(x, [new Ips()], new BanditOpe.Options(Ci: CiMethod.Normal))[0];
            var bern = BanditOpe.Run(x, [new Ips()], new BanditOpe.Options(Ci: CiMethod.Bernstein))[0];
            covered += boot.Covers(truth) ? 1 : 0;
            coveredNormal += norm.Covers(truth) ? 1 : 0;
            coveredBernstein += bern.Covers(truth) ? 1 : 0;
            Assert.True(bern.CiHigh - bern.CiLow > norm.CiHigh - norm.CiLow);   // the distribution-free bound is wider
        }
        output.WriteLine($"95% coverage over {seeds} seeds: bootstrap {covered}, normal {coveredNormal}, bernstein {coveredBernstein}");
        Assert.InRange(covered, 50, seeds);
        Assert.InRange(coveredNormal, 50, seeds);
        Assert.Equal(seeds, coveredBernstein);
    }

    [Fact]
    public void QuantilesMatchTables()
    {
        Assert.Equal(1.959964, Confidence.NormalQuantile(0.975), 5);
        Assert.Equal(-2.326348, Confidence.NormalQuantile(0.01), 5);
        Assert.Equal(2.228139, Confidence.StudentTQuantile(0.975, 10), 2);
        Assert.Equal(2.042272, Confidence.StudentTQuantile(0.975, 30), 3);
        Assert.Equal(4.0, Confidence.EffectiveSampleSize([1, 1, 1, 1]), 12);
        Assert.Equal(1.0, Confidence.EffectiveSampleSize([0, 0, 5, 0]), 12);
    }

    [Fact]
    public void BadLogsAreRejectedWithTheRowAndField()
    {
        var ex = Assert.Throws<DataException>(() => new BanditFeedback(new float[2], 1, [0, 1], [0, 0], [1, 0], [0.5f, 0f], 2, 1, source: "logs.csv"));
        Assert.Contains("propensity", ex.Message);
        Assert.Equal(2, ex.Row);   // the second record (rows count from 1)
        var ex2 = Assert.Throws<DataException>(() => new BanditFeedback(new float[2], 1, [0, 3], [0, 0], [1, 0], [0.5f, 0.5f], 2, 1));
        Assert.Contains("action", ex2.Message);
    }

    [Fact]
    public void OpeQualityMetricsOnAHandExample()
    {
        double[] truth = [1, 2, 3, 4];
        double[] est = [1.5, 1.0, 3.5, 2.0];   // ranks candidates 2 (3.5), 3 (2.0), 0 (1.5), 1 (1.0)
        var q = OpeQuality.Compute(truth, est, behaviorValue: 1.5);
        Assert.Equal((0.25 + 1 + 0.25 + 4) / 4, q.Mse, 12);
        Assert.Equal((0.5 / 1 + 1.0 / 2 + 0.5 / 3 + 2.0 / 4) / 4, q.RelativeError, 12);
        Assert.Equal(q.Mse / 9, q.NormalizedMse, 12);
        Assert.Equal([1.0, 0.0, 0.0, 0.0], q.RegretAtK);   // top-1 is candidate 2 (value 3), best is 4
        Assert.Null(q.SharpeRatioAtK[0]);
        Assert.Equal((4 - 1.5) / 0.5, q.SharpeRatioAtK[1]!.Value, 12);   // top-2 values {3, 4}: std 0.5
        Assert.Equal(0.6, q.RankCorrelation, 12);   // ranks (2,1,4,3) vs (1,2,3,4): 1 - 6*4/(4*15)
    }
}
