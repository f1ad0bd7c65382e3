using Vic.Build.Dockerfile;

namespace Vic.Build.Tests;

public sealed class ShellWordsTests
{
    private static readonly Dictionary<string, string> Variables = new() { ["NAME"] = "world", ["EMPTY"] = "", ["PATHS"] = "a b" };

    private static ShellWords Words(char escape = '\\') => new(escape, n => Variables.GetValueOrDefault(n));

    [Theory]
    [InlineData("hello $NAME", "hello world")]
    [InlineData("${NAME}s", "worlds")]
    [InlineData("'$NAME'", "$NAME")]
    [InlineData("\"$NAME and \\$NAME\"", "world and $NAME")]
    [InlineData("\\$NAME", "$NAME")]
    [InlineData("${MISSING:-fallback}", "fallback")]
    [InlineData("${EMPTY:-fallback}", "fallback")]
    [InlineData("${EMPTY-fallback}", "")]
    [InlineData("${NAME:+set}", "set")]
    [InlineData("${MISSING:+set}", "")]
    [InlineData("${MISSING:-${NAME}}", "world")]
    [InlineData("$MISSING-x", "-x")]
    [InlineData("100%$", "100%$")]
    [InlineData("$1x", "x")]
    public void VariablesExpandAsInAShell(string text, string expected) => Assert.Equal(expected, Words().Word(text));

    [Fact]
    public void WordsSplitAtUnquotedWhitespaceOnly() =>
        Assert.Equal(["a b", "$PATHS", "x", "a b"], Words().Words("\"$PATHS\" '$PATHS'   x \"a b\""));

    [Fact]
    public void TheEscapeCharacterIsTheDirectivesOne() =>
        Assert.Equal("C:\\dir $NAME", Words('`').Word("C:\\dir `$NAME"));

    [Fact]
    public void PairsTakeBothFormsOfEnv()
    {
        Assert.Equal([KeyValuePair.Create("A", "1"), KeyValuePair.Create("B", "two words"), KeyValuePair.Create("C", "world")], Words().Pairs("A=1 B=\"two words\" C=$NAME", "ENV"));
        Assert.Equal([KeyValuePair.Create("KEY", "the rest of world")], Words().Pairs("KEY the rest of $NAME", "ENV"));
    }

    [Fact]
    public void RequiredVariablesAndBadSyntaxAreRefused()
    {
        Assert.Equal("MISSING: must be set", Assert.Throws<DockerfileException>(() => Words().Word("${MISSING:?must be set}")).Message);
        Assert.Throws<DockerfileException>(() => Words().Word("'open"));
        Assert.Throws<DockerfileException>(() => Words().Word("${NAME"));
        Assert.Throws<DockerfileException>(() => Words().Pairs("A=1 B", "ENV"));
    }
}
