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
        ["OffRL.Evaluation"] = ["OffRL.Tensors", "OffRL", "OffRL.IO", "OffRL.Nn", "OffRL.Data", "OffRL.Envs"],
        ["OffRL.Algorithms"] = ["OffRL.Tensors", "OffRL", "OffRL.IO", "OffRL.Nn", "OffRL.Data", "OffRL.Envs", "OffRL.Evaluation"],
        ["OffRL.Bandits"] = ["OffRL.Tensors", "OffRL", "OffRL.IO", "OffRL.Nn", "OffRL.Data", "OffRL.Evaluation"],
    };

    /// <summary>The layer of a namespace: OffRL.Data.IO belongs to OffRL.Data.</summary>
    private static string? Layer(string ns)
    {
        if (ns == "OffRL") return ns;
        foreach (var l in Below.Keys.OrderByDescending(k => k.Length))
            if (l != "OffRL" && (ns == l || ns.StartsWith(l + ".", StringComparison.Ordinal))) return l;
        return null;
    }

    [Fact]
    public void EachLayerUsesOnlyTheLayersBelowIt()
    {
        var arch = new ArchLoader().LoadAssemblies(typeof(OffRL.Algorithms.Agent).Assembly).Build();
        var violations = new SortedSet<string>();
        int types = 0;
        foreach (var t in arch.Types)
        {
            var from = Layer(t.Namespace?.FullName ?? "");
            if (from is null) continue;   // compiler-generated types outside the OffRL namespaces
            types++;
            foreach (var d in t.Dependencies)
            {
                var to = d.Target?.Namespace is { } tns ? Layer(tns.FullName) : null;
                if (to is null || to == from || !d.Target!.FullName.StartsWith("OffRL", StringComparison.Ordinal)) continue;
                if (!Below[from].Contains(to)) violations.Add($"{from} -> {to}: {t.Name} uses {d.Target.Name}");
            }
        }
        Assert.True(types > 100, $"only {types} OffRL types were read");
        Assert.True(violations.Count == 0, "layer violations:\n" + string.Join("\n", violations));
    }
}
