using Vic.ImageStore.Layers;
using Vic.PortLayer.Errors;
using Vic.Registry;

namespace Vic.PortLayer.Images;

/// <summary>Turns image-store failures into the errors dockerd answers with.</summary>
internal static class ImageErrors
{
    public static PortLayerException Translate(Exception error) => error switch
    {
        PortLayerException p => p,
        RegistryException { Kind: RegistryErrorKind.NotFound } r => new PortLayerException(ErrorKind.NotFound, r.Message, r),

        // dockerd reports a refused pull as "not found" so that it does not reveal private repositories.
        RegistryException { Kind: RegistryErrorKind.Unauthorized } r => new PortLayerException(ErrorKind.NotFound, r.Message, r),
        RegistryException r => new PortLayerException(ErrorKind.System, r.Message, r),
        // What the client sent is at fault (a hostile or broken tar), not the VCH: 400, as bad input always is.
        LayerRefusedException l => new PortLayerException(ErrorKind.InvalidParameter, $"failed to register layer: {l.Message}", l),
        FormatException f => PortLayerException.InvalidParameter(f.Message),
        InvalidDataException or EndOfStreamException => new PortLayerException(ErrorKind.InvalidParameter, $"invalid archive: {error.Message}", error),
        _ => new PortLayerException(ErrorKind.System, error.Message, error),
    };
}
