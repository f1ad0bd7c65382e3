namespace Vic.Disks.Ext4.Tests;

/// <summary>Metadata shorthands for the tests.</summary>
internal static class Meta
{
    public static readonly DateTimeOffset Time = new DateTimeOffset(2021, 3, 4, 5, 6, 7, TimeSpan.Zero).AddTicks(1234567);

    public static Ext4Metadata File(int mode = 0x1A4, int uid = 0, int gid = 0, Dictionary<string, byte[]>? xattrs = null) =>
        new(mode, uid, gid, Time, xattrs);

    public static Ext4Metadata Directory(int mode = 0x1ED, Dictionary<string, byte[]>? xattrs = null) =>
        new(mode, 0, 0, Time, xattrs);

    public static MemoryStream Text(string text) => new(System.Text.Encoding.UTF8.GetBytes(text));

    public static void AddText(this Ext4Writer writer, string path, string text, Ext4Metadata? metadata = null)
    {
        using var content = Text(text);
        writer.AddFile(path, metadata ?? File(), content, content.Length);
    }
}
