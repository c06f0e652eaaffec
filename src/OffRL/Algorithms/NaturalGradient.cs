using OffRL.Tensors;

namespace OffRL.Algorithms;

/// <summary>
/// The natural-gradient step of TRPO (Schulman et al. 2015, sec. 6 and appendix C) as the reference PyTorch code runs
/// it (ikostrikov/pytorch-trpo, which HNPG's authors build on): the search direction s solves F s = -g by conjugate
/// gradient, g the gradient of the surrogate loss and F the Fisher matrix as the Hessian of the mean KL between the
/// policy before the step and now (F v by differentiating (grad KL) . v again) plus damping I; the step s / lm scaled so
/// that 1/2 (s/lm)' F (s/lm) = the KL bound; then a backtracking line search over the fractions 1, 1/2, 1/4, ... that
/// accepts the first whose improvement of the surrogate is positive and at least <see cref="AcceptRatio"/> of the
/// linear prediction, else keeps the parameters as they were.
/// </summary>
public sealed class NaturalGradient
{
    private readonly Tensor[] _params;
    private readonly int _size;
    private readonly float[] _theta, _g, _x, _r, _p, _fp, _step;
    private readonly Tensor[] _grads, _hv;

    public int CgIterations { get; init; } = 10;
    public float Damping { get; init; } = 0.1f;
    public float MaxKl { get; init; } = 0.01f;
    public int Backtracks { get; init; } = 10;
    public float AcceptRatio { get; init; } = 0.1f;

    public NaturalGradient(IReadOnlyList<Tensor> parameters)
    {
        _params = [.. parameters];
        foreach (var t in parameters) _size += t.Size;
        _theta = new float[_size]; _g = new float[_size]; _x = new float[_size]; _r = new float[_size];
        _p = new float[_size]; _fp = new float[_size]; _step = new float[_size];
        _grads = new Tensor[_params.Length]; _hv = new Tensor[_params.Length];
    }

    /// <summary>
    /// One step on the parameters. <paramref name="surrogate"/> builds the loss (a scalar, lower is better) from the
    /// current parameters, <paramref name="kl"/> the mean KL to the policy before the step (zero there); both are called
    /// inside tensor scopes of their own. Returns the fraction of the full step taken (0: none accepted).
    /// </summary>
    public float Step(Func<Tensor> surrogate, Func<Tensor> kl)
    {
        Read(_theta);
        float loss0;
        using (TensorScope.Begin())
        {
            var loss = surrogate();
            loss0 = loss.Item();
            Tensor.Gradients(loss, _params, _grads, createGraph: false);
            Flatten(_grads, _g);
        }
        // conjugate gradient on F x = -g from x = 0
        Array.Clear(_x);
        for (int i = 0; i < _size; i++) { _r[i] = -_g[i]; _p[i] = _r[i]; }
        double rr = Dot(_r, _r);
        for (int k = 0; k < CgIterations && rr > 1e-10; k++)
        {
            FisherProduct(kl, _p, _fp);
            double alpha = rr / Dot(_p, _fp);
            for (int i = 0; i < _size; i++) { _x[i] += (float)(alpha * _p[i]); _r[i] -= (float)(alpha * _fp[i]); }
            double next = Dot(_r, _r);
            for (int i = 0; i < _size; i++) _p[i] = (float)(_r[i] + next / rr * _p[i]);
            rr = next;
        }
        FisherProduct(kl, _x, _fp);
        double shs = 0.5 * Dot(_x, _fp);
        if (!(shs > 0)) return 0f;
        double lm = Math.Sqrt(shs / MaxKl);
        double expected = -Dot(_g, _x) / lm;   // the predicted improvement of the full step
        for (int i = 0; i < _size; i++) _step[i] = (float)(_x[i] / lm);
        float fraction = 1f;
        for (int k = 0; k < Backtracks; k++, fraction *= 0.5f)
        {
            for (int i = 0; i < _size; i++) _x[i] = _theta[i] + fraction * _step[i];
            Write(_x);
            float loss;
            using (TensorScope.Begin())
            using (Tensor.NoGrad())
                loss = surrogate().Item();
            double actual = loss0 - loss;
            if (actual > 0 && actual / (expected * fraction) > AcceptRatio) return fraction;
        }
        Write(_theta);
        return 0f;
    }

    /// <summary>(F + damping I) v: the KL's Hessian times v, by differentiating (grad KL) . v once more.</summary>
    private void FisherProduct(Func<Tensor> kl, float[] v, float[] result)
    {
        using (TensorScope.Begin())
        {
            var d = kl();
            Tensor.Gradients(d, _params, _grads, createGraph: true);
            Tensor? gv = null;
            int offset = 0;
            for (int j = 0; j < _params.Length; j++)
            {
                var vj = Tensor.Temp(_params[j].Shape);
                v.AsSpan(offset, vj.Size).CopyTo(vj.Data);
                offset += vj.Size;
                var term = (_grads[j] * vj).Sum();
                gv = gv is null ? term : gv + term;
            }
            Tensor.Gradients(gv!, _params, _hv, createGraph: false);
            Flatten(_hv, result);
        }
        for (int i = 0; i < _size; i++) result[i] += Damping * v[i];
    }

    private static double Dot(float[] a, float[] b)
    {
        double s = 0;
        for (int i = 0; i < a.Length; i++) s += (double)a[i] * b[i];
        return s;
    }

    private static void Flatten(Tensor[] tensors, float[] flat)
    {
        int offset = 0;
        foreach (var t in tensors) { t.Data.AsSpan(0, t.Size).CopyTo(flat.AsSpan(offset)); offset += t.Size; }
    }

    private void Read(float[] flat)
    {
        int offset = 0;
        foreach (var t in _params) { t.Data.AsSpan(0, t.Size).CopyTo(flat.AsSpan(offset)); offset += t.Size; }
    }

    private void Write(float[] flat)
    {
        int offset = 0;
        foreach (var t in _params) { flat.AsSpan(offset, t.Size).CopyTo(t.Data); offset += t.Size; }
    }
}
