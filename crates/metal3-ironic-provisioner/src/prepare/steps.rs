//! The steps of preparing and servicing, in Ironic's vocabulary: BIOS `apply_configuration`
//! for the settings that differ, firmware `update`, and the RAID configuration with the clean
//! steps applying it. Pure.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use metal3_api::v1alpha1::{FirmwareUpdate, HardwareRaidVolume, RaidConfig};
use metal3_ironic::types::Step;
use serde_json::{Map, Value, json};

use crate::node::root_device;

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

#[cfg(test)]
mod tests {
    use super::*;
    use metal3_api::v1alpha1::{
        HardwareRaidLevel, RootDeviceHints, SoftwareRaidLevel, SoftwareRaidVolume,
    };

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
}
