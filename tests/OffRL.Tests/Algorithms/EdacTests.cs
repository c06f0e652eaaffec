using OffRL.Algorithms;
using OffRL.Data;
using OffRL.Nn;
using OffRL.Tensors;
using Xunit;

namespace OffRL.Tests.Algorithms;

public class EdacTests
{
    private const int N = 3, B = 4, Obs = 2, Act = 2;

    private static (EnsembleMlp Critic, float[] S, float[] A) Problem()
    {
        var rng = new Rng(5);
        // tanh: the action gradients change smoothly with the weights, so finite differences can check the second derivative
        var critic = new EnsembleMlp(N, new MlpConfig(Obs + Act, [8, 8], 1, Activation.Tanh), rng);
        var s = new float[B * Obs]; var a = new float[B * Act];
        rng.FillNormal(s); rng.FillUniform(a, -0.9f, 0.9f);
        return (critic, s, a);
    }

    private static double Q(EnsembleMlp critic, int member, float[] s, float[] a, int row)
    {
        using var scope = TensorScope.Begin();
        using var _ = Tensor.NoGrad();
        var q = Networks.Q(critic, Tensor.FromArray(s.AsSpan(row * Obs, Obs).ToArray(), 1, Obs), Tensor.FromArray(a.AsSpan(row * Act, Act).ToArray(), 1, Act));
        return q.Data[member];
    }

    /// <summary>CORL's edac.py term computed directly: per row, each member's action gradient (central differences), normalized, summed over ordered pairs i != j, averaged over rows, over N - 1.</summary>
    private static double DirectDiversity(EnsembleMlp critic, float[] s, float[] a)
    {
        double total = 0;
        for (int row = 0; row < B; row++)
        {
            var g = new double[N, Act];
            for (int j = 0; j < N; j++)
            {
                double norm = 0;
                for (int k = 0; k < Act; k++)
                {
                    var up = (float[])a.Clone(); var down = (float[])a.Clone();
                    up[row * Act + k] += 1e-2f; down[row * Act + k] -= 1e-2f;
                    g[j, k] = (Q(critic, j, s, up, row) - Q(critic, j, s, down, row)) / 2e-2;
                    norm += g[j, k] * g[j, k];
                }
                for (int k = 0; k < Act; k++) g[j, k] /= Math.Sqrt(norm) + 1e-10;
            }
            for (int i = 0; i < N; i++)
                for (int j = 0; j < N; j++)
                    if (i != j) for (int k = 0; k < Act; k++) total += g[i, k] * g[j, k];
        }
        return total / B / (N - 1);
    }

    private static float Diversity(EnsembleMlp critic, float[] s, float[] a)
    {
        using var scope = TensorScope.Begin();
        return Edac.Diversity(critic, Tensor.FromArray(s, B, Obs), Tensor.FromArray(a, B, Act)).Item();
    }

    [Fact]
    public void TheDiversityTermIsThePairwiseSumOfNormalizedActionGradients()
    {
        var (critic, s, a) = Problem();
        Assert.Equal(DirectDiversity(critic, s, a), Diversity(critic, s, a), 2e-3);
    }

    [Fact]
    public void TheDiversityTermsGradientReachesTheCriticsThroughTheSecondDerivative()
    {
        var (critic, s, a) = Problem();
        var w = critic.Layers[0].Weight;
        foreach (var p in critic.Parameters()) p.Grad = null;
        using (TensorScope.Begin())
        {
            var d = Edac.Diversity(critic, Tensor.FromArray(s, B, Obs), Tensor.FromArray(a, B, Act));
            d.Backward();
        }
        Assert.NotNull(w.Grad);
        foreach (int i in new[] { 0, 5, 17, w.Size - 1 })
        {
            float keep = w.Data[i];
            w.Data[i] = keep + 1e-3f; double up = Diversity(critic, s, a);
            w.Data[i] = keep - 1e-3f; double down = Diversity(critic, s, a);
            w.Data[i] = keep;
            double fd = (up - down) / 2e-3;
            Assert.True(Math.Abs(fd - w.Grad![i]) <= 2e-2 * (1 + Math.Abs(fd)), $"weight {i}: autograd {w.Grad![i]}, finite difference {fd}");
        }
    }

    [Fact]
    public void AMemberWithZeroActionGradientsLeavesTheTermAndItsGradientsFinite()
    {
        // member 0's output weights 0: its action gradient is the zero vector, whose norm's gradient torch takes as 0
        var (critic, s, a) = Problem();
        var last = critic.Layers[^1].Weight;
        Array.Clear(last.Data, 0, last.Size / N);
        foreach (var p in critic.Parameters()) p.Grad = null;
        using (TensorScope.Begin())
        {
            var d = Edac.Diversity(critic, Tensor.FromArray(s, B, Obs), Tensor.FromArray(a, B, Act));
            Assert.True(float.IsFinite(d.Item()));
            d.Backward();
        }
        foreach (var p in critic.Parameters()) Assert.All(p.Grad ?? [], g => Assert.True(float.IsFinite(g)));
        Assert.NotNull(critic.Layers[0].Weight.Grad);
        // the zero member adds nothing to the pairs: the term is the other two members' over N - 1
        Assert.Equal(DirectDiversity(critic, s, a), Diversity(critic, s, a), 2e-3);
    }

    /// <summary>
    /// SAC-N is SAC with its own fields: with those at SAC's values (two critics, default inits, exact log-density, SAC's
    /// order) `sac-n` makes the updates `sac` makes, bit for bit; EDAC with eta 0 is SAC-N.
    /// </summary>
    [Fact]
    public void SacNReducesToSacAndEdacWithEtaZeroToSacN()
    {
        const string sacFields = """{"num_critics": 2, "hidden": [256, 256], "temperature_first": false, "hidden_bias": null, "critic_output_uniform": null, "actor_output_uniform": null, "squash_epsilon": null, "critic_weights_by_outputs": false}""";
        float[] Run(string algo, string? overrides)
        {
            var rng = new Rng(9);
            var batch = new TransitionBatch(32, 3, 2);
            var json = overrides is null ? (System.Text.Json.JsonElement?)null : System.Text.Json.JsonDocument.Parse(overrides).RootElement;
            var agent = AlgorithmRegistry.Create(algo, 3, Box.Uniform(2, -1f, 1f), 4, json);
            for (int i = 0; i < 10; i++)
            {
                rng.FillNormal(batch.Obs); rng.FillUniform(batch.Act, -1f, 1f); rng.FillNormal(batch.Rew); rng.FillNormal(batch.Next);
                Array.Fill(batch.Discount, 0.99f);
                agent.Update(batch);
            }
            var outputs = new List<float>();
            var action = new float[2];
            agent.Act([0.3f, -1.2f, 0.5f], action, deterministic: true);
            outputs.AddRange(action);
            foreach (var key in new[] { "critic_loss", "actor_loss", "alpha" }) outputs.Add(agent.Metrics[key]);
            return outputs.ToArray();
        }
        Assert.Equal(Run("sac", """{"normalize_observations": false}"""), Run("sac-n", sacFields));
        Assert.Equal(Run("sac-n", null), Run("edac", """{"eta": 0}"""));
        Assert.NotEqual(Run("sac-n", null), Run("edac", null));
    }
}

public class EdacInitTests
{
    /// <summary>The EDAC paper's init as CORL's scripts draw it reaches the networks: every config field of it shows in the parameters.</summary>
    [Fact]
    public void EdacsInitFieldsShapeTheNetworks()
    {
        var agent = AlgorithmRegistry.Create("edac", 17, Box.Uniform(6, -1f, 1f), 3);
        var actor = (Mlp)agent.NamedModules.Single(m => m.Name == "actor").Module;
        var critic = (EnsembleMlp)agent.NamedModules.Single(m => m.Name == "critic").Module;
        foreach (var layer in actor.Layers.Take(actor.Layers.Count - 1)) Assert.All(layer.Bias!.Data, b => Assert.Equal(0.1f, b));   // hidden_bias
        foreach (var layer in critic.Layers.Take(critic.Layers.Count - 1)) Assert.All(layer.Bias.Data, b => Assert.Equal(0.1f, b));
        Assert.All(actor.Layers[^1].Weight.Data, w => Assert.InRange(w, -1e-3f, 1e-3f));                                          // actor_output_uniform
        Assert.All(critic.Layers[^1].Weight.Data, w => Assert.InRange(w, -3e-3f, 3e-3f));                                         // critic_output_uniform
        Assert.All(critic.Layers[^1].Bias.Data, b => Assert.InRange(b, -3e-3f, 3e-3f));
        // critic_weights_by_outputs: the first layer (23 -> 256) drawn within 1/sqrt(256), and spread over it
        var first = critic.Layers[0].Weight.Data;
        Assert.All(first, w => Assert.InRange(w, -1f / 16, 1f / 16));
        Assert.True(first.Max() > 0.9f / 16 && first.Min() < -0.9f / 16);
        var plain = (EnsembleMlp)AlgorithmRegistry.Create("edac", 17, Box.Uniform(6, -1f, 1f), 3, System.Text.Json.JsonDocument.Parse("""{"critic_weights_by_outputs": false}""").RootElement)
            .NamedModules.Single(m => m.Name == "critic").Module;
        Assert.True(plain.Layers[0].Weight.Data.Max() > 1.5f / 16);   // nn.Linear's 1/sqrt(23) = 0.21
    }

    /// <summary>squash_epsilon: log(1 - tanh(u)^2 + eps) instead of the exact form, visibly so where tanh saturates.</summary>
    [Fact]
    public void TheSquashEpsilonBoundsTheLogDensityCorrection()
    {
        using var scope = TensorScope.Begin();
        var mean = Tensor.FromArray([12f], 1, 1);
        var logStd = Tensor.FromArray([-5f], 1, 1);
        var exact = new TanhGaussian(mean, logStd).RSample(new Rng(1)).LogProb.Item();
        var eps = new TanhGaussian(mean, logStd, 1e-6f).RSample(new Rng(1)).LogProb.Item();
        // at u ~ 12, log(1 - tanh^2) ~ -22.6 exactly, but log(1e-6 + ~0) ~ -13.8 with the epsilon
        Assert.InRange(exact - eps, 8f, 9.5f);
    }
}
