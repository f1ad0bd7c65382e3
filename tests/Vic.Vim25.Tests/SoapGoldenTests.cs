using System.Net;
using System.Xml.Linq;
using Microsoft.Extensions.Logging.Abstractions;
using Vic.Vim25.Soap;

namespace Vic.Vim25.Tests;

/// <summary>
/// The client against a scripted peer answering with bodies captured from vcsim: the bytes it sends
/// are the golden requests, the answers it reads are the golden responses, and each fault mode of
/// the peer (fault, expiry, garbage, HTTP error, stall) ends the way it should.
/// </summary>
public sealed class SoapGoldenTests
{
    private static readonly VimSessionConfig Config = new(new Uri("https://127.0.0.1:8989/sdk"), "user", "pass") { CallTimeout = TimeSpan.FromSeconds(2) };

    private static string GoldenRequest(string name) => FakeVimServer.Golden(name + ".request.xml").TrimEnd('\n');

    [Fact]
    public async Task ConnectSendsTheGoldenServiceContentAndLoginBodiesAndReadsTheAnswers()
    {
        var server = new FakeVimServer();

        await using var session = await VimSession.ConnectAsync(Config, NullLogger.Instance, CancellationToken.None, handler: server);

        Assert.Equal(["RetrieveServiceContent", "Login"], server.Requests.Select(r => r.Method));
        Assert.Equal(GoldenRequest("RetrieveServiceContent"), server.Requests[0].Body);
        Assert.Equal(GoldenRequest("Login"), server.Requests[1].Body);
        Assert.Equal("\"urn:vim25/6.5\"", server.Requests[1].SoapAction);
        Assert.Equal(new AboutInfo("VMware vCenter Server 6.5.0 build-5973321", "6.5.0", "6.5", "VirtualCenter", "dbed6e0c-bd88-4ef6-b594-21283e1c677f"), session.Content.About);
        Assert.Equal(new ManagedObjectReference("Folder", "group-d1"), session.Content.RootFolder);
        Assert.Equal(new ManagedObjectReference("PropertyCollector", "propertyCollector"), session.Content.PropertyCollector);
        Assert.Equal("11111111-2222-4333-8444-555555555555", session.SessionKey);
    }

    [Fact]
    public async Task AContainerViewAndItsPropertiesAreAskedForAndReadAsGolden()
    {
        var server = new FakeVimServer();
        await using var session = await VimSession.ConnectAsync(Config, NullLogger.Instance, CancellationToken.None, handler: server);

        var view = await session.CreateContainerViewAsync(session.Content.RootFolder, ["VirtualMachine"], recursive: true, CancellationToken.None);
        var vms = await session.RetrieveViewAsync(view, "VirtualMachine", ["name", "runtime.powerState", "config.uuid"], CancellationToken.None);

        Assert.Equal(GoldenRequest("CreateContainerView"), server.Requests[2].Body);
        Assert.Equal(GoldenRequest("RetrievePropertiesEx"), server.Requests[3].Body);
        Assert.Equal(["vm-57", "vm-60", "vm-63", "vm-66"], vms.Select(v => v.Obj.Value));
        Assert.Equal("DC0_C0_RP0_VM0", vms[2].Text("name"));
        Assert.Equal("poweredOn", vms[2].Text("runtime.powerState"));
        Assert.Equal("VirtualMachinePowerState", VimXml.TypeOf(vms[2].Properties["runtime.powerState"]));
        Assert.Equal("string", VimXml.TypeOf(vms[2].Properties["name"]));
    }

    [Fact]
    public async Task AWrongPasswordIsTheInvalidLoginFault()
    {
        var server = new FakeVimServer();
        server.NextFault("Login", "LoginFault.response.xml");

        var fault = await Assert.ThrowsAsync<VimFaultException>(() => VimSession.ConnectAsync(Config, NullLogger.Instance, CancellationToken.None, handler: server));

        Assert.Equal("InvalidLogin", fault.FaultName);
        Assert.Equal("InvalidLogin: Login failure", fault.Message);
    }

    [Fact]
    public async Task AnExpiredSessionIsLoggedInAgainOnceAndTheCallRetried()
    {
        var server = new FakeVimServer();
        await using var session = await VimSession.ConnectAsync(Config, NullLogger.Instance, CancellationToken.None, handler: server);
        server.NextFault("CreateContainerView", "NotAuthenticated.response.xml");

        var view = await session.CreateContainerViewAsync(session.Content.RootFolder, ["VirtualMachine"], recursive: true, CancellationToken.None);

        Assert.Equal("ContainerView", view.Type);
        Assert.Equal(2, session.Logins);
        Assert.Equal(["RetrieveServiceContent", "Login", "CreateContainerView", "Login", "CreateContainerView"], server.Requests.Select(r => r.Method));
    }

    [Fact]
    public async Task AFaultThatIsNotAboutTheSessionIsThrownWithItsName()
    {
        var server = new FakeVimServer();
        await using var session = await VimSession.ConnectAsync(Config, NullLogger.Instance, CancellationToken.None, handler: server);
        server.NextFault("PowerOnVM_Task", "MethodDisabled.response.xml");

        var fault = await Assert.ThrowsAsync<VimFaultException>(() => session.InvokeAsync("PowerOnVM_Task", new ManagedObjectReference("VirtualMachine", "vm-63"), [], CancellationToken.None));

        Assert.Equal("MethodDisabled", fault.FaultName);
        Assert.Contains("method is disabled: PowerOnVM_Task", fault.Message, StringComparison.Ordinal);
        Assert.Equal(1, session.Logins);
    }

    [Theory]
    [InlineData(HttpStatusCode.OK, "<html>proxy error</html>", "is not a SOAP envelope")]
    [InlineData(HttpStatusCode.OK, "\u0000\u0001 not xml", "is not XML")]
    [InlineData(HttpStatusCode.ServiceUnavailable, "", "HTTP 503")]
    public async Task GarbageAndHttpErrorsAreProtocolErrorsNotCrashes(HttpStatusCode status, string body, string expected)
    {
        var server = new FakeVimServer();
        await using var session = await VimSession.ConnectAsync(Config, NullLogger.Instance, CancellationToken.None, handler: server);
        server.Next("CurrentTime", () => FakeVimServer.Xml(status, body));

        var error = await Assert.ThrowsAsync<VimProtocolException>(() => session.InvokeAsync("CurrentTime", new ManagedObjectReference("ServiceInstance", "ServiceInstance"), [], CancellationToken.None));

        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AStalledServerIsAbandonedAtTheCallTimeout()
    {
        var server = new FakeVimServer();
        await using var session = await VimSession.ConnectAsync(Config, NullLogger.Instance, CancellationToken.None, handler: server);
        server.NextStall("CurrentTime", TimeSpan.FromSeconds(30));

        var watch = System.Diagnostics.Stopwatch.StartNew();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => session.InvokeAsync("CurrentTime", new ManagedObjectReference("ServiceInstance", "ServiceInstance"), [], CancellationToken.None));

        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(20), $"took {watch.Elapsed}");
    }

    [Fact]
    public void AFailedTasksErrorBecomesAFaultWithItsName()
    {
        var error = XElement.Parse("""
            <error xmlns="urn:vim25" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
              <fault xsi:type="InvalidPowerState"><requestedState>poweredOff</requestedState><existingState>poweredOff</existingState></fault>
              <localizedMessage>The attempted operation cannot be performed in the current state (Powered off).</localizedMessage>
            </error>
            """);

        var fault = SoapEnvelope.TaskFaultOf(error);

        Assert.Equal("InvalidPowerState", fault.FaultName);
        Assert.Equal("The attempted operation cannot be performed in the current state (Powered off).", fault.ServerMessage);
        Assert.Equal("poweredOff", fault.Detail!.ChildText("existingState"));
    }

    [Theory]
    [InlineData("2024-01-02T03:04:05.123456789Z", 1234567)]
    [InlineData("2024-01-02T03:04:05.6134Z", 6134000)]
    [InlineData("2024-01-02T03:04:05Z", 0)]
    public void TimestampsWithAnyNumberOfFractionalDigitsParse(string text, long ticks)
    {
        var time = VimXml.ParseTime(text);

        Assert.Equal(new DateTimeOffset(2024, 1, 2, 3, 4, 5, TimeSpan.Zero).AddTicks(ticks), time);
    }

    [Fact]
    public void AVmSpecIsWrittenInTheWsdlsOrderWithTypedDevicesAndExtraConfig()
    {
        var spec = new VmConfigSpec
        {
            Name = "web-0123456789ab",
            GuestId = "otherLinux64Guest",
            VmPathName = "[LocalDS_0] web-0123456789ab",
            Cpus = 1,
            MemoryMb = 256,
            Devices =
            [
                DeviceChange.Add(new CdromIso(-1, "[LocalDS_0] vch/bootstrap.iso")),
                DeviceChange.Add(new ParaVirtualScsiController(-100)),
                DeviceChange.Add(new VirtualDiskDevice(-101, "[LocalDS_0] web/scratch.vmdk", -100, 0, 8 << 20), "create"),
                DeviceChange.Add(new NetworkSerialPort(-200, "tcp://10.0.0.1:2377")),
            ],
            ExtraConfig = [new("vic.container.id", "0123456789ab")],
        };

        var body = SoapEnvelope.Request("CreateVM_Task", new ManagedObjectReference("Folder", "group-v3"), [spec.ToXml("config")]);

        Assert.Equal(
            "<CreateVM_Task xmlns=\"urn:vim25\"><_this type=\"Folder\">group-v3</_this><config><name>web-0123456789ab</name><guestId>otherLinux64Guest</guestId>"
            + "<files><vmPathName>[LocalDS_0] web-0123456789ab</vmPathName></files><numCPUs>1</numCPUs><memoryMB>256</memoryMB>"
            + "<deviceChange><operation>add</operation><device xsi:type=\"VirtualCdrom\"><key>-1</key><backing xsi:type=\"VirtualCdromIsoBackingInfo\"><fileName>[LocalDS_0] vch/bootstrap.iso</fileName></backing>"
            + "<connectable><startConnected>true</startConnected><allowGuestControl>false</allowGuestControl><connected>true</connected></connectable><controllerKey>200</controllerKey><unitNumber>0</unitNumber></device></deviceChange>"
            + "<deviceChange><operation>add</operation><device xsi:type=\"ParaVirtualSCSIController\"><key>-100</key><busNumber>0</busNumber><hotAddRemove>true</hotAddRemove><sharedBus>noSharing</sharedBus></device></deviceChange>"
            + "<deviceChange><operation>add</operation><fileOperation>create</fileOperation><device xsi:type=\"VirtualDisk\"><key>-101</key><backing xsi:type=\"VirtualDiskFlatVer2BackingInfo\"><fileName>[LocalDS_0] web/scratch.vmdk</fileName><diskMode>persistent</diskMode><thinProvisioned>true</thinProvisioned></backing>"
            + "<controllerKey>-100</controllerKey><unitNumber>0</unitNumber><capacityInKB>8388608</capacityInKB></device></deviceChange>"
            + "<deviceChange><operation>add</operation><device xsi:type=\"VirtualSerialPort\"><key>-200</key><backing xsi:type=\"VirtualSerialPortURIBackingInfo\"><serviceURI>tcp://10.0.0.1:2377</serviceURI><direction>client</direction></backing>"
            + "<connectable><startConnected>true</startConnected><allowGuestControl>false</allowGuestControl><connected>true</connected></connectable><yieldOnPoll>true</yieldOnPoll></device></deviceChange>"
            + "<extraConfig><key>vic.container.id</key><value xsi:type=\"xsd:string\">0123456789ab</value></extraConfig></config></CreateVM_Task>",
            body[(body.IndexOf("<soapenv:Body>", StringComparison.Ordinal) + 14)..body.IndexOf("</soapenv:Body>", StringComparison.Ordinal)]);
    }
}
