namespace Vic.Disks.Ext4;

/// <summary>
/// Writes encoded inodes into their group's inode table, in ascending inode order, batching
/// neighbouring table blocks into one write. Table blocks holding no used inode are never written
/// (they stay zero holes).
/// </summary>
internal sealed class InodeTableWriter(Ext4Layout layout, BlockTarget target)
{
    private const int BatchBlocks = 64;
    private readonly byte[] _batch = new byte[BatchBlocks * Ext4Layout.BlockSize];
    private long _batchStart = -1;
    private int _batchBlocks;

    public void Write(uint inodeNumber, ReadOnlySpan<byte> inode)
    {
        var index = inodeNumber - 1;
        var group = (int)(index / layout.InodesPerGroup);
        var within = (int)(index % layout.InodesPerGroup);
        var block = layout.InodeTable(group) + (within / Ext4Layout.InodesPerBlock);
        if (_batchStart < 0 || block < _batchStart || block >= _batchStart + BatchBlocks)
        {
            Flush();
            _batchStart = block;
        }

        var offset = (int)(block - _batchStart);
        _batchBlocks = Math.Max(_batchBlocks, offset + 1);
        inode.CopyTo(_batch.AsSpan((offset * Ext4Layout.BlockSize) + (within % Ext4Layout.InodesPerBlock * Ext4Layout.InodeSize)));
    }

    public void Flush()
    {
        if (_batchBlocks > 0)
        {
            target.Write(_batchStart, _batch.AsSpan(0, _batchBlocks * Ext4Layout.BlockSize));
        }

        Array.Clear(_batch);
        _batchStart = -1;
        _batchBlocks = 0;
    }
}
