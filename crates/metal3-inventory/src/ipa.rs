//! An inventory in ironic-python-agent's format (Ironic's inspection data: the agent's or the
//! out-of-band inventory, plus plugin data) mapped to the BareMetalHost's hardware details, as
//! upstream maps it. Pure.

use metal3_api::v1alpha1::{
    Bios, Cpu, DiskType, Firmware, HardwareDetails, HardwareSystemVendor, Lldp, Nic, Storage, Vlan,
};
use serde_json::Value;

fn text(v: &Value, pointer: &str) -> String {
    match v.pointer(pointer) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    }
}

fn int(v: &Value, pointer: &str) -> i64 {
    match v.pointer(pointer) {
        Some(Value::Number(n)) => n
            .as_i64()
            .or_else(|| n.as_f64().map(|f| f as i64))
            .unwrap_or(0),
        Some(Value::String(s)) => s.trim().parse::<f64>().map(|f| f as i64).unwrap_or(0),
        _ => 0,
    }
}

fn float(v: &Value, pointer: &str) -> f64 {
    match v.pointer(pointer) {
        Some(Value::Number(n)) => n.as_f64().unwrap_or(0.0),
        Some(Value::String(s)) => s.trim().parse().unwrap_or(0.0),
        _ => 0.0,
    }
}

fn disk(d: &Value) -> Storage {
    let name = text(d, "/name");
    let by_path = text(d, "/by_path");
    let rotational = d
        .get("rotational")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let disk_type = if name.starts_with("/dev/nvme") {
        DiskType::Nvme
    } else if rotational {
        DiskType::Hdd
    } else {
        DiskType::Ssd
    };
    let mut alternate_names = Vec::new();
    if !by_path.is_empty() {
        alternate_names.push(name.clone());
    }
    Storage {
        name: if by_path.is_empty() { name } else { by_path },
        alternate_names,
        rotational,
        disk_type: Some(disk_type),
        size_bytes: int(d, "/size"),
        vendor: text(d, "/vendor"),
        model: text(d, "/model"),
        serial_number: text(d, "/serial"),
        wwn: text(d, "/wwn"),
        wwn_vendor_extension: text(d, "/wwn_vendor_extension"),
        wwn_with_extension: text(d, "/wwn_with_extension"),
        hctl: text(d, "/hctl"),
    }
}

fn nic(i: &Value, plugin_data: &Value) -> Nic {
    let name = text(i, "/name");
    let ip = [text(i, "/ipv4_address"), text(i, "/ipv6_address")]
        .into_iter()
        .find(|a| !a.is_empty())
        .unwrap_or_default();
    let all = plugin_data.get("all_interfaces").and_then(|a| a.get(&name));
    let pxe = all
        .and_then(|a| a.get("pxe_enabled").or_else(|| a.get("pxe")))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let lldp = plugin_data.get("parsed_lldp").and_then(|l| l.get(&name));
    let vlans = lldp
        .and_then(|l| l.get("switch_port_vlans"))
        .and_then(Value::as_array)
        .map(|vs| {
            vs.iter()
                .map(|v| Vlan {
                    id: int(v, "/id") as i32,
                    name: text(v, "/name"),
                })
                .collect()
        })
        .unwrap_or_default();
    let vlan_id = lldp.map_or(0, |l| int(l, "/switch_port_untagged_vlan_id") as i32);
    let lldp = lldp.and_then(|l| {
        let lldp = Lldp {
            switch_id: text(l, "/switch_chassis_id"),
            port_id: text(l, "/switch_port_id"),
            switch_system_name: text(l, "/switch_system_name"),
        };
        (lldp != Lldp::default()).then_some(lldp)
    });
    Nic {
        model: [text(i, "/vendor"), text(i, "/product")]
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(" "),
        mac: text(i, "/mac_address").to_ascii_lowercase(),
        ip,
        speed_gbps: int(i, "/speed_mbps") / 1000,
        vlans,
        vlan_id,
        pxe,
        lldp,
        pci_address: text(i, "/pci_address"),
        name,
    }
}

/// The hardware details of an inventory (`inventory`) with its plugin data (`plugin_data`).
pub fn details(inventory: &Value, plugin_data: &Value) -> HardwareDetails {
    let nics = inventory
        .get("interfaces")
        .and_then(Value::as_array)
        .map(|is| is.iter().map(|i| nic(i, plugin_data)).collect())
        .unwrap_or_default();
    let storage = inventory
        .get("disks")
        .and_then(Value::as_array)
        .map(|ds| ds.iter().map(disk).collect())
        .unwrap_or_default();
    let flags = inventory
        .pointer("/cpu/flags")
        .and_then(Value::as_array)
        .map(|fs| {
            let mut flags: Vec<String> = fs
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect();
            flags.sort();
            flags
        })
        .unwrap_or_default();
    HardwareDetails {
        system_vendor: HardwareSystemVendor {
            manufacturer: text(inventory, "/system_vendor/manufacturer"),
            product_name: text(inventory, "/system_vendor/product_name"),
            serial_number: text(inventory, "/system_vendor/serial_number"),
        },
        firmware: Firmware {
            bios: Bios {
                date: text(inventory, "/system_vendor/firmware/build_date"),
                vendor: text(inventory, "/system_vendor/firmware/vendor"),
                version: text(inventory, "/system_vendor/firmware/version"),
            },
        },
        ram_mebibytes: int(inventory, "/memory/physical_mb"),
        nics,
        storage,
        cpu: Cpu {
            arch: text(inventory, "/cpu/architecture"),
            model: text(inventory, "/cpu/model_name"),
            clock_megahertz: float(inventory, "/cpu/frequency").round(),
            flags,
            count: int(inventory, "/cpu/count"),
        },
        hostname: text(inventory, "/hostname"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn maps_an_agent_inventory() {
        let inventory = json!({
            "cpu": {"model_name": "Intel Xeon", "frequency": "2399.998", "count": 8,
                     "architecture": "x86_64", "flags": ["vmx", "avx"]},
            "memory": {"total": 17179869184u64, "physical_mb": 16384},
            "disks": [
                {"name": "/dev/sda", "size": 500107862016u64, "rotational": true, "model": "HDD1",
                 "vendor": "ATA", "serial": "S1", "wwn": "0x5000", "hctl": "0:0:0:0",
                 "by_path": "/dev/disk/by-path/pci-0000:00:1f.2-ata-1"},
                {"name": "/dev/nvme0n1", "size": 1000204886016u64, "rotational": false},
                {"name": "/dev/sdb", "size": 240057409536u64, "rotational": false},
            ],
            "interfaces": [
                {"name": "eth0", "mac_address": "52:54:00:AA:BB:01", "ipv4_address": "192.168.111.20",
                 "speed_mbps": 10000, "vendor": "0x8086", "product": "0x1572", "pci_address": "0000:01:00.0"},
                {"name": "eth1", "mac_address": "52:54:00:aa:bb:02", "ipv6_address": "fd00::2"},
            ],
            "system_vendor": {"manufacturer": "Dell Inc.", "product_name": "PowerEdge R640",
                               "serial_number": "ABC123",
                               "firmware": {"vendor": "Dell", "version": "2.1", "build_date": "01/01/2024"}},
            "hostname": "localhost.localdomain",
        });
        let plugin = json!({
            "all_interfaces": {"eth0": {"pxe_enabled": true}, "eth1": {"pxe_enabled": false}},
            "parsed_lldp": {"eth0": {"switch_chassis_id": "aa:bb", "switch_port_id": "Eth1/1",
                                      "switch_system_name": "tor-1",
                                      "switch_port_vlans": [{"id": 100, "name": "prov"}],
                                      "switch_port_untagged_vlan_id": 100}},
        });
        let d = details(&inventory, &plugin);
        assert_eq!(d.system_vendor.manufacturer, "Dell Inc.");
        assert_eq!(d.firmware.bios.version, "2.1");
        assert_eq!(d.ram_mebibytes, 16384);
        assert_eq!(d.cpu.clock_megahertz, 2400.0);
        assert_eq!(d.cpu.count, 8);
        assert_eq!(d.cpu.flags, vec!["avx", "vmx"]);
        assert_eq!(
            d.storage[0].name,
            "/dev/disk/by-path/pci-0000:00:1f.2-ata-1"
        );
        assert_eq!(d.storage[0].alternate_names, vec!["/dev/sda"]);
        assert_eq!(d.storage[0].disk_type, Some(DiskType::Hdd));
        assert_eq!(d.storage[1].disk_type, Some(DiskType::Nvme));
        assert_eq!(d.storage[2].disk_type, Some(DiskType::Ssd));
        assert_eq!(d.storage[0].size_bytes, 500107862016);
        let eth0 = &d.nics[0];
        assert_eq!(eth0.mac, "52:54:00:aa:bb:01");
        assert_eq!(eth0.ip, "192.168.111.20");
        assert_eq!(eth0.speed_gbps, 10);
        assert!(eth0.pxe);
        assert_eq!(eth0.vlan_id, 100);
        assert_eq!(eth0.vlans[0].name, "prov");
        assert_eq!(
            eth0.lldp.as_ref().map(|l| l.switch_system_name.as_str()),
            Some("tor-1")
        );
        assert_eq!(d.nics[1].ip, "fd00::2");
        assert!(!d.nics[1].pxe);
        assert!(d.nics[1].lldp.is_none());
        assert_eq!(d.hostname, "localhost.localdomain");
    }

    #[test]
    fn an_empty_inventory_maps_to_empty_details() {
        assert_eq!(
            details(&json!({}), &json!(null)),
            HardwareDetails::default()
        );
    }
}
