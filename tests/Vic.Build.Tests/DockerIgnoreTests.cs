using Vic.Build.Context;

namespace Vic.Build.Tests;

public sealed class DockerIgnoreTests
{
    [Theory]
    [InlineData("*.log", "app.log", true)]
    [InlineData("*.log", "logs/app.log", false)]
    [InlineData("**/*.log", "logs/deep/app.log", true)]
    [InlineData("**/*.log", "app.log", true)]
    [InlineData("node_modules", "node_modules/x/index.js", true)]
    [InlineData("/build", "build/out.o", true)]
    [InlineData("docs/**", "docs/a/b.md", true)]
    [InlineData("te?t", "test", true)]
    [InlineData("te?t", "te/t", false)]
    [InlineData("[a-c]*.txt", "b1.txt", true)]
    [InlineData("[a-c]*.txt", "d1.txt", false)]
    [InlineData("./secret/../.env", ".env", true)]
    public void PatternsFollowMobysRules(string pattern, string path, bool excluded) =>
        Assert.Equal(excluded, new DockerIgnore([pattern]).Excludes(path));

    [Fact]
    public void TheLastMatchDecidesAndExceptionsReopenPaths()
    {
        var ignore = new DockerIgnore(["# comment", "", "*.md", "!README.md", "docs", "!docs/keep.md"]);

        Assert.True(ignore.Excludes("CHANGES.md"));
        Assert.False(ignore.Excludes("README.md"));
        Assert.True(ignore.Excludes("docs/other.md"));
        Assert.False(ignore.Excludes("docs/keep.md"));
        Assert.False(ignore.Excludes("src/main.c"));
    }

    [Fact]
    public void AnIgnoredContextLosesTheFilesButKeepsExceptionsAndTheirFolders()
    {
        var root = Directory.CreateTempSubdirectory("vic-ignore").FullName;
        try
        {
            foreach (var file in new[] { ".dockerignore", "keep.txt", "drop.log", "docs/keep.md", "docs/drop.md", "node_modules/a/b.js" })
            {
                Directory.CreateDirectory(Path.GetDirectoryName(Path.Combine(root, file))!);
                File.WriteAllText(Path.Combine(root, file), file);
            }

            File.WriteAllText(Path.Combine(root, ".dockerignore"), "*.log\nnode_modules\ndocs\n!docs/keep.md\n");
            using var context = BuildContext.Adopt(root);
            context.ApplyIgnore();

            var left = Directory.EnumerateFiles(root, "*", SearchOption.AllDirectories).Select(f => Path.GetRelativePath(root, f)).Order(StringComparer.Ordinal);
            Assert.Equal([".dockerignore", "docs/keep.md", "keep.txt"], left);
        }
        finally
        {
            if (Directory.Exists(root))
            {
                Directory.Delete(root, recursive: true);
            }
        }
    }
}
