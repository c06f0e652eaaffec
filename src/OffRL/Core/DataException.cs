namespace OffRL;

/// <summary>
/// A data error that says where, as one line: <c>FILE, row N, field F[, column C]: what is wrong</c>. Rows count from 1
/// everywhere: the line of a text file (a CSV's header is line 1, so its first record is row 2), the record of a table
/// (the first row of a Parquet or HDF5 dataset is row 1). Columns count from 0 within a field's values.
/// </summary>
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
        if (row >= 0) where.Add($"row {row}");
        if (field is not null) where.Add($"field '{field}'");
        if (column >= 0) where.Add($"column {column}");
        return where.Count == 0 ? message : $"{string.Join(", ", where)}: {message}";
    }
}
