using System.CommandLine;
using OffRL.Algorithms;
using OffRL.Runs;

namespace OffRL.Cli;

/// <summary><c>offrl sweep plan|run|report</c>: grids of offline runs on Slurm, Kubernetes or local processes (<see cref="Sweep"/>).</summary>
internal static class SweepCommand
{
    public static Command Create()
    {
        var cmd = new Command("sweep", "Hyperparameter sweeps: plan a grid as numbered jobs, run them (Slurm array, Kubernetes Indexed Job, or local processes), report");
        cmd.Subcommands.Add(PlanCmd());
        cmd.Subcommands.Add(RunCmd());
        cmd.Subcommands.Add(ReportCmd());
        return cmd;
    }

    private static Command PlanCmd()
    {
        var grid = new Argument<string>("grid") { Description = "Grid file (YAML): algorithms, datasets, seeds, grid of config fields, steps, ..." };
        var output = new Option<string>("--out") { Description = "Sweep folder (plan.json, slurm.sh, k8s-job.yaml; jobs/I/ as they run)", Required = true };
        var command = new Option<string>("--command") { Description = "Path of the program that starts OffRL on the cluster's nodes (one path; quoted in the scripts)", DefaultValueFactory = _ => "offrl" };
        var parallel = new Option<int>("--parallelism") { Description = "Jobs at once in the Slurm array and the Kubernetes Job", DefaultValueFactory = _ => 4 }.InRange("[1, 100000]");
        var image = new Option<string>("--image") { Description = "Container image for the Kubernetes Job", DefaultValueFactory = _ => "offrl:latest" };
        var cmd = new Command("plan", "Expand a grid file into numbered jobs, with a Slurm array script and a Kubernetes Indexed Job manifest") { grid, output, command, parallel, image };
        cmd.SetAction(r =>
        {
            var folder = r.GetValue(output)!;
            new OffRL.IO.PathGuard().Input("grid", r.GetValue(grid)).Output("--out", folder).Check();
            var jobs = Sweep.Plan(r.GetValue(grid)!, folder, r.GetValue(command)!, r.GetValue(parallel), r.GetValue(image)!);
            foreach (var j in jobs) Console.WriteLine($"job {j.Index,4}: {j.Config} on {j.Dataset}, seed {j.Seed}, {j.Steps} steps");
            Console.WriteLine($"{jobs.Count} jobs in {folder}: offrl sweep run {folder} --local --parallel 2 | sbatch {Path.Combine(folder, "slurm.sh")} | kubectl apply -f {Path.Combine(folder, "k8s-job.yaml")}");
            return 0;
        });
        return cmd;
    }

    private static Command RunCmd()
    {
        var folder = new Argument<string>("folder") { Description = "Sweep folder written by offrl sweep plan" };
        var index = new Option<int?>("--index") { Description = "The job to run (default: SLURM_ARRAY_TASK_ID, else JOB_COMPLETION_INDEX)" }.InRange("[0, 100000000]");
        var local = new Option<bool>("--local") { Description = "Run every unfinished job here, as separate processes" };
        var parallel = new Option<int>("--parallel") { Description = "With --local: processes at once (each gets cores / N engine threads)", DefaultValueFactory = _ => 1 }.InRange("[1, 1024]");
        var cmd = new Command("run", "Run one job of a sweep (finished jobs are skipped, a killed one resumes), or all of them here with --local") { folder, index, local, parallel };
        cmd.SetAction(r =>
        {
            var dir = r.GetValue(folder)!;
            if (!r.GetValue(local))
            {
                var res = Sweep.Run(dir, Sweep.IndexFromEnvironment(r.GetValue(index)), progress: false);
                Console.WriteLine($"job {res.Index}: {res.Config} on {res.Dataset}, seed {res.Seed}: return {res.ReturnMean:F1} ± {res.ReturnStd:F1} ({res.RunFolder})");
                return 0;
            }
            return RunLocal(dir, r.GetValue(parallel));
        });
        return cmd;
    }

    /// <summary>Every unfinished job as a child process (this same program with --index), N at a time; 1 if any failed.</summary>
    private static int RunLocal(string dir, int n)
    {
        // This program again: the apphost, or `dotnet OffRL.Cli.dll` when started through dotnet.
        var self = Environment.ProcessPath!;
        string[] prefix = Path.GetFileNameWithoutExtension(self) == "dotnet" ? [typeof(SweepCommand).Assembly.Location] : [];
        int failed = Sweep.RunLocal(dir, n, self, prefix, Console.WriteLine);
        return failed == 0 ? 0 : Errors.Failed;
    }

    private static Command ReportCmd()
    {
        var folder = new Argument<string>("folder") { Description = "Sweep folder" };
        var plot = new Option<string?>("--plot") { Description = "PNG: mean return over seeds per configuration, one panel row per dataset" };
        var cmd = new Command("report", "Gather a sweep's results: a table per dataset, the best configuration, the run folders for offrl select") { folder, plot };
        cmd.SetAction(r =>
        {
            var dir = r.GetValue(folder)!;
            var candidates = Path.Combine(dir, "candidates.txt");
            new OffRL.IO.PathGuard().Input("folder", Path.Combine(dir, "plan.json")).Input("folder", Path.Combine(dir, "jobs"))
                .Output("candidates", candidates).Output("--plot", r.GetValue(plot)).Check();
            Console.Write(Sweep.Report(dir, out var rows));
            var (done, _) = Sweep.Status(dir);
            OffRL.IO.AtomicFile.WriteAllText(candidates, string.Join('\n', done.Select(d => d.RunFolder)) + "\n");
            Console.WriteLine($"run folders of the finished jobs: {candidates} (offrl select --dataset D --candidates $(cat {candidates}))");
            if (r.GetValue(plot) is { } png && rows.Count > 0)
            {
                var plt = new ScottPlot.Plot();
                for (int i = 0; i < rows.Count; i++)
                {
                    var bar = plt.Add.Bar(i, rows[i].Mean);
                    var err = plt.Add.Scatter(new double[] { i, i }, new[] { rows[i].Mean - rows[i].Std, rows[i].Mean + rows[i].Std });
                    err.MarkerSize = 0; err.Color = ScottPlot.Colors.Black;
                }
                plt.Axes.Bottom.SetTicks(Enumerable.Range(0, rows.Count).Select(i => (double)i).ToArray(), rows.Select(x => $"{x.Config}\n{x.Dataset}").ToArray());
                plt.YLabel("final return (mean ± std over seeds)");
                plt.Title($"sweep {Path.GetFileName(Path.GetFullPath(dir).TrimEnd('/'))}");
                Plots.WritePng(plt, png, Math.Max(800, 120 * rows.Count), 600);
                Console.WriteLine($"wrote {png}");
            }
            return 0;
        });
        return cmd;
    }
}
