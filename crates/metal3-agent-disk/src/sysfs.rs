//! The machine's disks as the kernel shows them in sysfs: size, identity (model, vendor,
//! serial, WWN), rotational, SCSI address and the udev-style by-path name, read without udev.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::bypath::{self, SysTree};

/// A disk as the agent sees it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BlockDevice {
    /// The kernel's name under `/dev`, e.g. `/dev/vda`.
    pub name: String,
    /// Where to open it (a regular file in tests).
    pub path: PathBuf,
    /// Size in bytes.
    pub size: u64,
    pub model: String,
    pub vendor: String,
    pub serial: String,
    /// The World Wide Name, `0x…` for SCSI/ATA, `eui.…`/`nvme.…` for NVMe; empty if none.
    pub wwn: String,
    pub wwn_with_extension: String,
    pub wwn_vendor_extension: String,
    pub rotational: bool,
    /// `host:channel:target:lun` for SCSI disks, empty otherwise.
    pub hctl: String,
    /// `/dev/disk/by-path/…` as udev would name it; empty when udev would not name it.
    pub by_path: String,
}

/// Where the kernel's views are: `/sys` and `/dev` on a host, a test tree in tests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Roots {
    pub sys: PathBuf,
    pub dev: PathBuf,
}

impl Default for Roots {
    fn default() -> Self {
        Roots {
            sys: PathBuf::from("/sys"),
            dev: PathBuf::from("/dev"),
        }
    }
}

/// Kernel name prefixes of block devices that are never install targets: loop and RAM disks,
/// optical drives, floppies, network and mapped devices.
const IGNORED_PREFIXES: &[&str] = &[
    "loop", "ram", "zram", "sr", "fd", "nbd", "dm-", "md", "mtdblock",
];

/// Every disk in `roots.sys/block`, sorted by name: no loop, RAM, optical, zram, read-only,
/// removable or empty devices.
pub fn block_devices(roots: &Roots) -> io::Result<Vec<BlockDevice>> {
    let sys_root = fs::canonicalize(&roots.sys)?;
    let mut devices = Vec::new();
    for entry in fs::read_dir(roots.sys.join("block"))? {
        let entry = entry?;
        let kname = entry.file_name().to_string_lossy().into_owned();
        if IGNORED_PREFIXES.iter().any(|p| kname.starts_with(p)) {
            continue;
        }
        let dir = entry.path();
        if attr(&dir, "removable").as_deref() == Some("1")
            || attr(&dir, "ro").as_deref() == Some("1")
        {
            continue;
        }
        let sectors: u64 = attr(&dir, "size").and_then(|s| s.parse().ok()).unwrap_or(0);
        if sectors == 0 {
            continue;
        }
        devices.push(read_device(roots, &sys_root, &kname, &dir, sectors));
    }
    devices.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(devices)
}

fn read_device(
    roots: &Roots,
    sys_root: &Path,
    kname: &str,
    dir: &Path,
    sectors: u64,
) -> BlockDevice {
    let wwid = attr(dir, "device/wwid").or_else(|| attr(dir, "wwid"));
    let (wwn, wwn_with_extension, wwn_vendor_extension) = wwid
        .as_deref()
        .map(|w| parse_wwid(kname, w))
        .unwrap_or_default();
    let serial = attr(dir, "device/serial")
        .or_else(|| attr(dir, "serial"))
        .or_else(|| {
            fs::read(dir.join("device/vpd_pg80"))
                .ok()
                .and_then(|page| serial_from_vpd80(&page))
        })
        .unwrap_or_default();
    let by_path = fs::canonicalize(dir)
        .ok()
        .and_then(|real| real.strip_prefix(sys_root).ok().map(Path::to_path_buf))
        .and_then(|rel| {
            let tree = FsTree { root: sys_root };
            bypath::path_id(&rel.to_string_lossy(), &tree)
        })
        .map(|id| format!("/dev/disk/by-path/{id}"))
        .unwrap_or_default();
    BlockDevice {
        name: format!("/dev/{kname}"),
        path: roots.dev.join(kname),
        size: sectors.saturating_mul(512),
        model: attr(dir, "device/model").unwrap_or_default(),
        vendor: attr(dir, "device/vendor").unwrap_or_default(),
        serial,
        wwn,
        wwn_with_extension,
        wwn_vendor_extension,
        rotational: attr(dir, "queue/rotational").as_deref() == Some("1"),
        hctl: hctl(dir).unwrap_or_default(),
        by_path,
    }
}

/// A sysfs attribute, trimmed of whitespace and NULs; `None` if absent or empty.
fn attr(dir: &Path, name: &str) -> Option<String> {
    let raw = fs::read(dir.join(name)).ok()?;
    let text = String::from_utf8_lossy(&raw);
    let value = text.trim_matches(|c: char| c.is_whitespace() || c == '\0');
    (!value.is_empty()).then(|| value.to_string())
}

/// The SCSI address from `device/scsi_device/<h:c:t:l>`, else the `device` link's own name.
fn hctl(dir: &Path) -> Option<String> {
    if let Ok(entries) = fs::read_dir(dir.join("device/scsi_device")) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if bypath::is_hctl(&name) {
                return Some(name);
            }
        }
    }
    let link = fs::read_link(dir.join("device")).ok()?;
    let name = link.file_name()?.to_string_lossy().into_owned();
    bypath::is_hctl(&name).then_some(name)
}

/// `(wwn, wwn_with_extension, wwn_vendor_extension)` from a kernel `wwid`, named as udev
/// names them: a 16-byte NAA (`naa.6…`, 32 hex digits) splits into the WWN and its vendor
/// extension; an 8-byte NAA is the WWN alone; NVMe identifiers are kept as the kernel gives
/// them; T10 vendor identifiers are no WWN.
pub fn parse_wwid(kname: &str, wwid: &str) -> (String, String, String) {
    let wwid = wwid.trim();
    if kname.starts_with("nvme") {
        return (wwid.to_string(), wwid.to_string(), String::new());
    }
    let Some(hex) = wwid.strip_prefix("naa.") else {
        return Default::default();
    };
    let hex = hex.to_ascii_lowercase();
    if !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return Default::default();
    }
    if hex.len() == 32 {
        let (wwn, ext) = hex.split_at(16);
        (format!("0x{wwn}"), format!("0x{hex}"), format!("0x{ext}"))
    } else {
        (format!("0x{hex}"), format!("0x{hex}"), String::new())
    }
}

/// The unit serial number from a SCSI VPD page 0x80 (4-byte header, then ASCII).
pub fn serial_from_vpd80(page: &[u8]) -> Option<String> {
    if page.len() < 4 || page[1] != 0x80 {
        return None;
    }
    let len = usize::from(u16::from_be_bytes([page[2], page[3]]));
    let body = page.get(4..4 + len.min(page.len() - 4))?;
    let text = String::from_utf8_lossy(body);
    let serial = text.trim_matches(|c: char| c.is_whitespace() || c == '\0');
    (!serial.is_empty()).then(|| serial.to_string())
}

/// sysfs on the file system, for [`bypath::path_id`].
struct FsTree<'a> {
    root: &'a Path,
}

impl SysTree for FsTree<'_> {
    fn attr(&self, rel: &str) -> Option<String> {
        let (dir, name) = rel.rsplit_once('/')?;
        attr(&self.root.join(dir), name)
    }

    fn list(&self, rel: &str) -> Vec<String> {
        fs::read_dir(self.root.join(rel))
            .map(|entries| {
                entries
                    .flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests;
