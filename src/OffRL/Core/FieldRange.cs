using System.Collections;
using System.Globalization;
using System.Reflection;

namespace OffRL;

/// <summary>
/// The values a config field accepts, written beside the field and its doc comment as an interval:
/// <c>[FieldRange("(0, 1]")]</c>, <c>[FieldRange("[1, 1000000]")]</c>, <c>[FieldRange("(0, inf)")]</c>. On a list field
/// (e.g. hidden widths) it bounds every element and the list must be given, unless declared nullable, and not empty.
/// </summary>
[AttributeUsage(AttributeTargets.Property)]
public sealed class FieldRangeAttribute : Attribute
{
    public string Interval { get; }
    public double Low { get; }
    public double High { get; }
    public bool LowOpen { get; }
    public bool HighOpen { get; }

    public FieldRangeAttribute(string interval)
    {
        Interval = interval;
        var s = interval.Trim();
        if (s.Length < 5 || (s[0] != '(' && s[0] != '[') || (s[^1] != ')' && s[^1] != ']') || s.IndexOf(',') < 0)
            throw new ArgumentException($"'{interval}' is not an interval like (0, 1]");
        LowOpen = s[0] == '(';
        HighOpen = s[^1] == ')';
        var parts = s[1..^1].Split(',');
        Low = Parse(parts[0]);
        High = Parse(parts[1]);
    }

    private static double Parse(string s) => s.Trim() switch
    {
        "inf" or "+inf" => double.PositiveInfinity,
        "-inf" => double.NegativeInfinity,
        var t => double.Parse(t, CultureInfo.InvariantCulture),
    };

    public bool Contains(double v) =>
        (LowOpen ? v > Low : v >= Low) && (HighOpen ? v < High : v <= High);

    /// <summary>
    /// Why <paramref name="v"/> is not accepted (not finite, or outside the interval), as the end of a sentence that
    /// starts with what is judged: "must be in [1, inf), got 0"; null when it is accepted.
    /// </summary>
    public string? Judge(double v) =>
        !double.IsFinite(v) ? $"must be a finite number in {Interval}, got {FieldRange.Format(v)}"
        : !Contains(v) ? $"must be in {Interval}, got {FieldRange.Format(v)}" : null;
}

/// <summary>
/// Checks a config record's fields in one place for every config: each float/double must be finite (NaN and
/// infinities are never a setting) and each field with a <see cref="FieldRangeAttribute"/> must lie in its interval.
/// The CLI, config files and the library API all reach this through the records' <c>Validate</c>, so they refuse the
/// same values with the same message: <c>config: field 'tau' of IqlConfig must be in (0, 1], got -1</c>.
/// </summary>
public static class FieldRange
{
    public static void Check(object config)
    {
        var type = config.GetType();
        var nullability = new NullabilityInfoContext();   // not thread-safe: one per call
        foreach (var p in type.GetProperties(BindingFlags.Public | BindingFlags.Instance))
        {
            if (p.GetIndexParameters().Length > 0 || !p.CanRead || p.GetCustomAttribute<ObsoleteAttribute>() is not null) continue;
            var range = p.GetCustomAttribute<FieldRangeAttribute>();
            var value = p.GetValue(config);
            string name = Snake(p.Name);
            // A ranged list (a reference) must be given unless declared nullable (int[]?); a ranged nullable number
            // (int?, long?) may be null: "not set".
            if (value is null && range is not null && !p.PropertyType.IsValueType && nullability.Create(p).ReadState != NullabilityState.Nullable)
                throw Fail(type, name, $"must be a list with every value in {range.Interval}, got null");
            if (value is IEnumerable list and not string && range is not null)
            {
                int n = 0;
                foreach (var x in list)
                {
                    CheckOne(type, name, x, range, $" (element {n})");
                    n++;
                }
                if (n == 0) throw Fail(type, name, $"must be a non-empty list with every value in {range.Interval}, got []");
                continue;
            }
            CheckOne(type, name, value, range, "");
        }
    }

    private static void CheckOne(Type type, string name, object? value, FieldRangeAttribute? range, string where)
    {
        double? v = value switch
        {
            float f => f, double d => d, int i => i, long l => l, short s => s, ulong u => u, uint u => u, byte b => b,
            _ => null,
        };
        if (v is not { } x) return;
        if (!double.IsFinite(x)) throw Fail(type, name, $"must be a finite number{where}, got {Format(x)}");
        if (range is not null && !range.Contains(x)) throw Fail(type, name, $"must be in {range.Interval}{where}, got {Format(x)}");
    }

    /// <summary>PascalCase field name as config files write it: ActorLr -> actor_lr.</summary>
    public static string Snake(string pascal)
    {
        var sb = new System.Text.StringBuilder();
        for (int i = 0; i < pascal.Length; i++)
        {
            char c = pascal[i];
            // a word starts at a capital after a lower-case letter or digit (ActorLr), or at the last capital of a run
            // followed by a lower-case letter (NStep -> n_step)
            if (char.IsUpper(c) && i > 0 && (!char.IsUpper(pascal[i - 1]) || (i + 1 < pascal.Length && char.IsLower(pascal[i + 1])))) sb.Append('_');
            sb.Append(char.ToLowerInvariant(c));
        }
        return sb.ToString();
    }

    internal static string Format(double x) => x.ToString("G", CultureInfo.InvariantCulture);

    private static ArgumentException Fail(Type type, string name, string what) =>
        new($"config: field '{name}' of {type.Name} {what}");
}
