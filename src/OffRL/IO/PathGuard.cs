namespace OffRL.IO;

/// <summary>
/// Keeps a command's outputs off its inputs. Every path is resolved first (absolute, every symbolic link along it
/// followed), then <see cref="Check"/> refuses, with one <see cref="IOException"/> naming both options and paths:
/// an output that is an input, lies inside an input folder, or is a folder holding an input; two outputs that are the
/// same path or nested; and an output held by another process's <see cref="ExclusiveLock"/> (a decision log that
/// <c>offrl serve</c> writes, a run folder in use), so a file in use is never replaced.
/// </summary>
public sealed class PathGuard
{
    private readonly List<(string Option, string Given, string Resolved)> _inputs = [];
    private readonly List<(string Option, string Given, string Resolved)> _outputs = [];

    /// <summary>A file or folder the command reads (null or empty: none given).</summary>
    public PathGuard Input(string option, string? path)
    {
        if (!string.IsNullOrEmpty(path)) _inputs.Add((option, path, Resolve(path)));
        return this;
    }

    /// <summary>A file or folder the command writes (null or empty: none given).</summary>
    public PathGuard Output(string option, string? path)
    {
        if (!string.IsNullOrEmpty(path)) _outputs.Add((option, path, Resolve(path)));
        return this;
    }

    /// <summary>Refuses the first output that would replace an input, another output or a file in use.</summary>
    public void Check()
    {
        for (int k = 0; k < _outputs.Count; k++)
        {
            var (option, given, o) = _outputs[k];
            foreach (var (inOption, inGiven, i) in _inputs)
            {
                if (o == i)
                    throw new IOException($"{option}: {given} is the input {inOption}; an output never replaces an input: write it elsewhere");
                if (IsInside(o, i))
                    throw new IOException($"{option}: {given} is inside the input {inOption} ({inGiven}); an output never replaces an input: write it elsewhere");
                if (IsInside(i, o))
                    throw new IOException($"{option}: {given} holds the input {inOption} ({inGiven}); an output never replaces an input: write it elsewhere");
            }
            for (int j = 0; j < k; j++)
            {
                var (otherOption, otherGiven, other) = _outputs[j];
                if (o == other || IsInside(o, other) || IsInside(other, o))
                    throw new IOException($"{option}: {given} is {(o == other ? "also" : "nested with")} the output {otherOption} ({otherGiven}); an output never replaces another: give each its own path");
            }
            if (HeldBy(o) is { } holder)
                throw new IOException($"{option}: {given} is in use by another process ({holder}); an output never replaces a file in use: write it elsewhere or stop that process first");
        }
    }

    /// <summary>
    /// Who holds the path, when another lock holder does: the path's own lock (<c>PATH.lock</c>, a decision log's) or the
    /// run-folder lock (<see cref="OutputFolder.LockName"/>) of the path or any folder above it; null when none is held.
    /// </summary>
    private static string? HeldBy(string resolved)
    {
        if (ExclusiveLock.HolderOf(resolved + ".lock") is { } log) return log;
        for (string? dir = resolved; dir is not null; dir = Path.GetDirectoryName(dir))
            if (ExclusiveLock.HolderOf(Path.Combine(dir, OutputFolder.LockName)) is { } run) return run;
        return null;
    }

    private static bool IsInside(string path, string folder) =>
        path.Length > folder.Length && path.StartsWith(folder, StringComparison.Ordinal)
        && (folder.EndsWith(Path.DirectorySeparatorChar) || path[folder.Length] == Path.DirectorySeparatorChar);

    /// <summary>The absolute path with every symbolic link along it followed (missing parts are kept as written).</summary>
    public static string Resolve(string path)
    {
        var pending = new Queue<string>(Path.GetFullPath(path).Split(Path.DirectorySeparatorChar, StringSplitOptions.RemoveEmptyEntries));
        string current = Path.GetPathRoot(Path.GetFullPath(path)) ?? "/";
        int links = 0;
        while (pending.Count > 0)
        {
            var next = Path.Combine(current, pending.Dequeue());
            string? target = null;
            try { target = new FileInfo(next).LinkTarget; }
            catch (IOException) { }
            catch (UnauthorizedAccessException) { }
            if (target is null) { current = next; continue; }
            if (++links > 40) throw new IOException($"{path}: too many symbolic links (a loop?)");
            // The link's target, then what was left of the path after the link.
            var rest = pending.ToArray();
            var full = Path.GetFullPath(target, current);
            pending = new Queue<string>(full.Split(Path.DirectorySeparatorChar, StringSplitOptions.RemoveEmptyEntries).Concat(rest));
            current = Path.GetPathRoot(full) ?? "/";
        }
        return current;
    }
}
