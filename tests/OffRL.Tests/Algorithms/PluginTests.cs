using OffRL.Algorithms;
using OffRL.Data;
using OffRL.IO;
using OffRL.PluginExample;
using Xunit;
using OffRL.Runs;

namespace OffRL.Tests.Algorithms;

/// <summary>
/// Typed agents (issue 35): an algorithm in another assembly (tests/OffRL.PluginExample) joins by registering its
/// assembly, reads its typed config, uses the update's scratch pool and checkpoints a named counter; agents are named by
/// the spec that built them, never by config values.
/// </summary>
public sealed class PluginTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("offrl-plugin-").FullName;
    public void Dispose() { try { Directory.Delete(_dir, true); } catch { } }

    [Fact]
    public void A_plug_in_assembly_adds_an_algorithm_without_touching_src()
    {
        AlgorithmRegistry.RegisterAssembly(typeof(L1Bc).Assembly);
        Assert.Equal(LearningMode.Offline, AlgorithmRegistry.Find("l1bc").Mode);
        var data = Recipes.Collect(null, "pendulum", 1000, 3);
        var run = Path.Combine(_dir, "run");
        var (agent, res) = Training.Offline("l1bc", data, "pendulum",
            new TrainerConfig(Steps: 40, EvalEvery: 40, EvalEpisodes: 1, Progress: false, OutDir: run, CheckpointEvery: 40), ConfigFile.Overrides(null, ["lr=0.01", "batch_size=32"]));
        var l1 = Assert.IsType<L1Bc>(agent);
        Assert.Equal(("l1bc", 0.01, 40L * 32), (l1.Name, l1.Config.Lr, l1.RowsSeen));   // typed config, no cast
        Assert.True(float.IsFinite(l1.Metrics["l1_loss"]));
        // The checkpoint restores the named counter; the saved agent loads by its name and acts as the trained one.
        var resumed = Assert.IsType<L1Bc>(AlgorithmRegistry.Create("l1bc", data.ObservationDim, agent.ActionSpace, 0, ConfigFile.Overrides(null, ["lr=0.01", "batch_size=32"])));
        resumed.LoadCheckpoint(Path.Combine(run, "checkpoint"));
        Assert.Equal(40L * 32, resumed.RowsSeen);
        var loaded = AlgorithmRegistry.Load(run);
        float[] obs = [0.1f, 0.2f, -0.3f], a = new float[1], b = new float[1];
        agent.Act(obs, a, deterministic: true);
        loaded.Act(obs, b, deterministic: true);
        Assert.Equal(a[0], b[0]);
        Assert.Equal(res.Final.ReturnMean, res.Evaluations[^1].ReturnMean);
    }

    [Theory]
    [InlineData("bc", "top_fraction=0.1")]
    [InlineData("pbc", "top_fraction=1")]
    [InlineData("dqn", "cql_alpha=1")]
    [InlineData("td3bc", "alpha=2.5")]
    public void An_agent_is_named_by_its_spec_whatever_its_config(string algo, string set)
    {
        var spec = AlgorithmRegistry.Find(algo);
        var space = spec.Actions == ActionKind.Discrete ? (Space)new Discrete(2) : Box.Uniform(1, -1, 1);
        Assert.Equal(algo, AlgorithmRegistry.Create(algo, 3, space, 0, ConfigFile.Overrides(null, [set])).Name);
    }
}
