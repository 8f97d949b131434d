//! Pure translations from a BareMetalHost's wishes into Ironic's vocabulary, shared by the
//! phases: node names, the driver and interfaces of a new node, capabilities, root device
//! hints, ports, the ramdisk's network data, JSON patches of only what changed, the inserted
//! virtual CD. The phase-specific ones sit with their phase (`prepare::steps`,
//! `deploy::instance`). No I/O, so each rule has a unit test.

use metal3_api::v1alpha1::{BootMode, HardwareDetails, RootDeviceHints};
use metal3_bmc::BmcAddress;
use metal3_ironic::PatchOp;
use serde_json::{Map, Value, json};

/// The node name upstream uses: `<namespace>~<name>`.
pub fn node_name(namespace: &str, name: &str) -> String {
    format!("{namespace}~{name}")
}

/// The `properties.capabilities` string for `mode`, keeping capabilities set by others.
pub fn capabilities(existing: Option<&str>, mode: BootMode) -> String {
    let mut parts: Vec<&str> = existing
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty() && !p.starts_with("boot_mode:") && !p.starts_with("secure_boot:"))
        .collect();
    let ours = match mode {
        BootMode::Uefi => "boot_mode:uefi",
        BootMode::UefiSecureBoot => "boot_mode:uefi,secure_boot:true",
        BootMode::Legacy => "boot_mode:bios",
    };
    parts.push(ours);
    parts.join(",")
}

/// Which interfaces every node gets, beyond what the BMC address chooses.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Hardware {
    /// The driver and interfaces of the BMC address (upstream behaviour).
    #[default]
    FromAddress,
    /// Ironic's `fake-hardware` driver with every interface `fake`: the whole state machine
    /// runs with no BMC (for tests of the backend against a real Ironic).
    Fake,
}

/// Interface fields for a new node.
pub fn interfaces(bmc: &BmcAddress, hardware: &Hardware, fast_inspect: bool) -> Map<String, Value> {
    let mut out = Map::new();
    match hardware {
        Hardware::Fake => {
            for i in [
                "boot",
                "deploy",
                "inspect",
                "management",
                "power",
                "raid",
                "bios",
                "firmware",
                "vendor",
            ] {
                out.insert(format!("{i}_interface"), json!("fake"));
            }
        }
        Hardware::FromAddress => {
            let i = bmc.interfaces();
            let pairs = [
                ("boot_interface", i.boot),
                ("bios_interface", i.bios),
                ("management_interface", i.management),
                ("power_interface", i.power),
                ("vendor_interface", i.vendor),
                ("raid_interface", i.raid),
                ("firmware_interface", i.firmware),
            ];
            for (k, v) in pairs {
                if let Some(v) = v {
                    out.insert(k.into(), json!(v));
                }
            }
            let inspect = if fast_inspect {
                i.inspect.unwrap_or("agent")
            } else {
                "agent"
            };
            out.insert("inspect_interface".into(), json!(inspect));
        }
    }
    out
}

/// The driver for a new node.
pub fn driver(bmc: &BmcAddress, hardware: &Hardware) -> &'static str {
    match hardware {
        Hardware::Fake => "fake-hardware",
        Hardware::FromAddress => bmc.driver(),
    }
}

/// Ironic's `root_device` hints (`s==`, `<in>`, `>=` operators as upstream sends them).
pub fn root_device(hints: &RootDeviceHints) -> Map<String, Value> {
    let mut out = Map::new();
    let mut exact = |key: &str, v: &str| {
        if !v.is_empty() {
            out.insert(key.into(), json!(format!("s== {v}")));
        }
    };
    if hints.device_name.starts_with("/dev/disk/by-path/") {
        exact("by_path", &hints.device_name);
    } else {
        exact("name", &hints.device_name);
    }
    exact("hctl", &hints.hctl);
    exact("serial", &hints.serial_number);
    exact("wwn", &hints.wwn);
    exact("wwn_with_extension", &hints.wwn_with_extension);
    exact("wwn_vendor_extension", &hints.wwn_vendor_extension);
    if !hints.model.is_empty() {
        out.insert("model".into(), json!(format!("<in> {}", hints.model)));
    }
    if !hints.vendor.is_empty() {
        out.insert("vendor".into(), json!(format!("<in> {}", hints.vendor)));
    }
    if hints.min_size_gigabytes > 0 {
        out.insert(
            "size".into(),
            json!(format!(">= {}", hints.min_size_gigabytes)),
        );
    }
    if let Some(r) = hints.rotational {
        out.insert("rotational".into(), json!(r.to_string()));
    }
    out
}

/// JSON-patch operations that bring `current` (a node's map at `prefix`) to hold `wanted`,
/// and drop `remove`: only what differs is sent.
pub fn map_patch(
    prefix: &str,
    current: &Map<String, Value>,
    wanted: &Map<String, Value>,
    remove: &[&str],
) -> Vec<PatchOp> {
    let mut ops: Vec<PatchOp> = wanted
        .iter()
        .filter(|(k, v)| current.get(k.as_str()) != Some(*v))
        .map(|(k, v)| PatchOp::add(format!("{prefix}/{k}"), v.clone()))
        .collect();
    ops.extend(
        remove
            .iter()
            .filter(|k| current.contains_key(**k) && !wanted.contains_key(**k))
            .map(|k| PatchOp::remove(format!("{prefix}/{k}"))),
    );
    ops
}

/// A YAML or JSON document; the error names `what`.
pub(crate) fn parse_document(text: &str, what: &str) -> Result<Value, String> {
    serde_saphyr::from_str::<Value>(text)
        .map_err(|e| format!("{what} is not valid YAML or JSON: {e}"))
}

/// Ports a node should have, as (MAC in lower case, PXE enabled): the boot MAC first, then
/// every NIC inspection found (PXE as inspection saw it), each MAC once.
pub fn wanted_ports(boot_mac: &str, details: Option<&HardwareDetails>) -> Vec<(String, bool)> {
    let mut out: Vec<(String, bool)> = Vec::new();
    if !boot_mac.is_empty() {
        out.push((boot_mac.to_ascii_lowercase(), true));
    }
    for nic in details.map(|d| d.nics.as_slice()).unwrap_or_default() {
        let mac = nic.mac.to_ascii_lowercase();
        if !mac.is_empty() && !out.iter().any(|(m, _)| *m == mac) {
            out.push((mac, nic.pxe));
        }
    }
    out
}

/// The node's `network_data` for the agent's ramdisk: the preprovisioning network data
/// (YAML or JSON), when no preprovisioning image carries it already. `Ok(None)`: leave the
/// node's as it is.
pub fn ramdisk_network_data(
    preprovisioning_network_data: &str,
    has_preprovisioning_image: bool,
) -> Result<Option<Value>, String> {
    if has_preprovisioning_image || preprovisioning_network_data.trim().is_empty() {
        return Ok(None);
    }
    parse_document(preprovisioning_network_data, "preprovisioning networkData").map(Some)
}

/// The image in the node's inserted virtual CD or DVD, from Ironic's `GET .../vmedia` reply
/// (a list of `{media_types, inserted, image}` as the BMC reports them).
pub fn inserted_cd(media: &Value) -> Option<String> {
    let list = media
        .as_array()
        .or_else(|| media.get("vmedia").and_then(Value::as_array))?;
    list.iter()
        .filter(|m| m.get("inserted").and_then(Value::as_bool) == Some(true))
        .filter(|m| {
            m.get("media_types")
                .and_then(Value::as_array)
                .is_none_or(|types| types.iter().any(|t| t == "CD" || t == "DVD"))
        })
        .filter_map(|m| m.get("image").and_then(Value::as_str))
        .find(|url| !url.is_empty())
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_names_join_namespace_and_name() {
        assert_eq!(node_name("metal3", "worker-0"), "metal3~worker-0");
    }

    #[test]
    fn capabilities_replace_only_boot_settings() {
        assert_eq!(capabilities(None, BootMode::Uefi), "boot_mode:uefi");
        assert_eq!(
            capabilities(
                Some("cpu_vt:true,boot_mode:bios,secure_boot:true"),
                BootMode::UefiSecureBoot
            ),
            "cpu_vt:true,boot_mode:uefi,secure_boot:true"
        );
        assert_eq!(
            capabilities(Some("boot_mode:uefi"), BootMode::Legacy),
            "boot_mode:bios"
        );
    }

    #[test]
    fn root_device_hints_use_ironic_operators() {
        let hints = RootDeviceHints {
            device_name: "/dev/sda".into(),
            hctl: "1:0:0:0".into(),
            model: "PERC".into(),
            vendor: "Dell".into(),
            serial_number: "S1".into(),
            min_size_gigabytes: 100,
            wwn: "0x1".into(),
            rotational: Some(false),
            ..RootDeviceHints::default()
        };
        assert_eq!(
            Value::Object(root_device(&hints)),
            json!({
                "name": "s== /dev/sda",
                "hctl": "s== 1:0:0:0",
                "model": "<in> PERC",
                "vendor": "<in> Dell",
                "serial": "s== S1",
                "size": ">= 100",
                "wwn": "s== 0x1",
                "rotational": "false",
            })
        );
        let by_path = RootDeviceHints {
            device_name: "/dev/disk/by-path/pci-0000:00:1f.2-ata-1".into(),
            ..RootDeviceHints::default()
        };
        assert_eq!(
            Value::Object(root_device(&by_path)),
            json!({"by_path": "s== /dev/disk/by-path/pci-0000:00:1f.2-ata-1"})
        );
    }

    #[test]
    fn patches_send_only_differences() {
        let current: Map<String, Value> = json!({"a": 1, "b": 2, "old": true})
            .as_object()
            .cloned()
            .unwrap_or_default();
        let wanted: Map<String, Value> = json!({"a": 1, "b": 3, "c": 4})
            .as_object()
            .cloned()
            .unwrap_or_default();
        let ops = map_patch("/instance_info", &current, &wanted, &["old", "missing"]);
        assert_eq!(
            ops,
            vec![
                PatchOp::add("/instance_info/b", json!(3)),
                PatchOp::add("/instance_info/c", json!(4)),
                PatchOp::remove("/instance_info/old"),
            ]
        );
    }

    #[test]
    fn the_inserted_cd_is_found_among_the_media() {
        let media = json!([
            {"media_types": ["Floppy", "USBStick"], "inserted": true, "image": "http://x/usb.img"},
            {"media_types": ["CD", "DVD"], "inserted": false, "image": ""},
        ]);
        assert_eq!(inserted_cd(&media), None);
        let media = json!([
            {"media_types": ["Floppy"], "inserted": false, "image": ""},
            {"media_types": ["CD", "DVD"], "inserted": true, "image": "http://ironic/data.iso"},
        ]);
        assert_eq!(
            inserted_cd(&media).as_deref(),
            Some("http://ironic/data.iso")
        );
        assert_eq!(inserted_cd(&json!({"error": "x"})), None);
    }

    #[test]
    fn preprovisioning_network_data_goes_to_the_node_without_an_image() {
        let yaml = "links:\n- id: eth0\n  type: phy\n  ethernet_mac_address: 52:54:00:00:00:01\nnetworks: []\nservices: []\n";
        let value = ramdisk_network_data(yaml, false)
            .expect("valid")
            .expect("set");
        assert_eq!(value["links"][0]["id"], "eth0");
        assert_eq!(
            ramdisk_network_data(yaml, true),
            Ok(None),
            "the image carries it"
        );
        assert_eq!(ramdisk_network_data("  ", false), Ok(None));
        let e = ramdisk_network_data("links: [", false).expect_err("invalid");
        assert!(e.contains("preprovisioning networkData"), "{e}");
    }

    #[test]
    fn ports_for_the_boot_mac_and_the_inspected_nics() {
        let details = HardwareDetails {
            nics: vec![
                metal3_api::v1alpha1::Nic {
                    mac: "52:54:00:00:00:AA".into(),
                    pxe: true,
                    ..Default::default()
                },
                metal3_api::v1alpha1::Nic {
                    mac: "52:54:00:00:00:bb".into(),
                    ..Default::default()
                },
                metal3_api::v1alpha1::Nic::default(),
            ],
            ..Default::default()
        };
        assert_eq!(
            wanted_ports("52:54:00:00:00:aa", Some(&details)),
            vec![
                ("52:54:00:00:00:aa".to_string(), true),
                ("52:54:00:00:00:bb".to_string(), false),
            ]
        );
        assert_eq!(
            wanted_ports("", None),
            Vec::<(String, bool)>::new(),
            "nothing known, nothing made"
        );
    }
}
