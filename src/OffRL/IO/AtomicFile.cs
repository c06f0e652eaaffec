namespace OffRL.IO;

/// <summary>
/// Writes files under a temporary name (<c>.NAME.PID.GUID.tmp</c> beside the target) and renames them into place, so a
/// crash never leaves half a file; the temporary files a killed writer left for the same target are removed at the
/// next write (<see cref="RemoveStale"/> does it for a whole folder).
/// </summary>
public static class AtomicFile
{
    public static void Write(string path, Action<Stream> write)
    {
        var full = Path.GetFullPath(path);
        var dir = Path.GetDirectoryName(full)!;
        Directory.CreateDirectory(dir);
        RemoveStale(dir, Path.GetFileName(full));
        var tmp = Path.Combine(dir, $".{Path.GetFileName(full)}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
        try
        {
            using (var fs = new FileStream(tmp, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, 1 << 16))
            {
                write(fs);
                fs.Flush(flushToDisk: true);
            }
            File.Move(tmp, full, overwrite: true);
        }
        catch
        {
            try { File.Delete(tmp); } catch { /* best effort */ }
            throw;
        }
    }

    public static void WriteAllText(string path, string text) =>
        Write(path, s => { using var w = new StreamWriter(s, new System.Text.UTF8Encoding(false), 1 << 16, leaveOpen: true); w.Write(text); });

    public static void WriteAllBytes(string path, ReadOnlySpan<byte> bytes)
    {
        var copy = bytes.ToArray();
        Write(path, s => s.Write(copy));
    }

    /// <summary>
    /// Deletes the temporary files in <paramref name="dir"/> (of one target, or of all) whose writing process is no
    /// longer running; returns how many.
    /// </summary>
    public static int RemoveStale(string dir, string? target = null)
    {
        if (!Directory.Exists(dir)) return 0;
        int removed = 0;
        foreach (var file in Directory.EnumerateFiles(dir, target is null ? ".*.tmp" : $".{target}.*.tmp"))
        {
            // .NAME.PID.GUID.tmp: the writer's pid is the third field from the end.
            var parts = Path.GetFileName(file).Split('.');
            if (parts.Length < 5 || !int.TryParse(parts[^3], out int pid) || pid == Environment.ProcessId || IsRunning(pid)) continue;
            try { File.Delete(file); removed++; } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
        return removed;
    }

    private static bool IsRunning(int pid)
    {
        try { using var p = System.Diagnostics.Process.GetProcessById(pid); return !p.HasExited; }
        catch (ArgumentException) { return false; }
        catch (InvalidOperationException) { return false; }
    }
}
