namespace Vic.Vim25;

/// <summary>
/// A server-side object: its type (<c>VirtualMachine</c>, <c>ResourcePool</c>, ...) and its id,
/// the "moid" (<c>vm-63</c>). On the wire: <c>&lt;obj type="VirtualMachine"&gt;vm-63&lt;/obj&gt;</c>.
/// </summary>
public sealed record ManagedObjectReference(string Type, string Value)
{
    public override string ToString() => $"{Type}:{Value}";
}
