//! What the Metal³ agent does to disks, as a library the agent binary calls: it runs on the
//! host (as PID 1 of a ramdisk) and carries no tools, so everything here is our own code or
//! pure-Rust crates, and builds into a static binary.
//!
//! - [`sysfs`]: the disks the kernel shows ([`BlockDevice`], [`block_devices`]), with
//!   [`bypath`] naming them as udev's `by-path` would;
//! - [`hints`]: choosing the root disk by root device hints ([`select_root`]);
//! - [`deploy`](mod@deploy): writing an image ([`deploy()`]): [`fetch`] downloads it,
//!   [`pipeline`] hashes ([`checksum`]), decompresses ([`format`]), converts ([`qcow2`]) and
//!   writes it ([`sink`]), and adds the config drive ([`configdrive`], on [`partition`]
//!   tables, with a [`fat`] file system); [`progress`] counts;
//! - [`clean`]: metadata cleaning ([`clean_metadata`]).
//!
//! Errors ([`DeployError`], [`HintError`], [`CleanError`]) name the cause and the fix, for the
//! host's `errorMessage`, and never hold a credential. See `docs/agent.md` for the design.

pub mod bypath;
pub mod checksum;
pub mod clean;
pub mod configdrive;
pub mod deploy;
pub mod error;
pub mod fat;
pub mod fetch;
pub mod format;
pub mod hints;
pub mod partition;
pub mod pipeline;
pub mod progress;
pub mod qcow2;
pub mod sink;
pub mod sysfs;
#[cfg(test)]
mod testutil;

pub use clean::{CleanError, clean_metadata};
pub use deploy::{Options, deploy, deploy_with};
pub use error::DeployError;
pub use hints::{HintError, select_root};
pub use sysfs::{BlockDevice, Roots, block_devices};
