using System.Text.Json;
using OffRL.Algorithms;
using OffRL.Data;
using OffRL.Envs;
using OffRL.Runs;
using OffRL.Tests.Cli;
using Xunit;

namespace OffRL.Tests.Algorithms;

public class PpoImitationTests
{
    private const string Levels = "gridworld:levels=5";

    private static Dataset Demonstrations(int steps = 600) =>
        Recipes.CollectWith(env => new ScriptedExpertPolicy(env, 0, 1), Levels, steps, seed: 1, source: "scripted expert");

    private static float[] Parameters(Agent agent) => [.. agent.NamedModules.SelectMany(m => m.Module.NamedParameters()).SelectMany(p => p.Value.Data)];

    private static Agent FineTune(Dataset data, long bcSteps, float coef, long online = 1024) =>
        Training.FineTune("ppo-il", data, Levels, new TrainerConfig(Steps: bcSteps + online, EvalEvery: 512, EvalEpisodes: 2, Seed: 3, Progress: false, EvalEnv: "gridworld"),
            new FineTuning(bcSteps), JsonDocument.Parse($$"""{"bc_steps": {{bcSteps}}, "imitation_coef": {{coef}}}""").RootElement).Agent;

    /// <summary>Without pre-training and without the imitation term, the run is PPO's own, parameter for parameter.</summary>
    [Fact]
    public void WithoutPreTrainingOrImitationItIsPpo()
    {
        var il = FineTune(Demonstrations(), 0, 0f);
        var (ppo, _) = Training.Online("ppo", Levels, new TrainerConfig(Steps: 1024, EvalEvery: 512, EvalEpisodes: 2, Seed: 3, Progress: false, EvalEnv: "gridworld"));
        Assert.Equal(Parameters(ppo), Parameters(il).Take(Parameters(ppo).Length));
        Assert.Equal(ppo.Updates, il.Updates);
    }

    /// <summary>Pre-training clones the expert: its greedy action is the expert's on the demonstrations' states.</summary>
    [Fact]
    public void PreTrainingClonesTheExpert()
    {
        var data = Demonstrations();
        var (agent, prepared) = Training.Prepare("ppo-il", data, seed: 2, JsonDocument.Parse("""{"batch_size": 128}""").RootElement);
        var sampler = new UniformSampler(new DatasetSource(prepared), 128, new OffRL.Tensors.Rng(4), 0.99f);
        for (int u = 0; u < 400; u++) agent.Update(sampler.Sample());
        int agree = 0;
        var a = new float[1];
        for (int i = 0; i < data.Count; i++)
        {
            agent.Act(data.Observation(i), a, deterministic: true);
            if ((int)a[0] == (int)data.Action(i)[0]) agree++;
        }
        Assert.True(agree >= 0.9 * data.Count, $"{agree} of {data.Count} actions as the expert's");
    }

    /// <summary>The imitation term reaches the online updates: the same run with coefficient 0 and 1 ends elsewhere.</summary>
    [Fact]
    public void TheImitationTermReachesTheOnlineUpdates()
    {
        var data = Demonstrations();
        var a = FineTune(data, 50, 0f);
        var b = FineTune(data, 50, 1f);
        Assert.Equal(a.Updates, b.Updates);
        Assert.NotEqual(Parameters(a), Parameters(b));
        Assert.True(b.Metrics.ContainsKey("imitation_loss") && !a.Metrics.ContainsKey("imitation_loss"));
    }

    [Fact]
    public void AnExpertOnlyWhereAnEnvironmentHasOne()
    {
        var dir = Directory.CreateTempSubdirectory("offrl-expert").FullName;
        try
        {
            CliProcess.Run("collect", "--env", "pendulum", "--policy", "expert", "--steps", "10", "--out", Path.Combine(dir, "x.parquet")).RefusedNaming("--policy expert", "pendulum");
            var ok = CliProcess.Run("collect", "--env", Levels, "--policy", "expert", "--noise", "0.1", "--steps", "200", "--out", Path.Combine(dir, "e.parquet"));
            Assert.Equal(0, ok.Code);
            Assert.Contains("episodes", ok.Out);
        }
        finally { Directory.Delete(dir, true); }
    }
}
