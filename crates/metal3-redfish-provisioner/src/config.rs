//! The provisioner's settings and their defaults, the in-band agent's among them.

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
    /// unless we staged changes since (settings and firmware change only when staged changes
    /// apply at a boot, or by someone at the console, which this bounds). A power-on or a
    /// restart with nothing staged keeps the readings.
    pub firmware_refresh: Duration,
    /// The in-band agent, when the operator runs its hub (`--agent-image`); without it disk
    /// images are refused, inspection is out of band only and nothing is cleaned.
    pub agent: Option<AgentSettings>,
}

/// How the backend uses the in-band agent.
#[derive(Clone, Debug)]
pub struct AgentSettings {
    /// The operator's agent hub.
    pub hub: metal3_agent_hub::Hub,
    /// Keep the agent running on hosts after inspection, cleaning and deprovisioning, so that
    /// provisioning writes the image and boots the host once (upstream's fast track).
    pub fast_track: bool,
    /// How long a host booted into the agent may take to call home.
    pub call_home_timeout: Duration,
    /// An agent that has not reported for this long is gone.
    pub stale_after: Duration,
    /// After an operator restart, how long an agent that may be running gets to report before
    /// its host is booted anew.
    pub grace: Duration,
    /// What a host shows of an operation's progress changes at most this often.
    pub progress_every: Duration,
}

impl AgentSettings {
    /// The agent through `hub`, fast track on, with the default timings.
    pub fn new(hub: metal3_agent_hub::Hub) -> Self {
        Self {
            hub,
            fast_track: true,
            call_home_timeout: Duration::from_secs(600),
            stale_after: Duration::from_secs(40),
            grace: Duration::from_secs(60),
            progress_every: Duration::from_secs(10),
        }
    }
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
            agent: None,
        }
    }
}
