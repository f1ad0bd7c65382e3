namespace Vic.Build.Steps;

/// <summary>A folder for one step's files on the VCH, gone when the step is.</summary>
internal sealed class ScratchFolder : IDisposable
{
    public ScratchFolder(string parent) => Path = Directory.CreateDirectory(System.IO.Path.Combine(parent, $"step-{Guid.NewGuid():N}")).FullName;

    public string Path { get; }

    public void Dispose()
    {
        if (Directory.Exists(Path))
        {
            Directory.Delete(Path, recursive: true);
        }
    }
}
