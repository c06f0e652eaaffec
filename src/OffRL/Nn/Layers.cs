using OffRL.Tensors;

namespace OffRL.Nn;

/// <summary>Checks that a layer's sizes are positive and that its tensors fit an int index, naming the layer's field.</summary>
internal static class LayerSizes
{
    public static void Positive(string layer, string field, int value)
    {
        if (value < 1) throw new ArgumentException($"{layer}: {field} must be at least 1, got {value}");
    }

    /// <summary>The product of sizes is a tensor's element count: it must fit an int.</summary>
    public static void Fits(string layer, string what, long product, string hint)
    {
        if (product > int.MaxValue)
            throw new ArgumentException($"{layer}: {what} is {product} values, more than one tensor holds ({int.MaxValue}); {hint}");
    }

    /// <summary>A forward pass over rows of the given width: rows x width must fit one tensor.</summary>
    public static void Batch(string layer, Tensor x, int width)
    {
        long rows = x.Shape.Last == 0 ? 0 : x.Shape.Size / x.Shape.Last;
        Fits(layer, $"the output of {rows} rows x {width}", rows * width, "lower batch_size or hidden");
    }
}

/// <summary>y = act(x W^T + b), W [out, in] as nn.Linear, initialized as PyTorch does (Kaiming-uniform, a = sqrt 5).</summary>
public sealed class Linear : Module
{
    /// <summary>Widest layer a config may ask for: a 16384 x 16384 weight (2^28 values) and a batch of 16384-wide rows stay within one tensor's int index.</summary>
    public const int MaxWidth = 16384;

    public Tensor Weight { get; }
    public Tensor? Bias { get; }
    public int In { get; }
    public int Out { get; }

    public Linear(int inFeatures, int outFeatures, Rng rng, bool bias = true)
    {
        LayerSizes.Positive("Linear", "in_features", inFeatures);
        LayerSizes.Positive("Linear", "out_features", outFeatures);
        LayerSizes.Fits("Linear", $"the weight in_features x out_features = {inFeatures} x {outFeatures}", (long)inFeatures * outFeatures, "lower hidden");
        In = inFeatures; Out = outFeatures;
        Weight = Param("weight", new Shape(outFeatures, inFeatures));
        Init.KaimingUniform(Weight, inFeatures, rng);
        if (bias)
        {
            Bias = Param("bias", new Shape(outFeatures));
            float bound = 1f / MathF.Sqrt(inFeatures);
            Init.Uniform(Bias, -bound, bound, rng);
        }
    }

    public Tensor Forward(Tensor x, Activation act = Activation.None)
    {
        LayerSizes.Batch("Linear", x, Out);
        return Tensor.Linear(x, Weight, Bias, act);
    }
}

/// <summary>
/// Layer normalization over the last dimension (gamma = 1, beta = 0 at start); with <c>members</c> &gt; 0, one gamma and
/// beta per ensemble member ([E, 1, n], for inputs [E, B, n]).
/// </summary>
public sealed class LayerNorm : Module
{
    public Tensor Gamma { get; }
    public Tensor Beta { get; }
    public float Eps { get; }

    public LayerNorm(int features, float eps = 1e-5f, int members = 0)
    {
        LayerSizes.Positive("LayerNorm", "features", features);
        if (!(eps > 0) || !float.IsFinite(eps)) throw new ArgumentException($"LayerNorm: eps must be a finite number > 0, got {eps}");
        var shape = members > 0 ? new Shape(members, 1, features) : new Shape(features);
        Gamma = Param("weight", shape);
        Beta = Param("bias", shape);
        Init.Constant(Gamma, 1f);
        Eps = eps;
    }

    /// <summary>The normalized x, then <paramref name="activation"/> (ReLU in the same pass).</summary>
    public Tensor Forward(Tensor x, Activation activation = Activation.None) => Tensor.LayerNorm(x, Gamma, Beta, Eps, activation);
}

/// <summary>Lookup table of learned vectors, N(0, 1) at start as nn.Embedding.</summary>
public sealed class Embedding : Module
{
    public Tensor Weight { get; }

    public Embedding(int count, int dim, Rng rng)
    {
        LayerSizes.Positive("Embedding", "count", count);
        LayerSizes.Positive("Embedding", "dim", dim);
        LayerSizes.Fits("Embedding", $"the table count x dim = {count} x {dim}", (long)count * dim, "lower the context or width");
        Weight = Param("weight", new Shape(count, dim));
        Init.Normal(Weight, 0f, 1f, rng);
    }

    public Tensor Forward(int[] ids, Shape idsShape) => Tensor.Embedding(Weight, ids, idsShape);
}

/// <summary>
/// Configuration of a multi-layer perceptron. <paramref name="LayerNorm"/> normalizes each hidden layer before its
/// activation, or after it with <paramref name="NormAfterActivation"/> (ReBRAC's critics: Dense, ReLU, LayerNorm), with
/// epsilon <paramref name="NormEps"/> (PyTorch's 1e-5; flax's 1e-6). With <paramref name="Sequence"/> the input starts
/// with a history that a GRU reads first (<see cref="Gru"/>); its last state and the rest of the input feed the layers.
/// </summary>
public sealed record MlpConfig(
    int Input,
    int[] Hidden,
    int Output,
    Activation Activation = Activation.Relu,
    Activation OutputActivation = Activation.None,
    bool LayerNorm = false,
    float Dropout = 0f,
    bool NormAfterActivation = false,
    float NormEps = 1e-5f,
    SequenceInput? Sequence = null)
{
    /// <summary>The width the first layer reads: the input, with the history replaced by the GRU's state.</summary>
    internal int FirstLayerInput(string layer)
    {
        if (Sequence is not { } s) return Input;
        if (s.Steps < 1 || s.Width < 1 || s.Length > Input)
            throw new ArgumentException($"{layer}: a history of {s.Steps} x {s.Width} values does not fit an input of {Input}");
        return Input - s.Length + s.Hidden;
    }
}

/// <summary>Linear -> [LayerNorm] -> activation -> [LayerNorm after] -> [Dropout] per hidden layer, then a linear output layer.</summary>
public sealed class Mlp : Module
{
    private readonly Linear[] _layers;
    private readonly LayerNorm?[] _norms;
    private readonly Gru? _gru;
    private readonly Rng _dropoutRng;

    public MlpConfig Config { get; }

    public Mlp(MlpConfig config, Rng rng)
    {
        Config = config;
        if (config.Hidden is null) throw new ArgumentException("Mlp: hidden must be a list of widths ([] for none)");
        if (config.Dropout < 0f || config.Dropout >= 1f) throw new ArgumentException($"Mlp: Dropout must be in [0, 1), got {config.Dropout}");
        int n = config.Hidden.Length;
        _layers = new Linear[n + 1];
        _norms = new LayerNorm?[n];
        int d = config.FirstLayerInput("Mlp");
        if (config.Sequence is { } seq) _gru = Child("gru", new Gru(seq.Width, seq.Hidden, rng));
        for (int i = 0; i < n; i++)
        {
            _layers[i] = Child($"layers.{i}", new Linear(d, config.Hidden[i], rng));
            if (config.LayerNorm) _norms[i] = Child($"norms.{i}", new LayerNorm(config.Hidden[i], config.NormEps));
            d = config.Hidden[i];
        }
        _layers[n] = Child($"layers.{n}", new Linear(d, config.Output, rng));
        _dropoutRng = rng.Fork();
    }

    public Mlp(int input, int[] hidden, int output, Rng rng, Activation act = Activation.Relu, Activation outAct = Activation.None)
        : this(new MlpConfig(input, hidden, output, act, outAct), rng) { }

    public IReadOnlyList<Linear> Layers => _layers;

    public Tensor Forward(Tensor x)
    {
        var h = _gru is null ? x : _gru.Encode(x, Config.Sequence!);
        for (int i = 0; i < _norms.Length; i++)
        {
            h = _norms[i] is not { } ln ? _layers[i].Forward(h, Config.Activation)
                : Config.NormAfterActivation ? ln.Forward(_layers[i].Forward(h, Config.Activation))
                : ln.Forward(_layers[i].Forward(h), Config.Activation);
            if (Config.Dropout > 0f) h = h.Dropout(Config.Dropout, _dropoutRng, Training);
        }
        return _layers[^1].Forward(h, Config.OutputActivation);
    }
}

/// <summary>E independent linear layers computed as one batched product (SAC-N, EDAC, model ensembles).</summary>
public sealed class EnsembleLinear : Module
{
    public Tensor Weight { get; }
    public Tensor Bias { get; }
    public int Members { get; }

    public EnsembleLinear(int members, int inFeatures, int outFeatures, Rng rng)
    {
        LayerSizes.Positive("EnsembleLinear", "members", members);
        LayerSizes.Positive("EnsembleLinear", "in_features", inFeatures);
        LayerSizes.Positive("EnsembleLinear", "out_features", outFeatures);
        LayerSizes.Fits("EnsembleLinear", $"the weight members x in_features x out_features = {members} x {inFeatures} x {outFeatures}", (long)members * inFeatures * outFeatures, "lower hidden or the ensemble size");
        Members = members;
        Weight = Param("weight", new Shape(members, inFeatures, outFeatures));
        Bias = Param("bias", new Shape(members, outFeatures));
        // Each member initialized as an nn.Linear with fan_in = inFeatures.
        float bound = 1f / MathF.Sqrt(inFeatures);
        Init.Uniform(Weight, -bound, bound, rng);
        Init.Uniform(Bias, -bound, bound, rng);
    }

    /// <summary>x [E, B, in] or [B, in] (shared) -> [E, B, out].</summary>
    public Tensor Forward(Tensor x, Activation act = Activation.None)
    {
        int out_ = Bias.Shape.Last;
        LayerSizes.Batch("EnsembleLinear", x, x.Shape.Rank == 3 ? out_ : Members * out_);
        return Tensor.EnsembleLinear(x, Weight, Bias, act);
    }
}

/// <summary>
/// An ensemble of E MLPs with identical architecture evaluated together: [B, in] or [E, B, in] -> [E, B, out]; with
/// layer norm, each member normalizes with its own scale and shift.
/// </summary>
public sealed class EnsembleMlp : Module
{
    private readonly EnsembleLinear[] _layers;
    private readonly LayerNorm?[] _norms;
    private readonly Gru? _gru;
    public MlpConfig Config { get; }
    public int Members { get; }

    /// <summary>The layers, input first (the last is the output layer).</summary>
    public IReadOnlyList<EnsembleLinear> Layers => _layers;

    public EnsembleMlp(int members, MlpConfig config, Rng rng)
    {
        if (config.Dropout > 0) throw new NotSupportedException("EnsembleMlp: dropout is not supported yet");
        if (config.Hidden is null) throw new ArgumentException("EnsembleMlp: hidden must be a list of widths ([] for none)");
        Members = members; Config = config;
        _layers = new EnsembleLinear[config.Hidden.Length + 1];
        _norms = new LayerNorm?[config.Hidden.Length];
        int d = config.FirstLayerInput("EnsembleMlp");
        if (config.Sequence is { } seq) _gru = Child("gru", new Gru(seq.Width, seq.Hidden, rng, members));
        for (int i = 0; i < config.Hidden.Length; i++)
        {
            _layers[i] = Child($"layers.{i}", new EnsembleLinear(members, d, config.Hidden[i], rng));
            if (config.LayerNorm) _norms[i] = Child($"norms.{i}", new LayerNorm(config.Hidden[i], config.NormEps, members));
            d = config.Hidden[i];
        }
        _layers[^1] = Child($"layers.{config.Hidden.Length}", new EnsembleLinear(members, d, config.Output, rng));
    }

    public Tensor Forward(Tensor x)
    {
        var h = _gru is null ? x : _gru.Encode(x, Config.Sequence!);
        for (int i = 0; i < _layers.Length - 1; i++)
            h = _norms[i] is not { } ln ? _layers[i].Forward(h, Config.Activation)
                : Config.NormAfterActivation ? ln.Forward(_layers[i].Forward(h, Config.Activation))
                : ln.Forward(_layers[i].Forward(h), Config.Activation);
        return _layers[^1].Forward(h, Config.OutputActivation);
    }

    private IReadOnlyList<Tensor>? _parameters;

    /// <summary>
    /// Sets this ensemble's members to copies of <paramref name="source"/>'s members <paramref name="members"/> (member
    /// j of this one = member members[j] of the source): a subset of an ensemble as a smaller ensemble, for REDQ's and
    /// RLPD's target minimum over a random subset. The two differ only in their member count; every parameter's
    /// leading axis is the member.
    /// </summary>
    public void CopyMembersFrom(EnsembleMlp source, ReadOnlySpan<int> members)
    {
        if (members.Length != Members)
            throw new ArgumentException($"EnsembleMlp: {members.Length} members copied into an ensemble of {Members}");
        for (int j = 0; j < members.Length; j++) CopyMember(source, members[j], j);
    }

    /// <summary>Sets member <paramref name="to"/> of this ensemble to a copy of member <paramref name="from"/> of <paramref name="source"/> (same layout, any member counts).</summary>
    public void CopyMember(EnsembleMlp source, int from, int to)
    {
        var target = _parameters ??= Parameters();
        var origin = source._parameters ??= source.Parameters();
        if ((uint)from >= (uint)source.Members || (uint)to >= (uint)Members || target.Count != origin.Count)
            throw new ArgumentException($"EnsembleMlp: member {from} of {source.Members} copied to member {to} of {Members}, or from another layout");
        for (int p = 0; p < target.Count; p++)
        {
            int size = target[p].Size / Members;
            if (origin[p].Size != size * source.Members) throw new ArgumentException($"EnsembleMlp: parameter {p} differs in layout from the source's");
            origin[p].Data.AsSpan(from * size, size).CopyTo(target[p].Data.AsSpan(to * size, size));
        }
    }
}
