using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Vic.Api.Errors;
using Vic.Api.Filters;
using Vic.Api.Models;
using Vic.PortLayer.Events;
using Vic.PortLayer.Vch;

namespace Vic.Api.SystemApi;

/// <summary>How many <c>/events</c> streams are open now: <c>NEventsListener</c> in <c>docker info</c>.</summary>
public sealed class EventsListenerCount
{
    private int _current;

    public int Current => Volatile.Read(ref _current);

    public IDisposable Enter()
    {
        Interlocked.Increment(ref _current);
        return new Exit(this);
    }

    private sealed class Exit(EventsListenerCount owner) : IDisposable
    {
        public void Dispose() => Interlocked.Decrement(ref owner._current);
    }
}

/// <summary>
/// <c>GET /events</c>: newline-delimited JSON, headers flushed at once (old clients wait on this
/// stream for a container to exit), one flush per event.
/// </summary>
public static class EventsEndpoint
{
    public static void MapEventsEndpoint(this IEndpointRouteBuilder routes) => routes.MapGet("/events", StreamAsync);

    private static async Task StreamAsync(HttpContext context, VchEngine engine, EventsListenerCount listeners)
    {
        var query = context.Request.Query;
        var since = DockerTimestamp.ParseOptional(query["since"], "since");
        var until = DockerTimestamp.ParseOptional(query["until"], "until");
        var filter = new EventFilter(FilterArgs.Parse(query["filters"]));

        using var listening = listeners.Enter();
        context.Response.StatusCode = StatusCodes.Status200OK;
        context.Response.ContentType = DockerError.JsonContentType;
        await context.Response.Body.FlushAsync(context.RequestAborted).ConfigureAwait(false);

        await foreach (var e in engine.Events.ReadAsync(filter, since, until, context.RequestAborted).ConfigureAwait(false))
        {
            await context.Response.WriteAsync(JsonSerializer.Serialize(ToMessage(e), DockerJson.Options) + "\n", context.RequestAborted)
                .ConfigureAwait(false);
            await context.Response.Body.FlushAsync(context.RequestAborted).ConfigureAwait(false);
        }
    }

    public static EventMessage ToMessage(EngineEvent e)
    {
        var legacy = e.Type is EventTypes.Container or EventTypes.Image;
        return new EventMessage
        {
            Status = legacy ? e.Action : null,
            Id = legacy ? e.ActorId : null,
            From = e.Type == EventTypes.Container ? e.Attributes.GetValueOrDefault("image") : null,
            Type = e.Type,
            Action = e.Action,
            Actor = new EventActor(e.ActorId, e.Attributes),
            Scope = e.Scope,
            Time = e.TimeNano / 1_000_000_000,
            TimeNano = e.TimeNano,
        };
    }
}
