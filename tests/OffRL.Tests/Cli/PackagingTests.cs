using System.Diagnostics;
using System.Text.Json;
using Xunit;

namespace OffRL.Tests.Cli;

/// <summary>
/// What a .NET user installs (issue 35): `dotnet pack` gives the libraries as NuGet packages and `offrl` as a .NET
/// tool; the tool, installed from a local feed into a temporary folder (with a private NuGet cache, so an older
/// package of the same version is never reused), collects a dataset, trains on it and evaluates the result.
/// </summary>
public sealed class PackagingTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("offrl-pack-").FullName;
    public void Dispose() { try { Directory.Delete(_dir, true); } catch { } }

    private static string Root()
    {
        var root = new DirectoryInfo(AppContext.BaseDirectory);
        while (root is not null && !File.Exists(Path.Combine(root.FullName, "OffRL.sln"))) root = root.Parent;
        Assert.True(root is not null, "OffRL.sln not found above the test folder");
        return root!.FullName;
    }

    private (int Code, string Out) Run(string program, params string[] args)
    {
        var psi = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = _dir };
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment["NUGET_PACKAGES"] = Path.Combine(_dir, "nuget-cache");
        psi.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        psi.Environment["DOTNET_NOLOGO"] = "1";
        psi.Environment["OFFRL_DATA"] = Path.Combine(_dir, "datasets");
        using var p = Process.Start(psi)!;
        var stderr = p.StandardError.ReadToEndAsync();
        string stdout = p.StandardOutput.ReadToEnd();
        Assert.True(p.WaitForExit(TimeSpan.FromMinutes(5)), $"{program} {string.Join(' ', args)} did not finish in 5 minutes");
        Assert.True(p.ExitCode == 0, $"{program} {string.Join(' ', args)} exited {p.ExitCode}: {stderr.Result}{stdout}");
        return (p.ExitCode, stdout);
    }

    [Fact]
    public void The_packed_tool_installs_and_trains_and_evaluates()
    {
        // The solution as built for the tests (Release): every library a package, the CLI a tool package.
        var configuration = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar)).Parent!.Name;
        var feed = Path.Combine(_dir, "feed");
        Run("dotnet", "pack", Path.Combine(Root(), "OffRL.sln"), "-c", configuration, "--no-build", "-o", feed);
        var packages = Directory.GetFiles(feed, "*.nupkg").Select(Path.GetFileName).ToArray();
        foreach (var id in new[] { "OffRL", "OffRL.MuJoCo", "OffRL.Serving", "OffRL.Cli" })
            Assert.Contains(packages, p => System.Text.RegularExpressions.Regex.IsMatch(p!, $@"^{System.Text.RegularExpressions.Regex.Escape(id)}\.\d+\.\d+\.\d+\.nupkg$"));
        Assert.DoesNotContain(packages, p => p!.Contains("Tests") || p.Contains("Bench"));
        var version = System.Text.RegularExpressions.Regex.Match(packages.Single(p => p!.StartsWith("OffRL.Cli.")!)!, @"\d+\.\d+\.\d+").Value;

        var tools = Path.Combine(_dir, "tools");
        Run("dotnet", "tool", "install", "OffRL.Cli", "--version", version, "--tool-path", tools, "--add-source", feed, "--ignore-failed-sources");
        var offrl = Path.Combine(tools, OperatingSystem.IsWindows() ? "offrl.exe" : "offrl");
        Assert.StartsWith($"offrl {version}", Run(offrl, "version").Out);
        Run(offrl, "collect", "--env", "pendulum", "--steps", "2000", "--seed", "1", "--out", Path.Combine(_dir, "random.parquet"));
        Run(offrl, "train", "--algo", "bc", "--dataset", Path.Combine(_dir, "random.parquet"), "--env", "pendulum", "--steps", "200",
            "--eval-every", "200", "--eval-episodes", "1", "--out", Path.Combine(_dir, "run"));
        var eval = Run(offrl, "eval", "--checkpoint", Path.Combine(_dir, "run"), "--episodes", "2", "--json").Out;
        var result = JsonDocument.Parse(eval.Trim().Split('\n')[^1]).RootElement;
        Assert.True(double.IsFinite(result.GetProperty("return_mean").GetDouble()), eval);
    }
}
