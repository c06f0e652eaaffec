using OffRL.Tensors;

namespace OffRL.Nn;

/// <summary>Multi-head causal self-attention (Vaswani et al. 2017; GPT-style masking) over x [B, T, d].</summary>
public sealed class CausalSelfAttention : Module
{
    private readonly Linear _qkv, _proj;
    private readonly int _heads, _width;
    private readonly float _dropout;
    private readonly Rng _rng;
    private readonly Dictionary<int, bool[]> _masks = new();

    public CausalSelfAttention(int width, int heads, Rng rng, float dropout = 0f)
    {
        if (width % heads != 0) throw new ArgumentException($"attention: width {width} is not divisible by {heads} heads");
        _width = width; _heads = heads; _dropout = dropout;
        _qkv = Child("qkv", new Linear(width, 3 * width, rng));
        _proj = Child("proj", new Linear(width, width, rng));
        _rng = rng.Fork();
    }

    private bool[] CausalMask(int t)
    {
        if (_masks.TryGetValue(t, out var m)) return m;
        m = new bool[t * t];
        for (int i = 0; i < t; i++) for (int j = i + 1; j < t; j++) m[i * t + j] = true;   // true = masked (future)
        return _masks[t] = m;
    }

    public Tensor Forward(Tensor x)
    {
        if (x.Rank != 3 || x.Shape[2] != _width) throw new ArgumentException($"attention: input must be [B, T, {_width}], got {x.Shape}");
        int b = x.Shape[0], t = x.Shape[1], h = _heads, dh = _width / h;
        var qkv = _qkv.Forward(x);                                   // [B, T, 3d]
        Tensor Heads(int part) => qkv.Slice(2, part * _width, _width)  // [B, T, d]
            .Reshape(b, t, h, dh).Transpose(1, 2).Reshape(b * h, t, dh);
        Tensor q = Heads(0), k = Heads(1), v = Heads(2);
        var att = Tensor.BatchedMatmul(q, k, transB: true) * (1f / MathF.Sqrt(dh));   // [BH, T, T]
        att = att.MaskedFill(CausalMask(t), float.NegativeInfinity).Softmax(-1);
        if (_dropout > 0f) att = att.Dropout(_dropout, _rng, Training);
        var y = Tensor.BatchedMatmul(att, v)                          // [BH, T, dh]
            .Reshape(b, h, t, dh).Transpose(1, 2).Reshape(b, t, _width);
        return _proj.Forward(y);
    }
}

/// <summary>Pre-norm transformer block: x + attn(ln1(x)), then x + mlp(ln2(x)) with a 4x GELU MLP.</summary>
public sealed class TransformerBlock : Module
{
    private readonly LayerNorm _ln1, _ln2;
    private readonly CausalSelfAttention _attn;
    private readonly Linear _fc, _out;
    private readonly float _dropout;
    private readonly Rng _rng;

    public TransformerBlock(int width, int heads, Rng rng, float dropout = 0f)
    {
        _ln1 = Child("ln1", new LayerNorm(width));
        _attn = Child("attn", new CausalSelfAttention(width, heads, rng, dropout));
        _ln2 = Child("ln2", new LayerNorm(width));
        _fc = Child("fc", new Linear(width, 4 * width, rng));
        _out = Child("out", new Linear(4 * width, width, rng));
        _dropout = dropout;
        _rng = rng.Fork();
    }

    public Tensor Forward(Tensor x)
    {
        x = x + _attn.Forward(_ln1.Forward(x));
        var m = _out.Forward(_fc.Forward(_ln2.Forward(x), Activation.Gelu));
        if (_dropout > 0f) m = m.Dropout(_dropout, _rng, Training);
        return x + m;
    }
}

/// <summary>Configuration of a causal transformer over sequences of feature vectors.</summary>
public sealed record TransformerConfig(int Input, int Width, int Layers, int Heads, int Context, int Output, float Dropout = 0.1f);

/// <summary>
/// GPT-style causal transformer for sequences of continuous inputs [B, T, in] -> [B, T, out]:
/// linear input embedding + learned positions, pre-norm blocks, final layer norm, linear head.
/// </summary>
public sealed class CausalTransformer : Module
{
    private readonly Linear _embed, _head;
    private readonly Embedding _pos;
    private readonly TransformerBlock[] _blocks;
    private readonly LayerNorm _lnf;
    public TransformerConfig Config { get; }

    public CausalTransformer(TransformerConfig c, Rng rng)
    {
        Config = c;
        _embed = Child("embed", new Linear(c.Input, c.Width, rng));
        _pos = Child("pos", new Embedding(c.Context, c.Width, rng));
        Init.Normal(_pos.Weight, 0f, 0.02f, rng);
        _blocks = new TransformerBlock[c.Layers];
        for (int i = 0; i < c.Layers; i++) _blocks[i] = Child($"blocks.{i}", new TransformerBlock(c.Width, c.Heads, rng, c.Dropout));
        _lnf = Child("ln_f", new LayerNorm(c.Width));
        _head = Child("head", new Linear(c.Width, c.Output, rng));
    }

    private int[]? _positions;

    public Tensor Forward(Tensor x)
    {
        if (x.Rank != 3) throw new ArgumentException($"transformer: input must be [B, T, {Config.Input}], got {x.Shape}");
        int t = x.Shape[1];
        if (t > Config.Context) throw new ArgumentException($"transformer: sequence length {t} exceeds context {Config.Context}");
        if (_positions is null || _positions.Length != t)
        {
            _positions = new int[t];
            for (int i = 0; i < t; i++) _positions[i] = i;
        }
        var h = _embed.Forward(x) + _pos.Forward(_positions, new Shape(t));   // [B, T, d] + [T, d]
        foreach (var blk in _blocks) h = blk.Forward(h);
        return _head.Forward(_lnf.Forward(h));
    }
}
