using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;
using OffRL.Algorithms;
using OffRL.Data;
using OffRL.IO;
using OffRL.Tensors;
using Xunit;
using OffRL.Runs;

namespace OffRL.Tests.Algorithms;

/// <summary>
/// Checkpoints and saved agents that are damaged, incomplete, of a newer format or of another run are refused with one
/// error naming the file and field, and a refused resume leaves the run folder byte for byte as it was.
/// </summary>
public sealed class CheckpointSafetyTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "offrl-ckpt-" + Guid.NewGuid().ToString("N"));
    private static readonly Dataset Data = Recipes.Collect(null, "pendulum", 400, 1);
    private static readonly JsonElement Small = JsonDocument.Parse("""{"hidden": [16, 16], "batch_size": 32}""").RootElement;
    public void Dispose() { try { Directory.Delete(_dir, true); } catch { } }

    private TrainerConfig Cfg(string run, long steps, string? resume = null) =>
        new(Steps: steps, EvalEvery: 100, EvalEpisodes: 1, Seed: 1, Progress: false, OutDir: Path.Combine(_dir, run), CheckpointEvery: 100, ResumeFrom: resume);

    /// <summary>A finished 100-step td3bc run with its checkpoint, trained once and copied for each case.</summary>
    private string Run(string name)
    {
        var pristine = Path.Combine(_dir, "pristine");
        if (!Directory.Exists(pristine)) Training.Offline("td3bc", Data, "pendulum", Cfg("pristine", 100), Small);
        var dir = Path.Combine(_dir, name);
        Copy(pristine, dir);
        return dir;
    }

    private static void Copy(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (var f in Directory.GetFiles(from)) File.Copy(f, Path.Combine(to, Path.GetFileName(f)));
        foreach (var d in Directory.GetDirectories(from)) Copy(d, Path.Combine(to, Path.GetFileName(d)));
    }

    /// <summary>Every file under a folder with the SHA-256 of its bytes.</summary>
    private static SortedDictionary<string, string> Snapshot(string dir)
    {
        var s = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var f in Directory.GetFiles(dir, "*", SearchOption.AllDirectories))
            s[Path.GetRelativePath(dir, f)] = Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(f)));
        return s;
    }

    /// <summary>Resume <paramref name="run"/> as <paramref name="act"/> does; it must throw <typeparamref name="T"/> and change no file.</summary>
    private static T Refused<T>(string run, Action act) where T : Exception
    {
        var before = Snapshot(run);
        var e = Assert.Throws<T>(act);
        Assert.Equal(before, Snapshot(run));
        return e;
    }

    private static void EditMeta(string safetensors, Action<Dictionary<string, string>> edit)
    {
        var (tensors, meta) = Safetensors.Read(safetensors);
        edit(meta);
        Safetensors.Write(safetensors, tensors.Select(kv => (kv.Key, Tensor.FromArray(kv.Value.Data, kv.Value.Shape))).ToList(), meta);
    }

    private static void EditJson(string file, Action<JsonObject> edit)
    {
        var node = JsonNode.Parse(File.ReadAllText(file))!.AsObject();
        edit(node);
        File.WriteAllText(file, node.ToJsonString());
    }

    private const string ZeroRng = """{"S0":0,"S1":0,"S2":0,"S3":0,"HasSpare":false,"Spare":0}""";

    [Fact]
    public void AnAllZeroGeneratorStateIsRefusedNamingTheFileAndField()
    {
        // The agent's generator in optimizers.safetensors: before this check, --resume hung drawing normals for ever.
        var run = Run("agent-rng");
        var optimizers = Path.Combine(run, "checkpoint", "optimizers.safetensors");
        EditMeta(optimizers, m => m["rng"] = ZeroRng);
        var e = Refused<DataException>(run, () => Training.Offline("td3bc", Data, "pendulum", Cfg("agent-rng", 200, run), Small));
        Assert.Equal(optimizers, e.File);
        Assert.Equal("rng", e.Field);
        Assert.Contains("all four words are zero", e.Message);

        // The sampler's and the action generator's states in trainer.json.
        var sampler = Run("sampler-rng");
        var trainerJson = Path.Combine(sampler, "checkpoint", "trainer.json");
        EditJson(trainerJson, o => o["SamplerRng"] = JsonNode.Parse(ZeroRng));
        var s = Refused<DataException>(sampler, () => Training.Offline("td3bc", Data, "pendulum", Cfg("sampler-rng", 200, sampler), Small));
        Assert.Equal(trainerJson, s.File);
        Assert.Equal("SamplerRng", s.Field);
        Assert.Contains("all four words are zero", s.Message);
        EditJson(trainerJson, o => o["SamplerRng"] = JsonNode.Parse("""{"S0":1,"S1":"x","S2":0,"S3":0,"HasSpare":false,"Spare":0}"""));
        var t = Refused<DataException>(sampler, () => Training.Offline("td3bc", Data, "pendulum", Cfg("sampler-rng", 200, sampler), Small));
        Assert.Equal("SamplerRng", t.Field);
        Assert.Contains("S1 is missing or not an integer", t.Message);
    }

    [Theory]
    [InlineData("no-updates", "updates", "missing")]
    [InlineData("text-extra", "extra", "must be an integer >= 0, got 'abc'")]
    [InlineData("stray-counter", "state.acts", "is not a counter of td3bc (it has none")]
    [InlineData("negative-steps", "actor_optim.steps", "must be an integer >= 0, got '-3'")]
    [InlineData("bad-rng-json", "rng", "not a generator state")]
    [InlineData("short-moment", null, "values, this agent's optimizer has")]
    [InlineData("stray-tensor", "stray", "is not state of this agent's optimizers")]
    [InlineData("truncated", null, "data section")]
    [InlineData("trainer-step", "Step", "must be an integer >= 0")]
    [InlineData("trainer-unknown", "Colour", "unknown field")]
    public void ADamagedCheckpointIsOneErrorNamingTheFileAndField(string damage, string? field, string expected)
    {
        var run = Run(damage);
        var optimizers = Path.Combine(run, "checkpoint", "optimizers.safetensors");
        var trainerJson = Path.Combine(run, "checkpoint", "trainer.json");
        var (tensors, meta) = Safetensors.Read(optimizers);
        var optimizerName = meta.Keys.First(k => k.EndsWith(".steps")).Split('.')[0];
        if (field == "actor_optim.steps") field = optimizerName + ".steps";
        string file = optimizers;
        switch (damage)
        {
            case "no-updates": EditMeta(optimizers, m => m.Remove("updates")); break;
            case "text-extra": EditMeta(optimizers, m => m["extra"] = "abc"); break;
            case "stray-counter": EditMeta(optimizers, m => m["state.acts"] = "7"); break;
            case "negative-steps": EditMeta(optimizers, m => m[field!] = "-3"); break;
            case "bad-rng-json": EditMeta(optimizers, m => m["rng"] = "{not json"); break;
            case "short-moment":
            {
                var first = tensors.Keys.First();
                field = first;
                var list = tensors.Select(kv => (kv.Key, kv.Key == first ? Tensor.FromArray(kv.Value.Data[..^1], kv.Value.Data.Length - 1) : Tensor.FromArray(kv.Value.Data, kv.Value.Shape))).ToList();
                Safetensors.Write(optimizers, list, meta);
                break;
            }
            case "stray-tensor":
            {
                var list = tensors.Select(kv => (kv.Key, Tensor.FromArray(kv.Value.Data, kv.Value.Shape))).Append(("stray", Tensor.FromArray([1f], 1))).ToList();
                Safetensors.Write(optimizers, list, meta);
                break;
            }
            case "truncated": File.WriteAllBytes(optimizers, File.ReadAllBytes(optimizers)[..^100]); break;
            case "trainer-step": file = trainerJson; EditJson(trainerJson, o => o["Step"] = -5); break;
            case "trainer-unknown": file = trainerJson; EditJson(trainerJson, o => o["Colour"] = "red"); break;
        }
        var e = Refused<DataException>(run, () => Training.Offline("td3bc", Data, "pendulum", Cfg(damage, 200, run), Small));
        Assert.Equal(file, e.File);
        Assert.Equal(field, e.Field);
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void ASavedAgentIsVersionedCompleteAndHasNoUnknownFields()
    {
        var run = Run("saved");
        var agentJson = Path.Combine(run, "agent.json");
        Assert.Equal(Agent.FormatVersion, JsonNode.Parse(File.ReadAllText(agentJson))!["format_version"]!.GetValue<int>());
        Assert.Equal("td3bc", AlgorithmRegistry.Load(run).Name);

        // Written before versions (no format_version: 0): still read.
        EditJson(agentJson, o => o.Remove("format_version"));
        Assert.Equal("td3bc", AlgorithmRegistry.Load(run).Name);

        EditJson(agentJson, o => o["format_version"] = Agent.FormatVersion + 1);
        var newer = Refused<DataException>(run, () => AlgorithmRegistry.Load(run));
        Assert.Equal(agentJson, newer.File);
        Assert.Equal("format_version", newer.Field);
        Assert.Contains("newer OffRL", newer.Message);

        EditJson(agentJson, o => { o["format_version"] = 1; o["colour"] = "red"; });
        var unknown = Refused<DataException>(run, () => AlgorithmRegistry.Load(run));
        Assert.Equal(agentJson, unknown.File);
        Assert.Equal("colour", unknown.Field);
        Assert.Contains("unknown field", unknown.Message);
        EditJson(agentJson, o => o.Remove("colour"));

        // No preprocessing.json: an incomplete folder, not an agent acting on raw observations.
        var pre = Path.Combine(run, "preprocessing.json");
        File.Move(pre, pre + ".away");
        var noPre = Refused<DataException>(run, () => AlgorithmRegistry.Load(run));
        Assert.Equal(pre, noPre.File);
        Assert.Contains("incomplete", noPre.Message);
        File.Move(pre + ".away", pre);

        // A network missing, or of another shape: named by file (and parameter).
        var module = Directory.GetFiles(run, "*.safetensors").First();
        File.Move(module, module + ".away");
        var noModule = Refused<DataException>(run, () => AlgorithmRegistry.Load(run));
        Assert.Equal(module, noModule.File);
        Assert.Contains("incomplete", noModule.Message);
        File.Move(module + ".away", module);
        var (tensors, meta) = Safetensors.Read(module);
        var name = tensors.Keys.First();
        Safetensors.Write(module, tensors.Select(kv => (kv.Key, kv.Key == name ? Tensor.FromArray(kv.Value.Data[..^1], kv.Value.Data.Length - 1) : Tensor.FromArray(kv.Value.Data, kv.Value.Shape))).ToList(), meta);
        var shape = Refused<InvalidDataException>(run, () => AlgorithmRegistry.Load(run));
        Assert.Contains(module, shape.Message);
        Assert.Contains($"parameter '{name}'", shape.Message);
    }

    [Fact]
    public void AResumeOfAnotherRunIsRefusedAndChangesNothing()
    {
        // Another algorithm's checkpoint.
        var run = Run("other-algo");
        var algo = Refused<ArgumentException>(run, () => Training.Offline("iql", Data, "pendulum", Cfg("other-algo", 200, run), Small));
        Assert.Contains("the checkpoint is of td3bc", algo.Message);
        Assert.Contains("this run trains iql", algo.Message);

        // Another dataset.
        var data = Run("other-data");
        var otherData = Recipes.Collect(null, "pendulum", 400, 2);
        var ds = Refused<ArgumentException>(data, () => Training.Offline("td3bc", otherData, "pendulum", Cfg("other-data", 200, data), Small));
        Assert.StartsWith("--resume: the checkpoint was trained on a different dataset (or different preprocessing): sha256 ", ds.Message);
        Assert.Contains(Trainer.Fingerprint(Training.Prepare("td3bc", otherData, 1, Small).Data)[..12], ds.Message);

        // Fewer steps than the checkpoint has made.
        var steps = Run("steps");
        var few = Refused<ArgumentException>(steps, () => Training.Offline("td3bc", Data, "pendulum", Cfg("steps", 50, steps), Small));
        Assert.Contains("--steps: 50 is below the checkpoint's step 100", few.Message);

        // A checkpoint written before the dataset was recorded still resumes (unchecked), on the same data as before.
        var old = Run("old");
        EditJson(Path.Combine(old, "checkpoint", "trainer.json"), o => o.Remove("DatasetSha256"));
        var (_, res) = Training.Offline("td3bc", Data, "pendulum", Cfg("old", 200, old), Small);
        Assert.Equal(200, res.Final.Step);

        // Online: another environment.
        var online = Path.Combine(_dir, "online");
        var tc = new TrainerConfig(Steps: 100, EvalEvery: 100, EvalEpisodes: 1, Seed: 1, Progress: false, OutDir: online, StartSteps: 50,
            ReplayCapacity: 1000, CheckpointEvery: 100);
        Training.Online("sac", "pendulum", tc, Small);
        var env = Refused<ArgumentException>(online, () => Training.Online("sac", "mountaincar-continuous", tc with { Steps = 200, ResumeFrom = online }, Small));
        Assert.Contains("the checkpoint was trained in pendulum", env.Message);
        Assert.Contains("this run's environment is mountaincar-continuous", env.Message);
    }
}
