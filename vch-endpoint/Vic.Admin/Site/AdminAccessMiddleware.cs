using Microsoft.AspNetCore.Http;
using Vic.Admin.Access;

namespace Vic.Admin.Site;

/// <summary>
/// Lets a request through only for a logged-in admin: a session cookie from the login form, or a client
/// certificate that chains to the VCH's CA. The login page and the page's script and style are open;
/// a page asked for without a login is sent to the login form, an API call gets 401.
/// </summary>
internal sealed class AdminAccessMiddleware(RequestDelegate next, AdminSessions sessions, AdminConfig config)
{
    public const string SessionCookie = "vicadmin_session";
    public const string UserItem = "vicadmin.user";

    public async Task InvokeAsync(HttpContext context)
    {
        // The page is only ever served by itself: no framing, no scripts or styles from elsewhere.
        context.Response.Headers.ContentSecurityPolicy = "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'";
        context.Response.Headers.XFrameOptions = "DENY";
        context.Response.Headers.XContentTypeOptions = "nosniff";
        context.Response.Headers.CacheControl = "no-store";

        var path = context.Request.Path;
        if (path == "/login" || path.StartsWithSegments("/static"))
        {
            await next(context).ConfigureAwait(false);
            return;
        }

        if (UserOf(context) is not { } user)
        {
            if (path.StartsWithSegments("/api") || path == "/logs.zip")
            {
                context.Response.StatusCode = StatusCodes.Status401Unauthorized;
                await context.Response.WriteAsJsonAsync(new { message = "log in to vicadmin first" }).ConfigureAwait(false);
            }
            else
            {
                context.Response.Redirect("/login");
            }

            return;
        }

        context.Items[UserItem] = user;
        await next(context).ConfigureAwait(false);
    }

    private string? UserOf(HttpContext context)
    {
        if (sessions.UserOf(context.Request.Cookies[SessionCookie]) is { } user)
        {
            return user;
        }

        return context.Connection.ClientCertificate is { } certificate && config.ClientCertificateTrusted?.Invoke(certificate) == true
            ? certificate.GetNameInfo(System.Security.Cryptography.X509Certificates.X509NameType.SimpleName, forIssuer: false)
            : null;
    }
}
