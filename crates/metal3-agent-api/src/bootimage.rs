//! The contract between the agent's boot image and the hub that serves it per host.
//!
//! `metal3 agent-image` puts [`placeholder`] (exactly [`PLACEHOLDER_SIZE`] bytes) into the ISO
//! as the file the boot loader loads as a second initrd (`/metal3/host.cpio`). It is a valid
//! cpio archive (one harmless file), so the generic ISO boots as it is. When a BMC fetches a
//! host's ISO, the hub finds those bytes in the image ([`find_placeholder`]: ISO 9660 starts
//! every file on a 2048-byte sector) and serves [`host_archive`] in their place: a cpio archive
//! with the host's `etc/metal3-agent/config.json`, zero-padded to the same size (the kernel
//! skips zero padding between archives). Nothing per host goes on a kernel command line.
//!
//! [`Cpio`] writes the `newc` format the kernel unpacks; the agent image's own initramfs uses
//! it too.

use crate::config::AgentConfig;

/// Bytes of the per-host slot in the image.
pub const PLACEHOLDER_SIZE: usize = 65536;

/// Where the per-host slot is in the ISO.
pub const PLACEHOLDER_PATH: &str = "/metal3/host.cpio";

/// The file the generic image carries in the slot, and what it says.
const PLACEHOLDER_FILE: &str = "metal3/placeholder";
const PLACEHOLDER_TEXT: &[u8] =
    b"This is the generic Metal3 agent image: the hub writes a host's configuration here.\n";

/// Sector size of ISO 9660: every file starts on a sector boundary.
const SECTOR: usize = 2048;

/// A `newc` cpio archive being written (fixed mtime and owner: the same input gives the same
/// bytes).
#[derive(Default)]
pub struct Cpio {
    bytes: Vec<u8>,
    inode: u32,
}

impl Cpio {
    fn header(&mut self, name: &str, mode: u32, size: usize) {
        self.inode += 1;
        let fields = [
            self.inode,
            mode,
            0, // uid
            0, // gid
            1, // nlink
            0, // mtime
            size as u32,
            0, // dev major
            0, // dev minor
            0, // rdev major
            0, // rdev minor
            name.len() as u32 + 1,
            0, // check
        ];
        self.bytes.extend_from_slice(b"070701");
        for f in fields {
            self.bytes.extend_from_slice(format!("{f:08x}").as_bytes());
        }
        self.bytes.extend_from_slice(name.as_bytes());
        self.bytes.push(0);
        self.pad();
    }

    fn pad(&mut self) {
        while !self.bytes.len().is_multiple_of(4) {
            self.bytes.push(0);
        }
    }

    /// A directory (`name` without a leading `/`).
    pub fn dir(&mut self, name: &str, mode: u32) -> &mut Self {
        self.header(name, 0o040000 | (mode & 0o7777), 0);
        self
    }

    /// A regular file.
    pub fn file(&mut self, name: &str, mode: u32, content: &[u8]) -> &mut Self {
        self.header(name, 0o100000 | (mode & 0o7777), content.len());
        self.bytes.extend_from_slice(content);
        self.pad();
        self
    }

    /// A symbolic link to `target`.
    pub fn symlink(&mut self, name: &str, target: &str) -> &mut Self {
        self.header(name, 0o120777, target.len());
        self.bytes.extend_from_slice(target.as_bytes());
        self.pad();
        self
    }

    /// The archive, with its trailer.
    pub fn finish(mut self) -> Vec<u8> {
        self.header("TRAILER!!!", 0, 0);
        self.bytes
    }
}

/// The generic image's slot content.
pub fn placeholder() -> Vec<u8> {
    let mut cpio = Cpio::default();
    cpio.dir("metal3", 0o755)
        .file(PLACEHOLDER_FILE, 0o644, PLACEHOLDER_TEXT);
    let mut bytes = cpio.finish();
    bytes.resize(PLACEHOLDER_SIZE, 0);
    bytes
}

/// Why a host's configuration does not fit the slot.
#[derive(Debug, PartialEq, Eq)]
pub struct TooLarge(pub usize);

impl std::fmt::Display for TooLarge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the agent configuration takes {} bytes, more than the {PLACEHOLDER_SIZE} bytes the \
             boot image holds (is the host's network data that large?)",
            self.0
        )
    }
}

impl std::error::Error for TooLarge {}

/// The slot content for one host: `etc/metal3-agent/config.json` (0600), zero-padded.
pub fn host_archive(config: &AgentConfig) -> Result<Vec<u8>, TooLarge> {
    let json = serde_json::to_vec_pretty(config).unwrap_or_default();
    let mut cpio = Cpio::default();
    cpio.dir("etc", 0o755).dir("etc/metal3-agent", 0o700).file(
        "etc/metal3-agent/config.json",
        0o600,
        &json,
    );
    let mut bytes = cpio.finish();
    if bytes.len() > PLACEHOLDER_SIZE {
        return Err(TooLarge(bytes.len()));
    }
    bytes.resize(PLACEHOLDER_SIZE, 0);
    Ok(bytes)
}

/// The offset of the placeholder in `image`, when it holds exactly one.
pub fn find_placeholder(image: &[u8]) -> Option<u64> {
    let needle = placeholder();
    // The archive's header and file: enough to be unique, short enough to compare quickly.
    let prefix = &needle[..needle.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1)];
    let mut found = image
        .chunks(SECTOR)
        .enumerate()
        .filter(|(i, _)| image[i * SECTOR..].starts_with(prefix))
        .map(|(i, _)| (i * SECTOR) as u64);
    let first = found.next()?;
    found.next().is_none().then_some(first)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{HostRef, Secret};

    #[test]
    fn a_host_archive_replaces_the_placeholder_in_an_image() {
        let mut image = vec![0xAAu8; SECTOR * 60];
        let slot = 17 * SECTOR;
        image[slot..slot + PLACEHOLDER_SIZE].copy_from_slice(&placeholder());
        assert_eq!(find_placeholder(&image), Some(slot as u64));
        let config = AgentConfig {
            hub_url: "https://10.0.2.2:9443".into(),
            host: HostRef {
                namespace: "metal3".into(),
                name: "node-0".into(),
                uid: "u".into(),
            },
            token: Secret("t0k3n".into()),
            ..AgentConfig::default()
        };
        let archive = host_archive(&config).expect("fits");
        assert_eq!(archive.len(), PLACEHOLDER_SIZE);
        assert!(archive.starts_with(b"070701"));
        let text = String::from_utf8_lossy(&archive);
        assert!(text.contains("etc/metal3-agent/config.json"));
        assert!(text.contains("t0k3n"));
        assert!(text.contains("TRAILER!!!"));
        // The mode of the configuration file: 0100600.
        assert!(text.contains("00008180"), "{text}");
        image[slot..slot + PLACEHOLDER_SIZE].copy_from_slice(&archive);
        assert_eq!(
            find_placeholder(&image),
            None,
            "patched: no placeholder left"
        );
    }

    #[test]
    fn no_or_two_placeholders_are_not_found() {
        let image = vec![0u8; SECTOR * 64];
        assert_eq!(find_placeholder(&image), None);
        let mut two = vec![0u8; SECTOR * 80];
        two[..PLACEHOLDER_SIZE].copy_from_slice(&placeholder());
        two[40 * SECTOR..40 * SECTOR + PLACEHOLDER_SIZE].copy_from_slice(&placeholder());
        assert_eq!(find_placeholder(&two), None, "ambiguous");
        let huge = AgentConfig {
            network_data: Some(serde_json::json!({"x": "y".repeat(PLACEHOLDER_SIZE)})),
            ..AgentConfig::default()
        };
        let err = host_archive(&huge).expect_err("too large");
        assert!(err.to_string().contains("network data"));
    }

    #[test]
    fn cpio_records_are_newc_and_aligned() {
        let mut cpio = Cpio::default();
        cpio.dir("bin", 0o755)
            .file("init", 0o755, b"#!/bin/sh\n")
            .symlink("bin/sh", "busybox");
        let bytes = cpio.finish();
        assert_eq!(bytes.len() % 4, 0);
        assert_eq!(&bytes[..6], b"070701");
        assert_eq!(bytes.windows(4).filter(|w| *w == b"0707").count(), 4);
    }
}
