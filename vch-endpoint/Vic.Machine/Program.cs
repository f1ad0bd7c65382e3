using System.CommandLine;
using Spectre.Console;
using Vic.Machine;
using Vic.Vim25;

// vic-machine: creates, inspects, lists, configures, upgrades and deletes VCHs, on vSphere or locally.
var target = new Option<string?>("--target", "-t") { Description = "vCenter or ESXi: host, user:password@host/datacenter, https://host/sdk; or local (or VIC_MACHINE_TARGET)" };
var user = new Option<string?>("--user", "-u") { Description = "vSphere user (or VIC_MACHINE_USER)" };
var password = new Option<string?>("--password", "-p") { Description = "vSphere password (or VIC_MACHINE_PASSWORD)" };
var thumbprint = new Option<string?>("--thumbprint") { Description = "SHA-1 thumbprint of the target's certificate (or VIC_MACHINE_THUMBPRINT)" };
var name = new Option<string?>("--name", "-n") { Description = "The VCH's name" };
var datacenter = new Option<string?>("--datacenter") { Description = "Datacenter (default: the only one)" };
var computeResource = new Option<string?>("--compute-resource", "-r") { Description = "Cluster, host or resource pool: cluster1, cluster1/pool, /DC0/host/cluster1/Resources/pool" };
var imageStore = new Option<string?>("--image-store", "-i") { Description = "Datastore for the ISO, disks and ContainerVMs" };
var volumeStore = new Option<string[]>("--volume-store", "--vs") { Description = "Volume store nfs://host/path:label (repeatable)" };
var bridgeNetwork = new Option<string?>("--bridge-network", "-b") { Description = "Port group for the containers' bridge network" };
var publicNetwork = new Option<string?>("--public-network", "--pn") { Description = "Port group for the way out" };
var containerNetwork = new Option<string[]>("--container-network", "--cn") { Description = "Port group mapped into containers, portgroup[:alias] (repeatable)" };
var publicNetworkGateway = new Option<string?>("--public-network-gateway") { Description = "GATEWAY/PREFIX of the public port group; containers get addresses there" };
var publicNetworkIpRange = new Option<string?>("--public-network-ip-range") { Description = "CIDR the containers' public addresses come from" };
var publicNetworkIp = new Option<string?>("--public-network-ip") { Description = "The appliance's static address on the public port group, IP/PREFIX (default: DHCP)" };
var publicNetworkDns = new Option<string?>("--public-network-dns") { Description = "Nameservers on the public port group, comma-separated" };
var containerNetworkGateway = new Option<string[]>("--container-network-gateway", "--cng") { Description = "portgroup:GATEWAY/PREFIX of a container network (repeatable)" };
var containerNetworkIpRange = new Option<string[]>("--container-network-ip-range", "--cnr") { Description = "portgroup:CIDR containers get addresses from (repeatable)" };
var containerNetworkDns = new Option<string[]>("--container-network-dns", "--cnd") { Description = "portgroup:DNS of a container network (repeatable)" };
var cpu = new Option<long?>("--cpu") { Description = "The VCH pool's CPU limit in MHz" };
var memory = new Option<long?>("--memory", "--mem") { Description = "The VCH pool's memory limit in MB (default 4096)" };
var tlsCname = new Option<string?>("--tls-cname") { Description = "Name (or IP) clients reach the endpoint by" };
var noTlsVerify = new Option<bool>("--no-tlsverify", "--kv") { Description = "No client certificates" };
var noTls = new Option<bool>("--no-tls", "-k") { Description = "No TLS at all: the Docker API in plain HTTP (default port 2375)" };
var insecureRegistry = new Option<string[]>("--insecure-registry", "--dir") { Description = "Registry reached without TLS verification (repeatable)" };
var tlsCa = new Option<string[]>("--tls-ca", "--ca") { Description = "PEM file of a CA whose client certificates the VCH accepts instead of its own CA's (repeatable)" };
var registryCa = new Option<string[]>("--registry-ca", "--rc") { Description = "PEM file of CAs the VCH trusts for every registry (repeatable)" };
var registryMirror = new Option<string[]>("--registry-mirror") { Description = "docker.io mirror (repeatable)" };
var certPath = new Option<string?>("--tls-cert-path", "--cert-path") { Description = "Where the certificates and the endpoint's state live (default ./NAME)" };
var endpointAddress = new Option<string?>("--endpoint-address") { Description = "Where the endpoint listens, IP:PORT (default 127.0.0.1:2376)" };
var channelAddress = new Option<string?>("--channel-address") { Description = "The endpoint's IP as ContainerVMs reach it" };
var iso = new Option<string?>("--bootstrap-iso", "--bi", "--iso") { Description = "The ContainerVMs' bootstrap.iso (default: the one shipped with vic-machine)" };
var localEndpoint = new Option<bool>("--local-endpoint") { Description = "vSphere, for development: run the endpoint beside vic-machine instead of in an appliance VM in the VCH's pool" };
var applianceIso = new Option<string?>("--appliance-iso", "--ai") { Description = "The appliance's appliance.iso (default: the one shipped with vic-machine)" };
var applianceTarget = new Option<string?>("--appliance-target") { Description = "vSphere as the appliance reaches it, https://host/sdk (default: --target)" };
var config = new Option<string?>("--config") { Description = "vch.yaml with the same settings" };
var authzPolicy = new Option<string?>("--authz-policy") { Description = "YAML: what each user (client certificate CN) may do; needs client verification" };
var certUser = new Option<string?>("--cert-user") { Description = "issue-cert: the user (the certificate's common name) to issue a client certificate for" };
var timeout = new Option<string?>("--timeout") { Description = "Time the operation may take, e.g. 3m0s (default 10m0s)" };
var httpProxy = new Option<string?>("--http-proxy") { Description = "The proxy the VCH pulls from http:// registries through, http://[user:password@]host:port" };
var httpsProxy = new Option<string?>("--https-proxy") { Description = "The proxy the VCH pulls from https:// registries through" };
var noProxy = new Option<string?>("--no-proxy") { Description = "Hosts, domains (.example.com), IPs and CIDRs the VCH reaches without a proxy, comma-separated" };
var syslogAddress = new Option<string?>("--syslog-address") { Description = "The syslog server the VCH's own log goes to as well, udp://host[:port] or tcp://host[:port]" };
var bundle = new Option<string?>("--bundle") { Description = "debug of an appliance VCH: where to save its log bundle (default CERT-PATH/NAME-logs-TIME.zip)" };
var format = new Option<string>("--format") { Description = "inspect config: verbose (one option a line) or raw (one line)", DefaultValueFactory = _ => "verbose" };
var force = new Option<bool>("--force", "-f") { Description = "delete: remove the VCH even while containers run in it" };

Option[] connection = [target, user, password, thumbprint, name, datacenter, computeResource, imageStore, certPath, config];
Option[] settings = [volumeStore, bridgeNetwork, publicNetwork, publicNetworkGateway, publicNetworkIpRange, publicNetworkIp, publicNetworkDns, containerNetwork, containerNetworkGateway, containerNetworkIpRange, containerNetworkDns, cpu, memory, tlsCname, noTlsVerify, noTls, tlsCa, insecureRegistry, registryMirror, registryCa, httpProxy, httpsProxy, noProxy, syslogAddress, endpointAddress, channelAddress, iso, authzPolicy, localEndpoint, applianceIso, applianceTarget];

VchSettings Read(ParseResult parse)
{
    var given = new VchSettings
    {
        Target = parse.GetValue(target) ?? Environment.GetEnvironmentVariable("VIC_MACHINE_TARGET"),
        User = parse.GetValue(user) ?? Environment.GetEnvironmentVariable("VIC_MACHINE_USER"),
        Password = parse.GetValue(password) ?? Environment.GetEnvironmentVariable("VIC_MACHINE_PASSWORD"),
        Thumbprint = parse.GetValue(thumbprint) ?? Environment.GetEnvironmentVariable("VIC_MACHINE_THUMBPRINT"),
        Name = parse.GetValue(name),
        Datacenter = parse.GetValue(datacenter),
        ComputeResource = parse.GetValue(computeResource),
        ImageStore = parse.GetValue(imageStore),
        VolumeStore = [.. parse.GetValue(volumeStore) ?? []],
        BridgeNetwork = parse.GetValue(bridgeNetwork),
        PublicNetwork = parse.GetValue(publicNetwork),
        PublicNetworkGateway = parse.GetValue(publicNetworkGateway),
        PublicNetworkIpRange = parse.GetValue(publicNetworkIpRange),
        PublicNetworkIp = parse.GetValue(publicNetworkIp),
        PublicNetworkDns = parse.GetValue(publicNetworkDns),
        ContainerNetwork = [.. parse.GetValue(containerNetwork) ?? []],
        ContainerNetworkGateway = [.. parse.GetValue(containerNetworkGateway) ?? []],
        ContainerNetworkIpRange = [.. parse.GetValue(containerNetworkIpRange) ?? []],
        ContainerNetworkDns = [.. parse.GetValue(containerNetworkDns) ?? []],
        Cpu = parse.GetValue(cpu),
        Memory = parse.GetValue(memory),
        TlsCname = parse.GetValue(tlsCname),
        NoTlsverify = parse.GetValue(noTlsVerify) ? true : null,
        NoTls = parse.GetValue(noTls) ? true : null,
        InsecureRegistry = [.. parse.GetValue(insecureRegistry) ?? []],
        RegistryMirror = [.. parse.GetValue(registryMirror) ?? []],
        RegistryCa = [.. (parse.GetValue(registryCa) ?? []).Select(Path.GetFullPath)],
        HttpProxy = parse.GetValue(httpProxy),
        HttpsProxy = parse.GetValue(httpsProxy),
        NoProxy = parse.GetValue(noProxy),
        SyslogAddress = parse.GetValue(syslogAddress),
        TlsCa = [.. (parse.GetValue(tlsCa) ?? []).Select(Path.GetFullPath)],
        CertPath = parse.GetValue(certPath),
        EndpointAddress = parse.GetValue(endpointAddress),
        ChannelAddress = parse.GetValue(channelAddress),
        Iso = parse.GetValue(iso),
        LocalEndpoint = parse.GetValue(localEndpoint) ? true : null,
        ApplianceIso = parse.GetValue(applianceIso) is { } applianceFile ? Path.GetFullPath(applianceFile) : null,
        ApplianceTarget = parse.GetValue(applianceTarget),
        AuthzPolicy = parse.GetValue(authzPolicy) is { } policyFile ? Path.GetFullPath(policyFile) : null,
    };
    return parse.GetValue(config) is { } file ? VchSettings.Load(file).With(given) : given;
}

var progress = new ConsoleProgress();

Command Verb(string verb, string description, Option[] options, Func<ParseResult, CancellationToken, Task> action)
{
    var command = new Command(verb, description);
    foreach (var option in options.Append(timeout))
    {
        command.Options.Add(option);
    }

    command.SetAction(async (parse, cancellationToken) =>
    {
        TimeSpan limit = default;
        using var timed = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        try
        {
            limit = OperationTimeout.Parse(parse.GetValue(timeout));
            timed.CancelAfter(limit);
            await action(parse, timed.Token).ConfigureAwait(false);
            return 0;
        }
        catch (OperationCanceledException) when (timed.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            Console.Error.WriteLine($"vic-machine {verb}: did not finish within --timeout {OperationTimeout.Format(limit)}");
            return 1;
        }
        catch (Exception ex) when (ex is MachineException or VimFaultException or VimProtocolException or HttpRequestException)
        {
            // Plain text on stderr, unwrapped: scripts read it, and a terminal's width must not break it.
            Console.Error.WriteLine($"vic-machine {verb}: {ex.Message}");
            return 1;
        }
    });
    return command;
}

// The record of a VCH, and the rows inspect shows of where it lives.
async Task<VchSettings> InspectRecordAsync(VchPlan plan, Table table, CancellationToken cancellationToken)
{
    if (plan.Vsphere is null)
    {
        table.AddRow("backend", "qemu (local)");
        return new LocalInstaller(plan, progress).Read();
    }

    var (found, datastore, running, limits) = await new VsphereInstaller(plan, progress).InspectAsync(cancellationToken).ConfigureAwait(false);
    if (found.InAppliance())
    {
        table.AddRow("appliance", Markup.Escape(running ? $"VM {plan.Name} in the VCH's pool, powered on" : $"VM {plan.Name} in the VCH's pool, not powered on"));
    }

    table.AddRow("backend", $"vsphere {Markup.Escape(plan.Vsphere.Session.Sdk.ToString())}");
    table.AddRow("image store", Markup.Escape(datastore));
    table.AddRow("pool limits", Markup.Escape($"CPU {(limits.CpuMhz is { } mhz ? $"{mhz} MHz" : "unlimited")}, memory {(limits.MemoryMb is { } mb ? $"{mb} MB" : "unlimited")}"));
    return found;
}

static Command WithSubcommand(Command command, Command subcommand)
{
    command.Subcommands.Add(subcommand);
    return command;
}

Command VersionCommand()
{
    var command = new Command("version", "Show the version of vic-machine");
    command.SetAction(_ => Console.WriteLine($"vic-machine version {Installation.Version}"));
    return command;
}

var root = new RootCommand("vic-machine: create and manage Virtual Container Hosts")
{
    Verb("create", "Create a VCH and start its endpoint", [.. connection, .. settings], async (parse, cancellationToken) =>
    {
        var plan = VchPlan.Validate(Read(parse), forCreate: true);
        if (plan.Vsphere is null)
        {
            await new LocalInstaller(plan, progress).CreateAsync(cancellationToken).ConfigureAwait(false);
        }
        else
        {
            await new VsphereInstaller(plan, progress).CreateAsync(cancellationToken).ConfigureAwait(false);
        }

        AnsiConsole.MarkupLine($"[bold]VCH {Markup.Escape(plan.Name)} is up.[/] Point docker at it:");
        foreach (var line in EndpointSettings.ClientEnvironment(plan))
        {
            Console.WriteLine(line);
        }

        var environmentFile = await EndpointSettings.SaveEnvironmentAsync(plan, cancellationToken).ConfigureAwait(false);
        Console.WriteLine($"# environment saved in {environmentFile} (as VIC saved it: export $(cat {environmentFile}))");
        foreach (var line in EndpointSettings.AdminPortal(plan))
        {
            Console.WriteLine(line);
        }
    }),
    Verb("delete", "Delete a VCH: its endpoint, ContainerVMs, pool, datastore folder and certificates", [.. connection, force], async (parse, cancellationToken) =>
    {
        var plan = VchPlan.Validate(Read(parse), forCreate: false);
        if (plan.Vsphere is null)
        {
            await new LocalInstaller(plan, progress).DeleteAsync(parse.GetValue(force), cancellationToken).ConfigureAwait(false);
        }
        else
        {
            await new VsphereInstaller(plan, progress).DeleteAsync(parse.GetValue(force), cancellationToken).ConfigureAwait(false);
        }
    }),
    WithSubcommand(Verb("inspect", "Show a VCH's settings and how to reach it", connection, async (parse, cancellationToken) =>
    {
        var plan = VchPlan.Validate(Read(parse), forCreate: false);
        var table = new Table().AddColumns("setting", "value");
        var record = await InspectRecordAsync(plan, table, cancellationToken).ConfigureAwait(false);

        var shown = VchPlan.Validate(record.With(new VchSettings { Password = "-", Target = plan.Settings.Target ?? record.Target, User = record.User ?? "-" }), forCreate: false);
        table.AddRow("endpoint", shown.Appliance ? $"in the appliance, on {shown.Endpoint}" : EndpointLauncher.IsRunning(shown.CertPath) ? $"running on {shown.Endpoint}" : "not running");
        AnsiConsole.Write(table);
        foreach (var line in EndpointSettings.ClientEnvironment(shown))
        {
            Console.WriteLine(line);
        }

        foreach (var line in EndpointSettings.AdminPortal(shown))
        {
            Console.WriteLine(line);
        }
    }), Verb("config", "Show the create command that makes this VCH again (VIC's inspect config)", [.. connection, format], async (parse, cancellationToken) =>
    {
        var plan = VchPlan.Validate(Read(parse), forCreate: false);
        var record = await InspectRecordAsync(plan, new Table().AddColumns("setting", "value"), cancellationToken).ConfigureAwait(false);
        var shape = parse.GetValue(format);
        if (shape is not ("verbose" or "raw"))
        {
            throw new MachineException($"--format '{shape}': verbose or raw");
        }

        Console.WriteLine(RecreateCommand.Of(record.With(new VchSettings { Target = plan.Settings.Target ?? record.Target }), raw: shape == "raw"));
    })),
    Verb("ls", "List the VCHs of a compute resource, or of the whole datacenter", [target, user, password, thumbprint, datacenter, computeResource, config], async (parse, cancellationToken) =>
    {
        var plan = VchPlan.Validate(Read(parse).With(new VchSettings { Name = "ls" }), forCreate: false, forList: true);
        if (plan.Vsphere is null)
        {
            throw new MachineException("ls lists the VCHs of a vSphere target; a local VCH is its --cert-path");
        }

        Console.WriteLine(VchListing.Format(await new VsphereInstaller(plan, progress).ListAsync(cancellationToken).ConfigureAwait(false), Installation.Version));
    }),
    Verb("configure", "Change a VCH's pool limits, registries, proxies and syslog server", [.. connection, cpu, memory, insecureRegistry, registryMirror, httpProxy, httpsProxy, noProxy, syslogAddress], async (parse, cancellationToken) =>
    {
        var plan = VchPlan.Validate(Read(parse), forCreate: false);
        if (plan.Vsphere is null)
        {
            throw new MachineException("configure changes a vSphere VCH; delete and create a local one");
        }

        await new VsphereInstaller(plan, progress).ConfigureAsync(new VchSettings
        {
            Cpu = parse.GetValue(cpu),
            Memory = parse.GetValue(memory),
            InsecureRegistry = [.. parse.GetValue(insecureRegistry) ?? []],
            RegistryMirror = [.. parse.GetValue(registryMirror) ?? []],
            HttpProxy = parse.GetValue(httpProxy),
            HttpsProxy = parse.GetValue(httpsProxy),
            NoProxy = parse.GetValue(noProxy),
            SyslogAddress = parse.GetValue(syslogAddress),
        }, cancellationToken).ConfigureAwait(false);
    }),
    Verb("upgrade", "Upload a new bootstrap ISO (and appliance ISO) and restart the endpoint", [.. connection, iso, applianceIso], async (parse, cancellationToken) =>
    {
        var plan = VchPlan.Validate(Read(parse), forCreate: false, withIso: true);
        if (plan.Vsphere is null)
        {
            throw new MachineException("a local VCH boots iso/out directly: restart it to upgrade");
        }

        await new VsphereInstaller(plan, progress).UpgradeAsync(cancellationToken).ConfigureAwait(false);
    }),
    VersionCommand(),
    Verb("debug", "Show the endpoint's log (an appliance's through vicadmin, saving its log bundle)", [.. connection, bundle], async (parse, cancellationToken) =>
    {
        var plan = VchPlan.Validate(Read(parse), forCreate: false);
        if (plan.Vsphere is not null)
        {
            var table = new Table().AddColumns("setting", "value");
            var record = await InspectRecordAsync(plan, table, cancellationToken).ConfigureAwait(false);
            if (record.InAppliance())
            {
                var appliance = VchPlan.Validate(record.With(new VchSettings { Target = plan.Settings.Target ?? record.Target, Password = "-", CertPath = parse.GetValue(certPath) ?? record.CertPath ?? plan.CertPath }), forCreate: false);
                AnsiConsole.Write(table);
                var zip = await VchApiClient.LogBundleAsync(appliance, cancellationToken).ConfigureAwait(false);
                var file = Path.GetFullPath(parse.GetValue(bundle) ?? Path.Combine(appliance.CertPath, $"{appliance.Name}-logs-{DateTime.UtcNow:yyyyMMdd-HHmmss}.zip"));
                await File.WriteAllBytesAsync(file, zip, cancellationToken).ConfigureAwait(false);
                using var archive = new System.IO.Compression.ZipArchive(new MemoryStream(zip));
                using var endpointLog = new StreamReader(archive.GetEntry("endpoint.log")?.Open() ?? throw new MachineException($"the log bundle from {appliance.VicadminUrl} has no endpoint.log"));
                var lines = (await endpointLog.ReadToEndAsync(cancellationToken).ConfigureAwait(false)).Split('\n', StringSplitOptions.RemoveEmptyEntries);
                AnsiConsole.MarkupLine($"endpoint in the appliance; its log bundle (endpoint log, settings, each container's output and console) saved in {Markup.Escape(file)}; the log's last {Math.Min(50, lines.Length)} lines:");
                Console.WriteLine(string.Join('\n', lines.TakeLast(50)));
                return;
            }
        }

        var log = EndpointLauncher.LogFile(plan.CertPath);
        AnsiConsole.MarkupLine($"endpoint {(EndpointLauncher.IsRunning(plan.CertPath) ? "running" : "not running")}; log {Markup.Escape(log)}:");
        Console.WriteLine(File.Exists(log) ? string.Join('\n', File.ReadLines(log).TakeLast(50)) : "(no log)");
    }),
    Verb("issue-cert", "Issue a client certificate for one user of a VCH (its common name is the user the --authz-policy names)", [name, certPath, certUser], (parse, _) =>
    {
        var vch = parse.GetValue(name) ?? throw new MachineException("--name is required");
        var user = parse.GetValue(certUser) ?? throw new MachineException("--cert-user is required");
        var directory = Path.GetFullPath(parse.GetValue(certPath) ?? vch);
        var folder = Certificates.IssueUser(directory, user);
        AnsiConsole.MarkupLine($"[bold]{Markup.Escape(user)}[/]'s certificate for VCH {Markup.Escape(vch)} is in {Markup.Escape(folder)}. Give the folder to {Markup.Escape(user)}:");
        foreach (var line in EndpointSettings.UserEnvironment(directory, vch, folder))
        {
            Console.WriteLine(line);
        }

        return Task.CompletedTask;
    }),
};

return await root.Parse(args).InvokeAsync().ConfigureAwait(false);
