namespace Vic.PortLayer.Compute;

/// <summary>
/// A backend that forwards a ContainerVM's published ports itself, from
/// <see cref="VmNetworkSpec.Forwards"/> (QEMU's user network listens on the host port). For any
/// other backend (vSphere, where the endpoint may not even reach the bridge port group) the port
/// layer listens on the host ports and carries each connection to the guest over the tether's channel.
/// </summary>
public interface IForwardsPublishedPorts
{
}
