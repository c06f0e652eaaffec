using OffRL.Algorithms;
using OffRL.Data;
using OffRL.Runs;
using OffRL.Tensors;
using Xunit;

namespace OffRL.Tests.Algorithms;

public class PrdcTests
{
    /// <summary>A dataset whose states lie on a grid (no two alike), actions at random: 600 rows of 3 + 2 values.</summary>
    private static Dataset Grid()
    {
        const int n = 600;
        var rng = new Rng(4);
        var obs = new float[n * 3]; var next = new float[n * 3]; var act = new float[n * 2]; var rew = new float[n];
        var term = new bool[n]; var tout = new bool[n];
        for (int i = 0; i < n; i++)
        {
            obs[i * 3] = i % 10; obs[i * 3 + 1] = i / 10 % 10; obs[i * 3 + 2] = i / 100;
            next[i * 3] = obs[i * 3] + 0.5f; next[i * 3 + 1] = obs[i * 3 + 1]; next[i * 3 + 2] = obs[i * 3 + 2];
            tout[i] = i % 50 == 49;
        }
        rng.FillUniform(act, -1f, 1f); rng.FillNormal(rew);
        return new Dataset(new DatasetColumns { Observations = obs, NextObservations = next, Actions = act, Rewards = rew, Terminals = term, Timeouts = tout },
            Box.Unbounded(3), Box.Uniform(2, -1f, 1f), new DatasetInfo("grid"));
    }

    private static float[] Train(string algo, string overrides)
    {
        var (agent, data) = Training.Prepare(algo, Grid(), 5, System.Text.Json.JsonDocument.Parse(overrides).RootElement);
        var sampler = new UniformSampler(data, 64, new Rng(6));
        for (int i = 0; i < 20; i++) agent.Update(sampler.Sample());
        var action = new float[2];
        agent.Act([3f, 4f, 5f], action, deterministic: true);
        return [.. action, agent.Metrics["critic_loss"], agent.Metrics["actor_loss"], agent.Metrics["bc_loss"]];
    }

    /// <summary>
    /// With beta large enough that states dominate the key, the nearest [beta s_i, a_i] to [beta s, pi(s)] is the
    /// batch's own row: PRDC is TD3+BC, bit for bit; with the authors' beta 2 it is not.
    /// </summary>
    [Fact]
    public void WithAStateDominatedKeyPrdcIsTd3Bc()
    {
        Assert.Equal(Train("td3bc", "{}"), Train("prdc", """{"beta": 1000}"""));
        Assert.NotEqual(Train("td3bc", "{}"), Train("prdc", """{"beta": 2}"""));
    }

    [Fact]
    public void WithoutItsDatasetPrdcSaysSo()
    {
        var agent = AlgorithmRegistry.Create("prdc", 3, Box.Uniform(2, -1f, 1f), 0);
        var batch = new TransitionBatch(8, 3, 2);
        var e = Assert.Throws<InvalidOperationException>(() => { agent.Update(batch); agent.Update(batch); });
        Assert.Contains("no dataset to search", e.Message);
    }
}
