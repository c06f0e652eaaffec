using System.Runtime.CompilerServices;

namespace OffRL.Tensors;

/// <summary>Shape of a dense row-major tensor of rank 0..4. A value type: no allocation.</summary>
public readonly struct Shape : IEquatable<Shape>
{
    public const int MaxRank = 4;
    private readonly int _d0, _d1, _d2, _d3;
    public int Rank { get; }

    public Shape(int d0) : this(1, d0, 0, 0, 0) { }
    public Shape(int d0, int d1) : this(2, d0, d1, 0, 0) { }
    public Shape(int d0, int d1, int d2) : this(3, d0, d1, d2, 0) { }
    public Shape(int d0, int d1, int d2, int d3) : this(4, d0, d1, d2, d3) { }

    private Shape(int rank, int d0, int d1, int d2, int d3)
    {
        Rank = rank; _d0 = d0; _d1 = d1; _d2 = d2; _d3 = d3;
        for (int i = 0; i < rank; i++)
            if (this[i] < 0) throw new ArgumentException($"shape {this}: dimension {i} is negative");
    }

    public static Shape Scalar => default;

    public static Shape Of(params ReadOnlySpan<int> dims) => dims.Length switch
    {
        0 => default,
        1 => new Shape(dims[0]),
        2 => new Shape(dims[0], dims[1]),
        3 => new Shape(dims[0], dims[1], dims[2]),
        4 => new Shape(dims[0], dims[1], dims[2], dims[3]),
        _ => throw new ArgumentException($"rank {dims.Length} is above the maximum rank {MaxRank}"),
    };

    public int this[int i]
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get
        {
            if (i < 0) i += Rank;
            if ((uint)i >= (uint)Rank) throw new ArgumentOutOfRangeException(nameof(i), $"axis {i} is out of range for shape {this}");
            return i switch { 0 => _d0, 1 => _d1, 2 => _d2, _ => _d3 };
        }
    }

    public int Size
    {
        get
        {
            int s = 1;
            for (int i = 0; i < Rank; i++) s *= this[i];
            return s;
        }
    }

    /// <summary>Last dimension (1 for a scalar).</summary>
    public int Last => Rank == 0 ? 1 : this[Rank - 1];

    /// <summary>Product of all dimensions but the last (rows of the matrix view).</summary>
    public int Rows => Rank == 0 ? 1 : (Last == 0 ? 0 : Size / Last);

    public int NormalizeAxis(int axis, string op)
    {
        int a = axis < 0 ? axis + Rank : axis;
        if (a < 0 || a >= Rank) throw new ArgumentException($"{op}: axis {axis} is out of range for shape {this}");
        return a;
    }

    /// <summary>Sizes before, at and after an axis: the [outer, dim, inner] view used by axis ops.</summary>
    public (int Outer, int Dim, int Inner) Split(int axis)
    {
        int outer = 1, inner = 1;
        for (int i = 0; i < axis; i++) outer *= this[i];
        for (int i = axis + 1; i < Rank; i++) inner *= this[i];
        return (outer, this[axis], inner);
    }

    public Shape With(int axis, int value)
    {
        Span<int> d = stackalloc int[MaxRank];
        for (int i = 0; i < Rank; i++) d[i] = this[i];
        d[axis] = value;
        return Of(d[..Rank]);
    }

    public Shape Without(int axis)
    {
        Span<int> d = stackalloc int[MaxRank];
        int r = 0;
        for (int i = 0; i < Rank; i++) if (i != axis) d[r++] = this[i];
        return Of(d[..r]);
    }

    public void CopyTo(Span<int> dims)
    {
        for (int i = 0; i < Rank; i++) dims[i] = this[i];
    }

    public int[] ToArray()
    {
        var a = new int[Rank];
        CopyTo(a);
        return a;
    }

    public bool Equals(Shape o)
    {
        if (Rank != o.Rank) return false;
        for (int i = 0; i < Rank; i++) if (this[i] != o[i]) return false;
        return true;
    }

    public override bool Equals(object? obj) => obj is Shape s && Equals(s);
    public override int GetHashCode() => HashCode.Combine(Rank, _d0, _d1, _d2, _d3);
    public static bool operator ==(Shape a, Shape b) => a.Equals(b);
    public static bool operator !=(Shape a, Shape b) => !a.Equals(b);

    public override string ToString()
    {
        var sb = new System.Text.StringBuilder("[");
        for (int i = 0; i < Rank; i++)
        {
            if (i > 0) sb.Append(", ");
            sb.Append(i switch { 0 => _d0, 1 => _d1, 2 => _d2, _ => _d3 });
        }
        return sb.Append(']').ToString();
    }
}
