using System.Text.Json;
using OffRL.Algorithms;
using OffRL.Data;
using OffRL.Envs;
using OffRL.Runs;
using OffRL.Tensors;
using Xunit;

namespace OffRL.Tests.Algorithms;

/// <summary>H2O (issue 38, item 7): real data, a simulator with a dynamics gap, discriminators that weigh the simulated rows.</summary>
public class H2oTests
{
    private static JsonElement Json(string text) => JsonDocument.Parse(text).RootElement;

    private static readonly JsonElement Small = Json("""{"hidden": [32, 32], "discriminator_hidden": [32, 32], "batch_size": 64, "discriminator_batch": 64, "discriminator_lr": 1e-3}""");

    /// <summary>
    /// Random-action transitions of pendulum as the real data, and of pendulum (the same dynamics) or pendulum with
    /// gravity x3 as the simulator's: after 400 updates the discriminators weigh the gapped simulator's rows far below
    /// the faithful one's (the TD weight P_real / P_sim, clipped at 1; mean over the last 100 updates, measured
    /// 2026-12-07: 0.889 faithful, 0.329 gravity x3; discriminator_lr 1e-3 to learn in a short test).
    /// </summary>
    [Fact]
    public void TheDiscriminatorsWeighASimulatorWithADynamicsGapBelowAFaithfulOne()
    {
        var real = Recipes.Collect(null, "pendulum", 2000, seed: 1);
        float Weight(string simEnv)
        {
            var agent = (H2o)AlgorithmRegistry.Create("h2o", 3, Box.Uniform(1, -2f, 2f), 3, Small);
            var sim = new DatasetSource(Recipes.Collect(null, simEnv, 2000, seed: 2));
            agent.UseDataset(real);
            agent.UseOnlineBuffer(sim);
            var batches = new MixedSampler(new DatasetSource(real), sim, 64, 0.5, new Rng(4));
            float sum = 0;
            for (int u = 0; u < 400; u++)
            {
                agent.Update(batches.Sample());
                if (u >= 300) sum += agent.Metrics["sim_td_weight"];
            }
            return sum / 100;
        }
        float faithful = Weight("pendulum"), gapped = Weight("pendulum:g=3");
        Assert.True(faithful > 0.75f && gapped < 0.6f * faithful, $"mean TD weight of the simulated rows: faithful simulator {faithful:F3}, gravity x3 {gapped:F3}");
    }

    [Fact]
    public void WithoutSimulatedRowsH2oSaysWhatItNeeds()
    {
        var agent = AlgorithmRegistry.Create("h2o", 3, Box.Uniform(1, -2f, 2f), 0, Small);
        var data = Recipes.Collect(null, "pendulum", 300, seed: 1);
        agent.UseDataset(data);
        var e = Assert.Throws<InvalidOperationException>(() => agent.Update(new UniformSampler(data, 64, new Rng(1)).Sample()));
        Assert.Contains("--sim-env", e.Message);
    }

    /// <summary>
    /// A run acts in the simulator and is evaluated in the real environment, in rounds: rollout_steps simulator steps,
    /// then as many updates (a last, unfinished round makes none); the simulated buffer is sized from the real data.
    /// </summary>
    [Fact]
    public void ARunCollectsInRoundsInTheSimulatorAndIsEvaluatedInTheRealEnvironment()
    {
        var real = Recipes.Collect(null, "pendulum", 400, seed: 1);
        var (agent, res) = Training.Hybrid("h2o", real, "pendulum", new TrainerConfig(Steps: 120, EvalEvery: 60, EvalEpisodes: 1, Seed: 2, Progress: false),
            Json("""{"hidden": [16, 16], "discriminator_hidden": [16, 16], "batch_size": 32, "discriminator_batch": 32, "rollout_steps": 50}"""), simEnv: "pendulum:g=2");
        Assert.Equal(100, agent.Updates);                  // rounds end at steps 50 and 100
        Assert.Equal([60L, 120L], res.Evaluations.Select(e => e.Step));
        Assert.True(agent.Metrics.ContainsKey("gap_penalty") && agent.Metrics.ContainsKey("discriminator_loss"));
        Assert.Equal(4000, ((IHybridSchedule)agent).OnlineCapacity(400));   // 10 times the real rows
        Assert.Contains("pendulum:g=2", Assert.Throws<ArgumentException>(() =>
            Training.Hybrid("h2o", real, "pendulum", new TrainerConfig(Steps: 10, Progress: false), simEnv: "pendulum:g=2:l=1")).Message);
    }

    /// <summary>A policy trained in a simulator is judged in the real task (eval_env): the same training, other evaluations.</summary>
    [Fact]
    public void TheEvaluationEnvironmentMayBeAnotherThanTheTrainingOne()
    {
        var tc = new TrainerConfig(Steps: 40, EvalEvery: 40, EvalEpisodes: 2, Seed: 3, Progress: false, StartSteps: 20);
        var small = Json("""{"hidden": [16, 16], "batch_size": 16}""");
        var (inSim, simRes) = Training.Online("sac", "pendulum:g=2", tc, small);
        var (inReal, realRes) = Training.Online("sac", "pendulum:g=2", tc with { EvalEnv = "pendulum" }, small);
        float[] a = new float[1], b = new float[1];
        inSim.Act([0.3f, 0.9f, -1f], a, true); inReal.Act([0.3f, 0.9f, -1f], b, true);
        Assert.Equal(a, b);                                                       // trained alike
        Assert.NotEqual(simRes.Final.ReturnMean, realRes.Final.ReturnMean);       // judged in different physics
        Assert.Equal(Trainer.Evaluate(inReal, "pendulum", 2, 3 + 1_000_000UL).Mean, realRes.Final.ReturnMean);
    }

    [Fact]
    public void AnEnvironmentNameCarriesADynamicsGap()
    {
        using var plain = EnvRegistry.Make("pendulum");
        using var gapped = EnvRegistry.Make("pendulum:g=2,m=0.5");
        var p = (IPhysicsParameters)Wrapper.Unwrap(gapped);
        Assert.Equal(20f, p.Parameters["g"]);
        Assert.Equal(0.5f, p.Parameters["m"]);
        Assert.Equal("pendulum", EnvRegistry.Find("pendulum:g=2").Name);
        Assert.Contains("has no parameter 'gravity'", Assert.Throws<ArgumentException>(() => EnvRegistry.Make("pendulum:gravity=2")).Message);
        Assert.Contains("non-zero", Assert.Throws<ArgumentException>(() => EnvRegistry.Make("pendulum:g=0")).Message);
        Assert.Contains("scaled twice", Assert.Throws<ArgumentException>(() => EnvRegistry.Make("pendulum:g=2,g=3")).Message);
    }
}
