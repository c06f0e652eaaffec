using OffRL.IO;
using Xunit;

namespace OffRL.Tests.IO;

/// <summary>A field set twice in one config is an error, never "last wins": JSON keys, YAML case/underscore variants, repeated --set.</summary>
public sealed class DuplicateKeyTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("offrl-dupkeys-").FullName;
    public void Dispose() { try { Directory.Delete(_dir, true); } catch { } }

    private string Write(string name, string text)
    {
        var p = Path.Combine(_dir, name);
        File.WriteAllText(p, text);
        return p;
    }

    [Theory]
    [InlineData("a.json", """{"tau": 0.1, "tau": 0.2}""", "tau")]
    [InlineData("b.json", """{"tau": 0.1, "Tau": 0.2}""", "Tau")]
    [InlineData("c.json", """{"policy_freq": 2, "policyFreq": 3}""", "policyFreq")]
    [InlineData("d.yaml", "tau: 0.1\nTau: 0.2\n", "Tau")]
    [InlineData("e.yaml", "policy_freq: 2\npolicyfreq: 3\n", "policyfreq")]
    [InlineData("f.yaml", "tau: 0.1\ntau: 0.2\n", "tau")]
    public void A_field_given_twice_in_a_file_is_refused_naming_the_file(string name, string text, string key)
    {
        var e = Assert.Throws<OffRL.DataException>(() => ConfigFile.Overrides(Write(name, text), null));
        Assert.Contains(name, e.Message);
        Assert.Contains(key, e.Message);
    }

    [Fact]
    public void Repeated_set_of_one_field_is_refused_but_set_overrides_the_file()
    {
        var e = Assert.Throws<ArgumentException>(() => ConfigFile.ParseSets(["tau=0.1", "TAU=0.2"]));
        Assert.Contains("'tau' is set twice", e.Message);
        // A --set of a field the file sets (spelled differently) is an override, not a duplicate: the --set value wins.
        var merged = ConfigFile.Overrides(Write("g.yaml", "policy_freq: 2\n"), ["PolicyFreq=5"])!.Value;
        var cfg = ConfigFile.Apply(new OffRL.Algorithms.Td3BcConfig(), merged);
        Assert.Equal(5, cfg.PolicyFreq);
    }

    [Fact]
    public void An_overrides_object_naming_a_field_twice_is_refused()
    {
        var o = System.Text.Json.JsonDocument.Parse("""{"tau": 0.1, "TAU": 0.2}""").RootElement;
        var e = Assert.Throws<ArgumentException>(() => ConfigFile.Apply(new OffRL.Algorithms.Td3BcConfig(), o));
        Assert.Contains("set the same field", e.Message);
    }
}
