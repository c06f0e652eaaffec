using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;
using OffRL.Nn;
using OffRL.Tensors;

namespace OffRL.Bandits;

/// <summary>One observed outcome: the context, the chosen action's features, and the reward.</summary>
public readonly record struct Feedback(float[] Context, float[] ActionFeatures, float Reward);

/// <summary>
/// An online regression oracle for expected reward given (context, action features), as in the regression-oracle
/// reductions of contextual bandits (Foster &amp; Rakhlin 2020): predictions for a candidate set, updates on batches.
/// </summary>
public interface IRewardOracle
{
    void Predict(BanditContext c, Span<double> yhat);
    void Update(ReadOnlySpan<Feedback> batch);
    /// <summary>State as named float arrays (for policy files).</summary>
    Dictionary<string, float[]> State();
    void Restore(Dictionary<string, float[]> state);
}

/// <summary>
/// Ridge regression on phi(x, a) kept online: A = lambda I + sum phi phi', b = sum r phi, theta = A^-1 b, with A^-1 updated
/// by Sherman-Morrison (O(D^2) per observation). LinUCB and linear Thompson sampling read A^-1 for their confidence widths.
/// </summary>
public sealed class RidgeOracle : IRewardOracle
{
    public int ContextDim { get; }
    public int ActionDim { get; }
    public int Dim { get; }
    public long Observations { get; private set; }
    private readonly double[] _aInv, _b, _theta, _tmp, _phiD;
    private readonly float[] _phi;

    /// <summary>The most joint features (context + 1) x (action features + 1) a ridge oracle takes: its matrix is their square (4096: 128 MiB).</summary>
    public const int MaxFeatures = 4096;

    public RidgeOracle(int contextDim, int actionDim, double lambda = 1.0)
    {
        if (lambda <= 0) throw new ArgumentException($"lambda must be > 0, got {lambda}", nameof(lambda));
        long joint = (contextDim + 1L) * (actionDim + 1L);
        if (joint > MaxFeatures)
            throw new ArgumentException($"(context width {contextDim} + 1) x (action features {actionDim} + 1) = {joint} joint features; a ridge oracle holds a " +
                $"square matrix of them and takes at most {MaxFeatures} (use fewer features or the neural oracle)");
        ContextDim = contextDim; ActionDim = actionDim;
        Dim = JointFeatures.Dim(contextDim, actionDim);
        _aInv = new double[Dim * Dim]; _b = new double[Dim]; _theta = new double[Dim]; _tmp = new double[Dim]; _phiD = new double[Dim];
        _phi = new float[Dim];
        for (int i = 0; i < Dim; i++) _aInv[i * Dim + i] = 1 / lambda;
    }

    public ReadOnlySpan<double> Theta => _theta;
    public ReadOnlySpan<double> AInverse => _aInv;

    /// <summary>phi(x, a) into the oracle's scratch buffer (valid until the next call).</summary>
    public ReadOnlySpan<float> Features(ReadOnlySpan<float> x, ReadOnlySpan<float> a)
    {
        if (x.Length != ContextDim) throw new ArgumentException($"context has {x.Length} values, the model expects {ContextDim}");
        if (a.Length != ActionDim) throw new ArgumentException($"action features have {a.Length} values, the model expects {ActionDim}");
        JointFeatures.Fill(x, a, _phi);
        return _phi;
    }

    public double Mean(ReadOnlySpan<float> phi)
    {
        double s = 0;
        for (int i = 0; i < Dim; i++) s += _theta[i] * phi[i];
        return s;
    }

    /// <summary>phi' A^-1 phi, the squared confidence width.</summary>
    public double Width2(ReadOnlySpan<float> phi)
    {
        var u = AInvTimes(phi);
        double s = 0;
        for (int i = 0; i < Dim; i++) s += phi[i] * u[i];
        return Math.Max(0, s);
    }

    /// <summary>A^-1 phi into a scratch buffer (valid until the next call).</summary>
    private ReadOnlySpan<double> AInvTimes(ReadOnlySpan<float> phi)
    {
        for (int j = 0; j < Dim; j++) _phiD[j] = phi[j];
        for (int i = 0; i < Dim; i++) _tmp[i] = TensorPrimitives.Dot(new ReadOnlySpan<double>(_aInv, i * Dim, Dim), _phiD);
        return _tmp;
    }

    public void Predict(BanditContext c, Span<double> yhat)
    {
        for (int k = 0; k < c.Count; k++) yhat[k] = Mean(Features(c.Context, c.Actions[k].Features));
    }

    public void Update(ReadOnlySpan<Feedback> batch)
    {
        foreach (var f in batch)
        {
            var phi = Features(f.Context, f.ActionFeatures);
            // u = A^-1 phi; A^-1 <- A^-1 - u u' / (1 + phi' u)  (Sherman-Morrison, A^-1 symmetric)
            var u = AInvTimes(phi);
            double denom = 1 + TensorPrimitives.Dot(u, _phiD);
            for (int i = 0; i < Dim; i++)
            {
                var row = new Span<double>(_aInv, i * Dim, Dim);
                TensorPrimitives.MultiplyAdd(u, -u[i] / denom, row, row);
            }
            for (int i = 0; i < Dim; i++) _b[i] += f.Reward * phi[i];
            Observations++;
        }
        for (int i = 0; i < Dim; i++) _theta[i] = TensorPrimitives.Dot(new ReadOnlySpan<double>(_aInv, i * Dim, Dim), _b);
    }

    public Dictionary<string, float[]> State() => new()
    {
        ["a_inv"] = Array.ConvertAll(_aInv, v => (float)v),
        ["b"] = Array.ConvertAll(_b, v => (float)v),
        ["n"] = [Observations],
    };

    public void Restore(Dictionary<string, float[]> state)
    {
        var aInv = Need(state, "a_inv", Dim * Dim);
        var b = Need(state, "b", Dim);
        for (int i = 0; i < aInv.Length; i++) _aInv[i] = aInv[i];
        for (int i = 0; i < Dim; i++) _b[i] = b[i];
        Observations = state.TryGetValue("n", out var n) && n.Length == 1 ? (long)n[0] : 0;
        Update([]);
    }

    internal static float[] Need(Dictionary<string, float[]> state, string key, int length)
    {
        if (!state.TryGetValue(key, out var v)) throw new DataException("is missing", field: $"state.{key}");
        if (v.Length != length) throw new DataException($"has {v.Length} values, expected {length}", field: $"state.{key}");
        return v;
    }
}

/// <summary>
/// A neural regression oracle: an MLP on [x, a] trained with Adam on squared error. Every observation is kept in a
/// bounded buffer, and each one received buys <c>StepsPerObservation</c> minibatch steps on samples from it.
/// </summary>
public sealed class NeuralOracle : IRewardOracle
{
    private readonly int _dx, _da, _in, _batch, _capacity;
    private readonly double _stepsPerObs;
    private readonly Mlp _net;
    private readonly Adam _opt;
    private readonly Rng _rng;
    private readonly float[] _bufX, _bufY;
    private int _count, _next;
    private double _stepDebt;
    private readonly float[] _xb, _yb;
    private readonly Tensor _xt, _yt;

    public NeuralOracle(int contextDim, int actionDim, int[] hidden, float learningRate = 1e-3f, int batchSize = 32,
        double stepsPerObservation = 1, int capacity = 100_000, ulong seed = 0)
    {
        _dx = contextDim; _da = actionDim; _in = contextDim + actionDim;
        _batch = batchSize; _capacity = capacity; _stepsPerObs = stepsPerObservation;
        _rng = new Rng(seed);
        _net = new Mlp(_in, hidden, 1, _rng);
        _opt = new Adam(_net.Parameters(), learningRate);
        _bufX = new float[capacity * _in]; _bufY = new float[capacity];
        _xb = new float[batchSize * _in]; _yb = new float[batchSize];
        _xt = Tensor.FromArray(_xb, batchSize, _in); _yt = Tensor.FromArray(_yb, batchSize, 1);
    }

    public Mlp Network => _net;

    public void Predict(BanditContext c, Span<double> yhat)
    {
        var input = new float[c.Count * _in];
        for (int k = 0; k < c.Count; k++)
        {
            if (c.Context.Length != _dx) throw new ArgumentException($"context has {c.Context.Length} values, the model expects {_dx}");
            if (c.Actions[k].Features.Length != _da) throw new ArgumentException($"action '{c.Actions[k].Id}' has {c.Actions[k].Features.Length} features, the model expects {_da}");
            c.Context.CopyTo(input, k * _in);
            c.Actions[k].Features.CopyTo(input, k * _in + _dx);
        }
        using (TensorScope.Begin())
        using (Tensor.NoGrad())
        {
            var y = _net.Forward(Tensor.FromArray(input, c.Count, _in)).Data;
            for (int k = 0; k < c.Count; k++) yhat[k] = y[k];
        }
    }

    public void Update(ReadOnlySpan<Feedback> batch)
    {
        foreach (var f in batch)
        {
            f.Context.CopyTo(_bufX, _next * _in);
            f.ActionFeatures.CopyTo(_bufX, _next * _in + _dx);
            _bufY[_next] = f.Reward;
            _next = (_next + 1) % _capacity;
            _count = Math.Min(_count + 1, _capacity);
        }
        _stepDebt += _stepsPerObs * batch.Length;
        while (_stepDebt >= 1)
        {
            _stepDebt -= 1;
            for (int k = 0; k < _batch; k++)
            {
                int j = _rng.NextInt(_count);
                Array.Copy(_bufX, j * _in, _xb, k * _in, _in);
                _yb[k] = _bufY[j];
            }
            using (TensorScope.Begin())
            {
                var loss = (_net.Forward(_xt) - _yt).Square().Mean();
                _opt.ZeroGrad();
                loss.Backward();
                _opt.Step();
            }
        }
    }

    public Dictionary<string, float[]> State()
    {
        var s = new Dictionary<string, float[]>();
        foreach (var (name, p) in _net.NamedParameters()) s["net." + name] = (float[])p.Data.Clone();
        return s;
    }

    public void Restore(Dictionary<string, float[]> state)
    {
        foreach (var (name, p) in _net.NamedParameters())
            RidgeOracle.Need(state, "net." + name, p.Size).CopyTo(p.Data, 0);
    }
}
