using OffRL.Data;
using OffRL.Tensors;
using Xunit;

namespace OffRL.Tests.Data;

public class ProcessingTests : IDisposable
{
    private readonly string _dir = Fixtures.TempDir();
    public void Dispose() { try { Directory.Delete(_dir, true); } catch { } }

    [Fact]
    public void PreprocessingFitsAppliesAndRoundTrips()
    {
        var d = Fixtures.Linear(30);
        var p = Preprocessing.Fit(d, new PreprocessingConfig(NormalizeObservations: true, Rewards: RewardNormalization.ReturnRange, RescaleActions: true));
        var ret = d.EpisodeReturns();
        Assert.Equal(1000.0 / (ret.Max() - ret.Min()), p.RewardScale, 3);
        var t = p.Apply(d);
        for (int j = 0; j < 4; j++)
        {
            double m = 0, s2 = 0;
            for (int i = 0; i < t.Count; i++) { m += t.Observation(i)[j]; s2 += t.Observation(i)[j] * t.Observation(i)[j]; }
            m /= t.Count;
            Assert.InRange(m, -1e-3, 1e-3);
            Assert.InRange(Math.Sqrt(s2 / t.Count - m * m), 0.99, 1.0);
        }
        Assert.Equal(d.Rewards[3] * p.RewardScale, t.Rewards[3], 3);
        var a = new float[] { 0.25f, -1f };
        p.ScaleAction(a); p.UnscaleAction(a);
        Assert.Equal([0.25f, -1f], a);
        var path = Path.Combine(_dir, "pre.json");
        p.Save(path);
        var back = Preprocessing.Load(path);
        Assert.Equal(p.ObservationMean, back.ObservationMean);
        Assert.Equal(p.RewardScale, back.RewardScale);
        var sparse = Preprocessing.Fit(d, new PreprocessingConfig(RewardBias: -1f));
        Assert.Equal(d.Rewards[0] - 1f, sparse.Apply(d).Rewards[0]);
        var both = Preprocessing.Fit(d, new PreprocessingConfig(Rewards: RewardNormalization.ReturnRange, RewardScale: 0.5f, RewardBias: 2f));
        Assert.Equal(0.5f * p.RewardScale * d.Rewards[3] + 2f, both.Apply(d).Rewards[3], 3);
    }

    [Fact]
    public void APreprocessingThatDoesNotFitTheAgentIsRefusedWithItsFileAndField()
    {
        var ok = new Preprocessing { ObservationMean = [0f, 1f], ObservationStd = [1f, 2f], ActionLow = [-2f], ActionHigh = [2f] };
        Assert.Same(ok, ok.Checked(2, 1, "pre.json"));
        (Preprocessing P, string Field)[] bad =
        [
            (ok with { ObservationMean = [0f, 1f, 2f] }, "ObservationMean"),   // wrong width
            (ok with { ObservationStd = [1f, 0f] }, "ObservationStd"),          // zero std
            (ok with { ObservationStd = null }, "ObservationStd"),
            (ok with { ActionLow = [3f] }, "ActionLow"),                        // low above high
            (ok with { ActionHigh = [float.NaN] }, "ActionHigh"),
        ];
        foreach (var (p, field) in bad)
        {
            var ex = Assert.Throws<DataException>(() => p.Checked(2, 1, "pre.json"));
            Assert.Contains("pre.json", ex.Message);
            Assert.Contains(field, ex.Message);
        }
        Assert.Throws<DataException>(() => ok.Checked(2, 0, "pre.json"));     // bounds on a discrete agent
    }

    [Fact]
    public void StatisticsOfAKnownDataset()
    {
        var d = Fixtures.Small(nextObs: true);
        var s = DatasetStatistics.Compute(d, new QualityReference(RandomReturn: 0, ExpertReturn: 10));
        Assert.Equal((9, 3, 2, 1), (s.Transitions, s.Episodes, s.Terminals, s.Timeouts));
        Assert.Equal(5.0, s.ReturnMean, 9);
        Assert.Equal(Math.Sqrt((1 + 16 + 9) / 3.0), s.ReturnStd, 9);
        Assert.Equal((1.0, 6.0, 8.0), (s.ReturnMin, s.ReturnMedian, s.ReturnMax));
        Assert.Equal(3.0, s.LengthMean, 9);
        Assert.Equal(0.5, s.TrajectoryQuality, 9);   // (5 - 0) / (10 - 0)
        Assert.True(s.TrajectoryQualityIsReferenced);
        Assert.Equal(9, s.UniqueStateActionPairs);    // every row distinct
        Assert.Equal(1.0, s.StateActionCoverage, 9);
        var noRef = DatasetStatistics.Compute(d);
        Assert.Equal((5.0 - 1) / (8 - 1), noRef.TrajectoryQuality, 9);
    }

    [Fact]
    public void CoverageCountsDistinctPairs()
    {
        // discrete toy: 2 states x 2 actions, 4 rows repeated 10 times -> 4 unique pairs
        int n = 40;
        var obs = new float[n]; var act = new float[n]; var term = new bool[n];
        for (int i = 0; i < n; i++) { obs[i] = i % 2; act[i] = i / 2 % 2; }
        term[^1] = true;
        var d = new Dataset(new DatasetColumns { Observations = obs, Actions = act, Rewards = new float[n], Terminals = term, Timeouts = new bool[n] }, Box.Unbounded(1), new Discrete(2));
        Assert.Equal(4, DatasetStatistics.UniquePairs(d, 10));
        var s = DatasetStatistics.Compute(d, new QualityReference(ReferenceUniquePairs: 8));
        Assert.Equal(0.5, s.StateActionCoverage, 9);
    }

    [Fact]
    public void ActionDivergenceSeparatesConsistentFromNoisyDemonstrators()
    {
        var consistent = DatasetStatistics.Compute(Fixtures.Linear(40, policyNoise: 0.01f, storeNext: true), sample: 600);
        var noisy = DatasetStatistics.Compute(Fixtures.Linear(40, policyNoise: 1.0f, storeNext: true), sample: 600);
        Assert.True(noisy.ActionDivergence > 1.5 * consistent.ActionDivergence, $"noisy {noisy.ActionDivergence} vs consistent {consistent.ActionDivergence}");
        Assert.True(consistent.TransitionDiversity > 0);
    }

    [Fact]
    public void ReturnHistogramIsAPng()
    {
        // drawn by the command (the libraries draw nothing): offrl dataset info FILE --plot PNG
        var path = Path.Combine(_dir, "returns.png");
        var file = Path.Combine(_dir, "linear.parquet");
        OffRL.Data.IO.DatasetFile.Write(Fixtures.Linear(30), file);
        var r = Cli.CliProcess.Run("dataset", "info", file, "--plot", path);
        Assert.True(r.Code == 0, r.Err);
        var bytes = File.ReadAllBytes(path);
        Assert.True(bytes.Length > 1000);
        Assert.Equal([0x89, (byte)'P', (byte)'N', (byte)'G'], bytes[..4]);
    }

    [Fact]
    public void RandomCorruptionHitsTheFractionWithinScale()
    {
        var d = Fixtures.Linear(20);
        var (c, rep) = Corruption.Apply(d, new CorruptionConfig(CorruptionTarget.Observations, Fraction: 0.25, Scale: 0.5f, Seed: 3));
        Assert.Equal((int)Math.Round(d.Count * 0.25), rep.Rows.Length);
        var set = new HashSet<int>(rep.Rows);
        var std = Enumerable.Range(0, 4).Select(j => Std(d, j)).ToArray();
        for (int i = 0; i < d.Count; i++)
            for (int j = 0; j < 4; j++)
            {
                float delta = c.Observation(i)[j] - d.Observation(i)[j];
                if (!set.Contains(i)) Assert.Equal(0f, delta);
                else Assert.True(MathF.Abs(delta) <= 0.5f * std[j] + 1e-4f);
            }
        var (again, _) = Corruption.Apply(d, new CorruptionConfig(CorruptionTarget.Observations, Fraction: 0.25, Scale: 0.5f, Seed: 3));
        Assert.Equal(c.Observations.ToArray(), again.Observations.ToArray());
        var (r, rr) = Corruption.Apply(d, new CorruptionConfig(CorruptionTarget.Rewards, Fraction: 0.5, Scale: 1f));
        foreach (var row in rr.Rows) Assert.InRange(r.Rewards[row], -30f, 30f);
        var (adv, ar) = Corruption.Apply(d, new CorruptionConfig(CorruptionTarget.Rewards, CorruptionKind.Adversarial, Fraction: 0.5, Scale: 2f));
        foreach (var row in ar.Rows) Assert.Equal(-2f * d.Rewards[row], adv.Rewards[row]);
        var (a, _) = Corruption.Apply(d, new CorruptionConfig(CorruptionTarget.Actions, Fraction: 1, Scale: 5f));
        Assert.All(a.Actions.ToArray(), v => Assert.InRange(v, -1f, 1f));
        var (nx, _) = Corruption.Apply(d, new CorruptionConfig(CorruptionTarget.NextObservations, Fraction: 0.5, Scale: 1f));
        Assert.True(nx.HasNextObservations);
    }

    private static double Std(Dataset d, int j)
    {
        double m = 0, s = 0;
        for (int i = 0; i < d.Count; i++) { m += d.Observation(i)[j]; s += d.Observation(i)[j] * d.Observation(i)[j]; }
        m /= d.Count;
        return Math.Sqrt(s / d.Count - m * m);
    }

    [Fact]
    public void AdversarialObservationAttackLowersQ()
    {
        var d = Fixtures.Linear(10);
        // Q(s, a) = sum_j s_j: the attack should move every corrupted coordinate down by eps * std.
        Tensor Q(Tensor s, Tensor a) => s.Sum(1, keepDim: true);
        var (c, rep) = Corruption.Apply(d, new CorruptionConfig(CorruptionTarget.Observations, CorruptionKind.Adversarial, Fraction: 0.2, Scale: 0.1f), q: Q);
        var row = rep.Rows[0];
        for (int j = 0; j < 4; j++)
            Assert.Equal(d.Observation(row)[j] - 0.1 * Std(d, j), c.Observation(row)[j], 3);
        Assert.Throws<ArgumentException>(() => Corruption.Apply(d, new CorruptionConfig(CorruptionTarget.Actions, CorruptionKind.Adversarial)));
    }

    [Fact]
    public void GudaAddsOnlyAcceptedSegments()
    {
        var d = Fixtures.Linear(10, storeNext: true);
        // augmentation: mirror the state; accept only segments whose return beats a typical 5-step return
        float threshold = 5 * d.Rewards.ToArray().Average();
        Segment? Mirror(Segment s, Rng rng) => s with { Observations = s.Observations.Select(v => -v).ToArray() };
        bool Good(Segment s) => s.Rewards.Sum() > threshold;
        var (aug, rep) = Guda.Augment(d, Mirror, Good, segmentLength: 5, proposals: 50, new Rng(1));
        Assert.Equal(50, rep.Accepted + rep.Rejected + rep.Failed);
        Assert.True(rep.Accepted > 0 && rep.Rejected > 0, $"accepted {rep.Accepted}, rejected {rep.Rejected}");
        Assert.Equal(d.Count + 5 * rep.Accepted, aug.Count);
        Assert.Equal(d.EpisodeCount + rep.Accepted, aug.EpisodeCount);
        for (int e = d.EpisodeCount; e < aug.EpisodeCount; e++)
        {
            double ret = 0;
            for (int i = aug.EpisodeStart(e); i < aug.EpisodeStart(e) + aug.EpisodeLength(e); i++) ret += aug.Rewards[i];
            Assert.True(ret > threshold);
        }
        Assert.Contains(aug.Info.Processing, p => p.StartsWith("GuDA"));
    }

    [Fact]
    public void InverseDynamicsLabelsActionFreeTrajectories()
    {
        var labeled = Fixtures.Linear(60, seed: 1, storeNext: true);
        var idm = InverseDynamics.Train(labeled, new InverseDynamicsConfig(Hidden: [64, 64], Steps: 1500, Seed: 2));
        Assert.True(idm.HeldOutTransitions > 0);
        Assert.True(idm.HeldOutMse < 0.01, $"held-out action MSE {idm.HeldOutMse}");
        var unlabeled = Fixtures.Linear(10, seed: 9, storeNext: true);
        var truth = unlabeled.Actions.ToArray();
        var c = unlabeled.CopyColumns();
        Array.Clear(c.Actions);
        var actionFree = unlabeled.With(c, "actions removed");
        var relabeled = idm.Label(actionFree);
        double se = 0;
        for (int i = 0; i < truth.Length; i++) se += Math.Pow(relabeled.Actions[i] - truth[i], 2);
        Assert.True(se / truth.Length < 0.02, $"label MSE {se / truth.Length}");
    }
}
