//! tmp
pub mod bypath;
pub mod checksum;
pub mod clean;
pub mod configdrive;
pub mod fat;
pub mod format;
pub mod hints;
pub mod partition;
pub mod qcow2;
pub mod sink;
pub mod sysfs;
#[cfg(test)]
mod testutil;
