using System.Threading.Channels;
using Vic.Interaction;

namespace Vic.PortLayer.Runtime;

/// <summary>What a <c>docker exec</c> asks for, in the port layer's terms.</summary>
public sealed record ExecOptions(
    IReadOnlyList<string> Args,
    IReadOnlyList<string> Env,
    string WorkingDir,
    string User,
    bool Tty,
    bool AttachStdin,
    bool AttachStdout,
    bool AttachStderr)
{
    /// <summary><c>docker exec --privileged</c>: the process keeps every capability.</summary>
    public bool Privileged { get; init; }

    /// <summary><c>--detach-keys</c> of the exec; null for Docker's ctrl-p,ctrl-q.</summary>
    public string? DetachKeys { get; init; }
}

/// <summary>
/// One <c>docker exec</c>: what to run, in which container, and once started its session number,
/// output and exit code. The exit code is set before the output ends, so a client that sees the end
/// of the stream can ask for it at once.
/// </summary>
public sealed class ExecSession
{
    private readonly Channel<OutputChunk> _output = Channel.CreateUnbounded<OutputChunk>();
    private readonly Channel<byte[]?> _stdin = Channel.CreateUnbounded<byte[]?>();

    public ExecSession(string id, string containerId, ExecOptions options)
    {
        Id = id;
        ContainerId = containerId;
        Options = options;
    }

    public string Id { get; }

    public string ContainerId { get; }

    public ExecOptions Options { get; }

    /// <summary>What the tether is sent to start this session.</summary>
    internal ExecSpec Spec => new()
    {
        Args = Options.Args,
        Env = Options.Env,
        WorkingDir = Options.WorkingDir,
        User = Options.User,
        Tty = Options.Tty,
        OpenStdin = Options.AttachStdin,
        Privileged = Options.Privileged,
    };

    public uint Session { get; set; }

    public bool Running { get; private set; }

    public int? ExitCode { get; private set; }

    public int Pid { get; set; }

    public ChannelReader<OutputChunk> Output => _output.Reader;

    internal ChannelReader<byte[]?> StdinQueue => _stdin.Reader;

    public Task WriteStdinAsync(ReadOnlyMemory<byte> data) => _stdin.Writer.WriteAsync(data.ToArray()).AsTask();

    public Task CloseStdinAsync() => _stdin.Writer.WriteAsync(null).AsTask();

    private bool _keepOutput = true;

    /// <param name="keepOutput">False for a detached session: nobody will read its output.</param>
    internal void MarkRunning(bool keepOutput)
    {
        _keepOutput = keepOutput;
        Running = true;
    }

    internal void Append(OutputChunk chunk)
    {
        if (_keepOutput)
        {
            _output.Writer.TryWrite(chunk);
        }
    }

    internal void Finish(int exitCode)
    {
        ExitCode = exitCode;
        Running = false;
        _stdin.Writer.TryComplete();
        _output.Writer.TryComplete();
    }
}
