using System.Globalization;
using OffRL.IO;

/// <summary>
/// `OffRL.Bench figure`: a PNG (ScottPlot) of columns of CSV tables, for the figures an issue asks of a bench result:
///
///   figure --out F.png --title T --x step --y q_data [--y2 COL] [--zero] [--legend upper-left|upper-right|lower-left|lower-right] [--vline X]
///          [--label NAME FILE.csv [FILE.csv ...]] ...
///
/// Each --label starts a series; its files are runs (seeds) of it: the series' line is their mean at the x values every
/// file has, each run a thin line beside it. --y2 draws a second column of the same series on the right axis, dashed.
/// --zero keeps 0 on every y axis (so a small change does not fill the figure). --vline marks x = X (a phase switch).
/// </summary>
static class Figure
{
    public static Dictionary<string, double> Run(string[] args)
    {
        string? Arg(string name) { int i = Array.IndexOf(args, name); return i >= 0 && i + 1 < args.Length ? args[i + 1] : null; }
        string output = Arg("--out") ?? throw new ArgumentException("figure: --out FILE.png is required");
        string x = Arg("--x") ?? throw new ArgumentException("figure: --x COLUMN is required");
        string y = Arg("--y") ?? throw new ArgumentException("figure: --y COLUMN is required");
        string? y2 = Arg("--y2");
        var series = new List<(string Label, List<string> Files)>();
        for (int i = 0; i < args.Length; i++)
        {
            if (args[i] == "--label" && i + 1 < args.Length) { series.Add((args[++i], new List<string>())); continue; }
            if (args[i].EndsWith(".csv", StringComparison.Ordinal) && series.Count > 0 && args[i - 1] != "--out") series[^1].Files.Add(args[i]);
        }
        if (series.Count == 0 || series.Exists(s => s.Files.Count == 0)) throw new ArgumentException("figure: each --label needs at least one FILE.csv");
        var plt = new ScottPlot.Plot();
        var palette = new ScottPlot.Palettes.Category10();
        int points = 0;
        for (int s = 0; s < series.Count; s++)
        {
            var color = palette.GetColor(s);
            foreach (var (column, right) in y2 is null ? new[] { (y, false) } : new[] { (y, false), (y2, true) })
            {
                var runs = series[s].Files.ConvertAll(f => Read(f, x, column));
                foreach (var run in runs)
                {
                    if (runs.Count == 1) break;
                    var thin = plt.Add.ScatterLine(run.Keys.ToArray(), run.Values.ToArray(), color.WithAlpha(0.35));
                    thin.LineWidth = 1; thin.MarkerSize = 0;
                    if (right) { thin.Axes.YAxis = plt.Axes.Right; thin.LinePattern = ScottPlot.LinePattern.Dashed; }
                }
                var xs = runs[0].Keys.Where(k => runs.TrueForAll(r => r.ContainsKey(k))).ToArray();
                var mean = xs.Select(k => runs.Average(r => r[k])).ToArray();
                var line = plt.Add.ScatterLine(xs, mean, color);
                line.LineWidth = 2.5f; line.MarkerSize = 5;
                line.LegendText = $"{series[s].Label}: {column}" + (runs.Count > 1 ? $" (mean of {runs.Count})" : "");
                if (right) { line.Axes.YAxis = plt.Axes.Right; line.LinePattern = ScottPlot.LinePattern.Dashed; }
                points += xs.Length;
            }
        }
        if (Arg("--vline") is { } at) plt.Add.VerticalLine(double.Parse(at, CultureInfo.InvariantCulture), 1.5f, ScottPlot.Colors.Gray, ScottPlot.LinePattern.Dotted);
        plt.Title(Arg("--title") ?? "");
        plt.XLabel(x);
        plt.YLabel(y);
        if (y2 is not null) plt.Axes.Right.Label.Text = y2 + " (dashed)";
        if (args.Contains("--zero"))
        {
            plt.Axes.AutoScale();
            foreach (var axis in y2 is null ? new[] { plt.Axes.Left } : new[] { plt.Axes.Left, plt.Axes.Right })
                axis.Range.Set(Math.Min(0, axis.Range.Min), Math.Max(0, axis.Range.Max));
        }
        plt.ShowLegend(Arg("--legend") switch
        {
            null or "lower-right" => ScottPlot.Alignment.LowerRight,
            "upper-left" => ScottPlot.Alignment.UpperLeft,
            "upper-right" => ScottPlot.Alignment.UpperRight,
            "lower-left" => ScottPlot.Alignment.LowerLeft,
            var other => throw new ArgumentException($"figure: --legend '{other}': upper-left, upper-right, lower-left or lower-right"),
        });
        AtomicFile.WriteAllBytes(output, plt.GetImageBytes(900, 540, ScottPlot.ImageFormat.Png));
        Console.Error.WriteLine($"figure: wrote {output}");
        return new Dictionary<string, double> { ["series"] = series.Count, ["points"] = points };
    }

    /// <summary>Column <paramref name="y"/> against column <paramref name="x"/> of a CSV file with a header line.</summary>
    private static SortedDictionary<double, double> Read(string path, string x, string y)
    {
        var lines = File.ReadAllLines(path);
        var header = lines.Length > 0 ? lines[0].Split(',') : [];
        int xi = Array.IndexOf(header, x), yi = Array.IndexOf(header, y);
        if (xi < 0 || yi < 0) throw new ArgumentException($"figure: {path}: no column '{(xi < 0 ? x : y)}' in its header");
        var points = new SortedDictionary<double, double>();
        for (int i = 1; i < lines.Length; i++)
        {
            if (lines[i].Length == 0) continue;
            var cells = lines[i].Split(',');
            if (yi >= cells.Length || cells[yi].Length == 0) continue;   // a metric not yet recorded at that row
            points[double.Parse(cells[xi], CultureInfo.InvariantCulture)] = double.Parse(cells[yi], CultureInfo.InvariantCulture);
        }
        return points;
    }
}
