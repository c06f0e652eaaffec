using System.CommandLine;
using OffRL.Cli;

OffRL.MuJoCo.MuJoCoEnvs.Register();

var root = new RootCommand("offrl: offline reinforcement learning, off-policy evaluation and contextual bandits for .NET");
root.Subcommands.Add(DemoCommand.Create());
root.Subcommands.Add(SelfCheckCommand.Create());
root.Subcommands.Add(VersionCommand.Create());
root.Subcommands.Add(DatasetCommand.Create());
root.Subcommands.Add(EnvCommand.Create());
foreach (var c in TrainCommand.Create()) root.Subcommands.Add(c);
root.Subcommands.Add(OpeCommand.Create());
root.Subcommands.Add(BanditCommand.Create());
root.Subcommands.Add(BanditCommand.Serve());
return root.Parse(args).Invoke();
