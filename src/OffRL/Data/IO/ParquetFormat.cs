using System.Text.Json;
using Parquet;
using Parquet.Serialization;
using OffRL.IO;

namespace OffRL.Data.IO;

/// <summary>
/// OffRL's own dataset file: Parquet with one row per transition (episode, step, observation and action as
/// float lists, reward, terminal, timeout, and optional next_observation, cost, behavior_log_prob, extras) and
/// the spaces, source and processing history as JSON in the file's key-value metadata under "offrl". pandas,
/// pyarrow, DuckDB and Spark read it as they read any Parquet file.
/// </summary>
public static class ParquetFormat
{
    public const string MetadataKey = "offrl";

    public sealed class Row
    {
        public int episode { get; set; }
        public int step { get; set; }
        public float[] observation { get; set; } = [];
        public float[] action { get; set; } = [];
        public float reward { get; set; }
        public bool terminal { get; set; }
        public bool timeout { get; set; }
        public float[]? next_observation { get; set; }
        public float? cost { get; set; }
        public float? behavior_log_prob { get; set; }
        public float[]? extras { get; set; }
    }

    private sealed record Meta(int Version, Space ObservationSpace, Space ActionSpace, DatasetInfo Info, string[] ExtraNames, int[] ExtraWidths);

    public static void Write(Dataset d, string path)
    {
        var names = d.ExtraNames.ToArray();
        var widths = names.Select(d.ExtraWidth).ToArray();
        int extraWidth = widths.Sum();
        var rows = new Row[d.Count];
        for (int e = 0; e < d.EpisodeCount; e++)
            for (int i = d.EpisodeStart(e), t = 0; t < d.EpisodeLength(e); i++, t++)
            {
                float[]? ex = null;
                if (extraWidth > 0)
                {
                    ex = new float[extraWidth];
                    int off = 0;
                    for (int k = 0; k < names.Length; k++)
                    {
                        d.Extra(names[k]).Slice(i * widths[k], widths[k]).CopyTo(ex.AsSpan(off));
                        off += widths[k];
                    }
                }
                rows[i] = new Row
                {
                    episode = e, step = t,
                    observation = d.Observation(i).ToArray(), action = d.Action(i).ToArray(),
                    reward = d.Rewards[i], terminal = d.Terminals[i], timeout = d.Timeouts[i],
                    next_observation = d.HasNextObservations ? d.NextObservations.Slice(i * d.ObservationDim, d.ObservationDim).ToArray() : null,
                    cost = d.HasCosts ? d.Costs[i] : null,
                    behavior_log_prob = d.HasBehaviorLogProbs ? d.BehaviorLogProbs[i] : null,
                    extras = ex,
                };
            }
        var meta = JsonSerializer.Serialize(new Meta(1, d.ObservationSpace, d.ActionSpace, d.Info, names, widths), Nn.Module.JsonOptions);
        AtomicFile.Write(path, s => ParquetSerializer.SerializeAsync(rows, s, null, new Dictionary<string, string> { [MetadataKey] = meta }).GetAwaiter().GetResult());
    }

    /// <summary>Columns every OffRL dataset file has; the others (next_observation, cost, behavior_log_prob, extras) are optional.</summary>
    private static readonly string[] Required = ["episode", "step", "observation", "action", "reward", "terminal", "timeout"];

    private static string Describe(Parquet.Schema.Field f) => f switch
    {
        Parquet.Schema.DataField d => $"{(d.IsArray ? "list of " : "")}{d.ClrType.Name}{(d.IsNullable ? " (nullable)" : "")}",
        Parquet.Schema.ListField { Item: Parquet.Schema.DataField item } => $"list of {item.ClrType.Name}{(item.IsNullable ? " (nullable)" : "")}",
        _ => f.SchemaType.ToString(),
    };

    /// <summary>
    /// Every column OffRL reads is present (the required ones) with exactly the type OffRL writes: a missing reward
    /// column or a float64 observation is refused by name, never read as zeros or converted inexactly.
    /// </summary>
    private static void CheckSchema(string path)
    {
        Parquet.Schema.ParquetSchema schema;
        using (var fs = File.OpenRead(path))
        {
            try
            {
                var reader = ParquetReader.CreateAsync(fs).GetAwaiter().GetResult();
                schema = reader.Schema;
                reader.DisposeAsync().AsTask().GetAwaiter().GetResult();
            }
            catch (Exception e) when (e is not DataException) { throw new DataException($"not a readable Parquet file ({e.Message})", path); }
        }
        var expected = typeof(Row).GetParquetSchema(false);
        foreach (var want in expected.Fields)
        {
            var have = schema.Fields.FirstOrDefault(f => f.Name == want.Name);
            if (have is null)
            {
                if (Array.IndexOf(Required, want.Name) >= 0) throw new DataException($"column is missing (an OffRL dataset has {string.Join(", ", Required)})", path, want.Name);
                continue;
            }
            if (Describe(have) != Describe(want))
                throw new DataException($"has type {Describe(have)}; OffRL reads {Describe(want)} (convert the column exactly, or write the file with OffRL)", path, want.Name);
        }
    }

    public static Dataset Read(string path)
    {
        if (!File.Exists(path)) throw new DataException("file not found", path);
        CheckSchema(path);
        DeserializationResult<Row> res;
        try { res = ParquetSerializer.DeserializeAsync<Row>(path).GetAwaiter().GetResult(); }
        catch (Exception e) { throw new DataException($"not a readable OffRL Parquet dataset ({e.Message})", path); }
        if (res.CustomMetadata is null || !res.CustomMetadata.TryGetValue(MetadataKey, out var json))
            throw new DataException($"has no '{MetadataKey}' metadata: not written by OffRL (import other tables with CSV mapping)", path);
        var meta = ReadMeta(json, path);
        var rows = res.Data;
        int n = rows.Count, od = meta.ObservationSpace.Width, ad = meta.ActionSpace.Width;
        if (n == 0) throw new DataException("has no transitions (zero rows); a dataset needs at least one", path, "reward");
        // Widths declared by the metadata must be the rows' before anything is allocated by them.
        if (rows[0].observation is { } o0 && o0.Length != od) throw new DataException($"observation has {o0.Length} values, the metadata's observation_space has {od}", path, "observation", 1);
        if (rows[0].action is { } a0 && a0.Length != ad) throw new DataException($"action has {a0.Length} values, the metadata's action_space has {ad}", path, "action", 1);
        long most = (long)n * Math.Max(od, Math.Max(ad, meta.ExtraWidths.Sum()));
        if (most > Array.MaxLength) throw new DataException($"{n} rows of {most / n} values are more than one column array holds ({Array.MaxLength}); split the dataset", path, MetadataKey);
        var obs = new float[n * od]; var act = new float[n * ad]; var rew = new float[n];
        var term = new bool[n]; var tout = new bool[n];
        // An optional column is present when any row has it; then every row must (a null in row 1 is not "no column").
        bool hasNext = rows.Any(r => r.next_observation is not null), hasCost = rows.Any(r => r.cost is not null), hasLogp = rows.Any(r => r.behavior_log_prob is not null);
        if (hasNext)
        {
            int k = 0;
            while (rows[k].next_observation is null) k++;
            if (rows[k].next_observation!.Length != od)
                throw new DataException($"next_observation has {rows[k].next_observation!.Length} values, the metadata's observation_space has {od}", path, "next_observation", k + 1);
        }
        var next = hasNext ? new float[n * od] : null;
        var cost = hasCost ? new float[n] : null;
        var logp = hasLogp ? new float[n] : null;
        int extraWidth = meta.ExtraWidths.Sum();   // at most Space.MaxWidth (checked with the metadata)
        if (extraWidth > 0 && rows[0].extras is { } e0 && e0.Length != extraWidth)
            throw new DataException($"extras have {e0.Length} values, the metadata's widths sum to {extraWidth}", path, "extras", 1);
        var extras = meta.ExtraNames.Select((nm, k) => new float[n * meta.ExtraWidths[k]]).ToArray();
        for (int i = 0; i < n; i++)
        {
            var r = rows[i];
            long row = i + 1L;
            if (r.observation is null) throw new DataException("observation is null", path, "observation", row);
            if (r.action is null) throw new DataException("action is null", path, "action", row);
            if (r.observation.Length != od) throw new DataException($"observation has {r.observation.Length} values, the space has {od}", path, "observation", row);
            if (r.action.Length != ad) throw new DataException($"action has {r.action.Length} values, the space has {ad}", path, "action", row);
            if (i > 0 && r.episode == rows[i - 1].episode && r.step != rows[i - 1].step + 1)
                throw new DataException($"step {r.step} does not follow step {rows[i - 1].step} of episode {r.episode}", path, "step", row);
            r.observation.CopyTo(obs, i * od); r.action.CopyTo(act, i * ad);
            rew[i] = r.reward; term[i] = r.terminal; tout[i] = r.timeout;
            if (next is not null)
            {
                var no = r.next_observation ?? throw new DataException("next_observation is missing (other rows have it)", path, "next_observation", row);
                if (no.Length != od) throw new DataException($"next_observation has {no.Length} values, the space has {od}", path, "next_observation", row);
                no.CopyTo(next, i * od);
            }
            if (cost is not null) cost[i] = r.cost ?? throw new DataException("cost is missing (other rows have it)", path, "cost", row);
            if (logp is not null) logp[i] = r.behavior_log_prob ?? throw new DataException("behavior_log_prob is missing (other rows have it)", path, "behavior_log_prob", row);
            if (extras.Length > 0)
            {
                var ex = r.extras ?? throw new DataException("extras are missing", path, "extras", row);
                if (ex.Length != extraWidth) throw new DataException($"extras have {ex.Length} values, the metadata's widths sum to {extraWidth}", path, "extras", row);
                int off = 0;
                for (int k = 0; k < extras.Length; k++)
                {
                    int w = meta.ExtraWidths[k];
                    ex.AsSpan(off, w).CopyTo(extras[k].AsSpan(i * w, w));
                    off += w;
                }
            }
        }
        var cols = new DatasetColumns
        {
            Observations = obs, Actions = act, Rewards = rew, Terminals = term, Timeouts = tout,
            NextObservations = next, Costs = cost, BehaviorLogProbs = logp,
            Extras = meta.ExtraNames.Select((nm, k) => (nm, extras[k])).ToDictionary(x => x.nm, x => x.Item2),
        };
        return new Dataset(cols, meta.ObservationSpace, meta.ActionSpace, meta.Info, new Dataset.ValidationOptions(File: path));
    }

    /// <summary>
    /// The "offrl" metadata, judged before any of it sizes an allocation: both spaces well formed (<see cref="Space.Check"/>),
    /// extras names given and distinct, one width per name, each width and their sum within <see cref="Space.MaxWidth"/>.
    /// Every fault is a <see cref="DataException"/> naming the file and the field "offrl".
    /// </summary>
    private static Meta ReadMeta(string json, string path)
    {
        Meta? meta;
        try { meta = JsonSerializer.Deserialize<Meta>(json, Nn.Module.JsonOptions); }
        catch (Exception e) when (e is JsonException or NotSupportedException or InvalidOperationException or ArgumentException or FormatException)
        { throw new DataException($"metadata is not valid ({e.Message.ReplaceLineEndings(" ")})", path, MetadataKey); }
        if (meta is null) throw new DataException("metadata is empty (null)", path, MetadataKey);
        Space.Check(meta.ObservationSpace, path, MetadataKey, "observation_space");
        Space.Check(meta.ActionSpace, path, MetadataKey, "action_space");
        if (meta.ExtraNames is null || meta.ExtraWidths is null)
            throw new DataException($"{(meta.ExtraNames is null ? "extra_names" : "extra_widths")} is missing (write [] when there are no extras)", path, MetadataKey);
        if (meta.ExtraNames.Length != meta.ExtraWidths.Length)
            throw new DataException($"extra_names has {meta.ExtraNames.Length} names and extra_widths {meta.ExtraWidths.Length} widths (one width per name)", path, MetadataKey);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        long total = 0;
        for (int k = 0; k < meta.ExtraNames.Length; k++)
        {
            var name = meta.ExtraNames[k];
            if (string.IsNullOrEmpty(name)) throw new DataException($"extra_names[{k}] is empty; every extra column has a name", path, MetadataKey);
            if (!seen.Add(name)) throw new DataException($"extra_names has '{name}' twice (names must be distinct)", path, MetadataKey);
            int w = meta.ExtraWidths[k];
            if (w < 1 || w > Space.MaxWidth) throw new DataException($"extra_widths[{k}] ('{name}') is {w}; a width is 1 to {Space.MaxWidth}", path, MetadataKey);
            total += w;
        }
        if (total > Space.MaxWidth) throw new DataException($"extra_widths sum to {total}; the extras of a row hold at most {Space.MaxWidth} values", path, MetadataKey);
        var info = meta.Info ?? new DatasetInfo();
        if (info.Processing is null) info = info with { Processing = new List<string>() };
        return meta with { Info = info };
    }
}

/// <summary>Which CSV columns hold what. Observation and action columns are listed, or given by a name prefix ("obs_" matches obs_0, obs_1, ...).</summary>
public sealed record CsvMapping
{
    public string[]? Observation { get; init; }
    public string ObservationPrefix { get; init; } = "obs_";
    public string[]? Action { get; init; }
    public string ActionPrefix { get; init; } = "act_";
    public string Reward { get; init; } = "reward";
    /// <summary>Terminal flag column (optional when <see cref="Episode"/> is given).</summary>
    public string? Terminal { get; init; } = "terminal";
    public string? Timeout { get; init; } = "timeout";
    /// <summary>Episode id column: a change of id ends the previous episode (by timeout unless its terminal flag is set).</summary>
    public string? Episode { get; init; }
    public string? BehaviorLogProb { get; init; }
    public string? Cost { get; init; }
    /// <summary>Number of discrete actions when the (single) action column holds an index; 0 for continuous.</summary>
    public int DiscreteActions { get; init; }
}

/// <summary>CSV import with a column mapping; every parse error names the file, line and column.</summary>
public static class CsvImport
{
    public static Dataset Read(string path, CsvMapping map, bool truncateTail = false)
    {
        using var csv = CsvReader.Open(path);
        var header = csv.Header;
        int[] Cols(string[]? names, string prefix, string what)
        {
            if (names is not null) return names.Select(csv.Col).ToArray();
            var found = header.Select((h, i) => (h, i)).Where(x => x.h.StartsWith(prefix, StringComparison.Ordinal))
                .OrderBy(x => int.TryParse(x.h.AsSpan(prefix.Length), out var k) ? k : int.MaxValue).Select(x => x.i).ToArray();
            if (found.Length == 0) throw new DataException($"no {what} columns: none is listed and none starts with '{prefix}'", path, what, 1);
            return found;
        }
        var obsCols = Cols(map.Observation, map.ObservationPrefix, "observation");
        var actCols = Cols(map.Action, map.ActionPrefix, "action");
        int rewCol = csv.Col(map.Reward);
        int termCol = map.Terminal is not null && (map.Episode is null || csv.Has(map.Terminal)) ? csv.Col(map.Terminal) : -1;
        int toutCol = map.Timeout is not null && csv.Has(map.Timeout) ? csv.Col(map.Timeout) : -1;
        int epCol = map.Episode is null ? -1 : csv.Col(map.Episode);
        int logpCol = map.BehaviorLogProb is null ? -1 : csv.Col(map.BehaviorLogProb);
        int costCol = map.Cost is null ? -1 : csv.Col(map.Cost);
        if (termCol < 0 && epCol < 0) throw new DataException("needs a terminal column or an episode column to find episode ends", path, map.Terminal ?? "terminal", 1);
        if (map.DiscreteActions > 0 && actCols.Length != 1) throw new DataException($"discrete actions need one action column, found {actCols.Length}", path, "action", 1);

        var obs = new List<float>(); var act = new List<float>(); var rew = new List<float>(); var term = new List<bool>(); var tout = new List<bool>();
        var logp = logpCol >= 0 ? new List<float>() : null; var cost = costCol >= 0 ? new List<float>() : null;
        var lines = new List<int>();
        string? lastEpisode = null;
        while (csv.Next())
        {
            if (epCol >= 0)
            {
                var ep = csv.Cell(epCol);
                if (lastEpisode is not null && ep != lastEpisode && !term[^1]) tout[^1] = true;   // episode changed: the previous one was cut
                lastEpisode = ep;
            }
            foreach (var c in obsCols) obs.Add(csv.Number(c));
            foreach (var c in actCols) act.Add(csv.Number(c));
            rew.Add(csv.Number(rewCol));
            term.Add(termCol >= 0 && csv.Flag(termCol));
            tout.Add(toutCol >= 0 && csv.Flag(toutCol));
            logp?.Add(csv.Number(logpCol));
            cost?.Add(csv.Number(costCol));
            lines.Add(csv.Line);
        }
        csv.RequireRecords();
        if (epCol >= 0 && term.Count > 0 && !term[^1]) tout[^1] = true;   // the last id's episode ends with the file
        var cols = new DatasetColumns
        {
            Observations = obs.ToArray(), Actions = act.ToArray(), Rewards = rew.ToArray(), Terminals = term.ToArray(), Timeouts = tout.ToArray(),
            BehaviorLogProbs = logp?.ToArray(), Costs = cost?.ToArray(),
        };
        // A CSV file declares no bounds: continuous actions are unbounded until an environment gives its bounds
        // (Recipes.FitToEnv); a discrete count comes from the mapping.
        Space aspace = map.DiscreteActions > 0 ? new Discrete(map.DiscreteActions) : Box.Unbounded(actCols.Length);
        var info = new DatasetInfo(path) { SpacesGuessed = map.DiscreteActions == 0 };
        if (info.SpacesGuessed) info.Processing.Add("action bounds not declared (CSV): unbounded until an environment gives them");
        return new Dataset(cols, Box.Unbounded(obsCols.Length), aspace, info,
            new Dataset.ValidationOptions(TruncateTail: truncateTail, File: path, Rows: lines.ToArray()));
    }
}

/// <summary>Reads any supported dataset file by its extension.</summary>
public static class DatasetFile
{
    public static Dataset Read(string path, bool truncateTail = false)
    {
        var ext = Path.GetExtension(path).ToLowerInvariant();
        return ext switch
        {
            ".hdf5" or ".h5" => IsMinari(path) ? Minari.Read(path) : D4rl.Read(path, truncateTail),
            ".parquet" => ParquetFormat.Read(path),
            ".csv" => CsvImport.Read(path, new CsvMapping(), truncateTail),
            _ when Directory.Exists(path) => Minari.Read(path),
            _ => throw new DataException($"unknown dataset format '{ext}' (OffRL reads .hdf5/.h5 (D4RL or Minari), .parquet, .csv, or a Minari folder)", path),
        };
    }

    public static void Write(Dataset d, string path)
    {
        var ext = Path.GetExtension(path).ToLowerInvariant();
        switch (ext)
        {
            case ".hdf5" or ".h5": D4rl.Write(d, path); break;
            case ".parquet": ParquetFormat.Write(d, path); break;
            default: throw new DataException($"cannot write format '{ext}' (use .parquet or .hdf5)", path);
        }
    }

    private static bool IsMinari(string path)
    {
        if (!File.Exists(path)) return false;
        return H5Read.Guard(path, () =>
        {
            using var f = PureHDF.H5File.OpenRead(path);
            return !f.LinkExists("observations") && f.Children().Any(c => c.Name.StartsWith("episode_"));
        });
    }
}
