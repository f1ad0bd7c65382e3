using System.Globalization;
using System.Xml.Linq;

namespace Vic.Vim25.Soap;

/// <summary>Building and reading vim25 XML: elements in the urn:vim25 namespace, typed values, references.</summary>
public static class VimXml
{
    public static readonly XNamespace Vim = "urn:vim25";
    public static readonly XNamespace Xsi = "http://www.w3.org/2001/XMLSchema-instance";
    public static readonly XNamespace Envelope = "http://schemas.xmlsoap.org/soap/envelope/";

    /// <summary>An element of the vim25 namespace; null content is left out, so optional fields vanish.</summary>
    public static XElement E(string name, params object?[] content) => new(Vim + name, content.Where(c => c is not null));

    /// <summary>A data object of a subtype: <c>&lt;name xsi:type="Type"&gt;</c>.</summary>
    public static XElement Typed(string name, string type, params object?[] content) =>
        new(Vim + name, new XAttribute(Xsi + "type", type), content.Where(c => c is not null));

    public static XElement Ref(string name, ManagedObjectReference reference) =>
        new(Vim + name, new XAttribute("type", reference.Type), reference.Value);

    /// <summary>An optional element: nothing when the value is null.</summary>
    public static XElement? Opt(string name, object? value) => value is null ? null : E(name, Text(value));

    public static string Text(object value) => value switch
    {
        bool b => b ? "true" : "false",
        DateTimeOffset t => t.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ss.fffffffZ", CultureInfo.InvariantCulture),
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => value.ToString() ?? "",
    };

    public static ManagedObjectReference ToRef(XElement element) =>
        new((string?)element.Attribute("type") ?? throw new VimProtocolException($"<{element.Name.LocalName}> is not a managed object reference"), element.Value);

    /// <summary>The xsi:type of an element without its prefix (<c>xsd:string</c> is <c>string</c>), or null.</summary>
    public static string? TypeOf(XElement element)
    {
        var type = (string?)element.Attribute(Xsi + "type");
        return type is null ? null : type[(type.IndexOf(':') + 1)..];
    }

    public static XElement? Child(this XElement element, string name) => element.Element(Vim + name);

    public static IEnumerable<XElement> Children(this XElement element, string name) => element.Elements(Vim + name);

    public static string? ChildText(this XElement element, string name) => element.Element(Vim + name)?.Value;

    public static ManagedObjectReference? ChildRef(this XElement element, string name) =>
        element.Element(Vim + name) is { } child ? ToRef(child) : null;

    /// <summary>An xsd:dateTime with 0 to 9 fractional digits, as servers write them.</summary>
    public static DateTimeOffset ParseTime(string text)
    {
        var dot = text.IndexOf('.', StringComparison.Ordinal);
        if (dot > 0)
        {
            var end = dot + 1;
            while (end < text.Length && char.IsAsciiDigit(text[end]))
            {
                end++;
            }

            // .NET parses up to 7 digits; nanoseconds are below what anything here needs.
            var digits = text[(dot + 1)..end];
            text = text[..(dot + 1)] + digits.PadRight(7, '0')[..7] + text[end..];
        }

        return DateTimeOffset.Parse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal);
    }
}
