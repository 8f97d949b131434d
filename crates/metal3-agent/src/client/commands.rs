//! Running one command of the hub: what each action does and what it ends with. Progress
//! goes into the command's shared status, which the call-home loop reports.

use std::sync::{Arc, Mutex};

use metal3_agent_api::inventory::InspectionData;
use metal3_agent_api::{Action, CommandStatus, Progress};
use serde_json::Value;

use super::Agent;
use super::power::PowerAction;
use super::steps;

/// How a command ended.
#[derive(Debug)]
pub enum Outcome {
    /// Done, with a result for the hub (or none).
    Done(Option<Value>),
    /// An inspection: done, with the inventory.
    Inventory(Box<InspectionData>),
    /// Done once the hub heard so; then the host reboots or powers off.
    Power(PowerAction),
    Failed(String),
}

/// The status a running command shares with the loop.
pub type SharedStatus = Arc<Mutex<CommandStatus>>;

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Records `step` and `progress` as what the command does now.
fn progress_into(status: &SharedStatus) -> impl Fn(&str, Progress) + Send + Sync + '_ {
    move |step: &str, progress: Progress| {
        let mut s = lock(status);
        if s.step != step {
            crate::console::say(format!("{}: {step}", s.id));
        }
        s.step = step.to_string();
        s.progress = Some(progress);
    }
}

fn set_step(status: &SharedStatus, step: &str) {
    lock(status).step = step.to_string();
}

/// Runs `action`, updating `status` as it goes.
pub async fn run(agent: &Agent, action: &Action, status: &SharedStatus) -> Outcome {
    match action {
        Action::Inspect => {
            set_step(status, "inspecting");
            Outcome::Inventory(Box::new(agent.inventory(true).await))
        }
        Action::Clean { mode } => {
            set_step(status, "cleaning");
            match agent.disks.clean(*mode, &progress_into(status)).await {
                Ok(()) => Outcome::Done(None),
                Err(e) => Outcome::Failed(format!("cleaning failed: {e}")),
            }
        }
        Action::Deploy(deploy) => {
            set_step(status, "deploying");
            match agent.disks.deploy(deploy, &progress_into(status)).await {
                Ok(result) => Outcome::Done(serde_json::to_value(result).ok()),
                Err(e) => Outcome::Failed(format!("deploying the image failed: {e}")),
            }
        }
        Action::RunStep { name } => {
            set_step(status, &format!("running step {name}"));
            match steps::run(&agent.steps_dir, name, &agent.children).await {
                Ok(output) => Outcome::Done(Some(serde_json::json!({ "output": output }))),
                Err(e) => Outcome::Failed(e),
            }
        }
        Action::Reboot => Outcome::Power(PowerAction::Reboot),
        Action::PowerOff => Outcome::Power(PowerAction::PowerOff),
        Action::Standby => Outcome::Done(None),
    }
}

/// A short name of an action for the console.
pub fn describe(action: &Action) -> String {
    match action {
        Action::Inspect => "inspect".into(),
        Action::Clean { mode } => format!("clean ({mode:?})"),
        Action::Deploy(d) => format!("deploy {} ({:?})", redact_url(&d.image.url), d.image.format),
        Action::RunStep { name } => format!("run step {name}"),
        Action::Reboot => "reboot".into(),
        Action::PowerOff => "power off".into(),
        Action::Standby => "standby".into(),
    }
}

/// A URL without user info and query (either may carry a credential).
pub fn redact_url(url: &str) -> String {
    let without_query = url.split(['?', '#']).next().unwrap_or_default();
    match without_query.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
            let host = authority.rsplit('@').next().unwrap_or_default();
            format!("{scheme}://{host}{path}")
        }
        None => without_query.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_their_credentials() {
        assert_eq!(
            redact_url("https://user:pw@images.example:8443/a/b.qcow2?token=x#f"),
            "https://images.example:8443/a/b.qcow2"
        );
        assert_eq!(
            redact_url("http://10.0.2.2:8080/img.raw"),
            "http://10.0.2.2:8080/img.raw"
        );
        assert_eq!(redact_url("http://u@h"), "http://h");
        assert_eq!(redact_url("no-scheme?x=1"), "no-scheme");
    }
}
