//! The Cluster API provider against a real kube-apiserver with the upstream Cluster API CRDs,
//! the BareMetalHost operator (fixture backend) and the provider running in-process: Machines
//! are created as the core Cluster API controllers would, and hosts really go through
//! available → provisioned → deprovisioned.
//!
//! One test binary (each links the whole stack), its tests in modules by theme.

#[path = "../common/mod.rs"]
mod common;

mod claims;
mod data;
mod hostclaims;
mod labelsync;
mod pause;
mod preallocation;
mod release;
mod remediation;
