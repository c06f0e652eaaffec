using OffRL.Algorithms;
using OffRL.Data;
using OffRL.Data.IO;
using OffRL.IO;
using OffRL.Runs;

/// <summary>
/// `lockstep`: OffRL's half of a lockstep check against bench/reference/offline_rl.py --lockstep DIR. The agent (seed 0;
/// TD3+BC without target-policy noise, so that the update is deterministic) is saved before training (DIR/init), then
/// trained STEPS updates on batches whose rows both sides compute from one formula (<see cref="Row"/>), and saved again
/// (DIR/final). The reference starts from DIR/init, makes the same updates and compares its networks with DIR/final.
/// ALGO=td3bc|iql DATASET=FILE.hdf5 DIR=OUT STEPS=1000 dotnet run -c Release --project bench/OffRL.Bench -- lockstep
/// </summary>
internal static class Lockstep
{
    /// <summary>Row of batch slot s at update t: a multiplicative hash of t * 256 + s, modulo the row count.</summary>
    public static int Row(long t, int s, int rows) => (int)((((ulong)(t * 256 + s) * 11400714819323198485UL) >> 16) % (ulong)rows);

    public static Dictionary<string, double> Run()
    {
        string Env(string k) => Environment.GetEnvironmentVariable(k) ?? throw new ArgumentException($"{k}: not set (ALGO, DATASET, DIR, STEPS)");
        string algo = Env("ALGO"), dir = Env("DIR");
        int steps = int.Parse(Env("STEPS"));
        var overrides = algo == "td3bc" ? ConfigFile.Overrides(null, ["policy_noise=0"]) : null;
        var (agent, data) = Training.Prepare(algo, DatasetFile.Read(Env("DATASET")), 0, overrides);
        agent.Save(Path.Combine(dir, "init"));
        var source = new DatasetSource(data);
        var batch = new TransitionBatch(256, data.ObservationDim, data.ActionDim);
        var sw = System.Diagnostics.Stopwatch.StartNew();
        for (long t = 0; t < steps; t++)
        {
            for (int s = 0; s < 256; s++) batch.Fill(source, s, source.SampleableRow(Row(t, s, source.SampleableCount)), agent.Config.Gamma);
            agent.Update(batch);
        }
        agent.Save(Path.Combine(dir, "final"));
        return new() { ["steps"] = steps, ["seconds"] = sw.Elapsed.TotalSeconds };
    }
}
