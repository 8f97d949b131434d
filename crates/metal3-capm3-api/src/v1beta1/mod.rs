//! `infrastructure.cluster.x-k8s.io/v1beta1`: served (deprecated) for clients of the Cluster API
//! v1beta1 contract. Objects are stored as [`crate::v1beta2`]; the conversion webhook turns them
//! into this shape and back with [`crate::conversion`].

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
pub const VERSION: &str = "v1beta1";
/// `apiVersion` of this module's kinds.
pub const API_VERSION: &str = "infrastructure.cluster.x-k8s.io/v1beta1";
