using System.Text.Json;
using Microsoft.Data.Sqlite;

namespace Vic.PortLayer.Store;

/// <summary>The kinds of record the port layer keeps; each is its own collection.</summary>
public enum RecordKind
{
    Container,
    Image,
    Volume,
    Network,
    ExecSession,
}

/// <summary>One stored record: its id, its optional unique name, and its JSON body.</summary>
public sealed record StoredRecord(string Id, string? Name, string Body);

/// <summary>A record that could not be read, set aside with why and when: kept for an admin, out of the VCH's way.</summary>
public sealed record QuarantinedRecord(RecordKind Kind, string Id, string? Name, string Body, string Reason, DateTimeOffset At);

/// <summary>
/// The VCH's crash-safe record store: one SQLite file in WAL mode with <c>synchronous=FULL</c>, so a
/// write that returned is on disk and a process killed at any moment reopens to the last acknowledged
/// write, never to a torn one. Every write is one transaction.
/// </summary>
public sealed class VchStore : IDisposable
{
    /// <summary>1: records; 2: and the quarantine of records that could not be read.</summary>
    private const int SchemaVersion = 2;

    private readonly SqliteConnection _connection;
    private readonly Lock _gate = new();

    private VchStore(SqliteConnection connection) => _connection = connection;

    public string Path { get; private init; } = "";

    /// <summary>Where an unreadable store file was moved when this one was made afresh in its place; null when none was.</summary>
    public string? SetAsideFile { get; private init; }

    /// <summary>
    /// Opens the store, making it if it is not there. A file that is not a sound SQLite database (a
    /// disk that lied, a file overwritten) is moved aside with its WAL, kept for an admin, and a fresh
    /// store made: the VCH serves, and takes its containers back from the records their VMs carry.
    /// </summary>
    public static VchStore Open(string path)
    {
        try
        {
            return OpenFile(path);
        }
        catch (SqliteException ex) when (ex.SqliteErrorCode is SqliteNotADatabase or SqliteCorrupt)
        {
            var aside = $"{path}.unreadable-{DateTimeOffset.UtcNow:yyyyMMddTHHmmssZ}";
            SqliteConnection.ClearAllPools();
            foreach (var suffix in new[] { "", "-wal", "-shm" })
            {
                if (File.Exists(path + suffix))
                {
                    File.Move(path + suffix, aside + suffix);
                }
            }

            var fresh = OpenFile(path);
            return new VchStore(fresh._connection) { Path = path, SetAsideFile = aside };
        }
    }

    private const int SqliteCorrupt = 11;
    private const int SqliteFull = 13;
    private const int SqliteNotADatabase = 26;

    private static VchStore OpenFile(string path)
    {
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path))!);
        var connection = new SqliteConnection(new SqliteConnectionStringBuilder
        {
            DataSource = path,
            Mode = SqliteOpenMode.ReadWriteCreate,
            Pooling = false,
        }.ToString());
        connection.Open();
        var store = new VchStore(connection) { Path = path };
        try
        {
            store.Execute("PRAGMA journal_mode=WAL;");
            store.Execute("PRAGMA synchronous=FULL;");
            store.Execute("PRAGMA busy_timeout=5000;");
            store.Migrate();
            if (store.CheckIntegrity() != "ok")
            {
                throw new SqliteException("the store failed SQLite's integrity check", SqliteCorrupt);
            }
        }
        catch
        {
            connection.Dispose();
            throw;
        }

        return store;
    }

    public StoreCollection<T> Collection<T>(RecordKind kind) => new(this, kind);

    public void Put(RecordKind kind, string id, string? name, string body)
    {
        lock (_gate)
        {
            using var command = _connection.CreateCommand();
            command.CommandText =
                "INSERT INTO records(kind, id, name, body) VALUES($kind, $id, $name, $body) " +
                "ON CONFLICT(kind, id) DO UPDATE SET name = excluded.name, body = excluded.body;";
            command.Parameters.AddWithValue("$kind", (int)kind);
            command.Parameters.AddWithValue("$id", id);
            command.Parameters.AddWithValue("$name", (object?)name ?? DBNull.Value);
            command.Parameters.AddWithValue("$body", body);
            Write(command, $"record the {kind.ToString().ToLowerInvariant()} {name ?? id}");
        }
    }

    /// <summary>Removes a record; true when it was there.</summary>
    public bool Delete(RecordKind kind, string id)
    {
        lock (_gate)
        {
            using var command = _connection.CreateCommand();
            command.CommandText = "DELETE FROM records WHERE kind = $kind AND id = $id;";
            command.Parameters.AddWithValue("$kind", (int)kind);
            command.Parameters.AddWithValue("$id", id);
            return Write(command, $"forget the {kind.ToString().ToLowerInvariant()} {id}") > 0;
        }
    }

    /// <summary>
    /// Holds the store to its present size plus <paramref name="morePages"/> pages (SQLite's
    /// <c>max_page_count</c>): to SQLite, what a full disk is, so its handling is tested without one.
    /// </summary>
    internal void HoldToSize(int morePages)
    {
        lock (_gate)
        {
            using var command = _connection.CreateCommand();
            command.CommandText = "PRAGMA page_count;";
            var pages = Convert.ToInt64(command.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture);
            command.CommandText = $"PRAGMA max_page_count = {pages + morePages};";
            command.ExecuteNonQuery();
        }
    }

    /// <summary>
    /// Runs a write. A full disk is the user's to hear about in the words every Docker tool knows
    /// ("no space left on device"), not as SQLite's "database or disk is full"; nothing was written.
    /// </summary>
    private static int Write(SqliteCommand command, string what)
    {
        try
        {
            return command.ExecuteNonQuery();
        }
        catch (SqliteException ex) when (ex.SqliteErrorCode == SqliteFull)
        {
            throw new IOException($"no space left on device: the VCH's store could not {what} ({ex.Message})", ex);
        }
    }

    public StoredRecord? Get(RecordKind kind, string id)
    {
        lock (_gate)
        {
            using var command = _connection.CreateCommand();
            command.CommandText = "SELECT id, name, body FROM records WHERE kind = $kind AND id = $id;";
            command.Parameters.AddWithValue("$kind", (int)kind);
            command.Parameters.AddWithValue("$id", id);
            using var reader = command.ExecuteReader();
            return reader.Read() ? ReadRecord(reader) : null;
        }
    }

    public IReadOnlyList<StoredRecord> List(RecordKind kind)
    {
        lock (_gate)
        {
            using var command = _connection.CreateCommand();
            command.CommandText = "SELECT id, name, body FROM records WHERE kind = $kind ORDER BY rowid;";
            command.Parameters.AddWithValue("$kind", (int)kind);
            using var reader = command.ExecuteReader();
            var records = new List<StoredRecord>();
            while (reader.Read())
            {
                records.Add(ReadRecord(reader));
            }

            return records;
        }
    }

    public long Count(RecordKind kind)
    {
        lock (_gate)
        {
            using var command = _connection.CreateCommand();
            command.CommandText = "SELECT count(*) FROM records WHERE kind = $kind;";
            command.Parameters.AddWithValue("$kind", (int)kind);
            return (long)command.ExecuteScalar()!;
        }
    }

    /// <summary>
    /// Moves a record that cannot be read out of the records into the quarantine, in one transaction,
    /// so the rest of the VCH serves without it and nothing of it is lost.
    /// </summary>
    public void Quarantine(RecordKind kind, string id, string reason)
    {
        lock (_gate)
        {
            using var transaction = _connection.BeginTransaction();
            using var command = _connection.CreateCommand();
            command.Transaction = transaction;
            command.CommandText =
                "INSERT INTO quarantine(kind, id, name, body, reason, at) SELECT kind, id, name, body, $reason, $at FROM records WHERE kind = $kind AND id = $id;" +
                "DELETE FROM records WHERE kind = $kind AND id = $id;";
            command.Parameters.AddWithValue("$kind", (int)kind);
            command.Parameters.AddWithValue("$id", id);
            command.Parameters.AddWithValue("$reason", reason);
            command.Parameters.AddWithValue("$at", DateTimeOffset.UtcNow.ToString("O", System.Globalization.CultureInfo.InvariantCulture));
            command.ExecuteNonQuery();
            transaction.Commit();
        }
    }

    /// <summary>The records set aside because they could not be read, oldest first.</summary>
    public IReadOnlyList<QuarantinedRecord> Quarantined()
    {
        lock (_gate)
        {
            using var command = _connection.CreateCommand();
            command.CommandText = "SELECT kind, id, name, body, reason, at FROM quarantine ORDER BY rowid;";
            using var reader = command.ExecuteReader();
            var records = new List<QuarantinedRecord>();
            while (reader.Read())
            {
                records.Add(new QuarantinedRecord(
                    (RecordKind)reader.GetInt32(0), reader.GetString(1), reader.IsDBNull(2) ? null : reader.GetString(2), reader.GetString(3), reader.GetString(4),
                    DateTimeOffset.Parse(reader.GetString(5), System.Globalization.CultureInfo.InvariantCulture)));
            }

            return records;
        }
    }

    /// <summary>SQLite's own full check of the file; "ok" when the file is sound.</summary>
    public string CheckIntegrity()
    {
        lock (_gate)
        {
            using var command = _connection.CreateCommand();
            command.CommandText = "PRAGMA integrity_check;";
            return (string)command.ExecuteScalar()!;
        }
    }

    public void Dispose() => _connection.Dispose();

    private static StoredRecord ReadRecord(SqliteDataReader reader) =>
        new(reader.GetString(0), reader.IsDBNull(1) ? null : reader.GetString(1), reader.GetString(2));

    private void Migrate()
    {
        using var version = _connection.CreateCommand();
        version.CommandText = "PRAGMA user_version;";
        var current = Convert.ToInt32(version.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture);
        if (current > SchemaVersion)
        {
            throw new InvalidOperationException(
                $"the store {Path} was written by a newer VCH (schema {current}, this build knows {SchemaVersion})");
        }

        if (current == SchemaVersion)
        {
            return;
        }

        using var transaction = _connection.BeginTransaction();
        using var create = _connection.CreateCommand();
        create.Transaction = transaction;
        create.CommandText =
            "CREATE TABLE IF NOT EXISTS records(kind INTEGER NOT NULL, id TEXT NOT NULL, name TEXT, body TEXT NOT NULL, " +
            "PRIMARY KEY(kind, id));" +
            "CREATE UNIQUE INDEX IF NOT EXISTS records_name ON records(kind, name) WHERE name IS NOT NULL;" +
            "CREATE TABLE IF NOT EXISTS quarantine(kind INTEGER NOT NULL, id TEXT NOT NULL, name TEXT, body TEXT NOT NULL, reason TEXT NOT NULL, at TEXT NOT NULL);" +
            $"PRAGMA user_version = {SchemaVersion};";
        create.ExecuteNonQuery();
        transaction.Commit();
    }

    private void Execute(string sql)
    {
        using var command = _connection.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }
}

/// <summary>A typed view of one record kind, stored as JSON.</summary>
public sealed class StoreCollection<T>
{
    private readonly VchStore _store;
    private readonly RecordKind _kind;

    internal StoreCollection(VchStore store, RecordKind kind)
    {
        _store = store;
        _kind = kind;
    }

    public void Put(string id, string? name, T value) =>
        _store.Put(_kind, id, name, JsonSerializer.Serialize(value, StoreJson.Options));

    public bool Delete(string id) => _store.Delete(_kind, id);

    /// <summary>The record, or default when there is none or it could not be read (it is quarantined then).</summary>
    public T? Get(string id) => _store.Get(_kind, id) is { } record ? ReadOrQuarantine(record) : default;

    /// <summary>Every record that can be read; one that cannot is quarantined and left out.</summary>
    public IReadOnlyList<T> List() => [.. _store.List(_kind).Select(ReadOrQuarantine).OfType<T>()];

    private T? ReadOrQuarantine(StoredRecord record)
    {
        try
        {
            return JsonSerializer.Deserialize<T>(record.Body, StoreJson.Options)
                ?? throw new InvalidDataException("the record holds null");
        }
        catch (Exception ex) when (ex is JsonException or InvalidDataException or NotSupportedException or ArgumentException or FormatException or InvalidOperationException)
        {
            _store.Quarantine(_kind, record.Id, $"{typeof(T).Name} could not be read: {ex.Message}");
            return default;
        }
    }
}

internal static class StoreJson
{
    public static readonly JsonSerializerOptions Options = new(JsonSerializerDefaults.Web);
}
