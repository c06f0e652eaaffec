namespace OffRL.IO;

/// <summary>
/// A run's output folder (<c>--out</c>), claimed for the length of the run: held by an <see cref="ExclusiveLock"/>
/// (<c>.offrl.lock</c>), so a second run there fails at once naming the first; marked as a run's folder
/// (<see cref="MarkerName"/>); cleared of what a killed writer left behind (temporary files of dead processes, a
/// half-written <c>checkpoint.tmp</c>).
/// <para>
/// A folder is claimed when it is new or empty, or when it holds an earlier run (its marker, or the agent.json /
/// metrics.csv / checkpoint of a run written before markers) and the run resumes it (keeping everything) or overwrites
/// it. Overwriting removes only what a run writes (<see cref="IsRunEntry"/>: the agent's files, metrics, TensorBoard
/// events, checkpoints, temporary files), never anything else the folder holds. A folder holding files no run wrote
/// is never claimed: the refusal names what is there.
/// </para>
/// </summary>
public sealed class OutputFolder : IDisposable
{
    public const string LockName = ".offrl.lock";
    /// <summary>The file that marks a folder as an OffRL run's (written when the folder is claimed).</summary>
    public const string MarkerName = ".offrl-run";
    private readonly ExclusiveLock _lock;
    public string Path { get; }

    private OutputFolder(string path, ExclusiveLock l) { Path = path; _lock = l; }

    /// <summary>What a run writes in its folder, by name: only these are removed by an overwrite.</summary>
    public static bool IsRunEntry(string name) => name is "agent.json" or "preprocessing.json" or "metrics.csv" or "metrics.jsonl"
        or "tensorboard" or "checkpoint" or "checkpoint.tmp" or "checkpoint.old" or "run.json" or MarkerName
        || name.EndsWith(".safetensors", StringComparison.Ordinal) || name.EndsWith(".safetensors.json", StringComparison.Ordinal)
        || (name.StartsWith('.') && name.EndsWith(".tmp", StringComparison.Ordinal));

    public static OutputFolder Claim(string dir, bool resume, bool overwrite)
    {
        var l = ExclusiveLock.Acquire(System.IO.Path.Combine(dir, LockName), dir);
        try
        {
            var (own, refusal) = Judge(dir, resume, overwrite);
            if (refusal is not null) throw new IOException(refusal);
            if (overwrite)
                foreach (var name in own)
                {
                    if (name == MarkerName) continue;
                    var e = System.IO.Path.Combine(dir, name);
                    if (Directory.Exists(e)) Directory.Delete(e, true);
                    else File.Delete(e);
                }
            AtomicFile.RemoveStale(dir);
            var tmp = System.IO.Path.Combine(dir, "checkpoint.tmp");
            if (Directory.Exists(tmp)) Directory.Delete(tmp, true);
            var marker = System.IO.Path.Combine(dir, MarkerName);
            if (!File.Exists(marker))
                AtomicFile.WriteAllText(marker, $"an OffRL run's folder (created {DateTime.UtcNow:yyyy-MM-ddTHH:mm:ssZ}): --overwrite removes only the run's own files\n");
            return new OutputFolder(dir, l);
        }
        catch { l.Dispose(); throw; }
    }

    /// <summary>
    /// Throws the refusal <see cref="Claim"/> would give for this folder now (without claiming or changing anything), so a
    /// job of several runs can refuse before it starts the first.
    /// </summary>
    public static void CheckClaimable(string dir, bool resume, bool overwrite)
    {
        if (Judge(dir, resume, overwrite).Refusal is { } refusal) throw new IOException(refusal);
    }

    /// <summary>The run's own entries in the folder, and why it cannot be claimed (null when it can).</summary>
    private static (string[] Own, string? Refusal) Judge(string dir, bool resume, bool overwrite)
    {
        if (File.Exists(dir)) return ([], $"{dir}: is a file; a run's output is a folder");
        if (!Directory.Exists(dir)) return ([], null);
        var entries = Directory.EnumerateFileSystemEntries(dir).Select(System.IO.Path.GetFileName).OfType<string>()
            .Where(n => !n.StartsWith(LockName, StringComparison.Ordinal)).Order(StringComparer.Ordinal).ToArray();
        var foreign = entries.Where(n => !IsRunEntry(n)).ToArray();
        var own = entries.Where(IsRunEntry).ToArray();
        bool isRun = Array.IndexOf(entries, MarkerName) >= 0 || own.Any(n => n is "agent.json" or "metrics.csv" or "checkpoint");
        if (entries.Length > 0 && !isRun)
            return (own, $"{dir}: holds files no OffRL run wrote ({List(entries)}); a run writes into a new or empty folder, " +
                "or resumes (--resume) or replaces (--overwrite) an earlier run's: choose another --out");
        if (isRun && !resume && !overwrite && own.Any(n => n != MarkerName))
            return (own, $"{dir}: holds an earlier run ({List(own.Where(n => n != MarkerName).ToArray())}); resume it (--resume) or replace it " +
                $"(--overwrite removes only what a run writes{(foreign.Length > 0 ? $", never {List(foreign)}" : "")})");
        return (own, null);
    }

    private static string List(string[] names) => names.Length == 0 ? "nothing" :
        string.Join(", ", names.Take(5)) + (names.Length > 5 ? $" and {names.Length - 5} more" : "");

    public void Dispose() => _lock.Dispose();
}
