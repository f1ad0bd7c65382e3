using System.Reflection;
using Microsoft.Extensions.Logging;

namespace Vic.Api.Tests;

/// <summary>
/// Log event ids are one table across the endpoint's assemblies: measurements and docs grep them
/// (docs/SPEC.md reads event 2009, for one), so two messages must never share an id.
/// </summary>
public sealed class LogEventIdTests
{
    [Fact]
    public void EveryLogMessageOfTheEndpointHasAnIdOfItsOwn()
    {
        // The endpoint's host references every layer: its assembly's closure is the whole endpoint.
        var assemblies = new[] { typeof(Vic.Endpoint.Hosting.VchEndpointHost).Assembly }
            .Concat(typeof(Vic.Endpoint.Hosting.VchEndpointHost).Assembly.GetReferencedAssemblies().Where(a => a.Name!.StartsWith("Vic.", StringComparison.Ordinal)).Select(Assembly.Load))
            .Distinct()
            .ToList();
        var messages = assemblies
            .SelectMany(a => a.GetTypes())
            .SelectMany(t => t.GetMethods(BindingFlags.Static | BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.DeclaredOnly))
            .Select(m => (Method: m, Attribute: m.GetCustomAttribute<LoggerMessageAttribute>()))
            .Where(x => x.Attribute is not null)
            .Select(x => (Id: x.Attribute!.EventId, Where: $"{x.Method.DeclaringType!.FullName}.{x.Method.Name}"))
            .ToList();

        var shared = messages.GroupBy(m => m.Id).Where(g => g.Count() > 1).Select(g => $"{g.Key}: {string.Join(", ", g.Select(m => m.Where))}").ToList();

        Assert.True(messages.Count > 30, $"only {messages.Count} log messages found in {string.Join(", ", assemblies.Select(a => a.GetName().Name))}");
        Assert.Empty(shared);
    }
}
