using System.Text;
using System.Text.Json;

namespace Vic.Api.Tests;

/// <summary>Answers that depend on the API version a client speaks, as dockerd keeps them for older clients.</summary>
public sealed class OlderClientTests : InProcessVchTest
{
    [Theory]
    [InlineData("v1.41", true)]
    [InlineData("v1.42", false)]
    [InlineData("v1.47", false)]
    public async Task VolumePruneTakesNamedVolumesOnlyBelowApi142(string version, bool namedPruned)
    {
        using (var named = await Client.PostAsync(new Uri($"/{version}/volumes/create", UriKind.Relative), new StringContent("{\"Name\":\"kept-by-name\"}", Encoding.UTF8, "application/json")))
        {
            named.EnsureSuccessStatusCode();
        }

        using var pruned = await Client.PostAsync(new Uri($"/{version}/volumes/prune", UriKind.Relative), null);
        var body = await pruned.Content.ReadAsStringAsync();
        pruned.EnsureSuccessStatusCode();
        var deleted = JsonDocument.Parse(body).RootElement.GetProperty("VolumesDeleted").EnumerateArray().Select(v => v.GetString()).ToList();
        using var left = await Client.GetAsync(new Uri("/volumes/kept-by-name", UriKind.Relative));

        Assert.Equal(namedPruned, deleted.Contains("kept-by-name"));
        Assert.Equal(namedPruned, left.StatusCode == System.Net.HttpStatusCode.NotFound);
    }
}
