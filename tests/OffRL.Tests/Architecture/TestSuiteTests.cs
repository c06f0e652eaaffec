using System.Reflection;
using Xunit;

namespace OffRL.Tests.Architecture;

/// <summary>The suite's own settings (<see cref="TestProcess"/>, <see cref="LongestFirst"/>) hold.</summary>
public class TestSuiteTests
{
    [Fact]
    public void EveryLongCollectionNamedForTheOrdererExists()
    {
        var types = typeof(TestSuiteTests).Assembly.GetTypes();
        // the name a [CollectionDefinition("...")] gives (its constructor's argument)
        var definitions = types.SelectMany(t => t.GetCustomAttributesData())
            .Where(a => a.AttributeType == typeof(CollectionDefinitionAttribute) && a.ConstructorArguments.Count == 1)
            .Select(a => a.ConstructorArguments[0].Value as string).ToHashSet();
        foreach (var name in LongestFirst.Long)
            Assert.True(types.Any(t => t.FullName == name && t.GetCustomAttribute<CollectionAttribute>() is null) || definitions.Contains(name),
                $"LongestFirst names '{name}', which is neither a test class outside any collection nor a collection definition");
    }

    [Fact]
    public void TheRecipeCacheIsTheRunsOwnFolder()
    {
        Assert.Equal(TestProcess.RecipeCache, Environment.GetEnvironmentVariable("OFFRL_DATA"));
        Assert.StartsWith(Path.GetTempPath(), TestProcess.RecipeCache);
        Assert.Equal(TestProcess.RecipeCache, OffRL.Runs.Recipes.CacheDir);
    }
}
