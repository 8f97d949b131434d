//! The BareMetalHost lifecycle as pure logic.
//!
//! Nothing here talks to Kubernetes: the controller reads what the host needs (its credentials
//! Secret, HardwareData, user data) into [`Inputs`], calls [`reconcile`], and applies the
//! returned [`Decision`] (new status, events, annotation removals, HardwareData writes,
//! finalizer release). The only effects happen through the [`Provisioner`] the machine is
//! given, so tests drive it with the in-memory fixture backend.
//!
//! [`Provisioner`]: metal3_provisioner::Provisioner

pub mod annotations;
pub mod backoff;
pub mod conditions;
pub mod credentials;
pub mod firmware;
mod io;
mod machine;
pub mod preprov;

pub use io::{
    Config, CredentialsInput, DataImageInput, Decision, Effect, Event, EventType, FirmwareInputs,
    Inputs, PreprovisioningInput, Requeue,
};
pub use machine::{error_reason, reconcile};

#[cfg(test)]
mod tests;
