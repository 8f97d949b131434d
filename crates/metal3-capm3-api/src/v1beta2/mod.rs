//! `infrastructure.cluster.x-k8s.io/v1beta2`: the storage version, and the one the controllers
//! use. Field presence follows upstream's Go encoding (`omitempty`/`omitzero`), so an object
//! written by upstream decodes and re-encodes unchanged.

mod cluster;
mod common;
mod data;
mod datatemplate;
mod machine;
mod remediation;

pub use cluster::*;
pub use common::*;
pub use data::*;
pub use datatemplate::*;
pub use machine::*;
pub use remediation::*;

/// This module's API version.
pub const VERSION: &str = "v1beta2";
/// `apiVersion` of this module's kinds.
pub const API_VERSION: &str = "infrastructure.cluster.x-k8s.io/v1beta2";
