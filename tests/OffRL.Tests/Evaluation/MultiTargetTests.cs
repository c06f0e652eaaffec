using OffRL.Bandits;
using OffRL.Evaluation;
using OffRL.Tensors;
using Xunit;
using Xunit.Abstractions;

namespace OffRL.Tests.Evaluation;

public class MultiTargetTests(ITestOutputHelper output)
{
    /// <summary>Twenty arms with Bernoulli rewards whose probability depends on a scalar context.</summary>
    private sealed class Arms : IBanditEnvironment
    {
        private static readonly CandidateAction[] All = JointFeatures.Arms(Enumerable.Range(0, 20).Select(a => a.ToString()).ToArray());
        public string Name => "twenty-arms";
        public int ContextDim => 1;
        public int ActionDim => 20;
        public IReadOnlyList<string> ActionIds { get; } = All.Select(a => a.Id).ToArray();
        public BanditContext Next(Rng rng) => new([(float)rng.NextDouble()], All);
        public double Expected(BanditContext c, int a) => Mean(c.Context[0], a);
        public float Pull(BanditContext c, int a, Rng rng) => rng.NextDouble() < Mean(c.Context[0], a) ? 1 : 0;
        public int Delay(Rng rng) => 0;
        public void SampleContext(Rng rng, Span<float> x) => x[0] = (float)rng.NextDouble();
        public static double Mean(double x, int a) => 0.05 + 0.5 * (a / 19.0) * (a % 2 == 0 ? x : 1 - x);
    }

    // Four targets, each concentrated on a different arm: uniform logging wastes most draws on arms no target plays.
    private static readonly Action<float[], float[]>[] Targets = Enumerable.Range(1, 4).Select(k => (Action<float[], float[]>)((x, p) =>
    {
        for (int a = 0; a < 20; a++) p[a] = a == 4 * k ? 0.81f : 0.01f;
    })).ToArray();

    private static double Truth(int j)
    {
        // E_x sum_a pi_j(a) Mean(x, a) with x ~ U(0, 1): Mean is linear in x, so use x = 1/2.
        var p = new float[20];
        Targets[j]([0.5f], p);
        double v = 0;
        for (int a = 0; a < 20; a++) v += p[a] * Arms.Mean(0.5, a);
        return v;
    }

    [Fact]
    public void AdaptiveImportanceSamplingWithControlVariatesHasLowerErrorThanPlainIs()
    {
        var sim = new Arms();
        const int n = 2000, seeds = 60;
        double msePlain = 0, mseCv = 0, mseAdaptive = 0;
        var x = new float[1]; var p = new float[20];
        for (int s = 0; s < seeds; s++)
        {
            // Plain IS (and control variates) from uniform logs of the same size.
            var rng = new Rng((ulong)s);
            var r = new double[n];
            var w = Enumerable.Range(0, 4).Select(_ => new double[n]).ToArray();
            for (int i = 0; i < n; i++)
            {
                sim.SampleContext(rng, x);
                int a = rng.NextInt(20);
                r[i] = rng.NextDouble() < Arms.Mean(x[0], a) ? 1 : 0;
                for (int j = 0; j < 4; j++) { Targets[j](x, p); w[j][i] = p[a] / 0.05; }
            }
            var (plain, cv) = MultiTargetIs.Estimate(r, w);
            var adaptive = AdaptiveMultiTargetIs.Run(sim, Targets, stages: 4, perStage: n / 4, new Rng((ulong)(1000 + s)));
            for (int j = 0; j < 4; j++)
            {
                double t = Truth(j);
                msePlain += (plain[j] - t) * (plain[j] - t) / seeds;
                mseCv += (cv[j] - t) * (cv[j] - t) / seeds;
                mseAdaptive += (adaptive[j] - t) * (adaptive[j] - t) / seeds;
            }
        }
        output.WriteLine($"sum over 4 targets of MSE x 1e4: plain IS {msePlain * 1e4:F2}, IS + control variates {mseCv * 1e4:F2}, adaptive IS + control variates {mseAdaptive * 1e4:F2}");
        Assert.True(mseCv < msePlain, "control variates should reduce the error on the same sample");
        Assert.True(mseAdaptive < 0.7 * msePlain, "adaptive sampling with control variates should clearly beat plain IS");
    }
}
