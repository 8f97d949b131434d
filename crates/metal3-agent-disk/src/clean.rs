//! Metadata cleaning, as ironic-python-agent's metadata erase: on every disk, the first and
//! last MiB of every partition found in its table (GPT or MBR, logical partitions included),
//! the backup GPT wherever the table says it is, and the first and last MiB of the disk —
//! which removes partition tables and file system signatures, not the data between them.

use std::fs::File;
use std::io;

use crate::partition::{Extent, Table};
use crate::sink::{open_disk, zero_range};
use crate::sysfs::BlockDevice;

const MIB: u64 = 1 << 20;

/// Disks whose metadata could not be erased.
#[derive(Debug, thiserror::Error)]
#[error("cannot erase the metadata of {}: check the disks, then clean again", list(.failures))]
pub struct CleanError {
    /// Each failed disk's name and why.
    pub failures: Vec<(String, io::Error)>,
}

fn list(failures: &[(String, io::Error)]) -> String {
    failures
        .iter()
        .map(|(name, e)| format!("{name} ({e})"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Erases partition tables and file system signatures on every disk of `devices`. Every disk
/// is tried; the error names each one that failed.
pub fn clean_metadata(devices: &[BlockDevice]) -> Result<(), CleanError> {
    let failures: Vec<(String, io::Error)> = devices
        .iter()
        .filter_map(|d| {
            let result = open_disk(&d.path).and_then(|file| erase(&file, d.size));
            result.err().map(|e| (d.name.clone(), e))
        })
        .collect();
    if failures.is_empty() {
        Ok(())
    } else {
        Err(CleanError { failures })
    }
}

/// The ranges [`erase`] zeroes on a disk of `size` bytes holding `table`: both ends of every
/// partition and of the disk, and the table's far copy; clamped to the disk, merged.
pub fn ranges(table: Option<&Table>, size: u64) -> Vec<Extent> {
    let mut areas: Vec<Extent> = table
        .map(|t| {
            let mut v = t.partitions();
            v.extend(t.far_metadata());
            v
        })
        .unwrap_or_default();
    areas.push(Extent {
        start: 0,
        len: size,
    });
    let mut out: Vec<Extent> = Vec::new();
    for area in areas {
        let end = area.start.saturating_add(area.len).min(size);
        if area.start >= end {
            continue;
        }
        let edge = MIB.min(end - area.start);
        out.push(Extent {
            start: area.start,
            len: edge,
        });
        out.push(Extent {
            start: end - edge,
            len: edge,
        });
    }
    out.sort_by_key(|e| e.start);
    let mut merged: Vec<Extent> = Vec::new();
    for e in out {
        match merged.last_mut() {
            Some(last) if e.start <= last.start + last.len => {
                let end = (e.start + e.len).max(last.start + last.len);
                last.len = end - last.start;
            }
            _ => merged.push(e),
        }
    }
    merged
}

/// Erases the metadata of the disk open in `file`, `size` bytes long.
pub fn erase(file: &File, size: u64) -> io::Result<()> {
    // A damaged table still points at partitions worth erasing; an unreadable one does not
    // stop the disk's own ends from being erased.
    let table = Table::read(file, size).ok().flatten();
    for range in ranges(table.as_ref(), size) {
        zero_range(file, range.start, range.len)?;
    }
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::FileExt;
    use std::path::PathBuf;

    use super::*;
    use crate::testutil::{blkid_at, sfdisk_disk};

    #[test]
    fn ranges_cover_both_ends_of_partitions_and_disk() {
        let size = 100 * MIB;
        assert_eq!(
            ranges(None, size),
            vec![
                Extent { start: 0, len: MIB },
                Extent {
                    start: 99 * MIB,
                    len: MIB
                }
            ]
        );
        // Tiny disk: the whole of it once.
        assert_eq!(
            ranges(None, 4096),
            vec![Extent {
                start: 0,
                len: 4096
            }]
        );
    }

    #[test]
    fn erases_tables_and_signatures_on_every_disk() {
        // A GPT disk grown after the image was written (backup in the middle), and an MBR disk
        // with a logical partition; each partition gets a file system signature.
        let gpt = sfdisk_disk(
            48 * MIB,
            "label: gpt\nstart=2048, size=20480\nstart=30720, size=20480\n",
        );
        gpt.as_file().set_len(256 * MIB).expect("grow");
        let mbr = sfdisk_disk(
            64 * MIB,
            "label: dos\nstart=2048, size=20480, type=83\nstart=30720, size=60000, type=5\nstart=32768, size=20480, type=83\n",
        );
        let ext4_magic = |file: &File, part_start: u64| {
            file.write_all_at(&[0x53, 0xef], part_start + 1024 + 0x38)
                .expect("magic");
        };
        for (file, starts) in [
            (gpt.as_file(), [MIB, 15 * MIB]),
            (mbr.as_file(), [MIB, 16 * MIB]),
        ] {
            for s in starts {
                ext4_magic(file, s);
            }
        }
        // Data between the ends stays.
        gpt.as_file().write_all_at(b"DATA", 5 * MIB).expect("data");
        assert!(blkid_at(gpt.path(), 0).contains("PTTYPE=gpt"));

        let devices: Vec<BlockDevice> = [(&gpt, 256 * MIB), (&mbr, 64 * MIB)]
            .iter()
            .map(|(t, size)| BlockDevice {
                name: t.path().display().to_string(),
                path: t.path().to_path_buf(),
                size: *size,
                ..BlockDevice::default()
            })
            .collect();
        clean_metadata(&devices).expect("clean");

        for (t, size) in [(&gpt, 256 * MIB), (&mbr, 64 * MIB)] {
            assert_eq!(Table::read(t.as_file(), size).expect("read"), None);
            assert_eq!(blkid_at(t.path(), 0), "", "no table");
            for offset in [MIB, 15 * MIB, 16 * MIB, 48 * MIB - 512] {
                let mut b = [0u8; 2];
                t.as_file()
                    .read_exact_at(&mut b, offset + 1024 + 0x38)
                    .expect("read");
                assert_eq!(b, [0, 0], "signature at {offset}");
            }
        }
        let mut data = [0u8; 4];
        gpt.as_file()
            .read_exact_at(&mut data, 5 * MIB)
            .expect("data");
        assert_eq!(&data, b"DATA");
        let mut backup = [0u8; 8];
        gpt.as_file()
            .read_exact_at(&mut backup, 48 * MIB - 512)
            .expect("backup");
        assert_eq!(backup, [0; 8], "the image's backup GPT");
    }

    #[test]
    fn names_the_disks_that_failed() {
        let missing = BlockDevice {
            name: "/dev/nope".into(),
            path: PathBuf::from("/nonexistent/metal3/disk"),
            size: MIB,
            ..BlockDevice::default()
        };
        let err = clean_metadata(&[missing]).expect_err("fails");
        assert!(
            err.to_string()
                .starts_with("cannot erase the metadata of /dev/nope ("),
            "{err}"
        );
    }
}
