//! The config drive, as Ironic lays it out: after the image, a partition at the end of the
//! disk (at most 64 MiB) holding a FAT file system labelled `config-2` with
//! `openstack/latest/meta_data.json`, `user_data` and `network_data.json`. GPT disks get the
//! backup table moved to the disk's end first; MBR disks get a new primary partition.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

use metal3_agent_api::ConfigDrive;

use crate::fat::{self, FatError};
use crate::partition::gpt;
use crate::partition::mbr::{AddError, MBR_LIMIT};
use crate::partition::{Extent, Table};
use crate::sink::write_zeros;

/// The largest config drive partition.
pub const CONFIG_DRIVE_MAX: u64 = 64 << 20;
/// The file system label cloud-init and the test image look for.
pub const LABEL: &str = "config-2";
/// GPT type of the partition: Linux file system data.
const LINUX_DATA: &str = "0FC63DAF-8483-4772-8E79-3D69D8477DE4";
/// MBR type of the partition: FAT32 (LBA).
const MBR_FAT: u8 = 0x0c;
const MIB: u64 = 1 << 20;
/// The smallest partition the FAT16 layout takes.
const MIN_LEN: u64 = 16 * MIB;

/// Why the config drive was not written.
#[derive(Debug, thiserror::Error)]
pub enum ConfigDriveError {
    #[error(
        "the image has no partition table (GPT or MBR), so no config drive partition can be added: use a partitioned disk image"
    )]
    NoTable,
    #[error("the image's GPT has wrong checksums: check the image")]
    InvalidGpt,
    #[error(
        "no room for the config drive: the image reaches {image_end} bytes and the partition would start at {start}; use a disk at least 64 MiB larger than the image"
    )]
    NoRoom { image_end: u64, start: u64 },
    #[error("cannot add the config drive partition: {0}")]
    Table(#[from] AddError),
    #[error("cannot lay out the config drive: {0}")]
    Fat(#[from] FatError),
    #[error("cannot write the config drive: {0}")]
    Io(#[from] io::Error),
}

/// Adds the config drive to the disk in `file` (of `disk_size` bytes) whose image ends at
/// `image_end`; returns the partition.
pub fn write(
    file: &File,
    disk_size: u64,
    image_end: u64,
    drive: &ConfigDrive,
) -> Result<Extent, ConfigDriveError> {
    let part = match Table::read(file, disk_size)? {
        None => return Err(ConfigDriveError::NoTable),
        Some(Table::Gpt(mut g)) => {
            if !g.valid {
                return Err(ConfigDriveError::InvalidGpt);
            }
            check_room(g.end_extent(disk_size, CONFIG_DRIVE_MAX), image_end)?;
            let linux = gpt::guid_bytes(LINUX_DATA).ok_or(ConfigDriveError::InvalidGpt)?;
            g.add_at_end(file, disk_size, linux, LABEL, CONFIG_DRIVE_MAX)?
        }
        Some(Table::Mbr(mut m)) => {
            // An MBR addresses 2 TiB: on larger disks the partition ends there.
            let end = disk_size.min(MBR_LIMIT) / 512 * 512;
            let start = end.saturating_sub(CONFIG_DRIVE_MAX).next_multiple_of(MIB);
            let part = Extent {
                start,
                len: end.saturating_sub(start),
            };
            check_room(part, image_end)?;
            m.add(file, MBR_FAT, start, end)?;
            part
        }
    };
    format(file, part, drive)?;
    file.sync_all()?;
    Ok(part)
}

fn check_room(part: Extent, image_end: u64) -> Result<(), ConfigDriveError> {
    if part.start < image_end || part.len < MIN_LEN {
        return Err(ConfigDriveError::NoRoom {
            image_end,
            start: part.start,
        });
    }
    Ok(())
}

/// Writes a FAT file system labelled `config-2` with the drive's files into `part`.
fn format(file: &File, part: Extent, drive: &ConfigDrive) -> Result<(), ConfigDriveError> {
    let json = |v: &serde_json::Value| serde_json::to_vec_pretty(v).map_err(io::Error::other);
    let mut files = vec![("openstack/latest/meta_data.json", json(&drive.meta_data)?)];
    if let Some(user_data) = &drive.user_data {
        files.push(("openstack/latest/user_data", user_data.as_bytes().to_vec()));
    }
    if let Some(network_data) = &drive.network_data {
        files.push(("openstack/latest/network_data.json", json(network_data)?));
    }
    let files: Vec<(&str, &[u8])> = files.iter().map(|(p, d)| (*p, d.as_slice())).collect();
    let hidden = u32::try_from(part.start / 512).unwrap_or(0);
    let pieces = fat::layout(part.len, hidden, fastrand::u32(..), LABEL, &files)?;
    // Old signatures at either end of the range must not outlive the new file system.
    let edge = MIB.min(part.len);
    write_zeros(file, part.start, edge)?;
    write_zeros(file, part.start + part.len - edge, edge)?;
    for (offset, bytes) in pieces {
        file.write_all_at(&bytes, part.start + offset)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
