using System.CommandLine;
using OffRL.Cli;

OffRL.MuJoCo.MuJoCoEnvs.Register();

var debug = new Option<bool>("--debug") { Description = "On an error, print the stack trace too", Recursive = true };
var threads = new Option<string?>("--threads")
{
    Description = $"Threads for the engine's parallel work, a whole number >= 1 (default: {OffRL.Tensors.Gemm.ThreadsVariable}, else all cores)",
    Recursive = true,
};
var root = new RootCommand("offrl: offline reinforcement learning, off-policy evaluation and contextual bandits for .NET") { debug, threads };
root.Subcommands.Add(DemoCommand.Create());
root.Subcommands.Add(SelfCheckCommand.Create());
root.Subcommands.Add(VersionCommand.Create());
root.Subcommands.Add(DatasetCommand.Create());
root.Subcommands.Add(EnvCommand.Create());
foreach (var c in TrainCommand.Create()) root.Subcommands.Add(c);
root.Subcommands.Add(OpeCommand.Create());
root.Subcommands.Add(ModelCommand.Create());
root.Subcommands.Add(ExportCommand.Create());
root.Subcommands.Add(OpeCommand.Select());
root.Subcommands.Add(SweepCommand.Create());
root.Subcommands.Add(BanditCommand.Create());
root.Subcommands.Add(BanditCommand.Serve());
ParseResult? parsed = null;
try
{
    parsed = root.Parse(args);
    // Parse errors (an unknown option, a value of the wrong type or out of its range) go the one error path: one line, exit 2.
    if (parsed.Errors.Count > 0) return Errors.Usage(parsed.Errors[0].Message);
    EngineThreads.Apply(parsed.GetValue(threads));
    return parsed.Invoke(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
}
catch (Exception e)
{
    return Errors.Report(e, parsed?.GetValue(debug) ?? args.Contains("--debug"));
}
