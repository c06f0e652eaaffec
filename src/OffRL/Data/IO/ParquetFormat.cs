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

    public static Dataset Read(string path)
    {
        if (!File.Exists(path)) throw new DataException("file not found", path);
        DeserializationResult<Row> res;
        try { res = ParquetSerializer.DeserializeAsync<Row>(path).GetAwaiter().GetResult(); }
        catch (Exception e) { throw new DataException($"not a readable OffRL Parquet dataset ({e.Message})", path); }
        if (res.CustomMetadata is null || !res.CustomMetadata.TryGetValue(MetadataKey, out var json))
            throw new DataException($"has no '{MetadataKey}' metadata: not written by OffRL (import other tables with CSV mapping)", path);
        var meta = JsonSerializer.Deserialize<Meta>(json, Nn.Module.JsonOptions) ?? throw new DataException("empty metadata", path, MetadataKey);
        var rows = res.Data;
        int n = rows.Count, od = meta.ObservationSpace.Width, ad = meta.ActionSpace.Width;
        var obs = new float[n * od]; var act = new float[n * ad]; var rew = new float[n];
        var term = new bool[n]; var tout = new bool[n];
        bool hasNext = n > 0 && rows[0].next_observation is not null, hasCost = n > 0 && rows[0].cost is not null, hasLogp = n > 0 && rows[0].behavior_log_prob is not null;
        var next = hasNext ? new float[n * od] : null;
        var cost = hasCost ? new float[n] : null;
        var logp = hasLogp ? new float[n] : null;
        var extras = meta.ExtraNames.Select((nm, k) => new float[n * meta.ExtraWidths[k]]).ToArray();
        for (int i = 0; i < n; i++)
        {
            var r = rows[i];
            if (r.observation.Length != od) throw new DataException($"observation has {r.observation.Length} values, the space has {od}", path, "observation", i);
            if (r.action.Length != ad) throw new DataException($"action has {r.action.Length} values, the space has {ad}", path, "action", i);
            if (i > 0 && r.episode == rows[i - 1].episode && r.step != rows[i - 1].step + 1)
                throw new DataException($"step {r.step} does not follow step {rows[i - 1].step} of episode {r.episode}", path, "step", i);
            r.observation.CopyTo(obs, i * od); r.action.CopyTo(act, i * ad);
            rew[i] = r.reward; term[i] = r.terminal; tout[i] = r.timeout;
            if (next is not null) (r.next_observation ?? throw new DataException("next_observation is missing", path, "next_observation", i)).CopyTo(next, i * od);
            if (cost is not null) cost[i] = r.cost ?? throw new DataException("cost is missing", path, "cost", i);
            if (logp is not null) logp[i] = r.behavior_log_prob ?? throw new DataException("behavior_log_prob is missing", path, "behavior_log_prob", i);
            if (extras.Length > 0)
            {
                var ex = r.extras ?? throw new DataException("extras are missing", path, "extras", i);
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
        if (!File.Exists(path)) throw new DataException("file not found", path);
        using var reader = new StreamReader(path);
        var headerLine = reader.ReadLine() ?? throw new DataException("the file is empty (no header line)", path);
        var header = Split(headerLine, path, 1);
        var index = new Dictionary<string, int>();
        for (int i = 0; i < header.Count; i++) index[header[i].Trim()] = i;
        int Col(string name) => index.TryGetValue(name, out var c) ? c : throw new DataException($"column '{name}' is not in the header ({string.Join(", ", header)})", path, name, 1);
        int[] Cols(string[]? names, string prefix, string what)
        {
            if (names is not null) return names.Select(Col).ToArray();
            var found = header.Select((h, i) => (h: h.Trim(), i)).Where(x => x.h.StartsWith(prefix, StringComparison.Ordinal))
                .OrderBy(x => int.TryParse(x.h.AsSpan(prefix.Length), out var k) ? k : int.MaxValue).Select(x => x.i).ToArray();
            if (found.Length == 0) throw new DataException($"no {what} columns: none is listed and none starts with '{prefix}'", path, what, 1);
            return found;
        }
        var obsCols = Cols(map.Observation, map.ObservationPrefix, "observation");
        var actCols = Cols(map.Action, map.ActionPrefix, "action");
        int rewCol = Col(map.Reward);
        int termCol = map.Terminal is not null && (map.Episode is null || index.ContainsKey(map.Terminal)) ? Col(map.Terminal) : -1;
        int toutCol = map.Timeout is not null && index.ContainsKey(map.Timeout) ? Col(map.Timeout) : -1;
        int epCol = map.Episode is null ? -1 : Col(map.Episode);
        int logpCol = map.BehaviorLogProb is null ? -1 : Col(map.BehaviorLogProb);
        int costCol = map.Cost is null ? -1 : Col(map.Cost);
        if (termCol < 0 && epCol < 0) throw new DataException("needs a terminal column or an episode column to find episode ends", path, map.Terminal ?? "terminal", 1);
        if (map.DiscreteActions > 0 && actCols.Length != 1) throw new DataException($"discrete actions need one action column, found {actCols.Length}", path, "action", 1);

        var obs = new List<float>(); var act = new List<float>(); var rew = new List<float>(); var term = new List<bool>(); var tout = new List<bool>();
        var logp = logpCol >= 0 ? new List<float>() : null; var cost = costCol >= 0 ? new List<float>() : null;
        string? lastEpisode = null;
        int lineNo = 1;
        string? line;
        while ((line = reader.ReadLine()) is not null)
        {
            lineNo++;
            if (line.Length == 0) continue;
            var f = Split(line, path, lineNo);
            if (f.Count != header.Count) throw new DataException($"has {f.Count} fields, the header has {header.Count}", path, null, lineNo);
            float Num(int c)
            {
                var s = f[c].Trim();
                if (!float.TryParse(s, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var v))
                    throw new DataException($"'{s}' is not a number", path, header[c], lineNo);
                if (!float.IsFinite(v)) throw new DataException($"value is {s} (NaN or infinite)", path, header[c], lineNo);
                return v;
            }
            bool Flag(int c)
            {
                var s = f[c].Trim().ToLowerInvariant();
                return s switch
                {
                    "1" or "true" or "1.0" => true,
                    "0" or "false" or "0.0" or "" => false,
                    _ => throw new DataException($"'{f[c]}' is not a flag (0/1/true/false)", path, header[c], lineNo),
                };
            }
            if (epCol >= 0)
            {
                var ep = f[epCol].Trim();
                if (lastEpisode is not null && ep != lastEpisode && !term[^1]) tout[^1] = true;   // episode changed: the previous one was cut
                lastEpisode = ep;
            }
            foreach (var c in obsCols) obs.Add(Num(c));
            foreach (var c in actCols) act.Add(Num(c));
            rew.Add(Num(rewCol));
            term.Add(termCol >= 0 && Flag(termCol));
            tout.Add(toutCol >= 0 && Flag(toutCol));
            logp?.Add(Num(logpCol));
            cost?.Add(Num(costCol));
        }
        if (epCol >= 0 && term.Count > 0 && !term[^1]) tout[^1] = true;   // the last id's episode ends with the file
        var cols = new DatasetColumns
        {
            Observations = obs.ToArray(), Actions = act.ToArray(), Rewards = rew.ToArray(), Terminals = term.ToArray(), Timeouts = tout.ToArray(),
            BehaviorLogProbs = logp?.ToArray(), Costs = cost?.ToArray(),
        };
        Space aspace = map.DiscreteActions > 0 ? new Discrete(map.DiscreteActions) : Box.Unbounded(actCols.Length);
        return new Dataset(cols, Box.Unbounded(obsCols.Length), aspace, new DatasetInfo(path), new Dataset.ValidationOptions(TruncateTail: truncateTail, File: path));
    }

    /// <summary>RFC 4180 field splitting (double-quoted fields may hold commas and doubled quotes).</summary>
    internal static List<string> Split(string line, string file, int lineNo)
    {
        var fields = new List<string>();
        var sb = new System.Text.StringBuilder();
        bool quoted = false;
        for (int i = 0; i < line.Length; i++)
        {
            char ch = line[i];
            if (quoted)
            {
                if (ch == '"' && i + 1 < line.Length && line[i + 1] == '"') { sb.Append('"'); i++; }
                else if (ch == '"') quoted = false;
                else sb.Append(ch);
            }
            else if (ch == '"') quoted = true;
            else if (ch == ',') { fields.Add(sb.ToString()); sb.Clear(); }
            else sb.Append(ch);
        }
        if (quoted) throw new DataException("a quoted field is not closed", file, null, lineNo);
        fields.Add(sb.ToString());
        return fields;
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
        using var f = PureHDF.H5File.OpenRead(path);
        return !f.LinkExists("observations") && f.Children().Any(c => c.Name.StartsWith("episode_"));
    }
}
