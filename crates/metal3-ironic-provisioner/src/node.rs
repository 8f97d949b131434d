//! Pure translations from a BareMetalHost's wishes into Ironic's vocabulary: node creation
//! bodies, capabilities, root device hints, instance_info for each kind of deployment, the
//! config drive, and clean/service steps. No I/O, so each rule has a unit test.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use metal3_api::v1alpha1::{
    BootMode, ChecksumType, FirmwareUpdate, HardwareDetails, HardwareRaidVolume, Image, RaidConfig,
    RootDeviceHints,
};
use metal3_bmc::BmcAddress;
use metal3_ironic::PatchOp;
use metal3_ironic::types::Step;
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

/// How the node deploys.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeployKind {
    /// Write a disk image with the agent (Ironic's default deploy interface).
    Image,
    /// Boot a live ISO (`ramdisk` deploy interface).
    LiveIso,
    /// Run a custom deploy step (`custom-agent` deploy interface).
    Custom,
}

impl DeployKind {
    /// The deploy interface to set; `None` leaves Ironic's default.
    pub fn interface(self) -> Option<&'static str> {
        match self {
            Self::Image => None,
            Self::LiveIso => Some("ramdisk"),
            Self::Custom => Some("custom-agent"),
        }
    }
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

/// Checks the image before deployment; the message follows "Validation failed: ".
pub fn validate_image(image: &Image) -> Result<(), String> {
    if image.url.trim().is_empty() {
        return Err("image.url is empty; set the URL of the image to write".into());
    }
    if image.is_live_iso() || image.url.starts_with("oci://") {
        return Ok(());
    }
    if image.checksum.trim().is_empty() {
        return Err(format!(
            "image {} has no checksum; set image.checksum (and image.checksumType) or use an oci:// image",
            image.url
        ));
    }
    Ok(())
}

/// The `instance_info` wanted for a deployment, and the keys to drop from an earlier one.
pub fn instance_info(
    image: Option<&Image>,
    kind: DeployKind,
    secure_boot: bool,
    hints: Option<&RootDeviceHints>,
) -> (Map<String, Value>, Vec<&'static str>) {
    let mut info = Map::new();
    let mut drop = Vec::new();
    if secure_boot {
        info.insert("capabilities".into(), json!({"secure_boot": "true"}));
    }
    if let Some(h) = hints.map(root_device).filter(|h| !h.is_empty()) {
        info.insert("root_device".into(), Value::Object(h));
    }
    let image_keys = [
        "image_source",
        "image_disk_format",
        "image_checksum",
        "image_os_hash_algo",
        "image_os_hash_value",
    ];
    match (kind, image) {
        (DeployKind::LiveIso, Some(image)) => {
            info.insert("boot_iso".into(), json!(image.url));
            drop.extend(image_keys);
        }
        (DeployKind::Image, Some(image)) => {
            info.insert("image_source".into(), json!(image.url));
            if let Some(f) = image.disk_format {
                info.insert("image_disk_format".into(), json!(f.as_str()));
            }
            match image.checksum_type {
                None | Some(ChecksumType::Auto) => {
                    if !image.checksum.is_empty() {
                        info.insert("image_checksum".into(), json!(image.checksum));
                    }
                    drop.extend(["image_os_hash_algo", "image_os_hash_value"]);
                }
                Some(t) => {
                    info.insert("image_os_hash_algo".into(), json!(t.as_str()));
                    info.insert("image_os_hash_value".into(), json!(image.checksum));
                    drop.push("image_checksum");
                }
            }
            drop.push("boot_iso");
        }
        _ => {
            drop.extend(image_keys);
            drop.push("boot_iso");
        }
    }
    (info, drop)
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

/// The config drive: user data as given, meta data with the host's identity (overridden by
/// the host's metaData), network data. Each document is YAML or JSON text.
pub fn config_drive(
    uid: &str,
    namespace: &str,
    name: &str,
    user_data: Option<&str>,
    meta_data: Option<&str>,
    network_data: Option<&str>,
) -> Result<Value, String> {
    let mut meta = Map::new();
    for (k, v) in [
        ("uuid", uid),
        ("metal3-namespace", namespace),
        ("metal3-name", name),
        ("local-hostname", name),
        ("local_hostname", name),
        ("name", name),
    ] {
        meta.insert(k.into(), json!(v));
    }
    if let Some(text) = meta_data.filter(|t| !t.trim().is_empty()) {
        match parse_document(text, "metaData")? {
            Value::Object(extra) => meta.extend(extra),
            _ => return Err("metaData must be a mapping of keys to values".into()),
        }
    }
    let mut drive = Map::new();
    drive.insert("meta_data".into(), Value::Object(meta));
    if let Some(u) = user_data {
        drive.insert("user_data".into(), json!(u));
    }
    if let Some(text) = network_data.filter(|t| !t.trim().is_empty()) {
        drive.insert("network_data".into(), parse_document(text, "networkData")?);
    }
    Ok(Value::Object(drive))
}

fn parse_document(text: &str, what: &str) -> Result<Value, String> {
    serde_saphyr::from_str::<Value>(text)
        .map_err(|e| format!("{what} is not valid YAML or JSON: {e}"))
}

fn setting_value(v: &IntOrString) -> Value {
    match v {
        IntOrString::Int(i) => json!(i),
        IntOrString::String(s) => json!(s),
    }
}

/// BIOS `apply_configuration` for the settings whose wanted value differs from the current.
pub fn bios_step(
    wanted: &BTreeMap<String, IntOrString>,
    current: &BTreeMap<String, String>,
) -> Option<Step> {
    let settings: Vec<Value> = wanted
        .iter()
        .filter(|(k, v)| {
            let want = match v {
                IntOrString::Int(i) => i.to_string(),
                IntOrString::String(s) => s.clone(),
            };
            current.get(*k) != Some(&want)
        })
        .map(|(k, v)| json!({"name": k, "value": setting_value(v)}))
        .collect();
    if settings.is_empty() {
        return None;
    }
    Some(Step {
        interface: "bios".into(),
        step: "apply_configuration".into(),
        args: [("settings".to_string(), Value::Array(settings))]
            .into_iter()
            .collect(),
        priority: None,
    })
}

/// Firmware `update` for the requested components.
pub fn firmware_step(updates: &[FirmwareUpdate]) -> Option<Step> {
    if updates.is_empty() {
        return None;
    }
    let settings: Vec<Value> = updates
        .iter()
        .map(|u| json!({"component": u.component, "url": u.url}))
        .collect();
    Some(Step {
        interface: "firmware".into(),
        step: "update".into(),
        args: [("settings".to_string(), Value::Array(settings))]
            .into_iter()
            .collect(),
        priority: None,
    })
}

fn hardware_volume(v: &HardwareRaidVolume, root: bool) -> Value {
    let mut d = Map::new();
    d.insert(
        "size_gb".into(),
        v.size_gibibytes.map_or(json!("MAX"), |s| json!(s)),
    );
    d.insert("raid_level".into(), json!(v.level.as_str()));
    if root {
        d.insert("is_root_volume".into(), json!(true));
    }
    if !v.name.is_empty() {
        d.insert("volume_name".into(), json!(v.name));
    }
    if !v.controller.is_empty() {
        d.insert("controller".into(), json!(v.controller));
    }
    if !v.physical_disks.is_empty() {
        d.insert("physical_disks".into(), json!(v.physical_disks));
    }
    if let Some(r) = v.rotational {
        d.insert("disk_type".into(), json!(if r { "hdd" } else { "ssd" }));
    }
    if let Some(n) = v.number_of_physical_disks {
        d.insert("number_of_physical_disks".into(), json!(n));
    }
    Value::Object(d)
}

/// The target RAID configuration (`logical_disks`) and the clean steps applying it. `None`
/// when no RAID is asked for. Software RAID needs the agent's RAID interface.
pub fn raid(config: &RaidConfig, has_root_hints: bool) -> Option<(Value, Vec<Step>, bool)> {
    let hardware = config.hardware_raid_volumes.as_deref().unwrap_or_default();
    let software = config.software_raid_volumes.as_deref().unwrap_or_default();
    let step = |interface: &str, step: &str| Step {
        interface: interface.into(),
        step: step.into(),
        args: Map::new(),
        priority: None,
    };
    if !hardware.is_empty() {
        let disks: Vec<Value> = hardware
            .iter()
            .enumerate()
            .map(|(i, v)| hardware_volume(v, i == 0 && !has_root_hints))
            .collect();
        let steps = vec![
            step("raid", "delete_configuration"),
            step("raid", "create_configuration"),
        ];
        return Some((Value::Array(disks), steps, false));
    }
    if !software.is_empty() {
        let disks: Vec<Value> = software
            .iter()
            .enumerate()
            .map(|(i, v)| {
                let mut d = Map::new();
                d.insert("controller".into(), json!("software"));
                d.insert("raid_level".into(), json!(v.level.as_str()));
                d.insert(
                    "size_gb".into(),
                    v.size_gibibytes.map_or(json!("MAX"), |s| json!(s)),
                );
                if i == 0 {
                    d.insert("is_root_volume".into(), json!(true));
                }
                if !v.physical_disks.is_empty() {
                    let hints: Vec<Value> = v
                        .physical_disks
                        .iter()
                        .map(|h| Value::Object(root_device(h)))
                        .collect();
                    d.insert("physical_disks".into(), Value::Array(hints));
                }
                Value::Object(d)
            })
            .collect();
        let steps = vec![
            step("raid", "delete_configuration"),
            step("deploy", "erase_devices_metadata"),
            step("raid", "create_configuration"),
        ];
        return Some((Value::Array(disks), steps, true));
    }
    None
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
    use metal3_api::v1alpha1::{
        HardwareRaidLevel, ImageFormat, SoftwareRaidLevel, SoftwareRaidVolume,
    };

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

    fn image(url: &str, checksum: &str, t: Option<ChecksumType>, f: Option<ImageFormat>) -> Image {
        Image {
            url: url.into(),
            checksum: checksum.into(),
            checksum_type: t,
            disk_format: f,
            ..Image::default()
        }
    }

    #[test]
    fn images_need_a_checksum_unless_live_or_oci() {
        assert!(validate_image(&image("http://i/os.qcow2", "abc", None, None)).is_ok());
        let e = validate_image(&image("http://i/os.qcow2", "", None, None)).expect_err("no sum");
        assert!(e.contains("image.checksum"), "{e}");
        assert!(
            validate_image(&image(
                "http://i/live.iso",
                "",
                None,
                Some(ImageFormat::LiveIso)
            ))
            .is_ok()
        );
        assert!(validate_image(&image("oci://quay.io/os:1", "", None, None)).is_ok());
        assert!(validate_image(&image(" ", "", None, None)).is_err());
    }

    #[test]
    fn instance_info_for_each_deploy_kind() {
        let qcow = image(
            "http://i/os.qcow2",
            "abc",
            Some(ChecksumType::Sha256),
            Some(ImageFormat::Qcow2),
        );
        let (info, drop) = instance_info(Some(&qcow), DeployKind::Image, true, None);
        assert_eq!(
            Value::Object(info),
            json!({
                "capabilities": {"secure_boot": "true"},
                "image_source": "http://i/os.qcow2",
                "image_disk_format": "qcow2",
                "image_os_hash_algo": "sha256",
                "image_os_hash_value": "abc",
            })
        );
        assert!(drop.contains(&"boot_iso") && drop.contains(&"image_checksum"));

        let legacy_sum = image("http://i/os.raw", "http://i/os.raw.md5sum", None, None);
        let (info, _) = instance_info(Some(&legacy_sum), DeployKind::Image, false, None);
        assert_eq!(info["image_checksum"], "http://i/os.raw.md5sum");
        assert!(!info.contains_key("image_os_hash_algo"));

        let iso = image("http://i/live.iso", "", None, Some(ImageFormat::LiveIso));
        let hints = RootDeviceHints {
            device_name: "/dev/vda".into(),
            ..RootDeviceHints::default()
        };
        let (info, drop) = instance_info(Some(&iso), DeployKind::LiveIso, false, Some(&hints));
        assert_eq!(
            Value::Object(info),
            json!({"boot_iso": "http://i/live.iso", "root_device": {"name": "s== /dev/vda"}})
        );
        assert!(drop.contains(&"image_source"));
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
    fn config_drive_merges_meta_data_and_parses_network_data() {
        let drive = config_drive(
            "uid-1",
            "ns",
            "worker-0",
            Some("#cloud-config\n"),
            Some("local-hostname: custom\nextra: x\n"),
            Some("links:\n- id: eth0\n  type: phy\n"),
        )
        .expect("drive");
        assert_eq!(drive["user_data"], "#cloud-config\n");
        assert_eq!(drive["meta_data"]["uuid"], "uid-1");
        assert_eq!(drive["meta_data"]["metal3-namespace"], "ns");
        assert_eq!(drive["meta_data"]["local-hostname"], "custom");
        assert_eq!(drive["meta_data"]["local_hostname"], "worker-0");
        assert_eq!(drive["meta_data"]["extra"], "x");
        assert_eq!(drive["network_data"]["links"][0]["id"], "eth0");
        let e = config_drive("u", "n", "h", None, Some("- a list"), None).expect_err("list");
        assert!(e.contains("metaData"), "{e}");
        let e = config_drive("u", "n", "h", None, None, Some("a: [")).expect_err("bad yaml");
        assert!(e.contains("networkData"), "{e}");
    }

    #[test]
    fn bios_and_firmware_steps() {
        let wanted: BTreeMap<String, IntOrString> = [
            ("BootMode".to_string(), IntOrString::String("Uefi".into())),
            ("NumCores".to_string(), IntOrString::Int(8)),
        ]
        .into();
        let current: BTreeMap<String, String> = [
            ("BootMode".to_string(), "Uefi".to_string()),
            ("NumCores".to_string(), "4".to_string()),
        ]
        .into();
        let step = bios_step(&wanted, &current).expect("step");
        assert_eq!(
            serde_json::to_value(&step).expect("json"),
            json!({"interface": "bios", "step": "apply_configuration", "args": {"settings": [{"name": "NumCores", "value": 8}]}})
        );
        assert!(
            bios_step(
                &wanted,
                &[
                    ("BootMode".to_string(), "Uefi".to_string()),
                    ("NumCores".to_string(), "8".to_string())
                ]
                .into()
            )
            .is_none()
        );
        let fw = firmware_step(&[FirmwareUpdate {
            component: "bmc".into(),
            url: "http://fw/bmc.bin".into(),
        }])
        .expect("step");
        assert_eq!(fw.args["settings"][0]["component"], "bmc");
        assert!(firmware_step(&[]).is_none());
    }

    #[test]
    fn raid_configurations() {
        let hw = RaidConfig {
            hardware_raid_volumes: Some(vec![HardwareRaidVolume {
                size_gibibytes: Some(100),
                level: HardwareRaidLevel::Raid1,
                name: "root".into(),
                rotational: Some(false),
                number_of_physical_disks: Some(2),
                controller: "RAID.Integrated.1-1".into(),
                physical_disks: vec![],
            }]),
            software_raid_volumes: None,
        };
        let (disks, steps, software) = raid(&hw, false).expect("raid");
        assert!(!software);
        assert_eq!(
            disks,
            json!([{
                "size_gb": 100, "raid_level": "1", "is_root_volume": true, "volume_name": "root",
                "controller": "RAID.Integrated.1-1", "disk_type": "ssd", "number_of_physical_disks": 2,
            }])
        );
        assert_eq!(steps.len(), 2);
        let sw = RaidConfig {
            hardware_raid_volumes: None,
            software_raid_volumes: Some(vec![SoftwareRaidVolume {
                root_volume: true,
                size_gibibytes: None,
                level: SoftwareRaidLevel::Raid1,
                physical_disks: vec![RootDeviceHints {
                    device_name: "/dev/sda".into(),
                    ..RootDeviceHints::default()
                }],
            }]),
        };
        let (disks, steps, software) = raid(&sw, true).expect("raid");
        assert!(software);
        assert_eq!(disks[0]["controller"], "software");
        assert_eq!(disks[0]["size_gb"], "MAX");
        assert_eq!(disks[0]["physical_disks"][0]["name"], "s== /dev/sda");
        assert_eq!(steps[1].step, "erase_devices_metadata");
        assert!(raid(&RaidConfig::default(), false).is_none());
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
