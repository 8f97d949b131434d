//! Admission rules for dataimage (stub: to be filled in).

use crate::FieldError;
use metal3_api::v1alpha1::DataImage;

/// Validates a DataImage on create (`old` is `None`) or update.
pub fn validate_dataimage(_new: &DataImage, _old: Option<&DataImage>) -> Vec<FieldError> {
    Vec::new()
}
