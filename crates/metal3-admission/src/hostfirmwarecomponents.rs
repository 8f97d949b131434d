//! Admission rules for HostFirmwareComponents.

use metal3_api::v1alpha1::HostFirmwareComponents;

use crate::FieldError;
use crate::syntax::check_url;

/// Validates a HostFirmwareComponents on create (`old` is `None`) or update: every update must
/// point at a downloadable firmware image.
pub fn validate_hostfirmwarecomponents(
    new: &HostFirmwareComponents,
    _old: Option<&HostFirmwareComponents>,
) -> Vec<FieldError> {
    new.spec
        .updates
        .iter()
        .enumerate()
        .filter_map(|(i, update)| {
            check_url(&update.url).err().map(|e| {
                FieldError::new(
                    format!("spec.updates[{i}].url"),
                    format!(
                        "invalid URL \"{}\" in FirmwareUpdate in component \"{}\": {e}",
                        update.url, update.component
                    ),
                )
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use metal3_api::v1alpha1::{FirmwareUpdate, HostFirmwareComponentsSpec};

    #[test]
    fn every_update_url_is_checked() {
        let update = |component: &str, url: &str| FirmwareUpdate {
            component: component.into(),
            url: url.into(),
        };
        let hfc = HostFirmwareComponents::new(
            "worker-0",
            HostFirmwareComponentsSpec {
                updates: vec![
                    update("bios", "https://example.com/bios.exe"),
                    update("bmc", "bmc-firmware.bin"),
                    update("nic:NIC.Slot.1", "unix://x"),
                ],
            },
        );
        let errors = validate_hostfirmwarecomponents(&hfc, None);
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert_eq!(errors[0].field, "spec.updates[1].url");
        assert_eq!(
            errors[0].message,
            "invalid URL \"bmc-firmware.bin\" in FirmwareUpdate in component \"bmc\": parse \"bmc-firmware.bin\": invalid URI for request"
        );
        assert_eq!(errors[1].field, "spec.updates[2].url");
        assert!(errors[1].message.contains("\"unix\" not allowed"));
    }
}
