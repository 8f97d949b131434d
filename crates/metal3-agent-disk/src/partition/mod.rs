//! Partition tables on a disk: finding GPT (512-byte or 4 KiB sectors) or MBR (with logical
//! partitions), listing partitions for cleaning, and adding the config drive partition.
//!
//! - [`gpt`]: the GUID partition table: reading, moving the backup to the disk's end, adding
//!   a partition;
//! - [`mbr`]: the DOS partition table: reading (primary and logical), adding a primary.

pub mod gpt;
pub mod mbr;

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

/// A byte range of the disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Extent {
    pub start: u64,
    pub len: u64,
}

/// The partition table found on a disk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Table {
    Gpt(gpt::Gpt),
    Mbr(mbr::Mbr),
}

impl Table {
    /// Reads the table on `file` (a disk of `disk_size` bytes); `None` if it has none.
    pub fn read(file: &File, disk_size: u64) -> io::Result<Option<Table>> {
        if let Some(g) = gpt::Gpt::read(file, disk_size)? {
            return Ok(Some(Table::Gpt(g)));
        }
        Ok(mbr::Mbr::read(file, disk_size)?.map(Table::Mbr))
    }

    /// The partitions, as byte ranges (not clamped to the disk).
    pub fn partitions(&self) -> Vec<Extent> {
        match self {
            Table::Gpt(g) => g.partitions(),
            Table::Mbr(m) => m.partitions(),
        }
    }

    /// Byte ranges holding the table itself beyond the disk's first MiB (the backup GPT).
    pub fn far_metadata(&self) -> Vec<Extent> {
        match self {
            Table::Gpt(g) => g.backup_extent().into_iter().collect(),
            Table::Mbr(_) => Vec::new(),
        }
    }
}

/// Reads exactly `len` bytes at `offset`; `None` past the disk's end.
fn read_at(file: &File, offset: u64, len: usize, disk_size: u64) -> io::Result<Option<Vec<u8>>> {
    if offset.saturating_add(len as u64) > disk_size {
        return Ok(None);
    }
    let mut buf = vec![0u8; len];
    file.read_exact_at(&mut buf, offset)?;
    Ok(Some(buf))
}

fn le32(b: &[u8], o: usize) -> u32 {
    u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]])
}

fn le64(b: &[u8], o: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[o..o + 8]);
    u64::from_le_bytes(a)
}
