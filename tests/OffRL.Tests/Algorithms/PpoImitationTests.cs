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

    /// <summary>PPO's settings of ppo-il (the authors' MiniGrid ones), for the plain PPO it reduces to.</summary>
    private const string PpoSettings = "\"num_envs\": 1, \"num_steps\": 2048, \"num_minibatches\": 4, \"update_epochs\": 4, \"lr\": 0.0001, \"anneal_lr\": false";

    private static Agent FineTune(Dataset data, long bcSteps, int imitationSteps, long online = 4096) =>
        Training.FineTune("ppo-il", data, Levels, new TrainerConfig(Steps: bcSteps + online, EvalEvery: 2048, EvalEpisodes: 2, Seed: 3, Progress: false, EvalEnv: "gridworld"),
            new FineTuning(bcSteps), JsonDocument.Parse($$"""{"bc_steps": {{bcSteps}}, "imitation_steps": {{imitationSteps}}}""").RootElement).Agent;

    /// <summary>Without pre-training and without the cloning steps, the run is PPO's own (at the same settings), parameter for parameter.</summary>
    [Fact]
    public void WithoutPreTrainingOrImitationItIsPpo()
    {
        var il = FineTune(Demonstrations(), 0, 0);
        var (ppo, _) = Training.Online("ppo", Levels, new TrainerConfig(Steps: 4096, EvalEvery: 2048, EvalEpisodes: 2, Seed: 3, Progress: false, EvalEnv: "gridworld"),
            JsonDocument.Parse("{" + PpoSettings + "}").RootElement);
        Assert.Equal(Parameters(ppo), Parameters(il).Take(Parameters(ppo).Length));
        Assert.Equal(ppo.Updates, il.Updates);
    }

    /// <summary>Pre-training clones the expert: its greedy action is the expert's on the demonstrations' states.</summary>
    [Fact]
    public void PreTrainingClonesTheExpert()
    {
        var data = Demonstrations();
        var (agent, prepared) = Training.Prepare("ppo-il", data, seed: 2);
        var sampler = new UniformSampler(new DatasetSource(prepared), agent.Config.BatchSize, new OffRL.Tensors.Rng(4), 0.99f);
        for (long u = 0; u < ((PpoImitationConfig)agent.Config).BcSteps; u++) agent.Update(sampler.Sample());   // the default pre-training
        int agree = 0;
        var a = new float[1];
        for (int i = 0; i < data.Count; i++)
        {
            agent.Act(data.Observation(i), a, deterministic: true);
            if ((int)a[0] == (int)data.Action(i)[0]) agree++;
        }
        Assert.True(agree >= 0.9 * data.Count, $"{agree} of {data.Count} actions as the expert's");
    }

    /// <summary>The cloning steps after each PPO update reach the policy: the same run with 0 and 5 of them ends elsewhere.</summary>
    [Fact]
    public void TheConcurrentCloningStepsReachThePolicy()
    {
        var data = Demonstrations();
        var a = FineTune(data, 50, 0);
        var b = FineTune(data, 50, 5);
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
