
namespace OffRL.Envs;

/// <summary>
/// N copies of an environment stepped together on worker threads. Copy i is seeded with seed + i, so a vector
/// env gives exactly the trajectories of N sequential envs with those seeds. Finished copies reset
/// automatically (Gymnasium's autoreset): their last observation is kept in <see cref="FinalObservations"/>.
/// </summary>
public sealed class VectorEnv : IDisposable
{
    private readonly IEnv[] _envs;
    public int Count => _envs.Length;
    public Space ObservationSpace => _envs[0].ObservationSpace;
    public Space ActionSpace => _envs[0].ActionSpace;
    public float[] Observations { get; }
    public float[] Rewards { get; }
    public bool[] Terminated { get; }
    public bool[] Truncated { get; }
    public float[] FinalObservations { get; }
    /// <summary>Worker threads (default: all cores).</summary>
    public int Threads { get; set; } = Environment.ProcessorCount;

    public VectorEnv(Func<int, IEnv> factory, int count)
    {
        if (count < 1) throw new ArgumentException($"vector env: count must be positive, got {count}");
        _envs = Enumerable.Range(0, count).Select(factory).ToArray();
        int od = _envs[0].ObservationSpace.Width;
        Observations = new float[count * od]; FinalObservations = new float[count * od];
        Rewards = new float[count]; Terminated = new bool[count]; Truncated = new bool[count];
        _actions = new float[count * _envs[0].ActionSpace.Width];
    }

    private readonly float[] _actions;

    public IEnv this[int i] => _envs[i];

    public float[] Reset(ulong seed)
    {
        int od = ObservationSpace.Width;
        For(i => _envs[i].Reset(seed + (ulong)i, Observations.AsSpan(i * od, od)));
        return Observations;
    }

    /// <summary>Step every copy with its action (actions row-major [N, act]).</summary>
    public void Step(ReadOnlySpan<float> actions)
    {
        int od = ObservationSpace.Width, ad = ActionSpace.Width;
        if (actions.Length != Count * ad) throw new ArgumentException($"vector env: {actions.Length} action values for {Count} envs of width {ad}");
        actions.CopyTo(_actions);   // the workers read the copy (a span cannot be captured)
        var acts = _actions;
        For(i =>
        {
            var obs = Observations.AsSpan(i * od, od);
            var r = _envs[i].Step(acts.AsSpan(i * ad, ad), obs);
            Rewards[i] = r.Reward; Terminated[i] = r.Terminated; Truncated[i] = r.Truncated;
            if (r.Done)
            {
                obs.CopyTo(FinalObservations.AsSpan(i * od, od));
                _envs[i].Reset(null, obs);
            }
        });
    }

    private void For(Action<int> body)
    {
        if (Threads <= 1 || Count == 1) { for (int i = 0; i < Count; i++) body(i); return; }
        Parallel.For(0, Count, new ParallelOptions { MaxDegreeOfParallelism = Threads }, body);
    }

    public void Dispose() { foreach (var e in _envs) e.Dispose(); }
}
