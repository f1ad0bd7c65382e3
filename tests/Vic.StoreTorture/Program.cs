using System.Globalization;
using Vic.PortLayer.Store;

// Writes records to a VchStore as fast as it can and prints "ack N" only after each write returned.
// The crash-safety test kills this process with SIGKILL mid-stream and checks that every
// acknowledged record is in the store afterwards.
if (args.Length != 1)
{
    Console.Error.WriteLine("usage: Vic.StoreTorture <store-path>");
    return 2;
}

using var store = VchStore.Open(args[0]);
var body = new string('x', 2048);
for (var i = 0; ; i++)
{
    var id = i.ToString("D8", CultureInfo.InvariantCulture);
    var kind = (RecordKind)(i % 5);
    store.Put(kind, id, $"name-{id}", $"{{\"seq\":{i},\"pad\":\"{body}\"}}");
    if (i % 3 == 2)
    {
        // Deletes are writes too: a deleted record must stay deleted.
        store.Delete((RecordKind)((i - 1) % 5), (i - 1).ToString("D8", CultureInfo.InvariantCulture));
    }

    Console.Out.WriteLine($"ack {i}");
    Console.Out.Flush();
}
