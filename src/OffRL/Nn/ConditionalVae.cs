using OffRL.Tensors;

namespace OffRL.Nn;

/// <summary>
/// A conditional variational auto-encoder of x given a condition c (Kingma and Welling 2014), as BCQ (Fujimoto et al.
/// 2019) and A2PR (Liu et al. 2024) model the dataset's actions given states: the encoder maps [c, x] to the mean and
/// log-std of a diagonal Gaussian over z (log-std clamped, BCQ's [-4, 15]); the decoder maps [c, z] back to x through
/// tanh. Encoder and decoder are MLPs with ReLU hidden layers (BCQ's and A2PR's 750-750).
/// </summary>
public sealed class ConditionalVae : Module
{
    private readonly Mlp _encoder, _decoder;

    public int Latent { get; }
    public float LogStdMin { get; }
    public float LogStdMax { get; }

    public ConditionalVae(int condition, int x, int latent, int[] hidden, Rng rng, float logStdMin = -4f, float logStdMax = 15f)
    {
        LayerSizes.Positive("ConditionalVae", "latent", latent);
        if (!(logStdMin < logStdMax)) throw new ArgumentException($"ConditionalVae: log-std bounds [{logStdMin}, {logStdMax}] are empty");
        (Latent, LogStdMin, LogStdMax) = (latent, logStdMin, logStdMax);
        // one output layer for mean and log-std: its elements start as BCQ's two heads of the same input width would
        _encoder = Child("encoder", new Mlp(condition + x, hidden, 2 * latent, rng));
        _decoder = Child("decoder", new Mlp(condition + latent, hidden, x, rng, Activation.Relu, Activation.Tanh));
    }

    /// <summary>
    /// The reconstruction of x through z = mean + exp(log-std) * noise (<paramref name="noise"/>: [B, latent] standard
    /// normal draws from the caller's generator), with the encoder's mean and clamped log-std.
    /// </summary>
    public (Tensor Reconstruction, Tensor Mean, Tensor LogStd) Forward(Tensor c, Tensor x, Tensor noise)
    {
        var h = _encoder.Forward(Tensor.Concat(c, x, -1));
        var mean = h.Slice(-1, 0, Latent);
        var logStd = h.Slice(-1, Latent, Latent).Clamp(LogStdMin, LogStdMax);
        return (Decode(c, mean + logStd.Exp() * noise), mean, logStd);
    }

    /// <summary>x for the condition and a latent z: tanh of the decoder's output.</summary>
    public Tensor Decode(Tensor c, Tensor z) => _decoder.Forward(Tensor.Concat(c, z, -1));

    /// <summary>
    /// KL(N(mean, std^2) || N(0, I)) averaged over the batch and the latent dimensions, as BCQ and A2PR write it:
    /// -1/2 mean(1 + log std^2 - mean^2 - std^2).
    /// </summary>
    public static Tensor KlMean(Tensor mean, Tensor logStd)
    {
        var logVariance = logStd * 2f;
        return ((logVariance + 1f) - mean.Square() - logVariance.Exp()).Mean() * -0.5f;
    }
}
