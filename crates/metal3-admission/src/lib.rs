//! Admission rules of the metal3.io validating webhooks, as pure functions.
//!
//! Each `validate_*` function takes the object being admitted and, on update, the previous one
//! (whose `status` counts), and returns every problem found — never just the first — as
//! [`FieldError`]s naming the field and what is wrong. The webhook server and `metal3 validate`
//! both call these functions, so a manifest linted in CI is judged exactly as the cluster would.

use std::fmt;

mod baremetalhost;
mod bmceventsubscription;
mod dataimage;
mod hostfirmwarecomponents;
pub mod object;
pub mod syntax;

pub use baremetalhost::validate_baremetalhost;
pub use bmceventsubscription::validate_bmceventsubscription;
pub use dataimage::validate_dataimage;
pub use hostfirmwarecomponents::validate_hostfirmwarecomponents;
pub use object::{Outcome, validate_value};

/// One admission problem: which field, and what is wrong with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    /// JSON path of the offending field, e.g. `spec.bmc.address` or `metadata.annotations`.
    pub field: String,
    /// What is wrong and, where it helps, how to fix it.
    pub message: String,
}

impl FieldError {
    /// A problem with `field`.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}
