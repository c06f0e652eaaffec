using OffRL.Tensors;

namespace OffRL.Cli;

/// <summary>
/// The engine's thread count for this process, from <c>--threads</c> (any command) or else OFFRL_THREADS: a value
/// that is not a whole number >= 1 is refused naming where it came from (exit 2); more threads than cores is allowed,
/// with a warning, since the engine never runs more threads than there are cores.
/// </summary>
internal static class EngineThreads
{
    public static void Apply(string? option)
    {
        var variable = Environment.GetEnvironmentVariable(Gemm.ThreadsVariable);
        string source = option is null ? Gemm.ThreadsVariable : "--threads";
        if (option is not null) Gemm.Threads = Gemm.ParseThreads("--threads", option);
        else if (variable is not null) Gemm.Threads = Gemm.ParseThreads(Gemm.ThreadsVariable, variable);
        else return;
        if (Gemm.Threads > Environment.ProcessorCount)
            Console.Error.WriteLine($"warning: {source} {Gemm.Threads} is more than this machine's {Environment.ProcessorCount} cores; the engine uses {Environment.ProcessorCount}");
    }
}
