//! Firmware readings: the BIOS settings (with their schema when asked) and the firmware
//! components Ironic reports for the node.

use std::collections::BTreeMap;

use metal3_api::v1alpha1::{FirmwareComponentStatus, SettingSchema};
use metal3_ironic::Error as IronicError;
use metal3_ironic::types::BiosSetting;
use metal3_provisioner::{FirmwareSettings, HostData, ProvResult};
use serde_json::Value;

use crate::IronicProvisioner;
use crate::errors::transient;

/// The node's BIOS settings as text, and their schema when `include_schema`.
pub(crate) async fn firmware_settings(
    p: &IronicProvisioner,
    host: &HostData,
    include_schema: bool,
) -> ProvResult<FirmwareSettings> {
    let node = p.node(host).await?;
    let settings = p
        .client
        .bios(&node.uuid, include_schema)
        .await
        .map_err(transient)?;
    let mut out = FirmwareSettings::default();
    let mut schema = BTreeMap::new();
    for s in settings {
        let value = match &s.value {
            Some(Value::String(v)) => v.clone(),
            Some(Value::Null) | None => String::new(),
            Some(v) => v.to_string(),
        };
        if include_schema {
            schema.insert(s.name.clone(), setting_schema(&s));
        }
        out.settings.insert(s.name, value);
    }
    if include_schema {
        out.schema = Some(schema);
    }
    Ok(out)
}

/// The node's BIOS, BMC and NIC firmware versions; none without a firmware interface.
pub(crate) async fn firmware_components(
    p: &IronicProvisioner,
    host: &HostData,
) -> ProvResult<Vec<FirmwareComponentStatus>> {
    let node = p.node(host).await?;
    let components = match p.client.firmware(&node.uuid).await {
        Ok(c) => c,
        // No firmware interface on this node: nothing to report.
        Err(IronicError::Refused {
            status: 400 | 406, ..
        }) => return Ok(Vec::new()),
        Err(e) => return Err(transient(e)),
    };
    Ok(components
        .into_iter()
        .filter(|c| {
            c.component == "bios" || c.component == "bmc" || c.component.starts_with("nic:")
        })
        .map(|c| FirmwareComponentStatus {
            component: c.component,
            initial_version: c.initial_version.unwrap_or_default(),
            current_version: c.current_version,
            last_version_flashed: c.last_version_flashed,
            updated_at: None,
        })
        .collect())
}

/// A BIOS setting's schema in the FirmwareSchema's terms.
fn setting_schema(s: &BiosSetting) -> SettingSchema {
    use metal3_api::v1alpha1::AttributeType;
    let attribute_type = s.attribute_type.as_deref().and_then(|t| match t {
        "Enumeration" => Some(AttributeType::Enumeration),
        "String" => Some(AttributeType::String),
        "Integer" => Some(AttributeType::Integer),
        "Boolean" => Some(AttributeType::Boolean),
        "Password" => Some(AttributeType::Password),
        _ => None,
    });
    SettingSchema {
        allowable_values: s.allowable_values.clone().unwrap_or_default(),
        attribute_type,
        lower_bound: s.lower_bound,
        max_length: s.max_length,
        min_length: s.min_length,
        read_only: s.read_only,
        unique: s.unique,
        upper_bound: s.upper_bound,
    }
}
