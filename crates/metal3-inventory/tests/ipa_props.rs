//! Properties of reading an agent's inventory as Ironic stores it (what an agent on the
//! server sent, so outside input): any shape gives hardware details, never a panic, and the
//! details are always ones the BareMetalHost status can hold.

use metal3_api::v1alpha1::HardwareDetails;
use proptest::prelude::*;
use serde_json::{Value, json};

/// The members the mapping reads.
const MEMBERS: &[&str] = &[
    "all_interfaces",
    "architecture",
    "avx",
    "build_date",
    "by_path",
    "count",
    "cpu",
    "disks",
    "firmware",
    "flags",
    "frequency",
    "hctl",
    "hostname",
    "id",
    "interfaces",
    "mac_address",
    "manufacturer",
    "memory",
    "model",
    "model_name",
    "name",
    "parsed_lldp",
    "pci_address",
    "physical_mb",
    "product",
    "product_name",
    "prov",
    "pxe",
    "pxe_enabled",
    "rotational",
    "serial",
    "serial_number",
    "size",
    "speed_mbps",
    "switch_chassis_id",
    "switch_port_id",
    "switch_port_untagged_vlan_id",
    "switch_port_vlans",
    "switch_system_name",
    "system_vendor",
    "total",
    "vendor",
    "version",
    "vmx",
    "wwn",
];

fn json() -> BoxedStrategy<Value> {
    metal3_hostile::json(MEMBERS)
}

fn a_real_inventory() -> Value {
    json!({
        "cpu": {"architecture": "x86_64", "model_name": "Xeon", "count": 8, "frequency": "2400.000", "flags": ["vmx"]},
        "memory": {"total": 17179869184u64, "physical_mb": 16384},
        "disks": [{"name": "/dev/sda", "size": 500107862016u64, "rotational": false, "serial": "S1", "model": "SSD", "vendor": "ATA", "wwn": "0x5000", "hctl": "0:0:0:0", "by_path": "/dev/disk/by-path/pci-0000:00:1f.2-ata-1"}],
        "interfaces": [{"name": "eth0", "mac_address": "52:54:00:12:34:56", "speed_mbps": 1000, "pxe_enabled": true, "pci_address": "0000:00:03.0"}],
        "system_vendor": {"manufacturer": "QEMU", "product_name": "Standard PC", "serial_number": "123"},
        "firmware": {"vendor": "SeaBIOS", "version": "1.16", "build_date": "04/01/2014"},
        "hostname": "node-0",
    })
}

/// The details serialise as the status does (nothing a JSON encoder refuses).
fn holds(details: &HardwareDetails) -> Result<(), TestCaseError> {
    let encoded = serde_json::to_value(details);
    prop_assert!(encoded.is_ok(), "{encoded:?}");
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_inventory_gives_details(inventory in json(), plugin_data in json()) {
        holds(&metal3_inventory::ipa::details(&inventory, &plugin_data))?;
    }

    #[test]
    fn any_member_of_a_real_inventory_may_be_anything(
        member in proptest::sample::select(MEMBERS),
        value in json(),
        plugin_data in json(),
    ) {
        let mut top = a_real_inventory();
        top[member] = value.clone();
        holds(&metal3_inventory::ipa::details(&top, &plugin_data))?;
        let mut deeper = a_real_inventory();
        deeper["cpu"][member] = value.clone();
        deeper["memory"][member] = value.clone();
        deeper["disks"][0][member] = value.clone();
        deeper["interfaces"][0][member] = value;
        let details = metal3_inventory::ipa::details(&deeper, &plugin_data);
        holds(&details)?;
        // One broken member does not lose the rest: the disk and the NIC are still there.
        prop_assert_eq!(details.storage.len(), 1);
        prop_assert_eq!(details.nics.len(), 1);
    }
}
