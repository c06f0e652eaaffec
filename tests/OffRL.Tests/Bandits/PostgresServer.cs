using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Xunit;

namespace OffRL.Tests.Bandits;

/// <summary>
/// A private PostgreSQL server for the decision-log backend tests: Debian's server binaries (scripts/install-deps.sh
/// installs them), a fresh cluster in a temp folder, trust authentication, listening on 127.0.0.1 and a free port only,
/// stopped and deleted when the tests end. Run as the postgres user when the tests run as root (initdb refuses root).
/// Where no server can start, <see cref="Unavailable"/> says why and the tests that need it say so and return.
/// </summary>
public sealed class PostgresServer : IDisposable
{
    private readonly string? _dir, _bin;
    private readonly bool _asPostgres;
    public string? Unavailable { get; }
    public string Url { get; } = "";
    private int _databases;

    public PostgresServer()
    {
        try
        {
            _bin = Directory.Exists("/usr/lib/postgresql")
                ? Directory.GetDirectories("/usr/lib/postgresql").Select(d => Path.Combine(d, "bin")).Where(d => File.Exists(Path.Combine(d, "initdb"))).OrderDescending().FirstOrDefault()
                : null;
            if (_bin is null) { Unavailable = "PostgreSQL server binaries not found under /usr/lib/postgresql (bash scripts/install-deps.sh installs them)"; return; }
            _asPostgres = Environment.UserName == "root";
            _dir = Path.Combine(Path.GetTempPath(), "offrl-pg-" + Guid.NewGuid().ToString("N")[..12]);
            Directory.CreateDirectory(_dir);
            if (_asPostgres) Run("/bin/chown", ["postgres", _dir], asPostgres: false);
            int port;
            using (var l = new TcpListener(IPAddress.Loopback, 0)) { l.Start(); port = ((IPEndPoint)l.LocalEndpoint).Port; l.Stop(); }
            Run(Path.Combine(_bin, "initdb"), ["-D", Path.Combine(_dir, "data"), "-A", "trust", "-U", "postgres", "--no-sync"], _asPostgres);
            Run(Path.Combine(_bin, "pg_ctl"), ["-D", Path.Combine(_dir, "data"), "-o", $"-k {_dir} -p {port} -c listen_addresses=127.0.0.1", "-l", Path.Combine(_dir, "log"), "-w", "start"], _asPostgres);
            Url = $"postgres://postgres@127.0.0.1:{port}/postgres";
        }
        catch (Exception e) { Unavailable = $"a private PostgreSQL server could not start ({e.Message.ReplaceLineEndings(" ")})"; }
    }

    /// <summary>A new empty database on the server, for one test.</summary>
    public string NewDatabase()
    {
        string name = $"offrl_{Interlocked.Increment(ref _databases)}_{Guid.NewGuid().ToString("N")[..8]}";
        using var source = Npgsql.NpgsqlDataSource.Create(new Npgsql.NpgsqlConnectionStringBuilder { Host = "127.0.0.1", Port = new Uri(Url).Port, Username = "postgres", Database = "postgres" });
        using var cmd = source.CreateCommand($"CREATE DATABASE {name}");
        cmd.ExecuteNonQuery();
        return Url[..Url.LastIndexOf('/')] + "/" + name;
    }

    private static void Run(string exe, string[] args, bool asPostgres)
    {
        var psi = new ProcessStartInfo(asPostgres ? "/usr/sbin/runuser" : exe) { RedirectStandardOutput = true, RedirectStandardError = true };
        if (asPostgres) foreach (var a in new[] { "-u", "postgres", "--", exe }) psi.ArgumentList.Add(a);
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var err = p.StandardError.ReadToEndAsync();
        p.StandardOutput.ReadToEnd();
        if (!p.WaitForExit(60_000)) { p.Kill(true); throw new TimeoutException($"{Path.GetFileName(exe)} did not finish"); }
        if (p.ExitCode != 0) throw new InvalidOperationException($"{Path.GetFileName(exe)} exited {p.ExitCode}: {err.Result}");
    }

    public void Dispose()
    {
        if (_dir is null || _bin is null) return;
        try { Run(Path.Combine(_bin, "pg_ctl"), ["-D", Path.Combine(_dir, "data"), "-m", "immediate", "stop"], _asPostgres); } catch { }
        try { Directory.Delete(_dir, true); } catch { }
    }
}

[CollectionDefinition("postgres")]
public sealed class PostgresCollection : ICollectionFixture<PostgresServer>;
