//! The persistent `/dev/disk/by-path/` name of a disk, computed from its sysfs path the way
//! udev's `path_id` builds `ID_PATH` (no udev runs in the agent's ramdisk): the nearest PCI
//! device, then the transport below it — `nvme-<nsid>` for NVMe namespaces,
//! `ata-<port>.<target>` for libata disks, `scsi-<host>:<bus>:<target>:<lun>` for other SCSI
//! hosts (virtio-scsi, HBAs) — and nothing for virtio-blk, which udev names by PCI alone.

/// Read access to sysfs, relative to its root, so the naming stays testable.
pub trait SysTree {
    /// The attribute file at `rel` (e.g. `devices/.../ata1/ata_port/ata1/port_no`), trimmed.
    fn attr(&self, rel: &str) -> Option<String>;
    /// The names in the directory at `rel`.
    fn list(&self, rel: &str) -> Vec<String>;
}

/// Whether `name` is a SCSI address `h:c:t:l`.
pub fn is_hctl(name: &str) -> bool {
    let parts: Vec<&str> = name.split(':').collect();
    parts.len() == 4
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

/// Whether `name` is a PCI address `dddd:bb:dd.f`.
fn is_pci_address(name: &str) -> bool {
    let b = name.as_bytes();
    b.len() == 12
        && b[4] == b':'
        && b[7] == b':'
        && b[10] == b'.'
        && b.iter()
            .enumerate()
            .all(|(i, c)| matches!(i, 4 | 7 | 10) || c.is_ascii_hexdigit())
}

/// `ID_PATH` for the block device at `dev_path` (relative to sysfs' root, e.g.
/// `devices/pci0000:00/0000:00:04.0/virtio1/block/vda`), or `None` where udev gives none
/// (USB, SAS, Fibre Channel, iSCSI, or no PCI parent: platform devices are not named here).
pub fn path_id(dev_path: &str, tree: &dyn SysTree) -> Option<String> {
    let comps: Vec<&str> = dev_path.split('/').filter(|c| !c.is_empty()).collect();
    let prefix = |i: usize| comps[..=i].join("/");
    let mut parts: Vec<String> = Vec::new();
    // The transport, found below the nearest PCI device.
    let top = comps.iter().rposition(|c| is_pci_address(c))?;
    let below = &comps[top + 1..];
    if below.iter().any(|c| {
        c.starts_with("usb")
            || c.starts_with("rport-")
            || c.starts_with("end_device-")
            || c.starts_with("session")
    }) {
        return None;
    }
    if let Some(i) = comps.iter().rposition(|c| is_hctl(c)) {
        let hctl: Vec<u32> = comps[i].split(':').filter_map(|n| n.parse().ok()).collect();
        let [host, bus, target, lun] = hctl[..] else {
            return None;
        };
        if let Some(ata) = comps[..i].iter().rposition(|c| is_ata_port(c)) {
            let name = comps[ata];
            let port = tree
                .attr(&format!("{}/ata_port/{name}/port_no", prefix(ata)))
                .unwrap_or_else(|| name.trim_start_matches("ata").to_string());
            parts.push(if bus != 0 {
                format!("ata-{port}.{bus}.0")
            } else {
                format!("ata-{port}.{target}")
            });
        } else {
            let host_dir = comps[..i].iter().rposition(|c| host_number(c).is_some())?;
            let base = lowest_host(tree, &comps[..host_dir].join("/")).unwrap_or(host);
            parts.push(format!(
                "scsi-{}:{bus}:{target}:{lun}",
                host.saturating_sub(base)
            ));
        }
    } else if let Some(i) = comps.iter().rposition(|c| is_nvme_namespace(c)) {
        let nsid = tree
            .attr(&format!("{}/nsid", prefix(i)))
            .or_else(|| comps[i].rsplit_once('n').map(|(_, n)| n.to_string()))?;
        parts.push(format!("nvme-{nsid}"));
    }
    parts.push(format!("pci-{}", comps[top]));
    parts.reverse();
    Some(parts.join("-"))
}

fn is_ata_port(name: &str) -> bool {
    name.strip_prefix("ata")
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

fn host_number(name: &str) -> Option<u32> {
    name.strip_prefix("host")?.parse().ok()
}

/// `nvme<c>n<n>` (a namespace), not `nvme<c>` (the controller).
fn is_nvme_namespace(name: &str) -> bool {
    name.strip_prefix("nvme").is_some_and(|rest| {
        rest.split_once('n').is_some_and(|(c, n)| {
            !c.is_empty()
                && c.bytes().all(|b| b.is_ascii_digit())
                && !n.is_empty()
                && n.bytes().all(|b| b.is_ascii_digit())
        })
    })
}

/// The lowest SCSI host number among the hosts under `parent`: udev numbers hosts relative to
/// it, so names survive the order in which drivers load.
fn lowest_host(tree: &dyn SysTree, parent: &str) -> Option<u32> {
    tree.list(parent)
        .iter()
        .filter_map(|n| host_number(n))
        .min()
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    #[derive(Default)]
    struct MapTree {
        attrs: HashMap<String, String>,
        dirs: HashMap<String, Vec<String>>,
    }

    impl SysTree for MapTree {
        fn attr(&self, rel: &str) -> Option<String> {
            self.attrs.get(rel).cloned()
        }
        fn list(&self, rel: &str) -> Vec<String> {
            self.dirs.get(rel).cloned().unwrap_or_default()
        }
    }

    #[test]
    fn names_follow_udev_path_id() {
        let mut tree = MapTree::default();
        tree.attrs.insert(
            "devices/pci0000:00/0000:00:1f.2/ata3/ata_port/ata3/port_no".into(),
            "3".into(),
        );
        tree.attrs.insert(
            "devices/pci0000:00/0000:00:06.0/nvme/nvme0/nvme0n2/nsid".into(),
            "2".into(),
        );
        tree.dirs.insert(
            "devices/pci0000:00/0000:00:07.0".into(),
            vec!["host4".into(), "host5".into(), "driver".into()],
        );
        let cases = [
            (
                "devices/pci0000:00/0000:00:04.0/virtio1/block/vda",
                Some("pci-0000:00:04.0"),
            ),
            (
                "devices/pci0000:00/0000:00:05.0/virtio2/host0/target0:0:1/0:0:1:0/block/sda",
                Some("pci-0000:00:05.0-scsi-0:0:1:0"),
            ),
            (
                "devices/pci0000:00/0000:00:1f.2/ata3/host2/target2:0:0/2:0:0:0/block/sdb",
                Some("pci-0000:00:1f.2-ata-3.0"),
            ),
            (
                "devices/pci0000:00/0000:00:1f.2/ata3/host2/target2:1:0/2:1:0:0/block/sdc",
                Some("pci-0000:00:1f.2-ata-3.1.0"),
            ),
            (
                "devices/pci0000:00/0000:00:06.0/nvme/nvme0/nvme0n2",
                Some("pci-0000:00:06.0-nvme-2"),
            ),
            (
                "devices/pci0000:00/0000:00:06.0/nvme/nvme1/nvme1n1",
                Some("pci-0000:00:06.0-nvme-1"),
            ),
            // Hosts numbered from the lowest under the same parent.
            (
                "devices/pci0000:00/0000:00:07.0/host5/target5:0:3/5:0:3:1/block/sdd",
                Some("pci-0000:00:07.0-scsi-1:0:3:1"),
            ),
            // Only the nearest PCI device counts, bridges above it do not.
            (
                "devices/pci0000:00/0000:00:01.0/0000:01:00.0/virtio3/block/vdb",
                Some("pci-0000:01:00.0"),
            ),
            (
                "devices/platform/soc/7e300000.mmc/mmc_host/mmc0/mmc0:0001/block/mmcblk0",
                None,
            ),
            (
                "devices/pci0000:00/0000:00:14.0/usb1/1-1/1-1:1.0/host6/target6:0:0/6:0:0:0/block/sde",
                None,
            ),
            ("devices/virtual/block/loop0", None),
        ];
        for (path, want) in cases {
            assert_eq!(path_id(path, &tree).as_deref(), want, "{path}");
        }
    }

    #[test]
    fn recognises_addresses() {
        assert!(is_hctl("0:0:1:0"));
        assert!(!is_hctl("0:0:1"));
        assert!(!is_hctl("a:0:1:0"));
        assert!(is_pci_address("0000:00:1f.2"));
        assert!(!is_pci_address("pci0000:00"));
        assert!(is_nvme_namespace("nvme0n1"));
        assert!(!is_nvme_namespace("nvme0"));
        assert!(!is_nvme_namespace("nvme-subsys0"));
    }
}
