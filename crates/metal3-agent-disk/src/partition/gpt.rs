//! The GUID partition table: the primary header at LBA 1 (512-byte or 4 KiB sectors), its
//! entries, the backup at the disk's end; adding a partition at the end of a disk an image
//! was written to (which moves the backup from the image's end to the disk's).

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

use super::mbr::AddError;
use super::{Extent, le32, le64, read_at};

const SIGNATURE: &[u8; 8] = b"EFI PART";
/// Entry arrays larger than this are not believed.
const MAX_ENTRIES_BYTES: u64 = 4 << 20;

/// A GPT as found on the disk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Gpt {
    /// Logical sector size: 512 or 4096.
    pub sector: u64,
    /// The primary header's bytes (`header_size` of them).
    pub header: Vec<u8>,
    /// The partition entry array.
    pub entries: Vec<u8>,
    /// Whether both checksums (header and entries) are right.
    pub valid: bool,
}

/// A GUID as it is stored (the first three fields little-endian) from its text form.
pub fn guid_bytes(text: &str) -> Option<[u8; 16]> {
    let hex: String = text.chars().filter(|c| *c != '-').collect();
    if hex.len() != 32 {
        return None;
    }
    let mut b = [0u8; 16];
    for (i, byte) in b.iter_mut().enumerate() {
        *byte = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    b[0..4].reverse();
    b[4..6].reverse();
    b[6..8].reverse();
    Some(b)
}

impl Gpt {
    /// Reads the primary GPT on `file`; `None` if there is none.
    pub fn read(file: &File, disk_size: u64) -> io::Result<Option<Gpt>> {
        for sector in [512u64, 4096] {
            let Some(head) = read_at(file, sector, 512, disk_size)? else {
                continue;
            };
            if &head[..8] != SIGNATURE {
                continue;
            }
            let header_size = u64::from(le32(&head, 12));
            if !(92..=512).contains(&header_size) {
                continue;
            }
            let header = head[..header_size as usize].to_vec();
            let mut gpt = Gpt {
                sector,
                header,
                entries: Vec::new(),
                valid: false,
            };
            let bytes = u64::from(gpt.num_entries()) * u64::from(gpt.entry_size());
            if gpt.entry_size() >= 128 && bytes <= MAX_ENTRIES_BYTES {
                let at = gpt.entries_lba().saturating_mul(sector);
                if let Some(entries) = read_at(file, at, bytes as usize, disk_size)? {
                    gpt.entries = entries;
                }
            }
            gpt.valid = !gpt.entries.is_empty()
                && le32(&gpt.header, 16) == gpt.header_crc()
                && le32(&gpt.header, 88) == crc32fast::hash(&gpt.entries);
            return Ok(Some(gpt));
        }
        Ok(None)
    }

    fn field(&self, offset: usize) -> u64 {
        le64(&self.header, offset)
    }

    fn set(&mut self, offset: usize, value: u64) {
        self.header[offset..offset + 8].copy_from_slice(&value.to_le_bytes());
    }

    pub fn backup_lba(&self) -> u64 {
        self.field(32)
    }

    pub fn first_usable(&self) -> u64 {
        self.field(40)
    }

    pub fn last_usable(&self) -> u64 {
        self.field(48)
    }

    pub fn entries_lba(&self) -> u64 {
        self.field(72)
    }

    pub fn num_entries(&self) -> u32 {
        le32(&self.header, 80)
    }

    pub fn entry_size(&self) -> u32 {
        le32(&self.header, 84)
    }

    fn header_crc(&self) -> u32 {
        let mut h = self.header.clone();
        h[16..20].fill(0);
        crc32fast::hash(&h)
    }

    fn entry(&self, i: usize) -> &[u8] {
        let size = self.entry_size() as usize;
        &self.entries[i * size..(i + 1) * size]
    }

    fn entry_count(&self) -> usize {
        self.entries.len() / (self.entry_size().max(1) as usize)
    }

    /// `(first, last)` LBAs of each used entry.
    fn used(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        (0..self.entry_count())
            .map(|i| self.entry(i))
            .filter(|e| e[..16].iter().any(|b| *b != 0))
            .map(|e| (le64(e, 32), le64(e, 40)))
    }

    /// The partitions as byte ranges.
    pub fn partitions(&self) -> Vec<Extent> {
        self.used()
            .filter(|(first, last)| last >= first)
            .map(|(first, last)| Extent {
                start: first.saturating_mul(self.sector),
                len: (last - first + 1).saturating_mul(self.sector),
            })
            .collect()
    }

    /// Where the backup header is, if it is not the primary's place.
    pub fn backup_extent(&self) -> Option<Extent> {
        let lba = self.backup_lba();
        (lba > 1).then(|| Extent {
            start: lba.saturating_mul(self.sector),
            len: self.sector,
        })
    }

    /// Where [`Gpt::add_at_end`] puts a partition of at most `max_len` bytes on a disk of
    /// `disk_size`: ending at the last usable sector once the backup GPT is at the disk's end,
    /// starting on a MiB boundary.
    pub fn end_extent(&self, disk_size: u64, max_len: u64) -> Extent {
        let ss = self.sector;
        let entries_sectors = (self.entries.len() as u64).div_ceil(ss);
        // The backup header and its entries take the last sectors.
        let end = (disk_size / ss).saturating_sub(1 + entries_sectors) * ss;
        let start = end.saturating_sub(max_len).next_multiple_of(1 << 20);
        Extent {
            start,
            len: end.saturating_sub(start),
        }
    }

    /// Adds the partition [`Gpt::end_extent`] places, after moving the backup GPT to the
    /// disk's end. Writes the entries, both headers and the protective MBR; returns the new
    /// partition's bytes.
    pub fn add_at_end(
        &mut self,
        file: &File,
        disk_size: u64,
        type_guid: [u8; 16],
        name: &str,
        max_len: u64,
    ) -> Result<Extent, AddError> {
        let ss = self.sector;
        let last_lba = disk_size / ss - 1;
        let Extent { start, len } = self.end_extent(disk_size, max_len);
        let end = start + len;
        let last_usable = end / ss - 1;
        let backup_entries_lba = last_usable + 1;
        let used = self
            .used()
            .map(|(_, last)| last + 1)
            .max()
            .unwrap_or(0)
            .max(self.first_usable())
            * ss;
        if start < used || start >= end {
            return Err(AddError::NoRoom { used, start });
        }
        let slot = (0..self.entry_count())
            .find(|&i| self.entry(i)[..16].iter().all(|b| *b == 0))
            .ok_or(AddError::Full)?;
        let size = self.entry_size() as usize;
        let e = &mut self.entries[slot * size..(slot + 1) * size];
        e.fill(0);
        e[..16].copy_from_slice(&type_guid);
        let mut unique = [0u8; 16];
        unique.iter_mut().for_each(|b| *b = fastrand::u8(..));
        unique[7] = (unique[7] & 0x0f) | 0x40; // version 4, stored little-endian
        unique[8] = (unique[8] & 0x3f) | 0x80;
        e[16..32].copy_from_slice(&unique);
        e[32..40].copy_from_slice(&(start / ss).to_le_bytes());
        e[40..48].copy_from_slice(&last_usable.to_le_bytes());
        for (i, unit) in name.encode_utf16().take(36).enumerate() {
            e[56 + 2 * i..58 + 2 * i].copy_from_slice(&unit.to_le_bytes());
        }

        let old_backup = self.backup_lba();
        self.set(32, last_lba);
        self.set(48, last_usable);
        let entries_crc = crc32fast::hash(&self.entries);
        self.header[88..92].copy_from_slice(&entries_crc.to_le_bytes());
        let primary = self.sealed();
        let mut backup = self.clone();
        backup.set(24, last_lba);
        backup.set(32, 1);
        backup.set(72, backup_entries_lba);
        let backup = backup.sealed();
        self.header = primary.clone();
        self.valid = true;

        let pad = |h: &[u8]| {
            let mut s = vec![0u8; ss as usize];
            s[..h.len()].copy_from_slice(h);
            s
        };
        if old_backup != last_lba && old_backup > 1 && (old_backup + 1) * ss <= disk_size {
            file.write_all_at(&vec![0u8; ss as usize], old_backup * ss)?;
        }
        file.write_all_at(&self.entries, backup_entries_lba * ss)?;
        file.write_all_at(&pad(&backup), last_lba * ss)?;
        file.write_all_at(&self.entries, self.entries_lba() * ss)?;
        file.write_all_at(&pad(&primary), ss)?;
        protective_mbr(file, disk_size, ss)?;
        Ok(Extent {
            start,
            len: end - start,
        })
    }

    /// The header with its checksum set.
    fn sealed(&self) -> Vec<u8> {
        let mut h = self.header.clone();
        h[16..20].copy_from_slice(&self.header_crc().to_le_bytes());
        h
    }
}

/// Makes a protective MBR entry cover the whole (grown) disk.
fn protective_mbr(file: &File, disk_size: u64, ss: u64) -> io::Result<()> {
    let mut mbr = vec![0u8; 512];
    file.read_exact_at(&mut mbr, 0)?;
    if mbr[510..512] != [0x55, 0xaa] {
        return Ok(());
    }
    for i in 0..4 {
        let at = 446 + 16 * i;
        if mbr[at + 4] == 0xee {
            let sectors = (disk_size / ss - 1).min(u64::from(u32::MAX)) as u32;
            mbr[at + 12..at + 16].copy_from_slice(&sectors.to_le_bytes());
            file.write_all_at(&mbr, 0)?;
            break;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
