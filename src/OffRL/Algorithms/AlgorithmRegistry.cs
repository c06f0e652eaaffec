using System.Reflection;
using System.Text;
using System.Text.Json;
using OffRL.IO;

namespace OffRL.Algorithms;

/// <summary>
/// Every algorithm by name, collected from the classes that implement <see cref="IAlgorithmFamily"/> (this assembly's,
/// plus any assembly passed to <see cref="RegisterAssembly"/>). Builds agents with their configs and reloads saved ones.
/// </summary>
public static class AlgorithmRegistry
{
    private static readonly List<AlgorithmSpec> Specs = [];
    private static readonly HashSet<Assembly> Scanned = [];
    private static readonly object Gate = new();

    static AlgorithmRegistry() => RegisterAssembly(typeof(Agent).Assembly);

    /// <summary>All algorithms, offline first, by name (kept in that order as they are added).</summary>
    public static IReadOnlyList<AlgorithmSpec> All
    {
        get { lock (Gate) return Specs.ToArray(); }
    }

    /// <summary>Add the algorithms of another assembly (a plug-in with its own <see cref="IAlgorithmFamily"/> classes).</summary>
    public static void RegisterAssembly(Assembly assembly)
    {
        lock (Gate)
        {
            if (!Scanned.Add(assembly)) return;
            foreach (var t in assembly.GetTypes())
            {
                if (t.IsAbstract || !typeof(IAlgorithmFamily).IsAssignableFrom(t)) continue;
                var prop = t.GetProperty(nameof(IAlgorithmFamily.Algorithms), BindingFlags.Public | BindingFlags.Static)
                    ?? throw new InvalidOperationException($"{t.Name}: implements IAlgorithmFamily without a public static Algorithms");
                foreach (var spec in (IReadOnlyList<AlgorithmSpec>)prop.GetValue(null)!) Add(spec);
            }
        }
    }

    /// <summary>Add one algorithm.</summary>
    public static void Register(AlgorithmSpec spec)
    {
        lock (Gate) Add(spec);
    }

    private static void Add(AlgorithmSpec spec)
    {
        if (Specs.Exists(s => s.Name == spec.Name)) throw new InvalidOperationException($"algorithm '{spec.Name}' is registered twice");
        Specs.Add(spec);
        Specs.Sort((a, b) => a.Mode != b.Mode ? a.Mode.CompareTo(b.Mode) : string.CompareOrdinal(a.Name, b.Name));
    }

    /// <summary>Names of the algorithms of one mode (and action kind), comma-separated, for help texts and errors.</summary>
    public static string Names(LearningMode? mode = null, ActionKind? actions = null) =>
        string.Join(", ", All.Where(s => (mode is null || s.Mode == mode) && (actions is null || s.Actions == actions)).Select(s => s.Name));

    /// <summary>The spec of a name; an unknown name is an error listing the known ones.</summary>
    public static AlgorithmSpec Find(string name)
    {
        var key = name.Trim().ToLowerInvariant();
        foreach (var s in All) if (s.Name == key) return s;
        throw new ArgumentException($"--algo: unknown algorithm '{name}' (offline: {Names(LearningMode.Offline)}; online: {Names(LearningMode.Online)})");
    }

    /// <summary>The algorithm's defaults with the given fields replaced (an unknown field is an error naming it).</summary>
    public static AgentConfig Config(AlgorithmSpec spec, JsonElement? overrides = null)
    {
        var cfg = ConfigFile.Apply(spec.Defaults, overrides);
        cfg.Validate();
        return cfg;
    }

    /// <summary>A new agent by name, with its config built from the defaults and the overrides.</summary>
    public static Agent Create(string name, int observationDim, Space actionSpace, ulong seed, JsonElement? overrides = null)
    {
        var spec = Find(name);
        return spec.Create(observationDim, actionSpace, Config(spec, overrides), seed);
    }

    /// <summary>Rebuild a trained agent from a folder written by <see cref="Agent.Save"/> (agent.json names the algorithm and config).</summary>
    public static Agent Load(string dir, ulong seed = 0)
    {
        var (root, metaPath) = ReadAgentFile(dir, () => new DataException("not a checkpoint folder (agent.json is missing)", dir));
        JsonElement Field(string f) => root.TryGetProperty(f, out var v) ? v : throw new DataException("field is missing", metaPath, f);
        Agent agent;
        string field = "algo";
        try
        {
            var algo = Field("algo").GetString() ?? throw new DataException("algo is null", metaPath, "algo");
            field = "action_space";
            var space = Field("action_space").Deserialize<Space>(ConfigFile.JsonOptions);
            Space.Check(space, metaPath, "action_space", "action_space");
            field = "observation_dim";
            int obs = Field("observation_dim").GetInt32();
            if (obs < 1 || obs > 1 << 20) throw new DataException($"must be in 1..{1 << 20}, got {obs}", metaPath, "observation_dim");
            field = "config";
            agent = Create(algo, obs, space, seed, Field("config"));
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or JsonException or FormatException or NotSupportedException)
        {
            throw new DataException(e.Message.ReplaceLineEndings(" "), metaPath, field);
        }
        agent.Load(dir);
        // How far it was trained (informational: selection tables, export metadata); a checkpoint's optimizer state
        // restores the exact counter when training resumes.
        if (root.TryGetProperty("updates", out var u)) agent.Updates = u.GetInt64();
        return agent;
    }

    /// <summary>A folder's agent.json parsed (a key given twice refused) and checked (<see cref="CheckAgentFile"/>).</summary>
    private static (JsonElement Root, string Path) ReadAgentFile(string dir, Func<DataException> missing)
    {
        var metaPath = Path.Combine(dir, "agent.json");
        if (!File.Exists(metaPath)) throw missing();
        JsonElement root;
        try { root = JsonDocument.Parse(File.ReadAllText(metaPath), ConfigFile.DocumentOptions).RootElement.Clone(); }
        catch (JsonException e) { throw new DataException($"not valid JSON: {e.Message}", metaPath); }
        if (root.ValueKind != JsonValueKind.Object) throw new DataException($"must be a JSON object (algo, config, ...), got {root.ValueKind}", metaPath);
        CheckAgentFile(root, metaPath);
        return (root, metaPath);
    }

    /// <summary>The top-level fields an agent.json may hold (<see cref="Agent.Save"/> writes them all).</summary>
    private static readonly string[] AgentFileFields = ["format_version", "algo", "updates", "observation_dim", "action_space", "config"];

    /// <summary>
    /// The algorithm named by a saved agent's agent.json, after the checks every reader makes (<see cref="CheckAgentFile"/>):
    /// what a resumed run compares with the agent it trains.
    /// </summary>
    public static string SavedAlgorithm(string dir)
    {
        var (root, metaPath) = ReadAgentFile(dir, () => new DataException("missing: the checkpoint folder is incomplete (every saved agent has one)", Path.Combine(dir, "agent.json")));
        return root.TryGetProperty("algo", out var a) && a.ValueKind == JsonValueKind.String && a.GetString() is { Length: > 0 } algo
            ? algo.Trim().ToLowerInvariant() : throw new DataException("missing or not an algorithm name", metaPath, "algo");
    }

    /// <summary>
    /// The checks of an agent.json's top level: its format_version (absent: 0, written before versions; newer than
    /// <see cref="Agent.FormatVersion"/>: refused, this OffRL cannot know what it means), no field this OffRL does not
    /// write, and updates a non-negative integer.
    /// </summary>
    private static void CheckAgentFile(JsonElement root, string metaPath)
    {
        foreach (var p in root.EnumerateObject())
            if (Array.IndexOf(AgentFileFields, p.Name) < 0)
                throw new DataException($"unknown field (an agent.json holds {string.Join(", ", AgentFileFields)})", metaPath, p.Name);
        if (root.TryGetProperty("format_version", out var fv))
        {
            if (fv.ValueKind != JsonValueKind.Number || !fv.TryGetInt32(out int version) || version < 0)
                throw new DataException($"must be an integer >= 0, got {fv.GetRawText()}", metaPath, "format_version");
            if (version > Agent.FormatVersion)
                throw new DataException($"is {version}: the agent was saved by a newer OffRL (this one reads format_version up to {Agent.FormatVersion}); load it with that version", metaPath, "format_version");
        }
        if (root.TryGetProperty("updates", out var u) && (u.ValueKind != JsonValueKind.Number || !u.TryGetInt64(out var updates) || updates < 0))
            throw new DataException($"must be an integer >= 0, got {u.GetRawText()}", metaPath, "updates");
    }

    /// <summary>
    /// The config fields of an algorithm as config files name them (snake_case), with their default values as JSON and
    /// the values they accept (<see cref="FieldRangeAttribute"/>; an enum's values as files write them; null when any
    /// value of the type will do).
    /// </summary>
    public static IEnumerable<(string Field, string Default, string? Range)> Fields(AlgorithmSpec spec)
    {
        var node = System.Text.Json.Nodes.JsonNode.Parse(JsonSerializer.Serialize(spec.Defaults, spec.ConfigType, ConfigFile.JsonOptions))!.AsObject();
        foreach (var kv in node)
        {
            var property = spec.ConfigType.GetProperty(kv.Key);
            var range = property?.GetCustomAttributes(typeof(FieldRangeAttribute), true).OfType<FieldRangeAttribute>().FirstOrDefault();
            if (property is not null && (Nullable.GetUnderlyingType(property.PropertyType) ?? property.PropertyType) is { IsEnum: true } enumType)
                yield return (ConfigFile.Snake(kv.Key), ConfigFile.Snake(kv.Value!.GetValue<string>()), "{" + string.Join(", ", ConfigFile.EnumValues(enumType)) + "}");
            else yield return (ConfigFile.Snake(kv.Key), kv.Value?.ToJsonString() ?? "null", range?.Interval);
        }
    }

    /// <summary>OffRL's own algorithms as a Markdown table (ARCHITECTURE.md holds exactly this; a test keeps them equal; plug-ins are left out).</summary>
    public static string MarkdownTable()
    {
        var sb = new StringBuilder();
        sb.AppendLine("| name | learns | actions | config | what it is |");
        sb.AppendLine("| --- | --- | --- | --- | --- |");
        foreach (var s in All.Where(s => s.ConfigType.Assembly == typeof(Agent).Assembly))
            sb.AppendLine($"| `{s.Name}` | {s.Mode.ToString().ToLowerInvariant()} | {s.Actions.ToString().ToLowerInvariant()} | `{s.ConfigType.Name}` | {s.Summary} |");
        return sb.ToString();
    }
}
