using OffRL.Data;

namespace OffRL.Bandits;

/// <summary>
/// One candidate in a decision: an id, its features, and for one-sided feedback the reward it is known to give
/// (e.g. "decline" in lending or fraud pays a fixed 0 and its counterfactual outcome is never observed: the learner
/// uses the known value and never waits for, or learns from, feedback on it).
/// </summary>
public sealed record CandidateAction(string Id, float[] Features, float? KnownReward = null);

/// <summary>A decision to make: the context and the candidate actions of this moment (sets may change between calls).</summary>
public sealed class BanditContext
{
    public float[] Context { get; }
    public CandidateAction[] Actions { get; }

    public BanditContext(float[] context, CandidateAction[] actions)
    {
        if (actions.Length == 0) throw new DataException("needs at least one candidate action", field: "actions");
        Context = context;
        Actions = actions;
    }

    public int Count => Actions.Length;
}

/// <summary>What the learner chose: the candidate index, its probability, and the whole distribution over candidates.</summary>
public readonly record struct BanditDecision(int Index, float Probability, float[] Probabilities);

/// <summary>
/// The joint feature map of a context x and an action's features a: phi(x, a) = vec([1, x] (outer) [1, a]).
/// With one-hot action features this is a separate linear model per action (LinUCB's disjoint model) plus a shared
/// one; with descriptive features it is a bilinear model that generalizes to actions never seen before.
/// </summary>
public static class JointFeatures
{
    public static int Dim(int contextDim, int actionDim) => (contextDim + 1) * (actionDim + 1);

    public static void Fill(ReadOnlySpan<float> x, ReadOnlySpan<float> a, Span<float> phi)
    {
        int k = a.Length + 1;
        if (phi.Length != (x.Length + 1) * k) throw new ArgumentException($"phi has {phi.Length} entries, expected {(x.Length + 1) * k}");
        phi[0] = 1;
        a.CopyTo(phi.Slice(1, a.Length));
        for (int i = 0; i < x.Length; i++)
        {
            var row = phi.Slice((i + 1) * k, k);
            float xi = x[i];
            row[0] = xi;
            for (int j = 0; j < a.Length; j++) row[j + 1] = xi * a[j];
        }
    }

    /// <summary>One-hot features for arm <paramref name="index"/> of <paramref name="arms"/>.</summary>
    public static float[] OneHot(int index, int arms)
    {
        var f = new float[arms];
        f[index] = 1;
        return f;
    }

    /// <summary>Candidates named by <paramref name="ids"/> with one-hot features over the full arm list.</summary>
    public static CandidateAction[] Arms(IReadOnlyList<string> ids)
    {
        var c = new CandidateAction[ids.Count];
        for (int i = 0; i < c.Length; i++) c[i] = new CandidateAction(ids[i], OneHot(i, ids.Count));
        return c;
    }
}
