namespace Vic.Build.Dockerfile;

/// <summary>
/// One Dockerfile instruction as written: its keyword (upper case), its <c>--flag=value</c> options,
/// the rest of its line (continuations joined) and, for the exec forms, the JSON array. Nothing is
/// substituted yet: which parts take <c>$VAR</c> depends on the instruction, and ARG values change
/// from step to step.
/// </summary>
public sealed record Instruction(string Keyword, IReadOnlyDictionary<string, string> Flags, string Arguments, IReadOnlyList<string>? JsonForm, int Line)
{
    /// <summary>The here-documents that follow the instruction (<c>RUN &lt;&lt;EOF</c>), in order.</summary>
    public IReadOnlyList<HereDocument> HereDocuments { get; init; } = [];

    /// <summary>The instruction as Docker prints it in <c>Step N/M :</c> lines.</summary>
    public string Original { get; init; } = "";
}

/// <summary>A here-document: its name (<c>EOF</c>), its text, and whether <c>$VAR</c> expands in it (unquoted name).</summary>
public sealed record HereDocument(string Name, string Content, bool Expand);

/// <summary>A parsed Dockerfile: its instructions in order, and the escape character its directive chose.</summary>
public sealed record DockerfileDocument(IReadOnlyList<Instruction> Instructions, char Escape, IReadOnlyList<string> Notes);

/// <summary>A Dockerfile the builder cannot take, with the line where the problem is.</summary>
public sealed class DockerfileException(string message) : Exception(message);
