using OffRL.Nn;
using OffRL.Tensors;

namespace OffRL.Algorithms;

/// <summary>Gaussian policy with a tanh-squashed mean network and a state-independent log-std (IQL, AWAC).</summary>
public sealed class GaussianMeanPolicy : Module
{
    private readonly Mlp _mean;
    public Tensor LogStd { get; }
    public int ActionDim { get; }

    public GaussianMeanPolicy(int obs, int[] hidden, int act, Rng rng)
    {
        ActionDim = act;
        _mean = Child("mean", new Mlp(new MlpConfig(obs, hidden, act, Activation.Relu, Activation.Tanh), rng));
        LogStd = Param("log_std", new Shape(act));   // starts at 0
    }

    public Tensor LogProb(Tensor s, Tensor a) => new Gaussian(_mean.Forward(s), LogStd).LogProb(a);

    /// <summary>The deterministic action tanh-squashed mean(s) [B, act].</summary>
    public Tensor Mean(Tensor s) => _mean.Forward(s);

    /// <summary>a = clip(mean(s) + std * eps, -1, 1) for a given noise tensor.</summary>
    public Tensor Sample(Tensor s, Tensor eps) => (_mean.Forward(s) + LogStd.Exp() * eps).Clamp(-1f, 1f);

    public void Act(Tensor s, Span<float> action, bool deterministic, Rng rng)
    {
        var mean = _mean.Forward(s);
        for (int j = 0; j < ActionDim; j++)
            action[j] = deterministic ? mean.Data[j] : Math.Clamp(mean.Data[j] + MathF.Exp(LogStd.Data[j]) * rng.Normal(), -1f, 1f);
    }
}
