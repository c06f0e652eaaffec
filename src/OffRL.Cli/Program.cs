using System.CommandLine;
using OffRL.Cli;

OffRL.MuJoCo.MuJoCoEnvs.Register();

var debug = new Option<bool>("--debug") { Description = "On an error, print the stack trace too", Recursive = true };
var root = new RootCommand("offrl: offline reinforcement learning, off-policy evaluation and contextual bandits for .NET") { debug };
root.Subcommands.Add(DemoCommand.Create());
root.Subcommands.Add(SelfCheckCommand.Create());
root.Subcommands.Add(VersionCommand.Create());
root.Subcommands.Add(DatasetCommand.Create());
root.Subcommands.Add(EnvCommand.Create());
foreach (var c in TrainCommand.Create()) root.Subcommands.Add(c);
root.Subcommands.Add(OpeCommand.Create());
root.Subcommands.Add(ExportCommand.Create());
root.Subcommands.Add(OpeCommand.Select());
root.Subcommands.Add(SweepCommand.Create());
root.Subcommands.Add(BanditCommand.Create());
root.Subcommands.Add(BanditCommand.Serve());
var parsed = root.Parse(args);
try
{
    return parsed.Invoke(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
}
catch (Exception e)
{
    return Errors.Report(e, parsed.GetValue(debug));
}
