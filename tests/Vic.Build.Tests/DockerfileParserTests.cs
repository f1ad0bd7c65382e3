using Vic.Build.Dockerfile;

namespace Vic.Build.Tests;

public sealed class DockerfileParserTests
{
    [Fact]
    public void ContinuationsJoinAcrossCommentsAndBlankLinesAndFlagsAndJsonAreSplitOff()
    {
        var document = DockerfileParser.Parse("""
            FROM --platform=linux/amd64 busybox AS base
            # a comment
            RUN echo one \
            # a comment inside the continuation
                && echo two

            copy --chown=1:2 --chmod=644 ["a b", "/dst/"]
            CMD ["sh", "-c", "echo hi"]
            ENTRYPOINT [not json
            """);

        Assert.Equal(["FROM", "RUN", "COPY", "CMD", "ENTRYPOINT"], document.Instructions.Select(i => i.Keyword));
        var from = document.Instructions[0];
        Assert.Equal("linux/amd64", from.Flags["platform"]);
        Assert.Equal("busybox AS base", from.Arguments);
        Assert.Equal(3, document.Instructions[1].Line);
        Assert.Equal("echo one     && echo two", document.Instructions[1].Arguments);
        Assert.Equal("RUN echo one && echo two", document.Instructions[1].Original);
        var copy = document.Instructions[2];
        Assert.Equal(("1:2", "644"), (copy.Flags["chown"], copy.Flags["chmod"]));
        Assert.Equal(["a b", "/dst/"], copy.JsonForm);
        Assert.Equal(["sh", "-c", "echo hi"], document.Instructions[3].JsonForm);
        Assert.Null(document.Instructions[4].JsonForm);
    }

    [Fact]
    public void TheEscapeDirectiveChangesTheContinuationCharacterAndSyntaxIsNoted()
    {
        var document = DockerfileParser.Parse("# escape=`\n# syntax=docker/dockerfile:1\nFROM busybox\nRUN echo a `\n  b\n");

        Assert.Equal('`', document.Escape);
        Assert.Single(document.Notes);
        Assert.Equal("echo a   b", document.Instructions[1].Arguments);
    }

    [Fact]
    public void DirectivesAfterTheFirstInstructionAreComments()
    {
        var document = DockerfileParser.Parse("FROM busybox\n# escape=`\nRUN echo a \\\n b\n");

        Assert.Equal('\\', document.Escape);
        Assert.Equal("echo a  b", document.Instructions[1].Arguments);
    }

    [Fact]
    public void HereDocumentsAreCollectedAfterTheirInstruction()
    {
        var document = DockerfileParser.Parse("FROM busybox\nRUN <<EOF\necho $HOME\necho two\nEOF\nCOPY <<-'CONF' /etc/app.conf\n\tkey=value\n\tCONF\nCMD true\n");

        var run = document.Instructions[1];
        Assert.Equal(new HereDocument("EOF", "echo $HOME\necho two\n", true), run.HereDocuments.Single());
        var copy = document.Instructions[2];
        Assert.Equal(new HereDocument("CONF", "key=value\n", false), copy.HereDocuments.Single());
        Assert.Equal("CMD", document.Instructions[3].Keyword);
    }

    [Fact]
    public void AShiftIsNotAHereDocument()
    {
        var document = DockerfileParser.Parse("FROM busybox\nRUN echo $((1<<EOF))\nCMD true\n");

        Assert.Empty(document.Instructions[1].HereDocuments);
        Assert.Equal("CMD", document.Instructions[2].Keyword);
    }

    [Theory]
    [InlineData("FROM busybox\nFOO bar\n", "dockerfile parse error on line 2: unknown instruction: FOO")]
    [InlineData("FROM busybox\nRUN <<EOF\necho\n", "dockerfile parse error on line 2: unterminated heredoc EOF")]
    [InlineData("# escape=x\nFROM busybox\n", "dockerfile parse error on line 1: invalid escape token 'x' does not match ` or \\")]
    [InlineData("FROM busybox\nCOPY --chown=1 --chown=2 a b\n", "dockerfile parse error on line 2: Duplicate flag specified: chown")]
    public void BadDockerfilesAreRefusedWithTheirLine(string text, string message) =>
        Assert.Equal(message, Assert.Throws<DockerfileException>(() => DockerfileParser.Parse(text)).Message);
}
