using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;

namespace Vic.Nfs;

/// <summary>An entry of a directory: its name and whether it is a directory itself.</summary>
public sealed record NfsEntry(string Name, bool IsDirectory);

/// <summary>
/// Just enough NFSv4.0 (RFC 7530) for a volume store to manage its folders on an export without
/// mounting it (the endpoint's host may have no NFS client at all): make folders, list one, remove a
/// tree. Each call is one COMPOUND over ONC RPC (RFC 5531) on TCP, walking from the server's root by
/// name, with AUTH_SYS credentials. Stateless operations only, so no client id or session is needed.
/// </summary>
public sealed class NfsClient : IAsyncDisposable
{
    private const uint NfsProgram = 100003;
    private const uint OpCreate = 6, OpGetattr = 9, OpLookup = 15, OpPutRootFh = 24, OpReaddir = 26, OpRemove = 28;
    private const uint TypeDirectory = 2;

    private readonly TcpClient _tcp;
    private readonly NetworkStream _stream;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly uint _uid;
    private readonly uint _gid;
    private uint _xid = (uint)Random.Shared.Next();

    private NfsClient(TcpClient tcp, uint uid, uint gid)
    {
        _tcp = tcp;
        _stream = tcp.GetStream();
        _uid = uid;
        _gid = gid;
    }

    /// <summary>How long one call may take.</summary>
    public TimeSpan CallTimeout { get; init; } = TimeSpan.FromSeconds(15);

    /// <summary>
    /// Connects to the server. Run as root it sends from a reserved port (below 1024), which servers
    /// that do not say <c>insecure</c> require.
    /// </summary>
    public static async Task<NfsClient> ConnectAsync(IPAddress server, int port, CancellationToken cancellationToken, uint uid = 0, uint gid = 0)
    {
        var tcp = new TcpClient(server.AddressFamily);
        try
        {
            if (Environment.IsPrivilegedProcess)
            {
                BindReservedPort(tcp.Client, server.AddressFamily);
            }

            await tcp.ConnectAsync(server, port, cancellationToken).ConfigureAwait(false);
            tcp.NoDelay = true;
            return new NfsClient(tcp, uid, gid);
        }
        catch
        {
            tcp.Dispose();
            throw;
        }
    }

    /// <summary>Makes <paramref name="path"/> and any missing parents; an existing folder is fine.</summary>
    public async Task MakeDirectoriesAsync(string path, uint mode, CancellationToken cancellationToken)
    {
        var names = Components(path);
        for (var depth = 1; depth <= names.Count; depth++)
        {
            // Only what is missing is created: the export's own path is read-only (a pseudo file system).
            var parent = names.Take(depth - 1).ToList();
            if (await ExistsAsync(string.Join('/', names.Take(depth)), cancellationToken).ConfigureAwait(false))
            {
                continue;
            }

            try
            {
                await CallAsync(Walk(parent).Append(Create(names[depth - 1], mode)), cancellationToken).ConfigureAwait(false);
            }
            catch (NfsException ex) when (ex.Status == NfsException.Exists)
            {
            }
        }
    }

    public async Task<bool> ExistsAsync(string path, CancellationToken cancellationToken)
    {
        try
        {
            await CallAsync(Walk(Components(path)), cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (NfsException ex) when (ex.Status == NfsException.NoEntry)
        {
            return false;
        }
    }

    /// <summary>The entries of the folder at <paramref name="path"/>.</summary>
    public async Task<IReadOnlyList<NfsEntry>> ListAsync(string path, CancellationToken cancellationToken)
    {
        var entries = new List<NfsEntry>();
        ulong cookie = 0;
        var verifier = new byte[8];
        while (true)
        {
            var reply = await CallAsync(Walk(Components(path)).Append(Readdir(cookie, verifier)), cancellationToken).ConfigureAwait(false);
            reply.FixedOpaque(8).CopyTo(verifier);
            while (reply.Bool())
            {
                cookie = reply.UInt64();
                var name = reply.String();
                var (bitmap, values) = (Bitmap(reply), new XdrReader(reply.Opaque()));
                var isDirectory = bitmap.Length > 0 && (bitmap[0] & (1u << 1)) != 0 && values.UInt32() == TypeDirectory;
                entries.Add(new NfsEntry(name, isDirectory));
            }

            if (reply.Bool())
            {
                return entries;
            }
        }
    }

    /// <summary>Removes <paramref name="path"/> and everything under it; a missing path is fine.</summary>
    public async Task RemoveTreeAsync(string path, CancellationToken cancellationToken)
    {
        var names = Components(path);
        if (names.Count == 0)
        {
            throw new ArgumentException("refusing to remove the server's root", nameof(path));
        }

        IReadOnlyList<NfsEntry> children;
        try
        {
            children = await ListAsync(path, cancellationToken).ConfigureAwait(false);
        }
        catch (NfsException ex) when (ex.Status is NfsException.NoEntry or 20)
        {
            children = []; // gone already, or a file: removed below
        }

        foreach (var child in children)
        {
            if (child.IsDirectory)
            {
                await RemoveTreeAsync(path.TrimEnd('/') + "/" + child.Name, cancellationToken).ConfigureAwait(false);
            }
            else
            {
                await CallAsync(Walk(names).Append(Remove(child.Name)), cancellationToken).ConfigureAwait(false);
            }
        }

        try
        {
            await CallAsync(Walk(names.Take(names.Count - 1)).Append(Remove(names[^1])), cancellationToken).ConfigureAwait(false);
        }
        catch (NfsException ex) when (ex.Status == NfsException.NoEntry)
        {
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stream.DisposeAsync().ConfigureAwait(false);
        _tcp.Dispose();
        _gate.Dispose();
    }

    /// <summary>One RPC carrying one COMPOUND; returns the reader positioned at the last operation's result.</summary>
    internal async Task<XdrReader> CallAsync(IEnumerable<Operation> operations, CancellationToken cancellationToken)
    {
        var ops = operations.ToList();
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(CallTimeout);
            var xid = ++_xid;
            await WriteRecordAsync(CallBytes(xid, ops), timeout.Token).ConfigureAwait(false);
            var reply = new XdrReader(await ReadRecordAsync(timeout.Token).ConfigureAwait(false));
            return ReadCompound(reply, xid, ops);
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>The bytes of one call, record mark excluded (the golden tests hold them).</summary>
    internal byte[] CallBytes(uint xid, IReadOnlyList<Operation> ops)
    {
        var credentials = new XdrWriter().UInt32(0).String("vic").UInt32(_uid).UInt32(_gid).UInt32(0).ToArray();
        var call = new XdrWriter()
            .UInt32(xid).UInt32(0).UInt32(2).UInt32(NfsProgram).UInt32(4).UInt32(1)
            .UInt32(1).Opaque(credentials)
            .UInt32(0).Opaque([])
            .String("").UInt32(0).UInt32((uint)ops.Count);
        foreach (var op in ops)
        {
            op.Write(call.UInt32(op.Code));
        }

        return call.ToArray();
    }

    private static XdrReader ReadCompound(XdrReader reply, uint xid, IReadOnlyList<Operation> ops)
    {
        if (reply.UInt32() != xid || reply.UInt32() != 1)
        {
            throw new NfsProtocolException("the reply does not answer the call");
        }

        if (reply.UInt32() != 0)
        {
            throw new NfsProtocolException("the server denied the call (RPC version or credentials refused)");
        }

        reply.UInt32();
        reply.Opaque(400);
        var accepted = reply.UInt32();
        if (accepted != 0)
        {
            throw new NfsProtocolException(accepted switch
            {
                1 => "the server does not serve NFS",
                2 => "the server does not speak NFSv4",
                _ => $"the server did not accept the call (accept_stat {accepted})",
            });
        }

        var status = reply.UInt32();
        reply.Opaque(1024);
        var results = reply.UInt32();
        for (var i = 0; i < results; i++)
        {
            var code = reply.UInt32();
            var opStatus = reply.UInt32();
            if (opStatus != 0)
            {
                throw new NfsException(ops.FirstOrDefault(o => o.Code == code)?.Name ?? $"op {code}", opStatus);
            }

            if (i < results - 1)
            {
                SkipResult(reply, code);
            }
        }

        return status == 0 ? reply : throw new NfsException("COMPOUND", status);
    }

    /// <summary>Steps over the result of an operation that is not the last of its compound.</summary>
    private static void SkipResult(XdrReader reply, uint code)
    {
        switch (code)
        {
            case OpPutRootFh or OpLookup:
                return;
            case OpCreate:
                reply.Bool();
                reply.UInt64();
                reply.UInt64();
                Bitmap(reply);
                return;
            case OpRemove:
                reply.Bool();
                reply.UInt64();
                reply.UInt64();
                return;
            default:
                throw new NfsProtocolException($"op {code} is only read last in a compound");
        }
    }

    private static uint[] Bitmap(XdrReader reply)
    {
        var words = reply.UInt32();
        if (words > 8)
        {
            throw new NfsProtocolException($"an attribute bitmap of {words} words");
        }

        return [.. Enumerable.Range(0, (int)words).Select(_ => reply.UInt32())];
    }

    private async Task WriteRecordAsync(byte[] message, CancellationToken cancellationToken)
    {
        var record = new byte[message.Length + 4];
        BinaryPrimitives.WriteUInt32BigEndian(record, 0x80000000u | (uint)message.Length);
        message.CopyTo(record, 4);
        await _stream.WriteAsync(record, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Reads one RPC record: fragments up to the one marked last.</summary>
    private async Task<byte[]> ReadRecordAsync(CancellationToken cancellationToken)
    {
        var record = new MemoryStream();
        var header = new byte[4];
        while (true)
        {
            await _stream.ReadExactlyAsync(header, cancellationToken).ConfigureAwait(false);
            var mark = BinaryPrimitives.ReadUInt32BigEndian(header);
            var length = (int)(mark & 0x7FFFFFFF);
            if (length > 4 << 20 || record.Length + length > 16 << 20)
            {
                throw new NfsProtocolException($"a reply fragment of {length} bytes");
            }

            var fragment = new byte[length];
            await _stream.ReadExactlyAsync(fragment, cancellationToken).ConfigureAwait(false);
            record.Write(fragment);
            if ((mark & 0x80000000u) != 0)
            {
                return record.ToArray();
            }
        }
    }

    private static List<string> Components(string path) => [.. path.Split('/', StringSplitOptions.RemoveEmptyEntries)];

    private static IEnumerable<Operation> Walk(IEnumerable<string> names) =>
        new[] { new Operation(OpPutRootFh, "PUTROOTFH", _ => { }) }.Concat(names.Select(n => new Operation(OpLookup, "LOOKUP", w => w.String(n))));

    private static Operation Create(string name, uint mode) => new(OpCreate, "CREATE", w => w
        .UInt32(TypeDirectory).String(name)
        .UInt32(2).UInt32(0).UInt32(1u << (33 - 32)) // attrmask: word 1 bit 1, FATTR4_MODE (33)
        .Opaque(new XdrWriter().UInt32(mode).ToArray()));

    private static Operation Remove(string name) => new(OpRemove, "REMOVE", w => w.String(name));

    private static Operation Readdir(ulong cookie, byte[] verifier) => new(OpReaddir, "READDIR", w => w
        .UInt64(cookie).FixedOpaque(verifier).UInt32(8192).UInt32(32768)
        .UInt32(1).UInt32(1u << 1)); // attr_request: FATTR4_TYPE (1)

    private static void BindReservedPort(Socket socket, AddressFamily family)
    {
        var any = family == AddressFamily.InterNetworkV6 ? IPAddress.IPv6Any : IPAddress.Any;
        for (var attempt = 0; attempt < 32; attempt++)
        {
            try
            {
                socket.Bind(new IPEndPoint(any, Random.Shared.Next(600, 1024)));
                return;
            }
            catch (SocketException)
            {
            }
        }
    }

    /// <summary>One operation of a COMPOUND: its code, its name for errors, and how its arguments are written.</summary>
    internal sealed record Operation(uint Code, string Name, Action<XdrWriter> Write);
}
