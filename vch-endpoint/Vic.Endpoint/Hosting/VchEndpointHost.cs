using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Vic.Api;
using Vic.Api.Versioning;
using Vic.Endpoint.Configuration;
using Vic.PortLayer.Compute;
using Vic.PortLayer.Vch;

namespace Vic.Endpoint.Hosting;

/// <summary>
/// The composition root: builds the port layer for one VCH and puts the Docker API in front of it on
/// the configured listeners. The only place that knows every layer.
/// </summary>
public static partial class VchEndpointHost
{
    public static WebApplication Build(EndpointConfig config, TimeProvider? time = null, IComputeBackend? backend = null, string[]? args = null)
    {
        var builder = WebApplication.CreateSlimBuilder(args ?? []);
        builder.Logging.ClearProviders();
        builder.Logging.AddSimpleConsole(o =>
        {
            o.SingleLine = true;
            o.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ ";
            o.UseUtcTimestamp = true;
        });
        if (config.Syslog is { } syslog)
        {
            // Made by the container, which disposes it at the end: the last lines (a stop's) go out
            // then. Its own failures to reach the server are not logged: they would be sent to it again.
            builder.Services.AddSingleton<ILoggerProvider>(_ => new SyslogLoggerProvider(new Vic.PortLayer.Runtime.SyslogForwarder(syslog, syslog.Tag, Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance, config.Vch.Name), time ?? TimeProvider.System));
        }

        builder.Logging.AddFilter("Microsoft", LogLevel.Warning);
        builder.Logging.AddFilter("Microsoft.Hosting.Lifetime", LogLevel.Information);
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            // dockerd takes bodies of any size (docker load, import, cp, build contexts); every
            // route that takes a large one streams it, so Kestrel's 30 MB cap only refused users.
            kestrel.Limits.MaxRequestBodySize = null;
            // Nor does dockerd drop a client that reads or sends slowly: `docker logs -f | less`
            // paused, or `docker cp` fed by a slow pipe, must not be cut off after 5 s.
            kestrel.Limits.MinResponseDataRate = null;
            kestrel.Limits.MinRequestBodyDataRate = null;
            foreach (var address in config.Listen)
            {
                switch (address)
                {
                    case TcpAddress tcp:
                        kestrel.Listen(tcp.EndPoint, listen => ConfigureListener(listen, config));
                        break;
                    case UnixSocketAddress unix:
                        PrepareSocketPath(unix.Path);
                        kestrel.ListenUnixSocket(unix.Path, listen =>
                        {
                            listen.Protocols = HttpProtocols.Http1;
                            UseHijack(listen);
                        });
                        break;
                }
            }
        });

        builder.Services.AddDockerApi(
            services => new VchEngine(config.Vch, time ?? TimeProvider.System, backend ?? CreateBackend(config, services), services.GetRequiredService<ILoggerFactory>()),
            EngineIdentity.FromAssembly(typeof(VchEndpointHost).Assembly),
            config.Authorization);
        builder.Services.AddHostedService<ContainerRecovery>();
        if (config.Vicadmin is { } vicadmin)
        {
            // vicadmin shows the endpoint's own log: a provider beside the console keeps its recent lines.
            var endpointLog = new Vic.Admin.Logs.EndpointLogBuffer();
            builder.Logging.AddProvider(endpointLog);
            builder.Services.AddHostedService(services => new Vic.Admin.AdminService(
                VicadminComposition.ConfigOf(config, vicadmin, services.GetRequiredService<ILoggerFactory>()),
                services.GetRequiredService<VchEngine>(),
                endpointLog,
                services.GetRequiredService<ILoggerFactory>(),
                time ?? TimeProvider.System,
                services.GetRequiredService<IHostApplicationLifetime>().StopApplication));
        }

        var app = builder.Build();
        var engine = app.Services.GetRequiredService<VchEngine>();
        app.UseDockerApi();

        var logger = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Vic.Endpoint");
        app.Lifetime.ApplicationStarted.Register(() =>
        {
            foreach (var unix in config.Listen.OfType<UnixSocketAddress>())
            {
                // Like docker.sock: owner and group only.
                File.SetUnixFileMode(unix.Path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.GroupWrite);
            }

            Log.Started(logger, config.Vch.Name, engine.Id, string.Join(", ", config.Listen), config.Tls.ToString());
            if (config.Authorization is { } policy)
            {
                Log.Authorizing(logger, policy.Source, policy.Users.Count);
            }
        });
        app.Lifetime.ApplicationStopped.Register(() =>
        {
            Log.Stopped(logger, config.Vch.Name);
            foreach (var unix in config.Listen.OfType<UnixSocketAddress>())
            {
                File.Delete(unix.Path);
            }
        });
        return app;
    }

    /// <summary>The backend the configuration names; null leaves the VCH without one (API only).</summary>
    private static IComputeBackend? CreateBackend(EndpointConfig config, IServiceProvider services) => config switch
    {
        { Qemu: { } qemu } => new Vic.Backends.Qemu.QemuBackend(
            new Vic.Backends.Qemu.QemuBackendOptions(Path.Combine(config.Vch.DataDirectory, "qemu"), qemu.Kernel, qemu.Initramfs, config.Vch.PoolLimit, qemu.InstantClone, CloneMemory: qemu.CloneMemory)
            {
                TcgTranslationCacheMiB = qemu.TcgCacheMiB ?? Vic.Backends.Qemu.QemuBackendOptions.DefaultTcgTranslationCacheMiB,
                ReadyClones = qemu.ReadyClones ?? Vic.Backends.Qemu.QemuBackendOptions.DefaultReadyClones,
                Isolation = GuestIsolationOf(config),
                MakeScratchDisk = path =>
                {
                    using var disk = new Vic.ImageStore.Layers.Ext4VmdkLayerDisk(path, config.Vch.LayerCapacityBytes);
                    disk.Complete();
                },
            },
            services.GetRequiredService<ILogger<Vic.Backends.Qemu.QemuBackend>>()),
        { Vsphere: { } vsphere } => new Vic.Backends.Vsphere.VsphereBackend(
            new Vic.Backends.Vsphere.VsphereBackendOptions(vsphere.Session, vsphere.Datacenter, vsphere.ComputeResource, config.Vch.Name, vsphere.Datastore, vsphere.ChannelAddress, config.Vch.PoolLimit)
            {
                ChannelListen = vsphere.ChannelListen ?? vsphere.ChannelAddress,
                BridgeNetwork = vsphere.BridgeNetwork,
                PublicNetwork = vsphere.PublicNetwork,
                PublicAddressing = vsphere.PublicAddressing,
            },
            Path.Combine(config.Vch.DataDirectory, "vsphere"),
            services.GetRequiredService<ILogger<Vic.Backends.Vsphere.VsphereBackend>>()),
        _ => null,
    };

    /// <summary>
    /// Closed to ContainerVMs: the host's loopback, and the endpoint's own TCP ports (the Docker API,
    /// vicadmin) on every host address; open: the loopback ports of the VCH's NFS volume stores.
    /// </summary>
    private static Vic.Backends.Qemu.GuestIsolation GuestIsolationOf(EndpointConfig config) => new(
        Vic.Backends.Qemu.GuestIsolation.GroupFor(config.Vch.DataDirectory),
        [.. config.Listen.OfType<TcpAddress>().Select(a => a.EndPoint.Port).Concat(config.Vicadmin is { } admin ? [admin.Listen.Port] : []).Distinct()],
        [.. config.Vch.VolumeStores.Select(s => s.Nfs).OfType<Vic.PortLayer.Volumes.NfsLocation>()
            .Where(n => System.Net.IPAddress.TryParse(n.Host, out var address) ? System.Net.IPAddress.IsLoopback(address) : n.Host == "localhost")
            .Select(n => n.Port).Distinct()]);

    private static void ConfigureListener(ListenOptions listen, EndpointConfig config)
    {
        // Attach and exec hijack the HTTP/1.1 connection; HTTP/2 would make that impossible.
        listen.Protocols = HttpProtocols.Http1;
        if (config.TlsFiles is not { } files)
        {
            UseHijack(listen);
            return;
        }

        var serverCertificate = X509Certificate2.CreateFromPemFile(files.Certificate, files.Key);
        var authority = files.CertificateAuthority is { } ca ? AuthoritiesIn(ca) : null;
        listen.UseHttps(new HttpsConnectionAdapterOptions
        {
            ServerCertificate = serverCertificate,
            ClientCertificateMode = authority is null ? ClientCertificateMode.NoCertificate : ClientCertificateMode.RequireCertificate,
            ClientCertificateValidation = authority is null ? null : (certificate, _, _) => IsSignedBy(certificate, authority),
        });
        UseHijack(listen);
    }

    /// <summary>Every request passes the hijack middleware (after TLS): attach and exec start are served on the raw connection, below Kestrel's HTTP layer.</summary>
    private static void UseHijack(ListenOptions listen) =>
        listen.Use(next => new Vic.Api.Hijack.HijackConnectionMiddleware(
            next,
            listen.ApplicationServices.GetRequiredService<VchEngine>(),
            listen.ApplicationServices.GetRequiredService<EngineIdentity>(),
            listen.ApplicationServices.GetRequiredService<Vic.Api.Metrics.ApiRequestMetrics>(),
            listen.ApplicationServices.GetRequiredService<ILogger<Vic.Api.Hijack.HijackConnectionMiddleware>>(),
            listen.ApplicationServices.GetRequiredService<Vic.Api.Authorization.AuditLog>(),
            listen.ApplicationServices.GetService<Vic.Api.Authorization.AccessGuard>()).OnConnectionAsync);

    /// <summary>True when the client's certificate chains to our CA (and only to it) and may be used for client auth.</summary>
    public static bool IsSignedBy(X509Certificate2 client, X509Certificate2Collection authorities)
    {
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(authorities);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.ApplicationPolicy.Add(new System.Security.Cryptography.Oid("1.3.6.1.5.5.7.3.2"));
        return chain.Build(client);
    }

    /// <summary>Every certificate in a PEM file: <c>--tlscacert</c> may be a bundle of CAs, as dockerd's may.</summary>
    public static X509Certificate2Collection AuthoritiesIn(string pemFile)
    {
        var authorities = new X509Certificate2Collection();
        authorities.ImportFromPemFile(pemFile);
        return authorities;
    }

    private static void PrepareSocketPath(string path)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);

        // A socket left by a killed endpoint would make the bind fail; a live one would answer.
        if (File.Exists(path) && !SocketAnswers(path))
        {
            File.Delete(path);
        }
    }

    private static bool SocketAnswers(string path)
    {
        using var socket = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.Unix, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Unspecified);
        try
        {
            socket.Connect(new System.Net.Sockets.UnixDomainSocketEndPoint(path));
            return true;
        }
        catch (System.Net.Sockets.SocketException)
        {
            return false;
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 100, Level = LogLevel.Information, Message = "VCH {Name} ({Id}) serving the Docker API on {Listen} (TLS: {Tls})")]
        public static partial void Started(ILogger logger, string name, string id, string listen, string tls);

        [LoggerMessage(EventId = 102, Level = LogLevel.Information, Message = "Docker API calls are authorized by {Policy} ({Users} users named); the audit log is audit.log in the data directory")]
        public static partial void Authorizing(ILogger logger, string policy, int users);

        [LoggerMessage(EventId = 101, Level = LogLevel.Information, Message = "VCH {Name} stopped")]
        public static partial void Stopped(ILogger logger, string name);
    }
}
