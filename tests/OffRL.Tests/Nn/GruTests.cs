using System.Text.Json;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using OffRL.Algorithms;
using OffRL.Data;
using OffRL.Nn;
using OffRL.Runs;
using OffRL.Tensors;
using Xunit;
using Tensor = OffRL.Tensors.Tensor;

namespace OffRL.Tests.Nn;

/// <summary>The GRU history encoder (issue 36, item 6): PyTorch's nn.GRU equations, for one network and for an ensemble's members.</summary>
public class GruTests
{
    private static float Sigmoid(float v) => 1f / (1f + MathF.Exp(-v));

    /// <summary>h after the steps, by PyTorch's equations (gates r, z, n in that order), with weight(g, j) = W[g, j] for input j.</summary>
    private static float[] ByHand(float[] x, int steps, int width, int hidden, Func<int, int, float> wIh, Func<int, int, float> wHh, Func<int, float> bIh, Func<int, float> bHh)
    {
        var h = new float[hidden];
        for (int t = 0; t < steps; t++)
        {
            float Gi(int g) { float s = bIh(g); for (int j = 0; j < width; j++) s += wIh(g, j) * x[t * width + j]; return s; }
            float Gh(int g) { float s = bHh(g); for (int j = 0; j < hidden; j++) s += wHh(g, j) * h[j]; return s; }
            var next = new float[hidden];
            for (int u = 0; u < hidden; u++)
            {
                float r = Sigmoid(Gi(u) + Gh(u)), z = Sigmoid(Gi(hidden + u) + Gh(hidden + u));
                float n = MathF.Tanh(Gi(2 * hidden + u) + r * Gh(2 * hidden + u));
                next[u] = (1 - z) * n + z * h[u];
            }
            h = next;
        }
        return h;
    }

    [Fact]
    public void OneGruComputesPyTorchsEquationsAndPassesTheRestOfTheInputOn()
    {
        var rng = new Rng(3);
        var gru = new Gru(3, 5, rng);
        var seq = new SequenceInput(4, 3, 5);
        var x = Tensor.Randn(new Shape(6, 14), rng);   // 4 x 3 history, then 2 more values
        using var scope = TensorScope.Begin();
        var y = gru.Encode(x, seq);
        Assert.Equal(new Shape(6, 7), y.Shape);
        for (int b = 0; b < 6; b++)
        {
            var row = x.Data.AsSpan(b * 14, 14).ToArray();
            var h = ByHand(row, 4, 3, 5, (g, j) => gru.WeightIh.Data[g * 3 + j], (g, j) => gru.WeightHh.Data[g * 5 + j], g => gru.BiasIh.Data[g], g => gru.BiasHh.Data[g]);
            for (int u = 0; u < 5; u++) Assert.Equal(h[u], y.Data[b * 7 + u], 5);
            Assert.Equal(row[12], y.Data[b * 7 + 5]);
            Assert.Equal(row[13], y.Data[b * 7 + 6]);
        }
    }

    [Fact]
    public void EachMemberOfAnEnsembleIsItsOwnGru()
    {
        var rng = new Rng(4);
        const int e = 3, width = 2, hidden = 4, g3 = 3 * hidden;
        var gru = new Gru(width, hidden, rng, members: e);
        var seq = new SequenceInput(3, width, hidden);
        var x = Tensor.Randn(new Shape(5, 7), rng);   // shared by the members: 3 x 2 history, then 1 value
        using var scope = TensorScope.Begin();
        var y = gru.Encode(x, seq);
        Assert.Equal(new Shape(e, 5, hidden + 1), y.Shape);
        for (int m = 0; m < e; m++)
            for (int b = 0; b < 5; b++)
            {
                var row = x.Data.AsSpan(b * 7, 7).ToArray();
                // ensemble layout: W_ih [E, in, 3H], W_hh [E, H, 3H], b [E, 3H]
                var h = ByHand(row, 3, width, hidden, (g, j) => gru.WeightIh.Data[(m * width + j) * g3 + g], (g, j) => gru.WeightHh.Data[(m * hidden + j) * g3 + g],
                    g => gru.BiasIh.Data[m * g3 + g], g => gru.BiasHh.Data[m * g3 + g]);
                int o = (m * 5 + b) * (hidden + 1);
                for (int u = 0; u < hidden; u++) Assert.Equal(h[u], y.Data[o + u], 5);
                Assert.Equal(row[6], y.Data[o + hidden]);
            }
    }

    [Fact]
    public void GradientsMatchFiniteDifferences()
    {
        var rng = new Rng(5);
        var gru = new Gru(2, 3, rng);
        var ens = new Gru(2, 3, rng, members: 2);
        var x = GradCheck.Input(rng, 4, 7);
        var seq = new SequenceInput(3, 2, 3);
        GradCheck.Check(() => gru.Encode(x, seq).Tanh(), 1e-2f, 2e-2, x, gru.WeightIh, gru.WeightHh, gru.BiasIh, gru.BiasHh);
        GradCheck.Check(() => ens.Encode(x, seq).Tanh(), 1e-2f, 2e-2, x, ens.WeightIh, ens.WeightHh, ens.BiasIh, ens.BiasHh);
    }

    /// <summary>TD3+BC's and IQL's actors with GRU encoders export to ONNX and act there as in OffRL.</summary>
    [Theory]
    [InlineData("td3bc")]
    [InlineData("iql")]
    public void AGruActorExportsToOnnx(string algo)
    {
        const int obs = 8, act = 2;
        var rng = new Rng(6);
        var agent = AlgorithmRegistry.Create(algo, obs, Box.Uniform(act, -1f, 1f), 1,
            JsonDocument.Parse("""{"history": 2, "history_encoder": "gru", "history_hidden": 6, "hidden": [16, 16]}""").RootElement);
        var actor = agent.NamedModules.First(m => m.Name == "actor").Module;
        Assert.Contains(actor.NamedParameters(), p => p.Name.Contains("gru.weight_hh"));
        var b = new TransitionBatch(32, obs, act);
        for (int s = 0; s < 4; s++)
        {
            rng.FillNormal(b.Obs); rng.FillNormal(b.Next); rng.FillNormal(b.Rew); rng.FillUniform(b.Act, -1f, 1f);
            Array.Fill(b.Discount, 0.99f);
            agent.Update(b);
        }
        var x = new float[50 * obs];
        rng.FillNormal(x);
        using var session = new InferenceSession(PolicyExport.Onnx(agent));
        using var results = session.Run([NamedOnnxValue.CreateFromTensor("observation", new DenseTensor<float>(x, [50, obs]))]);
        var got = results.First(r => r.Name == "action").AsTensor<float>();
        var a = new float[act];
        float worst = 0;
        for (int i = 0; i < 50; i++)
        {
            agent.Act(x.AsSpan(i * obs, obs), a, deterministic: true);
            for (int j = 0; j < act; j++) worst = MathF.Max(worst, MathF.Abs(a[j] - got[i, j]));
        }
        Assert.True(worst < 1e-5f, $"{algo}: onnxruntime and OffRL differ by {worst}");
    }

    [Theory]
    [InlineData("cql", """{"history_encoder": "gru"}""", "history_encoder")]
    [InlineData("td3bc", """{"history_hidden": 32}""", "history_hidden")]
    [InlineData("td3bc", """{"history_encoder": "lstm"}""", "history_encoder")]
    public void ASettingThatWouldReachNothingIsRefusedByName(string algo, string json, string field)
    {
        var e = Assert.ThrowsAny<Exception>(() => AlgorithmRegistry.Create(algo, 6, Box.Uniform(1, -1f, 1f), 0, JsonDocument.Parse(json).RootElement));
        Assert.Contains(field, e.Message);
    }
}
