//! The inventory from a fake host's `/proc` and `/sys` (symbolic links where the kernel has
//! them), as the hub receives it: IPA's field names and units.

mod common;

use std::collections::BTreeMap;
use std::net::IpAddr;

use common::{BOOT_MAC, fake_host};
use metal3_agent::inventory::{Observed, Sources, collect, macs};
use metal3_agent_api::inventory::Disk;
use serde_json::json;

#[test]
fn a_fake_host_reads_as_ipa_reports_it() {
    let dir = tempfile::tempdir().expect("dir");
    let (proc, sys) = fake_host(dir.path());
    let sources = Sources { proc, sys };
    let addresses: BTreeMap<String, Vec<IpAddr>> = BTreeMap::from([(
        "eth0".to_string(),
        vec![
            "fe80::5054:ff:fe12:3456".parse().expect("ip"),
            "10.0.2.15".parse().expect("ip"),
        ],
    )]);
    let mut frame = vec![0x02, 0x07, 0x04, 0x00, 0x1c, 0x73, 0xaa, 0xbb, 0xcc];
    frame.extend([0x04, 0x04, 0x05, b'e', b't', b'1']);
    frame.extend([0x00, 0x00]);
    let observed = Observed {
        disks: vec![Disk {
            name: "/dev/vda".into(),
            size: 8 << 30,
            serial: "D0".into(),
            ..Disk::default()
        }],
        addresses,
        lldp: BTreeMap::from([("eth0".to_string(), frame)]),
        boot_mac: BOOT_MAC.to_uppercase(),
    };
    let data = collect(&sources, &observed);
    let wire = serde_json::to_value(&data).expect("json");
    let inventory = &wire["inventory"];
    assert_eq!(
        inventory["cpu"],
        json!({"model_name": "QEMU Virtual CPU", "frequency": "2400.000", "count": 2,
               "architecture": std::env::consts::ARCH, "flags": ["fpu", "sse2"], "socket_count": 1})
    );
    assert_eq!(
        inventory["memory"],
        json!({"total": 1_003_448u64 * 1024, "physical_mb": 1024})
    );
    assert_eq!(inventory["disks"][0]["serial"], "D0");
    assert_eq!(
        inventory["interfaces"][0],
        json!({"name": "eth0", "mac_address": BOOT_MAC, "ipv4_address": "10.0.2.15",
               "ipv6_address": "fe80::5054:ff:fe12:3456", "has_carrier": true,
               "vendor": "0x1af4", "product": "0x0001", "pci_address": "0000:00:03.0",
               "driver": "virtio_net", "lldp": [[1, "04001c73aabbcc"], [2, "05657431"]]}),
        "speed -1 (unknown) is left out"
    );
    assert_eq!(inventory["interfaces"][1]["name"], "eth1");
    assert_eq!(inventory["interfaces"][1]["has_carrier"], false);
    assert_eq!(inventory["interfaces"][1]["speed_mbps"], 1000);
    assert_eq!(
        inventory["interfaces"].as_array().expect("nics").len(),
        2,
        "br0 is no NIC"
    );
    assert_eq!(
        inventory["system_vendor"],
        json!({"product_name": "Standard PC (Q35 + ICH9, 2009)", "serial_number": "SN-0001",
               "manufacturer": "QEMU", "firmware": {"vendor": "EDK II",
               "version": "stable202302", "build_date": "02/06/2023"}})
    );
    assert_eq!(
        inventory["boot"],
        json!({"current_boot_mode": "uefi", "pxe_interface": BOOT_MAC})
    );
    assert_eq!(inventory["hostname"], "node-0");
    assert_eq!(
        wire["plugin_data"]["all_interfaces"],
        json!({"eth0": {"mac": BOOT_MAC, "ip": "10.0.2.15", "pxe_enabled": true},
               "eth1": {"mac": "52:54:00:12:34:57", "pxe_enabled": false}})
    );
    assert_eq!(
        wire["plugin_data"]["parsed_lldp"]["eth0"],
        json!({"switch_chassis_id": "00:1c:73:aa:bb:cc", "switch_port_id": "et1",
               "switch_system_name": "", "switch_port_vlans": []})
    );
    assert_eq!(macs(&sources), [BOOT_MAC, "52:54:00:12:34:57"]);
}

#[test]
fn an_empty_tree_gives_an_empty_inventory_not_an_error() {
    let dir = tempfile::tempdir().expect("dir");
    let sources = Sources {
        proc: dir.path().join("proc"),
        sys: dir.path().join("sys"),
    };
    let data = collect(&sources, &Observed::default());
    assert_eq!(data.inventory.cpu.count, 0);
    assert!(data.inventory.interfaces.is_empty());
    assert_eq!(data.inventory.boot.current_boot_mode, "bios");
    assert!(macs(&sources).is_empty());
}
