using YamlDotNet.RepresentationModel;

namespace Vic.Api.Authorization;

/// <summary>
/// Reads an <see cref="AuthorizationPolicy"/> from YAML:
/// <code>
/// users:
///   auditor: { may: [read] }
///   web:
///     may: [read, run, exec, remove, pull]
///     images: [busybox, "127.0.0.1:5000/web/*"]
///     labels: { team: web }
/// default: { may: [] }
/// </code>
/// Every mistake is refused with its line, so a typo never becomes a wider grant than was meant.
/// </summary>
public static class PolicyFile
{
    private static readonly Dictionary<string, AccessRight> Words = Enum.GetValues<AccessRight>().ToDictionary(r => r.ToString().ToLowerInvariant(), StringComparer.Ordinal);

    public static AuthorizationPolicy Load(string path) => Parse(File.ReadAllText(path), path);

    public static AuthorizationPolicy Parse(string yaml, string source)
    {
        var stream = new YamlStream();
        try
        {
            stream.Load(new StringReader(yaml));
        }
        catch (YamlDotNet.Core.YamlException ex)
        {
            throw new FormatException($"{source}: line {ex.Start.Line}: {ex.Message}");
        }

        if (stream.Documents.Count == 0 || stream.Documents[0].RootNode is not YamlMappingNode root)
        {
            throw new FormatException($"{source}: expected a mapping with 'users' (and optionally 'default')");
        }

        var users = new Dictionary<string, UserGrant>(StringComparer.Ordinal);
        var fallback = UserGrant.Nothing;
        foreach (var (key, value) in root.Children)
        {
            switch (Scalar(key, source))
            {
                case "users":
                    foreach (var (name, grant) in Mapping(value, source, "users").Children)
                    {
                        users[Scalar(name, source)] = GrantOf(grant, source);
                    }

                    break;
                case "default":
                    fallback = GrantOf(value, source);
                    break;
                default:
                    throw Error(key, source, $"unknown key '{Scalar(key, source)}' (users, default)");
            }
        }

        return new AuthorizationPolicy(users, fallback, source);
    }

    private static UserGrant GrantOf(YamlNode node, string source)
    {
        var rights = new HashSet<AccessRight>();
        var images = new List<string>();
        var labels = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (key, value) in Mapping(node, source, "a user").Children)
        {
            switch (Scalar(key, source))
            {
                case "may":
                    foreach (var item in Sequence(value, source, "may").Children)
                    {
                        var word = Scalar(item, source);
                        if (word == "all")
                        {
                            rights.UnionWith(Enum.GetValues<AccessRight>());
                        }
                        else if (Words.TryGetValue(word, out var right))
                        {
                            rights.Add(right);
                        }
                        else
                        {
                            throw Error(item, source, $"unknown right '{word}' ({string.Join(", ", Words.Keys)}, all)");
                        }
                    }

                    break;
                case "images":
                    foreach (var item in Sequence(value, source, "images").Children)
                    {
                        var pattern = Scalar(item, source);
                        if (UserGrant.RepositoryOf(pattern) is null)
                        {
                            throw Error(item, source, $"'{pattern}' is not an image repository");
                        }

                        images.Add(pattern);
                    }

                    break;
                case "labels":
                    foreach (var (label, labelValue) in Mapping(value, source, "labels").Children)
                    {
                        labels[Scalar(label, source)] = Scalar(labelValue, source);
                    }

                    break;
                default:
                    throw Error(key, source, $"unknown key '{Scalar(key, source)}' (may, images, labels)");
            }
        }

        return new UserGrant(rights, images, labels);
    }

    private static string Scalar(YamlNode node, string source) =>
        node is YamlScalarNode { Value: { } value } ? value : throw Error(node, source, "expected a single value");

    private static YamlMappingNode Mapping(YamlNode node, string source, string what) =>
        node as YamlMappingNode ?? throw Error(node, source, $"{what}: expected a mapping");

    private static YamlSequenceNode Sequence(YamlNode node, string source, string what) =>
        node as YamlSequenceNode ?? throw Error(node, source, $"{what}: expected a list, e.g. [read, run]");

    private static FormatException Error(YamlNode node, string source, string message) =>
        new($"{source}: line {node.Start.Line}: {message}");
}
