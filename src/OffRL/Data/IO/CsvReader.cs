using System.Globalization;

namespace OffRL.Data.IO;

/// <summary>
/// Reads a CSV file (RFC 4180 quoting) record by record, checking as it goes: a header with distinct column names
/// (unnamed columns, such as pandas' index, are allowed); the same number of fields in every record; cells parsed exactly (finite numbers, integers, 0/1 flags).
/// Every error is a <see cref="DataException"/> naming the file, the 1-based line (the header is line 1) and the column.
/// Blank lines are skipped. Every CSV reader in OffRL (datasets, bandit logs, the Open Bandit Dataset) reads through it.
/// </summary>
public sealed class CsvReader : IDisposable
{
    private readonly StreamReader _reader;
    private readonly Dictionary<string, int> _index = new(StringComparer.Ordinal);
    public string Path { get; }
    public IReadOnlyList<string> Header { get; }
    /// <summary>The line of the current record (1-based; the header is line 1).</summary>
    public int Line { get; private set; } = 1;
    /// <summary>Records read so far.</summary>
    public int Records { get; private set; }
    private List<string> _fields = [];

    private CsvReader(string path, StreamReader reader, List<string> header)
    {
        Path = path; _reader = reader; Header = header;
        for (int i = 0; i < header.Count; i++)
        {
            if (header[i].Length == 0) continue;   // an unnamed column (pandas' index) is kept but cannot be named
            if (!_index.TryAdd(header[i], i)) throw new DataException($"column '{header[i]}' appears twice in the header (columns {_index[header[i]]} and {i})", path, header[i], 1);
        }
    }

    public static CsvReader Open(string path)
    {
        if (!File.Exists(path)) throw new DataException("file not found", path);
        var reader = new StreamReader(path);
        try
        {
            var headerLine = reader.ReadLine();
            if (string.IsNullOrWhiteSpace(headerLine)) throw new DataException("the file is empty (no header line)", path, null, 1);
            return new CsvReader(path, reader, Split(headerLine, path, 1).Select(h => h.Trim()).ToList());
        }
        catch { reader.Dispose(); throw; }
    }

    /// <summary>Moves to the next record; false at the end of the file.</summary>
    public bool Next()
    {
        string? line;
        while ((line = _reader.ReadLine()) is not null)
        {
            Line++;
            if (line.Length == 0) continue;
            _fields = Split(line, Path, Line);
            if (_fields.Count != Header.Count) throw new DataException($"has {_fields.Count} fields, the header has {Header.Count}", Path, null, Line);
            Records++;
            return true;
        }
        return false;
    }

    /// <summary>Fails unless at least one record was read (call at the end).</summary>
    public void RequireRecords()
    {
        if (Records == 0) throw new DataException("has a header but no records (zero rows)", Path, null, Line);
    }

    public bool Has(string name) => _index.ContainsKey(name);

    public int Col(string name) => _index.TryGetValue(name, out var c) ? c
        : throw new DataException($"column '{name}' is not in the header ({string.Join(", ", Header)})", Path, name, 1);

    /// <summary>The current record's fields (valid until <see cref="Next"/>).</summary>
    public IReadOnlyList<string> Fields => _fields;

    public string Cell(int col) => _fields[col].Trim();

    public float Number(int col) => ParseNumber(Cell(col), Path, Header[col], Line);

    public int Integer(int col) => ParseInteger(Cell(col), Path, Header[col], Line);

    public bool Flag(int col) => Cell(col).ToLowerInvariant() switch
    {
        "1" or "true" or "1.0" => true,
        "0" or "false" or "0.0" => false,
        var s => throw new DataException($"'{s}' is not a flag (0/1/true/false)", Path, Header[col], Line),
    };

    public static float ParseNumber(string s, string file, string field, long line)
    {
        if (!float.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var v))
            throw new DataException($"'{s}' is not a number", file, field, line);
        if (!float.IsFinite(v)) throw new DataException($"value is {s} (NaN, infinite or beyond float range)", file, field, line);
        return v;
    }

    public static int ParseInteger(string s, string file, string field, long line)
    {
        if (int.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out var v)) return v;
        if (double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) && d == Math.Floor(d) && Math.Abs(d) < int.MaxValue) return (int)d;
        throw new DataException($"'{s}' is not an integer in {int.MinValue}..{int.MaxValue}", file, field, line);
    }

    /// <summary>RFC 4180 field splitting (double-quoted fields may hold commas and doubled quotes).</summary>
    public static List<string> Split(string line, string file, int lineNo)
    {
        var fields = new List<string>();
        var sb = new System.Text.StringBuilder();
        bool quoted = false;
        for (int i = 0; i < line.Length; i++)
        {
            char ch = line[i];
            if (quoted)
            {
                if (ch == '"' && i + 1 < line.Length && line[i + 1] == '"') { sb.Append('"'); i++; }
                else if (ch == '"') quoted = false;
                else sb.Append(ch);
            }
            else if (ch == '"') quoted = true;
            else if (ch == ',') { fields.Add(sb.ToString()); sb.Clear(); }
            else sb.Append(ch);
        }
        if (quoted) throw new DataException("a quoted field is not closed", file, null, lineNo);
        fields.Add(sb.ToString());
        return fields;
    }

    public void Dispose() => _reader.Dispose();
}
