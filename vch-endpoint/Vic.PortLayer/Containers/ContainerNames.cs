using System.Security.Cryptography;

namespace Vic.PortLayer.Containers;

/// <summary>Docker-style generated names (<c>adjective_scientist</c>) for containers created without --name.</summary>
public static class ContainerNames
{
    private static readonly string[] Adjectives =
    [
        "admiring", "agitated", "amazing", "awesome", "blissful", "bold", "brave", "charming", "clever", "compassionate",
        "confident", "cool", "dazzling", "determined", "eager", "ecstatic", "elegant", "epic", "festive", "focused",
        "friendly", "gallant", "gifted", "happy", "hopeful", "jolly", "keen", "kind", "loving", "lucid", "modest",
        "nice", "optimistic", "peaceful", "practical", "quirky", "relaxed", "serene", "sharp", "stoic", "tender",
        "trusting", "upbeat", "vibrant", "wizardly", "zealous",
    ];

    private static readonly string[] Surnames =
    [
        "albattani", "babbage", "bardeen", "bohr", "curie", "darwin", "dijkstra", "einstein", "euler", "fermat",
        "feynman", "galileo", "goldberg", "hamilton", "hopper", "hypatia", "johnson", "kepler", "knuth", "lamport",
        "lovelace", "mccarthy", "meitner", "noether", "pascal", "ritchie", "shannon", "thompson", "torvalds", "turing",
        "wozniak", "yonath",
    ];

    public static string Generate() =>
        $"{Adjectives[RandomNumberGenerator.GetInt32(Adjectives.Length)]}_{Surnames[RandomNumberGenerator.GetInt32(Surnames.Length)]}";
}
