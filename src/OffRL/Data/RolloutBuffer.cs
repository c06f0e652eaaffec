using OffRL.IO;
using OffRL.Tensors;

namespace OffRL.Data;

/// <summary>
/// One rollout of an on-policy learner: <see cref="Steps"/> steps of <see cref="Envs"/> environments stepped together,
/// stored step-major ([T, N, ...], CleanRL's storage): the observations as the agent saw them (normalized), the actions
/// as its networks drew them (a discrete action as its index), their log-probabilities and values at the time, the
/// rewards the learner trains on, and <see cref="Starts"/>: observation t of env i begins an episode (CleanRL's dones,
/// stored before acting). After the last step, the bootstrap: the values of the next observations and whether each
/// env's episode had just ended. <see cref="ComputeAdvantages"/> fills the advantages and returns (GAE). The raw
/// observations and rewards, before the running normalization, are kept beside the normalized ones, so that a learner that
/// keeps several rollouts (<see cref="Algorithms.RolloutSettings.Window"/>) sees them all under the current statistics
/// (<see cref="Renormalize"/>).
/// </summary>
public sealed class RolloutBuffer
{
    public int Steps { get; }
    public int Envs { get; }
    public int ObservationDim { get; }
    public int ActionDim { get; }
    public float[] Observations { get; }
    public float[] RawObservations { get; }
    public float[] Actions { get; }
    public float[] LogProbs { get; }
    public float[] Values { get; }
    public float[] Rewards { get; }
    public float[] RawRewards { get; }
    public bool[] Starts { get; }
    public float[] NextValues { get; }
    /// <summary>The observations after the last filled step (normalized as the agent saw them), one per env: the bootstrap's states.</summary>
    public float[] NextObservations { get; }
    public bool[] NextStarts { get; }
    public float[] Advantages { get; }
    public float[] Returns { get; }
    /// <summary>Steps filled so far (0 .. Steps).</summary>
    public int Filled { get; set; }
    public int Size => Steps * Envs;
    /// <summary>Rows filled so far (<see cref="Filled"/> x <see cref="Envs"/>).</summary>
    public int Rows => Filled * Envs;
    public bool Full => Filled == Steps;

    public RolloutBuffer(int steps, int envs, int observationDim, int actionDim)
    {
        if (steps < 1 || envs < 1) throw new ArgumentException($"rollout: steps and envs must be positive, got {steps} x {envs}");
        (Steps, Envs, ObservationDim, ActionDim) = (steps, envs, observationDim, actionDim);
        int n = steps * envs;
        Observations = new float[n * observationDim];
        RawObservations = new float[n * observationDim];
        Actions = new float[n * actionDim];
        LogProbs = new float[n]; Values = new float[n]; Rewards = new float[n]; RawRewards = new float[n]; Starts = new bool[n];
        NextValues = new float[envs]; NextStarts = new bool[envs]; NextObservations = new float[envs * observationDim];
        Advantages = new float[n]; Returns = new float[n];
    }

    /// <summary>
    /// Generalized advantage estimation (Schulman et al. 2016, eq. 16) as CleanRL runs it: delta_t = r_t + gamma
    /// V(s_t+1) (1 - d_t+1) - V(s_t), A_t = delta_t + gamma lambda (1 - d_t+1) A_t+1, backwards from the bootstrap; an
    /// episode's end, terminated or truncated, is not bootstrapped (CleanRL's one done flag). Returns = A + V. Over the
    /// <see cref="Filled"/> steps, the bootstrap following the last of them.
    /// </summary>
    public void ComputeAdvantages(float gamma, float lambda)
    {
        if (Filled == 0) throw new InvalidOperationException("rollout: no step filled");
        int n = Envs, last = Filled - 1;
        for (int i = 0; i < n; i++)
        {
            float carry = 0f;
            for (int t = last; t >= 0; t--)
            {
                int k = t * n + i;
                bool nextStart = t == last ? NextStarts[i] : Starts[k + n];
                float nextValue = t == last ? NextValues[i] : Values[k + n];
                float notDone = nextStart ? 0f : 1f;
                float delta = Rewards[k] + gamma * nextValue * notDone - Values[k];
                carry = delta + gamma * lambda * notDone * carry;
                Advantages[k] = carry;
                Returns[k] = carry + Values[k];
            }
        }
    }

    /// <summary>
    /// Forget the oldest <paramref name="steps"/> steps: the rest move to the front (a window of rollouts sliding on).
    /// </summary>
    public void Drop(int steps)
    {
        if (steps < 0 || steps > Filled) throw new ArgumentOutOfRangeException(nameof(steps), $"rollout: cannot drop {steps} of {Filled} filled steps");
        int keep = (Filled - steps) * Envs, from = steps * Envs;
        void Shift<T>(T[] a, int width) => Array.Copy(a, from * width, a, 0, keep * width);
        Shift(Observations, ObservationDim); Shift(RawObservations, ObservationDim); Shift(Actions, ActionDim);
        Shift(LogProbs, 1); Shift(Values, 1); Shift(Rewards, 1); Shift(RawRewards, 1); Shift(Starts, 1);
        Filled -= steps;
    }

    /// <summary>
    /// The filled steps' observations and rewards recomputed from the raw ones: observations normalized by
    /// <paramref name="preprocessing"/> (its current statistics and clip); rewards are divided by <paramref name="rewardStd"/> and clipped to +-<paramref name="rewardClip"/> (0: none).
    /// </summary>
    public void Renormalize(Preprocessing preprocessing, float rewardStd, float rewardClip)
    {
        int od = ObservationDim;
        Array.Copy(RawObservations, Observations, Rows * od);
        for (int k = 0; k < Rows; k++)
        {
            preprocessing.NormalizeObservation(Observations.AsSpan(k * od, od));
            float r = RawRewards[k] / rewardStd;
            Rewards[k] = rewardClip > 0 ? Math.Clamp(r, -rewardClip, rewardClip) : r;
        }
    }

    /// <summary>The filled steps and the bootstrap flags, for a checkpoint taken mid-rollout (written atomically).</summary>
    public void Save(string path) => AtomicFile.Write(path, stream =>
    {
        using var w = new BinaryWriter(stream, System.Text.Encoding.UTF8, leaveOpen: true);
        w.Write(Magic); w.Write(FormatVersion);
        w.Write(Steps); w.Write(Envs); w.Write(ObservationDim); w.Write(ActionDim); w.Write(Filled);
        foreach (var a in new[] { Observations, RawObservations, Actions, LogProbs, Values, Rewards, RawRewards })
            foreach (var v in a) w.Write(v);
        foreach (var b in Starts) w.Write(b);
        foreach (var b in NextStarts) w.Write(b);
    });

    /// <summary>The file's first bytes ("ORB" and a zero) and its layout's version (2: raw observations and rewards kept).</summary>
    private const int Magic = 0x0042524F, FormatVersion = 2;

    public void Load(string path)
    {
        using var r = new BinaryReader(File.OpenRead(path));
        if (r.BaseStream.Length < 8 || r.ReadInt32() != Magic)
            throw new DataException("is not a rollout of this OffRL (written before rollouts kept their raw observations, or not a rollout file); start the run again without --resume", path);
        if (r.ReadInt32() is var version && version != FormatVersion)
            throw new DataException($"is a rollout of layout {version}; this OffRL reads layout {FormatVersion}", path);
        var shape = (r.ReadInt32(), r.ReadInt32(), r.ReadInt32(), r.ReadInt32());
        if (shape != (Steps, Envs, ObservationDim, ActionDim))
            throw new DataException($"holds a rollout of {shape.Item1} x {shape.Item2} steps (widths {shape.Item3}, {shape.Item4}); this run's is {Steps} x {Envs} ({ObservationDim}, {ActionDim})", path);
        long expected = 8 + 5 * 4L + 4L * (2L * Size * ObservationDim + (long)Size * ActionDim + 4L * Size) + Size + Envs;
        if (r.BaseStream.Length != expected)
            throw new DataException($"has {r.BaseStream.Length} bytes, a rollout of this shape {expected} (cut short?)", path);
        int filled = r.ReadInt32();
        if (filled < 0 || filled > Steps) throw new DataException($"says {filled} steps are filled, of {Steps}", path);
        foreach (var a in new[] { Observations, RawObservations, Actions, LogProbs, Values, Rewards, RawRewards })
            for (int i = 0; i < a.Length; i++) a[i] = r.ReadSingle();
        for (int i = 0; i < Starts.Length; i++) Starts[i] = r.ReadBoolean();
        for (int i = 0; i < NextStarts.Length; i++) NextStarts[i] = r.ReadBoolean();
        Filled = filled;
    }

    private int[] _actionIndex = [];

    /// <summary>
    /// A minibatch of the rollout's <paramref name="rows"/> as tensors (in the caller's scope); discrete actions also as
    /// indices (the array is reused by the next call).
    /// </summary>
    public RolloutMinibatch Gather(ReadOnlySpan<int> rows)
    {
        int m = rows.Length, od = ObservationDim, aw = ActionDim;
        var s = Tensor.Temp(new Shape(m, od));
        var a = Tensor.Temp(new Shape(m, aw));
        var logp = Tensor.Temp(new Shape(m, 1));
        var adv = Tensor.Temp(new Shape(m, 1));
        var ret = Tensor.Temp(new Shape(m, 1));
        var v = Tensor.Temp(new Shape(m, 1));
        if (_actionIndex.Length != m) _actionIndex = new int[m];
        for (int j = 0; j < m; j++)
        {
            int k = rows[j];
            Observations.AsSpan(k * od, od).CopyTo(s.Data.AsSpan(j * od, od));
            Actions.AsSpan(k * aw, aw).CopyTo(a.Data.AsSpan(j * aw, aw));
            _actionIndex[j] = (int)Actions[k * aw];
            logp.Data[j] = LogProbs[k]; adv.Data[j] = Advantages[k]; ret.Data[j] = Returns[k]; v.Data[j] = Values[k];
        }
        return new RolloutMinibatch(s, a, _actionIndex, logp, adv, ret, v);
    }

    /// <summary>1 - Var(returns - values) / Var(returns) over the filled rows (CleanRL's explained_variance).</summary>
    public float ExplainedVariance()
    {
        double Var(Func<int, double> f)
        {
            double m = 0, s = 0;
            for (int i = 0; i < Rows; i++) m += f(i);
            m /= Rows;
            for (int i = 0; i < Rows; i++) s += (f(i) - m) * (f(i) - m);
            return s / Rows;
        }
        double vy = Var(i => Returns[i]);
        return vy == 0 ? float.NaN : (float)(1 - Var(i => Returns[i] - Values[i]) / vy);
    }

    /// <summary>(x - mean) / (std + eps) in place (advantages); std with Bessel's correction (torch's .std()) or without (numpy's).</summary>
    public static void Standardize(Span<float> x, bool bessel, double eps)
    {
        double mean = 0, sq = 0;
        foreach (var v in x) mean += v;
        mean /= x.Length;
        foreach (var v in x) sq += (v - mean) * (v - mean);
        int dof = bessel ? x.Length - 1 : x.Length;
        double std = dof > 0 ? Math.Sqrt(sq / dof) : double.NaN;
        for (int i = 0; i < x.Length; i++) x[i] = (float)((x[i] - mean) / (std + eps));
    }
}

/// <summary>Rows of a rollout as tensors: what an on-policy loss reads (<see cref="RolloutBuffer.Gather"/>).</summary>
public sealed record RolloutMinibatch(Tensor Observations, Tensor Actions, int[] ActionIndex, Tensor LogProbs, Tensor Advantages, Tensor Returns, Tensor Values);
