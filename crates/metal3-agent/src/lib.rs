//! The Metal³ agent: the program a host runs, as PID 1 of a small ramdisk booted from the
//! agent ISO, to be inspected and provisioned without Ironic. It brings the network up, calls
//! the operator's agent hub over HTTPS with the host's own token, reports the hardware in
//! ironic-python-agent's inventory format and does what the hub tells it (inspect, clean,
//! write an image, run a custom step, reboot, power off, stand by).
//!
//! - [`config`]: the boot configuration the hub patched into the image, read and checked;
//! - [`init`]: what PID 1 must do (file systems, kernel modules, console, reaping children);
//! - [`net`]: the network from the host's network data (pure plan, netlink, DHCP, LLDP);
//! - [`inventory`]: the hardware, read from `/proc` and `/sys`;
//! - [`disks`]: the [`disks::Disks`] seam to the block-device code (listing, deploy, clean);
//! - [`client`]: the call-home loop and the commands it runs;
//! - [`run`]: from start to the hub's last word, for PID 1 and a normal process alike;
//! - [`sysfs`]: small readers of `/sys` and `/proc` under a root tests replace;
//! - [`console`]: what the agent says on the (serial) console.
//!
//! The design is in `docs/agent.md`; the wire types are `metal3-agent-api`'s.

pub mod client;
pub mod config;
pub mod console;
pub mod disks;
pub mod init;
pub mod inventory;
pub mod net;
pub mod run;
pub mod sysfs;

/// The agent's version, as it reports it.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
