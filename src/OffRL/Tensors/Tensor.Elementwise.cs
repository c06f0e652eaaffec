using System.Numerics.Tensors;

namespace OffRL.Tensors;

public enum UnaryKind
{
    Neg, Exp, Log, Log1p, Sqrt, NormRoot, Abs, Square, Pow, Tanh, Sigmoid, Relu, LeakyRelu, Elu, Gelu, Mish, Softplus, Clamp, Affine, Silu, Sin,
}

public sealed partial class Tensor
{
    internal float[] NewAux(int size) => Pooled ? TensorScope.CurrentPoolArray(size) : new float[size];

    // ---------- broadcasting binary ops ----------
    private static Tensor Binary(BinKind k, Tensor a, Tensor b, string name)
    {
        var shape = Broadcast.ResultShape(a.Shape, b.Shape, name);
        var o = Temp(shape);
        Broadcast.Binary(k, a._data, a.Shape, b._data, b.Shape, o._data, shape);
        if (Track(a, b)) { o.Record(BinaryBackward, a, b); o.I0 = (int)k; }
        return o;
    }

    private static void BinaryBackward(Tensor o)
    {
        var k = (BinKind)o.I0;
        Tensor a = o.A!, b = o.B!;
        var g = o.Grad!;
        switch (k)
        {
            case BinKind.Add:
            case BinKind.Sub:
                if (a.RequiresGrad) Broadcast.ReduceInto(a.GradBuffer(), a.Shape, g, o.Shape);
                if (b.RequiresGrad) Broadcast.ReduceInto(b.GradBuffer(), b.Shape, g, o.Shape, k == BinKind.Sub ? -1f : 1f);
                return;
            case BinKind.Mul:
            {
                var t = TempArray(o.Size);
                if (a.RequiresGrad)
                {
                    Broadcast.Binary(BinKind.Mul, g, o.Shape, b._data, b.Shape, t, o.Shape);
                    Broadcast.ReduceInto(a.GradBuffer(), a.Shape, t, o.Shape);
                }
                if (b.RequiresGrad)
                {
                    Broadcast.Binary(BinKind.Mul, g, o.Shape, a._data, a.Shape, t, o.Shape);
                    Broadcast.ReduceInto(b.GradBuffer(), b.Shape, t, o.Shape);
                }
                return;
            }
            case BinKind.Div:
            {
                var t = TempArray(o.Size);
                if (a.RequiresGrad)
                {
                    Broadcast.Binary(BinKind.Div, g, o.Shape, b._data, b.Shape, t, o.Shape);
                    Broadcast.ReduceInto(a.GradBuffer(), a.Shape, t, o.Shape);
                }
                if (b.RequiresGrad)
                {   // d(a/b)/db = -out / b
                    TensorPrimitives.Multiply(g, o._data, t);
                    Broadcast.Binary(BinKind.Div, t, o.Shape, b._data, b.Shape, t, o.Shape);
                    Broadcast.ReduceInto(b.GradBuffer(), b.Shape, t, o.Shape, -1f);
                }
                return;
            }
            default:
            {   // min / max: the gradient goes to the chosen input (ties to a)
                var ea = TempArray(o.Size); var eb = TempArray(o.Size); var t = TempArray(o.Size);
                Broadcast.Expand(a._data, a.Shape, ea, o.Shape);
                Broadcast.Expand(b._data, b.Shape, eb, o.Shape);
                bool isMin = k == BinKind.Min;
                if (a.RequiresGrad)
                {
                    for (int i = 0; i < t.Length; i++) t[i] = (isMin ? ea[i] <= eb[i] : ea[i] >= eb[i]) ? g[i] : 0f;
                    Broadcast.ReduceInto(a.GradBuffer(), a.Shape, t, o.Shape);
                }
                if (b.RequiresGrad)
                {
                    for (int i = 0; i < t.Length; i++) t[i] = (isMin ? ea[i] <= eb[i] : ea[i] >= eb[i]) ? 0f : g[i];
                    Broadcast.ReduceInto(b.GradBuffer(), b.Shape, t, o.Shape);
                }
                return;
            }
        }
    }

    public static Tensor Add(Tensor a, Tensor b) => Binary(BinKind.Add, a, b, "add");
    public static Tensor Sub(Tensor a, Tensor b) => Binary(BinKind.Sub, a, b, "sub");
    public static Tensor Mul(Tensor a, Tensor b) => Binary(BinKind.Mul, a, b, "mul");
    public static Tensor Div(Tensor a, Tensor b) => Binary(BinKind.Div, a, b, "div");
    /// <summary>Elementwise minimum (gradient to the smaller; ties to the first).</summary>
    public static Tensor Minimum(Tensor a, Tensor b) => Binary(BinKind.Min, a, b, "minimum");
    public static Tensor Maximum(Tensor a, Tensor b) => Binary(BinKind.Max, a, b, "maximum");

    public static Tensor operator +(Tensor a, Tensor b) => Add(a, b);
    public static Tensor operator -(Tensor a, Tensor b) => Sub(a, b);
    public static Tensor operator *(Tensor a, Tensor b) => Mul(a, b);
    public static Tensor operator /(Tensor a, Tensor b) => Div(a, b);
    public static Tensor operator -(Tensor a) => a.Neg();
    public static Tensor operator +(Tensor a, float c) => a.Affine(1f, c);
    public static Tensor operator +(float c, Tensor a) => a.Affine(1f, c);
    public static Tensor operator -(Tensor a, float c) => a.Affine(1f, -c);
    public static Tensor operator -(float c, Tensor a) => a.Affine(-1f, c);
    public static Tensor operator *(Tensor a, float c) => a.Affine(c, 0f);
    public static Tensor operator *(float c, Tensor a) => a.Affine(c, 0f);
    public static Tensor operator /(Tensor a, float c) => a.Affine(1f / c, 0f);

    // ---------- unary ops ----------
    internal Tensor Unary(UnaryKind k, float p0 = 0f, float p1 = 0f)
    {
        var o = Temp(Shape);
        ReadOnlySpan<float> x = _data;
        Span<float> y = o._data;
        switch (k)
        {
            case UnaryKind.Neg: TensorPrimitives.Negate(x, y); break;
            case UnaryKind.Exp: TensorPrimitives.Exp(x, y); break;
            case UnaryKind.Log: TensorPrimitives.Log(x, y); break;
            case UnaryKind.Log1p: for (int i = 0; i < y.Length; i++) y[i] = Log1p(x[i]); break;
            case UnaryKind.Sqrt: case UnaryKind.NormRoot: TensorPrimitives.Sqrt(x, y); break;
            case UnaryKind.Abs: TensorPrimitives.Abs(x, y); break;
            case UnaryKind.Square: TensorPrimitives.Multiply(x, x, y); break;
            case UnaryKind.Pow: for (int i = 0; i < y.Length; i++) y[i] = MathF.Pow(x[i], p0); break;
            case UnaryKind.Tanh: TensorPrimitives.Tanh(x, y); break;
            case UnaryKind.Sigmoid: TensorPrimitives.Sigmoid(x, y); break;
            case UnaryKind.Relu: TensorPrimitives.Max(x, 0f, y); break;
            case UnaryKind.LeakyRelu: for (int i = 0; i < y.Length; i++) y[i] = x[i] > 0 ? x[i] : p0 * x[i]; break;
            case UnaryKind.Elu: for (int i = 0; i < y.Length; i++) y[i] = x[i] > 0 ? x[i] : p0 * (MathF.Exp(x[i]) - 1f); break;
            case UnaryKind.Gelu: Simd.Gelu(x, y); break;
            case UnaryKind.Mish: for (int i = 0; i < y.Length; i++) y[i] = x[i] * MathF.Tanh(Softplus(x[i])); break;
            case UnaryKind.Softplus: for (int i = 0; i < y.Length; i++) y[i] = Softplus(x[i]); break;
            case UnaryKind.Silu: TensorPrimitives.Sigmoid(x, y); TensorPrimitives.Multiply(x, y, y); break;   // x sigmoid(x), vectorized
            case UnaryKind.Clamp: TensorPrimitives.Max(x, p0, y); TensorPrimitives.Min(y, p1, y); break;
            case UnaryKind.Sin: TensorPrimitives.Sin(x, y); break;
            case UnaryKind.Affine:
                if (p1 == 0f) TensorPrimitives.Multiply(x, p0, y);
                else { TensorPrimitives.Multiply(x, p0, y); TensorPrimitives.Add(y, p1, y); }
                break;
        }
        if (Track(this)) { o.Record(UnaryBackward, this); o.I0 = (int)k; o.F0 = p0; o.F1 = p1; }
        return o;
    }

    private static void UnaryBackward(Tensor o)
    {
        var a = o.A!;
        ReadOnlySpan<float> g = o.Grad!, x = a._data, y = o._data;
        Span<float> dx = a.GradBuffer();
        float p0 = o.F0, p1 = o.F1;
        switch ((UnaryKind)o.I0)
        {
            case UnaryKind.Neg: TensorPrimitives.Subtract(dx, g, dx); break;
            case UnaryKind.Exp: TensorPrimitives.FusedMultiplyAdd(g, y, dx, dx); break;
            case UnaryKind.Log: for (int i = 0; i < dx.Length; i++) dx[i] += g[i] / x[i]; break;
            case UnaryKind.Log1p: for (int i = 0; i < dx.Length; i++) dx[i] += g[i] / (1f + x[i]); break;
            case UnaryKind.Sqrt: for (int i = 0; i < dx.Length; i++) dx[i] += 0.5f * g[i] / y[i]; break;
            case UnaryKind.NormRoot: for (int i = 0; i < dx.Length; i++) if (y[i] > 0f) dx[i] += 0.5f * g[i] / y[i]; break;
            case UnaryKind.Abs: for (int i = 0; i < dx.Length; i++) dx[i] += x[i] > 0 ? g[i] : x[i] < 0 ? -g[i] : 0f; break;
            case UnaryKind.Square: for (int i = 0; i < dx.Length; i++) dx[i] += 2f * x[i] * g[i]; break;
            case UnaryKind.Pow: for (int i = 0; i < dx.Length; i++) dx[i] += g[i] * p0 * MathF.Pow(x[i], p0 - 1f); break;
            case UnaryKind.Tanh: for (int i = 0; i < dx.Length; i++) dx[i] += g[i] * (1f - y[i] * y[i]); break;
            case UnaryKind.Sigmoid: for (int i = 0; i < dx.Length; i++) dx[i] += g[i] * y[i] * (1f - y[i]); break;
            case UnaryKind.Relu:
            {
                var t = TempArray(dx.Length);
                Simd.ActGradFromOutput(Activation.Relu, g, y, t);
                TensorPrimitives.Add(dx, t, dx);
                break;
            }
            case UnaryKind.LeakyRelu: for (int i = 0; i < dx.Length; i++) dx[i] += x[i] > 0 ? g[i] : p0 * g[i]; break;
            case UnaryKind.Elu: for (int i = 0; i < dx.Length; i++) dx[i] += x[i] > 0 ? g[i] : g[i] * (y[i] + p0); break;
            case UnaryKind.Gelu: Simd.GeluBackward(x, g, dx); break;
            case UnaryKind.Mish:
                for (int i = 0; i < dx.Length; i++)
                {
                    float t = MathF.Tanh(Softplus(x[i]));
                    float s = 1f / (1f + MathF.Exp(-x[i]));
                    dx[i] += g[i] * (t + x[i] * (1f - t * t) * s);
                }
                break;
            case UnaryKind.Softplus: for (int i = 0; i < dx.Length; i++) dx[i] += g[i] / (1f + MathF.Exp(-x[i])); break;
            case UnaryKind.Silu:
            {
                // d/dx x s(x) = s (1 + x (1 - s)) = s (1 + x - y), y = x s: vectorized over two scratch rows
                var sig = TempArray(dx.Length);
                TensorPrimitives.Sigmoid(x, sig);
                var v = TempArray(dx.Length);
                TensorPrimitives.Subtract(x, y, v);
                TensorPrimitives.Add(v, 1f, v);
                TensorPrimitives.Multiply(sig, v, v);
                TensorPrimitives.MultiplyAdd(g, v, dx, dx);
                break;
            }
            case UnaryKind.Clamp: for (int i = 0; i < dx.Length; i++) dx[i] += x[i] >= p0 && x[i] <= p1 ? g[i] : 0f; break;
            case UnaryKind.Affine: TensorPrimitives.MultiplyAdd(g, p0, dx, dx); break;
            case UnaryKind.Sin: for (int i = 0; i < dx.Length; i++) dx[i] += g[i] * MathF.Cos(x[i]); break;
        }
    }

    public Tensor Neg() => Unary(UnaryKind.Neg);
    public Tensor Exp() => Unary(UnaryKind.Exp);
    public Tensor Log() => Unary(UnaryKind.Log);
    public Tensor Log1p() => Unary(UnaryKind.Log1p);
    public Tensor Sqrt() => Unary(UnaryKind.Sqrt);

    /// <summary>
    /// The Euclidean norm along <paramref name="dim"/>. Its gradient is 0 where the norm is 0, as torch.norm's and
    /// torch.linalg.vector_norm's are (sqrt's would be 0 times infinity there: a zero vector, e.g. the action gradient of
    /// a critic whose units are all off, must not turn a loss NaN).
    /// </summary>
    public Tensor Norm(int dim = -1, bool keepDim = false) => Square().Sum(dim, keepDim).Unary(UnaryKind.NormRoot);
    public Tensor Abs() => Unary(UnaryKind.Abs);
    public Tensor Square() => Unary(UnaryKind.Square);
    public Tensor Pow(float exponent) => exponent == 2f ? Square() : Unary(UnaryKind.Pow, exponent);
    public Tensor Tanh() => Unary(UnaryKind.Tanh);
    public Tensor Sigmoid() => Unary(UnaryKind.Sigmoid);
    public Tensor Relu() => Unary(UnaryKind.Relu);
    public Tensor LeakyRelu(float slope = 0.01f) => Unary(UnaryKind.LeakyRelu, slope);
    public Tensor Elu(float alpha = 1f) => Unary(UnaryKind.Elu, alpha);
    /// <summary>Exact GELU, 0.5 x (1 + erf(x / sqrt 2)), as PyTorch's default.</summary>
    public Tensor Gelu() => Unary(UnaryKind.Gelu);
    public Tensor Mish() => Unary(UnaryKind.Mish);
    /// <summary>log(1 + e^x), linear above 20 as PyTorch's default threshold.</summary>
    public Tensor Softplus() => Unary(UnaryKind.Softplus);
    /// <summary>SiLU (swish), x sigmoid(x).</summary>
    public Tensor Silu() => Unary(UnaryKind.Silu);
    public Tensor Clamp(float min, float max)
    {
        if (min > max) throw new ArgumentException($"clamp: min {min} is above max {max}");
        return Unary(UnaryKind.Clamp, min, max);
    }
    /// <summary>sin(x) elementwise (cos(x) is (x + pi/2).Sin(); sinusoidal embeddings).</summary>
    public Tensor Sin() => Unary(UnaryKind.Sin);
    /// <summary>scale * x + shift.</summary>
    public Tensor Affine(float scale, float shift) => Unary(UnaryKind.Affine, scale, shift);

    public Tensor Apply(Activation act) => act switch
    {
        Activation.None => this,
        Activation.Relu => Relu(),
        Activation.LeakyRelu => LeakyRelu(),
        Activation.Tanh => Tanh(),
        Activation.Sigmoid => Sigmoid(),
        Activation.Elu => Elu(),
        Activation.Gelu => Gelu(),
        Activation.Mish => Mish(),
        Activation.Softplus => Softplus(),
        Activation.Silu => Silu(),
        _ => throw new ArgumentOutOfRangeException(nameof(act)),
    };

    // ---------- scalar helpers ----------
    internal static float Softplus(float x) => x > 20f ? x : Log1p(MathF.Exp(x));

    internal static float Log1p(float x)
    {
        double u = 1.0 + x;
        return u == 1.0 ? x : (float)(Math.Log(u) * x / (u - 1.0));
    }
}

/// <summary>Activation functions that layers can apply (fused into Linear where it pays).</summary>
public enum Activation { None, Relu, LeakyRelu, Tanh, Sigmoid, Elu, Gelu, Mish, Softplus, Silu }
