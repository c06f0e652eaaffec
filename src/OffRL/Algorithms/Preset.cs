using System.Text.Json;
using System.Text.RegularExpressions;
using OffRL.IO;

namespace OffRL.Algorithms;

/// <summary>
/// One dataset row of a <see cref="Preset"/>: the datasets it covers, the config fields it sets (a YAML flow map,
/// e.g. <c>beta: 3, tau: 0.001</c>, as config files write them) and the file its values come from.
/// </summary>
public sealed record PresetEntry(string[] Datasets, string Values, string Source);

/// <summary>
/// A published configuration of an algorithm, per dataset: CORL's shipped configs (<c>--preset corl</c>), the
/// authors' code (<c>--preset authors</c>). Declared beside the algorithm in its own file
/// (<see cref="AlgorithmSpec.Presets"/>), each row naming the file its values come from. A preset is a config like any
/// other: applied over the algorithm's defaults, then <c>--config</c> and <c>--set</c> apply over it, and the run saves
/// the resolved config.
/// </summary>
public sealed record Preset(string Name, string Reference, IReadOnlyList<PresetEntry> Entries)
{
    /// <summary>The nine D4RL locomotion datasets the published tables report (v2): hopper, halfcheetah, walker2d x medium, medium-replay, medium-expert.</summary>
    public static readonly string[] Locomotion =
    [
        "hopper-medium", "hopper-medium-replay", "hopper-medium-expert",
        "halfcheetah-medium", "halfcheetah-medium-replay", "halfcheetah-medium-expert",
        "walker2d-medium", "walker2d-medium-replay", "walker2d-medium-expert",
    ];

    /// <summary>Every dataset this preset has an entry for, in its order.</summary>
    public IEnumerable<string> Datasets => Entries.SelectMany(e => e.Datasets);

    /// <summary>The entry for a dataset key (<see cref="DatasetKey"/>), or null.</summary>
    public PresetEntry? For(string dataset) => Entries.FirstOrDefault(e => Array.IndexOf(e.Datasets, dataset) >= 0);

    /// <summary>
    /// The dataset a name or file stands for, as presets key them: the file's name without folder and extension, lower
    /// case, '_' as '-', and without D4RL's version suffix (-v2) or an OffRL cache file's -seedN-vN
    /// (<c>~/data/hopper_medium-v2.hdf5</c> -> <c>hopper-medium</c>).
    /// </summary>
    public static string DatasetKey(string nameOrFile)
    {
        var name = Path.GetFileName(nameOrFile.TrimEnd('/', '\\'));
        var ext = Path.GetExtension(name);
        if (ext is ".hdf5" or ".h5" or ".parquet" or ".csv") name = name[..^ext.Length];
        name = name.ToLowerInvariant().Replace('_', '-');
        return Regex.Replace(name, @"(-seed\d+)?-v\d+$", "");
    }

    /// <summary>
    /// The fields preset <paramref name="preset"/> of <paramref name="spec"/> sets for a dataset, as a JSON object (for
    /// <see cref="ConfigFile.Overrides(JsonElement?, string?, IReadOnlyCollection{string}?)"/>). An unknown preset, or one
    /// without an entry for the dataset, is one error naming the preset, the algorithm and what it has.
    /// </summary>
    public static (JsonElement Values, PresetEntry Entry) Resolve(AlgorithmSpec spec, string preset, string nameOrFile)
    {
        var p = spec.Presets.FirstOrDefault(x => string.Equals(x.Name, preset, StringComparison.OrdinalIgnoreCase))
            ?? throw new ArgumentException(spec.Presets.Count == 0
                ? $"--preset {preset}: {spec.Name} has no presets"
                : $"--preset {preset}: {spec.Name} has no preset of that name (it has: {string.Join(", ", spec.Presets.Select(x => x.Name))})");
        var key = DatasetKey(nameOrFile);
        var entry = p.For(key) ?? throw new ArgumentException(
            $"--preset {p.Name}: {spec.Name}'s preset has no entry for dataset '{key}' (from {nameOrFile}); it has: {string.Join(", ", p.Datasets)}");
        return (ConfigFile.ParseYamlMap("{" + entry.Values + "}", $"preset {p.Name} of {spec.Name} for {key}"), entry);
    }
}
