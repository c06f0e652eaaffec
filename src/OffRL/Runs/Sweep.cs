using OffRL.Algorithms;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using OffRL.Envs;
using OffRL.IO;
using YamlDotNet.RepresentationModel;

namespace OffRL.Runs;

/// <summary>One job of a sweep: an offline run of one algorithm with some config fields set, on one dataset, one seed.</summary>
public sealed record SweepJob(int Index, string Algo, string Dataset, string? Env, ulong Seed, long Steps, int EvalEvery, int EvalEpisodes,
    int CheckpointEvery, IReadOnlyDictionary<string, JsonElement> Overrides, string? Preset = null)
{
    /// <summary>A short name of the configuration (algorithm, preset and set fields), shared by its seeds.</summary>
    public string Config => string.Join(" ", new[] { Algo, Preset is null ? null : $"preset={Preset}" }
        .Concat(Overrides.Select(kv => $"{kv.Key}={kv.Value.GetRawText()}")).OfType<string>());
}

/// <summary>What a finished job wrote: the final evaluation and where its agent is.</summary>
public sealed record SweepResult(int Index, string Algo, string Dataset, string Env, ulong Seed, string Config, double ReturnMean, double ReturnStd,
    double? NormalizedScore, double UpdatesPerSecond, double Seconds, string RunFolder);

/// <summary>
/// Hyperparameter sweeps on a scheduler the user already runs (issue 24): a grid file expands to numbered jobs
/// (algorithms x their field grids x datasets x seeds); one job runs per call, its index given or read from
/// SLURM_ARRAY_TASK_ID (Slurm job arrays) or JOB_COMPLETION_INDEX (Kubernetes Indexed Jobs); the plan also writes a
/// Slurm array script and an Indexed Job manifest for the same jobs. Each job trains into FOLDER/jobs/I/run with
/// checkpoints, and writes FOLDER/jobs/I/result.json atomically when it finishes: a rerun skips finished jobs and resumes
/// a killed one from its last checkpoint.
///
/// Grid file (YAML): algorithms: [td3bc, iql]; datasets: [hopper-medium-replay]; seeds: [0, 1, 2]; optional env, steps
/// (100000), eval_every (5000), eval_episodes (10), checkpoint_every (steps / 10: how much a killed job redoes); grid: { td3bc: { alpha: [1, 2.5] },
/// iql: { expectile: [0.7, 0.9] } } (fields as config files name them; a field not in the algorithm's config is an error
/// naming the file and line); preset (corl, authors: each job applies the algorithm's preset for its dataset, the grid's
/// fields over it; a dataset the preset has no entry for is an error at planning).
/// </summary>
public static class Sweep
{
    public const string PlanFile = "plan.json";
    /// <summary>The most jobs a grid may expand to unless it sets max_jobs.</summary>
    public const long DefaultMaxJobs = 10_000;
    private static readonly JsonSerializerOptions Json = new(ConfigFile.JsonOptions) { WriteIndented = true, DefaultIgnoreCondition = JsonIgnoreCondition.Never };

    /// <summary>The jobs of a grid file, validated against each algorithm's config (bad entries named by file and line).</summary>
    public static List<SweepJob> Expand(string gridFile)
    {
        if (!File.Exists(gridFile)) throw new DataException("grid file not found", gridFile);
        var text = File.ReadAllText(gridFile);
        ConfigFile.CheckYamlSize(text, gridFile);
        var stream = new YamlStream();
        try { stream.Load(new StringReader(text)); }
        catch (YamlDotNet.Core.YamlException e) { throw new DataException($"not valid YAML ({(e.InnerException?.Message ?? e.Message).ReplaceLineEndings(" ")})", gridFile, null, e.Start.Line); }
        if (stream.Documents.Count != 1 || stream.Documents[0].RootNode is not YamlMappingNode root)
            throw new DataException("must be one YAML map (algorithms, datasets, seeds, grid, ...)", gridFile);

        string[] known = ["algorithms", "datasets", "seeds", "env", "steps", "eval_every", "eval_episodes", "checkpoint_every", "max_jobs", "grid", "preset"];
        foreach (var (k, _) in root.Children)
            if (!known.Contains(Key(k, gridFile))) throw Bad(k, $"unknown entry (known: {string.Join(", ", known)})");
        var algoNodes = NonEmpty(Items(root, "algorithms"), "algorithms");
        var datasetNodes = NonEmpty(Items(root, "datasets"), "datasets");
        var algos = algoNodes.Select(n => Scalar(n, gridFile)).ToList();
        var datasets = datasetNodes.Select(n => Scalar(n, gridFile)).ToList();
        Distinct(algoNodes.Select((n, i) => (algos[i].Trim().ToLowerInvariant(), n)), "algorithms");
        Distinct(datasetNodes.Select((n, i) => (datasets[i], n)), "datasets");
        var seedNodes = Items(root, "seeds");
        var seeds = seedNodes.Count == 0 ? [0UL] : seedNodes.Select(n => ulong.TryParse(Scalar(n, gridFile), NumberStyles.None, CultureInfo.InvariantCulture, out var s) ? s : throw Bad(n, "a seed must be a non-negative integer")).ToList();
        Distinct(seedNodes.Select((n, i) => (seeds[i].ToString(CultureInfo.InvariantCulture), n)), "seeds");
        string? env = root.Children.TryGetValue(new YamlScalarNode("env"), out var envNode) ? Scalar(envNode, gridFile) : null;
        long steps = Number(root, "steps", 100_000);
        int evalEvery = (int)Number(root, "eval_every", Math.Min(5000, steps));
        int evalEpisodes = (int)Number(root, "eval_episodes", 10);
        int checkpointEvery = (int)Number(root, "checkpoint_every", Math.Max(1, steps / 10));
        long maxJobs = Number(root, "max_jobs", DefaultMaxJobs);
        string? preset = root.Children.TryGetValue(new YamlScalarNode("preset"), out var presetNode) ? Scalar(presetNode, gridFile) : null;
        var gridNode = root.Children.TryGetValue(new YamlScalarNode("grid"), out var g) ? g as YamlMappingNode ?? throw Bad(g, "grid must map algorithms to {field: [values]}") : null;
        if (gridNode is not null)
            foreach (var (a, _) in gridNode.Children)
                if (!algos.Contains(Key(a, gridFile))) throw Bad(a, $"grid for '{Key(a, gridFile)}', which is not in algorithms");

        // Each algorithm's axes (field, values), read and checked for repeats; then the job count, computed before
        // anything is expanded, so a grid of a million jobs is refused at once instead of filling memory and disk.
        var specs = new List<(string Algo, AlgorithmSpec Spec, List<(string Field, List<(JsonElement Value, YamlNode Node)> Values)> Axes)>();
        long count = 0;
        bool overflow = false;
        for (int i = 0; i < algos.Count; i++)
        {
            var algo = algos[i];
            AlgorithmSpec spec;
            try { spec = AlgorithmRegistry.Find(algo); }
            catch (ArgumentException e) { throw Bad(algoNodes[i], e.Message.Replace("--algo: ", "")); }
            if (spec.Mode != LearningMode.Offline) throw Bad(algoNodes[i], $"'{algo}' learns online; a sweep runs offline algorithms");
            if (preset is not null)   // every dataset must have an entry in the algorithm's preset: refused now, not in a job
                foreach (var dataset in datasets)
                {
                    try { Preset.Resolve(spec, preset, dataset); }
                    catch (ArgumentException e) { throw Bad(presetNode!, e.Message.Replace("--preset ", "preset ")); }
                }
            var fields = AlgorithmRegistry.Fields(spec).Select(f => f.Field).ToHashSet();
            var axes = new List<(string Field, List<(JsonElement Value, YamlNode Node)> Values)>();
            if (gridNode is not null && gridNode.Children.TryGetValue(new YamlScalarNode(algo), out var an))
            {
                if (an is not YamlMappingNode am) throw Bad(an, $"grid.{algo} must map fields to lists of values");
                foreach (var (f, vs) in am.Children)
                {
                    var field = Key(f, gridFile);
                    if (!fields.Contains(field)) throw Bad(f, $"'{field}' is not a config field of {algo} (offrl list --fields {algo})");
                    var values = vs is YamlSequenceNode seq ? seq.Children.ToList() : [vs];
                    if (values.Count == 0) throw Bad(f, $"grid.{algo}.{field} has no values");
                    var parsed = values.Select(v => (Value: ToJson(v, gridFile), Node: v)).ToList();
                    Distinct(parsed.Select(p => (p.Value.GetRawText(), p.Node)), $"grid.{algo}.{field}");
                    axes.Add((field, parsed));
                }
            }
            long jobsOfAlgo = (long)datasets.Count * seeds.Count;
            foreach (var (_, values) in axes)
            {
                try { jobsOfAlgo = checked(jobsOfAlgo * values.Count); }
                catch (OverflowException) { overflow = true; }
            }
            try { count = checked(count + jobsOfAlgo); }
            catch (OverflowException) { overflow = true; }
            specs.Add((algo, spec, axes));
        }
        if (overflow || count > maxJobs)
            throw new DataException($"the grid expands to {(overflow ? "more than 2^63" : count.ToString("N0", CultureInfo.InvariantCulture))} jobs, more than max_jobs " +
                $"({maxJobs.ToString("N0", CultureInfo.InvariantCulture)}{(root.Children.ContainsKey(new YamlScalarNode("max_jobs")) ? "" : ", the default")}); " +
                "shorten the value lists, or raise max_jobs if you mean to run them all", gridFile, "max_jobs");

        var jobs = new List<SweepJob>((int)Math.Min(count, 1 << 16));
        foreach (var (algo, spec, axes) in specs)
        {
            // Every combination of the axes, each checked by building the algorithm's config (ranges, types).
            var combos = new List<Dictionary<string, JsonElement>> { new() };
            foreach (var (field, values) in axes)
                combos = combos.SelectMany(c => values.Select(v => new Dictionary<string, JsonElement>(c) { [field] = v.Value })).ToList();
            foreach (var combo in combos)
            {
                try
                {
                    AlgorithmRegistry.Config(spec, Overrides(combo));
                    if (preset is not null)
                        foreach (var dataset in datasets)
                            AlgorithmRegistry.Config(spec, ConfigFile.Merge(Preset.Resolve(spec, preset, dataset).Values, Overrides(combo)));
                }
                catch (Exception e) when (e is ArgumentException or JsonException or InvalidOperationException or FormatException)
                {
                    var node = axes.SelectMany(a => a.Values).FirstOrDefault(v => combo.Values.Any(c => c.GetRawText() == v.Value.GetRawText())).Node ?? root;
                    throw Bad(node, $"{algo}: {e.Message.ReplaceLineEndings(" ")}");
                }
                foreach (var dataset in datasets)
                    foreach (var seed in seeds)
                        jobs.Add(new SweepJob(jobs.Count, algo, dataset, env, seed, steps, evalEvery, evalEpisodes, checkpointEvery, combo, preset));
            }
        }
        if (jobs.Count == 0) throw new DataException("the grid expands to no jobs", gridFile);

        // The environment and the datasets must be ones a job can open: a misspelling fails here, not in every job.
        if (env is not null)
        {
            try { EnvRegistry.Find(env); }
            catch (ArgumentException e) { throw Bad(envNode!, e.Message); }
        }
        for (int i = 0; i < datasets.Count; i++)
            if (!Recipes.IsName(datasets[i]) && !File.Exists(datasets[i]))
                throw Bad(datasetNodes[i], $"dataset '{datasets[i]}' is neither a built-in name (ENV-KIND, e.g. pendulum-medium-replay) nor an existing file");
        return jobs;

        // Refuses a list in which two items mean the same value (same seed, same config value...), naming the second.
        void Distinct(IEnumerable<(string Value, YamlNode Node)> items, string list)
        {
            var seen = new Dictionary<string, YamlNode>();
            foreach (var (value, node) in items)
                if (!seen.TryAdd(value, node))
                    throw Bad(node, $"{value} is in {list} twice (first at row {seen[value].Start.Line}); a repeated value would only run the same jobs again");
        }
        List<YamlNode> NonEmpty(List<YamlNode> items, string key) =>
            items.Count > 0 ? items : throw new DataException($"'{key}' is missing or empty", gridFile);

        static string Key(YamlNode n, string file) => n is YamlScalarNode s && s.Value is { } v ? v : throw new DataException("keys must be plain names", file, null, n.Start.Line);
        DataException Bad(YamlNode n, string why) => new(why, gridFile, null, n.Start.Line);
        List<YamlNode> Items(YamlMappingNode m, string key) =>
            !m.Children.TryGetValue(new YamlScalarNode(key), out var n) ? [] : n is YamlSequenceNode s ? s.Children.ToList() : [n];
        long Number(YamlMappingNode m, string key, long fallback)
        {
            if (!m.Children.TryGetValue(new YamlScalarNode(key), out var n)) return fallback;
            return long.TryParse(Scalar(n, gridFile), CultureInfo.InvariantCulture, out var v) && v >= 1 && v <= int.MaxValue
                ? v : throw Bad(n, $"'{key}' must be a positive integer");
        }
    }

    private static string Scalar(YamlNode n, string file) =>
        n is YamlScalarNode s && s.Value is { } v ? v : throw new DataException("expected a single value", file, null, n.Start.Line);

    private static JsonElement ToJson(YamlNode n, string file)
    {
        object? Plain(YamlNode x) => x switch
        {
            YamlScalarNode s => s.Value,
            YamlSequenceNode q => q.Children.Select(Plain).ToList<object?>(),
            _ => throw new DataException("a grid value must be a value or a list of values", file, null, x.Start.Line),
        };
        var plain = Plain(n);
        return JsonSerializer.SerializeToElement(plain is List<object?> l ? l.Select(v => ConfigFile.Coerce(v)).ToList() : ConfigFile.Coerce(plain));
    }

    private static JsonElement? Overrides(IReadOnlyDictionary<string, JsonElement> fields) =>
        fields.Count == 0 ? null : JsonSerializer.SerializeToElement(fields);

    /// <summary>The fields a job sets: its preset's for its dataset (if any), the grid's over them.</summary>
    public static JsonElement? JobOverrides(SweepJob job) =>
        ConfigFile.Merge(job.Preset is null ? null : Preset.Resolve(AlgorithmRegistry.Find(job.Algo), job.Preset, job.Dataset).Values, Overrides(job.Overrides));

    /// <summary>
    /// Writes FOLDER/plan.json (the jobs), a copy of the grid, FOLDER/slurm.sh (a job array over the indices) and
    /// FOLDER/k8s-job.yaml (an Indexed Job), each atomically. <paramref name="command"/> is how the scheduler's nodes start
    /// OffRL (default "offrl").
    /// </summary>
    public static List<SweepJob> Plan(string gridFile, string folder, string command = "offrl", int parallelism = 4, string image = "offrl:latest")
    {
        var jobs = Expand(gridFile);
        // A path is written into shell and YAML lines; a line break in one could not be.
        if (Path.GetFullPath(folder).Any(char.IsControl)) throw new ArgumentException($"--out: the folder's path holds a control character (line break, tab...); use another folder");
        if (command.Length == 0 || command.Any(char.IsControl)) throw new ArgumentException("--command: must be the path of the program that starts OffRL on the nodes, on one line");
        if (File.Exists(Path.Combine(folder, PlanFile)))
        {
            var old = Load(folder);
            if (JsonSerializer.Serialize(old, Json) != JsonSerializer.Serialize(jobs, Json))
                throw new ArgumentException($"--out: {folder} already holds another plan; use another folder (finished jobs there are kept)");
        }
        Directory.CreateDirectory(folder);
        AtomicFile.WriteAllText(Path.Combine(folder, PlanFile), JsonSerializer.Serialize(jobs, Json));
        AtomicFile.WriteAllText(Path.Combine(folder, "grid" + Path.GetExtension(gridFile)), File.ReadAllText(gridFile));
        string abs = Path.GetFullPath(folder);
        string dir = ShellQuote(abs), exe = ShellQuote(command);
        // sbatch reads #SBATCH lines itself (no shell quoting, % patterns), so the log path is not given there: the
        // script sends its output to the job's folder, quoted like every path in it.
        AtomicFile.WriteAllText(Path.Combine(folder, "slurm.sh"), $"""
            #!/bin/bash
            # One Slurm array task per sweep job: sbatch {ShellQuote(Path.Combine(abs, "slurm.sh"))}
            # A finished job (jobs/I/result.json) is skipped; a killed one resumes from its checkpoint when resubmitted.
            # Each task's output: jobs/I/slurm-ARRAYJOB_I.log in the sweep folder.
            #SBATCH --job-name=offrl-sweep
            #SBATCH --array=0-{jobs.Count - 1}%{parallelism}
            #SBATCH --cpus-per-task=2
            #SBATCH --output=/dev/null
            sweep={dir}
            job="$sweep/jobs/$SLURM_ARRAY_TASK_ID"
            mkdir -p "$job" || exit 1
            exec >"$job/slurm-$SLURM_ARRAY_JOB_ID"_"$SLURM_ARRAY_TASK_ID.log" 2>&1
            exec {exe} sweep run "$sweep"

            """);
        AtomicFile.WriteAllText(Path.Combine(folder, "k8s-job.yaml"), $$"""
            # One pod per sweep job (a Kubernetes Indexed Job: JOB_COMPLETION_INDEX is the job index): kubectl apply -f k8s-job.yaml
            # The sweep folder must be on a volume every pod mounts at the same path (here a PersistentVolumeClaim).
            apiVersion: batch/v1
            kind: Job
            metadata:
              name: offrl-sweep
            spec:
              completionMode: Indexed
              completions: {{jobs.Count}}
              parallelism: {{parallelism}}
              backoffLimit: {{2 * jobs.Count}}
              template:
                spec:
                  restartPolicy: OnFailure
                  containers:
                  - name: offrl
                    image: {{JsonSerializer.Serialize(image)}}
                    command: [{{JsonSerializer.Serialize(command)}}, "sweep", "run", {{JsonSerializer.Serialize(abs)}}]
                    resources:
                      requests: {cpu: "2", memory: 4Gi}
                    volumeMounts:
                    - {name: sweep, mountPath: {{JsonSerializer.Serialize(abs)}}}
                  volumes:
                  - name: sweep
                    persistentVolumeClaim: {claimName: offrl-sweep}

            """);
        return jobs;
    }

    /// <summary>
    /// A word for a POSIX shell that stands for <paramref name="text"/> exactly: single-quoted, each ' written '\''
    /// (spaces, $, `, \ and quotes in a path are kept as they are).
    /// </summary>
    public static string ShellQuote(string text) => "'" + text.Replace("'", "'\\''") + "'";

    /// <summary>The jobs of a planned sweep folder.</summary>
    public static List<SweepJob> Load(string folder)
    {
        var path = Path.Combine(folder, PlanFile);
        if (!File.Exists(path)) throw new DataException("not a sweep folder (plan.json is missing; run offrl sweep plan first)", folder);
        try { return JsonSerializer.Deserialize<List<SweepJob>>(File.ReadAllText(path), Json) ?? throw new DataException("is empty", path); }
        catch (JsonException e) { throw new DataException($"not a sweep plan ({e.Message})", path); }
    }

    /// <summary>The job index from the argument or the scheduler's environment (Slurm, then Kubernetes).</summary>
    public static int IndexFromEnvironment(int? given)
    {
        if (given is { } i) return i;
        foreach (var name in new[] { "SLURM_ARRAY_TASK_ID", "JOB_COMPLETION_INDEX" })
            if (Environment.GetEnvironmentVariable(name) is { Length: > 0 } v)
                return int.TryParse(v, CultureInfo.InvariantCulture, out var n) ? n : throw new ArgumentException($"{name}: '{v}' is not a job index");
        throw new ArgumentException("--index: give the job index, or run under a Slurm array (SLURM_ARRAY_TASK_ID) or a Kubernetes Indexed Job (JOB_COMPLETION_INDEX)");
    }

    /// <summary>
    /// Every unfinished job of a sweep as a child process, <paramref name="parallel"/> at a time (each with
    /// OFFRL_THREADS = cores / parallel): <paramref name="program"/> with <paramref name="prefix"/> then
    /// <c>sweep run FOLDER --index I</c> (how the command starts itself), its output appended to the job's log.txt. Each
    /// outcome is reported as it ends (a finished job's last log line; a failed one with its exit code and log); returns
    /// the number of failed jobs (a rerun retries them).
    /// </summary>
    public static int RunLocal(string folder, int parallel, string program, IReadOnlyList<string> prefix, Action<string> report)
    {
        var (done, pending) = Status(folder);
        report($"{done.Count} finished, {pending.Count} to run, {parallel} at a time");
        int threads = Math.Max(1, Environment.ProcessorCount / parallel), failed = 0;
        var queue = new Queue<int>(pending);
        var running = new List<(int Index, System.Diagnostics.Process Process)>();
        while (queue.Count > 0 || running.Count > 0)
        {
            while (running.Count < parallel && queue.Count > 0)
            {
                int i = queue.Dequeue();
                running.Add((i, StartJob(folder, i, threads, program, prefix)));
            }
            Thread.Sleep(200);
            foreach (var (i, p) in running.Where(x => x.Process.HasExited).ToList())
            {
                running.RemoveAll(x => x.Index == i);
                var log = Path.Combine(JobFolder(folder, i), "log.txt");
                if (p.ExitCode == 0) report(File.ReadLines(log).LastOrDefault() ?? $"job {i} finished");
                else { failed++; report($"job {i} failed (exit {p.ExitCode}); its output: {log}; rerun offrl sweep run to retry it"); }
                p.Dispose();
            }
        }
        return failed;
    }

    private static System.Diagnostics.Process StartJob(string folder, int index, int threads, string program, IReadOnlyList<string> prefix)
    {
        var jobDir = JobFolder(folder, index);
        Directory.CreateDirectory(jobDir);
        var psi = new System.Diagnostics.ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in prefix) psi.ArgumentList.Add(a);
        foreach (var a in new[] { "sweep", "run", folder, "--index", index.ToString(CultureInfo.InvariantCulture) }) psi.ArgumentList.Add(a);
        psi.Environment["OFFRL_THREADS"] = threads.ToString(CultureInfo.InvariantCulture);
        var p = System.Diagnostics.Process.Start(psi)!;
        var log = new StreamWriter(Path.Combine(jobDir, "log.txt"), append: true) { AutoFlush = true };
        p.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (log) log.WriteLine(e.Data); };
        p.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (log) log.WriteLine(e.Data); };
        p.Exited += (_, _) => { p.WaitForExit(); lock (log) log.Dispose(); };
        p.EnableRaisingEvents = true;
        p.BeginOutputReadLine(); p.BeginErrorReadLine();
        return p;
    }

    public static string JobFolder(string folder, int index) => Path.Combine(folder, "jobs", index.ToString(CultureInfo.InvariantCulture));
    public static string ResultFile(string folder, int index) => Path.Combine(JobFolder(folder, index), "result.json");

    /// <summary>Runs job <paramref name="index"/> unless it has finished; resumes it from its checkpoint after a kill. Returns its result.</summary>
    public static SweepResult Run(string folder, int index, bool progress = false)
    {
        var jobs = Load(folder);
        if (index < 0 || index >= jobs.Count) throw new ArgumentException($"--index: {index} is not a job of {folder} (0..{jobs.Count - 1})");
        var done = ResultFile(folder, index);
        if (File.Exists(done)) return ReadResult(done);
        var job = jobs[index];
        var run = Path.Combine(JobFolder(folder, index), "run");
        var (data, env) = Recipes.Open(job.Dataset, job.Env, log: progress ? Console.Error.WriteLine : null);
        // A killed job resumes from its last checkpoint (or its previous one, if the kill fell between two renames).
        bool resume = Directory.Exists(Path.Combine(run, "checkpoint")) || Directory.Exists(Path.Combine(run, "checkpoint.old"));
        var tc = new TrainerConfig(Steps: job.Steps, EvalEvery: job.EvalEvery, EvalEpisodes: job.EvalEpisodes, Seed: job.Seed, OutDir: run,
            Progress: progress, CheckpointEvery: job.CheckpointEvery, ResumeFrom: resume ? run : null, Overwrite: !resume,
            Provenance: new Provenance(job.Dataset, Provenance.FileSha256(Recipes.FileOf(job.Dataset)), job.Preset));
        var (_, res) = Training.Offline(job.Algo, data, env, tc, JobOverrides(job));
        var result = new SweepResult(index, job.Algo, job.Dataset, env, job.Seed, job.Config, res.Final.ReturnMean, res.Final.ReturnStd,
            res.Final.NormalizedScore, res.UpdatesPerSecond, res.Seconds, Path.GetFullPath(run));
        AtomicFile.WriteAllText(done, JsonSerializer.Serialize(result, Json));
        return result;
    }

    public static SweepResult ReadResult(string path)
    {
        try { return JsonSerializer.Deserialize<SweepResult>(File.ReadAllText(path), Json) ?? throw new DataException("is empty", path); }
        catch (JsonException e) { throw new DataException($"not a sweep result ({e.Message})", path); }
    }

    /// <summary>The finished jobs' results, and the indices still to run.</summary>
    public static (List<SweepResult> Done, List<int> Pending) Status(string folder)
    {
        var jobs = Load(folder);
        var done = new List<SweepResult>(); var pending = new List<int>();
        foreach (var j in jobs)
        {
            var f = ResultFile(folder, j.Index);
            if (File.Exists(f)) done.Add(ReadResult(f)); else pending.Add(j.Index);
        }
        return (done, pending);
    }

    /// <summary>
    /// The report of a sweep: one row per configuration and dataset (mean and std over seeds of the final return), the
    /// best configuration per dataset, and the run folders (candidates for offrl select).
    /// </summary>
    public static string Report(string folder, out List<(string Dataset, string Config, double Mean, double Std, int Seeds, double? Score)> rows)
    {
        var (done, pending) = Status(folder);
        rows = done.GroupBy(r => (r.Dataset, r.Config))
            .Select(g =>
            {
                var v = g.Select(r => r.ReturnMean).ToArray();
                double mean = v.Average(), std = Math.Sqrt(v.Select(x => (x - mean) * (x - mean)).Average());
                var scores = g.Where(r => r.NormalizedScore is not null).Select(r => r.NormalizedScore!.Value).ToArray();
                return (g.Key.Dataset, g.Key.Config, mean, std, v.Length, scores.Length > 0 ? scores.Average() : (double?)null);
            })
            .OrderBy(r => r.Dataset).ThenByDescending(r => r.mean).ToList();
        var sb = new StringBuilder();
        sb.AppendLine($"{done.Count} of {done.Count + pending.Count} jobs finished{(pending.Count > 0 ? $" (pending: {string.Join(", ", pending)})" : "")}");
        sb.AppendLine("| dataset | configuration | return (mean ± std over seeds) | seeds | normalized score |");
        sb.AppendLine("| --- | --- | ---: | ---: | ---: |");
        foreach (var r in rows)
            sb.AppendLine(CultureInfo.InvariantCulture, $"| {r.Dataset} | {r.Config} | {r.Mean:F1} ± {r.Std:F1} | {r.Seeds} | {(r.Score is { } s ? s.ToString("F1", CultureInfo.InvariantCulture) : "-")} |");
        foreach (var best in rows.GroupBy(r => r.Dataset).Select(g => g.First()))
            sb.AppendLine(CultureInfo.InvariantCulture, $"best on {best.Dataset}: {best.Config} ({best.Mean:F1} ± {best.Std:F1})");
        return sb.ToString();
    }
}
