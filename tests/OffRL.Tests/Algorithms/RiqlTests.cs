using System.Text.Json;
using OffRL.Algorithms;
using OffRL.Data;
using OffRL.Nn;
using OffRL.Tensors;
using Xunit;

namespace OffRL.Tests.Algorithms;

public class RiqlTests
{
    private static JsonElement J(string json) => JsonDocument.Parse(json).RootElement;

    private static TransitionBatch Batch(int seed)
    {
        var rng = new Rng((ulong)seed);
        var b = new TransitionBatch(64, 3, 2);
        rng.FillNormal(b.Obs); rng.FillNormal(b.Next); rng.FillUniform(b.Act, -1f, 1f);
        rng.FillUniform(b.Rew, -0.01f, 0.01f);   // small targets: every TD error stays on the Huber loss's quadratic side
        Array.Fill(b.Discount, 0.99f);
        return b;
    }

    private static float[] Run(string algo, string overrides)
    {
        var agent = AlgorithmRegistry.Create(algo, 3, Box.Uniform(2, -1f, 1f), 4, J(overrides));
        for (int i = 0; i < 5; i++) agent.Update(Batch(i));
        var a = new float[2];
        agent.Act([0.3f, -0.1f, 0.7f], a, deterministic: true);
        return [.. a, agent.Metrics["critic_loss"], agent.Metrics["value_loss"], agent.Metrics["actor_loss"]];
    }

    /// <summary>
    /// RIQL with IQL's critics (their number, IQL's init), the 0-quantile (their minimum) and a Huber threshold delta =
    /// 1 / (2 K) (0.5 u^2 / delta averaged over K critics = IQL's squared errors summed over them, while |u| &lt; delta)
    /// makes IQL's deterministic updates. One critic, delta 1/2: the TD errors of these networks stay below it.
    /// </summary>
    [Fact]
    public void WithIqlsCriticsTheMinimumAndAQuadraticHuberRiqlIsIql()
    {
        const string shared = "\"hidden\": [16, 16], \"deterministic_actor\": true, \"cosine_actor_lr_steps\": 1000, \"num_critics\": 1";
        var iql = Run("iql", $"{{{shared}}}");
        var riql = Run("riql", $"{{{shared}, \"quantile\": 0, \"huber_sigma\": 1.41421356, \"critic_hidden_bias\": null, \"critic_output_uniform\": null, \"critic_weights_by_outputs\": false}}");
        for (int i = 0; i < iql.Length; i++) Assert.Equal(iql[i], riql[i], 1e-5f * (1 + Math.Abs(iql[i])));
        Assert.NotEqual(iql[0], Run("riql", $"{{{shared}}}")[0]);   // RIQL's own settings differ
    }

    [Fact]
    public void TheHuberLossIsQuadraticWithinTheThresholdAndLinearBeyond()
    {
        using var scope = TensorScope.Begin();
        var u = Tensor.FromArray([0f, 0.05f, -0.1f, 0.5f, -3f], 5);
        var loss = Riql.Huber(u, 0.1f).Data;
        Assert.Equal([0f, 0.5f * 0.0025f / 0.1f, 0.5f * 0.01f / 0.1f, 0.5f - 0.05f, 3f - 0.05f], loss.Take(5).ToArray(), new FloatTolerance(1e-6f));
    }

    /// <summary>The value's target is torch.quantile over the critics: with 5 critics and q = 0.25, the second smallest.</summary>
    [Fact]
    public void TheValueIsFittedToTheQuantileOfTheTargetCritics()
    {
        var agent = (Riql)AlgorithmRegistry.Create("riql", 3, Box.Uniform(2, -1f, 1f), 1, J("""{"hidden": [8]}"""));
        var critic = (EnsembleMlp)agent.NamedModules.Single(m => m.Name == "critic_target").Module;
        var b = Batch(9);
        using var scope = TensorScope.Begin();
        var q = Networks.Q(critic, b.ObsT, b.ActT);
        var target = typeof(Riql).GetMethod("ValueTarget", System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Instance)!
            .Invoke(agent, [q]) as Tensor;
        for (int i = 0; i < b.Size; i++)
        {
            var members = Enumerable.Range(0, 5).Select(e => q.Data[e * b.Size + i]).OrderBy(v => v).ToArray();
            Assert.Equal(members[1], target!.Data[i]);
        }
    }

    [Fact]
    public void ObservationStatisticsCanSpanTheNextObservations()
    {
        // observations 0, 1, 2 then 3 (the last next observation): over both, mean 1.5 (the observations alone: 1)
        var d = new Dataset(new DatasetColumns
        {
            Observations = [0f, 1f, 2f], NextObservations = [1f, 2f, 3f], Actions = new float[3], Rewards = new float[3],
            Terminals = [false, false, false], Timeouts = [false, false, true],
        }, Box.Unbounded(1), Box.Uniform(1, -1f, 1f));
        Assert.Equal(1f, Preprocessing.Fit(d, new PreprocessingConfig(NormalizeObservations: true)).ObservationMean![0], 6);
        Assert.Equal(1.5f, Preprocessing.Fit(d, new PreprocessingConfig(NormalizeObservations: true, StatsWithNextObservations: true)).ObservationMean![0], 6);
        Assert.True(new RiqlConfig().StatsWithNextObservations);
    }

    [Fact]
    public void AQuantileOutsideZeroToOneIsRefusedNamingTheField()
    {
        var e = Assert.Throws<ArgumentException>(() => AlgorithmRegistry.Create("riql", 3, Box.Uniform(2, -1f, 1f), 0, J("""{"quantile": 1.5}""")));
        Assert.Contains("quantile", e.Message);
        e = Assert.Throws<ArgumentException>(() => AlgorithmRegistry.Create("riql", 3, Box.Uniform(2, -1f, 1f), 0, J("""{"target_min": 5, "target_max": 1}""")));
        Assert.Contains("target_min", e.Message);
    }

    private sealed class FloatTolerance(float tol) : IEqualityComparer<float>
    {
        public bool Equals(float a, float b) => Math.Abs(a - b) <= tol;
        public int GetHashCode(float v) => 0;
    }
}
