namespace OffRL.IO;

/// <summary>
/// A run's output folder (<c>--out</c>), claimed for the length of the run: held by an <see cref="ExclusiveLock"/>
/// (<c>.offrl.lock</c>), so a second run there fails at once naming the first; refused when it already holds an
/// earlier run's files unless the run resumes (keeping them) or overwrites (deleting them first); cleared of what a
/// killed writer left behind (temporary files of dead processes, a half-written <c>checkpoint.tmp</c>).
/// </summary>
public sealed class OutputFolder : IDisposable
{
    public const string LockName = ".offrl.lock";
    private readonly ExclusiveLock _lock;
    public string Path { get; }

    private OutputFolder(string path, ExclusiveLock l) { Path = path; _lock = l; }

    public static OutputFolder Claim(string dir, bool resume, bool overwrite)
    {
        var l = ExclusiveLock.Acquire(System.IO.Path.Combine(dir, LockName), dir);
        try
        {
            var earlier = Directory.EnumerateFileSystemEntries(dir).Where(e => !System.IO.Path.GetFileName(e).StartsWith(LockName, StringComparison.Ordinal)).ToArray();
            if (earlier.Length > 0 && overwrite)
                foreach (var e in earlier)
                {
                    if (Directory.Exists(e)) Directory.Delete(e, true);
                    else File.Delete(e);
                }
            else if (earlier.Length > 0 && !resume)
                throw new IOException($"{dir}: holds an earlier run ({System.IO.Path.GetFileName(earlier[0])}{(earlier.Length > 1 ? $" and {earlier.Length - 1} more" : "")}); " +
                    "resume it (--resume) or replace it (--overwrite)");
            AtomicFile.RemoveStale(dir);
            var tmp = System.IO.Path.Combine(dir, "checkpoint.tmp");
            if (Directory.Exists(tmp)) Directory.Delete(tmp, true);
            return new OutputFolder(dir, l);
        }
        catch { l.Dispose(); throw; }
    }

    public void Dispose() => _lock.Dispose();
}
