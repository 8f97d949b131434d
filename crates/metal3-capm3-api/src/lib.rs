//! Rust types for the Cluster API provider Metal3 (CAPM3): the nine kinds of
//! `infrastructure.cluster.x-k8s.io`, wire-compatible with upstream in both versions it serves.
//!
//! * [`v1beta2`] is the storage version and the one our controllers speak (CAPI contract
//!   v1beta2: `status.initialization.provisioned`, `metav1.Condition`s).
//! * [`v1beta1`] is served for older clients (CAPI contract v1beta1: `status.ready`, CAPI-style
//!   conditions). The API server reaches it through the conversion webhook, which runs the pure
//!   functions of [`conversion`].
//!
//! [`crds::all`] merges both versions of every kind into one CRD each (generated into
//! `config/crd/capm3/`, labelled with the CAPI contract versions); `tests/upstream_compat.rs` proves
//! every field path of both versions against upstream's CRDs.

// kube-derive's repeated `printcolumn(type_ = …)` entries look like duplicated attributes to
// clippy; they are separate columns.
#![allow(clippy::duplicated_attributes)]

pub mod common;
pub mod consts;
pub mod conversion;
pub mod crds;
mod schema;
pub mod v1beta1;
pub mod v1beta2;

/// API group of every kind in this crate.
pub const GROUP: &str = "infrastructure.cluster.x-k8s.io";
