//! Admission rules for hostfirmwarecomponents (stub: to be filled in).

use crate::FieldError;
use metal3_api::v1alpha1::HostFirmwareComponents;

/// Validates a HostFirmwareComponents on create (`old` is `None`) or update.
pub fn validate_hostfirmwarecomponents(
    _new: &HostFirmwareComponents,
    _old: Option<&HostFirmwareComponents>,
) -> Vec<FieldError> {
    Vec::new()
}
