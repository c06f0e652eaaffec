using System.Security.Cryptography;
using OffRL.Algorithms;
using OffRL.Data.IO;
using OffRL.IO;
using Xunit;
using OffRL.Runs;

namespace OffRL.Tests.Cli;

/// <summary>
/// Hostile input to the `offrl` command, one class at a time: outputs aimed at inputs (every command that writes),
/// options at and past their edges, duplicate keys, parse errors. Each must end in one `error:` line naming the option
/// or file, exit 2, with every file the user had byte-for-byte as it was.
/// </summary>
public sealed class HostileCliTests : IClassFixture<HostileCliTests.Files>
{
    /// <summary>A folder with a small dataset, a trained checkpoint, bandit logs and config files, made once.</summary>
    public sealed class Files : IDisposable
    {
        public string Dir { get; } = Path.Combine(Path.GetTempPath(), "offrl-hostile-" + Guid.NewGuid().ToString("N"));
        public string Data => Path.Combine(Dir, "data.parquet");
        public string Checkpoint => Path.Combine(Dir, "ckpt");

        public Files()
        {
            Directory.CreateDirectory(Dir);
            var data = Recipes.Collect(null, "pendulum", 200, 1);
            DatasetFile.Write(data, Data);
            var small = System.Text.Json.JsonDocument.Parse("""{"hidden": [8, 8], "batch_size": 16}""").RootElement;
            Training.Offline("td3bc", data, "pendulum", new TrainerConfig(Steps: 5, EvalEvery: 5, EvalEpisodes: 1, Progress: false, OutDir: Checkpoint), small);
            File.WriteAllText(Path.Combine(Dir, "d.db"), "not touched by a refused command");
            File.WriteAllText(Path.Combine(Dir, "logs.csv"), "action,position,reward,propensity,x0\n0,0,1,0.5,0.1\n1,0,0,0.5,0.2\n");
            File.WriteAllText(Path.Combine(Dir, "cfg.yaml"), "epsilon: 0.1\n");
            File.WriteAllText(Path.Combine(Dir, "grid.yaml"), "algorithms: [td3bc]\ndatasets: [pendulum-medium-replay]\nseeds: [0]\nsteps: 10\n");
            File.WriteAllText(Path.Combine(Dir, "p.json"), "{}");
            File.CreateSymbolicLink(Path.Combine(Dir, "link.parquet"), Data);
        }

        public void Dispose() { try { Directory.Delete(Dir, true); } catch { } }
    }

    private readonly Files _f;
    public HostileCliTests(Files f) => _f = f;

    private string P(string name) => Path.Combine(_f.Dir, name);

    /// <summary>Every file under the folder with its SHA-256 (symbolic links by their targets).</summary>
    private Dictionary<string, string> Snapshot()
    {
        var s = new Dictionary<string, string>();
        foreach (var file in Directory.EnumerateFiles(_f.Dir, "*", SearchOption.AllDirectories))
            if (!file.EndsWith(".lock", StringComparison.Ordinal))   // a lock this test holds cannot be read
            s[file] = new FileInfo(file).LinkTarget is { } target ? "link:" + target : Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(file)));
        return s;
    }

    public static TheoryData<string, string[]> OutputsOverInputs => new()
    {
        { "--out", ["bandit", "export", "--log", "{d.db}", "--out", "{d.db}"] },
        { "--out", ["dataset", "corrupt", "{data.parquet}", "--target", "rewards", "--out", "{data.parquet}"] },
        { "output", ["dataset", "convert", "{data.parquet}", "{link.parquet}"] },   // a symbolic link to the input
        { "--out", ["export", "--checkpoint", "{ckpt}", "--out", "{ckpt/agent.json}"] },
        { "--out", ["bandit", "learn", "--logs", "{logs.csv}", "--out", "{logs.csv}"] },
        { "--policy-out", ["bandit", "simulate", "--steps", "10", "--logs-out", "{p2.json}", "--policy-out", "{p2.json}"] },
        { "--out", ["collect", "--env", "pendulum", "--policy", "{ckpt}", "--steps", "10", "--out", "{ckpt/more.parquet}"] },
        { "--out", ["train", "--algo", "td3bc", "--dataset", "{data.parquet}", "--env", "pendulum", "--steps", "5", "--out", "{}"] },
        { "--out", ["train", "--algo", "td3bc", "--dataset", "{data.parquet}", "--env", "pendulum", "--steps", "5", "--out", "{data.parquet}"] },
        { "--plot", ["ope", "rl", "--dataset", "{data.parquet}", "--policy", "{ckpt}", "--plot", "{data.parquet}"] },
        { "--out", ["sweep", "plan", "{grid.yaml}", "--out", "{}"] },
        { "--plot", ["dataset", "info", "{data.parquet}", "--plot", "{data.parquet}"] },
        { "--out", ["dataset", "mix", "{data.parquet}", "{data.parquet}", "--out", "{data.parquet}"] },
        { "--out", ["bandit", "init", "--context-dim", "2", "--arms", "a,b", "--config", "{cfg.yaml}", "--out", "{cfg.yaml}"] },
        { "--log", ["serve", "--policy", "{p.json}", "--log", "{p.json}"] },
        { "--out", ["train", "--algo", "td3bc", "--dataset", "{data.parquet}", "--env", "pendulum", "--steps", "5", "--config", "{cfg.yaml}", "--out", "{cfg.yaml}"] },
    };

    [Theory]
    [MemberData(nameof(OutputsOverInputs))]
    public void An_output_aimed_at_an_input_is_refused_and_nothing_changes(string option, string[] args)
    {
        var before = Snapshot();
        var resolved = args.Select(a => a.StartsWith('{') ? P(a[1..^1]) : a).ToArray();
        CliProcess.Run(resolved).RefusedNaming(option, "an output never replaces");
        Assert.Equal(before, Snapshot());
    }

    [Fact]
    public void A_file_another_process_holds_is_never_replaced()
    {
        var live = P("live.db");
        File.WriteAllText(live, "a decision log in use");
        using (ExclusiveLock.Acquire(live + ".lock", $"decision log {live}"))
        {
            var before = Snapshot();
            CliProcess.Run("bandit", "export", "--log", P("d.db"), "--out", live).RefusedNaming("--out", "in use by another process", $"pid {Environment.ProcessId}");
            Assert.Equal(before, Snapshot());
        }
    }

    [Fact]
    public void A_run_folder_holding_foreign_files_is_refused_naming_them_even_with_overwrite()
    {
        var dir = P("mine");
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, "notes.txt"), "mine");
        var before = Snapshot();
        foreach (var extra in new[] { Array.Empty<string>(), ["--overwrite"] })
            CliProcess.Run(["train", "--algo", "td3bc", "--dataset", _f.Data, "--env", "pendulum", "--steps", "5", "--out", dir, .. extra])
                .RefusedNaming("notes.txt", "no OffRL run wrote");
        Assert.Equal(before, Snapshot());
    }

    [Fact]
    public void Demo_refuses_a_folder_of_other_files_before_it_builds_anything()
    {
        var bc = P("demo/bc");
        Directory.CreateDirectory(bc);
        File.WriteAllText(Path.Combine(bc, "notes.txt"), "mine");
        var before = Snapshot();
        CliProcess.Run("demo", "--out", P("demo"), "--steps", "5").RefusedNaming("notes.txt");
        Assert.Equal(before, Snapshot());
    }

    public static TheoryData<string, string[]> OptionEdges => new()
    {
        { "--bootstrap must be in [2, 1000000], got 0", ["ope", "rl", "--dataset", "{data.parquet}", "--policy", "{ckpt}", "--bootstrap", "0"] },
        { "--alpha must be in (0, 1), got 1.5", ["ope", "rl", "--dataset", "{data.parquet}", "--policy", "{ckpt}", "--alpha", "1.5"] },
        { "--fqe-steps must be in [1, 100000000], got 0", ["ope", "rl", "--dataset", "{data.parquet}", "--policy", "{ckpt}", "--fqe-steps", "0"] },
        { "--estimators: 'FQE' is given twice", ["ope", "rl", "--dataset", "{data.parquet}", "--policy", "{ckpt}", "--estimators", "fqe,FQE"] },
        { "--k: each value must be in [1, 1000], got 0", ["select", "--dataset", "{data.parquet}", "--candidates", "{ckpt}", "--k", "0"] },
        { "--k: '1' is given twice", ["select", "--dataset", "{data.parquet}", "--candidates", "{ckpt}", "--k", "1,1"] },
        { "--steps must be in [1, 1000000000], got 0", ["collect", "--env", "pendulum", "--steps", "0", "--out", "{x.parquet}"] },
        { "--steps must be in [1, 1000000000], got -5", ["collect", "--env", "pendulum", "--steps", "-5", "--out", "{x.parquet}"] },
        { "'1e12' for option '--steps'", ["train", "--algo", "td3bc", "--steps", "1e12"] },
        { "'-1' for option '--seed'", ["train", "--algo", "td3bc", "--seed", "-1"] },
        { "--steps must be in [1, 100000000], got 0", ["bandit", "simulate", "--steps", "0"] },
        { "--fraction must be in (0, 1), got 1", ["dataset", "mix", "{data.parquet}", "{data.parquet}", "--fraction", "1", "--out", "{mix.parquet}"] },
        { "lower --fraction", ["dataset", "mix", "{data.parquet}", "{data.parquet}", "--fraction", "0.9", "--out", "{mix.parquet}"] },
        { "--epsilon must be in [0, 1], got 2", ["serve", "--policy", "{p.json}", "--epsilon", "2"] },
        { "--reward-min (5) must be below --reward-max (1)", ["serve", "--policy", "{p.json}", "--log", "{new.db}", "--reward-min", "5", "--reward-max", "1"] },
        { "--eval-episodes must be in [1, 100000], got 0", ["train", "--algo", "td3bc", "--dataset", "{data.parquet}", "--eval-episodes", "0"] },
        { "--set: field 'tau' is set twice", ["train", "--algo", "td3bc", "--dataset", "{data.parquet}", "--env", "pendulum", "--set", "tau=0.1", "--set", "Tau=0.2"] },
        { "Unrecognized command or argument '--bogus'", ["train", "--algo", "td3bc", "--bogus"] },
        { "--threads: expected a whole number >= 1, got '0'", ["train", "--algo", "td3bc", "--dataset", "{data.parquet}", "--threads", "0"] },
        { "--threads: expected a whole number >= 1, got 'two'", ["version", "--threads", "two"] },
        { "--threads: expected a whole number >= 1, got '2.0'", ["ope", "rl", "--dataset", "{data.parquet}", "--policy", "{ckpt}", "--threads", "2.0"] },
    };

    [Theory]
    [InlineData("0")]
    [InlineData("x")]
    [InlineData("1.5")]
    [InlineData("")]
    public void A_bad_OFFRL_THREADS_is_one_error_line_naming_it(string value)
    {
        CliProcess.RunWithThreads(value, "version").RefusedNaming("OFFRL_THREADS", $"got '{value}'");
        // --threads given on the command line wins over the variable
        Assert.Equal(0, CliProcess.RunWithThreads(value, "version", "--threads", "1").Code);
    }

    [Fact]
    public void More_threads_than_cores_is_allowed_with_a_warning()
    {
        var r = CliProcess.Run("version", "--threads", "4096");
        Assert.Equal(0, r.Code);
        Assert.Contains("warning: --threads 4096 is more than", r.Err);
        Assert.Equal(0, CliProcess.RunWithThreads("3", "version").Code);
    }

    [Theory]
    [MemberData(nameof(OptionEdges))]
    public void An_option_past_its_edge_is_one_error_line(string expected, string[] args)
    {
        var before = Snapshot();
        var resolved = args.Select(a => a.StartsWith('{') ? P(a[1..^1]) : a).ToArray();
        var r = CliProcess.Run(resolved).RefusedNaming(expected);
        Assert.DoesNotContain("Usage:", r.Out + r.Err);   // no help text, one line
        Assert.Equal(before, Snapshot());
        Assert.False(File.Exists(P("new.db")));
    }

    [Fact]
    public void A_config_file_with_a_key_twice_is_refused_naming_the_file()
    {
        var dup = P("dup.json");
        File.WriteAllText(dup, """{"tau": 0.1, "tau": 0.2}""");
        CliProcess.Run("train", "--algo", "td3bc", "--dataset", _f.Data, "--env", "pendulum", "--config", dup).RefusedNaming("dup.json", "tau");
    }
}
