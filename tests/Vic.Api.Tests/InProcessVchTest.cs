using System.Text;
using Vic.TestSupport;

namespace Vic.Api.Tests;

/// <summary>A test class with its own in-process VCH and an HTTP client for it.</summary>
public abstract class InProcessVchTest : IAsyncLifetime
{
    protected InProcessVch Vch { get; private set; } = null!;

    protected HttpClient Client { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Vch = await InProcessVch.StartAsync();
        Client = Vch.CreateClient();
    }

    /// <summary>
    /// A container created (never started: this VCH has no backend) from a one-file image imported
    /// as tiny:1; attach to it streams nothing and stays open. Returns its id.
    /// </summary>
    /// <param name="tty">Created with a TTY (its streams raw, not multiplexed).</param>
    protected async Task<string> CreateContainerAsync(string? name = null, bool tty = false)
    {
        using var rootfs = new MemoryStream();
        await using (var tar = new System.Formats.Tar.TarWriter(rootfs, leaveOpen: true))
        {
            await tar.WriteEntryAsync(new System.Formats.Tar.PaxTarEntry(System.Formats.Tar.TarEntryType.RegularFile, "hello") { DataStream = new MemoryStream("hi"u8.ToArray()) });
        }

        rootfs.Position = 0;
        using var imported = await Client.PostAsync(new Uri("/images/create?fromSrc=-&repo=tiny&tag=1", UriKind.Relative), new StreamContent(rootfs));
        imported.EnsureSuccessStatusCode();
        var query = name is null ? "" : $"?name={name}";
        using var created = await Client.PostAsync(new Uri("/containers/create" + query, UriKind.Relative), new StringContent($"{{\"Image\":\"tiny:1\",\"Cmd\":[\"/hello\"],\"Tty\":{(tty ? "true" : "false")}}}", Encoding.UTF8, "application/json"));
        var body = await created.Content.ReadAsStringAsync();
        Assert.True(created.IsSuccessStatusCode, body);
        return System.Text.Json.JsonDocument.Parse(body).RootElement.GetProperty("Id").GetString()!;
    }

    public async Task DisposeAsync()
    {
        Client.Dispose();
        await Vch.DisposeAsync();
    }
}
