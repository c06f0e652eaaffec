using System.Text.Json;
using OffRL.Algorithms;
using OffRL.Data;
using OffRL.Nn;
using OffRL.Runs;
using OffRL.Tensors;
using Xunit;

namespace OffRL.Tests.Algorithms;

public class A2prTests
{
    private static readonly Dataset Pendulum = Recipes.Collect(null, "pendulum", 1200, 3);

    /// <summary>
    /// An actor update (the 2nd, and after 300 more the 302nd) against A2PR's losses written out by hand from the networks before it: the value's
    /// target min(r + gamma (1 - d) min Q(s', a'), y) with the updated critics and V before its step, the VAE's
    /// advantage-filtered reconstruction and KL, and the actor's BC term towards the better of the VAE's and the data's
    /// action with its weight mask (1[A_vae >= 0] + 1[A_data > 0]). The VAE's log-std is pinned near e^-99 so that
    /// z is its mean and every quantity is deterministic.
    /// </summary>
    [Fact]
    public void AnActorUpdateComputesTheValueVaeAndAdvantageGuidedLossesOfTheAuthorsCode()
    {
        var overrides = JsonDocument.Parse("""
            {"hidden": [16, 16], "critic_hidden": [16, 16, 16], "value_hidden": [12, 12], "vae_hidden": [20, 20], "policy_noise": 0,
             "vae_log_std_min": -100, "vae_log_std_max": -99, "mask": 0.7, "vae_weight": 1.5, "kl_weight": 0.25, "value_lr": 0.003, "qlearning_rows": true}
            """).RootElement;
        var (agent, data) = Training.Prepare("a2pr", Pendulum, 3, overrides);
        var sampler = new UniformSampler(data, 64, new Rng(8));
        agent.Update(sampler.Sample());   // critic, value and VAE only
        Assert.False(agent.Metrics.ContainsKey("bc_loss"));
        for (int i = 0; i < 300; i++) agent.Update(sampler.Sample());   // until V and Q disagree both ways; the next is an actor update
        var b = sampler.Sample();
        var m = agent.NamedModules.ToDictionary(x => x.Name, x => x.Module);
        var actor = (Mlp)m["actor"]; var value = (Mlp)m["value"]; var vae = (ConditionalVae)m["vae"];
        var critic = (EnsembleMlp)m["critic"]; var criticTarget = (EnsembleMlp)m["critic_target"]; var actorTarget = (Mlp)m["actor_target"];
        int n = b.Size, ad = data.ActionDim;
        Assert.Equal(2 * ad, vae.Latent);   // twice the action width
        var actorBefore = new Mlp(actor.Config, new Rng(0)); actorBefore.CopyParametersFrom(actor);
        var valueBefore = new Mlp(value.Config, new Rng(0)); valueBefore.CopyParametersFrom(value);
        var vaeBefore = new ConditionalVae(data.ObservationDim, ad, 2 * ad, [20, 20], new Rng(0), -100f, -99f); vaeBefore.CopyParametersFrom(vae);
        Tensor a2, y;
        using (Tensor.NoGrad())
        {
            a2 = actorTarget.Forward(b.NextT).Clamp(-1f, 1f);
            y = b.RewT + b.DiscountT * Networks.MinQ(Networks.Q(criticTarget, b.NextT, a2));
        }
        agent.Update(b);

        using var scope = TensorScope.Begin();
        using var noGrad = Tensor.NoGrad();
        var zeros = Tensor.Zeros(n, 2 * ad);
        var v = valueBefore.Forward(b.ObsT).Data;
        var qNext = Networks.Q(critic, b.NextT, a2).Data;   // the critic after its step (the actor step leaves it)
        var qData = Networks.Q(critic, b.ObsT, b.ActT).Data;
        double valueLoss = 0;
        for (int i = 0; i < n; i++)
        {
            double t = Math.Min(b.Rew[i] + b.Discount[i] * Math.Min(qNext[i], qNext[n + i]), y.Data[i]);
            valueLoss += Math.Pow(v[i] - t, 2) / n;
        }
        Assert.Equal(valueLoss, agent.Metrics["value_loss"], 1e-4 * valueLoss);

        var (recon, mean, logStd) = vaeBefore.Forward(b.ObsT, b.ActT, zeros);
        Assert.All(logStd.Data, s => Assert.Equal(-99f, s));
        double reconLoss = 0, kl = 0;
        for (int i = 0; i < n; i++)
            for (int k = 0; k < ad; k++)
                reconLoss += (qData[i] > v[i] ? 1.5 : 0) * Math.Pow(recon.Data[i * ad + k] - b.Act[i * ad + k], 2) / (n * ad);
        for (int j = 0; j < mean.Size; j++) kl += -0.5 * (1 + 2 * -99.0 - mean.Data[j] * mean.Data[j] - Math.Exp(2 * -99.0)) / mean.Size;
        Assert.Equal(kl, agent.Metrics["vae_kl"], 1e-5 * kl);
        Assert.Equal(reconLoss + 0.25 * kl, agent.Metrics["vae_loss"], 1e-4 * (reconLoss + 0.25 * kl));

        // the actor's BC term: the VAE after its step reconstructs pi(s) of the actor before its step
        var pi = actorBefore.Forward(b.ObsT);
        var (reconPi, _, _) = vae.Forward(b.ObsT, pi, zeros);
        var qVae = Networks.Q(critic, b.ObsT, reconPi).Data;
        double bc = 0;
        int tookVae = 0, weighted = 0;
        for (int i = 0; i < n; i++)
        {
            bool useVae = qVae[i] - v[i] >= qData[i] - v[i];
            tookVae += useVae ? 1 : 0;
            double w = 0.7 * ((qVae[i] >= v[i] ? 1 : 0) + (qData[i] > v[i] ? 1 : 0));
            weighted += w > 0 ? 1 : 0;
            for (int k = 0; k < ad; k++)
            {
                float target = useVae ? reconPi.Data[i * ad + k] : b.Act[i * ad + k];
                bc += w * Math.Pow(pi.Data[i * ad + k] - target, 2) / (n * ad);
            }
        }
        Assert.True(tookVae > 0 && tookVae < n && weighted > 0, $"q {qData.Take(n).Average()} v {v.Take(n).Average()} qv {qVae.Take(n).Average()} the batch takes the VAE's action in {tookVae} of {n} rows, weighs {weighted}: both branches must be seen");
        Assert.Equal((float)tookVae / n, agent.Metrics["vae_target_share"], 1e-6);
        Assert.Equal(bc, agent.Metrics["bc_loss"], 1e-4 * bc + 1e-7);
    }

    /// <summary>
    /// The gradient of the BC term reaches the actor through the VAE too (the authors' code leaves a_hat attached): with
    /// every row taking the VAE's action, the actor's gradient is that of mean w (pi - VAE(s, pi))^2, not of w (pi - c)^2
    /// with c a constant.
    /// </summary>
    [Fact]
    public void TheVaeTargetIsNotHeldFixed()
    {
        var rng = new Rng(4);
        var vae = new ConditionalVae(3, 2, 4, [8], rng, -100f, -99f);
        var s = Tensor.Randn(new Shape(5, 3), rng);
        var p = Tensor.Parameter(new Shape(5, 2));
        rng.FillUniform(p.Data, -0.9f, 0.9f);
        vae.SetRequiresGrad(false);
        var zeros = Tensor.Zeros(5, 4);
        float[] attached, detached;
        using (TensorScope.Begin())
        {
            var (r, _, _) = vae.Forward(s, p, zeros);
            (p - Tensor.Where(Enumerable.Repeat(true, 10).ToArray(), r, Tensor.Zeros(5, 2))).Square().Mean().Backward();
            attached = (float[])p.Grad!.Clone();
        }
        p.Grad!.AsSpan().Clear();
        using (TensorScope.Begin())
        {
            var (r, _, _) = vae.Forward(s, p, zeros);
            (p - r.Detach()).Square().Mean().Backward();
            detached = (float[])p.Grad!.Clone();
        }
        double differ = 0;
        for (int i = 0; i < 10; i++) differ = Math.Max(differ, Math.Abs(attached[i] - detached[i]));
        Assert.True(differ > 1e-4, $"the gradient through the VAE is missing (largest difference {differ})");
    }

    /// <summary>The preset gives each dataset the authors' command line: alpha, vae_weight, mask and the discount.</summary>
    [Fact]
    public void ThePresetCarriesTheAuthorsPerDatasetCommands()
    {
        var spec = AlgorithmRegistry.Find("a2pr");
        A2prConfig For(string dataset) => (A2prConfig)AlgorithmRegistry.Config(spec, Preset.Resolve(spec, "authors", dataset).Values);
        var hopper = For("hopper-medium");
        Assert.Equal((2.5f, 1.0f, 0.4f, 0.995f), (hopper.Alpha, hopper.VaeWeight, hopper.Mask, hopper.Gamma));
        var cheetah = For("halfcheetah-medium-replay");
        Assert.Equal((40f, 1.5f, 0.8f, 0.995f), (cheetah.Alpha, cheetah.VaeWeight, cheetah.Mask, cheetah.Gamma));
        Assert.Equal([256, 256, 256, 256], cheetah.CriticHidden);
        Assert.Equal([256, 256, 256], cheetah.Hidden);
    }

    [Theory]
    [InlineData("""{"vae_log_std_min": 2, "vae_log_std_max": 1}""", "vae_log_std_min")]
    [InlineData("""{"mask": -1}""", "mask")]
    [InlineData("""{"vae_latent": 0}""", "vae_latent")]
    [InlineData("""{"critic_hidden": []}""", "critic_hidden")]
    public void BadSettingsAreRefusedByName(string json, string field)
    {
        var e = Assert.ThrowsAny<ArgumentException>(() => AlgorithmRegistry.Create("a2pr", 3, Box.Uniform(2, -1f, 1f), 0, JsonDocument.Parse(json).RootElement));
        Assert.Contains(field, e.Message);
    }
}
