//! The hosts the hub expects agents from and what their agents last said: a report's token and
//! boot MAC checked, what it says recorded, and the answer with the next command. Pure: the
//! clock and the token key are passed in.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use metal3_agent_api::inventory::InspectionData;
use metal3_agent_api::{Action, Command, CommandState, CommandStatus, HostRef, Reply, Report};
use serde_json::Value;

/// Who a host is, as the backend registers it: what the agent's token is derived from and what
/// its boot image carries.
#[derive(Clone, Debug, PartialEq)]
pub struct HostIdentity {
    /// Namespace, name and UID of the BareMetalHost.
    pub host: HostRef,
    /// `spec.bootMACAddress`: the agent must report a NIC with this MAC.
    pub boot_mac: String,
    /// The network configuration the agent applies (`network_data.json`); none: DHCP.
    pub network_data: Option<Value>,
}

/// What a host's agent said last, as the backend reads it.
#[derive(Clone, Debug, PartialEq)]
pub struct AgentView {
    /// Random per agent start: another boot id is another boot.
    pub boot_id: String,
    /// Time since the last report.
    pub age: Duration,
    /// The agent's version.
    pub agent_version: String,
    /// MACs of the NICs the agent sees.
    pub macs: Vec<String>,
    /// The inventory this boot of the agent sent (its first report, or an `Inspect`'s).
    pub inventory: Option<Arc<InspectionData>>,
    /// The command the agent runs or last ran.
    pub status: Option<CommandStatus>,
    /// The id of the command last handed to the agent (it may not report on it: an agent
    /// told to reboot may be gone before its next report).
    pub delivered: Option<String>,
}

impl AgentView {
    /// The status of the command `id`, when that is the one the agent reports on.
    pub fn status_of(&self, id: &str) -> Option<&CommandStatus> {
        self.status.as_ref().filter(|s| s.id == id)
    }
}

/// Why a report is refused: the HTTP status and a reason the agent shows on its console.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejection {
    /// 401 (no or wrong token) or 403 (not expected, or not the host it claims to be).
    pub status: u16,
    pub reason: String,
}

impl Rejection {
    fn new(status: u16, reason: String) -> Self {
        Self { status, reason }
    }
}

/// How soon agents call again: `busy` while a command is queued or runs, `idle` otherwise.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Polls {
    pub busy: Duration,
    pub idle: Duration,
}

/// What the agent said last.
#[derive(Clone, Debug)]
struct Seen {
    boot_id: String,
    at: Instant,
    agent_version: String,
    macs: Vec<String>,
    inventory: Option<Arc<InspectionData>>,
    status: Option<CommandStatus>,
}

/// One host the hub expects an agent from.
#[derive(Clone, Debug)]
struct Entry {
    identity: HostIdentity,
    /// The nonce of the current boot image URL; only it is served.
    nonce: String,
    /// The command the backend wants run next (resent until the agent reports on it).
    wanted: Option<Command>,
    /// The id of the command last sent in a reply.
    delivered: Option<String>,
    seen: Option<Seen>,
}

/// Every host the hub expects an agent from, by `namespace/name`.
#[derive(Debug, Default)]
pub(crate) struct Registry {
    hosts: HashMap<String, Entry>,
}

/// The registry's key of a host.
pub(crate) fn key(host: &HostRef) -> String {
    host.to_string()
}

impl Registry {
    /// Records (or updates) a host; a new host gets `nonce`. Returns the host's current nonce
    /// and whether its identity changed.
    pub(crate) fn register(&mut self, identity: HostIdentity, nonce: String) -> (String, bool) {
        match self.hosts.get_mut(&key(&identity.host)) {
            Some(entry) => {
                let changed = entry.identity != identity;
                if changed {
                    if entry.identity.host.uid != identity.host.uid {
                        // Another host under the same name: nothing of the old one applies.
                        entry.wanted = None;
                        entry.delivered = None;
                        entry.seen = None;
                    }
                    entry.identity = identity;
                }
                (entry.nonce.clone(), changed)
            }
            None => {
                self.hosts.insert(
                    key(&identity.host),
                    Entry {
                        identity,
                        nonce: nonce.clone(),
                        wanted: None,
                        delivered: None,
                        seen: None,
                    },
                );
                (nonce, true)
            }
        }
    }

    /// Gives a registered host a new nonce (a new boot image URL); false when it is unknown.
    pub(crate) fn renew(&mut self, host: &HostRef, nonce: String) -> bool {
        match self.hosts.get_mut(&key(host)) {
            Some(entry) => {
                // A new boot starts with no command: one queued for the old boot is void.
                entry.nonce = nonce;
                entry.wanted = None;
                entry.delivered = None;
                true
            }
            None => false,
        }
    }

    /// The identity of the host whose current boot image URL has `nonce`.
    pub(crate) fn by_nonce(
        &self,
        namespace: &str,
        name: &str,
        nonce: &str,
    ) -> Option<&HostIdentity> {
        self.hosts
            .get(&format!("{namespace}/{name}"))
            .filter(|e| !nonce.is_empty() && e.nonce == nonce)
            .map(|e| &e.identity)
    }

    /// Sets the command the host's agent gets next; false when the host is unknown.
    pub(crate) fn queue(&mut self, host: &HostRef, command: Command) -> bool {
        match self.hosts.get_mut(&key(host)) {
            Some(entry) => {
                entry.wanted = Some(command);
                true
            }
            None => false,
        }
    }

    /// What the host's agent said last, if it reported since the host was registered.
    pub(crate) fn view(&self, host: &HostRef, now: Instant) -> Option<AgentView> {
        let entry = self.hosts.get(&key(host))?;
        let seen = entry.seen.as_ref()?;
        Some(AgentView {
            boot_id: seen.boot_id.clone(),
            age: now.saturating_duration_since(seen.at),
            agent_version: seen.agent_version.clone(),
            macs: seen.macs.clone(),
            inventory: seen.inventory.clone(),
            status: seen.status.clone(),
            delivered: entry.delivered.clone(),
        })
    }

    /// Forgets the host.
    pub(crate) fn forget(&mut self, host: &HostRef) {
        self.hosts.remove(&key(host));
    }

    /// Checks and records a report, and answers it. `bearer` is the token the agent presented;
    /// `verify(uid, boot_mac, token)` says whether it is that host's.
    pub(crate) fn report(
        &mut self,
        bearer: Option<&str>,
        report: Report,
        verify: impl Fn(&str, &str, &str) -> bool,
        now: Instant,
        polls: Polls,
    ) -> Result<Reply, Rejection> {
        let claimed = &report.host;
        let Some(token) = bearer.filter(|t| !t.is_empty()) else {
            return Err(Rejection::new(
                401,
                "no bearer token: send the token of the agent's configuration in the \
                 Authorization header"
                    .into(),
            ));
        };
        let Some(entry) = self.hosts.get_mut(&key(claimed)) else {
            return Err(Rejection::new(
                403,
                format!(
                    "host {claimed} is not expecting an agent (unknown to the operator, or not \
                     looked at since the operator started: keep reporting)"
                ),
            ));
        };
        let expected = &entry.identity;
        if expected.host.uid != claimed.uid {
            return Err(Rejection::new(
                403,
                format!(
                    "host {claimed} has another UID than the agent claims (was the \
                     BareMetalHost deleted and created again? its agent must be booted anew)"
                ),
            ));
        }
        if !verify(&expected.host.uid, &expected.boot_mac, token) {
            return Err(Rejection::new(
                401,
                format!("the token is not host {claimed}'s"),
            ));
        }
        if !report
            .macs
            .iter()
            .any(|m| m.eq_ignore_ascii_case(&expected.boot_mac))
        {
            return Err(Rejection::new(
                403,
                format!(
                    "host {claimed} boots from {}, which is not among the NICs the agent \
                     reports ({}): the agent runs on another machine",
                    expected.boot_mac,
                    report.macs.join(", ")
                ),
            ));
        }
        let same_boot = entry
            .seen
            .as_ref()
            .is_some_and(|s| s.boot_id == report.boot_id);
        if !same_boot {
            // Commands are queued for the boot the backend saw: never for this one.
            entry.wanted = None;
            entry.delivered = None;
        }
        let kept_inventory = entry
            .seen
            .take()
            .filter(|_| same_boot)
            .and_then(|s| s.inventory);
        let seen = Seen {
            inventory: report.inventory.map(Arc::new).or(kept_inventory),
            boot_id: report.boot_id,
            at: now,
            agent_version: report.agent_version,
            macs: report.macs,
            status: report.status,
        };
        let reply = answer(entry.wanted.as_ref(), seen.status.as_ref(), polls);
        if let Some(command) = &reply.command {
            entry.delivered = Some(command.id.clone());
        }
        entry.seen = Some(seen);
        Ok(reply)
    }
}

/// The answer to an agent reporting `status` while the backend wants `wanted` run: the command
/// until the agent reports on it, and a short poll while something is to do or under way.
fn answer(wanted: Option<&Command>, status: Option<&CommandStatus>, polls: Polls) -> Reply {
    let unacknowledged = wanted.filter(|w| status.is_none_or(|s| s.id != w.id));
    let standing_by = wanted.is_some_and(|w| w.action == Action::Standby);
    let running = status.is_some_and(|s| s.state == CommandState::Running) && !standing_by;
    let poll = if unacknowledged.is_some() || running {
        polls.busy
    } else {
        polls.idle
    };
    Reply {
        command: unacknowledged.cloned(),
        poll_after_ms: u64::try_from(poll.as_millis()).unwrap_or(u64::MAX),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use metal3_agent_api::CleanMode;

    const POLLS: Polls = Polls {
        busy: Duration::from_secs(2),
        idle: Duration::from_secs(10),
    };

    fn identity(name: &str, uid: &str) -> HostIdentity {
        HostIdentity {
            host: HostRef {
                namespace: "ns".into(),
                name: name.into(),
                uid: uid.into(),
            },
            boot_mac: "52:54:00:00:00:01".into(),
            network_data: None,
        }
    }

    fn report(id: &HostIdentity, boot: &str, status: Option<CommandStatus>) -> Report {
        Report {
            host: id.host.clone(),
            boot_id: boot.into(),
            agent_version: "0.1.0".into(),
            macs: vec!["52:54:00:00:00:01".to_uppercase()],
            inventory: None,
            status,
        }
    }

    /// A stand-in token check: the token is `<uid>/<mac>`.
    fn verify(uid: &str, mac: &str, token: &str) -> bool {
        token == format!("{uid}/{mac}")
    }

    fn status(id: &str, state: CommandState) -> CommandStatus {
        CommandStatus {
            id: id.into(),
            state,
            ..CommandStatus::default()
        }
    }

    #[test]
    fn reports_are_refused_with_a_reason_and_nothing_recorded() {
        let mut r = Registry::default();
        let a = identity("a", "uid-a");
        let now = Instant::now();
        let token = "uid-a/52:54:00:00:00:01";
        let refused = |r: &mut Registry, bearer: Option<&str>, rep: Report| {
            r.report(bearer, rep, verify, now, POLLS)
                .expect_err("refused")
        };
        let e = refused(&mut r, Some(token), report(&a, "b1", None));
        assert_eq!(e.status, 403, "not registered: {e:?}");
        r.register(a.clone(), "n1".into());
        let e = refused(&mut r, None, report(&a, "b1", None));
        assert_eq!((e.status, e.reason.contains("bearer")), (401, true));
        let e = refused(
            &mut r,
            Some("uid-b/52:54:00:00:00:01"),
            report(&a, "b1", None),
        );
        assert_eq!(e.status, 401);
        assert!(e.reason.contains("not host ns/a's"), "{e:?}");
        let mut other_uid = report(&a, "b1", None);
        other_uid.host.uid = "uid-a2".into();
        assert_eq!(refused(&mut r, Some(token), other_uid).status, 403);
        let mut no_mac = report(&a, "b1", None);
        no_mac.macs = vec!["52:54:00:00:00:99".into()];
        let e = refused(&mut r, Some(token), no_mac);
        assert_eq!(e.status, 403);
        assert!(e.reason.contains("52:54:00:00:00:99"), "{e:?}");
        assert_eq!(r.view(&a.host, now), None, "nothing recorded");
    }

    #[test]
    fn a_command_is_resent_until_the_agent_reports_on_it() {
        let mut r = Registry::default();
        let a = identity("a", "uid-a");
        let token = "uid-a/52:54:00:00:00:01";
        let t0 = Instant::now();
        r.register(a.clone(), "n1".into());
        let reply = r
            .report(Some(token), report(&a, "b1", None), verify, t0, POLLS)
            .expect("first report");
        assert_eq!(reply.command, None);
        assert_eq!(reply.poll_after_ms, 10_000, "nothing to do: idle poll");

        let clean = Command {
            id: "clean-b1".into(),
            action: Action::Clean {
                mode: CleanMode::Metadata,
            },
        };
        assert!(r.queue(&a.host, clean.clone()));
        for _ in 0..2 {
            let reply = r
                .report(Some(token), report(&a, "b1", None), verify, t0, POLLS)
                .expect("report");
            assert_eq!(reply.command.as_ref(), Some(&clean), "until acknowledged");
            assert_eq!(reply.poll_after_ms, 2_000);
        }
        let view = r.view(&a.host, t0).expect("view");
        assert_eq!(view.delivered.as_deref(), Some("clean-b1"));
        assert_eq!(view.status_of("clean-b1"), None, "not reported on yet");
        let running = Some(status("clean-b1", CommandState::Running));
        let reply = r
            .report(Some(token), report(&a, "b1", running), verify, t0, POLLS)
            .expect("report");
        assert_eq!((reply.command, reply.poll_after_ms), (None, 2_000));
        let done = Some(status("clean-b1", CommandState::Done));
        let t1 = t0 + Duration::from_secs(3);
        let reply = r
            .report(Some(token), report(&a, "b1", done), verify, t1, POLLS)
            .expect("report");
        assert_eq!((reply.command, reply.poll_after_ms), (None, 10_000));
        let view = r.view(&a.host, t1 + Duration::from_secs(1)).expect("view");
        assert_eq!(view.age, Duration::from_secs(1));
        assert_eq!(
            view.status_of("clean-b1").map(|s| s.state),
            Some(CommandState::Done)
        );
        assert_eq!(view.status_of("deploy-x"), None);

        // A standing-by agent polls slowly although its Standby "runs".
        let standby = Command {
            id: "standby-b1".into(),
            action: Action::Standby,
        };
        r.queue(&a.host, standby);
        let on_standby = Some(status("standby-b1", CommandState::Running));
        let reply = r
            .report(Some(token), report(&a, "b1", on_standby), verify, t1, POLLS)
            .expect("report");
        assert_eq!((reply.command, reply.poll_after_ms), (None, 10_000));
    }

    #[test]
    fn a_command_for_one_boot_never_reaches_the_next() {
        let mut r = Registry::default();
        let a = identity("a", "uid-a");
        let token = "uid-a/52:54:00:00:00:01";
        let now = Instant::now();
        r.register(a.clone(), "n1".into());
        r.report(Some(token), report(&a, "b1", None), verify, now, POLLS)
            .expect("report");
        let off = Command {
            id: "poweroff-b1".into(),
            action: Action::PowerOff,
        };
        r.queue(&a.host, off.clone());
        let reply = r
            .report(Some(token), report(&a, "b1", None), verify, now, POLLS)
            .expect("report");
        assert_eq!(
            reply.command,
            Some(off.clone()),
            "b1 powers off without reporting"
        );
        let reply = r
            .report(Some(token), report(&a, "b2", None), verify, now, POLLS)
            .expect("report");
        assert_eq!(
            reply.command, None,
            "the next boot does not get b1's command"
        );
        assert_eq!(r.view(&a.host, now).and_then(|v| v.delivered), None);
        r.queue(&a.host, off);
        assert!(r.renew(&a.host, "n2".into()));
        let reply = r
            .report(Some(token), report(&a, "b2", None), verify, now, POLLS)
            .expect("report");
        assert_eq!(
            reply.command, None,
            "a new boot image voids the queued command"
        );
    }

    #[test]
    fn the_inventory_is_kept_for_its_boot_only() {
        let mut r = Registry::default();
        let a = identity("a", "uid-a");
        let token = "uid-a/52:54:00:00:00:01";
        let now = Instant::now();
        r.register(a.clone(), "n1".into());
        let mut first = report(&a, "b1", None);
        first.inventory = Some(InspectionData::default());
        r.report(Some(token), first, verify, now, POLLS)
            .expect("report");
        r.report(Some(token), report(&a, "b1", None), verify, now, POLLS)
            .expect("report");
        assert!(r.view(&a.host, now).and_then(|v| v.inventory).is_some());
        r.report(Some(token), report(&a, "b2", None), verify, now, POLLS)
            .expect("report");
        let view = r.view(&a.host, now).expect("view");
        assert_eq!(view.boot_id, "b2");
        assert!(view.inventory.is_none(), "a new boot sends its own");
    }

    #[test]
    fn nonces_and_identities() {
        let mut r = Registry::default();
        let a = identity("a", "uid-a");
        assert_eq!(r.register(a.clone(), "n1".into()), ("n1".into(), true));
        assert_eq!(
            r.register(a.clone(), "n2".into()),
            ("n1".into(), false),
            "registering again keeps the nonce"
        );
        assert!(r.by_nonce("ns", "a", "n1").is_some());
        assert!(r.renew(&a.host, "n3".into()));
        assert!(
            r.by_nonce("ns", "a", "n1").is_none(),
            "an old nonce is refused"
        );
        assert!(r.by_nonce("ns", "a", "n3").is_some());
        assert!(r.by_nonce("ns", "a", "").is_none());
        assert!(!r.renew(&identity("b", "uid-b").host, "n".into()));

        let now = Instant::now();
        r.queue(
            &a.host,
            Command {
                id: "x".into(),
                action: Action::Inspect,
            },
        );
        r.report(
            Some("uid-a/52:54:00:00:00:01"),
            report(&a, "b1", None),
            verify,
            now,
            POLLS,
        )
        .expect("report");
        let again = identity("a", "uid-a2");
        assert!(r.register(again.clone(), "n4".into()).1);
        assert!(
            r.view(&again.host, now).is_none(),
            "another host: nothing kept"
        );
        let reply = r
            .report(
                Some("uid-a2/52:54:00:00:00:01"),
                report(&again, "b1", None),
                verify,
                now,
                POLLS,
            )
            .expect("report");
        assert_eq!(reply.command, None, "nor the old host's command");
        r.forget(&again.host);
        assert!(r.view(&again.host, now).is_none());
        assert!(!r.queue(
            &again.host,
            Command {
                id: "y".into(),
                action: Action::Reboot
            }
        ));
    }
}
