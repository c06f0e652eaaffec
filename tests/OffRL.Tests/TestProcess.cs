using System.Runtime.CompilerServices;

namespace OffRL.Tests;

/// <summary>
/// Settings of the whole test process, made before the first test starts (a module initializer) and inherited by the
/// CLI tests' child processes.
/// <list type="bullet">
/// <item>The recipe datasets' cache (OFFRL_DATA): one private folder, removed when the process ends. Set once for the
/// whole run, so test classes running side by side read and write the same folder from start to end (a fixture that
/// set it part way through the run moved it under a test already running), and the user's own cache
/// (~/.local/share/offrl/datasets) is never touched.</item>
/// <item>One engine thread per test (OFFRL_THREADS=1) unless the caller set it: xunit already runs a test class per
/// core, and two tests each forking their products over both cores wait on each other's spinning workers (the suite
/// took 10 m 22 s with the engine's default, all cores, and 8 m 10 s with one, on this 2-core machine, 2026-12-07).
/// Tests of threading set <c>Gemm.Threads</c> themselves.</item>
/// </list>
/// </summary>
internal static class TestProcess
{
    public static string RecipeCache { get; private set; } = "";

#pragma warning disable CA2255 // a module initializer is what sets process-wide variables before any test reads them
    [ModuleInitializer]
#pragma warning restore CA2255
    internal static void SetUp()
    {
        RecipeCache = Path.Combine(Path.GetTempPath(), "offrl-recipes-" + Guid.NewGuid().ToString("N"));
        Environment.SetEnvironmentVariable("OFFRL_DATA", RecipeCache);
        if (string.IsNullOrEmpty(Environment.GetEnvironmentVariable(OffRL.Tensors.Gemm.ThreadsVariable)))
            Environment.SetEnvironmentVariable(OffRL.Tensors.Gemm.ThreadsVariable, "1");
        AppDomain.CurrentDomain.ProcessExit += (_, _) => { try { Directory.Delete(RecipeCache, true); } catch { } };
    }
}
