using OffRL.Tensors;

namespace OffRL.Data;

/// <summary>
/// Exact nearest neighbours in Euclidean distance over a fixed set of points (a k-d tree, Bentley 1975): built once by
/// median splits on the widest dimension down to leaves of <see cref="LeafSize"/> points, each query searched depth
/// first, nearer side first, a far side skipped when its cell is farther than the best point so far (the query's
/// squared distance to the cell kept incrementally down the path, Arya and Mount 1993, as scipy's cKDTree bounds it:
/// far stronger than the splitting plane alone when a query lies away from the data, as PRDC's early policy's do). PRDC's
/// dataset constraint (Ran et al. 2023) asks, for every state of a batch, the dataset's [beta s, a] nearest to
/// [beta s, pi(s)]: <see cref="Nearest(float[], int, int[])"/> answers a whole batch across the engine's cores. The answer
/// is the brute-force one: the smallest squared distance (summed over the dimensions in order, in single precision), the
/// lowest index among equals. No .NET package here offers an exact k-d tree (the feed serves none), hence this one.
/// </summary>
public sealed class KdTree
{
    /// <summary>Points per leaf: a leaf's points are scanned one after the other.</summary>
    public const int LeafSize = 16;

    private readonly int _dim, _count;
    private readonly float[] _points;   // in leaf order, row-major
    private readonly int[] _index;      // original index of each row of _points
    private readonly Node[] _nodes;
    private int _nodeCount;

    private struct Node
    {
        public int Lo, Hi;        // rows [Lo, Hi) of _points under this node
        public int Left, Right;   // children (-1: a leaf)
        public int SplitDim;
        public float Split;       // left holds values <= Split, right values >= Split on SplitDim
    }

    /// <summary>The number of points.</summary>
    public int Count => _count;

    /// <summary>Values per point.</summary>
    public int Dimension => _dim;

    /// <summary>
    /// A tree over <paramref name="count"/> points of <paramref name="dimension"/> values each, row-major in
    /// <paramref name="points"/> (copied). Every value must be finite: a NaN or infinity is refused naming its row and column.
    /// </summary>
    public KdTree(ReadOnlySpan<float> points, int count, int dimension)
    {
        if (dimension < 1) throw new ArgumentOutOfRangeException(nameof(dimension), $"k-d tree: dimension must be >= 1, got {dimension}");
        if (count < 1) throw new ArgumentOutOfRangeException(nameof(count), $"k-d tree: needs at least one point, got {count}");
        if (points.Length != (long)count * dimension)
            throw new ArgumentException($"k-d tree: {count} points of {dimension} values need {(long)count * dimension} values, got {points.Length}", nameof(points));
        for (int i = 0; i < points.Length; i++)
            if (!float.IsFinite(points[i])) throw new DataException($"k-d tree: point {i / dimension}, value {i % dimension} is {points[i]} (not finite)", null, "points", i / dimension, i % dimension);
        _dim = dimension;
        _count = count;
        var order = new int[count];
        for (int i = 0; i < count; i++) order[i] = i;
        _nodes = new Node[2 * (count / (LeafSize / 2) + 1)];   // a split leaf's halves hold at least LeafSize / 2 points each
        var source = points.ToArray();
        Build(source, order, 0, count);
        _points = new float[points.Length];
        _index = order;
        for (int r = 0; r < count; r++) Array.Copy(source, order[r] * dimension, _points, r * dimension, dimension);
    }

    private int Build(float[] pts, int[] order, int lo, int hi)
    {
        if (_nodeCount == _nodes.Length) throw new InvalidOperationException("k-d tree: node table full");
        int id = _nodeCount++;
        _nodes[id] = new Node { Lo = lo, Hi = hi, Left = -1, Right = -1 };
        if (hi - lo <= LeafSize) return id;
        // the widest dimension of this range
        int best = 0;
        float widest = -1f;
        for (int d = 0; d < _dim; d++)
        {
            float min = float.PositiveInfinity, max = float.NegativeInfinity;
            for (int r = lo; r < hi; r++)
            {
                float v = pts[order[r] * _dim + d];
                if (v < min) min = v;
                if (v > max) max = v;
            }
            if (max - min > widest) { widest = max - min; best = d; }
        }
        if (widest <= 0f) return id;   // all points equal: one leaf, however many
        int mid = (lo + hi) / 2;
        Select(pts, order, lo, hi - 1, mid, best);
        _nodes[id].SplitDim = best;
        _nodes[id].Split = pts[order[mid] * _dim + best];
        int left = Build(pts, order, lo, mid);
        int right = Build(pts, order, mid, hi);
        _nodes[id].Left = left;
        _nodes[id].Right = right;
        return id;
    }

    /// <summary>Quickselect: order[k] holds the k-th smallest value on <paramref name="d"/> in [lo, hi], smaller ones before, larger after.</summary>
    private void Select(float[] pts, int[] order, int lo, int hi, int k, int d)
    {
        while (hi > lo)
        {
            float pivot = pts[order[(lo + hi) >>> 1] * _dim + d];
            int i = lo, j = hi;
            while (i <= j)
            {
                while (pts[order[i] * _dim + d] < pivot) i++;
                while (pts[order[j] * _dim + d] > pivot) j--;
                if (i <= j) { (order[i], order[j]) = (order[j], order[i]); i++; j--; }
            }
            if (k <= j) hi = j;
            else if (k >= i) lo = i;
            else return;
        }
    }

    /// <summary>The index (in the order given) of the point nearest <paramref name="query"/>.</summary>
    public int Nearest(ReadOnlySpan<float> query)
    {
        if (query.Length != _dim) throw new ArgumentException($"k-d tree: a query has {_dim} values, got {query.Length}", nameof(query));
        return Search(query);
    }

    /// <summary>
    /// The nearest point's index for each of <paramref name="queries"/> rows of <paramref name="query"/> (row-major),
    /// written to <paramref name="result"/>; the rows are spread over the engine's cores. One batch at a time per tree.
    /// </summary>
    public void Nearest(float[] query, int queries, int[] result)
    {
        if (query.Length < (long)queries * _dim) throw new ArgumentException($"k-d tree: {queries} queries of {_dim} values need {(long)queries * _dim} values, got {query.Length}", nameof(query));
        if (result.Length < queries) throw new ArgumentException($"k-d tree: {queries} queries need {queries} results, got room for {result.Length}", nameof(result));
        _batch ??= new Batch(this);
        _batch.Run(query, queries, result);
    }

    private Batch? _batch;

    /// <summary>A batch's queries in chunks over the cores (kept with the tree: no allocation per batch).</summary>
    private sealed class Batch
    {
        private const int Chunk = 32;
        private readonly KdTree _tree;
        private readonly Action<int> _runChunk;
        private float[] _query = [];
        private int[] _result = [];
        private int _queries;

        public Batch(KdTree tree) => (_tree, _runChunk) = (tree, RunChunk);

        public void Run(float[] query, int queries, int[] result)
        {
            (_query, _result, _queries) = (query, result, queries);
            try { Gemm.ParallelFor((queries + Chunk - 1) / Chunk, _runChunk); }
            finally { (_query, _result) = ([], []); }
        }

        private void RunChunk(int c)
        {
            int end = Math.Min(_queries, (c + 1) * Chunk), d = _tree._dim;
            for (int q = c * Chunk; q < end; q++) _result[q] = _tree.Search(_query.AsSpan(q * d, d));
        }
    }

    private int Search(ReadOnlySpan<float> q)
    {
        Span<float> offset = stackalloc float[_dim];   // the query's distance to the cell along each dimension (0: inside)
        offset.Clear();
        float best = float.PositiveInfinity;
        int bestIndex = int.MaxValue;
        Visit(0, 0f, q, offset, ref best, ref bestIndex);
        return bestIndex;
    }

    /// <summary>
    /// Searches node <paramref name="id"/>, whose cell is at squared distance <paramref name="cell"/> from the query
    /// (Arya and Mount 1993's incremental distance: the sum over dimensions of the squared offsets in
    /// <paramref name="offset"/>), nearer child first; the farther child only when its cell, whose offset along the
    /// split is the query's distance to the plane, may hold a point as near as the best (a small slack keeps points at
    /// exactly the best distance, so the lowest index among equals wins as in a brute-force scan).
    /// </summary>
    private void Visit(int id, float cell, ReadOnlySpan<float> q, Span<float> offset, ref float best, ref int bestIndex)
    {
        ref readonly var n = ref _nodes[id];
        if (n.Left < 0)
        {
            for (int r = n.Lo; r < n.Hi; r++)
            {
                var p = _points.AsSpan(r * _dim, _dim);
                float s = 0f;
                for (int k = 0; k < _dim; k++) { float diff = q[k] - p[k]; s += diff * diff; }
                if (s < best || (s == best && _index[r] < bestIndex)) { best = s; bestIndex = _index[r]; }
            }
            return;
        }
        int d = n.SplitDim;
        float delta = q[d] - n.Split;
        int near = delta <= 0f ? n.Left : n.Right, far = delta <= 0f ? n.Right : n.Left;
        Visit(near, cell, q, offset, ref best, ref bestIndex);
        float old = offset[d];
        float farCell = cell - old * old + delta * delta;
        if (farCell <= best * (1f + 1e-5f))
        {
            offset[d] = delta;
            Visit(far, farCell, q, offset, ref best, ref bestIndex);
            offset[d] = old;
        }
    }
}
