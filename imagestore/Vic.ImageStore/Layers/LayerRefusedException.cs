namespace Vic.ImageStore.Layers;

/// <summary>A layer tar we will not apply: it tries to escape the root, or is absurd. Nothing of it is kept.</summary>
public sealed class LayerRefusedException(string message) : Exception(message);
