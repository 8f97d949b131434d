//! What the Metal³ agent (running on a host, as PID 1 of a ramdisk) and the operator's agent
//! hub say to each other. Pure data and one pure function (the token); both sides depend on
//! it, so the wire format has one definition.
//!
//! - [`config`]: what the agent finds in its boot image (`/etc/metal3-agent/config.json`);
//! - [`protocol`]: the agent's [`protocol::Report`] and the hub's [`protocol::Reply`] with the
//!   next [`protocol::Command`];
//! - [`inventory`]: the hardware inventory in ironic-python-agent's format, so the operator
//!   maps it to `HardwareDetails` exactly as upstream maps an IPA inventory;
//! - [`token`]: the per-host token, an HMAC of the host's identity under the operator's key;
//! - [`bootimage`]: the per-host slot in the agent's boot image, and the cpio archives in it.
//!
//! See `docs/agent.md` for the design.

pub mod bootimage;
pub mod config;
pub mod inventory;
pub mod protocol;
pub mod token;

pub use config::{AgentConfig, CONFIG_PATH, HostRef, Secret};
pub use protocol::{
    Action, ChecksumType, CleanMode, Command, CommandState, CommandStatus, ConfigDrive, Deploy,
    DeployResult, ImageFormat, ImageSource, Progress, REPORT_PATH, Reply, Report, RootDeviceHints,
};
