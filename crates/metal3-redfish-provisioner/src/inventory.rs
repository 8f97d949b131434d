//! Out-of-band inspection: the Redfish resources of a system mapped to the BareMetalHost's
//! hardware details. Pure, so every vendor quirk gets a unit test.

use metal3_api::v1alpha1::{
    Bios, Cpu, DiskType, Firmware, HardwareDetails, HardwareSystemVendor, Nic, Storage,
};
use metal3_redfish::types::{ComputerSystem, Drive, EthernetInterface, Processor};

/// What inspection read from the BMC.
#[derive(Clone, Debug, Default)]
pub struct Observed {
    pub system: ComputerSystem,
    pub processors: Vec<Processor>,
    pub nics: Vec<EthernetInterface>,
    pub drives: Vec<Drive>,
    /// `SimpleStorage` devices as (name, bytes), used when there is no `Storage`.
    pub simple_disks: Vec<(String, u64)>,
}

/// The CPU architecture as the kernel names it (what upstream's inventory reports).
fn arch(p: &Processor) -> String {
    let set = p.instruction_set.as_deref().unwrap_or("");
    let arch = p.processor_architecture.as_deref().unwrap_or("");
    match (set, arch) {
        ("x86-64", _) => "x86_64",
        ("ARM-A64", _) => "aarch64",
        ("PowerISA", _) => "ppc64le",
        ("x86", _) | (_, "x86") => "x86_64",
        (_, "ARM") => "aarch64",
        (_, "Power") => "ppc64le",
        (_, "MIPS") => "mips64",
        _ => "",
    }
    .to_string()
}

fn disk_type(d: &Drive) -> Option<DiskType> {
    match (d.protocol.as_deref(), d.media_type.as_deref()) {
        (Some("NVMe"), _) => Some(DiskType::Nvme),
        (_, Some("SSD")) => Some(DiskType::Ssd),
        (_, Some("HDD")) => Some(DiskType::Hdd),
        _ => None,
    }
}

/// Normalises a MAC address to lower case with colons.
pub fn mac(value: &str) -> String {
    value.trim().to_ascii_lowercase().replace('-', ":")
}

/// The hardware details of `observed`; `boot_mac` marks the NIC the host boots from.
pub fn details(observed: &Observed, boot_mac: &str) -> HardwareDetails {
    let s = &observed.system;
    let first = observed.processors.first();
    let threads: u32 = observed
        .processors
        .iter()
        .map(|p| p.total_threads.or(p.total_cores).unwrap_or(1))
        .sum();
    let count = if threads > 0 {
        threads
    } else {
        s.processor_summary.count.unwrap_or(0)
    };
    let boot_mac = mac(boot_mac);
    let nics = observed
        .nics
        .iter()
        .filter_map(|n| {
            let address = n
                .mac_address
                .as_deref()
                .or(n.permanent_mac_address.as_deref())
                .map(mac)?;
            Some(Nic {
                name: n.id.clone(),
                pxe: !boot_mac.is_empty() && address == boot_mac,
                mac: address,
                speed_gbps: n.speed_mbps.map_or(0, |m| (m / 1000) as i64),
                ..Nic::default()
            })
        })
        .collect();
    let storage = if observed.drives.is_empty() {
        observed
            .simple_disks
            .iter()
            .map(|(name, bytes)| Storage {
                name: name.clone(),
                size_bytes: *bytes as i64,
                ..Storage::default()
            })
            .collect()
    } else {
        observed
            .drives
            .iter()
            .map(|d| {
                let kind = disk_type(d);
                Storage {
                    name: d.name.clone().unwrap_or_else(|| d.id.clone()),
                    rotational: kind == Some(DiskType::Hdd)
                        || d.rotation_speed_rpm.is_some_and(|r| r > 0.0),
                    disk_type: kind,
                    size_bytes: d.capacity_bytes.unwrap_or(0) as i64,
                    model: d.model.clone().unwrap_or_default(),
                    serial_number: d.serial_number.clone().unwrap_or_default(),
                    ..Storage::default()
                }
            })
            .collect()
    };
    HardwareDetails {
        system_vendor: HardwareSystemVendor {
            manufacturer: s.manufacturer.clone().unwrap_or_default(),
            product_name: s.model.clone().unwrap_or_default(),
            serial_number: s.serial_number.clone().unwrap_or_default(),
        },
        firmware: Firmware {
            bios: Bios {
                version: s.bios_version.clone().unwrap_or_default(),
                ..Bios::default()
            },
        },
        ram_mebibytes: s
            .memory_summary
            .total_system_memory_gi_b
            .map_or(0, |g| (g * 1024.0).round() as i64),
        nics,
        storage,
        cpu: Cpu {
            arch: first.map(arch).unwrap_or_default(),
            model: first
                .and_then(|p| p.model.clone())
                .or_else(|| s.processor_summary.model.clone())
                .unwrap_or_default(),
            clock_megahertz: first.and_then(|p| p.max_speed_m_hz).unwrap_or(0) as f64,
            count: i64::from(count),
            ..Cpu::default()
        },
        hostname: String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> T {
        serde_json::from_value(v).expect("valid resource")
    }

    #[test]
    fn a_typical_server() {
        let observed = Observed {
            system: parse(json!({
                "Id": "1", "Manufacturer": "Dell Inc.", "Model": "PowerEdge R650",
                "SerialNumber": "ABC123", "BiosVersion": "1.6.5",
                "MemorySummary": {"TotalSystemMemoryGiB": 255.5},
                "ProcessorSummary": {"Count": 2, "Model": "Xeon"},
            })),
            processors: vec![
                parse(
                    json!({"Id": "CPU.1", "InstructionSet": "x86-64", "Model": "Xeon Gold", "MaxSpeedMHz": 3500, "TotalCores": 16, "TotalThreads": 32}),
                ),
                parse(
                    json!({"Id": "CPU.2", "InstructionSet": "x86-64", "TotalCores": 16, "TotalThreads": 32}),
                ),
            ],
            nics: vec![
                parse(
                    json!({"Id": "NIC.1", "MACAddress": "AA-BB-CC-00-11-22", "SpeedMbps": 25000}),
                ),
                parse(json!({"Id": "NIC.2", "PermanentMACAddress": "aa:bb:cc:00:11:23"})),
                parse(json!({"Id": "NIC.3"})),
            ],
            drives: vec![
                parse(
                    json!({"Id": "Disk.0", "Name": "SSD 0", "CapacityBytes": 960_000_000_000u64, "MediaType": "SSD", "Protocol": "SATA", "Model": "M", "SerialNumber": "S0"}),
                ),
                parse(
                    json!({"Id": "Disk.1", "CapacityBytes": 4_000_000_000_000u64, "MediaType": "HDD", "RotationSpeedRPM": 7200}),
                ),
                parse(
                    json!({"Id": "Disk.2", "CapacityBytes": 1_600_000_000_000u64, "Protocol": "NVMe", "MediaType": "SSD"}),
                ),
            ],
            simple_disks: vec![("ignored".into(), 1)],
        };
        let d = details(&observed, "aa:bb:cc:00:11:22");
        assert_eq!(d.system_vendor.manufacturer, "Dell Inc.");
        assert_eq!(d.system_vendor.product_name, "PowerEdge R650");
        assert_eq!(d.firmware.bios.version, "1.6.5");
        assert_eq!(d.ram_mebibytes, 261_632);
        assert_eq!((d.cpu.arch.as_str(), d.cpu.count), ("x86_64", 64));
        assert_eq!(d.cpu.model, "Xeon Gold");
        assert_eq!(d.cpu.clock_megahertz, 3500.0);
        assert_eq!(d.nics.len(), 2, "a NIC without a MAC is left out");
        assert_eq!(d.nics[0].mac, "aa:bb:cc:00:11:22");
        assert!(d.nics[0].pxe && !d.nics[1].pxe);
        assert_eq!(d.nics[0].speed_gbps, 25);
        let kinds: Vec<_> = d
            .storage
            .iter()
            .map(|s| (s.disk_type, s.rotational))
            .collect();
        assert_eq!(
            kinds,
            [
                (Some(DiskType::Ssd), false),
                (Some(DiskType::Hdd), true),
                (Some(DiskType::Nvme), false)
            ]
        );
        assert_eq!(d.storage[0].name, "SSD 0");
        assert_eq!(d.storage[1].name, "Disk.1");
        assert_eq!(d.storage[0].serial_number, "S0");
    }

    #[test]
    fn sparse_bmcs_still_give_what_they_can() {
        let observed = Observed {
            system: parse(json!({"Id": "1", "ProcessorSummary": {"Count": 4}})),
            simple_disks: vec![("Disk A".into(), 500)],
            ..Observed::default()
        };
        let d = details(&observed, "");
        assert_eq!(d.cpu.count, 4);
        assert_eq!(d.cpu.arch, "");
        assert_eq!(d.storage[0].size_bytes, 500);
        assert_eq!(d.ram_mebibytes, 0);
    }

    #[test]
    fn architectures() {
        let p = |set: &str, arch: &str| {
            parse::<Processor>(
                json!({"Id": "x", "InstructionSet": set, "ProcessorArchitecture": arch}),
            )
        };
        assert_eq!(super::arch(&p("ARM-A64", "ARM")), "aarch64");
        assert_eq!(super::arch(&p("", "x86")), "x86_64");
        assert_eq!(super::arch(&p("PowerISA", "Power")), "ppc64le");
        assert_eq!(super::arch(&p("", "")), "");
    }
}
