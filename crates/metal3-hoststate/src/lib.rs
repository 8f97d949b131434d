//! The BareMetalHost lifecycle as pure logic.
//!
//! Nothing here talks to Kubernetes: the controller reads what the host needs (its credentials
//! Secret, HardwareData, user data) into [`Inputs`], calls [`reconcile`], and applies the
//! returned [`Decision`] (new status, events, annotation removals, HardwareData writes,
//! finalizer release). The only effects happen through the [`Provisioner`] the machine is
//! given, so tests drive it with the in-memory fixture backend.
//!
//! Modules, one job each:
//! - `io`: what a pass reads and decides ([`Config`], [`Inputs`], [`Decision`], [`Effect`],
//!   [`Event`], [`Requeue`]), re-exported here;
//! - `machine`: one reconcile pass ([`reconcile`]): `machine/mod.rs` the pass and its order,
//!   `prechecks` (status restore, credentials, capacity delay, detach), `errors` (error status,
//!   backoff, [`error_reason`]), and the state handlers by phase, named like the backends'
//!   files: `register`, `inspect`, `prepare` (and servicing), `deploy`, `power`, `media`,
//!   `delete`;
//! - [`credentials`]: the rules of the BMC details and the credentials Secret, and their
//!   messages;
//! - [`annotations`]: parsing the detached, reboot and inspect annotations;
//! - [`backoff`]: retry delays after errors, with a stable per-host jitter;
//! - [`conditions`]: the host's conditions, recomputed from its status;
//! - [`firmware`]: firmware settings to apply, from the requested and reported ones;
//! - [`preprov`]: choosing a preprovisioning image;
//! - `tests` (test builds): the lifecycle end to end against the fixture backend, by theme,
//!   with the table-driven transition tests.
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
pub use machine::{error_reason, reads_hardware_data, reconcile};

#[cfg(test)]
mod tests;
