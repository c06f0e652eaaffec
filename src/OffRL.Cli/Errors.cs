using System.Reflection;
using OffRL.Algorithms;
using OffRL.Runs;

namespace OffRL.Cli;

/// <summary>
/// The one error path of every command: a single line on stderr, <c>error: what went wrong</c>, and the exit code
/// 2 for bad input (a file, a field, a value, an option) or 1 for a run that failed (a diverged loss, anything
/// unexpected). The stack trace only with <c>--debug</c>.
/// </summary>
internal static class Errors
{
    public const int BadInput = 2, Failed = 1;

    /// <summary>A command line the parser refused: its first error as one line, exit 2 (no help text).</summary>
    public static int Usage(string message)
    {
        Console.Error.WriteLine($"error: {message.ReplaceLineEndings(" ").Trim()} (offrl COMMAND --help lists the options)");
        return BadInput;
    }

    public static int Report(Exception e, bool debug)
    {
        while (e is TargetInvocationException or AggregateException { InnerExceptions.Count: 1 } && e.InnerException is { } inner) e = inner;
        int code = IsBadInput(e) ? BadInput : Failed;
        string message = e.Message.ReplaceLineEndings(" ").Trim();
        Console.Error.WriteLine(code == BadInput || e is TrainingDivergedException or DllNotFoundException ? $"error: {message}"
            : $"error: {e.GetType().Name}: {message} (an unexpected failure; rerun with --debug for the stack trace and report it)");
        if (debug) Console.Error.WriteLine(e);
        return code;
    }

    private static bool IsBadInput(Exception e) => e is DataException or ExportException or ArgumentException or IOException or InvalidDataException
        or UnauthorizedAccessException or FormatException or System.Text.Json.JsonException or YamlDotNet.Core.YamlException;
}
