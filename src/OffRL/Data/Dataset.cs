using OffRL.Tensors;

namespace OffRL.Data;

/// <summary>The columns of a dataset before validation (flat row-major arrays, one row per transition).</summary>
public sealed class DatasetColumns
{
    public required float[] Observations { get; init; }
    public required float[] Actions { get; init; }
    public required float[] Rewards { get; init; }
    public required bool[] Terminals { get; init; }
    public required bool[] Timeouts { get; init; }
    public float[]? NextObservations { get; init; }
    /// <summary>
    /// a'_i, the action logged at s'_i (ReBRAC's critic penalty), where the next row does not hold it: D4RL's
    /// qlearning_dataset rows (<see cref="Dataset.QlearningRows"/>) keep it beside s'.
    /// </summary>
    public float[]? NextActions { get; init; }
    public float[]? Costs { get; init; }
    /// <summary>log pi_b(a|s) of the logged action, for off-policy evaluation.</summary>
    public float[]? BehaviorLogProbs { get; init; }
    public Dictionary<string, float[]> Extras { get; init; } = new();
}

/// <summary>How return-based choices (reward range normalization, %BC's ranking) cut a dataset into segments.</summary>
public enum ReturnSegments
{
    /// <summary>The dataset's episodes (a terminal or a timeout ends one), the last one too when the data cut it off (the IQL authors' rule).</summary>
    Episodes,
    /// <summary>
    /// CORL's rule (modify_reward, keep_best_trajectories): the rows D4RL's qlearning_dataset keeps (every row but
    /// timeouts and the last), cut at a terminal or after 1000 rows; the incomplete last segment is left out.
    /// </summary>
    Corl,
}

/// <summary>Where a dataset came from and how it was processed; saved with it.</summary>
public sealed record DatasetInfo(string Source = "", string Env = "", string Notes = "")
{
    public List<string> Processing { get; init; } = new();

    /// <summary>
    /// The spaces were not declared by the file the data came from (a CSV file, a D4RL or Minari HDF5 file without
    /// OffRL's space attributes) but guessed from the data; an environment's spaces replace them
    /// (<see cref="Runs.Recipes.FitToEnv"/>). Saved with the dataset, so a converted file stays marked.
    /// </summary>
    public bool SpacesGuessed { get; init; }

    /// <summary>
    /// The rows are already the transitions D4RL's qlearning_dataset yields (<see cref="Dataset.QlearningRows"/>): CORL's
    /// segments then take every row as it stands.
    /// </summary>
    public bool QlearningRows { get; init; }
}

/// <summary>
/// Immutable columnar storage of transitions with episode boundaries. Row i holds (s_i, a_i, r_i, terminal_i,
/// timeout_i) and optionally s'_i, cost_i, log pi_b(a_i|s_i) and named extra columns. An episode ends at a row
/// whose terminal (the MDP ended: no bootstrap) or timeout (truncated: bootstrap from s') flag is set, as
/// Gymnasium's terminated / truncated. Construction validates everything and names the field and row at fault.
/// </summary>
public sealed class Dataset
{
    private readonly float[] _obs, _act, _rew;
    private readonly bool[] _term, _timeout;
    private readonly float[]? _next, _nextAct, _cost, _logp;
    private readonly Dictionary<string, float[]> _extras;
    private readonly int[] _episodeStarts;   // E + 1 entries, the last is Count
    private readonly int[] _episodeOf;
    private readonly int[]? _rows;

    public int Count { get; }
    public Space ObservationSpace { get; }
    public Space ActionSpace { get; }
    public int ObservationDim => ObservationSpace.Width;
    public int ActionDim => ActionSpace.Width;
    public bool DiscreteActions => ActionSpace is Discrete;
    public DatasetInfo Info { get; }
    /// <summary>The file the dataset was read from (null when built in memory or derived): errors found later name it.</summary>
    public string? File { get; }

    /// <summary>The row of transition i in <see cref="File"/> (its line in a CSV file; else i + 1).</summary>
    public long RowOf(int i) => _rows is not null && i < _rows.Length ? _rows[i] : i + 1L;

    /// <summary>Where the data is, for errors: the file it was read from, else its source when that is a file.</summary>
    public string? Where => File ?? (Info.Source.Length > 0 && System.IO.File.Exists(Info.Source) ? Info.Source : null);

    public ReadOnlySpan<float> Observations => _obs;
    public ReadOnlySpan<float> Actions => _act;
    public ReadOnlySpan<float> Rewards => _rew;
    public ReadOnlySpan<bool> Terminals => _term;
    public ReadOnlySpan<bool> Timeouts => _timeout;
    public bool HasNextObservations => _next is not null;
    public ReadOnlySpan<float> NextObservations => _next;
    public bool HasCosts => _cost is not null;
    public ReadOnlySpan<float> Costs => _cost;
    public bool HasBehaviorLogProbs => _logp is not null;
    public ReadOnlySpan<float> BehaviorLogProbs => _logp;
    public IReadOnlyCollection<string> ExtraNames => _extras.Keys;
    public ReadOnlySpan<float> Extra(string name) => _extras.TryGetValue(name, out var v) ? v : throw new KeyNotFoundException($"dataset has no extra column '{name}' (has: {string.Join(", ", _extras.Keys)})");
    public int ExtraWidth(string name) => Extra(name).Length / Math.Max(1, Count);

    public int EpisodeCount => _episodeStarts.Length - 1;
    public int EpisodeStart(int e) => _episodeStarts[e];
    public int EpisodeLength(int e) => _episodeStarts[e + 1] - _episodeStarts[e];
    public int EpisodeOf(int row) => _episodeOf[row];
    public bool IsEpisodeEnd(int row) => _term[row] || _timeout[row];

    /// <summary>
    /// Each row's Monte-Carlo return-to-go, sum over k of gamma^k r_{i+k} to its episode's last row: a terminal ends
    /// the sum, and so does a timeout or the data's end, with no bootstrapped tail (CORL's cal_ql.py get_return_to_go).
    /// </summary>
    public float[] DiscountedReturnsToGo(float gamma)
    {
        var g = new float[Count];
        double next = 0;
        for (int i = Count - 1; i >= 0; i--)
        {
            next = _rew[i] + (IsEpisodeEnd(i) ? 0 : gamma * next);
            g[i] = (float)next;
        }
        return g;
    }

    public ReadOnlySpan<float> Observation(int i) => new(_obs, i * ObservationDim, ObservationDim);
    public ReadOnlySpan<float> Action(int i) => new(_act, i * ActionDim, ActionDim);

    /// <summary>
    /// Options for validation. With <see cref="TruncateTail"/> a last episode that never ends is marked as timed
    /// out at the last row (logs cut mid-episode, as d3rlpy does); otherwise it is an error.
    /// </summary>
    /// <param name="Rows">The row each transition is named by in errors: its line in a CSV file; default its 1-based index
    /// (the record of a Parquet or HDF5 table). Rows are counted from 1 everywhere.</param>
    public sealed record ValidationOptions(bool TruncateTail = false, bool CheckActionRange = true, string? File = null, int[]? Rows = null)
    {
        public long RowOf(int i) => Rows is not null && i < Rows.Length ? Rows[i] : i + 1L;
    }

    public Dataset(DatasetColumns c, Space observationSpace, Space actionSpace, DatasetInfo? info = null, ValidationOptions? options = null)
    {
        options ??= new ValidationOptions();
        string? file = options.File;
        Space.Check(observationSpace, file, "observations", "observation space");
        Space.Check(actionSpace, file, "actions", "action space");
        ObservationSpace = observationSpace; ActionSpace = actionSpace;
        Info = info ?? new DatasetInfo();
        File = file; _rows = options.Rows;
        int n = c.Rewards.Length, od = observationSpace.Width, ad = actionSpace.Width;
        if (n == 0 && file is not null) throw new DataException("has no transitions (zero rows); a dataset needs at least one", file, "rewards");
        void Len(string field, int actual, long expected)
        {
            if (actual != expected) throw new DataException($"has {actual} values, expected {expected} ({n} rows)", file, field);
        }
        Len("observations", c.Observations.Length, (long)n * od);
        Len("actions", c.Actions.Length, (long)n * ad);
        Len("terminals", c.Terminals.Length, n);
        Len("timeouts", c.Timeouts.Length, n);
        if (c.NextObservations is not null) Len("next_observations", c.NextObservations.Length, (long)n * od);
        if (c.NextActions is not null) Len("next_actions", c.NextActions.Length, (long)n * ad);
        if (c.Costs is not null) Len("costs", c.Costs.Length, n);
        if (c.BehaviorLogProbs is not null) Len("behavior_log_probs", c.BehaviorLogProbs.Length, n);
        foreach (var (name, v) in c.Extras)
            if (n > 0 && v.Length % n != 0) throw new DataException($"has {v.Length} values, not a whole number per row ({n} rows)", file, name);
        Finite("observations", c.Observations, od, options);
        Finite("actions", c.Actions, ad, options);
        Finite("rewards", c.Rewards, 1, options);
        if (c.NextObservations is not null) Finite("next_observations", c.NextObservations, od, options);
        if (c.NextActions is not null) Finite("next_actions", c.NextActions, ad, options);
        if (c.Costs is not null) Finite("costs", c.Costs, 1, options);
        if (c.BehaviorLogProbs is not null)
            for (int i = 0; i < n; i++)
                // Discrete actions: log-probabilities (<= 0). Continuous actions: log-densities, which may be positive.
                if (!float.IsFinite(c.BehaviorLogProbs[i]) || (actionSpace is Discrete && c.BehaviorLogProbs[i] > 1e-5f))
                    throw new DataException($"log-probability {c.BehaviorLogProbs[i]} is not a {(actionSpace is Discrete ? "log-probability (must be finite and <= 0)" : "finite log-density")}", file, "behavior_log_probs", options.RowOf(i));
        if (options.CheckActionRange) CheckActions(c.Actions, actionSpace, n, options);

        var timeouts = c.Timeouts;
        if (n > 0 && !c.Terminals[n - 1] && !timeouts[n - 1])
        {
            int start = n - 1;
            while (start > 0 && !c.Terminals[start - 1] && !timeouts[start - 1]) start--;
            if (!options.TruncateTail)
                throw new DataException($"the episode starting at row {options.RowOf(start)} never ends (no terminal or timeout through the last row {options.RowOf(n - 1)}); " +
                                        "mark its end, or load with TruncateTail to treat the last row as a timeout", file, "terminals", options.RowOf(start));
            timeouts = (bool[])timeouts.Clone();
            timeouts[n - 1] = true;
            Info.Processing.Add($"last episode (rows {start}..{n - 1}) marked as timed out at row {n - 1}");
        }
        Count = n;
        _obs = c.Observations; _act = c.Actions; _rew = c.Rewards; _term = c.Terminals; _timeout = timeouts;
        _next = c.NextObservations; _nextAct = c.NextActions; _cost = c.Costs; _logp = c.BehaviorLogProbs; _extras = c.Extras;
        var starts = new List<int> { 0 };
        _episodeOf = new int[n];
        for (int i = 0; i < n; i++)
        {
            _episodeOf[i] = starts.Count - 1;
            if (_term[i] || _timeout[i]) starts.Add(i + 1);
        }
        if (n == 0) starts.Add(0);
        _episodeStarts = starts.ToArray();
    }

    private static void Finite(string field, float[] v, int width, ValidationOptions o)
    {
        for (int i = 0; i < v.Length; i++)
            if (!float.IsFinite(v[i]))
                throw new DataException($"value is {v[i]} (NaN or infinite)", o.File, field, o.RowOf(i / width), width > 1 ? i % width : -1);
    }

    private static void CheckActions(float[] a, Space space, int n, ValidationOptions o)
    {
        string? file = o.File;
        switch (space)
        {
            case Discrete d:
                for (int i = 0; i < n; i++)
                    if (a[i] < 0 || a[i] >= d.N || a[i] != MathF.Floor(a[i]))
                        throw new DataException($"action {a[i]} is not in the discrete set 0..{d.N - 1}", file, "actions", o.RowOf(i));
                break;
            case Box b:
                int w = b.Width;
                for (int i = 0; i < n; i++)
                    for (int j = 0; j < w; j++)
                    {
                        float v = a[i * w + j];
                        if (v < b.Low[j] - 1e-5f || v > b.High[j] + 1e-5f)
                            throw new DataException($"action {v} is outside the declared range [{b.Low[j]}, {b.High[j]}]", file, "actions", o.RowOf(i), j);
                    }
                break;
        }
    }

    /// <summary>
    /// Whether row i has a usable next observation: stored, or the following row of the same episode, or not
    /// needed because the episode terminated there. A timeout at the last row without stored next observations
    /// has none (such rows are left out of TD batches, as D4RL's qlearning_dataset does).
    /// </summary>
    public bool HasNext(int i) => _next is not null || _term[i] || !_timeout[i];

    /// <summary>
    /// Refuses data with no usable transition for learning from or evaluating by TD targets: every row ends an episode by
    /// timeout and no next observation is stored (e.g. a single timed-out row), so nothing can be bootstrapped.
    /// </summary>
    public void RequireTransitions()
    {
        if (_next is not null) return;
        for (int i = 0; i < Count; i++) if (HasNext(i)) return;
        throw new DataException($"no transition has a next observation: all {Count} row(s) end an episode by timeout and the dataset stores no " +
            "next_observations, so no TD target can be formed (store next_observations, or keep the step after each timeout)", Where, "next_observations");
    }

    /// <summary>
    /// The same data with other spaces (e.g. an environment's instead of guessed ones), validated again with the rows
    /// named as in the file it was read from.
    /// </summary>
    public Dataset WithSpaces(Space observationSpace, Space actionSpace, DatasetInfo info) =>
        new(Columns(), observationSpace, actionSpace, info, new ValidationOptions(File: File, Rows: _rows));

    /// <summary>Next observation of row i (see <see cref="HasNext"/>); for a terminal row without stored next, s_i itself (never bootstrapped).</summary>
    public ReadOnlySpan<float> NextObservation(int i)
    {
        int od = ObservationDim;
        if (_next is not null) return new(_next, i * od, od);
        if (!_term[i] && !_timeout[i]) return new(_obs, (i + 1) * od, od);
        if (_term[i]) return new(_obs, i * od, od);
        throw new InvalidOperationException($"row {i} ends an episode by timeout and the dataset stores no next observations");
    }

    /// <summary>Whether row i's next action a' is known: stored (<see cref="DatasetColumns.NextActions"/>), or the next row's when the episode goes on there.</summary>
    public bool HasNextAction(int i) => _nextAct is not null || (!_term[i] && !_timeout[i]);

    /// <summary>The action logged at row i's next observation (see <see cref="HasNextAction"/>).</summary>
    public ReadOnlySpan<float> NextAction(int i)
    {
        int ad = ActionDim;
        if (_nextAct is not null) return new(_nextAct, i * ad, ad);
        if (!_term[i] && !_timeout[i]) return new(_act, (i + 1) * ad, ad);
        throw new InvalidOperationException($"row {i} ends an episode and the dataset stores no next actions");
    }

    /// <summary>Return of each episode from its first row, discounted by gamma per step (1: the plain sum).</summary>
    public double[] EpisodeReturns(double gamma = 1.0)
    {
        var r = new double[EpisodeCount];
        for (int e = 0; e < EpisodeCount; e++)
        {
            double g = 1;
            for (int i = _episodeStarts[e]; i < _episodeStarts[e + 1]; i++) { r[e] += g * _rew[i]; g *= gamma; }
        }
        return r;
    }

    /// <summary>
    /// The row segments return-based choices rank (reward range normalization, %BC's selection), by
    /// <paramref name="rule"/>: the dataset's episodes, or CORL's segments (see <see cref="ReturnSegments"/>).
    /// </summary>
    public IReadOnlyList<int[]> Segments(ReturnSegments rule)
    {
        var segments = new List<int[]>();
        if (rule == ReturnSegments.Episodes)
        {
            for (int e = 0; e < EpisodeCount; e++)
            {
                var rows = new int[EpisodeLength(e)];
                for (int k = 0; k < rows.Length; k++) rows[k] = _episodeStarts[e] + k;
                segments.Add(rows);
            }
            return segments;
        }
        // CORL: the rows D4RL's qlearning_dataset keeps (not a timeout row, not the dataset's last row; all of them when
        // the dataset is made of those rows already), closed at a terminal or after CorlSegmentLength rows; what is left
        // open at the end is not a segment.
        var open = new List<int>(CorlSegmentLength);
        bool kept = Info.QlearningRows;
        for (int i = 0; i < (kept ? Count : Count - 1); i++)
        {
            if (!kept && _timeout[i]) continue;
            open.Add(i);
            if (_term[i] || open.Count == CorlSegmentLength)
            {
                segments.Add(open.ToArray());
                open.Clear();
            }
        }
        return segments;
    }

    /// <summary>CORL's max_episode_steps in modify_reward and keep_best_trajectories (D4RL's locomotion time limit).</summary>
    public const int CorlSegmentLength = 1000;

    /// <summary>Each segment's return, discounted by gamma per step from its first row (1: the plain sum).</summary>
    public double[] SegmentReturns(IReadOnlyList<int[]> segments, double gamma = 1.0)
    {
        var r = new double[segments.Count];
        for (int k = 0; k < segments.Count; k++)
        {
            double g = 1;
            foreach (int i in segments[k]) { r[k] += g * _rew[i]; g *= gamma; }
        }
        return r;
    }

    /// <summary>Discounted returns-to-go per row, within each episode (gamma = 1: plain sums, as Decision Transformer).</summary>
    public float[] ReturnsToGo(double gamma = 1.0)
    {
        var rtg = new float[Count];
        for (int e = 0; e < EpisodeCount; e++)
        {
            double g = 0;
            for (int i = _episodeStarts[e + 1] - 1; i >= _episodeStarts[e]; i--)
            {
                g = _rew[i] + gamma * g;
                rtg[i] = (float)g;
            }
        }
        return rtg;
    }

    /// <summary>The columns (shared arrays: do not modify), for building a derived dataset.</summary>
    public DatasetColumns Columns() => new()
    {
        Observations = _obs, Actions = _act, Rewards = _rew, Terminals = _term, Timeouts = _timeout,
        NextObservations = _next, NextActions = _nextAct, Costs = _cost, BehaviorLogProbs = _logp, Extras = _extras,
    };

    /// <summary>A copy of the columns, safe to modify.</summary>
    public DatasetColumns CopyColumns() => new()
    {
        Observations = (float[])_obs.Clone(), Actions = (float[])_act.Clone(), Rewards = (float[])_rew.Clone(),
        Terminals = (bool[])_term.Clone(), Timeouts = (bool[])_timeout.Clone(),
        NextObservations = (float[]?)_next?.Clone(), NextActions = (float[]?)_nextAct?.Clone(), Costs = (float[]?)_cost?.Clone(), BehaviorLogProbs = (float[]?)_logp?.Clone(),
        Extras = _extras.ToDictionary(kv => kv.Key, kv => (float[])kv.Value.Clone()),
    };

    /// <summary>A dataset with the same spaces and new columns (validated again).</summary>
    public Dataset With(DatasetColumns columns, string processingNote, bool checkActionRange = true)
    {
        var info = Info with { Processing = new List<string>(Info.Processing) { processingNote } };
        return new Dataset(columns, ObservationSpace, ActionSpace, info, new ValidationOptions(CheckActionRange: checkActionRange));
    }

    /// <summary>
    /// The same data storing next observations explicitly. Rows without one (a timeout at the end of a stored
    /// episode when the source kept no next observations) are dropped; the row before becomes the timeout.
    /// </summary>
    public Dataset WithNextObservations()
    {
        if (HasNextObservations) return this;
        var rows = new List<int>(Count);
        for (int i = 0; i < Count; i++) if (HasNext(i)) rows.Add(i);
        var next = new float[rows.Count * ObservationDim];
        for (int k = 0; k < rows.Count; k++) NextObservation(rows[k]).CopyTo(next.AsSpan(k * ObservationDim, ObservationDim));
        var kept = SelectRows(rows, "rows without a next observation dropped", rebuildEnds: true);
        var c = kept.Columns();
        return new Dataset(new DatasetColumns
        {
            Observations = c.Observations, Actions = c.Actions, Rewards = c.Rewards, Terminals = c.Terminals, Timeouts = c.Timeouts,
            NextObservations = next, NextActions = c.NextActions, Costs = c.Costs, BehaviorLogProbs = c.BehaviorLogProbs, Extras = c.Extras,
        }, ObservationSpace, ActionSpace, kept.Info);
    }

    /// <summary>
    /// Observation histories of length <paramref name="k"/> (Hong et al. 2024): row i's observation becomes
    /// [o_{i-k+1}, ..., o_i], oldest first, within its episode (the episode's first observation repeated before it, as
    /// <see cref="Envs.ObservationHistory"/> does after a reset), and its next observation [o_{i-k+2}, ..., o_i, s'_i].
    /// Rows without a next observation are dropped first (<see cref="WithNextObservations"/>). Needs the rows in their
    /// logged order: where an episode's stored next observation is not the following row's observation, the rows are not
    /// consecutive and a history cannot be built (one error naming next_observations and the row).
    /// </summary>
    public Dataset WithHistory(int k)
    {
        if (k < 1) throw new ArgumentException($"history: must be at least 1, got {k}");
        if (k == 1) return this;
        if (Info.QlearningRows)
            throw new DataException("histories need every logged row in order; these transitions had their timeout rows left out (qlearning rows): stack the histories first", Where, "observations");
        var d = WithNextObservations();
        int n = d.Count, od = d.ObservationDim, w = k * od;
        var src = d._obs;
        var next = d._next!;
        for (int i = 0; i + 1 < n; i++)
        {
            if (d.IsEpisodeEnd(i)) continue;
            for (int j = 0; j < od; j++)
            {
                float got = next[i * od + j], want = src[(i + 1) * od + j];
                if (MathF.Abs(got - want) > 1e-5f * (1f + MathF.Abs(want)))
                    throw new DataException($"row {d.RowOf(i)}'s next observation is not the observation of row {d.RowOf(i + 1)}, which goes on its episode: histories need the rows of each episode in their logged order (and episode ends marked by terminals or timeouts)",
                        Where, "next_observations", d.RowOf(i), j);
            }
        }
        var obs = new float[n * w];
        var nextHist = new float[n * w];
        for (int e = 0; e < d.EpisodeCount; e++)
        {
            int start = d.EpisodeStart(e), len = d.EpisodeLength(e);
            for (int t = 0; t < len; t++)
            {
                int row = start + t;
                // slot s holds o_{t-k+1+s}, the episode's first observation where that is before its start
                for (int s = 0; s < k; s++)
                    Array.Copy(src, (start + Math.Max(t - k + 1 + s, 0)) * od, obs, row * w + s * od, od);
                Array.Copy(obs, row * w + od, nextHist, row * w, (k - 1) * od);
                Array.Copy(next, row * od, nextHist, row * w + (k - 1) * od, od);
            }
        }
        var c = d.Columns();
        var space = d.ObservationSpace is Box b
            ? new Box(Enumerable.Repeat(b.Low, k).SelectMany(x => x).ToArray(), Enumerable.Repeat(b.High, k).SelectMany(x => x).ToArray())
            : Box.Unbounded(w);
        var info = d.Info with { Processing = new List<string>(d.Info.Processing) { $"observation histories of {k}, oldest first (an episode's first observation repeated before it)" } };
        return new Dataset(new DatasetColumns
        {
            Observations = obs, NextObservations = nextHist, Actions = c.Actions, Rewards = c.Rewards, Terminals = c.Terminals, Timeouts = c.Timeouts,
            NextActions = c.NextActions, Costs = c.Costs, BehaviorLogProbs = c.BehaviorLogProbs, Extras = c.Extras,
        }, space, d.ActionSpace, info, new ValidationOptions(File: d.File, Rows: d._rows));
    }

    /// <summary>
    /// The transitions D4RL's qlearning_dataset yields from this data (terminate_on_end off), as CORL and the IQL, CQL
    /// and TD3+BC authors load D4RL: every row but those flagged timeout and the last, s' the next row's observation;
    /// episodes end at terminals and, by timeout, where a left-out row breaks the sequence (and at the last row).
    /// Marked <see cref="DatasetInfo.QlearningRows"/>.
    /// </summary>
    public Dataset QlearningRows()
    {
        if (Info.QlearningRows) return this;
        var rows = new List<int>(Count);
        for (int i = 0; i < Count - 1; i++) if (!_timeout[i]) rows.Add(i);
        int n = rows.Count, od = ObservationDim, ad = ActionDim;
        if (n == 0) throw new DataException("no transition is left as D4RL's qlearning_dataset keeps them (every row but timeouts and the last)", Where, "qlearning_rows");
        var c = new DatasetColumns
        {
            Observations = new float[n * od], NextObservations = new float[n * od], Actions = new float[n * ad], NextActions = new float[n * ad], Rewards = new float[n],
            Terminals = new bool[n], Timeouts = new bool[n], Costs = _cost is null ? null : new float[n], BehaviorLogProbs = _logp is null ? null : new float[n],
        };
        for (int k = 0; k < n; k++)
        {
            int i = rows[k];
            Array.Copy(_obs, i * od, c.Observations, k * od, od);
            Array.Copy(_obs, (i + 1) * od, c.NextObservations, k * od, od);   // the next row, as qlearning_dataset takes it
            Array.Copy(_act, i * ad, c.Actions, k * ad, ad);
            Array.Copy(_act, (i + 1) * ad, c.NextActions, k * ad, ad);             // and its action (CORL's ReBRAC loader)
            c.Rewards[k] = _rew[i]; c.Terminals[k] = _term[i];
            if (c.Costs is not null) c.Costs[k] = _cost![i];
            if (c.BehaviorLogProbs is not null) c.BehaviorLogProbs[k] = _logp![i];
        }
        // Where a row was left out the data jumps (the IQL authors split trajectories there): that row ends an episode by
        // timeout (it keeps its s' and bootstraps, as qlearning_dataset's done is the terminal flag alone).
        for (int k = 0; k < n; k++)
            if (!c.Terminals[k] && (k == n - 1 || rows[k + 1] != rows[k] + 1)) c.Timeouts[k] = true;
        var info = Info with { QlearningRows = true, Processing = new List<string>(Info.Processing) { $"D4RL qlearning_dataset rows: {n} of {Count} (timeout rows and the last row left out)" } };
        return new Dataset(c, ObservationSpace, ActionSpace, info);
    }

    /// <summary>
    /// Only the rows of the given segments, in the given order; a segment's last row that continued in the data (its
    /// successor was left out) ends an episode by timeout.
    /// </summary>
    public Dataset SelectSegments(IReadOnlyList<int[]> segments, string note)
    {
        var rows = new List<int>();
        foreach (var seg in segments) rows.AddRange(seg);
        return SelectRows(rows, note, rebuildEnds: true);
    }

    /// <summary>Only the given episodes, in the given order.</summary>
    public Dataset SelectEpisodes(IReadOnlyList<int> episodes, string note)
    {
        var rows = new List<int>();
        foreach (var e in episodes)
            for (int i = _episodeStarts[e]; i < _episodeStarts[e + 1]; i++) rows.Add(i);
        return SelectRows(rows, note);
    }

    private Dataset SelectRows(List<int> rows, string note, bool rebuildEnds = false)
    {
        int n = rows.Count, od = ObservationDim, ad = ActionDim;
        float[] Gather(float[] src, int w)
        {
            var dst = new float[n * w];
            for (int k = 0; k < n; k++) Array.Copy(src, rows[k] * w, dst, k * w, w);
            return dst;
        }
        T[] Pick<T>(T[] src) { var d = new T[n]; for (int k = 0; k < n; k++) d[k] = src[rows[k]]; return d; }
        var c = new DatasetColumns
        {
            Observations = Gather(_obs, od), Actions = Gather(_act, ad), Rewards = Pick(_rew), Terminals = Pick(_term), Timeouts = Pick(_timeout),
            NextObservations = _next is null ? null : Gather(_next, od), NextActions = _nextAct is null ? null : Gather(_nextAct, ad),
            Costs = _cost is null ? null : Pick(_cost),
            BehaviorLogProbs = _logp is null ? null : Pick(_logp),
            Extras = _extras.ToDictionary(kv => kv.Key, kv => Gather(kv.Value, kv.Value.Length / Math.Max(1, Count))),
        };
        if (rebuildEnds)   // a row whose successor in its episode was dropped now ends the episode by timeout
            for (int k = 0; k < n; k++)
            {
                int r = rows[k];
                bool lastOfEpisode = k + 1 == n || _episodeOf[rows[k + 1]] != _episodeOf[r];
                if (lastOfEpisode && !c.Terminals[k]) c.Timeouts[k] = true;
            }
        return With(c, note);
    }

    /// <summary>Concatenate datasets with the same spaces (e.g. medium-expert = medium + expert).</summary>
    public static Dataset Concat(IReadOnlyList<Dataset> parts, DatasetInfo info)
    {
        if (parts.Count == 0) throw new ArgumentException("concat: no datasets");
        var first = parts[0];
        foreach (var p in parts)
        {
            if (p.ObservationSpace.Width != first.ObservationSpace.Width || p.ActionSpace.Width != first.ActionSpace.Width)
                throw new ArgumentException($"concat: spaces differ ({p.ObservationSpace}/{p.ActionSpace} vs {first.ObservationSpace}/{first.ActionSpace})");
            if (p.HasNextObservations != first.HasNextObservations) throw new ArgumentException("concat: some datasets store next observations and some do not");
        }
        T[] Cat<T>(Func<Dataset, T[]?> f) => parts.SelectMany(p => f(p) ?? []).ToArray();
        var c = new DatasetColumns
        {
            Observations = Cat(p => p._obs), Actions = Cat(p => p._act), Rewards = Cat(p => p._rew), Terminals = Cat(p => p._term), Timeouts = Cat(p => p._timeout),
            NextObservations = first.HasNextObservations ? Cat(p => p._next) : null,
            NextActions = parts.All(p => p._nextAct is not null) ? Cat(p => p._nextAct) : null,
            Costs = parts.All(p => p.HasCosts) ? Cat(p => p._cost) : null,
            BehaviorLogProbs = parts.All(p => p.HasBehaviorLogProbs) ? Cat(p => p._logp) : null,
        };
        return new Dataset(c, first.ObservationSpace, first.ActionSpace, info);
    }

    /// <summary>Bytes of column storage per transition.</summary>
    public double BytesPerTransition
    {
        get
        {
            long b = (long)_obs.Length * 4 + _act.Length * 4 + _rew.Length * 4 + _term.Length + _timeout.Length + _episodeOf.Length * 4;
            if (_next is not null) b += (long)_next.Length * 4;
            if (_nextAct is not null) b += (long)_nextAct.Length * 4;
            if (_cost is not null) b += (long)_cost.Length * 4;
            if (_logp is not null) b += (long)_logp.Length * 4;
            foreach (var v in _extras.Values) b += (long)v.Length * 4;
            return Count == 0 ? 0 : (double)b / Count;
        }
    }

    public override string ToString() => $"Dataset({Count} transitions, {EpisodeCount} episodes, obs {ObservationSpace}, act {ActionSpace})";
}
