//! `ipam.metal3.io/v1alpha1`, the only version upstream serves (and stores). Field presence
//! follows upstream's Go encoding (`omitempty`), so an object written by upstream's manager
//! decodes and re-encodes unchanged.

mod common;
mod ipaddress;
mod ipclaim;
mod ippool;

pub use common::*;
pub use ipaddress::*;
pub use ipclaim::*;
pub use ippool::*;

/// This module's API version.
pub const VERSION: &str = "v1alpha1";
/// `apiVersion` of this module's kinds.
pub const API_VERSION: &str = "ipam.metal3.io/v1alpha1";
