using OffRL.Data;
using OffRL.Nn;
using OffRL.Tensors;

namespace OffRL.Evaluation;

/// <summary>A regression from features to an expected reward, fitted on rows of a feature matrix.</summary>
public interface IRegressor
{
    void Fit(float[] x, int dim, ReadOnlySpan<float> y);
    double Predict(ReadOnlySpan<float> x);
}

/// <summary>Ridge regression with intercept: (X'X + lambda I) beta = X'y (the intercept is not penalized).</summary>
public sealed class RidgeRegression(double lambda = 1.0) : IRegressor
{
    private double[] _beta = [];

    public void Fit(float[] x, int dim, ReadOnlySpan<float> y)
    {
        int n = y.Length, p = dim + 1;
        var ne = new NormalEquations(p);
        var row = new double[p];
        for (int i = 0; i < n; i++)
        {
            row[0] = 1;
            for (int j = 0; j < dim; j++) row[j + 1] = x[i * dim + j];
            ne.Add(row, y[i]);
        }
        ne.AddRidge(lambda, from: 1);
        ne.AddRidge(1e-9, from: 0, to: 1);
        _beta = ne.Solve();
    }

    public double Predict(ReadOnlySpan<float> x)
    {
        double s = _beta[0];
        for (int j = 0; j < x.Length; j++) s += _beta[j + 1] * x[j];
        return s;
    }
}

/// <summary>L2-regularized logistic regression with intercept, fitted by Newton's method (IRLS); rewards in [0, 1].</summary>
public sealed class LogisticRegression(double lambda = 1.0, int maxIterations = 50) : IRegressor
{
    private double[] _beta = [];

    public void Fit(float[] x, int dim, ReadOnlySpan<float> y)
    {
        int n = y.Length, p = dim + 1;
        _beta = new double[p];
        double mean = 0;
        for (int i = 0; i < n; i++)
        {
            if (y[i] < 0 || y[i] > 1) throw new ArgumentException($"logistic reward model: reward {y[i]} at row {i} is not in [0, 1]; use the ridge model");
            mean += y[i];
        }
        mean = Math.Clamp(mean / Math.Max(1, n), 1e-6, 1 - 1e-6);
        _beta[0] = Math.Log(mean / (1 - mean));
        var h = new NormalEquations(p); var g = new double[p]; var row = new double[p];
        for (int it = 0; it < maxIterations; it++)
        {
            h.Clear(); Array.Clear(g);
            for (int i = 0; i < n; i++)
            {
                row[0] = 1;
                for (int j = 0; j < dim; j++) row[j + 1] = x[i * dim + j];
                double z = 0;
                for (int a = 0; a < p; a++) z += _beta[a] * row[a];
                double mu = 1 / (1 + Math.Exp(-z)), wgt = Math.Max(mu * (1 - mu), 1e-10);
                for (int a = 0; a < p; a++) g[a] += (mu - y[i]) * row[a];
                h.Add(row, weight: wgt);   // Hessian: X' diag(mu (1 - mu)) X
            }
            for (int a = 1; a < p; a++) g[a] += lambda * _beta[a];
            h.AddRidge(lambda, from: 1);
            h.AddRidge(1e-9, from: 0, to: 1);
            var step = h.Solve(g);
            double norm = 0;
            for (int a = 0; a < p; a++) { _beta[a] -= step[a]; norm = Math.Max(norm, Math.Abs(step[a])); }
            if (norm < 1e-8) break;
        }
    }

    public double Predict(ReadOnlySpan<float> x)
    {
        double z = _beta[0];
        for (int j = 0; j < x.Length; j++) z += _beta[j + 1] * x[j];
        return 1 / (1 + Math.Exp(-z));
    }
}

/// <summary>An OffRL network as reward model: an MLP trained with Adam on squared error (or cross-entropy when binary).</summary>
public sealed class MlpRegressor(int[] hidden, int epochs = 20, int batchSize = 256, float learningRate = 1e-3f, bool binary = false, ulong seed = 0) : IRegressor
{
    private Mlp? _net;
    private float[] _in = [];
    private Tensor? _inT;

    public void Fit(float[] x, int dim, ReadOnlySpan<float> y)
    {
        var rng = new Rng(seed);
        _net = new Mlp(dim, hidden, 1, rng);
        var opt = new Adam(_net.Parameters(), learningRate);
        int n = y.Length, bs = Math.Min(batchSize, Math.Max(1, n));
        var xb = new float[bs * dim]; var yb = new float[bs];
        var xt = Tensor.FromArray(xb, bs, dim); var yt = Tensor.FromArray(yb, bs, 1);
        var yArr = y.ToArray();
        for (int e = 0; e < epochs; e++)
        {
            var perm = rng.Permutation(n);
            for (int s = 0; s + bs <= n; s += bs)
            {
                for (int k = 0; k < bs; k++)
                {
                    Array.Copy(x, perm[s + k] * dim, xb, k * dim, dim);
                    yb[k] = yArr[perm[s + k]];
                }
                using (TensorScope.Begin())
                {
                    var logits = _net.Forward(xt);
                    // Binary: cross-entropy with logits, softplus(z) - y z; otherwise squared error.
                    var loss = binary ? (logits.Softplus() - logits * yt).Mean() : (logits - yt).Square().Mean();
                    opt.ZeroGrad();
                    loss.Backward();
                    opt.Step();
                }
            }
        }
        _in = new float[dim];
        _inT = Tensor.FromArray(_in, 1, dim);
    }

    public double Predict(ReadOnlySpan<float> x)
    {
        x.CopyTo(_in);
        using (TensorScope.Begin())
        using (Tensor.NoGrad())
        {
            float z = _net!.Forward(_inT!).Item();
            return binary ? 1 / (1 + Math.Exp(-z)) : z;
        }
    }
}

/// <summary>
/// Fits q(x, a, position) on logged bandit data and predicts it for every row, action and position; with K-fold
/// cross-fitting each row's predictions come from a model that did not see that row (Chernozhukov et al. 2018).
/// Features: context, one-hot action, one-hot position, action context. Only the actions and positions present in the
/// log get a one-hot column (in id order): an absent one has no data, so a regularized fit would give its column zero
/// weight anyway; it is predicted from the context (and its action context) alone. The model's size and work thus
/// follow the actions logged (at most one per row), not the range of the ids.
/// </summary>
public static class RewardModel
{
    /// <summary>The one-hot columns of a log: per action id and per position its column, or -1 when absent from the log.</summary>
    private sealed class Layout
    {
        public readonly int[] ActionColumn, PositionColumn;
        public readonly int PresentActions, PresentPositions, Dim;

        public Layout(BanditFeedback logs)
        {
            ActionColumn = Columns(logs.Action, logs.Actions, out PresentActions);
            PositionColumn = Columns(logs.Position, logs.Positions, out PresentPositions);
            if (logs.Positions == 1) PresentPositions = 0;   // a single position carries no information
            Dim = logs.ContextDim + PresentActions + PresentPositions + logs.ActionContextDim;
        }

        private static int[] Columns(int[] ids, int range, out int present)
        {
            var col = new int[range];
            Array.Fill(col, -1);
            foreach (var id in ids) col[id] = 0;
            present = 0;
            for (int a = 0; a < range; a++) if (col[a] == 0) col[a] = present++;
            return col;
        }

        public void Features(BanditFeedback logs, int row, int action, int position, Span<float> f)
        {
            f.Clear();
            logs.ContextOf(row).CopyTo(f);
            int o = logs.ContextDim;
            if (ActionColumn[action] >= 0) f[o + ActionColumn[action]] = 1;
            o += PresentActions;
            if (PresentPositions > 0 && PositionColumn[position] >= 0) f[o + PositionColumn[position]] = 1;
            o += PresentPositions;
            if (logs.ActionContext is not null)
                logs.ActionContext.AsSpan(action * logs.ActionContextDim, logs.ActionContextDim).CopyTo(f[o..]);
        }
    }

    /// <summary>The width of the reward model's features for these logs.</summary>
    public static int FeatureDim(BanditFeedback logs) => new Layout(logs).Dim;

    /// <summary>Predicted rewards [rows, actions, positions].</summary>
    public static float[] FitPredict(BanditFeedback logs, Func<IRegressor> make, int folds = 3, ulong seed = 0)
    {
        int n = logs.Count, A = logs.Actions, P = logs.Positions;
        if (folds < 1) throw new ArgumentOutOfRangeException(nameof(folds), $"folds must be >= 1, got {folds}");
        var layout = new Layout(logs);
        int d = layout.Dim;
        var q = new float[ActionDistribution.Cells(n, A, P)];
        var fold = new int[n];
        var perm = new Rng(seed).Permutation(n);
        for (int i = 0; i < n; i++) fold[perm[i]] = i % folds;
        var f = new float[d];
        // Without action features every absent action has the same features at a row and position: predicted once.
        bool shareAbsent = logs.ActionContext is null && layout.PresentActions < A;
        int firstAbsent = Array.IndexOf(layout.ActionColumn, -1);
        for (int k = 0; k < folds; k++)
        {
            var train = new List<int>();
            for (int i = 0; i < n; i++) if (folds == 1 || fold[i] != k) train.Add(i);
            var x = new float[train.Count * d]; var y = new float[train.Count];
            for (int j = 0; j < train.Count; j++)
            {
                int i = train[j];
                layout.Features(logs, i, logs.Action[i], logs.Position[i], x.AsSpan(j * d, d));
                y[j] = logs.Reward[i];
            }
            var model = make();
            model.Fit(x, d, y);
            for (int i = 0; i < n; i++)
            {
                if (folds > 1 && fold[i] != k) continue;
                for (int p = 0; p < P; p++)
                {
                    float absent = 0;
                    if (shareAbsent)
                    {
                        layout.Features(logs, i, firstAbsent, p, f);
                        absent = (float)model.Predict(f);
                    }
                    for (int a = 0; a < A; a++)
                    {
                        if (shareAbsent && layout.ActionColumn[a] < 0) { q[(i * A + a) * P + p] = absent; continue; }
                        layout.Features(logs, i, a, p, f);
                        q[(i * A + a) * P + p] = (float)model.Predict(f);
                    }
                }
            }
        }
        return q;
    }

    /// <summary>A regressor by name: ridge, logistic, mlp.</summary>
    public static Func<IRegressor> ByName(string name, ulong seed = 0, double lambda = 1.0) => name.ToLowerInvariant() switch
    {
        "ridge" => () => new RidgeRegression(lambda),
        "logistic" => () => new LogisticRegression(lambda),
        "mlp" => () => new MlpRegressor([64, 64], seed: seed, binary: false),
        "mlp-logistic" => () => new MlpRegressor([64, 64], seed: seed, binary: true),
        _ => throw new ArgumentException($"reward model '{name}': expected ridge, logistic, mlp or mlp-logistic"),
    };
}
