//! HardwareData: the hardware inventory found by inspecting a host, and [`HardwareDetails`],
//! the inventory itself (also mirrored in `BareMetalHost.status.hardware`).
//!
//! Field presence follows upstream's Go encoding: zero-valued scalars and empty lists are left
//! out, while nested records (`systemVendor`, `firmware`, `cpu`) are always written, so
//! documents written by upstream round-trip unchanged.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize, Serializer};

use super::common::{is_false, no_default, plain_integer};

/// Declares a string enum whose variants map to fixed wire strings, with `as_str`, `from_wire`,
/// `ALL` and `Display`. Variants take `#[default]` (with a `#[derive(Default)]` on the enum).
/// Exported for the other API crates (`metal3-capm3-api`); the caller needs `serde` and
/// `schemars` as dependencies.
#[macro_export]
macro_rules! wire_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident => $wire:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(
            serde::Serialize,
            serde::Deserialize,
            Clone,
            Copy,
            Debug,
            PartialEq,
            Eq,
            Hash,
            schemars::JsonSchema,
        )]
        pub enum $name {
            $( $(#[$vmeta])* #[serde(rename = $wire)] $variant, )+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [Self] = &[$(Self::$variant),+];

            /// The value as written on the wire.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $wire,)+
                }
            }

            /// Parses a wire value; `None` when it is none of [`Self::ALL`].
            pub fn from_wire(value: &str) -> Option<Self> {
                match value {
                    $($wire => Some(Self::$variant),)+
                    _ => None,
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}
pub(crate) use wire_enum;

fn is_zero_i64(v: &i64) -> bool {
    *v == 0
}

fn is_zero_i32(v: &i32) -> bool {
    *v == 0
}

fn is_zero_f64(v: &f64) -> bool {
    *v == 0.0
}

/// Writes a float as Go's `encoding/json` does: whole numbers without a fraction (`2600`, not
/// `2600.0`), so upstream documents round-trip byte for byte.
fn go_float<S: Serializer>(v: &f64, serializer: S) -> Result<S::Ok, S::Error> {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        serializer.serialize_i64(*v as i64)
    } else {
        serializer.serialize_f64(*v)
    }
}

/// Hardware inventory of one host, as reported by inspection. The object shares its name and
/// namespace with its BareMetalHost.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "metal3.io",
    version = "v1alpha1",
    kind = "HardwareData",
    namespaced,
    derive = "PartialEq",
    plural = "hardwaredata",
    shortname = "hd",
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp",
        description = "How long ago the inventory was recorded"
    ),
    doc = "Hardware inventory of a bare metal host, named after its BareMetalHost. Written by \
           the operator after inspection, or created beforehand to supply the inventory of a \
           host that is not inspected."
)]
#[serde(rename_all = "camelCase")]
pub struct HardwareDataSpec {
    /// The inventory: CPU, memory, disks, network interfaces, firmware and vendor data.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hardware: Option<HardwareDetails>,
}

/// Everything inspection learned about a host's hardware.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HardwareDetails {
    /// Maker, model and serial number of the system.
    #[serde(default)]
    #[schemars(transform = no_default)]
    pub system_vendor: HardwareSystemVendor,
    /// System firmware (BIOS/UEFI) identification.
    #[serde(default)]
    #[schemars(transform = no_default)]
    pub firmware: Firmware,
    /// Installed memory, in MiB.
    #[serde(default, skip_serializing_if = "is_zero_i64")]
    #[schemars(transform = plain_integer)]
    pub ram_mebibytes: i64,
    /// Network interfaces; an interface with both an IPv4 and an IPv6 address appears once per
    /// address.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nics: Vec<Nic>,
    /// Block devices.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub storage: Vec<Storage>,
    /// Processor type and count.
    #[serde(default)]
    #[schemars(transform = no_default)]
    pub cpu: Cpu,
    /// Host name reported by the inspection ramdisk.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub hostname: String,
}

/// Identification of the system as a whole.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HardwareSystemVendor {
    /// System manufacturer.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub manufacturer: String,
    /// Product (model) name of the system.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub product_name: String,
    /// Serial number of the system.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub serial_number: String,
}

/// System firmware details.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Firmware {
    /// The BIOS or UEFI firmware.
    #[serde(default)]
    #[schemars(transform = no_default)]
    pub bios: Bios,
}

/// BIOS/UEFI firmware identification.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Bios {
    /// Release date, as the firmware reports it.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub date: String,
    /// Firmware vendor.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub vendor: String,
    /// Firmware version string.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub version: String,
}

/// Processors of a host.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Cpu {
    /// Instruction set architecture, e.g. `x86_64` or `aarch64`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub arch: String,
    /// Processor model name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub model: String,
    /// Clock speed in MHz.
    #[serde(
        default,
        skip_serializing_if = "is_zero_f64",
        serialize_with = "go_float"
    )]
    pub clock_megahertz: f64,
    /// CPU feature flags (e.g. `vmx`, `avx2`), sorted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub flags: Vec<String>,
    /// Number of logical CPUs.
    #[serde(default, skip_serializing_if = "is_zero_i64")]
    #[schemars(transform = plain_integer)]
    pub count: i64,
}

wire_enum! {
    /// Kind of storage device.
    pub enum DiskType {
        /// Rotating hard disk.
        Hdd => "HDD",
        /// Solid-state disk on a SATA/SAS bus.
        Ssd => "SSD",
        /// NVMe solid-state device.
        Nvme => "NVME",
    }
}

/// One block device.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Storage {
    /// Device path; a `/dev/disk/by-path/...` name, stable across reboots, when one exists.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Other paths of the same device (e.g. `/dev/sda`), which may change between boots.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alternate_names: Vec<String>,
    /// True for spinning media. Prefer `type`, which also tells SSDs from NVMe devices.
    #[serde(default, skip_serializing_if = "is_false")]
    pub rotational: bool,
    /// Device kind: HDD, SSD or NVME.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub disk_type: Option<DiskType>,
    /// Capacity in bytes.
    #[serde(default, skip_serializing_if = "is_zero_i64")]
    pub size_bytes: i64,
    /// Device vendor.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub vendor: String,
    /// Device model.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub model: String,
    /// Device serial number.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub serial_number: String,
    /// World Wide Name of the device.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub wwn: String,
    /// Vendor extension of the World Wide Name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub wwn_vendor_extension: String,
    /// World Wide Name including the vendor extension.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub wwn_with_extension: String,
    /// SCSI address as Host:Channel:Target:Lun.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub hctl: String,
}

/// One network interface (one entry per IP address family in use).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Nic {
    /// Interface name in the inspection ramdisk, e.g. `eth0`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Vendor and product of the interface, space separated.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub model: String,
    /// MAC address.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    #[schemars(regex(pattern = r"[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}"))]
    pub mac: String,
    /// IP address seen on the interface during inspection, if any.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub ip: String,
    /// Link speed in Gbit/s.
    #[serde(default, skip_serializing_if = "is_zero_i64")]
    #[schemars(transform = plain_integer)]
    pub speed_gbps: i64,
    /// VLANs seen on the link.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub vlans: Vec<Vlan>,
    /// Untagged (native) VLAN of the link.
    #[serde(default, skip_serializing_if = "is_zero_i32")]
    #[schemars(range(min = 0, max = 4094))]
    pub vlan_id: i32,
    /// Whether the host can PXE boot from this interface.
    #[serde(default, skip_serializing_if = "is_false")]
    pub pxe: bool,
    /// Switch neighbour data learned over LLDP.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lldp: Option<Lldp>,
    /// PCI address of the device, e.g. `0000:3b:00.0`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub pci_address: String,
}

/// A VLAN seen on a link.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Vlan {
    /// VLAN number (0-4094).
    #[serde(default, skip_serializing_if = "is_zero_i32")]
    #[schemars(range(min = 0, max = 4094))]
    pub id: i32,
    /// VLAN name, if the switch advertises one.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
}

/// The switch port an interface is cabled to, as advertised over LLDP.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct Lldp {
    /// Chassis ID of the switch.
    #[serde(rename = "switchID", default, skip_serializing_if = "String::is_empty")]
    pub switch_id: String,
    /// Port ID on the switch.
    #[serde(rename = "portID", default, skip_serializing_if = "String::is_empty")]
    pub port_id: String,
    /// System name the switch advertises.
    #[serde(
        rename = "switchSystemName",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub switch_system_name: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disk_type_wire_strings() {
        for (t, wire) in [
            (DiskType::Hdd, "HDD"),
            (DiskType::Ssd, "SSD"),
            (DiskType::Nvme, "NVME"),
        ] {
            assert_eq!(t.as_str(), wire);
            assert_eq!(t.to_string(), wire);
            assert_eq!(DiskType::from_wire(wire), Some(t));
            assert_eq!(serde_json::to_value(t).ok(), Some(serde_json::json!(wire)));
        }
        assert_eq!(DiskType::from_wire("hdd"), None);
        assert_eq!(DiskType::ALL.len(), 3);
    }

    #[test]
    fn whole_clock_speeds_are_written_like_go() {
        let cpu = |mhz: f64| {
            serde_json::to_value(Cpu {
                clock_megahertz: mhz,
                ..Default::default()
            })
            .ok()
        };
        assert_eq!(
            cpu(2600.0),
            Some(serde_json::json!({"clockMegahertz": 2600}))
        );
        assert_eq!(
            cpu(2593.9),
            Some(serde_json::json!({"clockMegahertz": 2593.9}))
        );
        assert_eq!(cpu(0.0), Some(serde_json::json!({})));
    }

    #[test]
    fn empty_details_keep_nested_records() {
        let v = serde_json::to_value(HardwareDetails::default()).ok();
        assert_eq!(
            v,
            Some(serde_json::json!({"systemVendor": {}, "firmware": {"bios": {}}, "cpu": {}}))
        );
    }
}
