using System.CommandLine;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace OffRL.Cli;

internal static class VersionCommand
{
    public static Command Create()
    {
        var cmd = new Command("version", "Print the OffRL version and the SIMD features the engine uses on this machine");
        cmd.SetAction(_ =>
        {
            var v = typeof(OffRL.Tensors.Tensor).Assembly.GetName().Version;
            Console.WriteLine($"offrl {v} (.NET {Environment.Version})");
            Console.WriteLine($"cores: {Environment.ProcessorCount}, AVX2: {Avx2.IsSupported}, FMA: {Fma.IsSupported}, AVX-512F: {Avx512F.IsSupported}, Vector512: {Vector512.IsHardwareAccelerated}");
            return 0;
        });
        return cmd;
    }
}
