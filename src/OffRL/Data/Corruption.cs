using OffRL.Tensors;

namespace OffRL.Data;

public enum CorruptionTarget { Observations, Actions, Rewards, NextObservations }
public enum CorruptionKind { Random, Adversarial }

/// <summary>
/// Data corruption for robustness studies, after Yang et al., "Towards Robust Offline RL under Diverse Data
/// Corruption" (ICLR 2024): a fraction of rows is corrupted with scale ε.
/// Random: observations, next observations and actions get x + ε·std·U(-1, 1) per dimension (actions clipped to
/// their bounds); rewards are replaced by U(-30ε, 30ε).
/// Adversarial: observations and actions are moved within the box |δ| ≤ ε·std to lower a given Q(s, a) (projected
/// sign-gradient descent, as an L∞ attack); next observations to lower a given V(s'); rewards become -ε·r.
/// </summary>
public sealed record CorruptionConfig(CorruptionTarget Target, CorruptionKind Kind = CorruptionKind.Random, double Fraction = 0.3, float Scale = 1f, ulong Seed = 0, int AttackSteps = 10);

public sealed record CorruptionReport(int[] Rows, double MeanAbsChange);

public static class Corruption
{
    /// <param name="q">For adversarial observation/action attacks: Q(s [B, obs], a [B, act]) -> [B, 1], differentiable in its inputs.</param>
    /// <param name="v">For adversarial next-observation attacks: V(s' [B, obs]) -> [B, 1].</param>
    public static (Dataset Data, CorruptionReport Report) Apply(Dataset d, CorruptionConfig c, Func<Tensor, Tensor, Tensor>? q = null, Func<Tensor, Tensor>? v = null)
    {
        if (c.Fraction < 0 || c.Fraction > 1) throw new ArgumentException($"corruption: fraction must be in [0, 1], got {c.Fraction}");
        if (!(c.Scale >= 0)) throw new ArgumentException($"corruption: scale must be >= 0, got {c.Scale}");
        if (c.Target == CorruptionTarget.NextObservations) d = d.WithNextObservations();
        if (c.Target == CorruptionTarget.Actions && d.DiscreteActions) throw new ArgumentException("corruption: action corruption needs continuous actions");
        var rng = new Rng(c.Seed);
        int n = d.Count;
        int m = (int)Math.Round(n * c.Fraction);
        var rows = rng.Permutation(n).Take(m).OrderBy(r => r).ToArray();
        var cols = d.CopyColumns();
        int od = d.ObservationDim, ad = d.ActionDim;
        double change = 0;
        switch (c.Target, c.Kind)
        {
            case (CorruptionTarget.Rewards, CorruptionKind.Random):
                foreach (var r in rows) { float nv = rng.Uniform(-30f * c.Scale, 30f * c.Scale); change += Math.Abs(nv - cols.Rewards[r]); cols.Rewards[r] = nv; }
                break;
            case (CorruptionTarget.Rewards, CorruptionKind.Adversarial):
                foreach (var r in rows) { float nv = -c.Scale * cols.Rewards[r]; change += Math.Abs(nv - cols.Rewards[r]); cols.Rewards[r] = nv; }
                break;
            case (_, CorruptionKind.Random):
            {
                var (arr, w) = Column(cols, c.Target, od, ad);
                var std = ColumnStd(arr, w);
                foreach (var r in rows)
                    for (int j = 0; j < w; j++)
                    {
                        float delta = c.Scale * std[j] * rng.Uniform(-1f, 1f);
                        arr[r * w + j] += delta;
                        change += Math.Abs(delta) / w;
                    }
                if (c.Target == CorruptionTarget.Actions) ClipActions(arr, d.ActionSpace);
                break;
            }
            default:
                change = Adversarial(cols, d, c, rows, q, v);
                break;
        }
        var note = $"corrupted {c.Target} ({c.Kind}, fraction {c.Fraction}, scale {c.Scale}, seed {c.Seed}): {rows.Length} rows";
        return (d.With(cols, note), new CorruptionReport(rows, rows.Length == 0 ? 0 : change / rows.Length));
    }

    private static (float[] Values, int Width) Column(DatasetColumns c, CorruptionTarget t, int od, int ad) => t switch
    {
        CorruptionTarget.Observations => (c.Observations, od),
        CorruptionTarget.NextObservations => (c.NextObservations!, od),
        CorruptionTarget.Actions => (c.Actions, ad),
        _ => throw new ArgumentOutOfRangeException(nameof(t)),
    };

    private static float[] ColumnStd(float[] v, int w) => ColumnStats.MeanStd(v, w).Std.Select(x => (float)x).ToArray();

    private static void ClipActions(float[] a, Space space)
    {
        if (space is not Box b) return;
        int w = b.Width;
        for (int i = 0; i < a.Length; i++) a[i] = Math.Clamp(a[i], b.Low[i % w], b.High[i % w]);
    }

    /// <summary>Projected sign-gradient descent on Q (or V) inside the ε·std box, in batches of 256 rows.</summary>
    private static double Adversarial(DatasetColumns cols, Dataset d, CorruptionConfig c, int[] rows, Func<Tensor, Tensor, Tensor>? q, Func<Tensor, Tensor>? v)
    {
        if (c.Target == CorruptionTarget.NextObservations ? v is null : q is null)
            throw new ArgumentException($"corruption: an adversarial {c.Target} attack needs a trained {(c.Target == CorruptionTarget.NextObservations ? "value function V(s')" : "critic Q(s, a)")}");
        int od = d.ObservationDim, ad = d.ActionDim;
        var (arr, w) = Column(cols, c.Target, od, ad);
        var std = ColumnStd(arr, w);
        double change = 0;
        const int chunk = 256;
        for (int start = 0; start < rows.Length; start += chunk)
        {
            int b = Math.Min(chunk, rows.Length - start);
            var x0 = new float[b * w];
            var s = new float[b * od]; var a = new float[b * ad];
            for (int k = 0; k < b; k++)
            {
                int r = rows[start + k];
                Array.Copy(arr, r * w, x0, k * w, w);
                Array.Copy(cols.Observations, r * od, s, k * od, od);
                Array.Copy(cols.Actions, r * ad, a, k * ad, ad);
            }
            var x = (float[])x0.Clone();
            float stepFrac = 2.5f / c.AttackSteps;   // step = 2.5 ε / steps, as PGD commonly uses
            for (int it = 0; it < c.AttackSteps; it++)
            {
                using var _ = TensorScope.Begin();
                var xt = Tensor.Parameter(new Shape(b, w));
                x.CopyTo(xt.Data, 0);
                Tensor value = c.Target switch
                {
                    CorruptionTarget.Observations => q!(xt, Tensor.FromArray(a, b, ad)),
                    CorruptionTarget.Actions => q!(Tensor.FromArray(s, b, od), xt),
                    _ => v!(xt),
                };
                value.Sum().Backward();
                var g = xt.Grad!;
                for (int i = 0; i < x.Length; i++)
                {
                    int j = i % w;
                    float eps = c.Scale * std[j];
                    x[i] -= stepFrac * eps * MathF.Sign(g[i]);                  // lower the value
                    x[i] = Math.Clamp(x[i], x0[i] - eps, x0[i] + eps);         // stay in the box
                }
            }
            for (int k = 0; k < b; k++)
            {
                int r = rows[start + k];
                for (int j = 0; j < w; j++) change += Math.Abs(x[k * w + j] - x0[k * w + j]) / w;
                Array.Copy(x, k * w, arr, r * w, w);
            }
        }
        if (c.Target == CorruptionTarget.Actions) ClipActions(arr, d.ActionSpace);
        return change;
    }
}

/// <summary>A piece of a trajectory: L steps with L + 1 observations (the last is the next observation of the last step).</summary>
public sealed record Segment(float[] Observations, float[] Actions, float[] Rewards, bool Terminal)
{
    public int Length => Rewards.Length;
}

public sealed record GudaReport(int Proposed, int Accepted, int Rejected, int Failed);

/// <summary>
/// Guided data augmentation (GuDA, Corrado and Hanna 2024): the user's augmentation proposes a transformed
/// segment of a real trajectory and the user's predicate accepts or rejects it; accepted segments are added as
/// new episodes (with stored next observations), rejected ones dropped, and the counts reported.
/// </summary>
public static class Guda
{
    /// <param name="augment">Proposes an augmented copy of a segment (null: could not augment this one).</param>
    /// <param name="accept">Whether an augmented segment is kept.</param>
    public static (Dataset Data, GudaReport Report) Augment(Dataset d, Func<Segment, Rng, Segment?> augment, Func<Segment, bool> accept,
        int segmentLength, int proposals, Rng rng)
    {
        if (segmentLength < 1) throw new ArgumentException($"GuDA: segment length must be at least 1, got {segmentLength}");
        var full = d.WithNextObservations();
        int od = full.ObservationDim, ad = full.ActionDim;
        var obs = new List<float>(full.Observations.ToArray()); var next = new List<float>(full.NextObservations.ToArray());
        var act = new List<float>(full.Actions.ToArray()); var rew = new List<float>(full.Rewards.ToArray());
        var term = new List<bool>(full.Terminals.ToArray()); var tout = new List<bool>(full.Timeouts.ToArray());
        var eligible = Enumerable.Range(0, full.EpisodeCount).Where(e => full.EpisodeLength(e) >= segmentLength).ToArray();
        if (eligible.Length == 0) throw new ArgumentException($"GuDA: no episode is at least {segmentLength} steps long");
        int accepted = 0, rejected = 0, failed = 0;
        for (int p = 0; p < proposals; p++)
        {
            int e = eligible[rng.NextInt(eligible.Length)];
            int start = full.EpisodeStart(e) + rng.NextInt(full.EpisodeLength(e) - segmentLength + 1);
            var seg = Extract(full, start, segmentLength);
            var aug = augment(seg, rng);
            if (aug is null || aug.Length < 1 || aug.Observations.Length != (aug.Length + 1) * od || aug.Actions.Length != aug.Length * ad) { failed++; continue; }
            if (!accept(aug)) { rejected++; continue; }
            accepted++;
            for (int t = 0; t < aug.Length; t++)
            {
                obs.AddRange(aug.Observations.AsSpan(t * od, od).ToArray());
                next.AddRange(aug.Observations.AsSpan((t + 1) * od, od).ToArray());
                act.AddRange(aug.Actions.AsSpan(t * ad, ad).ToArray());
                rew.Add(aug.Rewards[t]);
                bool last = t == aug.Length - 1;
                term.Add(last && aug.Terminal);
                tout.Add(last && !aug.Terminal);
            }
        }
        var cols = new DatasetColumns
        {
            Observations = obs.ToArray(), NextObservations = next.ToArray(), Actions = act.ToArray(), Rewards = rew.ToArray(),
            Terminals = term.ToArray(), Timeouts = tout.ToArray(),
        };
        var report = new GudaReport(proposals, accepted, rejected, failed);
        var info = full.Info with { Processing = new List<string>(full.Info.Processing) { $"GuDA: {accepted} of {proposals} proposed segments of {segmentLength} steps added ({rejected} rejected, {failed} failed)" } };
        return (new Dataset(cols, full.ObservationSpace, full.ActionSpace, info), report);
    }

    public static Segment Extract(Dataset d, int start, int length)
    {
        int od = d.ObservationDim, ad = d.ActionDim;
        var o = new float[(length + 1) * od];
        for (int t = 0; t < length; t++) d.Observation(start + t).CopyTo(o.AsSpan(t * od, od));
        d.NextObservation(start + length - 1).CopyTo(o.AsSpan(length * od, od));
        return new Segment(o, d.Actions.Slice(start * ad, length * ad).ToArray(), d.Rewards.Slice(start, length).ToArray(), d.Terminals[start + length - 1]);
    }
}
