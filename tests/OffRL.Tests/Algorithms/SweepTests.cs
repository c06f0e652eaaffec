using OffRL.Algorithms;
using Xunit;
using OffRL.Runs;

namespace OffRL.Tests.Algorithms;

/// <summary>Sweeps (issue 24): a grid planned into jobs, run, one job killed and rerun, reported.</summary>
[Collection("pendulum datasets")]
public class SweepTests(PendulumDatasets data)
{
    private static string Grid(string dir, string text)
    {
        Directory.CreateDirectory(dir);
        var path = Path.Combine(dir, "grid.yaml");
        File.WriteAllText(path, text);
        return path;
    }

    [Fact]
    public void FourJobGridRunsResumesAKilledJobAndReports()
    {
        _ = data;   // the fixture builds pendulum-medium-replay into its cache
        var root = Path.Combine(Path.GetTempPath(), "offrl-sweep-" + Guid.NewGuid().ToString("N"));
        try
        {
            var grid = Grid(root, """
                algorithms: [bc, td3bc]
                datasets: [pendulum-medium-replay]
                env: pendulum
                seeds: [0, 1]
                steps: 400
                eval_every: 200
                eval_episodes: 2
                checkpoint_every: 100
                grid:
                  td3bc:
                    alpha: [2.5]
                """);
            var folder = Path.Combine(root, "sweep");
            var jobs = Sweep.Plan(grid, folder, "offrl");
            Assert.Equal(4, jobs.Count);
            Assert.Contains("#SBATCH --array=0-3", File.ReadAllText(Path.Combine(folder, "slurm.sh")));
            var k8s = File.ReadAllText(Path.Combine(folder, "k8s-job.yaml"));
            Assert.Contains("completionMode: Indexed", k8s);
            Assert.Contains("completions: 4", k8s);
            Assert.Equal(jobs.Count, Sweep.Plan(grid, folder).Count);   // planning again is harmless

            // The index comes from the scheduler when not given.
            Environment.SetEnvironmentVariable("JOB_COMPLETION_INDEX", "2");
            try { Assert.Equal(2, Sweep.IndexFromEnvironment(null)); }
            finally { Environment.SetEnvironmentVariable("JOB_COMPLETION_INDEX", null); }

            for (int i = 0; i < 4; i++) Sweep.Run(folder, i);
            var first = File.GetLastWriteTimeUtc(Sweep.ResultFile(folder, 0));
            var killed = Sweep.ReadResult(Sweep.ResultFile(folder, 3));
            // Job 3 "killed" after its checkpoints but before its result: the rerun resumes it; finished jobs are not redone.
            File.Delete(Sweep.ResultFile(folder, 3));
            File.Delete(Path.Combine(Sweep.JobFolder(folder, 3), "run", ".offrl.lock"));
            Assert.Single(Sweep.Status(folder).Pending);
            // the local scheduler (offrl sweep run --local, Sweep.RunLocal) runs what is pending as child processes
            var local = Cli.CliProcess.Run("sweep", "run", folder, "--local", "--parallel", "2");
            Assert.True(local.Code == 0, local.Err + local.Out);
            Assert.Contains("3 finished, 1 to run, 2 at a time", local.Out);
            Assert.Contains("job 3", local.Out);
            Assert.True(File.Exists(Path.Combine(Sweep.JobFolder(folder, 3), "log.txt")));
            Assert.Empty(Sweep.Status(folder).Pending);
            Assert.Equal(first, File.GetLastWriteTimeUtc(Sweep.ResultFile(folder, 0)));
            Assert.Equal(killed.ReturnMean, Sweep.ReadResult(Sweep.ResultFile(folder, 3)).ReturnMean);

            var report = Sweep.Report(folder, out var rows);
            Assert.Equal(2, rows.Count);   // bc and td3bc alpha=2.5, two seeds each
            Assert.All(rows, r => Assert.Equal(2, r.Seeds));
            Assert.Contains("best on pendulum-medium-replay", report);
            Assert.True(File.Exists(Path.Combine(killed.RunFolder, "agent.json")));   // a candidate for offrl select
        }
        finally { try { Directory.Delete(root, true); } catch { } }
    }

    [Fact]
    public void UnknownGridFieldIsNamedWithItsLine()
    {
        var root = Path.Combine(Path.GetTempPath(), "offrl-sweep-" + Guid.NewGuid().ToString("N"));
        try
        {
            var grid = Grid(root, "algorithms: [iql]\ndatasets: [pendulum-medium-replay]\ngrid:\n  iql:\n    expectile: [0.7]\n    temprature: [3.0]\n");
            var ex = Assert.Throws<DataException>(() => Sweep.Expand(grid));
            Assert.Contains("temprature", ex.Message);
            Assert.Contains("row 6", ex.Message);
            Assert.Contains("grid.yaml", ex.Message);
            var range = Grid(root, "algorithms: [iql]\ndatasets: [d]\ngrid:\n  iql:\n    expectile: [0.7, 1.5]\n");
            var bad = Assert.Throws<DataException>(() => Sweep.Expand(range));
            Assert.Contains("expectile", bad.Message);
            Assert.Contains("row 5", bad.Message);
        }
        finally { try { Directory.Delete(root, true); } catch { } }
    }
}

/// <summary>A sweep's grid file checked whole at plan time: its size before expanding, repeats, names of environments and datasets, and the scripts' quoting.</summary>
public class SweepPlanSafetyTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "offrl-sweepplan-" + Guid.NewGuid().ToString("N"));
    public void Dispose() { try { Directory.Delete(_dir, true); } catch { } }

    private string Grid(string text)
    {
        Directory.CreateDirectory(_dir);
        var path = Path.Combine(_dir, "grid.yaml");
        File.WriteAllText(path, text);
        return path;
    }

    private static string Ten(double from, double step) =>
        "[" + string.Join(", ", Enumerable.Range(0, 10).Select(i => (from + i * step).ToString(System.Globalization.CultureInfo.InvariantCulture))) + "]";

    [Fact]
    public void AGridOfAMillionJobsIsRefusedBeforeItIsExpanded()
    {
        var grid = Grid($"""
            algorithms: [iql]
            datasets: [pendulum-medium-replay]
            seeds: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]
            grid:
              iql:
                expectile: {Ten(0.5, 0.04)}
                actor_lr: {Ten(1e-4, 1e-4)}
                critic_lr: {Ten(1e-4, 1e-4)}
                value_lr: {Ten(1e-4, 1e-4)}
                tau: {Ten(0.001, 0.001)}
            """);
        var folder = Path.Combine(_dir, "sweep");
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var e = Assert.Throws<DataException>(() => Sweep.Plan(grid, folder));
        Assert.True(clock.Elapsed.TotalSeconds < 5, $"took {clock.Elapsed.TotalSeconds:F1} s");
        Assert.Equal(grid, e.File);
        Assert.Equal("max_jobs", e.Field);
        Assert.Contains("1,000,000 jobs, more than max_jobs (10,000, the default)", e.Message);
        Assert.False(Directory.Exists(folder));
        // Raised on purpose, the same grid is accepted up to its own limit.
        File.WriteAllText(grid, File.ReadAllText(grid).Replace("seeds: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]", "seeds: [0]\nmax_jobs: 99999"));
        Assert.Contains("100,000 jobs, more than max_jobs (99,999)", Assert.Throws<DataException>(() => Sweep.Expand(grid)).Message);
    }

    [Theory]
    [InlineData("algorithms: [bc]\ndatasets: [pendulum-medium-replay]\nseeds: [0, 1,\n  0]\n", 4, "0 is in seeds twice (first at row 3)")]
    [InlineData("algorithms: [bc]\ndatasets: [pendulum-medium-replay]\nseeds: [7, 07]\n", 3, "7 is in seeds twice")]
    [InlineData("algorithms: [bc, td3bc]\ndatasets: [pendulum-medium-replay]\ngrid:\n  td3bc:\n    alpha:\n      - 2.5\n      - 2.5\n", 7, "2.5 is in grid.td3bc.alpha twice (first at row 6)")]
    [InlineData("algorithms: [bc]\ndatasets:\n  - pendulum-medium-replay\n  - pendulum-medium-replay\n", 4, "is in datasets twice")]
    [InlineData("algorithms: [bc, BC]\ndatasets: [pendulum-medium-replay]\n", 1, "is in algorithms twice")]
    [InlineData("algorithms: [bc]\ndatasets: [pendulum-medium-replay]\nenv: pendulm\n", 3, "unknown environment 'pendulm'")]
    [InlineData("algorithms: [bc]\ndatasets:\n  - pendulum-medium-replay\n  - pendulum-mediun-replay\n", 4, "dataset 'pendulum-mediun-replay' is neither a built-in name")]
    [InlineData("algorithms: [bc]\ndatasets: [pendulum-medium-replay]\nseeds: [0]\nseeds: [1]\n", 4, "uplicate key")]
    [InlineData("algorithms: [td3bc]\ndatasets: [hopper-medium, pendulum-medium-replay]\npreset: corl\n", 3, "preset corl: td3bc's preset has no entry for dataset 'pendulum-medium-replay'")]
    [InlineData("algorithms: [td3bc]\ndatasets: [hopper-medium]\npreset: corll\n", 3, "td3bc has no preset of that name (it has: corl")]
    public void ARepeatedOrUnknownValueIsRefusedNamingTheFileAndLine(string text, int row, string expected)
    {
        var grid = Grid(text);
        var folder = Path.Combine(_dir, "sweep");
        var e = Assert.Throws<DataException>(() => Sweep.Plan(grid, folder));
        Assert.Equal(grid, e.File);
        Assert.Equal(row, e.Row);
        Assert.Contains(expected, e.Message);
        Assert.False(Directory.Exists(folder));
    }

    [Fact]
    public void APresetAppliesPerDatasetWithTheGridsFieldsOverIt()
    {
        var grid = Grid("algorithms: [td3bc]\ndatasets: [hopper-medium, halfcheetah-medium-replay]\npreset: corl\ngrid:\n  td3bc:\n    alpha: [1.0]\n");
        var jobs = Sweep.Expand(grid);
        Assert.Equal(2, jobs.Count);
        var spec = AlgorithmRegistry.Find("td3bc");
        foreach (var job in jobs)
        {
            Assert.Equal("corl", job.Preset);
            Assert.Equal("td3bc preset=corl alpha=1", job.Config);
            var cfg = (Td3BcConfig)AlgorithmRegistry.Config(spec, Sweep.JobOverrides(job));
            var preset = (Td3BcConfig)AlgorithmRegistry.Config(spec, Preset.Resolve(spec, "corl", job.Dataset).Values);
            Assert.True(cfg.QlearningRows);                       // from the preset
            Assert.Equal(1.0f, cfg.Alpha);                        // the grid's value over the preset's
            Assert.Equal(System.Text.Json.JsonSerializer.Serialize(preset with { Alpha = 1.0f }), System.Text.Json.JsonSerializer.Serialize(cfg));   // nothing else changed
        }
        // The plan keeps the preset: a job read back from plan.json resolves the same fields.
        var folder = Path.Combine(_dir, "sweep");
        Sweep.Plan(grid, folder);
        Assert.Equal(jobs.Select(j => j.Preset), Sweep.Load(folder).Select(j => j.Preset));
    }

    [SkippableFact]
    public void TheSlurmScriptQuotesTheFolderAndTheCommand()
    {
        Skip.If(!File.Exists("/bin/bash"), "no /bin/bash to run the Slurm script with");
        var grid = Grid("algorithms: [bc]\ndatasets: [pendulum-medium-replay]\nseeds: [0, 1]\n");
        // A folder and a program whose paths hold a space, a $, a quote and a backquote.
        var odd = Path.Combine(_dir, "my $HOME 'runs' `x`");
        var folder = Path.Combine(odd, "sweep");
        var program = Path.Combine(odd, "bin dir", "off rl");
        Directory.CreateDirectory(Path.GetDirectoryName(program)!);
        var argsFile = Path.Combine(_dir, "args.txt");
        File.WriteAllText(program, $"#!/bin/bash\nprintf '%s\\n' \"$@\" > '{argsFile}'\necho ran\n");
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(program, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        Sweep.Plan(grid, folder, program);

        var psi = new System.Diagnostics.ProcessStartInfo("/bin/bash", [Path.Combine(folder, "slurm.sh")]) { RedirectStandardError = true };
        psi.Environment["SLURM_ARRAY_TASK_ID"] = "1";
        psi.Environment["SLURM_ARRAY_JOB_ID"] = "42";
        using var p = System.Diagnostics.Process.Start(psi)!;
        var err = p.StandardError.ReadToEnd();
        Assert.True(p.WaitForExit(30_000));
        Assert.True(p.ExitCode == 0, err);
        Assert.Equal(["sweep", "run", Path.GetFullPath(folder)], File.ReadAllLines(argsFile));
        Assert.Equal("ran", File.ReadAllText(Path.Combine(folder, "jobs", "1", "slurm-42_1.log")).Trim());
        // The Kubernetes manifest holds the same paths as YAML strings.
        var k8s = new YamlDotNet.RepresentationModel.YamlStream();
        k8s.Load(new StringReader(File.ReadAllText(Path.Combine(folder, "k8s-job.yaml"))));
        var container = (YamlDotNet.RepresentationModel.YamlMappingNode)((YamlDotNet.RepresentationModel.YamlSequenceNode)k8s.Documents[0].RootNode["spec"]["template"]["spec"]["containers"])[0];
        var command = ((YamlDotNet.RepresentationModel.YamlSequenceNode)container["command"]).Select(n => ((YamlDotNet.RepresentationModel.YamlScalarNode)n).Value!).ToArray();
        Assert.Equal([program, "sweep", "run", Path.GetFullPath(folder)], command);
    }
}
