//! A host's hardware as the agent finds it, in ironic-python-agent's inventory format (field
//! names and units as IPA writes them), so one mapping turns an IPA inventory and ours into a
//! BareMetalHost's `HardwareDetails` the same way.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// An inspection's result: the inventory and what the inspection's plugins add.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct InspectionData {
    pub inventory: Inventory,
    #[serde(default)]
    pub plugin_data: PluginData,
}

/// The hardware inventory.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Inventory {
    pub cpu: Cpu,
    pub memory: Memory,
    pub disks: Vec<Disk>,
    pub interfaces: Vec<Interface>,
    pub system_vendor: SystemVendor,
    pub boot: Boot,
    pub hostname: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Cpu {
    pub model_name: String,
    /// MHz, as text (IPA writes `/proc/cpuinfo`'s value).
    pub frequency: String,
    /// Logical CPUs.
    pub count: u32,
    /// e.g. `x86_64`.
    pub architecture: String,
    pub flags: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub socket_count: Option<u32>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Memory {
    /// Bytes the kernel manages.
    pub total: u64,
    /// MiB of installed memory (from DMI when it says, else from `total`).
    pub physical_mb: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Disk {
    /// `/dev/sda`.
    pub name: String,
    pub model: String,
    /// Bytes.
    pub size: u64,
    pub rotational: bool,
    pub wwn: String,
    pub serial: String,
    pub vendor: String,
    pub wwn_with_extension: String,
    pub wwn_vendor_extension: String,
    /// SCSI Host:Channel:Target:Lun, empty for other buses.
    pub hctl: String,
    /// `/dev/disk/by-path/…`, empty when the disk has none.
    pub by_path: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Interface {
    pub name: String,
    pub mac_address: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ipv4_address: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ipv6_address: Option<String>,
    pub has_carrier: bool,
    /// PCI vendor id, e.g. `0x1af4`.
    pub vendor: String,
    /// PCI device id.
    pub product: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub speed_mbps: Option<u64>,
    /// e.g. `0000:00:03.0`.
    pub pci_address: String,
    /// The kernel driver, e.g. `virtio_net`.
    pub driver: String,
    /// LLDP TLVs received on this NIC as `[type, hex value]` pairs.
    pub lldp: Vec<(u8, String)>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SystemVendor {
    pub product_name: String,
    pub serial_number: String,
    pub manufacturer: String,
    pub firmware: Firmware,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Firmware {
    pub vendor: String,
    pub version: String,
    pub build_date: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Boot {
    /// `uefi` or `bios`.
    pub current_boot_mode: String,
    /// The MAC the host booted from, when known.
    pub pxe_interface: String,
}

/// What inspection adds to the inventory, in the shape Ironic's inspection stores it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PluginData {
    /// Every NIC by name.
    pub all_interfaces: BTreeMap<String, InterfaceSummary>,
    /// LLDP neighbours by NIC name, decoded.
    pub parsed_lldp: BTreeMap<String, ParsedLldp>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct InterfaceSummary {
    pub mac: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    /// Whether the host boots from this NIC (its MAC is the boot MAC).
    pub pxe_enabled: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ParsedLldp {
    pub switch_chassis_id: String,
    pub switch_port_id: String,
    pub switch_system_name: String,
    pub switch_port_vlans: Vec<LldpVlan>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub switch_port_untagged_vlan_id: Option<u16>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LldpVlan {
    pub id: u16,
    pub name: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_ipa_writes_and_writes_ipa_names() {
        let ipa = serde_json::json!({
            "inventory": {
                "cpu": {"model_name": "QEMU Virtual CPU", "frequency": "2400.000", "count": 2,
                         "architecture": "x86_64", "flags": ["fpu", "vme"]},
                "memory": {"total": 1033375744u64, "physical_mb": 1024},
                "disks": [{"name": "/dev/vda", "model": "", "size": 8589934592u64,
                           "rotational": false, "serial": "D0", "hctl": ""}],
                "interfaces": [{"name": "eth0", "mac_address": "52:54:00:00:00:01",
                                "ipv4_address": "10.0.2.15", "has_carrier": true,
                                "lldp": [[1, "04aabb"]]}],
                "system_vendor": {"manufacturer": "QEMU", "product_name": "Standard PC",
                                  "serial_number": "", "firmware": {"vendor": "SeaBIOS",
                                  "version": "1.16", "build_date": "04/01/2014"}},
                "boot": {"current_boot_mode": "bios", "pxe_interface": "52:54:00:00:00:01"},
                "bmc_address": "0.0.0.0",
                "hostname": "debian"
            },
            "plugin_data": {"all_interfaces": {"eth0": {"mac": "52:54:00:00:00:01", "pxe_enabled": true}}}
        });
        // Fields we do not model (bmc_address) are ignored.
        let data: InspectionData = serde_json::from_value(ipa).expect("IPA inventory");
        assert_eq!(data.inventory.cpu.count, 2);
        assert_eq!(data.inventory.disks[0].size, 8_589_934_592);
        assert_eq!(
            data.inventory.interfaces[0].lldp[0],
            (1, "04aabb".to_string())
        );
        assert!(data.plugin_data.all_interfaces["eth0"].pxe_enabled);
        let back = serde_json::to_value(&data).expect("json");
        assert_eq!(
            back["inventory"]["system_vendor"]["firmware"]["vendor"],
            "SeaBIOS"
        );
        assert_eq!(back["inventory"]["boot"]["current_boot_mode"], "bios");
    }
}
