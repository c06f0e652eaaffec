using System.CommandLine;
using OffRL.Algorithms;
using OffRL.Runs;

namespace OffRL.Cli;

/// <summary><c>offrl export</c>: a trained policy in a format other runtimes load (ONNX).</summary>
internal static class ExportCommand
{
    public static Command Create()
    {
        var ckpt = new Option<string>("--checkpoint") { Description = "Folder written by offrl train --out (or a checkpoint inside it)", Required = true };
        var format = new Option<string>("--format") { Description = "onnx: the deterministic policy, observation normalizer and action bounds included", DefaultValueFactory = _ => "onnx" };
        var output = new Option<string>("--out") { Description = "File to write (written to a temporary name and renamed)", Required = true };
        var cmd = new Command("export", "Write a trained policy for another runtime (ONNX: onnxruntime in C#, Python, C++, the browser)") { ckpt, format, output };
        cmd.SetAction(r =>
        {
            var fmt = r.GetValue(format)!;
            if (!string.Equals(fmt, "onnx", StringComparison.OrdinalIgnoreCase))
                throw new ArgumentException($"--format: '{fmt}' is not a known format (known: onnx)");
            var dir = r.GetValue(ckpt)!;
            new OffRL.IO.PathGuard().Input("--checkpoint", dir).Output("--out", r.GetValue(output)).Check();
            var agent = AlgorithmRegistry.Load(dir);
            var path = r.GetValue(output)!;
            PolicyExport.WriteOnnx(agent, path, source: Path.GetFullPath(dir));
            Console.WriteLine($"wrote {path}: {agent.Name} policy, input 'observation' float [batch, {agent.ObservationDim}], output 'action' " +
                (agent.ActionSpace is Discrete ? "int64 [batch]" : $"float [batch, {agent.ActionDim}]") + $" ({new FileInfo(path).Length} bytes)");
            return 0;
        });
        return cmd;
    }
}
