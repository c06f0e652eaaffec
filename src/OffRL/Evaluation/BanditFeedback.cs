using System.Globalization;
using OffRL.Data;
using OffRL.Data.IO;

namespace OffRL.Evaluation;

/// <summary>
/// Logged bandit feedback: per row a context, the chosen action (and slate position), the observed reward and the
/// logging policy's probability of that choice (Open Bandit Pipeline's bandit_feedback, row-major arrays).
/// </summary>
public sealed class BanditFeedback
{
    public int Count { get; }
    public int ContextDim { get; }
    public int Actions { get; }
    /// <summary>Slate positions (1 when the action is a single choice).</summary>
    public int Positions { get; }
    public float[] Context { get; }
    public int[] Action { get; }
    public int[] Position { get; }
    public float[] Reward { get; }
    public float[] Propensity { get; }
    /// <summary>Optional features per action [Actions, ActionContextDim].</summary>
    public float[]? ActionContext { get; }
    public int ActionContextDim { get; }
    public string Source { get; }

    /// <summary>The most actions a log may have (ids 0..MaxActions - 1): estimators hold per-action tables.</summary>
    public const int MaxActions = 1_000_000;

    /// <summary>The longest slate a log may have (positions 0..MaxPositions - 1).</summary>
    public const int MaxPositions = 1_000;

    /// <summary>
    /// The most cells of a per-row table [rows, actions, positions] (a target's action distribution, the reward model's
    /// predictions): 2^29 floats, 2 GiB per table, with every index inside int. A log whose ids would need more is
    /// refused at the row holding the largest id, naming the largest id its row count allows.
    /// </summary>
    public const long MaxTableCells = 1L << 29;

    public BanditFeedback(float[] context, int contextDim, int[] action, int[] position, float[] reward, float[] propensity,
        int actions, int positions, float[]? actionContext = null, string source = "", int[]? lines = null)
    {
        int n = action.Length;
        long Row(int i) => lines is not null && i < lines.Length ? lines[i] : i + 1L;   // the file's line, else the 1-based record
        Source = source;
        if (contextDim < 0 || context.Length != n * contextDim) throw new DataException($"has {context.Length} values, expected rows x context_dim = {n} x {contextDim}", source, "context");
        if (position.Length != n || reward.Length != n || propensity.Length != n)
            throw new DataException($"columns differ in length: action {n}, position {position.Length}, reward {reward.Length}, propensity {propensity.Length}", source);
        if (n == 0) throw new DataException("has no rows", source, "action");
        if (actions < 1 || actions > MaxActions) throw new DataException($"needs 1..{MaxActions} actions (BanditFeedback.MaxActions), got {actions}", source, "n_actions");
        if (positions < 1 || positions > MaxPositions) throw new DataException($"needs 1..{MaxPositions} positions (BanditFeedback.MaxPositions), got {positions}", source, "n_positions");
        CheckTableSize(action, n, actions, positions, source, Row);
        for (int i = 0; i < n; i++)
        {
            if ((uint)action[i] >= (uint)actions) throw new DataException($"action {action[i]} is outside 0..{actions - 1}", source, "action", Row(i));
            if ((uint)position[i] >= (uint)positions) throw new DataException($"position {position[i]} is outside 0..{positions - 1}", source, "position", Row(i));
            if (!(propensity[i] > 0 && propensity[i] <= 1)) throw new DataException($"propensity {propensity[i]} is not in (0, 1]", source, "propensity", Row(i));
            if (!float.IsFinite(reward[i])) throw new DataException($"reward {reward[i]} is not finite", source, "reward", Row(i));
        }
        for (int i = 0; i < context.Length; i++)
            if (!float.IsFinite(context[i])) throw new DataException($"context value {context[i]} is not finite", source, "context", Row(i / Math.Max(1, contextDim)), i % Math.Max(1, contextDim));
        if (actionContext is not null && actionContext.Length % actions != 0)
            throw new DataException($"action context has {actionContext.Length} values, not a multiple of {actions} actions", source, "action_context");
        Count = n; ContextDim = contextDim; Actions = actions; Positions = positions;
        Context = context; Action = action; Position = position; Reward = reward; Propensity = propensity;
        ActionContext = actionContext; ActionContextDim = actionContext is null ? 0 : actionContext.Length / actions;
    }

    /// <summary>
    /// Refuses a log whose per-row tables [rows, actions, positions] would exceed <see cref="MaxTableCells"/>, at the
    /// row of its largest action id (or naming the declared action count when no logged id is that large).
    /// </summary>
    private static void CheckTableSize(int[] action, int n, int actions, int positions, string source, Func<int, long> row)
    {
        long cells = (long)n * actions * positions;
        if (cells <= MaxTableCells) return;
        long allowed = MaxTableCells / ((long)n * positions);
        int worst = -1;
        for (int i = 0; i < n; i++)
            if (action[i] >= allowed && (worst < 0 || action[i] > action[worst])) worst = i;
        string why = $"{n} rows x {actions} actions x {positions} positions = {cells} cells per table, over the limit of {MaxTableCells} (BanditFeedback.MaxTableCells)";
        if (worst < 0) throw new DataException($"{actions} actions make {why}; with {n} rows at most {allowed} actions", source, "n_actions");
        throw new DataException($"action {action[worst]} makes {why}; with {n} rows action ids must be below {allowed}", source, "action", row(worst));
    }

    public ReadOnlySpan<float> ContextOf(int row) => new(Context, row * ContextDim, ContextDim);

    public double MeanReward()
    {
        double s = 0;
        for (int i = 0; i < Count; i++) s += Reward[i];
        return Count == 0 ? double.NaN : s / Count;
    }

    /// <summary>
    /// Read an Open Bandit Dataset campaign file ({campaign}.csv) the way OBP does: position 1..3 mapped to 0..2,
    /// context = one-hot of the user features with the first (sorted) level of each dropped, action context =
    /// item_feature_0 and label-encoded item_feature_1..3 from item_context.csv next to it (when present).
    /// </summary>
    public static BanditFeedback ReadObd(string path)
    {
        var t = CsvTable.Read(path);
        int n = t.Rows;
        int cItem = t.Col("item_id"), cPos = t.Col("position"), cClick = t.Col("click"), cP = t.Col("propensity_score");
        var userCols = t.Header.Select((h, i) => (h, i)).Where(x => x.h.StartsWith("user_feature_", StringComparison.Ordinal)).Select(x => x.i).ToArray();
        var action = new int[n]; var position = new int[n]; var reward = new float[n]; var prop = new float[n];
        int maxItem = 0, maxPos = 0;
        for (int i = 0; i < n; i++)
        {
            action[i] = t.Int(i, cItem); position[i] = t.Int(i, cPos) - 1; reward[i] = t.Float(i, cClick); prop[i] = t.Float(i, cP);
            if ((uint)position[i] >= MaxPositions) throw new DataException($"position {position[i] + 1} is outside 1..{MaxPositions} (BanditFeedback.MaxPositions)", path, "position", t.LineOf(i));
            if ((uint)action[i] >= MaxActions) throw new DataException($"item_id {action[i]} is outside 0..{MaxActions - 1} (BanditFeedback.MaxActions)", path, "item_id", t.LineOf(i));
            maxItem = Math.Max(maxItem, action[i]); maxPos = Math.Max(maxPos, position[i]);
        }
        // One-hot of each user feature, levels sorted ordinally, first level dropped (pandas get_dummies(drop_first=True)).
        var levels = userCols.Select(c => Enumerable.Range(0, n).Select(i => t.Cell(i, c)).Distinct().OrderBy(s => s, StringComparer.Ordinal).ToArray()).ToArray();
        int d = levels.Sum(l => Math.Max(0, l.Length - 1));
        var ctx = new float[n * d];
        int off = 0;
        for (int k = 0; k < userCols.Length; k++)
        {
            var index = levels[k].Select((s, j) => (s, j)).ToDictionary(x => x.s, x => x.j);
            for (int i = 0; i < n; i++)
            {
                int j = index[t.Cell(i, userCols[k])];
                if (j > 0) ctx[i * d + off + j - 1] = 1f;
            }
            off += levels[k].Length - 1;
        }
        int actions = maxItem + 1;
        float[]? actionCtx = null;
        var itemPath = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(path))!, "item_context.csv");
        if (File.Exists(itemPath))
        {
            var it = CsvTable.Read(itemPath);
            int cId = it.Col("item_id");
            var featCols = it.Header.Select((h, i) => (h, i)).Where(x => x.h.StartsWith("item_feature_", StringComparison.Ordinal)).Select(x => x.i).ToArray();
            for (int r = 0; r < it.Rows; r++)
            {
                int id = it.Int(r, cId);
                if ((uint)id >= MaxActions) throw new DataException($"item_id {id} is outside 0..{MaxActions - 1} (BanditFeedback.MaxActions)", itemPath, "item_id", it.LineOf(r));
                if (id >= actions && (long)n * (id + 1) * (maxPos + 1) > MaxTableCells)
                    throw new DataException($"item_id {id} makes {n} rows x {id + 1} actions x {maxPos + 1} positions over the limit of {MaxTableCells} table cells (BanditFeedback.MaxTableCells); item ids must be below {MaxTableCells / ((long)n * (maxPos + 1))}", itemPath, "item_id", it.LineOf(r));
                actions = Math.Max(actions, id + 1);
            }
            if ((long)actions * featCols.Length > MaxTableCells)
                throw new DataException($"{actions} items x {featCols.Length} item features is over the limit of {MaxTableCells} values (BanditFeedback.MaxTableCells)", itemPath, "item_feature_0", 1);
            actionCtx = new float[actions * featCols.Length];
            for (int k = 0; k < featCols.Length; k++)
            {
                bool numeric = Enumerable.Range(0, it.Rows).All(r => double.TryParse(it.Cell(r, featCols[k]), NumberStyles.Float, CultureInfo.InvariantCulture, out _));
                var codes = numeric ? null : Enumerable.Range(0, it.Rows).Select(r => it.Cell(r, featCols[k])).Distinct().OrderBy(s => s, StringComparer.Ordinal)
                    .Select((s, j) => (s, j)).ToDictionary(x => x.s, x => (float)x.j);
                for (int r = 0; r < it.Rows; r++)
                    actionCtx[it.Int(r, cId) * featCols.Length + k] = numeric ? it.Float(r, featCols[k]) : codes![it.Cell(r, featCols[k])];
            }
        }
        return new BanditFeedback(ctx, d, action, position, reward, prop, actions, maxPos + 1, actionCtx, path, t.Lines);
    }

    /// <summary>
    /// Read OffRL's plain bandit log: CSV with columns action, reward, propensity, optional position (0-based) and
    /// context columns named x0, x1, ... (or given by <paramref name="contextPrefix"/>).
    /// </summary>
    public static BanditFeedback ReadCsv(string path, int actions = 0, string contextPrefix = "x")
    {
        var t = CsvTable.Read(path);
        int n = t.Rows;
        int cA = t.Col("action"), cR = t.Col("reward"), cP = t.Col("propensity");
        int cPos = t.Header.IndexOf("position");
        var ctxCols = t.Header.Select((h, i) => (h, i)).Where(x => x.h.StartsWith(contextPrefix, StringComparison.Ordinal) && int.TryParse(x.h.AsSpan(contextPrefix.Length), out _))
            .OrderBy(x => int.Parse(x.h.AsSpan(contextPrefix.Length))).Select(x => x.i).ToArray();
        var ctx = new float[n * ctxCols.Length];
        var a = new int[n]; var pos = new int[n]; var r = new float[n]; var p = new float[n];
        int maxA = 0, maxPos = 0;
        for (int i = 0; i < n; i++)
        {
            a[i] = t.Int(i, cA); r[i] = t.Float(i, cR); p[i] = t.Float(i, cP); pos[i] = cPos >= 0 ? t.Int(i, cPos) : 0;
            if ((uint)a[i] >= MaxActions) throw new DataException($"action {a[i]} is outside 0..{MaxActions - 1} (BanditFeedback.MaxActions)", path, "action", t.LineOf(i));
            if ((uint)pos[i] >= MaxPositions) throw new DataException($"position {pos[i]} is outside 0..{MaxPositions - 1} (BanditFeedback.MaxPositions)", path, "position", t.LineOf(i));
            maxA = Math.Max(maxA, a[i]); maxPos = Math.Max(maxPos, pos[i]);
            for (int k = 0; k < ctxCols.Length; k++) ctx[i * ctxCols.Length + k] = t.Float(i, ctxCols[k]);
        }
        return new BanditFeedback(ctx, ctxCols.Length, a, pos, r, p, Math.Max(actions, maxA + 1), maxPos + 1, null, path, t.Lines);
    }

    /// <summary>The given rows, in the given order (train/test splits).</summary>
    public BanditFeedback Subset(int[] rows)
    {
        int d = ContextDim;
        var ctx = new float[rows.Length * d];
        var a = new int[rows.Length]; var pos = new int[rows.Length]; var r = new float[rows.Length]; var p = new float[rows.Length];
        for (int j = 0; j < rows.Length; j++)
        {
            int i = rows[j];
            ContextOf(i).CopyTo(ctx.AsSpan(j * d, d));
            a[j] = Action[i]; pos[j] = Position[i]; r[j] = Reward[i]; p[j] = Propensity[i];
        }
        return new BanditFeedback(ctx, d, a, pos, r, p, Actions, Positions, ActionContext, Source);
    }

    /// <summary>Write the plain CSV format <see cref="ReadCsv"/> reads (atomically).</summary>
    public void WriteCsv(string path)
    {
        IO.AtomicFile.Write(path, stream =>
        {
            using var w = new StreamWriter(stream, new System.Text.UTF8Encoding(false), 1 << 16, leaveOpen: true);
            w.Write("action,position,reward,propensity");
            for (int k = 0; k < ContextDim; k++) w.Write($",x{k}");
            w.WriteLine();
            for (int i = 0; i < Count; i++)
            {
                w.Write(FormattableString.Invariant($"{Action[i]},{Position[i]},{Reward[i]:R},{Propensity[i]:R}"));
                for (int k = 0; k < ContextDim; k++) w.Write(FormattableString.Invariant($",{Context[i * ContextDim + k]:R}"));
                w.WriteLine();
            }
        });
    }
}

/// <summary>
/// A target policy's probabilities for every logged row: pi(a | x_i, position_i), dense [rows, actions, positions]
/// as in OBP's action_dist.
/// </summary>
public sealed class ActionDistribution
{
    public int Rows { get; }
    public int Actions { get; }
    public int Positions { get; }
    public float[] Probs { get; }

    /// <summary>rows x actions x positions as an array length, refused beyond <see cref="BanditFeedback.MaxTableCells"/> (never an int overflow).</summary>
    public static int Cells(int rows, int actions, int positions)
    {
        if (rows < 0 || actions < 0 || positions < 0) throw new ArgumentException($"action distribution {rows}x{actions}x{positions}: sizes must not be negative");
        long cells = (long)rows * actions * positions;
        if (cells > BanditFeedback.MaxTableCells)
            throw new ArgumentException($"action distribution {rows}x{actions}x{positions} = {cells} cells is over the limit of {BanditFeedback.MaxTableCells} (BanditFeedback.MaxTableCells)");
        return (int)cells;
    }

    public ActionDistribution(float[] probs, int rows, int actions, int positions)
    {
        if (probs.Length != Cells(rows, actions, positions)) throw new ArgumentException($"action distribution has {probs.Length} values, expected {rows}x{actions}x{positions}");
        Rows = rows; Actions = actions; Positions = positions; Probs = probs;
        for (int i = 0; i < rows; i++)
            for (int k = 0; k < positions; k++)
            {
                double s = 0;
                for (int a = 0; a < actions; a++)
                {
                    float p = probs[(i * actions + a) * positions + k];
                    if (!(p >= 0 && p <= 1 + 1e-6f)) throw new ArgumentException($"action distribution row {i}, action {a}, position {k}: probability {p} is not in [0, 1]");
                    s += p;
                }
                if (Math.Abs(s - 1) > 1e-3) throw new ArgumentException($"action distribution row {i}, position {k}: probabilities sum to {s:G6}, not 1");
            }
    }

    public float this[int row, int action, int position] => Probs[(row * Actions + action) * Positions + position];

    public static ActionDistribution Uniform(int rows, int actions, int positions)
    {
        var p = new float[Cells(rows, actions, positions)];
        Array.Fill(p, 1f / actions);
        return new ActionDistribution(p, rows, actions, positions);
    }

    /// <summary>A context-free policy: the same [actions, positions] table for every row.</summary>
    public static ActionDistribution ContextFree(float[,] table, int rows)
    {
        int A = table.GetLength(0), P = table.GetLength(1);
        var p = new float[Cells(rows, A, P)];
        for (int i = 0; i < rows; i++)
            for (int a = 0; a < A; a++)
                for (int k = 0; k < P; k++) p[(i * A + a) * P + k] = table[a, k];
        return new ActionDistribution(p, rows, A, P);
    }

    /// <summary>From a policy over contexts: probs(context row, output [actions]) applied to every row and position.</summary>
    public static ActionDistribution FromPolicy(BanditFeedback logs, Action<ReadOnlyMemory<float>, float[]> probs)
    {
        var p = new float[Cells(logs.Count, logs.Actions, logs.Positions)];
        var buf = new float[logs.Actions];
        for (int i = 0; i < logs.Count; i++)
        {
            probs(new ReadOnlyMemory<float>(logs.Context, i * logs.ContextDim, logs.ContextDim), buf);
            for (int a = 0; a < logs.Actions; a++)
                for (int k = 0; k < logs.Positions; k++) p[(i * logs.Actions + a) * logs.Positions + k] = buf[a];
        }
        return new ActionDistribution(p, logs.Count, logs.Actions, logs.Positions);
    }

    /// <summary>
    /// Read a context-free policy table like OBD's bts_action_dist.csv: columns item_id, pos1..posK, and an optional
    /// campaign column (rows of other campaigns are skipped). Each posK column must sum to 1.
    /// </summary>
    public static float[,] ReadTable(string path, int actions, int positions, string? campaign = null)
    {
        var t = CsvTable.Read(path);
        int cItem = t.Col("item_id");
        int cCamp = t.Header.IndexOf("campaign");
        var posCols = Enumerable.Range(1, positions).Select(k => t.Col($"pos{k}")).ToArray();
        if (cCamp >= 0 && campaign is null)
            throw new DataException("the table has a campaign column: name the campaign (e.g. --campaign men)", path, "campaign", 1);
        var table = new float[actions, positions];
        int used = 0;
        for (int r = 0; r < t.Rows; r++)
        {
            if (cCamp >= 0 && t.Cell(r, cCamp) != campaign) continue;
            int item = t.Int(r, cItem);
            if ((uint)item >= (uint)actions) throw new DataException($"item_id {item} is outside the logs' 0..{actions - 1}", path, "item_id", t.LineOf(r));
            for (int k = 0; k < positions; k++)
            {
                float v = t.Float(r, posCols[k]);
                if (v < 0 || v > 1) throw new DataException($"probability {v} is not in [0, 1]", path, $"pos{k + 1}", t.LineOf(r));
                table[item, k] = v;
            }
            used++;
        }
        if (used == 0) throw new DataException($"no rows{(campaign is null ? "" : $" for campaign '{campaign}'")}", path, "campaign");
        for (int k = 0; k < positions; k++)
        {
            double s = 0;
            for (int a = 0; a < actions; a++) s += table[a, k];
            if (Math.Abs(s - 1) > 1e-3) throw new DataException($"column sums to {s:G6}, not 1{(campaign is null ? "" : $" (campaign '{campaign}')")}", path, $"pos{k + 1}");
        }
        return table;
    }
}

/// <summary>A whole CSV file in memory, read and checked by <see cref="Data.IO.CsvReader"/>; cells are parsed on demand and name the file, line and column when they are not what is expected.</summary>
public sealed class CsvTable
{
    private readonly List<string[]> _rows;
    private readonly List<int> _lines;
    public string Path { get; }
    public List<string> Header { get; }
    public int Rows => _rows.Count;

    private CsvTable(string path, List<string> header, List<string[]> rows, List<int> lines) { Path = path; Header = header; _rows = rows; _lines = lines; }

    public static CsvTable Read(string path)
    {
        using var csv = Data.IO.CsvReader.Open(path);
        var rows = new List<string[]>();
        var lines = new List<int>();
        while (csv.Next())
        {
            rows.Add(csv.Fields.ToArray());
            lines.Add(csv.Line);
        }
        csv.RequireRecords();
        return new CsvTable(path, csv.Header.ToList(), rows, lines);
    }

    /// <summary>The 1-based line of the file a row came from (the header is line 1).</summary>
    public int LineOf(int row) => _lines[row];

    /// <summary>The line of every row.</summary>
    public int[] Lines => _lines.ToArray();

    public int Col(string name)
    {
        int c = Header.IndexOf(name);
        return c >= 0 ? c : throw new DataException($"column '{name}' is not in the header ({string.Join(", ", Header)})", Path, name, 1);
    }

    public string Cell(int row, int col) => _rows[row][col].Trim();

    public float Float(int row, int col) => Data.IO.CsvReader.ParseNumber(Cell(row, col), Path, Header[col], _lines[row]);

    public int Int(int row, int col) => Data.IO.CsvReader.ParseInteger(Cell(row, col), Path, Header[col], _lines[row]);
}
