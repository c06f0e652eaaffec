using OffRL.Nn;
using OffRL.Tensors;

namespace OffRL.Algorithms;

/// <summary>Network builders shared by the algorithms.</summary>
public static class Networks
{
    /// <summary>
    /// Twin (or N) Q networks as one ensemble: Q(s, a) for all members as [N, B, 1]; each reads a history with its own
    /// GRU when given <paramref name="history"/>; with <paramref name="layerNorm"/>, every hidden layer normalized before
    /// its activation (flax's nn.LayerNorm, epsilon <see cref="FlaxLayerNormEps"/>: the RLPD authors' critics).
    /// </summary>
    public static EnsembleMlp Critic(int obs, int act, int[] hidden, Rng rng, int members = 2, SequenceInput? history = null, bool layerNorm = false) =>
        new(members, new MlpConfig(obs + act, hidden, 1, LayerNorm: layerNorm, NormEps: FlaxLayerNormEps, Sequence: history), rng);

    /// <summary>flax.linen.LayerNorm's default epsilon.</summary>
    public const float FlaxLayerNormEps = 1e-6f;

    /// <summary>Every layer's weights Xavier-uniform (each member alike), biases 0: flax's default_init in the RLPD authors' MLPs.</summary>
    public static void XavierInit(IEnumerable<(Tensor Weight, Tensor? Bias, int In, int Out)> layers, Rng rng)
    {
        foreach (var (w, b, fanIn, fanOut) in layers)
        {
            Init.XavierUniform(w, fanIn, fanOut, rng);
            if (b is not null) Init.Constant(b, 0f);
        }
    }

    /// <summary>
    /// An MLP Xavier-uniform, biases 0; its output layer as two heads of <paramref name="headWidth"/> units (an actor's
    /// mean and log std), each drawn with its own fan-out as the authors' two Dense heads are; null: one head.
    /// </summary>
    public static void XavierInit(Mlp net, Rng rng, int? headWidth = null) =>
        XavierInit(net.Layers.Select((l, i) => (l.Weight, l.Bias, l.In, i == net.Layers.Count - 1 && headWidth is { } h ? h : l.Out)), rng);

    /// <inheritdoc cref="XavierInit(IEnumerable{ValueTuple{Tensor, Tensor, int, int}}, Rng)"/>
    public static void XavierInit(EnsembleMlp critic, Rng rng) =>
        XavierInit(critic.Layers.Select(l => (l.Weight, (Tensor?)l.Bias, l.Weight.Shape[1], l.Weight.Shape[2])), rng);

    /// <summary>Q values [N, B, 1] of state-action pairs.</summary>
    public static Tensor Q(EnsembleMlp critic, Tensor s, Tensor a) => critic.Forward(Tensor.Concat(s, a, -1));

    /// <summary>Minimum over the ensemble members: [B, 1].</summary>
    public static Tensor MinQ(Tensor q) => q.Min(0);

    /// <summary>
    /// The critic ensemble's TD loss: each member's mean squared error to the target y [B, 1], summed over members
    /// (CORL's SAC-N and EDAC; for two members TD3's and SAC's MSE(Q1, y) + MSE(Q2, y)).
    /// </summary>
    public static Tensor CriticLoss(Tensor q, Tensor y) => (q - y).Square().Reshape(new Shape(q.Shape[0], q.Size / q.Shape[0])).Mean(1).Sum();

    /// <summary>A frozen copy of a module for target networks.</summary>
    public static T Target<T>(T source, Func<T> build) where T : Module
    {
        var t = build();
        t.CopyParametersFrom(source);
        t.SetRequiresGrad(false);
        return t;
    }

    /// <summary>
    /// Gaussian policy head: the MLP outputs mean and log-std for a tanh-squashed Gaussian; the log-std is
    /// <c>multiplier * raw + offset</c> when <paramref name="logStdAffine"/> ([2]: multiplier, offset; CORL's and
    /// young-geng's learnable scalars) is given, then clamped to [min, max].
    /// </summary>
    public static TanhGaussian Policy(Mlp net, Tensor s, int act, float logStdMin = -5f, float logStdMax = 2f, Tensor? logStdAffine = null,
        float? squashEpsilon = null)
    {
        var h = net.Forward(s);
        var logStd = h.Slice(-1, act, act);
        if (logStdAffine is { } m) logStd = logStd * m.Slice(0, 0, 1) + m.Slice(0, 1, 1);
        return new TanhGaussian(h.Slice(-1, 0, act), logStd.Clamp(logStdMin, logStdMax), squashEpsilon);
    }

    /// <summary>
    /// The EDAC paper's initialization (An et al. 2021; CORL's sac_n.py and edac.py): every hidden layer's bias
    /// <paramref name="hiddenBias"/> (null: as initialized), the output layer's weights and biases from
    /// U(-<paramref name="outputBound"/>, +<paramref name="outputBound"/>) (null: as initialized).
    /// </summary>
    public static void EdacInit(Mlp net, float? hiddenBias, float? outputBound, Rng rng) =>
        EdacInit([.. net.Layers.Select(l => (l.Weight, l.Bias ?? throw new ArgumentException("EDAC init: a layer without bias")))], hiddenBias, outputBound, rng);

    /// <inheritdoc cref="EdacInit(Mlp, float?, float?, Rng)"/>
    public static void EdacInit(EnsembleMlp critic, float? hiddenBias, float? outputBound, Rng rng) =>
        EdacInit([.. critic.Layers.Select(l => (l.Weight, l.Bias))], hiddenBias, outputBound, rng);

    /// <summary>Every member's weights from U(-1/sqrt(out), 1/sqrt(out)), layer by layer (CORL's VectorizedLinear; see <see cref="SacConfig.CriticWeightsByOutputs"/>).</summary>
    public static void WeightsByOutputs(EnsembleMlp critic, Rng rng)
    {
        foreach (var layer in critic.Layers)
        {
            float bound = 1f / MathF.Sqrt(layer.Weight.Shape[2]);
            Init.Uniform(layer.Weight, -bound, bound, rng);
        }
    }

    private static void EdacInit(IReadOnlyList<(Tensor Weight, Tensor Bias)> layers, float? hiddenBias, float? outputBound, Rng rng)
    {
        for (int i = 0; i < layers.Count - 1; i++)
            if (hiddenBias is { } b) Array.Fill(layers[i].Bias.Data, b);
        if (outputBound is { } u)
        {
            Init.Uniform(layers[^1].Weight, -u, u, rng);
            Init.Uniform(layers[^1].Bias, -u, u, rng);
        }
    }

    /// <summary>
    /// Orthogonal initialization of every member (CORL's and young-geng's init_module_weights with orthogonal_init):
    /// hidden layers with gain sqrt(2), the output layer with gain 0.01, biases 0; or the gains given.
    /// </summary>
    public static void OrthogonalInit(EnsembleMlp critic, Rng rng, float hiddenGain = 1.41421356f, float outputGain = 0.01f)
    {
        var layers = critic.Layers;
        for (int l = 0; l < layers.Count; l++)
        {
            var w = layers[l].Weight;
            int members = w.Shape[0], rows = w.Shape[1], cols = w.Shape[2];
            var one = Tensor.Zeros(rows, cols);
            for (int e = 0; e < members; e++)
            {
                Init.Orthogonal(one, rows, cols, rng, l == layers.Count - 1 ? outputGain : hiddenGain);
                one.Data.AsSpan().CopyTo(w.Data.AsSpan(e * rows * cols, rows * cols));
            }
            Init.Constant(layers[l].Bias, 0f);
        }
    }

    /// <summary>Each member's output layer Xavier-uniform with a small gain, bias 0 (young-geng's critics with orthogonal_init off).</summary>
    public static void SmallOutputInit(EnsembleMlp critic, float gain, Rng rng)
    {
        var last = critic.Layers[^1];
        var w = last.Weight;
        int members = w.Shape[0], rows = w.Shape[1], cols = w.Shape[2];
        var one = Tensor.Zeros(rows, cols);
        for (int e = 0; e < members; e++)
        {
            Init.XavierUniform(one, rows, cols, rng, gain);
            one.Data.AsSpan().CopyTo(w.Data.AsSpan(e * rows * cols, rows * cols));
        }
        Init.Constant(last.Bias, 0f);
    }

    /// <summary>
    /// Every layer orthogonal with its gain, biases 0 (CleanRL's layer_init: hidden sqrt 2; PPO's policy output 0.01,
    /// its value output 1).
    /// </summary>
    public static void OrthogonalInit(Mlp net, float hiddenGain, float outputGain, Rng rng)
    {
        for (int l = 0; l < net.Layers.Count; l++)
        {
            var layer = net.Layers[l];
            Init.Orthogonal(layer.Weight, layer.Out, layer.In, rng, l == net.Layers.Count - 1 ? outputGain : hiddenGain);
            if (layer.Bias is { } b) Init.Constant(b, 0f);
        }
    }

    /// <summary>The output layer as CORL's tanh-Gaussian actor starts it: Xavier-uniform weights with a small gain, bias 0.</summary>
    public static void SmallOutputInit(Mlp net, float gain, Rng rng)
    {
        var last = net.Layers[^1];
        Init.XavierUniform(last.Weight, last.In, last.Out, rng, gain);
        if (last.Bias is { } b) Init.Constant(b, 0f);
    }
}

/// <summary>A free-standing parameter as a module (SAC's log-temperature), so checkpoints include it.</summary>
public sealed class ParameterModule : Module
{
    public Tensor Value { get; }
    public ParameterModule(string name, Shape shape) => Value = Param(name, shape);
}
