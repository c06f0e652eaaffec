using System.Diagnostics;
using Xunit;

namespace OffRL.Tests.Cli;

/// <summary>
/// Runs the `offrl` command that `dotnet test OffRL.sln` builds (src/OffRL.Cli/bin/CONFIGURATION/net10.0) as a child
/// process, with a time limit, and reads its exit code and output. A missing build fails the test: a hostile-input
/// test that cannot run its subject must never pass.
/// </summary>
internal static class CliProcess
{
    public sealed record Result(int Code, string Out, string Err)
    {
        /// <summary>Refused as bad input: exit 2, one line on stderr that starts with "error:" and contains each of <paramref name="mentions"/>, no stack trace.</summary>
        public Result RefusedNaming(params string[] mentions)
        {
            var lines = Err.Split('\n', StringSplitOptions.RemoveEmptyEntries);
            Assert.True(Code == 2, $"expected exit 2 (bad input), got {Code}; stderr: {Err}; stdout: {Out}");
            Assert.True(lines.Length == 1, $"expected one error line, got {lines.Length}: {Err}");
            Assert.StartsWith("error: ", lines[0]);
            Assert.DoesNotContain("unexpected failure", lines[0]);
            foreach (var m in mentions) Assert.Contains(m, lines[0]);
            return this;
        }
    }

    private static readonly Lazy<string> Dll = new(() =>
    {
        // The test's own output folder is tests/OffRL.Tests/bin/CONFIGURATION/net10.0: the CLI's is beside it in src/.
        var baseDir = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
        string configuration = baseDir.Parent!.Name;
        var root = baseDir;
        while (root is not null && !File.Exists(Path.Combine(root.FullName, "OffRL.sln"))) root = root.Parent;
        Assert.True(root is not null, "OffRL.sln not found above the test folder");
        var dll = Path.Combine(root!.FullName, "src", "OffRL.Cli", "bin", configuration, "net10.0", "OffRL.Cli.dll");
        Assert.True(File.Exists(dll), $"the CLI is not built at {dll} (dotnet build OffRL.sln -c {configuration})");
        return dll;
    });

    public static Result Run(params string[] args) => RunIn(null, args);

    /// <summary>Runs with <paramref name="stdin"/> as the standard input (then closed).</summary>
    public static Result Run(string[] args, string stdin) => RunIn(null, args, "1", stdin);

    /// <summary>Runs with OFFRL_THREADS set to <paramref name="threads"/> (the other runs set it to 1).</summary>
    public static Result RunWithThreads(string threads, params string[] args) => RunIn(null, args, threads);

    public static Result RunIn(string? workingDirectory, params string[] args) => RunIn(workingDirectory, args, "1");

    private static Result RunIn(string? workingDirectory, string[] args, string threads, string? stdin = null)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
        if (workingDirectory is not null) psi.WorkingDirectory = workingDirectory;
        psi.ArgumentList.Add(Dll.Value);
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment["OFFRL_THREADS"] = threads;
        using var p = Process.Start(psi)!;
        if (stdin is not null) p.StandardInput.Write(stdin);
        p.StandardInput.Close();
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(120_000))
        {
            p.Kill(entireProcessTree: true);
            Assert.Fail($"offrl {string.Join(' ', args)} did not finish in 120 s (a hang)");
        }
        return new Result(p.ExitCode, stdout.Result, stderr.Result);
    }
}
