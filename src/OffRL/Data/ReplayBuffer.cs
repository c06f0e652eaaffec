namespace OffRL.Data;

/// <summary>What a sampler draws transitions from: a dataset or a replay buffer.</summary>
public interface ITransitionSource
{
    int ObservationDim { get; }
    int ActionDim { get; }
    /// <summary>Number of rows that can be drawn for TD learning.</summary>
    int SampleableCount { get; }
    /// <summary>The k-th sampleable row (0 <= k < SampleableCount).</summary>
    int SampleableRow(int k);
    /// <summary>Copy row i into a batch slot: s, a, r, s', and whether the MDP terminated (no bootstrap).</summary>
    void CopyTransition(int row, Span<float> obs, Span<float> act, out float reward, Span<float> next, out bool terminal);
}

/// <summary>Fixed-capacity ring of transitions for online learning; the oldest are overwritten when full.</summary>
public sealed class ReplayBuffer : ITransitionSource
{
    private readonly float[] _obs, _act, _rew, _next;
    private readonly bool[] _term, _timeout;
    private int _head;

    public int Capacity { get; }
    public int Count { get; private set; }
    public int ObservationDim { get; }
    public int ActionDim { get; }
    public long Added { get; private set; }

    public ReplayBuffer(int capacity, int observationDim, int actionDim)
    {
        if (capacity <= 0) throw new ArgumentException($"replay buffer: capacity must be positive, got {capacity}");
        Capacity = capacity; ObservationDim = observationDim; ActionDim = actionDim;
        _obs = new float[capacity * observationDim]; _next = new float[capacity * observationDim];
        _act = new float[capacity * actionDim]; _rew = new float[capacity];
        _term = new bool[capacity]; _timeout = new bool[capacity];
    }

    public void Add(ReadOnlySpan<float> obs, ReadOnlySpan<float> action, float reward, ReadOnlySpan<float> nextObs, bool terminated, bool truncated)
    {
        if (obs.Length != ObservationDim || nextObs.Length != ObservationDim) throw new ArgumentException($"replay buffer: observation has {obs.Length} values, expected {ObservationDim}");
        if (action.Length != ActionDim) throw new ArgumentException($"replay buffer: action has {action.Length} values, expected {ActionDim}");
        obs.CopyTo(_obs.AsSpan(_head * ObservationDim, ObservationDim));
        nextObs.CopyTo(_next.AsSpan(_head * ObservationDim, ObservationDim));
        action.CopyTo(_act.AsSpan(_head * ActionDim, ActionDim));
        _rew[_head] = reward; _term[_head] = terminated; _timeout[_head] = truncated;
        _head = (_head + 1) % Capacity;
        Count = Math.Min(Count + 1, Capacity);
        Added++;
    }

    /// <summary>Mark the newest transition as a time-limit cut (its episode goes on no further in the buffer).</summary>
    public void MarkTruncated()
    {
        if (Count == 0) return;
        int last = (_head - 1 + Capacity) % Capacity;
        if (!_term[last]) _timeout[last] = true;
    }

    private const long Magic = 0x3142525F4C524646; // "FFRL_RB1"

    /// <summary>Save the whole buffer (ring order, counters) as one binary file, atomically.</summary>
    public void Save(string path) => global::OffRL.IO.AtomicFile.Write(path, s =>
    {
        using var w = new BinaryWriter(s, System.Text.Encoding.UTF8, leaveOpen: true);
        w.Write(Magic); w.Write(Capacity); w.Write(ObservationDim); w.Write(ActionDim); w.Write(Count); w.Write(_head); w.Write(Added);
        w.Write(System.Runtime.InteropServices.MemoryMarshal.AsBytes(_obs.AsSpan(0, Count * ObservationDim)));
        w.Write(System.Runtime.InteropServices.MemoryMarshal.AsBytes(_next.AsSpan(0, Count * ObservationDim)));
        w.Write(System.Runtime.InteropServices.MemoryMarshal.AsBytes(_act.AsSpan(0, Count * ActionDim)));
        w.Write(System.Runtime.InteropServices.MemoryMarshal.AsBytes(_rew.AsSpan(0, Count)));
        w.Write(System.Runtime.InteropServices.MemoryMarshal.AsBytes(_term.AsSpan(0, Count)));
        w.Write(System.Runtime.InteropServices.MemoryMarshal.AsBytes(_timeout.AsSpan(0, Count)));
    });

    /// <summary>Load a buffer saved by <see cref="Save"/> into this one (same capacity and widths).</summary>
    public void Load(string path)
    {
        if (!File.Exists(path)) throw new DataException("replay buffer file not found", path);
        using var r = new BinaryReader(File.OpenRead(path));
        try
        {
            if (r.ReadInt64() != Magic) throw new DataException("not an OffRL replay buffer", path);
            int cap = r.ReadInt32(), od = r.ReadInt32(), ad = r.ReadInt32(), count = r.ReadInt32(), head = r.ReadInt32();
            long added = r.ReadInt64();
            if (cap != Capacity) throw new DataException($"capacity {cap}, this buffer has {Capacity}", path, "capacity");
            if (od != ObservationDim || ad != ActionDim) throw new DataException($"widths obs {od}, act {ad}; this buffer has {ObservationDim}, {ActionDim}", path, "widths");
            if (count < 0 || count > cap || head < 0 || head >= cap) throw new DataException($"count {count} / head {head} do not fit capacity {cap}", path, "count");
            void Fill<T>(T[] dst, int n) where T : struct
            {
                var bytes = System.Runtime.InteropServices.MemoryMarshal.AsBytes(dst.AsSpan(0, n));
                if (r.Read(bytes) != bytes.Length) throw new DataException("is truncated", path);
            }
            Fill(_obs, count * od); Fill(_next, count * od); Fill(_act, count * ad); Fill(_rew, count); Fill(_term, count); Fill(_timeout, count);
            Count = count; _head = head; Added = added;
        }
        catch (EndOfStreamException) { throw new DataException("is truncated", path); }
    }

    /// <summary>Fill from a dataset's sampleable rows (e.g. to start fine-tuning from offline data).</summary>
    public void AddDataset(Dataset d)
    {
        for (int i = 0; i < d.Count; i++)
            if (d.HasNext(i)) Add(d.Observation(i), d.Action(i), d.Rewards[i], d.NextObservation(i), d.Terminals[i], d.Timeouts[i]);
    }

    public int SampleableCount => Count;
    public int SampleableRow(int k) => k;

    public void CopyTransition(int row, Span<float> obs, Span<float> act, out float reward, Span<float> next, out bool terminal)
    {
        _obs.AsSpan(row * ObservationDim, ObservationDim).CopyTo(obs);
        _act.AsSpan(row * ActionDim, ActionDim).CopyTo(act);
        _next.AsSpan(row * ObservationDim, ObservationDim).CopyTo(next);
        reward = _rew[row];
        terminal = _term[row];
    }

    /// <summary>
    /// The buffer's contents as a dataset (oldest first), with stored next observations; <paramref name="actionsFrom"/>
    /// maps stored actions back to the environment's range (online learners store them in [-1, 1]).
    /// </summary>
    public Dataset ToDataset(Space observationSpace, Space actionSpace, DatasetInfo? info = null, Preprocessing? actionsFrom = null)
    {
        int start = Count < Capacity ? 0 : _head;
        float[] G(float[] src, int w) { var d = new float[Count * w]; for (int k = 0; k < Count; k++) Array.Copy(src, ((start + k) % Capacity) * w, d, k * w, w); return d; }
        T[] P<T>(T[] src) { var d = new T[Count]; for (int k = 0; k < Count; k++) d[k] = src[(start + k) % Capacity]; return d; }
        var cols = new DatasetColumns
        {
            Observations = G(_obs, ObservationDim), Actions = G(_act, ActionDim), Rewards = P(_rew),
            Terminals = P(_term), Timeouts = P(_timeout), NextObservations = G(_next, ObservationDim),
        };
        actionsFrom?.UnscaleAction(cols.Actions);
        return new Dataset(cols, observationSpace, actionSpace, info ?? new DatasetInfo("replay buffer"), new Dataset.ValidationOptions(TruncateTail: true));
    }
}

/// <summary>Dataset rows usable for TD learning (those with a next observation), as a transition source.</summary>
public sealed class DatasetSource : ITransitionSource
{
    private readonly Dataset _d;
    private readonly int[] _rows;

    public DatasetSource(Dataset d)
    {
        _d = d;
        var rows = new List<int>(d.Count);
        for (int i = 0; i < d.Count; i++) if (d.HasNext(i)) rows.Add(i);
        _rows = rows.ToArray();
    }

    public Dataset Dataset => _d;
    public int ObservationDim => _d.ObservationDim;
    public int ActionDim => _d.ActionDim;
    public int SampleableCount => _rows.Length;
    public int SampleableRow(int k) => _rows[k];

    public void CopyTransition(int row, Span<float> obs, Span<float> act, out float reward, Span<float> next, out bool terminal)
    {
        _d.Observation(row).CopyTo(obs);
        _d.Action(row).CopyTo(act);
        _d.NextObservation(row).CopyTo(next);
        reward = _d.Rewards[row];
        terminal = _d.Terminals[row];
    }
}
