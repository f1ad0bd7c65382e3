using Vic.Admin.Access;
using Vic.TestSupport;

namespace Vic.Admin.Tests;

public sealed class PasswordFileCheckTests : IDisposable
{
    private readonly TempDirectory _home = new("vicadmin-passwords");

    public void Dispose() => _home.Dispose();

    [Fact]
    public async Task OnlyAUserWithItsOwnPasswordGetsIn()
    {
        var path = _home.Combine("passwords");
        await File.WriteAllTextAsync(path, "# vicadmin accounts\nadmin:first:secret\nops:ops-pw\r\n");
        var check = new PasswordFileCheck(path);

        Assert.True(await check.CheckAsync("admin", "first:secret", default));
        Assert.True(await check.CheckAsync("ops", "ops-pw", default));
        Assert.False(await check.CheckAsync("admin", "ops-pw", default));
        Assert.False(await check.CheckAsync("ops", "first:secret", default));
        Assert.False(await check.CheckAsync("# vicadmin accounts", "", default));
        Assert.False(await check.CheckAsync("", "", default));
        Assert.False(await check.CheckAsync("nobody", "x", default));
    }

    [Fact]
    public async Task APasswordChangedInTheFileTakesEffectAtTheNextLoginAndAMissingFileLetsNobodyIn()
    {
        var path = _home.Combine("passwords");
        await File.WriteAllTextAsync(path, "admin:old\n");
        var check = new PasswordFileCheck(path);
        Assert.True(await check.CheckAsync("admin", "old", default));

        await File.WriteAllTextAsync(path, "admin:new\n");
        Assert.False(await check.CheckAsync("admin", "old", default));
        Assert.True(await check.CheckAsync("admin", "new", default));

        File.Delete(path);
        Assert.False(await check.CheckAsync("admin", "new", default));
    }
}
