using System.CommandLine;
using System.CommandLine.Parsing;

namespace OffRL.Cli;

/// <summary>
/// Options judged like config fields: the accepted interval is declared once, beside the option, and checked by
/// <see cref="FieldRangeAttribute"/> (the mechanism of every config record), so `--bootstrap 0` fails as
/// `error: --bootstrap must be in [2, 1000000], got 0` through the parser's one error path (exit 2) before anything
/// runs. The interval is appended to the option's help text.
/// </summary>
internal static class Judged
{
    public static Option<T> InRange<T>(this Option<T> option, string interval)
    {
        var range = new FieldRangeAttribute(interval);
        option.Description = $"{option.Description} (in {interval})";
        option.Validators.Add(result =>
        {
            if (result.Implicit) return;   // the option's own default
            T value;
            try { value = result.GetValueOrDefault<T>(); }
            catch (InvalidOperationException) { return; }   // not a value of the type: the parser reports that itself
            if (ToDouble(value) is { } x && range.Judge(x) is { } why) result.AddError($"{option.Name} {why}");
        });
        return option;
    }

    /// <summary>A comma-separated option as its items: trimmed, none empty, none given twice (compared case-insensitively).</summary>
    public static string[] Items(string option, string value)
    {
        var items = value.Split(',', StringSplitOptions.TrimEntries);
        var seen = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach (var item in items)
        {
            if (item.Length == 0) throw new ArgumentException($"{option}: '{value}' has an empty item; give comma-separated names");
            if (!seen.Add(item)) throw new ArgumentException($"{option}: '{item}' is given twice in '{value}'");
        }
        return items;
    }

    /// <summary>Estimator names as the estimators know them (lower case), each once, in the order given.</summary>
    public static string[] Names(string option, string value) => Array.ConvertAll(Items(option, value), n => n.ToLowerInvariant());

    /// <summary>A comma-separated list of integers, each in <paramref name="interval"/>, none twice.</summary>
    public static int[] Integers(string option, string value, string interval)
    {
        var range = new FieldRangeAttribute(interval);
        var items = Items(option, value);
        var result = new int[items.Length];
        for (int i = 0; i < items.Length; i++)
        {
            if (!int.TryParse(items[i], System.Globalization.NumberStyles.Integer, System.Globalization.CultureInfo.InvariantCulture, out result[i]))
                throw new ArgumentException($"{option}: '{items[i]}' is not an integer (expected comma-separated integers in {interval})");
            if (range.Judge(result[i]) is { } why) throw new ArgumentException($"{option}: each value {why}");
        }
        return result;
    }

    private static double? ToDouble<T>(T value) => value switch
    {
        int i => i, long l => l, float f => f, double d => d, ulong u => u, uint u => u, short s => s,
        _ => null,
    };
}
