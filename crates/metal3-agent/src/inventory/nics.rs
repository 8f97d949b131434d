//! The NICs, from `/sys/class/net`: MAC, link, speed, driver, PCI ids and address, and the
//! addresses the agent's netlink view gives them.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::Path;

use metal3_agent_api::inventory::Interface;

use super::lldp;
use crate::sysfs::{self, read_trimmed};

/// Whether `name` looks like a PCI address (`0000:00:03.0`).
fn is_pci_address(name: &str) -> bool {
    let b = name.as_bytes();
    b.len() == 12
        && b[4] == b':'
        && b[7] == b':'
        && b[10] == b'.'
        && name
            .chars()
            .enumerate()
            .all(|(i, c)| matches!(i, 4 | 7 | 10) || c.is_ascii_hexdigit())
}

/// The PCI address of the device behind `device` (the device itself, or the PCI device a
/// virtio device sits on).
fn pci_address(device: &Path) -> String {
    let Ok(real) = std::fs::canonicalize(device) else {
        return String::new();
    };
    real.components()
        .rev()
        .filter_map(|c| c.as_os_str().to_str())
        .find(|c| is_pci_address(c))
        .unwrap_or_default()
        .to_string()
}

/// The first address of the wanted family, a global one before a link-local one.
fn first(addresses: &[IpAddr], v4: bool) -> Option<String> {
    let of_family = || addresses.iter().filter(move |a| a.is_ipv4() == v4);
    let link_local =
        |a: &&IpAddr| matches!(a, IpAddr::V6(v6) if v6.segments()[0] & 0xffc0 == 0xfe80);
    of_family()
        .find(|a| !link_local(a))
        .or_else(|| of_family().next())
        .map(IpAddr::to_string)
}

/// Every physical NIC under `<sys>/class/net`, with its addresses from `addresses` (by NIC
/// name) and the LLDP frame heard on it from `frames`.
pub fn read(
    sys: &Path,
    addresses: &BTreeMap<String, Vec<IpAddr>>,
    frames: &BTreeMap<String, Vec<u8>>,
) -> Vec<Interface> {
    sysfs::physical_nics(sys)
        .into_iter()
        .map(|name| {
            let base = sys.join("class/net").join(&name);
            let device = base.join("device");
            let mine = addresses.get(&name).map(Vec::as_slice).unwrap_or_default();
            Interface {
                mac_address: sysfs::nic_mac(sys, &name).unwrap_or_default(),
                ipv4_address: first(mine, true),
                ipv6_address: first(mine, false),
                has_carrier: sysfs::nic_carrier(sys, &name),
                vendor: read_trimmed(&device.join("vendor")).unwrap_or_default(),
                product: read_trimmed(&device.join("device")).unwrap_or_default(),
                speed_mbps: read_trimmed(&base.join("speed"))
                    .and_then(|s| s.parse::<i64>().ok())
                    .and_then(|s| u64::try_from(s).ok())
                    .filter(|s| *s > 0),
                pci_address: pci_address(&device),
                driver: std::fs::read_link(device.join("driver"))
                    .ok()
                    .and_then(|p| p.file_name().map(|f| f.to_string_lossy().to_string()))
                    .unwrap_or_default(),
                lldp: frames
                    .get(&name)
                    .map(|f| {
                        lldp::tlvs(f)
                            .into_iter()
                            .map(|(t, v)| (t, lldp::hex(&v)))
                            .collect()
                    })
                    .unwrap_or_default(),
                name,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pci_addresses_are_recognised() {
        assert!(is_pci_address("0000:00:03.0"));
        assert!(is_pci_address("0000:af:1f.7"));
        assert!(!is_pci_address("virtio0"));
        assert!(!is_pci_address("pci0000:00"));
        assert!(!is_pci_address("0000:00:03:0"));
    }

    #[test]
    fn global_addresses_come_before_link_local_ones() {
        let addrs: Vec<IpAddr> = ["fe80::1", "10.0.2.15", "fd00::15"]
            .iter()
            .map(|a| a.parse().expect("ip"))
            .collect();
        assert_eq!(first(&addrs, true).as_deref(), Some("10.0.2.15"));
        assert_eq!(first(&addrs, false).as_deref(), Some("fd00::15"));
        let ll: Vec<IpAddr> = vec!["fe80::1".parse().expect("ip")];
        assert_eq!(first(&ll, false).as_deref(), Some("fe80::1"));
        assert_eq!(first(&ll, true), None);
    }
}
