using System.Text.Json;
using OffRL.Algorithms;
using OffRL.Data;
using OffRL.Envs;
using OffRL.Runs;
using OffRL.Tests.Cli;
using Xunit;

namespace OffRL.Tests.Data;

/// <summary>Observation histories (issue 36, item 6): the dataset's rows stacked within episodes, environments wrapped alike, the masked-velocity task.</summary>
public class HistoryTests
{
    /// <summary>
    /// Two episodes, observation = 10 x row, the first ended by a terminal, the second by a timeout whose row stores no
    /// next observation: k = 3 stacks oldest first with each episode's first observation repeated before it, and the
    /// next history is the history shifted by one with s' last; the timeout row without a next observation is dropped.
    /// </summary>
    [Fact]
    public void RowsAreStackedWithinTheirEpisodes()
    {
        var d = new Dataset(new DatasetColumns
        {
            Observations = [0, 10, 20, 30, 40, 50, 60], Actions = [0, 0.1f, 0.2f, 0.3f, 0.4f, 0.5f, 0.6f], Rewards = new float[7],
            Terminals = [false, false, false, true, false, false, false], Timeouts = [false, false, false, false, false, false, true],
        }, Box.Unbounded(1), Box.Uniform(1, -1f, 1f));
        var h = d.WithHistory(3);
        Assert.Equal(6, h.Count);                      // row 6 (a timeout with no stored next observation) dropped
        Assert.Equal(3, h.ObservationDim);
        float[][] obs = [[0, 0, 0], [0, 0, 10], [0, 10, 20], [10, 20, 30], [40, 40, 40], [40, 40, 50]];
        float[][] next = [[0, 0, 10], [0, 10, 20], [10, 20, 30], [20, 30, 30], [40, 40, 50], [40, 50, 60]];   // a terminal row's s' is s
        for (int i = 0; i < h.Count; i++)
        {
            Assert.Equal(obs[i], h.Observation(i).ToArray());
            Assert.Equal(next[i], h.NextObservation(i).ToArray());
        }
        Assert.True(h.Terminals[3] && h.Timeouts[5]);  // row 5 now ends its episode by timeout
        Assert.Equal(0.5f, h.Action(5)[0]);
        Assert.Same(d, d.WithHistory(1));
    }

    [Fact]
    public void RowsThatDoNotFollowEachOtherAreRefusedByRow()
    {
        var d = new Dataset(new DatasetColumns
        {
            Observations = [0, 10, 20, 30], NextObservations = [10, 20, 99, 40], Actions = new float[4], Rewards = new float[4],
            Terminals = [false, false, false, true], Timeouts = new bool[4],
        }, Box.Unbounded(1), Box.Uniform(1, -1f, 1f));
        var e = Assert.Throws<DataException>(() => d.WithHistory(2));
        Assert.Equal("next_observations", e.Field);
        Assert.Equal(3, e.Row);   // the third row (1-based): its s' is 99, the fourth row's s is 30
        var q = Assert.Throws<DataException>(() => d.QlearningRows().WithHistory(2));
        Assert.Contains("qlearning rows", q.Message);
    }

    [Fact]
    public void AHistoryBelowOneIsRefusedByName()
    {
        var e = Assert.ThrowsAny<ArgumentException>(() => AlgorithmRegistry.Create("td3bc", 3, Box.Uniform(1, -1f, 1f), 0, JsonDocument.Parse("""{"history": 0}""").RootElement));
        Assert.Contains("history", e.Message);
    }

    private sealed class Recorder(int history, int width) : IPolicy
    {
        public List<float[]> Seen { get; } = new();
        public int ObservationDim => history * width;
        public Space ActionSpace => Box.Uniform(1, -2f, 2f);
        public int History => history;
        public void Act(ReadOnlySpan<float> observation, Span<float> action, bool deterministic) { Seen.Add(observation.ToArray()); action[0] = 0f; }
    }

    /// <summary>A policy that takes a history acts on the last k observations, the first repeated after each reset, wherever it is rolled out.</summary>
    [Fact]
    public void RolloutsGiveAHistoryPolicyItsHistory()
    {
        var policy = new Recorder(3, 3);
        using var env = EnvRegistry.Make("pendulum");
        Rollout.Episodes(env, policy, 2, 5);
        Assert.Equal(400, policy.Seen.Count);
        var first = policy.Seen[0];
        Assert.Equal(first[..3], first[3..6]);
        Assert.Equal(first[..3], first[6..]);
        var second = policy.Seen[1];
        Assert.Equal(first[6..], second[3..6]);        // shifted by one, the newest last
        Assert.NotEqual(second[3..6], second[6..]);
        var restart = policy.Seen[200];                // the second episode starts afresh
        Assert.Equal(restart[..3], restart[6..]);
    }

    /// <summary>Online, the agent's history reaches its networks, its replay buffer and its evaluation alike.</summary>
    [Fact]
    public void AnOnlineAgentLearnsFromItsHistory()
    {
        var (agent, res) = Training.Online("sac", "pendulum-masked", new TrainerConfig(Steps: 400, EvalEvery: 400, EvalEpisodes: 1, Seed: 2, Progress: false),
            JsonDocument.Parse("""{"history": 2, "normalize_observations": false, "hidden": [16, 16]}""").RootElement);
        Assert.Equal(6, agent.ObservationDim);
        Assert.Single(res.Evaluations);
    }

    /// <summary>Collecting with a history policy: it acts on its history, the dataset logs each observation alone.</summary>
    [Fact]
    public void CollectingWithAHistoryPolicyLogsSingleObservations()
    {
        var policy = new Recorder(2, 3);
        var d = Recipes.Collect(policy, "pendulum", 250, 4);
        Assert.Equal((3, 250), (d.ObservationDim, d.Count));
        for (int t = 0; t < d.Count; t++) Assert.Equal(d.Observation(t).ToArray(), policy.Seen[t][3..]);
        Assert.Equal(policy.Seen[200][..3], policy.Seen[200][3..]);   // a new episode at step 200: its first observation twice
        Assert.Equal(d.NextObservation(0).ToArray(), policy.Seen[1][3..]);
    }

    /// <summary>pendulum-masked hides the angular velocity, in its observations and in any dataset fitted to it.</summary>
    [Fact]
    public void TheMaskedPendulumHidesItsVelocityInTheEnvironmentAndTheData()
    {
        using var env = EnvRegistry.Make("pendulum-masked");
        var o = new float[3];
        env.Reset(1, o);
        for (int t = 0; t < 20; t++) { Assert.Equal(0f, o[2]); env.Step([1.5f], o); }
        var data = Recipes.Collect(null, "pendulum", 300, 2);
        Assert.Contains(Enumerable.Range(0, data.Count), i => data.Observation(i)[2] != 0f);
        var fitted = Recipes.FitToEnv(data, "pendulum-masked");
        for (int i = 0; i < fitted.Count; i++)
        {
            Assert.Equal(0f, fitted.Observation(i)[2]);
            Assert.Equal(0f, fitted.NextObservation(i)[2]);
            Assert.Equal(data.Observation(i)[..2].ToArray(), fitted.Observation(i)[..2].ToArray());
        }
        Assert.Contains(fitted.Info.Processing, p => p.Contains("zeroed"));
    }

    /// <summary>An offline run with history k: the agent's input is k observations wide, its data stacked, and `--history` reaches the config.</summary>
    [Fact]
    public void TheHistoryReachesTheAgentTheDataAndTheCommandLine()
    {
        var data = Recipes.Collect(null, "pendulum", 400, 3);
        var (agent, prepared) = Training.Prepare("bc", data, 0, JsonDocument.Parse("""{"history": 4}""").RootElement);
        Assert.Equal((12, 12, 4), (agent.ObservationDim, prepared.ObservationDim, agent.History));

        var dir = Path.Combine(Path.GetTempPath(), "offrl-history-" + Guid.NewGuid().ToString("N"));
        try
        {
            var file = Path.Combine(dir, "masked.parquet");
            Directory.CreateDirectory(dir);
            OffRL.Data.IO.DatasetFile.Write(data, file);
            var r = CliProcess.Run("train", "--algo", "bc", "--dataset", file, "--env", "pendulum-masked", "--history", "3",
                "--steps", "4", "--eval-every", "4", "--eval-episodes", "1", "--out", Path.Combine(dir, "run"));
            Assert.True(r.Code == 0, r.Err);
            var config = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "run", "agent.json"))).RootElement.GetProperty("config");
            Assert.Equal(3, config.GetProperty("History").GetInt32());
            var e = CliProcess.Run("eval", "--checkpoint", Path.Combine(dir, "run"), "--env", "pendulum-masked", "--episodes", "1");
            Assert.True(e.Code == 0, e.Err);
        }
        finally { Directory.Delete(dir, true); }
    }
}
