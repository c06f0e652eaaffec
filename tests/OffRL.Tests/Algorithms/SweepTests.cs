using OffRL.Algorithms;
using Xunit;

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
            foreach (var i in Sweep.Status(folder).Pending) Sweep.Run(folder, i);
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
