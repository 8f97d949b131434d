//! tmp
pub mod bypath;
pub mod checksum;
pub mod format;
pub mod hints;
pub mod qcow2;
pub mod sink;
pub mod sysfs;
