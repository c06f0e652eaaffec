using OffRL.Nn;
using OffRL.Tensors;

namespace OffRL.Algorithms;

/// <summary>Gaussian policy with a tanh-squashed mean network and a state-independent log-std (IQL, AWAC).</summary>
public sealed class GaussianMeanPolicy : Module
{
    private readonly Mlp _mean;
    private readonly float _logStdMin, _logStdMax;
    public Tensor LogStd { get; }
    public int ActionDim { get; }

    /// <param name="tanhMean">The mean is tanh(MLP(s)) (IQL's authors and CORL; OffRL's AWAC by default), else the MLP's linear output (CORL's AWAC).</param>
    /// <param name="logStdMin">Lower clamp of the state-independent log std (IQL's authors -5, CORL -20; -inf: none).</param>
    /// <param name="logStdMax">Upper clamp of the log std (2 in both).</param>
    /// <param name="history">A history the mean network reads with a GRU first (<see cref="AgentConfig.HistoryInput"/>).</param>
    public GaussianMeanPolicy(int obs, int[] hidden, int act, Rng rng, bool tanhMean = true, float logStdMin = float.NegativeInfinity, float logStdMax = float.PositiveInfinity,
        SequenceInput? history = null)
    {
        ActionDim = act;
        _logStdMin = logStdMin; _logStdMax = logStdMax;
        _mean = Child("mean", new Mlp(new MlpConfig(obs, hidden, act, Activation.Relu, tanhMean ? Activation.Tanh : Activation.None, Sequence: history), rng));
        LogStd = Param("log_std", new Shape(act));   // starts at 0
    }

    /// <summary>The log std as used: the parameter clamped to its bounds (no gradient past them, as torch.clamp).</summary>
    public Tensor ClampedLogStd() => float.IsFinite(_logStdMin) || float.IsFinite(_logStdMax) ? LogStd.Clamp(_logStdMin, _logStdMax) : LogStd;

    public Tensor LogProb(Tensor s, Tensor a) => new Gaussian(_mean.Forward(s), ClampedLogStd()).LogProb(a);

    /// <summary>The deterministic action: the mean(s) [B, act] (tanh-squashed unless built with a linear mean).</summary>
    public Tensor Mean(Tensor s) => _mean.Forward(s);

    /// <summary>a = clip(mean(s) + std * eps, -1, 1) for a given noise tensor.</summary>
    public Tensor Sample(Tensor s, Tensor eps) => RSample(s, eps).Clamp(-1f, 1f);

    /// <summary>The reparameterized draw mean(s) + std * eps, unclipped (gradients reach s, the mean network and the log std).</summary>
    public Tensor RSample(Tensor s, Tensor eps) => _mean.Forward(s) + ClampedLogStd().Exp() * eps;

    public void Act(Tensor s, Span<float> action, bool deterministic, Rng rng)
    {
        var mean = _mean.Forward(s);
        for (int j = 0; j < ActionDim; j++)
            action[j] = deterministic ? mean.Data[j] : Math.Clamp(mean.Data[j] + MathF.Exp(Math.Clamp(LogStd.Data[j], _logStdMin, _logStdMax)) * rng.Normal(), -1f, 1f);
    }
}
