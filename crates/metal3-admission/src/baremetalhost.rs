//! Admission rules for BareMetalHost: every create and update rule of the upstream webhook.

use std::collections::HashSet;

use metal3_api::consts::{
    HARDWARE_DETAILS_ANNOTATION, INSPECT_ANNOTATION, REBOOT_ANNOTATION, REBOOT_ANNOTATION_PREFIX,
    STATUS_ANNOTATION,
};
use metal3_api::v1alpha1::{
    BareMetalHost, BareMetalHostStatus, BootMode, ErrorType, HardwareDetails, Image,
    InspectionMode, NetworkInterface, OperationalStatus, ProvisioningState,
};
use metal3_bmc::BmcAddress;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::FieldError;
use crate::decoding::{as_go_decodes, decode_like_api_server, schema_of};
use crate::object::API_VERSION;
use crate::syntax::is_colon_mac;
use crate::syntax::{check_mac, check_url, is_uuid};

/// Validates a BareMetalHost on create (`old` is `None`) or update (`old` is the stored object,
/// whose status counts).
pub fn validate_baremetalhost(new: &BareMetalHost, old: Option<&BareMetalHost>) -> Vec<FieldError> {
    let mut errors = Errors::default();
    create_rules(new, &mut errors);
    if let Some(old) = old {
        update_rules(new, old, &mut errors);
    }
    errors.0
}

#[derive(Default)]
struct Errors(Vec<FieldError>);

impl Errors {
    fn add(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.push(FieldError::new(field, message));
    }
}

fn address(host: &BareMetalHost) -> &str {
    &host.spec.bmc.address
}

/// Whether inspection is disabled, by `spec.inspectionMode` or the legacy
/// `inspect.metal3.io: disabled` annotation.
fn inspection_disabled(host: &BareMetalHost) -> bool {
    host.spec.inspection_mode == Some(InspectionMode::Disabled)
        || host
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(INSPECT_ANNOTATION))
            .is_some_and(|v| v == "disabled")
}

fn create_rules(host: &BareMetalHost, errors: &mut Errors) {
    let spec = &host.spec;
    let bmc = match address(host) {
        "" => None,
        a => match metal3_bmc::parse(a) {
            Ok(bmc) => Some(bmc),
            Err(e) => {
                errors.add("spec.bmc.address", e.to_string());
                None
            }
        },
    };

    if spec.firmware.is_some() {
        errors.add(
            "spec.firmware",
            "the Firmware field is no longer supported, use HostFirmwareSettings resource instead",
        );
    }

    secret_references(host, errors);
    raid(host, errors);
    if let Some(bmc) = &bmc {
        bmc_capabilities(host, bmc, errors);
    }
    if !spec.boot_mac_address.is_empty()
        && let Err(e) = check_mac(&spec.boot_mac_address)
    {
        errors.add("spec.bootMACAddress", e);
    }
    name(host, errors);
    root_device_hints(host, errors);
    image(host, errors);
    annotations(host, errors);
    inspection_mode(host, bmc.as_ref(), errors);
    if spec.disable_power_off && !spec.online {
        errors.add(
            "spec.disablePowerOff",
            "node can't simultaneously have online set to false and have power off disabled",
        );
    }
    network_interfaces(host, errors);
}

fn secret_references(host: &BareMetalHost, errors: &mut Errors) {
    let spec = &host.spec;
    // Without a namespace the host is created in `default`, as `kubectl apply` does.
    let namespace = host
        .metadata
        .namespace
        .as_deref()
        .filter(|ns| !ns.is_empty())
        .unwrap_or("default");
    for (name, reference) in [
        ("userData", &spec.user_data),
        ("networkData", &spec.network_data),
        ("metaData", &spec.meta_data),
    ] {
        if let Some(ns) = reference.as_ref().and_then(|r| r.namespace.as_deref())
            && !ns.is_empty()
            && ns != namespace
        {
            errors.add(
                format!("spec.{name}"),
                format!(
                    "{name}: cross-namespace Secret references are not allowed (the Secret is in \
                     {ns:?}; put it in the host's namespace {namespace:?})"
                ),
            );
        }
    }
}

fn raid(host: &BareMetalHost, errors: &mut Errors) {
    let Some(raid) = &host.spec.raid else {
        return;
    };
    let hardware = raid.hardware_raid_volumes.as_deref().unwrap_or_default();
    let software = raid.software_raid_volumes.as_deref().unwrap_or_default();
    if !hardware.is_empty() && !software.is_empty() {
        errors.add(
            "spec.raid",
            "hardwareRAIDVolumes and softwareRAIDVolumes can not be set at the same time",
        );
    }
    for (i, volume) in hardware.iter().enumerate() {
        let disks = volume.physical_disks.len();
        if disks > 0 && volume.controller.is_empty() {
            errors.add(
                format!("spec.raid.hardwareRAIDVolumes[{i}].controller"),
                format!(
                    "'physicalDisks' specified without 'controller' in hardware RAID volume {i}"
                ),
            );
        }
        if let Some(n) = volume.number_of_physical_disks
            && disks > 0
            && usize::try_from(n).ok() != Some(disks)
        {
            errors.add(
                format!("spec.raid.hardwareRAIDVolumes[{i}].numberOfPhysicalDisks"),
                format!(
                    "the 'numberOfPhysicalDisks'[{n}] and number of 'physicalDisks'[{disks}] is \
                     not same for volume {i}"
                ),
            );
        }
    }
    let roots = software.iter().filter(|v| v.root_volume).count();
    if roots > 1 {
        errors.add(
            "spec.raid.softwareRAIDVolumes",
            "softwareRAIDVolumes[*].rootVolume can only be set once",
        );
    }
    if roots == 1 && host.spec.root_device_hints.is_some() {
        errors.add(
            "spec.raid.softwareRAIDVolumes",
            "softwareRAIDVolumes[*].rootVolume and rootDeviceHints can not be set at the same time",
        );
    }
    for (i, volume) in software.iter().enumerate() {
        if volume.root_volume && volume.level.as_str() != "1" {
            errors.add(
                format!("spec.raid.softwareRAIDVolumes[{i}].level"),
                format!("softwareRAIDVolumes[{i}] with rootVolume set must use RAID level 1"),
            );
        }
    }
}

fn bmc_capabilities(host: &BareMetalHost, bmc: &BmcAddress, errors: &mut Errors) {
    let spec = &host.spec;
    let hardware_raid = spec
        .raid
        .as_ref()
        .and_then(|r| r.hardware_raid_volumes.as_ref())
        .is_some_and(|v| !v.is_empty());
    if hardware_raid && !bmc.supports_raid() {
        errors.add(
            "spec.raid.hardwareRAIDVolumes",
            format!(
                "BMC driver {} does not support configuring RAID",
                bmc.bmc_type()
            ),
        );
    }
    let mac_missing = spec.boot_mac_address.is_empty();
    if (bmc.needs_boot_mac() || inspection_disabled(host)) && mac_missing {
        errors.add(
            "spec.bootMACAddress",
            format!(
                "BMC driver {} requires a BootMACAddress value",
                bmc.bmc_type()
            ),
        );
    }
    if spec.boot_mode == Some(BootMode::UefiSecureBoot) && !bmc.supports_secure_boot() {
        errors.add(
            "spec.bootMode",
            format!("BMC driver {} does not support secure boot", bmc.bmc_type()),
        );
    }
}

fn name(host: &BareMetalHost, errors: &mut Errors) {
    let name = host.metadata.name.as_deref().unwrap_or("");
    if name
        .chars()
        .any(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')))
    {
        errors.add(
            "metadata.name",
            "BareMetalHost resource name cannot contain characters other than [A-Za-z0-9._-]",
        );
    }
    if is_uuid(name) {
        errors.add(
            "metadata.name",
            "BareMetalHost resource name cannot be a UUID",
        );
    }
}

fn root_device_hints(host: &BareMetalHost, errors: &mut Errors) {
    let Some(device) = host
        .spec
        .root_device_hints
        .as_ref()
        .map(|h| h.device_name.as_str())
        .filter(|d| !d.is_empty())
    else {
        return;
    };
    let field = "spec.rootDeviceHints.deviceName";
    match device.strip_prefix("/dev/") {
        None => errors.add(
            field,
            format!("device name of root device hint must be a /dev/ path, not \"{device}\""),
        ),
        Some(sub) => {
            let sub = sub.strip_prefix("disk/by-path/").unwrap_or(sub);
            if sub.contains('/') {
                errors.add(
                    field,
                    format!(
                        "device name of root device hint must be path in /dev/ or \
                         /dev/disk/by-path/, not \"{device}\""
                    ),
                );
            }
        }
    }
}

fn image(host: &BareMetalHost, errors: &mut Errors) {
    if let Some(image) = &host.spec.image {
        errors.0.extend(image_rules(image, "spec.image"));
    }
}

/// Upstream's image rules (URL, checksum), for the image at `field`; HostClaims share them.
pub(crate) fn image_rules(image: &Image, field: &str) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if let Err(e) = check_url(&image.url) {
        errors.push(FieldError::new(
            format!("{field}.url"),
            format!("image URL {} is invalid: {e}", image.url),
        ));
    }
    let checksum = image.checksum.as_str();
    if image.is_oci() {
        if !checksum.is_empty() {
            errors.push(FieldError::new(
                format!("{field}.checksum"),
                "spec.image.checksum must be empty for OCI images (oci:// images have embedded \
                 checksums)",
            ));
        }
    } else if !image.is_live_iso() && checksum.is_empty() {
        errors.push(FieldError::new(
            format!("{field}.checksum"),
            "checksum is required for normal images",
        ));
    }
    errors
}

fn annotations(host: &BareMetalHost, errors: &mut Errors) {
    let Some(annotations) = &host.metadata.annotations else {
        return;
    };
    for (key, value) in annotations {
        let field = format!("metadata.annotations[{key}]");
        let result = if key == STATUS_ANNOTATION {
            status_annotation(value)
        } else if key == REBOOT_ANNOTATION || key.starts_with(REBOOT_ANNOTATION_PREFIX) {
            reboot_annotation(value)
        } else if key == INSPECT_ANNOTATION {
            inspect_annotation(value)
        } else if key == HARDWARE_DETAILS_ANNOTATION {
            hardware_details_annotation(value, inspection_disabled(host))
        } else {
            Ok(())
        };
        if let Err(message) = result {
            errors.add(field, message);
        }
    }
}

/// Decodes JSON as Go's decoder with `DisallowUnknownFields` does: an absent field is its
/// zero value, an unknown field is an error. `schema` is the JSON path of the type's schema in
/// the BareMetalHost's, e.g. `["status"]`.
fn decode_strict<T: DeserializeOwned>(text: &str, schema: &[&str]) -> Result<T, String> {
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let mut sub = schema_of(API_VERSION, "BareMetalHost");
    for field in schema {
        sub = sub.and_then(|s| s.get("properties")?.get(*field));
    }
    let filled = match sub {
        Some(schema) => as_go_decodes(&value, schema),
        None => value,
    };
    let (decoded, unknown) = decode_like_api_server::<T>(&filled);
    match unknown.into_iter().next() {
        Some(unknown) => Err(unknown.message),
        None => decoded.map_err(|e| e.to_string()),
    }
}

fn status_annotation(value: &str) -> Result<(), String> {
    if value.is_empty() {
        return Ok(());
    }
    decode_strict::<BareMetalHostStatus>(value, &["status"]).map_err(|e| {
        match allowed_status_values(value) {
            Err(disallowed) => disallowed,
            Ok(()) => format!("error decoding status annotation: {e}"),
        }
    })?;
    allowed_status_values(value)
}

/// The operational statuses and error types a restored status may carry: not `servicing`, and
/// not `detach error`/`servicing error`, which only make sense for the object that had them.
fn allowed_status_values(value: &str) -> Result<(), String> {
    let Ok(raw) = serde_json::from_str::<serde_json::Value>(value) else {
        return Ok(());
    };
    let text = |key: &str| {
        raw.get(key)
            .and_then(serde_json::Value::as_str)
            .unwrap_or("")
    };
    let operational = text("operationalStatus");
    let allowed_operational = OperationalStatus::ALL
        .iter()
        .any(|s| *s != OperationalStatus::Servicing && s.as_str() == operational);
    if !allowed_operational {
        return Err(format!(
            "invalid operationalStatus '{operational}' in the {STATUS_ANNOTATION} annotation"
        ));
    }
    let error_type = text("errorType");
    let allowed_error = error_type.is_empty()
        || ErrorType::ALL.iter().any(|e| {
            !matches!(e, ErrorType::Servicing | ErrorType::Detach) && e.as_str() == error_type
        });
    if !allowed_error {
        return Err(format!(
            "invalid errorType '{error_type}' in the {STATUS_ANNOTATION} annotation"
        ));
    }
    Ok(())
}

/// Arguments of a reboot annotation.
#[derive(Deserialize)]
struct RebootArguments {
    #[serde(default)]
    mode: String,
    #[serde(default)]
    #[allow(dead_code)]
    force: bool,
}

pub(crate) fn reboot_annotation(value: &str) -> Result<(), String> {
    if value.is_empty() {
        return Ok(());
    }
    let args: RebootArguments = serde_json::from_str(value).map_err(|e| {
        format!("failed to unmarshal the data from the {REBOOT_ANNOTATION} annotation: {e}")
    })?;
    if !matches!(args.mode.as_str(), "hard" | "soft" | "") {
        return Err(format!(
            "invalid mode in the {REBOOT_ANNOTATION} annotation, allowed are \"hard\", \"soft\" or \"\""
        ));
    }
    Ok(())
}

fn inspect_annotation(value: &str) -> Result<(), String> {
    if matches!(value, "" | "disabled") {
        Ok(())
    } else {
        Err(format!(
            "invalid value for the {INSPECT_ANNOTATION} annotation, allowed are \"disabled\" or \"\""
        ))
    }
}

fn hardware_details_annotation(value: &str, inspection_disabled: bool) -> Result<(), String> {
    if value.is_empty() {
        return Ok(());
    }
    if !inspection_disabled {
        return Err(
            "when hardware details are provided, inspection must be disabled (either via \
                    inspect.metal3.io annotation or inspectionMode field)"
                .into(),
        );
    }
    decode_strict::<HardwareDetails>(value, &["status", "hardware"])
        .map(|_| ())
        .map_err(|e| format!("error decoding the {HARDWARE_DETAILS_ANNOTATION} annotation: {e}"))
}

fn inspection_mode(host: &BareMetalHost, bmc: Option<&BmcAddress>, errors: &mut Errors) {
    let mode = host.spec.inspection_mode;
    let annotation = host
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(INSPECT_ANNOTATION))
        .map_or("", String::as_str);
    if let Some(mode) = mode
        && !annotation.is_empty()
        && (annotation == "disabled") != (mode == InspectionMode::Disabled)
    {
        errors.add(
            "spec.inspectionMode",
            "inspect.metal3.io annotation and inspectionMode field have contradicting values",
        );
        return;
    }
    if mode == Some(InspectionMode::Fast)
        && let Some(bmc) = bmc
        && !bmc.supports_fast_inspection()
    {
        errors.add(
            "spec.inspectionMode",
            format!(
                "BMC driver {} does not support fast (out-of-band) inspection",
                bmc.bmc_type()
            ),
        );
    }
}

fn network_interfaces(host: &BareMetalHost, errors: &mut Errors) {
    let mut seen = HashSet::new();
    for (i, iface) in host.spec.network_interfaces.iter().enumerate() {
        let field = format!("spec.networkInterfaces[{i}]");
        interface_schema(iface, &field, errors);
        let name = iface.name.as_str();
        let mac = iface.mac_address.as_str();
        let key = match (name.is_empty(), mac.is_empty()) {
            (true, true) => {
                errors.add(
                    field,
                    format!("networkInterfaces[{i}]: must specify either name or macAddress"),
                );
                continue;
            }
            (false, false) => {
                errors.add(
                    field,
                    format!("networkInterfaces[{i}]: name and macAddress are mutually exclusive"),
                );
                continue;
            }
            (false, true) => name,
            (true, false) => mac,
        };
        if !seen.insert(key.to_ascii_lowercase()) {
            errors.add(
                field,
                format!("networkInterfaces[{i}]: duplicate interface selector for \"{key}\""),
            );
        }
    }
}

/// The schema's bounds on one interface (the API server refuses these before the webhook
/// runs; checked here so that `metal3 validate` does too).
fn interface_schema(iface: &NetworkInterface, field: &str, errors: &mut Errors) {
    let name_ok = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    if !iface.name.is_empty() && !iface.name.chars().all(name_ok) {
        errors.add(
            format!("{field}.name"),
            format!(
                "{:?}: an interface name has only letters, digits, '.', '_' and '-'",
                iface.name
            ),
        );
    }
    let colon_mac = "is not a MAC address written as six colon-separated hex pairs";
    if !iface.mac_address.is_empty() && !is_colon_mac(&iface.mac_address) {
        errors.add(
            format!("{field}.macAddress"),
            format!("{:?} {colon_mac}", iface.mac_address),
        );
    }
    if let Some(port) = &iface.switch_port
        && !is_colon_mac(&port.switch_id)
    {
        errors.add(
            format!("{field}.switchPort.switchID"),
            format!(
                "{:?} {colon_mac} (the switch's management MAC)",
                port.switch_id
            ),
        );
    }
    let reference = &iface.host_network_attachment;
    for (part, value, max) in [
        ("name", &reference.name, 253),
        ("namespace", &reference.namespace, 63),
    ] {
        if value.len() > max {
            errors.add(
                format!("{field}.hostNetworkAttachment.{part}"),
                format!("may not be longer than {max} characters"),
            );
        }
    }
}

fn update_rules(new: &BareMetalHost, old: &BareMetalHost, errors: &mut Errors) {
    let (old_state, new_state) = (old.provisioning_state(), new.provisioning_state());
    let detached = OperationalStatus::Detached;
    if !address(old).is_empty()
        && address(new) != address(old)
        && old.operational_status() != detached
        && new.operational_status() != detached
        && old_state != ProvisioningState::Registering
        && new_state != ProvisioningState::Registering
    {
        errors.add(
            "spec.bmc.address",
            "BMC address can not be changed if the BMH is not in the Registering state, or if \
             the BMH is not detached",
        );
    }
    let old_mac = old.spec.boot_mac_address.as_str();
    let new_mac = new.spec.boot_mac_address.as_str();
    if !old_mac.is_empty() && !new_mac.eq_ignore_ascii_case(old_mac) {
        errors.add(
            "spec.bootMACAddress",
            "bootMACAddress can not be changed once it is set",
        );
    }
    if !old.spec.externally_provisioned
        && new.spec.externally_provisioned
        && old_state != ProvisioningState::Available
        && new_state != ProvisioningState::Available
    {
        errors.add(
            "spec.externallyProvisioned",
            format!(
                "externallyProvisioned can only be enabled when in Available state, currently in {}",
                old_state.as_str()
            ),
        );
    }
}
