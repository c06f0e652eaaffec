using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace OffRL.IO;

/// <summary>
/// Config records from text: a YAML (YamlDotNet) or JSON file of field names to values, and KEY=VALUE pairs from the
/// command line (<c>--set</c>), applied over a record's defaults. Field names match case-insensitively and with or
/// without underscores (<c>policy_freq</c> = <c>PolicyFreq</c>); an unknown field is an error that names it and lists
/// the record's fields. The CLI, config files and the library API go through this one path.
/// </summary>
public static class ConfigFile
{
    /// <summary>How OffRL writes and reads its JSON (configs, agent.json, sidecars): indented, enums as names, NaN allowed.</summary>
    public static readonly JsonSerializerOptions JsonOptions = new()
    {
        WriteIndented = true,
        NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals,
        Converters = { new System.Text.Json.Serialization.JsonStringEnumConverter() },
        AllowDuplicateProperties = false,
    };

    /// <summary>How OffRL parses JSON text it is given: a key given twice in one object is an error, never "last wins".</summary>
    public static readonly JsonDocumentOptions DocumentOptions = new() { AllowDuplicateProperties = false };

    /// <summary>A config file (.json, else YAML) as a JSON object of field names to values.</summary>
    public static JsonElement Read(string path)
    {
        if (!File.Exists(path)) throw new DataException("config file not found", path);
        var text = File.ReadAllText(path);
        if (path.EndsWith(".json", StringComparison.OrdinalIgnoreCase))
        {
            JsonElement root;
            try { root = JsonDocument.Parse(text, DocumentOptions).RootElement.Clone(); }
            catch (JsonException e) { throw new DataException($"not valid JSON: {e.Message}", path, null, e.LineNumber is { } l ? l + 1 : -1); }
            if (root.ValueKind == JsonValueKind.Object) RefuseVariants(root.EnumerateObject().Select(p => p.Name), path);
            return root;
        }
        return ParseYamlMap(text, path);
    }

    /// <summary>A YAML map of field: value (a file's text, or a flow map such as <c>{beta: 3, tau: 0.001}</c>) as a JSON object; errors name <paramref name="path"/>.</summary>
    public static JsonElement ParseYamlMap(string text, string path)
    {
        Dictionary<string, object?> yaml;
        try
        {
            CheckYamlSize(text, path);
            yaml = new YamlDotNet.Serialization.DeserializerBuilder().WithDuplicateKeyChecking().Build().Deserialize<Dictionary<string, object?>>(text) ?? new();
        }
        catch (YamlDotNet.Core.YamlException e)
        {
            var why = (e.InnerException?.Message ?? e.Message).ReplaceLineEndings(" ");
            throw new DataException($"not a YAML map of field: value ({why})", path, null, e.Start.Line);
        }
        catch (InvalidOperationException e) { throw new DataException($"not a YAML map of field: value ({e.Message})", path); }
        RefuseVariants(yaml.Keys, path);
        var json = JsonSerializer.Serialize(yaml.ToDictionary(kv => kv.Key, kv => Coerce(kv.Value)));
        return JsonDocument.Parse(json).RootElement.Clone();
    }

    /// <summary>The most nodes a config file may hold with its aliases expanded (a config has a few dozen).</summary>
    public const int MaxYamlNodes = 10_000;

    /// <summary>
    /// Refuses a YAML text whose aliases expand to more than <see cref="MaxYamlNodes"/> nodes ("billion laughs"), from
    /// the event stream alone, before anything is expanded.
    /// </summary>
    internal static void CheckYamlSize(string text, string path)
    {
        var parser = new YamlDotNet.Core.Parser(new StringReader(text));
        var sizes = new Dictionary<string, long>();
        var open = new Stack<(string? Anchor, long Start)>();
        long total = 0;
        while (parser.MoveNext())
        {
            switch (parser.Current)
            {
                case YamlDotNet.Core.Events.Scalar sc:
                    total++;
                    if (!sc.Anchor.IsEmpty) sizes[sc.Anchor.Value] = 1;
                    break;
                case YamlDotNet.Core.Events.NodeEvent { } start and (YamlDotNet.Core.Events.MappingStart or YamlDotNet.Core.Events.SequenceStart):
                    total++;
                    open.Push((start.Anchor.IsEmpty ? null : start.Anchor.Value, total));
                    break;
                case YamlDotNet.Core.Events.MappingEnd or YamlDotNet.Core.Events.SequenceEnd when open.Count > 0:
                    var (anchor, from) = open.Pop();
                    if (anchor is not null) sizes[anchor] = total - from + 1;
                    break;
                case YamlDotNet.Core.Events.AnchorAlias alias:
                    total += sizes.TryGetValue(alias.Value.Value, out var n) ? n : 1;
                    break;
            }
            if (total > MaxYamlNodes)
                throw new DataException($"expands to more than {MaxYamlNodes} values (aliases nested too deep); a config is a flat map of field: value", path, null, parser.Current!.Start.Line);
        }
    }

    /// <summary>KEY=VALUE pairs as a JSON object; a value is read as JSON when it parses (numbers, lists, true), else as a string.</summary>
    public static JsonElement ParseSets(IEnumerable<string> sets)
    {
        var obj = new JsonObject();
        var given = new Dictionary<string, string>();
        foreach (var s in sets)
        {
            int eq = s.IndexOf('=');
            if (eq <= 0) throw new ArgumentException($"--set: '{s}' is not KEY=VALUE");
            if (!given.TryAdd(Norm(s[..eq]), s))
                throw new ArgumentException($"--set: field '{Norm(s[..eq])}' is set twice ('{given[Norm(s[..eq])]}' and '{s}'); set each field once");
            string v = s[(eq + 1)..];
            JsonNode? node;
            try { node = JsonNode.Parse(v); } catch (JsonException) { node = JsonValue.Create(v); }
            obj[s[..eq].Trim()] = node;
        }
        return JsonDocument.Parse(obj.ToJsonString()).RootElement.Clone();
    }

    /// <summary>The fields of a config file, then the --set pairs (later ones win); null when there are none.</summary>
    public static JsonElement? Overrides(string? file, IReadOnlyCollection<string>? sets) => Overrides(null, file, sets);

    /// <summary>
    /// A preset's fields (<see cref="Algorithms.Preset"/>), then a config file's, then the --set pairs, each over the one
    /// before (a field however spelled is set once); null when there are none.
    /// </summary>
    public static JsonElement? Overrides(JsonElement? preset, string? file, IReadOnlyCollection<string>? sets) =>
        Merge(preset, file is null ? null : Read(file), sets is { Count: > 0 } ? ParseSets(sets) : null);

    /// <summary>
    /// Maps of field: value, each over the ones before it: a field however spelled (case, underscores) is set once, by
    /// the last layer that names it; null layers are skipped; null when no field is set.
    /// </summary>
    public static JsonElement? Merge(params JsonElement?[] layers)
    {
        var merged = new JsonObject();
        foreach (var layer in layers)
        {
            if (layer is not { } e) continue;
            if (e.ValueKind != JsonValueKind.Object) throw new ArgumentException("config: expected a map of field: value");
            foreach (var p in e.EnumerateObject())
            {
                if (FindField(merged, p.Name) is { } earlier) merged.Remove(earlier);
                merged[p.Name] = JsonNode.Parse(p.Value.GetRawText());
            }
        }
        return merged.Count == 0 ? null : JsonDocument.Parse(merged.ToJsonString()).RootElement.Clone();
    }

    /// <summary>
    /// Builds a config (apply and validate) and names where its values came from in any error:
    /// <c>run.yaml: config: field 'tau' of Td3BcConfig must be in (0, 1], got -1</c>.
    /// </summary>
    public static T Naming<T>(string? file, IReadOnlyCollection<string>? sets, Func<T> build)
    {
        try { return build(); }
        catch (ArgumentException e) when (file is not null || sets is { Count: > 0 })
        {
            var from = file is null ? "--set" : sets is { Count: > 0 } ? $"{file} (with --set)" : file;
            throw new ArgumentException($"{from}: {e.Message}", e);
        }
    }

    /// <summary>The record <paramref name="defaults"/> with the given fields replaced (its runtime type decides the fields).</summary>
    public static T Apply<T>(T defaults, JsonElement? overrides) where T : notnull
    {
        if (overrides is not { } o) return defaults;
        var type = defaults.GetType();
        var node = JsonNode.Parse(JsonSerializer.Serialize(defaults, type, JsonOptions))!.AsObject();
        var set = new Dictionary<string, string>();
        foreach (var p in o.EnumerateObject())
        {
            if (!set.TryAdd(Norm(p.Name), p.Name))
                throw new ArgumentException($"config: '{set[Norm(p.Name)]}' and '{p.Name}' set the same field of {type.Name}; set each field once");
            var key = FindField(node, p.Name)
                ?? throw new ArgumentException($"config: '{p.Name}' is not a field of {type.Name} (fields: {string.Join(", ", node.Select(kv => Snake(kv.Key)))})");
            var value = JsonNode.Parse(p.Value.GetRawText());
            // Enum values as config files write them (return_range = ReturnRange); anything else lists the values.
            var fieldType = type.GetProperty(key)?.PropertyType;
            if (fieldType is not null && (Nullable.GetUnderlyingType(fieldType) ?? fieldType) is { IsEnum: true } enumType && p.Value.ValueKind != JsonValueKind.Null)
                value = JsonValue.Create(EnumName(enumType, p.Value, $"config: field '{Snake(key)}' of {type.Name}"));
            node[key] = value;
        }
        try { return (T)(node.Deserialize(type, JsonOptions) ?? defaults); }
        catch (JsonException e)
        {
            string field = e.Path is { Length: > 2 } path ? Snake(path.TrimStart('$', '.')) : "?";
            throw new ArgumentException($"config: field '{field}' of {type.Name}: {FirstSentence(e.Message)}");
        }
    }

    /// <summary>The values of an enum as config files write them: ReturnRange -> return_range.</summary>
    public static IEnumerable<string> EnumValues(Type enumType) => Enum.GetNames(enumType).Select(Snake);

    /// <summary>
    /// The member of <paramref name="enumType"/> a config value names (case, '_' and '-' ignored), as its C# name; a
    /// number, or a name of no member, is one error naming the field and listing the values it takes.
    /// </summary>
    private static string EnumName(Type enumType, JsonElement value, string field)
    {
        string given = value.ValueKind == JsonValueKind.String ? value.GetString()! : value.GetRawText();
        if (value.ValueKind == JsonValueKind.String)
            foreach (var name in Enum.GetNames(enumType))
                if (Norm(name) == Norm(given)) return name;
        throw new ArgumentException($"{field} must be one of {string.Join(", ", EnumValues(enumType))}, got '{given}'");
    }

    private static string? FindField(JsonObject node, string name)
    {
        foreach (var kv in node) if (Norm(kv.Key) == Norm(name)) return kv.Key;
        return null;
    }

    /// <summary>A field name as matched: case, underscores and hyphens ignored (policy_freq = PolicyFreq = policy-freq).</summary>
    private static string Norm(string n) => n.Trim().Replace("_", "").Replace("-", "").ToLowerInvariant();

    /// <summary>Refuses two keys of one config that name the same field (tau and Tau, policy_freq and policyfreq).</summary>
    private static void RefuseVariants(IEnumerable<string> keys, string path)
    {
        var seen = new Dictionary<string, string>();
        foreach (var k in keys)
            if (!seen.TryAdd(Norm(k), k))
                throw new DataException($"keys '{seen[Norm(k)]}' and '{k}' name the same field; set each field once", path, k);
    }

    /// <summary>PascalCase field name as written in config files: ActorLr -> actor_lr.</summary>
    public static string Snake(string pascal) => FieldRange.Snake(pascal);

    private static string FirstSentence(string m) => m.Split(". Path")[0];

    internal static object? Coerce(object? v) => v switch
    {
        string s when long.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out var l) => l,
        string s when double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) => d,
        string s when bool.TryParse(s, out var b) => b,
        List<object> list => list.Select(Coerce).ToList(),
        _ => v,
    };
}
