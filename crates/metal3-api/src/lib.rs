//! Rust types for the `metal3.io/v1alpha1` API, wire-compatible with upstream Metal³.
//!
//! Every kind derives [`kube::CustomResource`], so the CRDs under `config/crd/` are generated
//! from these types by [`crds::render_all`]. Field names, enums, defaults and validation follow
//! the upstream API exactly; `tests/upstream_compat.rs` proves it path by path.

// kube-derive's repeated `printcolumn(type_ = …)` entries look like duplicated attributes to
// clippy; they are separate columns.
#![allow(clippy::duplicated_attributes)]

pub mod compat;
pub mod consts;
pub mod crds;
pub mod v1alpha1;
