using OffRL.Tensors;

namespace OffRL.Nn;

/// <summary>
/// How an MLP reads a history at the front of its input (<see cref="MlpConfig.Sequence"/>): <paramref name="Steps"/>
/// observations of <paramref name="Width"/> values, oldest first, read by a GRU of <paramref name="Hidden"/> units
/// whose last state replaces them; the rest of the input (a critic's action) follows it unchanged.
/// </summary>
public sealed record SequenceInput(int Steps, int Width, int Hidden)
{
    public int Length => Steps * Width;
}

/// <summary>
/// A gated recurrent unit (Cho et al. 2014) as PyTorch's nn.GRU computes it, over the observations of a history:
/// r = sigma(W_ir x + b_ir + W_hr h + b_hr), z = sigma(W_iz x + b_iz + W_hz h + b_hz),
/// n = tanh(W_in x + b_in + r (W_hn h + b_hn)), h' = (1 - z) n + z h, from h = 0; every weight and bias from
/// U(-1/sqrt(H), 1/sqrt(H)). With <paramref name="members"/> > 0 it is that many independent GRUs evaluated together
/// (a critic ensemble's), weights [E, in, 3H] as <see cref="EnsembleLinear"/>'s.
/// </summary>
public sealed class Gru : Module
{
    public int Input { get; }
    public int Hidden { get; }
    /// <summary>0: one GRU; else the ensemble's size.</summary>
    public int Members { get; }
    public Tensor WeightIh { get; }
    public Tensor WeightHh { get; }
    public Tensor BiasIh { get; }
    public Tensor BiasHh { get; }

    public Gru(int input, int hidden, Rng rng, int members = 0)
    {
        LayerSizes.Positive("Gru", "input", input);
        LayerSizes.Positive("Gru", "hidden", hidden);
        (Input, Hidden, Members) = (input, hidden, members);
        int g = 3 * hidden;
        (WeightIh, WeightHh) = members == 0
            ? (Param("weight_ih", new Shape(g, input)), Param("weight_hh", new Shape(g, hidden)))
            : (Param("weight_ih", new Shape(members, input, g)), Param("weight_hh", new Shape(members, hidden, g)));
        (BiasIh, BiasHh) = members == 0
            ? (Param("bias_ih", new Shape(g)), Param("bias_hh", new Shape(g)))
            : (Param("bias_ih", new Shape(members, g)), Param("bias_hh", new Shape(members, g)));
        float bound = 1f / MathF.Sqrt(hidden);
        foreach (var p in new[] { WeightIh, WeightHh, BiasIh, BiasHh }) Init.Uniform(p, -bound, bound, rng);
    }

    private Tensor Gates(Tensor x, Tensor w, Tensor b) => Members == 0 ? Tensor.Linear(x, w, b) : Tensor.EnsembleLinear(x, w, b);

    /// <summary>
    /// Reads the <see cref="SequenceInput.Steps"/> observations at the front of each row of <paramref name="x"/> ([B, in],
    /// or [E, B, in] for an ensemble) and returns its last state followed by the rest of the row: [B, H + rest]
    /// ([E, B, H + rest]).
    /// </summary>
    public Tensor Encode(Tensor x, SequenceInput s)
    {
        if (s.Width != Input) throw new ArgumentException($"Gru: reads observations of {Input} values, the sequence has {s.Width}");
        int rows = Members > 0 && x.Rank == 3 ? x.Shape[1] : x.Shape[0], hs = Hidden;
        Tensor? h = null;   // h_0 = 0: its products are the biases alone (no batch-sized constant, so an export takes any batch)
        var biasHh = Members == 0 ? BiasHh : BiasHh.Reshape(Members, 1, 3 * hs);
        for (int t = 0; t < s.Steps; t++)
        {
            var gi = Gates(x.Slice(-1, t * s.Width, s.Width), WeightIh, BiasIh);
            var gh = h is null ? biasHh : Gates(h, WeightHh, BiasHh);
            var r = (gi.Slice(-1, 0, hs) + gh.Slice(-1, 0, hs)).Sigmoid();
            var z = (gi.Slice(-1, hs, hs) + gh.Slice(-1, hs, hs)).Sigmoid();
            var n = (gi.Slice(-1, 2 * hs, hs) + r * gh.Slice(-1, 2 * hs, hs)).Tanh();
            h = h is null ? n - z * n : n + z * (h - n);   // (1 - z) n + z h
        }
        int rest = x.Shape.Last - s.Length;
        if (rest == 0) return h!;
        var tail = x.Slice(-1, s.Length, rest);
        if (Members > 0 && tail.Rank == 2) tail = tail.ExpandTo(new Shape(Members, rows, rest));
        return Tensor.Concat(h!, tail, -1);
    }
}
