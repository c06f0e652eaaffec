using ArchUnitNET.Domain;
using ArchUnitNET.Loader;
using Xunit;

namespace OffRL.Tests.Architecture;

/// <summary>
/// ARCHITECTURE.md's rule, checked on the compiled library: each layer uses only the layers below it. ArchUnitNET
/// (TngTech.ArchUnitNET, a maintained port of Java's ArchUnit) reads the IL, so dependencies inside method bodies count,
/// not only signatures.
/// </summary>
public class LayerTests
{
    private static readonly Dictionary<string, string[]> Below = new()
    {
        ["OffRL.Tensors"] = [],
        ["OffRL"] = ["OffRL.Tensors"],                                    // Core/: spaces, errors, IPolicy, Linalg
        ["OffRL.IO"] = ["OffRL.Tensors", "OffRL"],
        ["OffRL.Nn"] = ["OffRL.Tensors", "OffRL", "OffRL.IO"],
        ["OffRL.Data"] = ["OffRL.Tensors", "OffRL", "OffRL.IO", "OffRL.Nn"],
        ["OffRL.Envs"] = ["OffRL.Tensors", "OffRL", "OffRL.IO"],
        // learned world models: the dynamics ensemble, termination rules (src/OffRL/Dynamics)
        ["OffRL.Dynamics"] = ["OffRL.Tensors", "OffRL", "OffRL.IO", "OffRL.Nn", "OffRL.Data", "OffRL.Envs"],
        ["OffRL.Evaluation"] = ["OffRL.Tensors", "OffRL", "OffRL.IO", "OffRL.Nn", "OffRL.Data", "OffRL.Envs", "OffRL.Dynamics"],
        ["OffRL.Algorithms"] = ["OffRL.Tensors", "OffRL", "OffRL.IO", "OffRL.Nn", "OffRL.Data", "OffRL.Envs", "OffRL.Dynamics", "OffRL.Evaluation"],
        ["OffRL.Bandits"] = ["OffRL.Tensors", "OffRL", "OffRL.IO", "OffRL.Nn", "OffRL.Data", "OffRL.Evaluation"],
        // runs and orchestration: trainer, recipes, sweeps, selection, export (src/OffRL/Runs)
        ["OffRL.Runs"] = ["OffRL.Tensors", "OffRL", "OffRL.IO", "OffRL.Nn", "OffRL.Data", "OffRL.Envs", "OffRL.Dynamics", "OffRL.Evaluation", "OffRL.Algorithms", "OffRL.Bandits"],
    };

    /// <summary>The layer of a namespace: OffRL.Data.IO belongs to OffRL.Data.</summary>
    private static string? Layer(string ns)
    {
        if (ns == "OffRL") return ns;
        foreach (var l in Below.Keys.OrderByDescending(k => k.Length))
            if (l != "OffRL" && (ns == l || ns.StartsWith(l + ".", StringComparison.Ordinal))) return l;
        return null;
    }

    private static readonly Lazy<ArchUnitNET.Domain.Architecture> Core =
        new(() => new ArchLoader().LoadAssemblies(typeof(OffRL.Algorithms.Agent).Assembly).Build());

    /// <summary>Every dependency of an OffRL type on a layer its own layer may not use, as "from -> to: type uses type".</summary>
    private static SortedSet<string> Violations(Dictionary<string, string[]> below, out int types)
    {
        var violations = new SortedSet<string>();
        types = 0;
        foreach (var t in Core.Value.Types)
        {
            var from = Layer(t.Namespace?.FullName ?? "");
            if (from is null) continue;   // compiler-generated types outside the OffRL namespaces
            types++;
            foreach (var d in t.Dependencies)
            {
                var to = d.Target?.Namespace is { } tns ? Layer(tns.FullName) : null;
                if (to is null || to == from || !d.Target!.FullName.StartsWith("OffRL", StringComparison.Ordinal)) continue;
                if (!below[from].Contains(to)) violations.Add($"{from} -> {to}: {t.Name} uses {d.Target.Name}");
            }
        }
        return violations;
    }

    [Fact]
    public void EachLayerUsesOnlyTheLayersBelowIt()
    {
        var violations = Violations(Below, out int types);
        Assert.True(types > 100, $"only {types} OffRL types were read");
        Assert.True(violations.Count == 0, "layer violations:\n" + string.Join("\n", violations));
    }

    [Fact]
    public void APlantedViolationIsFound()
    {
        // the rule as if algorithms might not use the networks' layer: every agent then violates it, and the check says so
        var planted = new Dictionary<string, string[]>(Below) { ["OffRL.Algorithms"] = Below["OffRL.Algorithms"].Where(l => l != "OffRL.Nn").ToArray() };
        var found = Violations(planted, out _);
        Assert.Contains(found, v => v.StartsWith("OffRL.Algorithms -> OffRL.Nn: Iql", StringComparison.Ordinal));
        // and as if the runs' layer sat below the algorithms (the trainer uses Agent)
        planted = new Dictionary<string, string[]>(Below) { ["OffRL.Runs"] = Below["OffRL.Runs"].Where(l => l != "OffRL.Algorithms").ToArray() };
        Assert.Contains(Violations(planted, out _), v => v.StartsWith("OffRL.Runs -> OffRL.Algorithms: Trainer", StringComparison.Ordinal));
    }

    [Fact]
    public void TheNumericLibraryReferencesNoDatabaseDriverNorPlotting()
    {
        // a user who wants IQL pulls no PostgreSQL driver: decision logs live in OffRL.Serving, plots in the command
        var refs = typeof(OffRL.Algorithms.Agent).Assembly.GetReferencedAssemblies().Select(a => a.Name!).ToList();
        Assert.Contains(refs, r => r.StartsWith("Parquet", StringComparison.Ordinal));   // the check reads real references
        foreach (var banned in new[] { "Npgsql", "Microsoft.Data.Sqlite", "ScottPlot", "Microsoft.AspNetCore" })
            Assert.DoesNotContain(refs, r => r.StartsWith(banned, StringComparison.Ordinal));
        var deps = File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "OffRL.Tests.deps.json"));
        var lib = System.Text.Json.JsonDocument.Parse(deps).RootElement.GetProperty("targets").EnumerateObject().First().Value;
        var offrl = lib.EnumerateObject().First(p => p.Name.StartsWith("OffRL/", StringComparison.Ordinal)).Value;
        var packages = offrl.TryGetProperty("dependencies", out var ds) ? ds.EnumerateObject().Select(p => p.Name).ToList() : [];
        foreach (var banned in new[] { "Npgsql", "Microsoft.Data.Sqlite", "ScottPlot" })
            Assert.DoesNotContain(banned, packages);
    }
}
