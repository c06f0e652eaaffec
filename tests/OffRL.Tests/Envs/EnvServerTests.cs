using System.Text;
using System.Text.Json;
using OffRL.Envs;
using OffRL.Tests.Cli;
using Xunit;

namespace OffRL.Tests.Envs;

/// <summary>`offrl env serve` (<see cref="EnvServer"/>): another program steps OffRL's environment and sees what OffRL sees.</summary>
public class EnvServerTests
{
    [Fact]
    public void AServedEpisodeIsTheEnvironmentsOwnToTheLastBit()
    {
        var actions = new[] { 0.3f, -1.7f, 2f, 0.1234567f, -0.5f };
        var requests = new StringBuilder("{\"reset\": 11}\n");
        foreach (var a in actions) requests.Append($"{{\"step\": [{a.ToString("R", System.Globalization.CultureInfo.InvariantCulture)}]}}\n");
        var output = new StringWriter();
        Assert.Equal(0, EnvServer.Serve(EnvRegistry.Make("pendulum"), "pendulum", 200, new StringReader(requests.ToString()), output));
        var lines = output.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement).ToArray();
        Assert.Equal(3, lines[0].GetProperty("observation_dim").GetInt32());
        Assert.Equal(2f, lines[0].GetProperty("action_high")[0].GetSingle());
        Assert.Equal(200, lines[0].GetProperty("max_episode_steps").GetInt32());
        Assert.True(NormalizedScore.TryGet("pendulum", out var reference));
        Assert.Equal(reference.Random, lines[0].GetProperty("score_random").GetDouble());

        using var env = EnvRegistry.Make("pendulum");
        var obs = new float[3];
        env.Reset(11, obs);
        Assert.Equal(obs, lines[1].GetProperty("observation").EnumerateArray().Select(v => v.GetSingle()));
        for (int t = 0; t < actions.Length; t++)
        {
            var r = env.Step([actions[t]], obs);
            var got = lines[2 + t];
            Assert.Equal(obs, got.GetProperty("observation").EnumerateArray().Select(v => v.GetSingle()));
            Assert.Equal(r.Reward, got.GetProperty("reward").GetSingle());
            Assert.False(got.GetProperty("terminated").GetBoolean());
        }
    }

    [Fact]
    public void ARequestItCannotFollowIsAnErrorLineNamingItAndServingGoesOn()
    {
        var output = new StringWriter();
        int refused = EnvServer.Serve(EnvRegistry.Make("pendulum"), "pendulum", 200,
            new StringReader("{\"step\": [0]}\n{\"reset\": 1}\n{\"step\": [1, 2]}\n{\"step\": [\"x\"]}\n{\"jump\": 1}\n{oops\n{\"step\": [0.5]}\n"), output);
        var lines = output.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(5, refused);
        Assert.Contains("line 1: 'step' before 'reset'", lines[1]);
        Assert.Contains("line 3: 'step' must be an array of 1 numbers", lines[3]);
        Assert.Contains("line 4: 'step' value 0", lines[4]);
        Assert.Contains("line 5: expected", lines[5]);
        Assert.Contains("line 6:", lines[6]);
        Assert.Contains("\"reward\"", lines[7]);   // and the episode goes on
    }

    [Fact]
    public void TheCommandServesOverStandardInputAndOutput()
    {
        var run = CliProcess.Run(["env", "serve", "--env", "pendulum"], stdin: "{\"reset\": 0}\n{\"step\": [0]}\n");
        Assert.True(run.Code == 0, run.Err);
        var lines = run.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(3, lines.Length);
        Assert.Contains("\"observation\"", lines[2]);
        CliProcess.Run(["env", "serve", "--env", "nowhere"]).RefusedNaming("nowhere");
    }
}
