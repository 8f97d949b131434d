//! In-band and out-of-band inspection merged. What the agent read on the host itself is
//! authoritative (the disks the kernel sees, the NICs with their addresses); what the BMC
//! reported fills what the agent could not know or left empty (a NIC's model or speed, the
//! system's serial number where DMI is blank).

use metal3_api::v1alpha1::HardwareDetails;

fn fill(target: &mut String, from: &str) {
    if target.is_empty() {
        *target = from.to_string();
    }
}

/// `in_band` completed from `out_of_band`.
pub fn merge(in_band: HardwareDetails, out_of_band: &HardwareDetails) -> HardwareDetails {
    let mut d = in_band;
    let vendor = &out_of_band.system_vendor;
    fill(&mut d.system_vendor.manufacturer, &vendor.manufacturer);
    fill(&mut d.system_vendor.product_name, &vendor.product_name);
    fill(&mut d.system_vendor.serial_number, &vendor.serial_number);
    let bios = &out_of_band.firmware.bios;
    fill(&mut d.firmware.bios.vendor, &bios.vendor);
    fill(&mut d.firmware.bios.version, &bios.version);
    fill(&mut d.firmware.bios.date, &bios.date);
    if d.ram_mebibytes == 0 {
        d.ram_mebibytes = out_of_band.ram_mebibytes;
    }
    if d.cpu.count == 0 {
        d.cpu = out_of_band.cpu.clone();
    } else {
        fill(&mut d.cpu.model, &out_of_band.cpu.model);
        fill(&mut d.cpu.arch, &out_of_band.cpu.arch);
        if d.cpu.clock_megahertz == 0.0 {
            d.cpu.clock_megahertz = out_of_band.cpu.clock_megahertz;
        }
    }
    for nic in &mut d.nics {
        let Some(bmc) = out_of_band
            .nics
            .iter()
            .find(|n| n.mac.eq_ignore_ascii_case(&nic.mac))
        else {
            continue;
        };
        fill(&mut nic.model, &bmc.model);
        fill(&mut nic.pci_address, &bmc.pci_address);
        if nic.speed_gbps == 0 {
            nic.speed_gbps = bmc.speed_gbps;
        }
        if nic.lldp.is_none() {
            nic.lldp = bmc.lldp.clone();
        }
        nic.pxe |= bmc.pxe;
    }
    if d.storage.is_empty() {
        d.storage = out_of_band.storage.clone();
    }
    if d.nics.is_empty() {
        d.nics = out_of_band.nics.clone();
    }
    fill(&mut d.hostname, &out_of_band.hostname);
    d
}

#[cfg(test)]
mod tests {
    use metal3_api::v1alpha1::{Cpu, HardwareSystemVendor, Nic, Storage};

    use super::*;

    #[test]
    fn the_agent_wins_and_the_bmc_fills_the_gaps() {
        let agent = HardwareDetails {
            system_vendor: HardwareSystemVendor {
                manufacturer: "QEMU".into(),
                ..HardwareSystemVendor::default()
            },
            ram_mebibytes: 512,
            cpu: Cpu {
                count: 1,
                arch: "x86_64".into(),
                ..Cpu::default()
            },
            nics: vec![Nic {
                name: "eth0".into(),
                mac: "52:54:00:00:00:01".into(),
                ip: "10.0.2.15".into(),
                ..Nic::default()
            }],
            storage: vec![Storage {
                name: "/dev/vda".into(),
                serial_number: "D0".into(),
                ..Storage::default()
            }],
            ..HardwareDetails::default()
        };
        let bmc = HardwareDetails {
            system_vendor: HardwareSystemVendor {
                manufacturer: "Metal3".into(),
                serial_number: "SIM0001".into(),
                ..HardwareSystemVendor::default()
            },
            ram_mebibytes: 65536,
            cpu: Cpu {
                count: 32,
                model: "Simulated CPU".into(),
                ..Cpu::default()
            },
            nics: vec![Nic {
                mac: "52:54:00:00:00:01".to_uppercase(),
                speed_gbps: 25,
                model: "virtio".into(),
                pxe: true,
                ..Nic::default()
            }],
            storage: vec![Storage {
                name: "Drive0".into(),
                ..Storage::default()
            }],
            ..HardwareDetails::default()
        };
        let d = merge(agent, &bmc);
        assert_eq!(
            d.system_vendor.manufacturer, "QEMU",
            "the agent's reading wins"
        );
        assert_eq!(
            d.system_vendor.serial_number, "SIM0001",
            "the BMC fills a gap"
        );
        assert_eq!(d.ram_mebibytes, 512);
        assert_eq!(d.cpu.count, 1);
        assert_eq!(d.cpu.model, "Simulated CPU");
        assert_eq!(d.nics[0].ip, "10.0.2.15");
        assert_eq!(d.nics[0].speed_gbps, 25, "matched by MAC in any case");
        assert!(d.nics[0].pxe);
        assert_eq!(d.storage.len(), 1);
        assert_eq!(d.storage[0].name, "/dev/vda", "the disks the kernel sees");
        let empty = merge(HardwareDetails::default(), &bmc);
        assert_eq!(
            empty.storage[0].name, "Drive0",
            "nothing in-band: the BMC's view"
        );
        assert_eq!(empty.cpu.count, 32);
    }
}
