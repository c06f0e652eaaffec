namespace OffRL;

/// <summary>A data error that says where: file, field, row and column when known.</summary>
public sealed class DataException(string message, string? file = null, string? field = null, long row = -1, int column = -1)
    : Exception(Compose(message, file, field, row, column))
{
    public string? File { get; } = file;
    public string? Field { get; } = field;
    public long Row { get; } = row;
    public int Column { get; } = column;

    private static string Compose(string message, string? file, string? field, long row, int column)
    {
        var where = new List<string>();
        if (file is not null) where.Add(file);
        if (field is not null) where.Add($"field '{field}'");
        if (row >= 0) where.Add($"row {row}");
        if (column >= 0) where.Add($"column {column}");
        return where.Count == 0 ? message : $"{string.Join(", ", where)}: {message}";
    }
}
