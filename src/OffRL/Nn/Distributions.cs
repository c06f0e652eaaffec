using OffRL.Tensors;

namespace OffRL.Nn;

/// <summary>Diagonal Gaussian N(mean, exp(logStd)^2) over the last axis; log-probs are summed to [N, 1].</summary>
public sealed class Gaussian(Tensor mean, Tensor logStd)
{
    private const float HalfLog2Pi = 0.9189385332f;
    public Tensor Mean { get; } = mean;
    public Tensor LogStd { get; } = logStd;

    /// <summary>Reparameterized sample mean + std * eps (gradients flow to mean and logStd).</summary>
    public Tensor RSample(Rng rng)
    {
        var eps = Tensor.Temp(Mean.Shape);
        rng.FillNormal(eps.Data);
        return Mean + LogStd.Exp() * eps;
    }

    public Tensor LogProb(Tensor x)
    {
        var z = (x - Mean) / LogStd.Exp();
        return (z.Square() * -0.5f - LogStd - HalfLog2Pi).Sum(-1, keepDim: true);
    }

    public Tensor Entropy() => (LogStd + (0.5f + HalfLog2Pi)).Sum(-1, keepDim: true);
}

/// <summary>
/// tanh-squashed Gaussian (SAC, Haarnoja et al. 2018, appendix C): a = tanh(u), u ~ N(mean, std);
/// log pi(a) = log N(u) - sum log(1 - tanh(u)^2), the correction computed stably as 2 (log 2 - u - softplus(-2u)); with
/// a <paramref name="squashEpsilon"/>, as log(1 - tanh(u)^2 + epsilon) (CORL's sac_n.py and edac.py: 1e-6).
/// </summary>
public sealed class TanhGaussian(Tensor mean, Tensor logStd, float? squashEpsilon = null)
{
    private static readonly float Log2 = MathF.Log(2f);
    public Gaussian Base { get; } = new(mean, logStd);

    /// <summary>
    /// The distribution of each row repeated <paramref name="n"/> times in place ([r0 x n, r1 x n, ...]): for drawing n
    /// actions per state from one evaluation of the policy per state (its rows are the same for every repeat).
    /// </summary>
    public TanhGaussian RepeatInterleave(int n) => new(Base.Mean.RepeatInterleave(n), Base.LogStd.RepeatInterleave(n), squashEpsilon);

    /// <summary>Deterministic action tanh(mean).</summary>
    public Tensor Mode() => Base.Mean.Tanh();

    /// <summary>Reparameterized action and its log-probability [N, 1].</summary>
    public (Tensor Action, Tensor LogProb) RSample(Rng rng)
    {
        var u = Base.RSample(rng);
        return (u.Tanh(), LogProbOfPreTanh(u));
    }

    /// <summary>log pi(tanh(u)) of pre-tanh values u [N, act] (differentiable in u: another policy's draw scored by this one).</summary>
    public Tensor LogProbOfPreTanh(Tensor u)
    {
        var logDet = squashEpsilon is { } eps
            ? (1f - u.Tanh().Square() + eps).Log()                    // log(1 - tanh(u)^2 + eps)
            : ((u.Neg() * 2f).Softplus() + u - Log2) * -2f;           // log(1 - tanh(u)^2)
        return Base.LogProb(u) - logDet.Sum(-1, keepDim: true);
    }

    /// <summary>log pi(a) of given actions in (-1, 1) (clipped to +-(1 - 1e-6) before atanh).</summary>
    public Tensor LogProb(Tensor action)
    {
        var u = Tensor.Temp(action.Shape);
        var a = action.Data;
        for (int i = 0; i < a.Length; i++) u.Data[i] = MathF.Atanh(Math.Clamp(a[i], -1f + 1e-6f, 1f - 1e-6f));
        return LogProbOfPreTanh(u);
    }
}

/// <summary>Categorical distribution from logits [N, K].</summary>
public sealed class Categorical
{
    public Tensor Logits { get; }
    public Tensor LogProbs { get; }

    public Categorical(Tensor logits)
    {
        if (logits.Rank != 2) throw new ArgumentException($"categorical: logits must be [N, K], got {logits.Shape}");
        Logits = logits;
        LogProbs = logits.LogSoftmax(-1);
    }

    public Tensor Probs() => LogProbs.Exp();

    /// <summary>log pi(a) for one action index per row: [N, 1].</summary>
    public Tensor LogProb(int[] actions) => LogProbs.GatherRows(actions);

    public Tensor Entropy() => (Probs() * LogProbs).Sum(-1, keepDim: true).Neg();

    public int[] Sample(Rng rng)
    {
        int n = Logits.Shape[0], k = Logits.Shape[1];
        var result = new int[n];
        Span<float> p = k <= 1024 ? stackalloc float[k] : new float[k];
        for (int i = 0; i < n; i++)
        {
            for (int j = 0; j < k; j++) p[j] = MathF.Exp(LogProbs.Data[i * k + j]);
            result[i] = rng.Categorical(p);
        }
        return result;
    }

    public int[] Mode()
    {
        int n = Logits.Shape[0], k = Logits.Shape[1];
        var result = new int[n];
        for (int i = 0; i < n; i++) result[i] = System.Numerics.Tensors.TensorPrimitives.IndexOfMax(Logits.Data.AsSpan(i * k, k));
        return result;
    }
}
