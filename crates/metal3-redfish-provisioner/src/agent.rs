//! The step every agent flow shares: bringing the in-band agent up on a host and talking to it
//! through the hub. The agent is up when it reports, fresh, from a boot of the host's agent
//! image in the virtual CD (fast track: the one standing by since an earlier operation; after
//! an operator restart: the one the BMC shows booted, once it reports again); otherwise the
//! host boots the image (one-time override `Cd` in the host's boot mode, then the medium, then
//! one power on or restart). Commands have ids derived from the agent's boot and the operation,
//! so a restarted operator recognises a result it asked for before. Also here: the agent told
//! to stand by or to power the host off at the end of an operation, and the progress a host
//! shows.

use std::time::{Duration, Instant};

use metal3_agent_api::{Action, Command, CommandState, CommandStatus, HostRef};
use metal3_agent_hub::{AgentView, HostIdentity};
use metal3_api::v1alpha1::BootMode;
use metal3_provisioner::HostData;
use metal3_redfish::Connection;
use metal3_redfish::types::{ComputerSystem, VirtualMedia};
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::RedfishProvisioner;
use crate::cache::{AgentBoot, HostFacts, Operation, Phase};
use crate::config::AgentSettings;
use crate::errors::{Fault, Step};
use crate::power::is_on;

/// What the BMC says about a host, read once per call of an agent flow.
pub(crate) struct OnHost {
    pub(crate) conn: Connection,
    pub(crate) path: String,
    pub(crate) system: ComputerSystem,
    /// The virtual CD's path, and what it holds.
    pub(crate) cd: String,
    pub(crate) media: VirtualMedia,
}

/// Whether the agent is up.
pub(crate) enum AgentState {
    /// It reports from this boot.
    Up(Box<AgentView>),
    /// It is booting (`started`: this call booted it) or may be running and about to report.
    Booting { started: bool },
}

/// How a command the backend gave went.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Ran {
    /// The agent has not reported on it yet (it is queued).
    NotYet,
    Running(CommandStatus),
    Done(CommandStatus),
    Failed(String),
}

/// How `view`'s agent reports on command `id`.
pub(crate) fn ran(view: &AgentView, id: &str) -> Ran {
    match view.status_of(id) {
        None => Ran::NotYet,
        Some(s) => match s.state {
            CommandState::Running => Ran::Running(s.clone()),
            CommandState::Done => Ran::Done(s.clone()),
            CommandState::Failed => Ran::Failed(if s.message.is_empty() {
                "the agent gave no reason".into()
            } else {
                s.message.clone()
            }),
        },
    }
}

/// A command id: what it does, the agent boot it is for, and a digest of `parts` (what it is
/// about), so the same request in the same boot always has the same id.
pub(crate) fn command_id(kind: &str, boot_id: &str, parts: &[&str]) -> String {
    if parts.is_empty() {
        return format!("{kind}-{boot_id}");
    }
    let mut digest = Sha256::new();
    for p in parts {
        digest.update(p.as_bytes());
        digest.update([0]);
    }
    let hex: String = digest.finalize()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("{kind}-{boot_id}-{hex}")
}

/// The host as the agent protocol names it.
pub(crate) fn host_ref(host: &HostData) -> HostRef {
    HostRef {
        namespace: host.namespace.clone(),
        name: host.name.clone(),
        uid: host.uid.clone(),
    }
}

/// `BootSourceOverrideMode` for a boot mode.
pub(crate) fn override_mode(mode: BootMode) -> &'static str {
    if mode == BootMode::Legacy {
        "Legacy"
    } else {
        "UEFI"
    }
}

/// Bytes in words: `1.5 GiB`.
fn size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// What a running command is doing, for the host's `Progressing` condition.
pub(crate) fn describe(what: &str, status: &CommandStatus) -> String {
    let step = if status.step.is_empty() {
        what.to_string()
    } else {
        format!("{what}: {}", status.step)
    };
    let Some(p) = status.progress else {
        return step;
    };
    let done = match p.bytes_total.filter(|t| *t > 0) {
        Some(total) => format!(
            "{} of {} ({}%)",
            size(p.bytes_done),
            size(total),
            p.bytes_done.saturating_mul(100) / total
        ),
        None => size(p.bytes_done),
    };
    format!("{step}, {done} at {}/s", size(p.bytes_per_second))
}

impl RedfishProvisioner {
    /// The agent settings, when the operator runs the hub.
    pub(crate) fn agent(&self) -> Option<&AgentSettings> {
        self.config.agent.as_ref()
    }

    /// What registration said about the host (defaults before the first registration).
    pub(crate) fn facts(&self, host: &HostData) -> HostFacts {
        self.cache.known(host).facts.unwrap_or_default()
    }

    /// Reads the system and its virtual CD.
    pub(crate) async fn on_host(&self, host: &HostData) -> Step<OnHost> {
        let (conn, path) = self.connect(host).await?;
        let system = self.system(host, &conn, &path).await?;
        let cd = self.media_path(host, &conn, &system, false).await?;
        let media: VirtualMedia = conn.get(&cd).await?;
        Ok(OnHost {
            conn,
            path,
            system,
            cd,
            media,
        })
    }

    /// Whether the CD holds this host's agent image (of any boot).
    pub(crate) fn agent_media(&self, agent: &AgentSettings, host: &HostData, at: &OnHost) -> bool {
        at.media.inserted == Some(true)
            && at
                .media
                .image
                .as_deref()
                .is_some_and(|url| agent.hub.is_boot_image(&host_ref(host), url))
    }

    /// Makes the hub expect the host's agent (identity, boot MAC, network data).
    pub(crate) fn expect_agent(&self, agent: &AgentSettings, host: &HostData) -> Step<()> {
        let facts = self.facts(host);
        let network_data = match facts.network_data.trim() {
            "" => None,
            text => Some(serde_saphyr::from_str(text).map_err(|e| {
                Fault::Failed(format!(
                    "the preprovisioning network data is not valid YAML or JSON: {e}"
                ))
            })?),
        };
        if host.boot_mac_address.is_empty() {
            return Err(Fault::Failed(
                "the in-band agent needs bootMACAddress: the operator tells the host's agent \
                 by it"
                    .into(),
            ));
        }
        agent
            .hub
            .register(HostIdentity {
                host: host_ref(host),
                boot_mac: host.boot_mac_address.clone(),
                network_data,
            })
            .map(drop)
            .map_err(|e| Fault::Failed(e.to_string()))
    }

    /// Brings the agent up: the one that reports from this boot, or a new boot of the host's
    /// agent image. `skip_grace`: do not wait for an agent that may run unseen.
    pub(crate) async fn agent_up(
        &self,
        host: &HostData,
        agent: &AgentSettings,
        at: &OnHost,
        skip_grace: bool,
    ) -> Step<AgentState> {
        self.expect_agent(agent, host)?;
        let view = agent.hub.agent(&host_ref(host));
        let known = self.cache.known(host);
        let ours = self.agent_media(agent, host, at);
        let on = is_on(&at.system);
        let boot = known.agent_boot;
        if let Some(v) = view.as_ref().filter(|v| {
            v.age < agent.stale_after
                && on
                && ours
                && boot
                    .as_ref()
                    .is_none_or(|b| b.before.as_deref() != Some(v.boot_id.as_str()))
        }) {
            self.cache.remember(host, |k| {
                k.agent_boot = None;
                k.agent_wait = None;
            });
            return Ok(AgentState::Up(Box::new(v.clone())));
        }
        if let Some(b) = &boot {
            let since = b.at.elapsed();
            // A BMC may show the host off for a moment after it was told to power on.
            if since < agent.call_home_timeout && (on || since < agent.stale_after) {
                self.show(host, agent, "waiting for the agent to boot and call home");
                return Ok(AgentState::Booting { started: false });
            }
            if on {
                self.cache.remember(host, |k| k.agent_boot = None);
                return Err(Fault::Failed(format!(
                    "the agent has not called home within {} s of booting the host from virtual \
                     media: check on the host's console that it booted the agent image and \
                     reaches {} (--agent-url)",
                    agent.call_home_timeout.as_secs(),
                    agent.hub.url()
                )));
            }
        }
        // The BMC shows our image booted but the hub has not heard of it (the operator
        // restarted): give it time to report before booting anew.
        if boot.is_none() && view.is_none() && ours && on && !skip_grace {
            let since = known.agent_wait.unwrap_or_else(Instant::now);
            if known.agent_wait.is_none() {
                self.cache.remember(host, |k| k.agent_wait = Some(since));
            }
            if since.elapsed() < agent.grace {
                self.show(
                    host,
                    agent,
                    "waiting for the agent that runs on the host to call home",
                );
                return Ok(AgentState::Booting { started: false });
            }
        }
        self.boot_agent(host, agent, at, view.map(|v| v.boot_id))
            .await?;
        Ok(AgentState::Booting { started: true })
    }

    /// Boots the host into a new boot of its agent image: the one-time override first, then the
    /// medium, then one power on or restart (Secure Boot off: the agent image is not signed).
    async fn boot_agent(
        &self,
        host: &HostData,
        agent: &AgentSettings,
        at: &OnHost,
        before: Option<String>,
    ) -> Step<()> {
        let url = agent.hub.new_boot(&host_ref(host)).ok_or_else(|| {
            Fault::Transient("the agent hub forgot the host; trying again".into())
        })?;
        self.set_secure_boot(&at.conn, &at.system, false).await?;
        let mode = override_mode(self.facts(host).boot_mode);
        let patch = json!({"Boot": {
            "BootSourceOverrideTarget": "Cd",
            "BootSourceOverrideEnabled": "Once",
            "BootSourceOverrideMode": mode,
        }});
        at.conn.patch(&at.path, &patch, None).await?;
        self.insert(&at.conn, &at.cd, &at.media, &url).await?;
        self.boot(host, &at.conn, &at.path, is_on(&at.system))
            .await?;
        tracing::info!(host = %host.key(), "booting the in-band agent");
        self.cache.remember(host, |k| {
            k.agent_boot = Some(AgentBoot {
                at: Instant::now(),
                before,
            });
            k.agent_wait = None;
        });
        self.show(host, agent, "booting the agent from virtual media");
        Ok(())
    }

    /// How `command` went, queueing it while the agent has not reported on it.
    pub(crate) fn order(
        &self,
        agent: &AgentSettings,
        host: &HostData,
        view: &AgentView,
        command: Command,
    ) -> Ran {
        let ran = ran(view, &command.id);
        if ran == Ran::NotYet {
            agent.hub.queue(&host_ref(host), command);
        }
        ran
    }

    /// The end of the agent's part of an operation: with fast track it stands by (done at
    /// once); otherwise it powers the host off.
    pub(crate) async fn agent_rest(
        &self,
        host: &HostData,
        agent: &AgentSettings,
        at: &OnHost,
    ) -> Step<bool> {
        if !agent.fast_track {
            return self
                .power_off_agent(host, agent, &at.conn, &at.path, &at.system)
                .await;
        }
        if let Some(v) = self.fresh_agent(host, agent) {
            let id = command_id("standby", &v.boot_id, &[]);
            self.order(agent, host, &v, command(id, Action::Standby));
        }
        Ok(true)
    }

    /// The host powered off by its agent (by the BMC when the agent is gone); done once the
    /// BMC shows it off.
    pub(crate) async fn power_off_agent(
        &self,
        host: &HostData,
        agent: &AgentSettings,
        conn: &Connection,
        path: &str,
        system: &ComputerSystem,
    ) -> Step<bool> {
        if !is_on(system) {
            return Ok(true);
        }
        match self.fresh_agent(host, agent) {
            Some(v) => {
                let id = command_id("poweroff", &v.boot_id, &[]);
                self.order(agent, host, &v, command(id, Action::PowerOff));
            }
            None => {
                let asked = self
                    .cache
                    .known(host)
                    .power_request
                    .is_some_and(|(kind, at)| {
                        kind == "ForceOff" && at.elapsed() < self.config.poll * 5
                    });
                if !asked {
                    self.reset(host, conn, path, "ForceOff").await?;
                }
            }
        }
        Ok(false)
    }

    /// What the host's agent said, when it reported a moment ago.
    pub(crate) fn fresh_agent(&self, host: &HostData, agent: &AgentSettings) -> Option<AgentView> {
        agent
            .hub
            .agent(&host_ref(host))
            .filter(|v| v.age < agent.stale_after)
    }

    /// Where the agent's part of `op` stands, when this process followed it.
    pub(crate) fn phase(&self, host: &HostData, op: Operation) -> Option<Phase> {
        self.cache
            .known(host)
            .agent_phase
            .filter(|(o, _)| *o == op)
            .map(|(_, p)| p)
    }

    /// Records where the agent's part of `op` stands (`None`: not started, or over).
    pub(crate) fn set_phase(&self, host: &HostData, op: Operation, phase: Option<Phase>) {
        self.cache
            .remember(host, |k| k.agent_phase = phase.map(|p| (op, p)));
    }

    /// An agent operation ended (done or failed): nothing of it is kept.
    pub(crate) fn agent_finished(&self, host: &HostData) {
        self.cache.remember(host, |k| {
            k.agent_phase = None;
            k.agent_wait = None;
            k.progress = None;
        });
    }

    /// Shows `message` as the host's progress, unless another was shown a moment ago.
    pub(crate) fn show(&self, host: &HostData, agent: &AgentSettings, message: impl Into<String>) {
        let every = agent.progress_every;
        let message = message.into();
        self.cache.remember(host, |k| {
            let recent = k
                .progress
                .as_ref()
                .is_some_and(|(at, m)| *m == message || at.elapsed() < every);
            if !recent {
                k.progress = Some((Instant::now(), message));
            }
        });
    }

    /// What the host shows of the operation in progress.
    pub(crate) fn progress_of(&self, host: &HostData) -> Option<String> {
        self.cache.known(host).progress.map(|(_, m)| m)
    }
}

/// A command.
pub(crate) fn command(id: String, action: Action) -> Command {
    Command { id, action }
}

/// A wait of `poll`.
pub(crate) fn wait(poll: Duration) -> metal3_provisioner::Outcome {
    metal3_provisioner::Outcome::wait(poll)
}

#[cfg(test)]
mod tests {
    use metal3_agent_api::Progress;

    use super::*;

    #[test]
    fn ids_are_stable_per_boot_and_request() {
        assert_eq!(command_id("clean", "b1", &[]), "clean-b1");
        let a = command_id("deploy", "b1", &["http://i/a.img", "sha256"]);
        assert_eq!(a, command_id("deploy", "b1", &["http://i/a.img", "sha256"]));
        assert!(a.starts_with("deploy-b1-"));
        assert_ne!(a, command_id("deploy", "b2", &["http://i/a.img", "sha256"]));
        assert_ne!(a, command_id("deploy", "b1", &["http://i/b.img", "sha256"]));
        assert_ne!(
            command_id("deploy", "b1", &["ab", "c"]),
            command_id("deploy", "b1", &["a", "bc"]),
            "parts are separated"
        );
    }

    #[test]
    fn progress_in_words() {
        let mut s = CommandStatus {
            id: "d".into(),
            step: "writing".into(),
            ..CommandStatus::default()
        };
        assert_eq!(
            describe("writing the image", &s),
            "writing the image: writing"
        );
        s.progress = Some(Progress {
            bytes_done: 3 * 1024 * 1024 * 1024 / 2,
            bytes_total: Some(4 * 1024 * 1024 * 1024),
            bytes_per_second: 85 * 1024 * 1024,
        });
        assert_eq!(
            describe("writing the image", &s),
            "writing the image: writing, 1.5 GiB of 4.0 GiB (37%) at 85.0 MiB/s"
        );
        s.progress = Some(Progress {
            bytes_done: 512,
            bytes_total: None,
            bytes_per_second: 0,
        });
        s.step.clear();
        assert_eq!(describe("cleaning", &s), "cleaning, 512 B at 0 B/s");
    }

    #[test]
    fn results_of_commands() {
        let view = |status: Option<CommandStatus>| AgentView {
            boot_id: "b".into(),
            age: Duration::ZERO,
            agent_version: String::new(),
            macs: vec![],
            inventory: None,
            status,
            delivered: None,
        };
        let status = |state, message: &str| CommandStatus {
            id: "x".into(),
            state,
            message: message.into(),
            ..CommandStatus::default()
        };
        assert_eq!(ran(&view(None), "x"), Ran::NotYet);
        let other = CommandStatus {
            id: "y".into(),
            ..CommandStatus::default()
        };
        assert_eq!(ran(&view(Some(other)), "x"), Ran::NotYet);
        assert!(matches!(
            ran(&view(Some(status(CommandState::Running, ""))), "x"),
            Ran::Running(_)
        ));
        assert!(matches!(
            ran(&view(Some(status(CommandState::Done, ""))), "x"),
            Ran::Done(_)
        ));
        assert_eq!(
            ran(&view(Some(status(CommandState::Failed, "404"))), "x"),
            Ran::Failed("404".into())
        );
        assert_eq!(
            ran(&view(Some(status(CommandState::Failed, ""))), "x"),
            Ran::Failed("the agent gave no reason".into())
        );
    }
}
