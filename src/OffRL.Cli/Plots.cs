using OffRL.Data;
using OffRL.IO;

namespace OffRL.Cli;

/// <summary>The figures the commands draw (ScottPlot), written atomically as PNG files; the libraries draw nothing.</summary>
internal static class Plots
{
    public static void WritePng(ScottPlot.Plot plot, string path, int width, int height) =>
        AtomicFile.WriteAllBytes(path, plot.GetImageBytes(width, height, ScottPlot.ImageFormat.Png));

    /// <summary>Histogram of a dataset's episode returns (`offrl dataset info --plot`).</summary>
    public static void ReturnHistogram(Dataset d, string path, int bins = 30)
    {
        var ret = d.EpisodeReturns();
        if (ret.Length == 0) throw new DataException("no episodes to plot", d.Info.Source);
        double lo = ret.Min(), hi = ret.Max(), width = hi > lo ? (hi - lo) / bins : 1;
        var counts = new double[bins];
        foreach (var r in ret) counts[Math.Min(bins - 1, (int)((r - lo) / width))]++;
        var plt = new ScottPlot.Plot();
        var bars = plt.Add.Bars(Enumerable.Range(0, bins).Select(b => lo + (b + 0.5) * width).ToArray(), counts);
        foreach (var bar in bars.Bars) bar.Size = width * 0.95;
        plt.Title($"Episode returns: {ret.Length} episodes, mean {ret.Average():G4}");
        plt.XLabel("return");
        plt.YLabel("episodes");
        WritePng(plt, path, 800, 500);
    }
}
