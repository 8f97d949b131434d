//! Admission rules of the Metal³ webhooks, as pure functions: the metal3.io kinds served by the
//! BareMetalHost operator, and the Cluster API provider's `infrastructure.cluster.x-k8s.io`
//! kinds ([`capm3`]).
//!
//! Each rule takes the object being admitted and, on update, the previous one (whose `status`
//! counts), and returns every problem found — never just the first — as [`FieldError`]s naming
//! the field and what is wrong. The webhook servers (`metal3_operator::webhook`,
//! `metal3_capm3::webhook`) and `metal3 validate` all call these functions, so a manifest
//! linted in CI is judged exactly as the cluster would judge it.
//!
//! Modules, one job each:
//! - [`verdict`]: the shared vocabulary — [`FieldError`], [`Findings`], [`Verdict`], and
//!   [`decode`]/[`check`] (untyped JSON into a kind, naming the field that does not fit);
//! - [`constraints`]: the schema's value constraints (bounds, lengths, item counts, patterns)
//!   the API server checks;
//! - [`decoding`]: decoding as Go's `encoding/json` decodes for upstream's webhooks (absent
//!   fields are zero values) and as the API server decodes a manifest (nulls pruned, defaults,
//!   unknown fields), both guided by the CRD schemas;
//! - [`object`]: [`validate_value`], the metal3.io entry point dispatching on `apiVersion` and
//!   `kind`;
//! - `baremetalhost`, `bmceventsubscription`, `dataimage`, `hostfirmwarecomponents`: the rules
//!   of one metal3.io kind each;
//! - `hostclaim`, `hostdeploypolicy`: the rules of HostClaim (upstream's webhook) and the
//!   warnings for HostDeployPolicy (upstream has no webhook for it);
//! - `baremetalswitch`, [`hostnetworkattachment`] (with the pure half of the reference check
//!   the operator's webhook makes): the switch port configuration kinds;
//! - [`capm3`]: the provider's rules and defaults, one file per kind;
//! - [`syntax`]: what upstream gets from Go's standard library (request URIs through
//!   [`metal3_bmc::url`], MAC addresses, UUIDs).

mod baremetalhost;
mod bmceventsubscription;
pub mod capm3;
pub mod constraints;
mod dataimage;
pub mod decoding;
mod hostclaim;
mod hostdeploypolicy;
mod hostfirmwarecomponents;
pub mod object;
pub mod syntax;
pub mod verdict;

pub use baremetalhost::validate_baremetalhost;
pub use bmceventsubscription::validate_bmceventsubscription;
pub use dataimage::validate_dataimage;
pub use hostclaim::validate_hostclaim;
pub use hostdeploypolicy::validate_hostdeploypolicy;
pub use hostfirmwarecomponents::validate_hostfirmwarecomponents;
pub use object::validate_value;
pub use verdict::{FieldError, Findings, Verdict, check, decode};

// Switch port configuration: BareMetalSwitch and HostNetworkAttachment.
mod baremetalswitch;
pub mod hostnetworkattachment;
pub use baremetalswitch::validate_baremetalswitch;
pub use hostnetworkattachment::validate_hostnetworkattachment;
