using System.Diagnostics;

namespace OffRL.IO;

/// <summary>
/// Holds a resource (a run's output folder, a decision log) for one process at a time: an exclusive lock on
/// <c>PATH</c> (released by the operating system when the holder dies, so a kill -9 never leaves it stuck) and, beside
/// it, <c>PATH.owner</c> saying who holds it. A second claimant fails at once with an <see cref="IOException"/> that
/// names the holder: <c>runs/a: in use by another process (pid 4711, offrl train ..., since 2026-12-05T02:10:00Z)</c>.
/// </summary>
public sealed class ExclusiveLock : IDisposable
{
    private readonly FileStream _stream;
    private readonly string _path;
    private bool _disposed;

    private ExclusiveLock(FileStream stream, string path) { _stream = stream; _path = path; }

    /// <param name="path">The lock file (created when missing).</param>
    /// <param name="what">What it guards, for the error (a folder, a log file).</param>
    public static ExclusiveLock Acquire(string path, string what)
    {
        var full = Path.GetFullPath(path);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        FileStream stream;
        try { stream = new FileStream(full, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None); }
        catch (IOException)
        {
            string owner;
            try { owner = File.ReadAllText(full + ".owner").Trim(); }
            catch (IOException) { owner = "owner unknown"; }
            throw new IOException($"{what}: in use by another process ({owner}); wait for it to end or use another path");
        }
        var self = Process.GetCurrentProcess();
        var args = Environment.GetCommandLineArgs();
        var command = string.Join(' ', args.Skip(1).Prepend(Path.GetFileNameWithoutExtension(args.Length > 0 ? args[0] : "offrl")));
        if (command.Length > 200) command = command[..200] + "...";
        AtomicFile.WriteAllText(full + ".owner", $"pid {self.Id}, {command}, since {DateTime.UtcNow:yyyy-MM-ddTHH:mm:ssZ}\n");
        return new ExclusiveLock(stream, full);
    }

    /// <summary>
    /// Who holds the lock at <paramref name="path"/> when a process (this one too) holds it: its owner line, or
    /// "owner unknown"; null when the file does not exist or nobody holds it. Probing never creates the file.
    /// </summary>
    public static string? HolderOf(string path)
    {
        if (!File.Exists(path)) return null;
        try
        {
            using var probe = new FileStream(path, FileMode.Open, FileAccess.ReadWrite, FileShare.None);
            return null;
        }
        catch (FileNotFoundException) { return null; }
        catch (DirectoryNotFoundException) { return null; }
        catch (UnauthorizedAccessException) { return null; }
        catch (IOException)
        {
            try { return File.ReadAllText(path + ".owner").Trim(); }
            catch (IOException) { return "owner unknown"; }
        }
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        try { File.Delete(_path + ".owner"); File.Delete(_path); } catch (IOException) { /* the lock goes with the handle anyway */ }
        _stream.Dispose();
    }
}
