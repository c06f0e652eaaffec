using OffRL.Algorithms;
using System.Reflection;
using System.Security.Cryptography;

namespace OffRL.Runs;

/// <summary>
/// Where a run's result comes from, recorded in its run.json and its --json line: the commit OffRL was built from
/// (<see cref="Commit"/>: "SHA", "SHA+uncommitted" when src/ had changes, "unknown" outside a git checkout), the dataset
/// (name or file) and the SHA-256 of its file, and the preset applied. With the resolved config (the agent's), two
/// results agree on provenance when these agree.
/// </summary>
public sealed record Provenance(string? Dataset = null, string? DatasetSha256 = null, string? Preset = null)
{
    /// <summary>The commit this build of OffRL comes from (Directory.Build.props stores it at build time).</summary>
    public static string Commit { get; } =
        typeof(Provenance).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().FirstOrDefault(a => a.Key == "SourceRevision")?.Value is { Length: > 0 } v ? v : "unknown";

    /// <summary>SHA-256 of a file (a folder, such as a Minari dataset: null), as 64 lowercase hex digits.</summary>
    public static string? FileSha256(string? path)
    {
        if (path is null || !File.Exists(path)) return null;
        using var f = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(f));
    }
}
