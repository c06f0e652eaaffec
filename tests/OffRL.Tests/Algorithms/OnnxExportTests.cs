using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using OffRL.Algorithms;
using OffRL.Data;
using OffRL.Nn;
using OffRL.Tensors;
using Xunit;
using OffRL.Runs;
using Tensor = OffRL.Tensors.Tensor;

namespace OffRL.Tests.Algorithms;

/// <summary>Policies exported as ONNX (issue 24): loaded in onnxruntime, they act as OffRL's own forward does.</summary>
public class OnnxExportTests
{
    private const int Obs = 7, Act = 3, Rows = 1000;

    private static Preprocessing Fitted(Rng rng)
    {
        var mean = new float[Obs]; var std = new float[Obs];
        rng.FillNormal(mean);
        for (int i = 0; i < Obs; i++) std[i] = 0.5f + rng.NextFloat();
        return new Preprocessing { ObservationMean = mean, ObservationStd = std, ActionLow = [-2f, -1f, 0f], ActionHigh = [2f, 1f, 3f] };
    }

    /// <summary>A few updates on random data, so weights and biases are not their initial values.</summary>
    private static void Train(Agent agent, Rng rng, bool discrete)
    {
        var b = new TransitionBatch(64, Obs, discrete ? 1 : Act);
        if (!discrete)   // the data behind the batch's rows (all row 0), for methods that read it (ReBRAC's next actions)
            agent.UseDataset(new Dataset(new DatasetColumns { Observations = new float[2 * Obs], Actions = new float[2 * Act], Rewards = new float[2], Terminals = [false, true], Timeouts = [false, false] },
                Box.Unbounded(Obs), Box.Uniform(Act, -1f, 1f)));
        for (int s = 0; s < 5; s++)
        {
            rng.FillNormal(b.Obs); rng.FillNormal(b.Next); rng.FillNormal(b.Rew);
            if (discrete) for (int i = 0; i < b.Act.Length; i++) b.Act[i] = rng.NextInt(4);
            else rng.FillUniform(b.Act, -1f, 1f);
            Array.Fill(b.Discount, 0.99f);
            agent.Update(b);
        }
    }

    private static float[] Observations(Rng rng)
    {
        var x = new float[Rows * Obs];
        rng.FillNormal(x);
        for (int i = 0; i < x.Length; i++) x[i] *= 3f;
        return x;
    }

    [Theory]
    [InlineData("td3bc")]
    [InlineData("bc")]
    [InlineData("iql")]
    [InlineData("awac")]
    [InlineData("sac")]
    [InlineData("cql")]
    [InlineData("rebrac")]
    [InlineData("a2pr")]
    [InlineData("famo2o")]
    public void ContinuousPolicyMatchesOffRLForward(string algo)
    {
        var rng = new Rng(11);
        var agent = AlgorithmRegistry.Create(algo, Obs, Box.Uniform(Act, -1f, 1f), 3);
        agent.Preprocessing = Fitted(rng);
        Train(agent, rng, discrete: false);
        var x = Observations(rng);
        using var session = new InferenceSession(PolicyExport.Onnx(agent));
        using var results = session.Run([NamedOnnxValue.CreateFromTensor("observation", new DenseTensor<float>(x, [Rows, Obs]))]);
        var got = results.First(r => r.Name == "action").AsTensor<float>();
        Assert.Equal([Rows, Act], got.Dimensions.ToArray());
        var a = new float[Act];
        float worst = 0;
        for (int i = 0; i < Rows; i++)
        {
            agent.Act(x.AsSpan(i * Obs, Obs), a, deterministic: true);
            for (int j = 0; j < Act; j++) worst = MathF.Max(worst, MathF.Abs(a[j] - got[i, j]));
        }
        Assert.True(worst < 1e-5f, $"{algo}: largest difference between onnxruntime and OffRL is {worst}");
    }

    /// <summary>PPO's continuous policy (its Gaussian mean clipped to [-1, 1]) behind running statistics that clip the normalized observations.</summary>
    [Fact]
    public void PpoPolicyWithClippedObservationsMatchesOffRLForward()
    {
        var rng = new Rng(13);
        var agent = AlgorithmRegistry.Create("ppo-continuous", Obs, Box.Uniform(Act, -1f, 1f), 3);
        agent.Preprocessing = Fitted(rng) with { ObservationClip = 1.5f };
        var output = agent.NamedModules.Single(m => m.Name == "actor").Module.NamedParameters().Single(p => p.Name == "layers.2.weight").Value;
        for (int i = 0; i < output.Data.Length; i++) output.Data[i] *= 150f;   // the 0.01-gain output layer, scaled so actions spread over [-1, 1] and beyond
        var x = Observations(rng);
        using var session = new InferenceSession(PolicyExport.Onnx(agent));
        using var results = session.Run([NamedOnnxValue.CreateFromTensor("observation", new DenseTensor<float>(x, [Rows, Obs]))]);
        var got = results.First(r => r.Name == "action").AsTensor<float>();
        var a = new float[Act];
        float worst = 0;
        int clipped = 0;
        for (int i = 0; i < Rows; i++)
        {
            agent.Act(x.AsSpan(i * Obs, Obs), a, deterministic: true);
            for (int j = 0; j < Act; j++) worst = MathF.Max(worst, MathF.Abs(a[j] - got[i, j]));
            if (a[0] == 2f || a[0] == -2f) clipped++;
        }
        Assert.True(worst < 1e-5f, $"ppo-continuous: largest difference between onnxruntime and OffRL is {worst}");
        Assert.InRange(clipped, 1, Rows - 1);   // some actions at the bound, some inside
    }

    [Fact]
    public void DiscretePolicyExportsArgmax()
    {
        var rng = new Rng(5);
        var agent = AlgorithmRegistry.Create("dqn", Obs, new Discrete(4), 1);
        agent.Preprocessing = Fitted(rng) with { ActionLow = null, ActionHigh = null };
        Train(agent, rng, discrete: true);
        var x = Observations(rng);
        using var session = new InferenceSession(PolicyExport.Onnx(agent));
        using var results = session.Run([NamedOnnxValue.CreateFromTensor("observation", new DenseTensor<float>(x, [Rows, Obs]))]);
        var got = results.First(r => r.Name == "action").AsTensor<long>();
        var a = new float[1];
        for (int i = 0; i < Rows; i++)
        {
            agent.Act(x.AsSpan(i * Obs, Obs), a, deterministic: true);
            Assert.Equal((long)a[0], got[i]);
        }
    }

    [Fact]
    public void ActorWithoutAnOnnxOperatorIsNamed()
    {
        var agent = new GeluActor();
        var ex = Assert.Throws<ExportException>(() => PolicyExport.Onnx(agent));
        Assert.Contains("Gelu", ex.Message);
    }

    private sealed class GeluActor : Agent
    {
        private readonly Linear _layer;
        public GeluActor() : base(OnnxExportTests.Obs, Box.Uniform(OnnxExportTests.Act, -1f, 1f), new BcConfig(), 0) =>
            _layer = new Linear(OnnxExportTests.Obs, OnnxExportTests.Act, Rng);
        protected override string DefaultName => "gelu";
        protected override void UpdateCore(TransitionBatch batch) { }
        protected override void ActCore(Tensor s, Span<float> action, bool deterministic) => PolicyOutput(s).Data.AsSpan(0, OnnxExportTests.Act).CopyTo(action);
        protected internal override Tensor PolicyOutput(Tensor s) => _layer.Forward(s).Apply(Activation.Gelu);
        protected override IEnumerable<(string, Module)> Modules() => [("actor", _layer)];
    }
}
