//! The provisioner's settings and their defaults.

use std::time::Duration;

/// Settings of the Redfish provisioner.
#[derive(Clone, Debug)]
pub struct Config {
    /// Settings of the Redfish client (timeouts, per-BMC limits, retries, breaker).
    pub client: metal3_redfish::Config,
    /// An idle host's power state is read at most this often.
    pub power_check: Duration,
    /// Hosts provisioning at once (0 = unlimited), like Ironic's `PROVISIONING_LIMIT`.
    pub capacity: usize,
    /// How long a graceful shutdown may take before the power is cut.
    pub soft_power_off_timeout: Duration,
    /// Pause between checks while the BMC carries out a change.
    pub poll: Duration,
    /// How long a restart may take before we restart again.
    pub boot_timeout: Duration,
    /// Firmware settings and versions read from the BMC are answered from memory this long,
    /// unless the host was powered on, restarted or had changes staged since (settings and
    /// firmware change only then, or by someone at the console).
    pub firmware_refresh: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            client: metal3_redfish::Config::default(),
            power_check: Duration::from_secs(300),
            capacity: 0,
            soft_power_off_timeout: Duration::from_secs(180),
            poll: Duration::from_secs(2),
            boot_timeout: Duration::from_secs(600),
            firmware_refresh: Duration::from_secs(24 * 3600),
        }
    }
}
