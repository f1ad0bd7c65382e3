using System.Text;
using System.Xml;
using System.Xml.Linq;

namespace Vic.Vim25.Soap;

/// <summary>
/// The SOAP 1.1 envelope of vim25 calls. Requests are written byte for byte the same way every time
/// (the tests hold golden bodies): the envelope declares soapenv, xsd and xsi, the method element
/// declares urn:vim25 as the default namespace, every element has an end tag, and xsi:type uses the
/// envelope's xsi prefix.
/// </summary>
public static class SoapEnvelope
{
    private const string Head =
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<soapenv:Envelope xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\" " +
        "xmlns:xsd=\"http://www.w3.org/2001/XMLSchema\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\"><soapenv:Body>";

    private const string Tail = "</soapenv:Body></soapenv:Envelope>";

    /// <summary>The body of a call of <paramref name="method"/> on <paramref name="target"/> with its arguments in order.</summary>
    public static string Request(string method, ManagedObjectReference target, IEnumerable<XElement?> arguments)
    {
        var call = VimXml.E(method, VimXml.Ref("_this", target), arguments.ToArray<object?>());
        var text = new StringBuilder(Head);
        Write(text, call, root: true);
        return text.Append(Tail).ToString();
    }

    /// <summary>
    /// The content of the response's <c>returnval</c> elements (none for a void method), or the
    /// call's fault as a <see cref="VimFaultException"/>.
    /// </summary>
    public static IReadOnlyList<XElement> ReadResponse(string body, string method)
    {
        XDocument document;
        try
        {
            document = XDocument.Parse(body);
        }
        catch (XmlException ex)
        {
            throw new VimProtocolException($"{method}: the server's answer is not XML: {Clip(body)}", ex);
        }

        var soapBody = document.Root?.Element(VimXml.Envelope + "Body")
            ?? throw new VimProtocolException($"{method}: the server's answer is not a SOAP envelope: {Clip(body)}");
        if (soapBody.Element(VimXml.Envelope + "Fault") is { } fault)
        {
            throw FaultOf(fault);
        }

        var response = soapBody.Element(VimXml.Vim + method + "Response")
            ?? throw new VimProtocolException($"{method}: the server's answer has no {method}Response: {Clip(body)}");
        return [.. response.Elements(VimXml.Vim + "returnval")];
    }

    /// <summary>A SOAP fault: its name from the detail's xsi:type (or the element's name less "Fault").</summary>
    public static VimFaultException FaultOf(XElement fault)
    {
        var message = fault.Element("faultstring")?.Value ?? "";
        var detail = fault.Element("detail")?.Elements().FirstOrDefault();
        var name = detail is null ? "SystemError" : VimXml.TypeOf(detail) ?? TrimSuffix(detail.Name.LocalName, "Fault");
        return new VimFaultException(name, message, detail);
    }

    /// <summary>The fault of a failed task (<c>info.error</c>, a LocalizedMethodFault).</summary>
    public static VimFaultException TaskFaultOf(XElement error)
    {
        var fault = error.Child("fault");
        var name = fault is null ? "SystemError" : VimXml.TypeOf(fault) ?? "SystemError";
        return new VimFaultException(name, error.ChildText("localizedMessage") ?? "", fault);
    }

    private static void Write(StringBuilder text, XElement element, bool root)
    {
        var name = element.Name.LocalName;
        text.Append('<').Append(name);
        if (root)
        {
            text.Append(" xmlns=\"urn:vim25\"");
        }

        foreach (var attribute in element.Attributes())
        {
            var attributeName = attribute.Name.Namespace == VimXml.Xsi ? "xsi:" + attribute.Name.LocalName : attribute.Name.LocalName;
            text.Append(' ').Append(attributeName).Append("=\"").Append(Escape(attribute.Value, attribute: true)).Append('"');
        }

        text.Append('>');
        if (element.HasElements)
        {
            foreach (var child in element.Elements())
            {
                Write(text, child, root: false);
            }
        }
        else
        {
            text.Append(Escape(element.Value, attribute: false));
        }

        text.Append("</").Append(name).Append('>');
    }

    private static string Escape(string value, bool attribute)
    {
        var text = value.Replace("&", "&amp;", StringComparison.Ordinal).Replace("<", "&lt;", StringComparison.Ordinal).Replace(">", "&gt;", StringComparison.Ordinal);
        return attribute ? text.Replace("\"", "&quot;", StringComparison.Ordinal) : text;
    }

    private static string TrimSuffix(string value, string suffix) =>
        value.EndsWith(suffix, StringComparison.Ordinal) ? value[..^suffix.Length] : value;

    private static string Clip(string body) => body.Length > 200 ? body[..200] + "..." : body;
}
