//! Rebooting and powering off the host: as PID 1, `sync` then `reboot(2)`; as a normal
//! process the agent only says what it would do.

/// What the hub asked of the host's power.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PowerAction {
    Reboot,
    PowerOff,
}

impl std::fmt::Display for PowerAction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Reboot => "reboot",
            Self::PowerOff => "power off",
        })
    }
}

/// Flushes every file system and reboots or powers off the machine; returns only when the
/// kernel refused.
pub fn perform(action: PowerAction) -> nix::Error {
    use nix::sys::reboot::{RebootMode, reboot};
    nix::unistd::sync();
    let mode = match action {
        PowerAction::Reboot => RebootMode::RB_AUTOBOOT,
        PowerAction::PowerOff => RebootMode::RB_POWER_OFF,
    };
    match reboot(mode) {
        Err(e) => e,
        Ok(never) => match never {},
    }
}
