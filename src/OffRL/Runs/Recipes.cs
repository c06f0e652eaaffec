using OffRL.Algorithms;
using OffRL.Data;
using OffRL.Data.IO;
using OffRL.Envs;
using OffRL.Tensors;

namespace OffRL.Runs;

/// <summary>
/// D4RL-style dataset recipes built with OffRL's own SAC (Fu et al. 2020's protocol): random (uniform actions),
/// medium (a policy at about one third of expert), expert (SAC, or Double DQN for discrete actions, trained to convergence), medium-replay (the replay
/// buffer of SAC up to the medium policy), medium-expert (medium and expert concatenated). Names: ENV-KIND, e.g.
/// pendulum-medium-replay. Datasets are generated on first use and cached (Parquet) in <see cref="CacheDir"/>.
/// </summary>
public static class Recipes
{
    /// <summary>
    /// How an environment's datasets are built. The medium policy must be a stable one, as D4RL's are (hopper-medium-v2:
    /// return 1422 ± 378, about ±12 points): an evaluation of the SAC run (<see cref="EvalEvery"/>, 5 deterministic
    /// episodes) in the band [low, high] makes the snapshot a candidate, which is then judged on
    /// <see cref="MediumEpisodes"/> episodes of the stochastic policy that will collect the data. A candidate counts when
    /// its judged score is in the band and the std of its episodes' scores is at most <see cref="MediumMaxStd"/>
    /// (normalized points; null: no bound). The medium policy is the counting candidate closest to
    /// <see cref="MediumScore"/>; with a <see cref="MediumTolerance"/> the first one within MediumScore ± tolerance is
    /// final, so random, medium and medium-replay can be built without training on to expert; after
    /// <see cref="MediumSearchSteps"/> SAC steps the closest counting candidate so far is final (SAC often passes the
    /// band for good). No counting candidate is an error, not a fallback to an unstable one.
    /// </summary>
    /// <param name="MediumReturn">Version 3: the return mean of D4RL v2's medium data for this env; the medium policy is then
    /// the judged snapshot nearest this mean and <paramref name="MediumReturnStd"/> (distance |mean - target| + |std -
    /// target std|, in units of the target std) over the whole search, never the first in a band.</param>
    /// <param name="MediumReplaySize">Version 5: D4RL v2's medium-replay size (transitions). Our SAC reaches D4RL's medium
    /// level far sooner than D4RL's did (hopper at 15k steps, halfcheetah near 110k), so the nearest level alone gives a
    /// medium-replay (the buffer up to the medium policy) a fraction of D4RL's, and a later snapshot a buffer of D4RL's
    /// size but a higher level. The distance then also counts the buffer's shortfall, (size - step) / size when
    /// positive: a buffer half D4RL's weighs as much as half a std of return. Null: the level alone.</param>
    /// <param name="SearchCheckpointEvery">SAC steps between checkpoints of the medium search, from which a stopped build
    /// goes on (even in another session) with the rule's state as it was. Part of the recipe: a checkpoint ends the
    /// episode in progress, so the data differ with and without it. Null: the search runs in one go (how the hopper and
    /// halfcheetah version-5 files were built).</param>
    /// <param name="LearnerHidden">Version 6: the hidden widths of the learner that builds the data (SAC's or Double DQN's
    /// networks); null: the learner's default (256, 256).</param>
    /// <param name="Version">The rule version, part of the cached files' names (a new rule builds anew).</param>
    public sealed record EnvRecipe(string Env, long ExpertSteps, int DatasetSteps, double MediumScoreLow, double MediumScoreHigh, int EvalEvery,
        double MediumScore = 33, double? MediumTolerance = null, int MediumEpisodes = 10, double? MediumMaxStd = 15, long? MediumSearchSteps = null,
        double? MediumReturn = null, double? MediumReturnStd = null, long? MediumReplaySize = null, int? SearchCheckpointEvery = null, int[]? LearnerHidden = null,
        int Version = 2);

    /// <summary>
    /// Version of a recipe's rule, part of its cached files' names (<see cref="EnvRecipe.Version"/>): a change of rule
    /// builds the datasets anew instead of reading ones made by the old rule. Version 2: the stable medium policy (the
    /// closest in a band, first within a tolerance); version 3: the snapshot nearest D4RL v2's medium return and spread
    /// over the whole search; version 5: that distance plus the medium-replay's shortfall from D4RL's size (hopper,
    /// halfcheetah, walker2d). This is the version of the recipes that keep rule 2.
    /// </summary>
    public const int Version = 2;

    public static readonly IReadOnlyDictionary<string, EnvRecipe> Envs = new Dictionary<string, EnvRecipe>
    {
        // Pendulum's and CartPole's returns depend mostly on the start state, not on a policy that may fall: no spread bound.
        ["pendulum"] = new("pendulum", 10_000, 50_000, 10, 70, 250, MediumMaxStd: null),
        // CartPole, version 6: Double DQN with 64-unit layers, which learns CartPole as well as 256-unit ones (seed 0 at
        // 30 000 steps: return 490 against 297) at four times the speed (860 updates/s against 214 on one core).
        ["cartpole"] = new("cartpole", 30_000, 50_000, 10, 70, 1000, MediumMaxStd: null, LearnerHidden: [64, 64], Version: 6),
        // Hopper's SAC snapshots often walk or fall at once (seed 0 at 15k steps: return 1231 ± 712, i.e. ±22 points):
        // judged on 20 episodes, spread at most 15 points; target D4RL's hopper-medium average (44), within its own
        // spread (return std 378: ±12 points); SAC (seed 0) passes the band by 85k steps, so the search ends at 100k.
        // Version 3 (D4RL-level data): the snapshot nearest D4RL v2's medium data, judged on 20 stochastic episodes over
        // the whole search: hopper-medium-v2 return 1422 +- 378 (about 460-step episodes); halfcheetah-medium-v2 4770 +- 356.
        // Every evaluation of the deterministic policy between 15 and 70 points is judged.
        // Version 5 (hopper and halfcheetah): as 3, the distance also counting the medium-replay's shortfall from D4RL's
        // (hopper-medium-replay-v2: 402 000 transitions, so the search runs to 500 000 steps; halfcheetah: 202 000). The
        // version-3 hopper files (medium at SAC's step 15 000, a 15 000-transition medium-replay) were the first parity
        // campaign's: bench/results/datasets.
        ["hopper"] = new("hopper", 1_000_000, 1_000_000, 15, 70, 5_000, MediumScore: 44, MediumEpisodes: 20, MediumMaxStd: null, MediumSearchSteps: 500_000,
            MediumReturn: 1422, MediumReturnStd: 378, MediumReplaySize: 402_000, Version: 5),
        ["halfcheetah"] = new("halfcheetah", 1_000_000, 1_000_000, 15, 70, 5_000, MediumScore: 40.7, MediumEpisodes: 20, MediumMaxStd: null, MediumSearchSteps: 300_000,
            MediumReturn: 4770, MediumReturnStd: 356, MediumReplaySize: 202_000, Version: 5),
        // Walker2d, version 5: D4RL walker2d-medium-v2 returns 2852 +- 1095 (score 62; its medium policy often falls), its
        // medium-replay holds 302 000 transitions (the Decision Transformer loader's printout of the v2 files, cited in
        // bench/reference/dataset_table.py); judged when the deterministic score is in [15, 90], search to 400 000 steps.
        ["walker2d"] = new("walker2d", 1_000_000, 1_000_000, 15, 90, 5_000, MediumScore: 62, MediumEpisodes: 20, MediumMaxStd: null, MediumSearchSteps: 400_000,
            MediumReturn: 2852, MediumReturnStd: 1095, MediumReplaySize: 302_000, SearchCheckpointEvery: ExpertCheckpointEvery, Version: 5),
        ["pointmaze-umaze"] = new("pointmaze-umaze", 200_000, 200_000, 25, 45, 5_000, MediumMaxStd: null),
    };

    public static readonly string[] Kinds = ["random", "medium", "expert", "medium-replay", "medium-expert"];

    /// <summary>OFFRL_DATA, else ~/.local/share/offrl/datasets.</summary>
    public static string CacheDir => Environment.GetEnvironmentVariable("OFFRL_DATA")
        ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.LocalApplicationData), "offrl", "datasets");

    public static bool IsName(string name) => TryParse(name, out _, out _);

    /// <summary>The file a dataset argument reads: a built-in name's cache file (for its seed), else the path itself.</summary>
    public static string? FileOf(string? nameOrFile, ulong seed = 0) =>
        nameOrFile is null ? null : IsName(nameOrFile) && !File.Exists(nameOrFile) ? CachePath(nameOrFile, seed) : nameOrFile;

    /// <summary>
    /// The one dataset-name resolution of OffRL: a built-in name (generated and cached on first use; a file of that
    /// name wins) or a dataset file, with the environment it is evaluated in (<paramref name="env"/>, else the one the
    /// dataset names). The dataset is fitted to that environment (<see cref="FitToEnv"/>) whenever one is known, with or
    /// without <paramref name="needEnv"/>: a given <paramref name="env"/> always (an unknown name is an error), the one the
    /// dataset names when it is registered. With no environment the dataset is used as declared.
    /// </summary>
    public static (Dataset Data, string Env) Open(string nameOrFile, string? env = null, ulong seed = 0, bool truncateTail = true,
        Action<string>? log = null, bool needEnv = true)
    {
        var data = IsName(nameOrFile) && !File.Exists(nameOrFile) ? Get(nameOrFile, seed, log) : Data.IO.DatasetFile.Read(nameOrFile, truncateTail);
        var e = string.IsNullOrEmpty(env) ? data.Info.Env : env;
        if (needEnv && string.IsNullOrEmpty(e)) throw new ArgumentException($"--env: {nameOrFile} does not name its environment; pass --env NAME for evaluation");
        if (!string.IsNullOrEmpty(env) || needEnv) { if (!string.IsNullOrEmpty(e)) data = FitToEnv(data, e); }
        else if (!string.IsNullOrEmpty(e) && IsEnv(e))
        {
            // The env the dataset names, where none is asked for (dataset info, convert, select): checked when it can be
            // made here (a MuJoCo env needs the native library, which inspecting a file should not).
            try { data = FitToEnv(data, e); }
            catch (DllNotFoundException) { }
        }
        return (data, e);
    }

    private static bool IsEnv(string name)
    {
        foreach (var x in EnvRegistry.All)
            if (string.Equals(x.Name, name, StringComparison.OrdinalIgnoreCase) || string.Equals(x.GymnasiumId, name, StringComparison.OrdinalIgnoreCase)) return true;
        return false;
    }

    /// <summary>
    /// The dataset checked against the environment it is used in, the one place where the two meet (training, OPE,
    /// conversion with an environment). Refused, naming the file and field: observations of another width; actions of
    /// another kind or width, or another discrete count; declared action bounds other than the environment's (both
    /// named); any action outside the environment's range (its row named). A dataset whose spaces were guessed
    /// (<see cref="DatasetInfo.SpacesGuessed"/>: CSV, D4RL files without OffRL's space attributes) takes the
    /// environment's spaces instead, validated again, so training rescales actions by the true bounds. An environment
    /// that hides observation dimensions (<see cref="ObservationNoise.MaskedDims"/>: pendulum-masked's velocity) hides
    /// them in the dataset too, so the agent learns from what it will see.
    /// </summary>
    public static Dataset FitToEnv(Dataset data, string env)
    {
        using var probe = EnvRegistry.Make(env);
        var fitted = FitSpaces(data, probe, env);
        for (var e = (IEnv)probe; e is Wrapper w; e = w.Inner)
            if (w is ObservationNoise { MaskedDims.Count: > 0 } hides) fitted = HideDimensions(fitted, hides.MaskedDims, env);
        return fitted;
    }

    /// <summary>The dataset's observations (and next observations) with the given dimensions zeroed, as the environment hides them.</summary>
    private static Dataset HideDimensions(Dataset data, IReadOnlyList<int> dims, string env)
    {
        var c = data.CopyColumns();
        int od = data.ObservationDim;
        foreach (var column in new[] { c.Observations, c.NextObservations })
            if (column is not null)
                for (int i = 0; i < column.Length; i += od)
                    foreach (int d in dims) column[i + d] = 0f;
        return data.With(c, $"observation dimensions {string.Join(", ", dims)} zeroed, as {env} hides them");
    }

    private static Dataset FitSpaces(Dataset data, IEnv probe, string env)
    {
        Space eo = probe.ObservationSpace, ea = probe.ActionSpace;
        string? file = data.Where;
        if (eo.Width != data.ObservationDim)
            throw new DataException($"observations have {data.ObservationDim} values, {env} gives {eo.Width}: the dataset is not from this environment", file, "observations");
        if (data.Info.SpacesGuessed)
        {
            // A guessed space says only the width: the environment's kind, count and bounds replace it.
            if (ea.Width != data.ActionDim)
                throw new DataException($"actions have {data.ActionDim} values, {env} takes {ea.Width} ({ea}): the dataset is not from this environment", file, "actions");
            CheckActionsIn(data, ea, env, file);
            var info = data.Info with { SpacesGuessed = false, Env = data.Info.Env.Length > 0 ? data.Info.Env : env, Processing = new List<string>(data.Info.Processing) };
            info.Processing.Add($"spaces taken from {env}: observations {eo}, actions {ea} (the file declared none)");
            return data.WithSpaces(eo, ea, info);
        }
        var da = data.ActionSpace;
        switch (da, ea)
        {
            case (Discrete d, Discrete e) when d.N != e.N:
                throw new DataException($"the dataset's actions are {d} and {env} has {e.N} actions ({e}): the dataset is not from this environment", file, "actions");
            case (Box d, Box e) when d.Width != e.Width:
                throw new DataException($"the dataset's actions are {d} ({d.Width} values) and {env} takes {e} ({e.Width} values): the dataset is not from this environment", file, "actions");
            case (Box d, Box e) when !d.Equals(e):
                throw new DataException($"the dataset declares action bounds {d} and {env}'s are {e}: they must be the same (rescaling by other bounds would act outside the environment's range)", file, "actions");
            case (Discrete, Box) or (Box, Discrete):
                throw new DataException($"the dataset's actions are {da} and {env} takes {ea}: the dataset is not from this environment", file, "actions");
        }
        CheckActionsIn(data, ea, env, file);
        return data;
    }

    /// <summary>Every action of the dataset inside the environment's action space, else the first outside by row.</summary>
    private static void CheckActionsIn(Dataset data, Space space, string env, string? file)
    {
        var a = data.Actions;
        switch (space)
        {
            case Discrete d:
                for (int i = 0; i < data.Count; i++)
                    if (a[i] < 0 || a[i] >= d.N || a[i] != MathF.Floor(a[i]))
                        throw new DataException($"action {a[i]} is not one of {env}'s actions 0..{d.N - 1}", file, "actions", data.RowOf(i));
                break;
            case Box b:
                int w = b.Width;
                for (int i = 0; i < data.Count; i++)
                    for (int j = 0; j < w; j++)
                    {
                        float v = a[i * w + j];
                        if (v < b.Low[j] - 1e-5f || v > b.High[j] + 1e-5f)
                            throw new DataException($"action {v} is outside {env}'s range [{Box.F(b.Low[j])}, {Box.F(b.High[j])}]", file, "actions", data.RowOf(i), w > 1 ? j : -1);
                    }
                break;
        }
    }

    private static bool TryParse(string name, out EnvRecipe recipe, out string kind)
    {
        foreach (var k in Kinds.OrderByDescending(k => k.Length))
            if (name.EndsWith("-" + k) && Envs.TryGetValue(name[..^(k.Length + 1)], out recipe!)) { kind = k; return true; }
        recipe = null!; kind = "";
        return false;
    }

    /// <summary>Where the named dataset is cached: NAME-seedSEED-vVERSION.parquet in <see cref="CacheDir"/>.</summary>
    public static string CachePath(string name, ulong seed) =>
        TryParse(name, out var r, out var kind) ? CacheFile(r, kind, seed) : Path.Combine(CacheDir, $"{name}-seed{seed}-v{Version}.parquet");

    /// <summary>Where a recipe caches one kind of its datasets (<see cref="CachePath"/> for the recipe's own version).</summary>
    internal static string CacheFile(EnvRecipe r, string kind, ulong seed) => Path.Combine(CacheDir, $"{r.Env}-{kind}-seed{seed}-v{r.Version}.parquet");

    /// <summary>The folder of a recipe's learner run (SAC, or Double DQN): its checkpoints (where the medium search stopped, then the expert run's) and metrics.</summary>
    internal static string LearnerDir(EnvRecipe r, ulong seed) => Path.Combine(CacheDir, $"{r.Env}-learner-seed{seed}-v{r.Version}");

    /// <summary>The named dataset, from the cache or built now.</summary>
    public static Dataset Get(string name, ulong seed = 0, Action<string>? log = null)
    {
        if (!TryParse(name, out var recipe, out var kind))
            throw new ArgumentException($"unknown dataset '{name}' (ENV-KIND with ENV in {string.Join(", ", Envs.Keys)} and KIND in {string.Join(", ", Kinds)})");
        var path = CachePath(name, seed);
        if (File.Exists(path)) return ParquetFormat.Read(path);
        log ??= Console.WriteLine;
        Build(recipe, seed, log, needExpert: kind is "expert" or "medium-expert");
        return ParquetFormat.Read(path);
    }

    /// <summary>SAC steps between the expert run's checkpoints: what a build stopped during the expert run redoes.</summary>
    public const int ExpertCheckpointEvery = 25_000;

    /// <summary>
    /// Train SAC, keep the medium snapshot and its replay buffer, train on to expert, and write every kind to the cache
    /// (random, medium and medium-replay only, when no expert is needed and the medium search settles before the expert
    /// steps). Resumable by stage: a kind already in the cache is not built again; the learner run lives in
    /// CACHE/ENV-learner-seedS-vN, checkpointed where the medium search stops and every <see cref="ExpertCheckpointEvery"/>
    /// steps of the run on to expert, so an expert build stopped (even across sessions) goes on from its last checkpoint.
    /// </summary>
    internal static void Build(EnvRecipe r, ulong seed, Action<string> log, bool needExpert)
    {
        Directory.CreateDirectory(CacheDir);
        string File(string kind) => CacheFile(r, kind, seed);
        using var probe = EnvRegistry.Make(r.Env);
        var actSpace = probe.ActionSpace;
        log($"building {r.Env} datasets (seed {seed}) in {CacheDir}: {(actSpace is Discrete ? "Double DQN" : "SAC")} for up to {r.ExpertSteps} steps, {r.DatasetSteps} transitions per dataset");
        if (!System.IO.File.Exists(File("random")))   // a build resumed after its random data was written
        {
            var random = Collect(null, r.Env, r.DatasetSteps, seed + 1);
            ParquetFormat.Write(random, File("random"));
            log($"  random: return {random.EpisodeReturns().Average():F1}");
        }

        var sac = NewLearner(r, seed);
        string sacDir = LearnerDir(r, seed);
        bool HasCheckpoint() => Directory.Exists(Path.Combine(sacDir, "checkpoint")) || Directory.Exists(Path.Combine(sacDir, "checkpoint.old"));
        Dataset? medium = null;
        bool searched = System.IO.File.Exists(File("medium")) && System.IO.File.Exists(File("medium-replay"));
        // The medium files of an earlier build without the SAC run's checkpoint (older code): the search runs again
        // (the same seed and code write the same files) to give the expert run its start.
        if (!searched || (needExpert && !HasCheckpoint()))
        {
            bool settled = SearchMedium(r, seed, sac, sacDir, probe, log, out medium);
            if (!settled) { CollectExpert(r, seed, sac, medium, log, File); return; }   // trained to the expert steps already
        }
        if (!needExpert) return;
        // Expert: SAC goes on from where the search stopped (or from the expert run's last checkpoint) to the expert steps.
        log($"  expert run: SAC on to step {r.ExpertSteps} from {sacDir} (checkpoint every {ExpertCheckpointEvery} steps; a stopped build goes on from there)");
        var online = Trainer.FitOnlineWithCallback(sac, r.Env, new TrainerConfig(Steps: r.ExpertSteps, EvalEvery: r.EvalEvery, EvalEpisodes: 5, Seed: seed,
                StartSteps: StartSteps(r), Progress: false, OutDir: sacDir, ResumeFrom: sacDir, CheckpointEvery: ExpertCheckpointEvery),
            (e, _) => { log($"  SAC step {e.Step}: return {e.ReturnMean:F1} (score {e.NormalizedScore:F1})"); return false; });
        log($"  expert policy after {online.Final.Step} steps: return {online.Final.ReturnMean:F1} (score {online.Final.NormalizedScore:F1})");
        CollectExpert(r, seed, sac, medium ?? ParquetFormat.Read(File("medium")), log, File);
    }

    private static int StartSteps(EnvRecipe r) => (int)Math.Min(5000, r.ExpertSteps / 10);

    /// <summary>
    /// The medium search: SAC from scratch, each evaluation fed to the <see cref="MediumRule"/>; writes medium (1M
    /// rollouts of the kept snapshot) and medium-replay (the buffer up to it). True when the rule settled before the
    /// expert steps (the run's end is then checkpointed in <paramref name="sacDir"/> for the expert run); false when
    /// SAC trained on to the expert steps.
    /// </summary>
    private static bool SearchMedium(EnvRecipe r, ulong seed, Agent sac, string sacDir, IEnv probe, Action<string> log, out Dataset medium)
    {
        var actSpace = probe.ActionSpace;
        string mediumDir = Path.Combine(CacheDir, $"{r.Env}-medium-policy-seed{seed}-v{r.Version}");
        var search = new SearchProgress(r, seed);
        var rule = new MediumRule(r, stopAtMedium: true);
        Dataset? mediumReplay = null;
        MediumRule.Judged? medium0 = null;
        long mediumStep = 0;
        // A search stopped after one of its checkpoints (a recipe with SearchCheckpointEvery) goes on from there.
        bool resume = r.SearchCheckpointEvery is not null && Directory.Exists(Path.Combine(sacDir, "checkpoint")) && search.Started;
        if (resume && search.Read() is { } kept)
        {
            rule.Restore(kept.Gap);
            (mediumStep, medium0, mediumReplay) = (kept.Step, kept.Judged, ParquetFormat.Read(search.ReplayFile));
        }
        else if (!resume && r.SearchCheckpointEvery is not null) search.Begin();
        if (resume) log($"  medium search: going on from the checkpoint in {sacDir}{(medium0 is null ? "" : $" (medium policy so far: step {mediumStep})")}");
        var online = Trainer.FitOnlineWithCallback(sac, r.Env, new TrainerConfig(Steps: r.ExpertSteps, EvalEvery: r.EvalEvery, EvalEpisodes: 5, Seed: seed,
                StartSteps: StartSteps(r), Progress: false, OutDir: sacDir, Overwrite: !resume, ResumeFrom: resume ? sacDir : null,
                CheckpointEvery: r.SearchCheckpointEvery ?? 0, CheckpointAtEnd: true),
            (e, buffer) =>
            {
                bool verbose = r.MediumTolerance is not null || r.MediumReturn is not null;   // the long MuJoCo builds report each evaluation
                if (verbose) log($"  SAC step {e.Step}: return {e.ReturnMean:F1} (score {e.NormalizedScore:F1})");
                var kept = rule.Keep(e.NormalizedScore, e.Step, () => Judge(sac, r, seed, mediumDir + ".candidate"), out var judged);
                if (verbose && judged is { } j)
                    log($"    judged on {r.MediumEpisodes} stochastic episodes: return {j.ReturnMean:F1} ± {j.ReturnStd:F1} (score {j.ScoreMean:F1} ± {j.ScoreStd:F1}): {(kept ? "medium policy" : "not kept")}");
                if (kept)
                {
                    sac.Save(mediumDir);
                    mediumReplay = buffer.ToDataset(probe.ObservationSpace, actSpace, new DatasetInfo($"OffRL SAC replay buffer up to the medium policy (step {e.Step})", r.Env), sac.Preprocessing);
                    (mediumStep, medium0) = (e.Step, judged);
                    if (r.SearchCheckpointEvery is not null) search.Write(new SearchProgress.Kept(e.Step, rule.BestGap, judged!.Value), mediumReplay);
                }
                return rule.Stop;
            });
        if (mediumReplay is null || medium0 is not { } m0)
            throw new InvalidOperationException($"{r.Env}: in {online.Final.Step} SAC steps no snapshot scored between {r.MediumScoreLow} and {r.MediumScoreHigh} on {r.MediumEpisodes} episodes"
                + (r.MediumMaxStd is { } bound ? $" with a spread of at most {bound} points" : "") + "; no medium policy (try another --dataset-seed)");
        string mediumSource = $"OffRL SAC medium policy: snapshot at step {mediumStep}, judged on {r.MediumEpisodes} stochastic episodes: return {m0.ReturnMean:F1} ± {m0.ReturnStd:F1}, score {m0.ScoreMean:F1} ± {m0.ScoreStd:F1}";
        log($"  {mediumSource}");
        medium = Collect(Collector(r, seed, mediumDir), r.Env, r.DatasetSteps, seed + 3, mediumSource);
        ParquetFormat.Write(medium, CacheFile(r, "medium", seed));
        ParquetFormat.Write(mediumReplay, CacheFile(r, "medium-replay", seed));
        log($"  medium: return {medium.EpisodeReturns().Average():F1}; medium-replay: {mediumReplay.Count} transitions");
        search.Delete();
        if (rule.Stop) log($"  stopped at the medium policy (step {online.Final.Step}); the expert kinds are built when first asked for");
        return rule.Stop;
    }

    /// <summary>The expert dataset (rollouts of the trained learner) and medium-expert (medium, then expert).</summary>
    private static void CollectExpert(EnvRecipe r, ulong seed, Agent sac, Dataset medium, Action<string> log, Func<string, string> file)
    {
        (sac as Dqn)?.SettleExploration();
        var expert = Collect(sac, r.Env, r.DatasetSteps, seed + 2);
        ParquetFormat.Write(expert, file("expert"));
        ParquetFormat.Write(Dataset.Concat([medium, expert], new DatasetInfo("OffRL medium + expert", r.Env)), file("medium-expert"));
        log($"  expert: return {expert.EpisodeReturns().Average():F1}");
    }

    /// <summary>
    /// The snapshot judged as it will collect: saved, loaded as <see cref="Collector"/> does (DQN with its exploration
    /// settled), its stochastic policy run for the recipe's <see cref="EnvRecipe.MediumEpisodes"/> episodes (seeds apart
    /// from evaluation's).
    /// </summary>
    private static MediumRule.Judged Judge(Agent snapshot, EnvRecipe r, ulong seed, string dir)
    {
        snapshot.Save(dir);
        var res = Rollout.Episodes(r.Env, Collector(r, seed, dir), r.MediumEpisodes, seed + 2_000_000UL, deterministic: false);
        Directory.Delete(dir, true);
        NormalizedScore.TryGet(r.Env, out var reference);   // the score is linear in the return: its std is the returns' std, rescaled
        return new MediumRule.Judged(res.Mean, res.Std, NormalizedScore.Score(r.Env, res.Mean), 100 * res.Std / (reference.Expert - reference.Random));
    }

    /// <summary>A saved snapshot as the policy that collects a dataset (Double DQN with its exploration settled).</summary>
    private static Agent Collector(EnvRecipe r, ulong seed, string dir)
    {
        var agent = NewLearner(r, seed);
        agent.Load(dir);
        (agent as Dqn)?.SettleExploration();
        return agent;
    }

    /// <summary>
    /// What a checkpointed medium search has kept so far, beside the cache (CACHE/ENV-medium-search-seedS-vN.json and
    /// the candidate medium-replay): written when a snapshot is kept, read when a stopped search goes on, removed when
    /// the search's files are written. A snapshot kept after the last checkpoint stands: the resumed run replays those
    /// steps as they ran (same seeds and state).
    /// </summary>
    internal sealed class SearchProgress(EnvRecipe r, ulong seed)
    {
        public readonly record struct Kept(long Step, double Gap, MediumRule.Judged Judged);

        private string StateFile => Path.Combine(CacheDir, $"{r.Env}-medium-search-seed{seed}-v{r.Version}.json");

        /// <summary>The medium-replay as it was when the kept snapshot was kept.</summary>
        public string ReplayFile => Path.Combine(CacheDir, $"{r.Env}-medium-search-seed{seed}-v{r.Version}.medium-replay.parquet");

        /// <summary>A search has begun (and not finished): its state file is there, with or without a kept snapshot.</summary>
        public bool Started => File.Exists(StateFile);

        /// <summary>A new search: nothing kept yet.</summary>
        public void Begin()
        {
            Delete();
            IO.AtomicFile.WriteAllText(StateFile, "null");
        }

        public void Write(Kept kept, Dataset mediumReplay)
        {
            ParquetFormat.Write(mediumReplay, ReplayFile);   // before the state that names it
            IO.AtomicFile.WriteAllText(StateFile, System.Text.Json.JsonSerializer.Serialize(kept));
        }

        /// <summary>The snapshot kept so far; null when none was.</summary>
        public Kept? Read()
        {
            try { return System.Text.Json.JsonSerializer.Deserialize<Kept?>(File.ReadAllText(StateFile)); }
            catch (System.Text.Json.JsonException e) { throw new DataException($"not a medium search's state ({e.Message}); remove it to search anew", StateFile); }
        }

        public void Delete()
        {
            File.Delete(StateFile);
            File.Delete(ReplayFile);
        }
    }

    /// <summary>
    /// Which SAC snapshot is the medium policy (<see cref="EnvRecipe"/>), fed one evaluation at a time: a snapshot whose
    /// evaluation is in the band is judged on more episodes; among those judged in the band with a spread within the
    /// bound, the closest to the target so far, frozen at the first one within the tolerance (when the recipe has one).
    /// </summary>
    internal sealed class MediumRule(EnvRecipe r, bool stopAtMedium)
    {
        /// <summary>A judged snapshot: return and normalized score, mean and std over its episodes.</summary>
        public readonly record struct Judged(double ReturnMean, double ReturnStd, double ScoreMean, double ScoreStd);

        private double _bestGap = double.MaxValue;

        /// <summary>The kept snapshot's distance to the target (<see cref="double.MaxValue"/> before one is kept).</summary>
        public double BestGap => _bestGap;

        /// <summary>The rule as it was when a snapshot at distance <paramref name="bestGap"/> was kept (a resumed search).</summary>
        public void Restore(double bestGap) => _bestGap = bestGap;

        /// <summary>The first snapshot within the tolerance has been kept; no later one replaces it.</summary>
        public bool Settled { get; private set; }

        /// <summary>Training may stop: settled, and no expert is needed.</summary>
        public bool Stop => Settled && stopAtMedium;

        /// <summary>
        /// True when the snapshot of this evaluation (SAC step <paramref name="step"/>) becomes the medium policy,
        /// replacing any earlier one; <paramref name="judge"/> runs only for a candidate. Settles at the first one within
        /// the tolerance, or at the end of the search with the best so far.
        /// </summary>
        public bool Keep(double? score, long step, Func<Judged> judge, out Judged? judged)
        {
            judged = null;
            bool kept = false;
            if (!Settled && score is { } s && InBand(s))
            {
                var j = judged ??= judge();
                // Version 3: distance to D4RL's medium return and spread; earlier versions: to the target score, in the band.
                double gap = r.MediumReturn is { } target
                    ? (Math.Abs(j.ReturnMean - target) + Math.Abs(j.ReturnStd - (r.MediumReturnStd ?? 0))) / (r.MediumReturnStd ?? Math.Abs(target) * 0.1)
                      + (r.MediumReplaySize is { } size ? Math.Max(0, size - step) / (double)size : 0)   // version 5: the buffer's shortfall
                    : Math.Abs(j.ScoreMean - r.MediumScore);
                bool counts = r.MediumReturn is not null || (InBand(j.ScoreMean) && j.ScoreStd <= (r.MediumMaxStd ?? double.PositiveInfinity));
                if (counts && gap < _bestGap)
                {
                    _bestGap = gap;
                    Settled = gap <= r.MediumTolerance;
                    kept = true;
                }
            }
            if (step >= r.MediumSearchSteps && _bestGap < double.MaxValue) Settled = true;
            return kept;
        }

        private bool InBand(double s) => s >= r.MediumScoreLow && s <= r.MediumScoreHigh;
    }

    /// <summary>The online learner of a recipe: SAC for continuous actions, Double DQN for discrete ones.</summary>
    private static Agent NewLearner(EnvRecipe r, ulong seed)
    {
        using var e = EnvRegistry.Make(r.Env);
        var spec = AlgorithmRegistry.Find(e.ActionSpace is Discrete ? "dqn" : "sac");
        return Training.OnlineAgent(spec, e, r.LearnerHidden is { } hidden ? spec.Defaults with { Hidden = hidden } : spec.Defaults, seed);
    }

    /// <summary>Roll out a policy (null: uniform random actions) for a number of steps; stochastic actions, as D4RL's collection.</summary>
    /// <remarks>A policy that takes a history (<see cref="IPolicy.History"/>) acts on the last observations, the dataset logs each one alone.</remarks>
    public static Dataset Collect(IPolicy? policy, string envName, int steps, ulong seed, string? source = null) =>
        CollectWith(_ => policy, envName, steps, seed, source);

    /// <summary>The same with a policy made for the environment collected in (a scripted expert reads its state: <see cref="ScriptedExpertPolicy"/>).</summary>
    public static Dataset CollectWith(Func<IEnv, IPolicy?> policyFor, string envName, int steps, ulong seed, string? source = null)
    {
        using var env = EnvRegistry.Make(envName);
        var policy = policyFor(env);
        var view = policy is null ? env : ObservationHistory.For(env, policy);   // what the policy sees
        if (policy is not null) Rollout.CheckFits(view, policy);
        int od = env.ObservationSpace.Width, ad = env.ActionSpace.Width, vd = view.ObservationSpace.Width;
        var rng = new Rng(seed);
        var obs = new float[steps * od]; var next = new float[steps * od]; var act = new float[steps * ad];
        var rew = new float[steps]; var term = new bool[steps]; var tout = new bool[steps];
        // Behavior log-probabilities make the dataset usable for importance-sampling OPE.
        var known = policy as Evaluation.IProbabilisticPolicy
            ?? (policy is null && env.ActionSpace is Discrete or Box { IsBounded: true } ? new Evaluation.UniformPolicy(od, env.ActionSpace) : null);
        var logp = known is null ? null : new float[steps];
        var o = new float[vd];   // the policy's view; the logged observation is its last od values
        view.Reset(seed, o);
        for (int t = 0; t < steps; t++)
        {
            var a = act.AsSpan(t * ad, ad);
            if (policy is null) env.ActionSpace.SampleAction(rng, a);
            else if (policy is Evaluation.IProbabilisticPolicy p) p.Sample(o, a, rng);
            else policy.Act(o, a, deterministic: false);
            if (logp is not null) logp[t] = (float)known!.LogProb(o, a);
            o.AsSpan(vd - od).CopyTo(obs.AsSpan(t * od, od));
            var r = view.Step(a, o);
            o.AsSpan(vd - od).CopyTo(next.AsSpan(t * od, od));
            rew[t] = r.Reward; term[t] = r.Terminated; tout[t] = r.Truncated || (t == steps - 1 && !r.Terminated);
            if (r.Done) view.Reset(null, o);
        }
        var cols = new DatasetColumns { Observations = obs, NextObservations = next, Actions = act, Rewards = rew, Terminals = term, Timeouts = tout, BehaviorLogProbs = logp };
        return new Dataset(cols, env.ObservationSpace, env.ActionSpace, new DatasetInfo(source ?? (policy is null ? "random policy" : $"{(policy as Agent)?.Name ?? "policy"} rollouts"), envName));
    }
}
