//! Admission rules for bmceventsubscription (stub: to be filled in).

use crate::FieldError;
use metal3_api::v1alpha1::BMCEventSubscription;

/// Validates a BMCEventSubscription on create (`old` is `None`) or update.
pub fn validate_bmceventsubscription(
    _new: &BMCEventSubscription,
    _old: Option<&BMCEventSubscription>,
) -> Vec<FieldError> {
    Vec::new()
}
