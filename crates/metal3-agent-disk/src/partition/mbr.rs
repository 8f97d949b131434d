//! The DOS (MBR) partition table: four primary entries at byte 446, logical partitions in a
//! chain of extended boot records, and adding a primary partition.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

use super::{Extent, le32, read_at};

const SECTOR: u64 = 512;
const ENTRIES_AT: usize = 446;
/// Logical partitions followed at most (a loop in the chain must end).
const MAX_LOGICAL: usize = 128;

/// One primary entry.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Entry {
    pub kind: u8,
    pub start_lba: u32,
    pub sectors: u32,
}

impl Entry {
    fn is_extended(&self) -> bool {
        matches!(self.kind, 0x05 | 0x0f | 0x85)
    }

    /// One past the last sector.
    pub fn end_lba(&self) -> u64 {
        u64::from(self.start_lba) + u64::from(self.sectors)
    }
}

/// An MBR partition table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mbr {
    pub entries: [Entry; 4],
    /// Logical partitions inside an extended one, as byte ranges.
    pub logical: Vec<Extent>,
}

/// Why a partition cannot be added.
#[derive(Debug, thiserror::Error)]
pub enum AddError {
    #[error("all four primary partitions of the MBR are in use")]
    Full,
    #[error(
        "no room at the end of the disk: the partitions end at {used} bytes and the new one needs to start by {start}"
    )]
    NoRoom { used: u64, start: u64 },
    #[error(transparent)]
    Io(#[from] io::Error),
}

impl Mbr {
    /// Parses the boot sector `sector` (512 bytes).
    pub fn parse(sector: &[u8]) -> Option<Mbr> {
        if sector.len() < 512 || sector[510..512] != [0x55, 0xaa] {
            return None;
        }
        let mut entries = [Entry::default(); 4];
        for (i, e) in entries.iter_mut().enumerate() {
            let b = &sector[ENTRIES_AT + 16 * i..ENTRIES_AT + 16 * (i + 1)];
            // A boot sector of a file system (no table) has code here: the status byte tells.
            if b[0] != 0 && b[0] != 0x80 {
                return None;
            }
            *e = Entry {
                kind: b[4],
                start_lba: le32(b, 8),
                sectors: le32(b, 12),
            };
        }
        let used = entries
            .iter()
            .filter(|e| e.kind != 0 && e.sectors > 0)
            .count();
        if used == 0 || entries.iter().any(|e| e.kind == 0xee) {
            return None;
        }
        Some(Mbr {
            entries,
            logical: Vec::new(),
        })
    }

    /// Reads the table on `file`, following the chain of logical partitions.
    pub fn read(file: &File, disk_size: u64) -> io::Result<Option<Mbr>> {
        let Some(sector) = read_at(file, 0, 512, disk_size)? else {
            return Ok(None);
        };
        let Some(mut mbr) = Mbr::parse(&sector) else {
            return Ok(None);
        };
        if let Some(ext) = mbr.entries.iter().find(|e| e.is_extended()) {
            let base = u64::from(ext.start_lba);
            let mut ebr = base;
            for _ in 0..MAX_LOGICAL {
                let Some(s) = read_at(file, ebr * SECTOR, 512, disk_size)? else {
                    break;
                };
                if s[510..512] != [0x55, 0xaa] {
                    break;
                }
                let first = &s[ENTRIES_AT..ENTRIES_AT + 16];
                if first[4] != 0 && le32(first, 12) > 0 {
                    mbr.logical.push(Extent {
                        start: (ebr + u64::from(le32(first, 8))) * SECTOR,
                        len: u64::from(le32(first, 12)) * SECTOR,
                    });
                }
                let next = &s[ENTRIES_AT + 16..ENTRIES_AT + 32];
                let rel = u64::from(le32(next, 8));
                if next[4] == 0 || rel == 0 {
                    break;
                }
                ebr = base + rel;
            }
        }
        Ok(Some(mbr))
    }

    /// Primary and logical partitions (an extended container is not one).
    pub fn partitions(&self) -> Vec<Extent> {
        self.entries
            .iter()
            .filter(|e| e.kind != 0 && e.sectors > 0 && !e.is_extended())
            .map(|e| Extent {
                start: u64::from(e.start_lba) * SECTOR,
                len: u64::from(e.sectors) * SECTOR,
            })
            .chain(self.logical.iter().copied())
            .collect()
    }

    /// Adds a primary partition of type `kind` at `[start, end)` (bytes, sector aligned) and
    /// writes the boot sector. The partition must start after every existing one.
    pub fn add(&mut self, file: &File, kind: u8, start: u64, end: u64) -> Result<u8, AddError> {
        let slot = self
            .entries
            .iter()
            .position(|e| e.kind == 0 || e.sectors == 0)
            .ok_or(AddError::Full)?;
        let used = self.entries.iter().map(Entry::end_lba).max().unwrap_or(0) * SECTOR;
        if start < used {
            return Err(AddError::NoRoom { used, start });
        }
        let start_lba =
            u32::try_from(start / SECTOR).map_err(|_| AddError::NoRoom { used, start })?;
        let sectors =
            u32::try_from((end - start) / SECTOR).map_err(|_| AddError::NoRoom { used, start })?;
        self.entries[slot] = Entry {
            kind,
            start_lba,
            sectors,
        };
        let mut sector = vec![0u8; 512];
        file.read_exact_at(&mut sector, 0)?;
        let b = &mut sector[ENTRIES_AT + 16 * slot..ENTRIES_AT + 16 * (slot + 1)];
        b[0] = 0;
        // CHS fields past the 1024-cylinder limit: the LBA fields are what counts.
        b[1..4].copy_from_slice(&[0xfe, 0xff, 0xff]);
        b[4] = kind;
        b[5..8].copy_from_slice(&[0xfe, 0xff, 0xff]);
        b[8..12].copy_from_slice(&start_lba.to_le_bytes());
        b[12..16].copy_from_slice(&sectors.to_le_bytes());
        file.write_all_at(&sector, 0)?;
        Ok(slot as u8 + 1)
    }
}

/// The largest disk an MBR addresses.
pub const MBR_LIMIT: u64 = (u32::MAX as u64) * SECTOR;

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(sector: &mut [u8], i: usize, status: u8, kind: u8, start: u32, len: u32) {
        let b = &mut sector[ENTRIES_AT + 16 * i..ENTRIES_AT + 16 * (i + 1)];
        b[0] = status;
        b[4] = kind;
        b[8..12].copy_from_slice(&start.to_le_bytes());
        b[12..16].copy_from_slice(&len.to_le_bytes());
    }

    #[test]
    fn reads_primary_and_logical_partitions_and_adds_one() {
        let tmp = tempfile::NamedTempFile::new().expect("tmp");
        let file = tmp.as_file();
        let size = 64 << 20;
        file.set_len(size).expect("len");
        let mut mbr = vec![0u8; 512];
        mbr[510..].copy_from_slice(&[0x55, 0xaa]);
        entry(&mut mbr, 0, 0x80, 0x83, 2048, 2048);
        entry(&mut mbr, 1, 0, 0x05, 8192, 16384);
        file.write_all_at(&mbr, 0).expect("mbr");
        // Two logical partitions: EBR at 8192 (partition at +2048), next EBR at +8192.
        let mut ebr = vec![0u8; 512];
        ebr[510..].copy_from_slice(&[0x55, 0xaa]);
        entry(&mut ebr, 0, 0, 0x83, 2048, 1024);
        entry(&mut ebr, 1, 0, 0x05, 8192, 4096);
        file.write_all_at(&ebr, 8192 * 512).expect("ebr1");
        let mut ebr2 = vec![0u8; 512];
        ebr2[510..].copy_from_slice(&[0x55, 0xaa]);
        entry(&mut ebr2, 0, 0, 0x83, 2048, 512);
        file.write_all_at(&ebr2, (8192 + 8192) * 512).expect("ebr2");

        let mut table = Mbr::read(file, size).expect("read").expect("mbr");
        assert_eq!(
            table.partitions(),
            vec![
                Extent {
                    start: 2048 * 512,
                    len: 2048 * 512
                },
                Extent {
                    start: (8192 + 2048) * 512,
                    len: 1024 * 512
                },
                Extent {
                    start: (16384 + 2048) * 512,
                    len: 512 * 512
                },
            ]
        );
        // Overlapping the extended partition is refused; after it, slot 3 is used.
        assert!(matches!(
            table.add(file, 0x0c, 20000 * 512, size),
            Err(AddError::NoRoom { .. })
        ));
        assert_eq!(table.add(file, 0x0c, 32 << 20, size).expect("add"), 3);
        let again = Mbr::read(file, size).expect("read").expect("mbr");
        assert_eq!(
            again.entries[2],
            Entry {
                kind: 0x0c,
                start_lba: 65536,
                sectors: 65536
            }
        );
        let mut full = again.clone();
        full.entries[3] = Entry {
            kind: 0x83,
            start_lba: 1,
            sectors: 1,
        };
        assert!(matches!(
            full.add(file, 0x0c, size - 512, size),
            Err(AddError::Full)
        ));
    }

    #[test]
    fn boot_sectors_without_a_table_are_not_tables() {
        let mut fat = vec![0x33u8; 512];
        fat[510..].copy_from_slice(&[0x55, 0xaa]);
        assert_eq!(Mbr::parse(&fat), None);
        let mut empty = vec![0u8; 512];
        empty[510..].copy_from_slice(&[0x55, 0xaa]);
        assert_eq!(Mbr::parse(&empty), None, "no partitions");
        let mut protective = empty.clone();
        entry(&mut protective, 0, 0, 0xee, 1, 100);
        assert_eq!(Mbr::parse(&protective), None, "GPT's protective MBR");
        assert_eq!(Mbr::parse(&[0u8; 512]), None);
    }
}
