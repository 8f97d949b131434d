//! Rust types of Metal³'s IP address manager (`ipam.metal3.io/v1alpha1`), wire-compatible with
//! upstream's: [`v1alpha1::IPPool`] (ranges of addresses and what goes with them),
//! [`v1alpha1::IPClaim`] (a request for one address) and [`v1alpha1::IPAddress`] (the answer).
//!
//! Modules:
//! - [`v1alpha1`]: the three kinds, the address and subnet strings and the object reference
//!   they share;
//! - [`consts`]: finalizers, annotations and labels that are part of the wire contract;
//! - [`crds`]: the CRDs generated from the types (written into `config/crd/ipam/`);
//!   `tests/upstream_compat.rs` proves every field path against upstream's CRDs.
//!
//! Pure: no I/O. The allocation logic and the controllers live in `metal3-ipam`.

pub mod consts;
pub mod crds;
mod schema;
pub mod v1alpha1;

/// API group of every kind in this crate.
pub const GROUP: &str = "ipam.metal3.io";
