//! The call-home loop: report to the hub (who this is, the MACs, the inventory on the first
//! report of a boot and after an inspection, the status of the last command), run the command
//! the hub answers with (one at a time, in a task), report its progress every couple of
//! seconds while it runs and its end once it ended, and keep reporting that until the hub
//! gives another command. An unreachable hub is called again after growing pauses, forever.
//!
//! [`hub`] is the HTTPS client, [`commands`] what each command does, [`steps`] custom deploy
//! steps, [`power`] rebooting and powering off, [`backoff`] the pauses.

pub mod backoff;
pub mod commands;
pub mod hub;
pub mod power;
pub mod steps;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use metal3_agent_api::inventory::InspectionData;
use metal3_agent_api::{AgentConfig, Command, CommandState, CommandStatus, Report};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::console;
use crate::disks::Disks;
use crate::init::reaper::Children;
use crate::inventory::{self, Observed, Sources};
use crate::net::lldp::Neighbours;
use crate::net::netlink::Netlink;
use backoff::Backoff;
use commands::{Outcome, SharedStatus, lock};
use hub::Hub;
use power::PowerAction;

/// How often a running command's progress is reported.
const PROGRESS_EVERY: Duration = Duration::from_secs(2);

/// Everything a command may need.
pub struct Agent {
    pub config: AgentConfig,
    pub sources: Sources,
    pub disks: Arc<dyn Disks>,
    pub children: Children,
    pub steps_dir: PathBuf,
    /// For the NICs' addresses in the inventory (none: not reported).
    pub netlink: Option<Netlink>,
    pub lldp: Neighbours,
    /// How long an inspection waits for LLDP frames (stopping early once every NIC with a
    /// link heard one).
    pub lldp_window: Duration,
}

impl Agent {
    /// The inventory now; `wait_lldp`: first give switches the time to announce themselves
    /// (an inspection does; the first report of a boot does not wait).
    pub async fn inventory(&self, wait_lldp: bool) -> InspectionData {
        if wait_lldp {
            let with_link: Vec<String> = crate::sysfs::physical_nics(&self.sources.sys)
                .into_iter()
                .filter(|n| crate::sysfs::nic_carrier(&self.sources.sys, n))
                .collect();
            self.lldp.listened(self.lldp_window, &with_link).await;
        }
        let disks = self.disks.list().unwrap_or_else(|e| {
            console::error(format!("cannot list the disks: {e}"));
            Vec::new()
        });
        let addresses = match &self.netlink {
            Some(nl) => crate::net::addresses(nl).await,
            None => Default::default(),
        };
        inventory::collect(
            &self.sources,
            &Observed {
                disks,
                addresses,
                lldp: self.lldp.frames(),
                boot_mac: self.config.boot_mac.clone(),
            },
        )
    }
}

/// The command the agent runs or last ran.
struct Current {
    status: SharedStatus,
    task: Option<JoinHandle<Outcome>>,
}

/// A random id for this start of the agent.
fn new_boot_id() -> String {
    format!("{:032x}", fastrand::u128(..))
}

/// Calls home until the hub asks for a reboot or a power-off; returns that action once the
/// hub heard the command is done.
pub async fn run(agent: Arc<Agent>, hub: Hub) -> PowerAction {
    let boot_id = new_boot_id();
    let finished = Arc::new(Notify::new());
    let mut inventory = Some(agent.inventory(false).await);
    let mut current: Option<Current> = None;
    let mut pending_power: Option<PowerAction> = None;
    let mut backoff = Backoff::default();
    let mut reported_once = false;
    let mut last_error = String::new();
    loop {
        if let Some(cur) = current.as_mut()
            && let Some(outcome) = take_finished(cur).await
        {
            match conclude(&cur.status, outcome) {
                Concluded::Inventory(data) => inventory = Some(*data),
                Concluded::Power(action) => pending_power = Some(action),
                Concluded::Nothing => {}
            }
        }
        let report = Report {
            host: agent.config.host.clone(),
            boot_id: boot_id.clone(),
            agent_version: crate::VERSION.to_string(),
            macs: inventory::macs(&agent.sources),
            inventory: inventory.clone(),
            status: current.as_ref().map(|c| lock(&c.status).clone()),
        };
        let sent = hub.report(&report).await;
        if let Some(action) = pending_power {
            if let Err(e) = &sent {
                console::error(format!("{e} (going ahead with the {action})"));
            }
            return action;
        }
        let pause = match sent {
            Ok(reply) => {
                backoff.reset();
                last_error.clear();
                if !reported_once {
                    reported_once = true;
                    console::say(format!(
                        "reported to the hub as {} (boot {boot_id})",
                        agent.config.host
                    ));
                }
                if inventory.take().is_some() {
                    console::say("inventory sent");
                }
                if let Some(command) = reply.command {
                    start(&agent, &mut current, command, &finished);
                }
                let asked = Duration::from_millis(reply.poll_after_ms)
                    .clamp(Duration::from_millis(100), Duration::from_secs(60));
                match &current {
                    Some(Current { task: Some(_), .. }) => asked.min(PROGRESS_EVERY),
                    _ => asked,
                }
            }
            Err(e) => {
                let text = e.to_string();
                if text != last_error {
                    console::error(&text);
                    last_error = text;
                }
                backoff.next_pause()
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(pause) => {}
            _ = finished.notified() => {}
        }
    }
}

/// The outcome of the current command's task, once it ended.
async fn take_finished(cur: &mut Current) -> Option<Outcome> {
    if !cur.task.as_ref().is_some_and(JoinHandle::is_finished) {
        return None;
    }
    let task = cur.task.take()?;
    Some(
        task.await
            .unwrap_or_else(|e| Outcome::Failed(format!("the command stopped unexpectedly: {e}"))),
    )
}

enum Concluded {
    Inventory(Box<InspectionData>),
    Power(PowerAction),
    Nothing,
}

/// Writes how the command ended into its status.
fn conclude(status: &SharedStatus, outcome: Outcome) -> Concluded {
    let mut s = lock(status);
    s.state = CommandState::Done;
    let concluded = match outcome {
        Outcome::Done(result) => {
            s.result = result;
            Concluded::Nothing
        }
        Outcome::Inventory(data) => Concluded::Inventory(data),
        Outcome::Power(action) => {
            s.step = action.to_string();
            Concluded::Power(action)
        }
        Outcome::Failed(message) => {
            s.state = CommandState::Failed;
            s.message = message;
            Concluded::Nothing
        }
    };
    match s.state {
        CommandState::Failed => console::error(format!("{} failed: {}", s.id, s.message)),
        _ => console::say(format!("{} done", s.id)),
    }
    concluded
}

/// Starts `command` unless it is the one the agent runs or ran (the hub repeating itself)
/// or another one still runs.
fn start(
    agent: &Arc<Agent>,
    current: &mut Option<Current>,
    command: Command,
    finished: &Arc<Notify>,
) {
    if let Some(cur) = current.as_ref() {
        let id = lock(&cur.status).id.clone();
        if id == command.id {
            return;
        }
        if cur.task.is_some() {
            console::error(format!(
                "the hub sent {} while {id} still runs; it waits",
                command.id
            ));
            return;
        }
    }
    console::say(format!(
        "{}: {}",
        command.id,
        commands::describe(&command.action)
    ));
    let status: SharedStatus = Arc::new(std::sync::Mutex::new(CommandStatus {
        id: command.id.clone(),
        state: CommandState::Running,
        ..CommandStatus::default()
    }));
    let task = {
        let agent = agent.clone();
        let status = status.clone();
        let finished = finished.clone();
        tokio::spawn(async move {
            let outcome = commands::run(&agent, &command.action, &status).await;
            finished.notify_one();
            outcome
        })
    };
    *current = Some(Current {
        status,
        task: Some(task),
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boot_ids_are_random_and_long() {
        let a = new_boot_id();
        assert_eq!(a.len(), 32);
        assert_ne!(a, new_boot_id());
    }

    #[test]
    fn a_concluded_command_says_how_it_ended() {
        let status: SharedStatus = Arc::default();
        assert!(matches!(
            conclude(&status, Outcome::Failed("no disk matches".into())),
            Concluded::Nothing
        ));
        assert_eq!(lock(&status).state, CommandState::Failed);
        assert_eq!(lock(&status).message, "no disk matches");
        let status: SharedStatus = Arc::default();
        assert!(matches!(
            conclude(&status, Outcome::Power(PowerAction::PowerOff)),
            Concluded::Power(PowerAction::PowerOff)
        ));
        assert_eq!(lock(&status).state, CommandState::Done);
        assert_eq!(lock(&status).step, "power off");
        let status: SharedStatus = Arc::default();
        conclude(&status, Outcome::Done(Some(serde_json::json!({"a": 1}))));
        assert_eq!(lock(&status).result, Some(serde_json::json!({"a": 1})));
    }
}
