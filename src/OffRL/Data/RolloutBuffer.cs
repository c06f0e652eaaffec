using OffRL.IO;

namespace OffRL.Data;

/// <summary>
/// One rollout of an on-policy learner: <see cref="Steps"/> steps of <see cref="Envs"/> environments stepped together,
/// stored step-major ([T, N, ...], CleanRL's storage): the observations as the agent saw them (normalized), the actions
/// as its networks drew them (a discrete action as its index), their log-probabilities and values at the time, the
/// rewards the learner trains on, and <see cref="Starts"/>: observation t of env i begins an episode (CleanRL's dones,
/// stored before acting). After the last step, the bootstrap: the values of the next observations and whether each
/// env's episode had just ended. <see cref="ComputeAdvantages"/> fills the advantages and returns (GAE).
/// </summary>
public sealed class RolloutBuffer
{
    public int Steps { get; }
    public int Envs { get; }
    public int ObservationDim { get; }
    public int ActionDim { get; }
    public float[] Observations { get; }
    public float[] Actions { get; }
    public float[] LogProbs { get; }
    public float[] Values { get; }
    public float[] Rewards { get; }
    public bool[] Starts { get; }
    public float[] NextValues { get; }
    public bool[] NextStarts { get; }
    public float[] Advantages { get; }
    public float[] Returns { get; }
    /// <summary>Steps filled so far (0 .. Steps).</summary>
    public int Filled { get; set; }
    public int Size => Steps * Envs;
    public bool Full => Filled == Steps;

    public RolloutBuffer(int steps, int envs, int observationDim, int actionDim)
    {
        if (steps < 1 || envs < 1) throw new ArgumentException($"rollout: steps and envs must be positive, got {steps} x {envs}");
        (Steps, Envs, ObservationDim, ActionDim) = (steps, envs, observationDim, actionDim);
        int n = steps * envs;
        Observations = new float[n * observationDim];
        Actions = new float[n * actionDim];
        LogProbs = new float[n]; Values = new float[n]; Rewards = new float[n]; Starts = new bool[n];
        NextValues = new float[envs]; NextStarts = new bool[envs];
        Advantages = new float[n]; Returns = new float[n];
    }

    /// <summary>
    /// Generalized advantage estimation (Schulman et al. 2016, eq. 16) as CleanRL runs it: delta_t = r_t + gamma
    /// V(s_t+1) (1 - d_t+1) - V(s_t), A_t = delta_t + gamma lambda (1 - d_t+1) A_t+1, backwards from the bootstrap; an
    /// episode's end, terminated or truncated, is not bootstrapped (CleanRL's one done flag). Returns = A + V.
    /// </summary>
    public void ComputeAdvantages(float gamma, float lambda)
    {
        if (!Full) throw new InvalidOperationException($"rollout: {Filled} of {Steps} steps filled");
        int n = Envs;
        for (int i = 0; i < n; i++)
        {
            float last = 0f;
            for (int t = Steps - 1; t >= 0; t--)
            {
                int k = t * n + i;
                bool nextStart = t == Steps - 1 ? NextStarts[i] : Starts[k + n];
                float nextValue = t == Steps - 1 ? NextValues[i] : Values[k + n];
                float notDone = nextStart ? 0f : 1f;
                float delta = Rewards[k] + gamma * nextValue * notDone - Values[k];
                last = delta + gamma * lambda * notDone * last;
                Advantages[k] = last;
                Returns[k] = last + Values[k];
            }
        }
    }

    /// <summary>The filled steps and the bootstrap flags, for a checkpoint taken mid-rollout (written atomically).</summary>
    public void Save(string path) => AtomicFile.Write(path, stream =>
    {
        using var w = new BinaryWriter(stream, System.Text.Encoding.UTF8, leaveOpen: true);
        w.Write(Steps); w.Write(Envs); w.Write(ObservationDim); w.Write(ActionDim); w.Write(Filled);
        foreach (var a in new[] { Observations, Actions, LogProbs, Values, Rewards })
            foreach (var v in a) w.Write(v);
        foreach (var b in Starts) w.Write(b);
        foreach (var b in NextStarts) w.Write(b);
    });

    public void Load(string path)
    {
        using var r = new BinaryReader(File.OpenRead(path));
        var shape = (r.ReadInt32(), r.ReadInt32(), r.ReadInt32(), r.ReadInt32());
        if (shape != (Steps, Envs, ObservationDim, ActionDim))
            throw new DataException($"holds a rollout of {shape.Item1} x {shape.Item2} steps (widths {shape.Item3}, {shape.Item4}); this run's is {Steps} x {Envs} ({ObservationDim}, {ActionDim})", path);
        int filled = r.ReadInt32();
        if (filled < 0 || filled > Steps) throw new DataException($"says {filled} steps are filled, of {Steps}", path);
        foreach (var a in new[] { Observations, Actions, LogProbs, Values, Rewards })
            for (int i = 0; i < a.Length; i++) a[i] = r.ReadSingle();
        for (int i = 0; i < Starts.Length; i++) Starts[i] = r.ReadBoolean();
        for (int i = 0; i < NextStarts.Length; i++) NextStarts[i] = r.ReadBoolean();
        Filled = filled;
    }
}
