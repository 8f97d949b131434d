//! The host's hardware in ironic-python-agent's inventory format: CPUs ([`cpu`]), memory
//! ([`memory`]), NICs ([`nics`], with LLDP decoded by [`lldp`]), the system and firmware
//! ([`system`]); the disks come from the [`crate::disks::Disks`] the agent is given.
//! Everything is read under [`Sources`], so tests give a tree of their own.

pub mod cpu;
pub mod lldp;
pub mod memory;
pub mod nics;
pub mod system;

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;

use metal3_agent_api::inventory::{
    Boot, Disk, InspectionData, InterfaceSummary, Inventory, PluginData,
};

/// Where `/proc` and `/sys` are.
#[derive(Clone, Debug)]
pub struct Sources {
    pub proc: PathBuf,
    pub sys: PathBuf,
}

impl Default for Sources {
    fn default() -> Self {
        Self {
            proc: PathBuf::from("/proc"),
            sys: PathBuf::from("/sys"),
        }
    }
}

/// What the agent knows besides the files: the disks, the NICs' addresses, LLDP frames and
/// the boot MAC.
#[derive(Clone, Debug, Default)]
pub struct Observed {
    pub disks: Vec<Disk>,
    pub addresses: BTreeMap<String, Vec<IpAddr>>,
    pub lldp: BTreeMap<String, Vec<u8>>,
    pub boot_mac: String,
}

/// The inventory, with the plugin data inspection adds (every NIC, which one boots, LLDP
/// neighbours).
pub fn collect(sources: &Sources, observed: &Observed) -> InspectionData {
    let read = |p: PathBuf| std::fs::read_to_string(p).unwrap_or_default();
    let boot_mac = observed.boot_mac.to_ascii_lowercase();
    let interfaces = nics::read(&sources.sys, &observed.addresses, &observed.lldp);
    let plugin_data = PluginData {
        all_interfaces: interfaces
            .iter()
            .map(|i| {
                (
                    i.name.clone(),
                    InterfaceSummary {
                        mac: i.mac_address.clone(),
                        ip: i.ipv4_address.clone().or_else(|| i.ipv6_address.clone()),
                        pxe_enabled: !boot_mac.is_empty() && i.mac_address == boot_mac,
                    },
                )
            })
            .collect(),
        parsed_lldp: observed
            .lldp
            .iter()
            .map(|(nic, frame)| (nic.clone(), lldp::parse(&lldp::tlvs(frame))))
            .collect(),
    };
    InspectionData {
        inventory: Inventory {
            cpu: cpu::parse(&read(sources.proc.join("cpuinfo")), std::env::consts::ARCH),
            memory: memory::read(&read(sources.proc.join("meminfo")), &sources.sys),
            disks: observed.disks.clone(),
            interfaces,
            system_vendor: system::vendor(&sources.sys),
            boot: Boot {
                current_boot_mode: system::boot_mode(&sources.sys).to_string(),
                pxe_interface: boot_mac,
            },
            hostname: system::hostname(&sources.proc),
        },
        plugin_data,
    }
}

/// The MACs of every physical NIC (what each report carries).
pub fn macs(sources: &Sources) -> Vec<String> {
    crate::sysfs::physical_nics(&sources.sys)
        .iter()
        .filter_map(|n| crate::sysfs::nic_mac(&sources.sys, n))
        .collect()
}
