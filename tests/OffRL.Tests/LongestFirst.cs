using Xunit;
using Xunit.Abstractions;

[assembly: TestCollectionOrderer("OffRL.Tests.LongestFirst", "OffRL.Tests")]

namespace OffRL.Tests;

/// <summary>
/// Starts the test collections that take minutes first, so that they run beside the hundreds of short ones instead of
/// after them: xunit runs collections on as many threads as there are cores, in the order given here, and a long
/// collection started last sets the suite's time alone (the pendulum datasets' collection, a dataset build and then its
/// tests one after the other, is about four minutes).
/// </summary>
public sealed class LongestFirst : ITestCollectionOrderer
{
    /// <summary>The long collections, longest first (display names: a class without [Collection] is its own).</summary>
    internal static readonly string[] Long =
    [
        "pendulum datasets",
        "OffRL.Tests.Algorithms.DiscreteLearningTests",
        "OffRL.Tests.Algorithms.RecipeBuildTests",
        "OffRL.Tests.Nn.SelfCheckTests",
    ];

    public IEnumerable<ITestCollection> OrderTestCollections(IEnumerable<ITestCollection> testCollections)
    {
        static int Rank(ITestCollection c)
        {
            for (int i = 0; i < Long.Length; i++)
                if (c.DisplayName == Long[i] || c.DisplayName.EndsWith(" " + Long[i], StringComparison.Ordinal))
                    return i;
            return Long.Length;
        }
        return testCollections.OrderBy(Rank);   // stable: the others keep xunit's order
    }
}
