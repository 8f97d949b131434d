//! The agent on a simulated server, played by the test: when the server runs its agent image
//! from the virtual CD (the BMC booted it), a stand-in boots from that image (its
//! configuration read from the host's slot, a new boot id) and reports to the hub; it carries
//! out the commands it gets as the real agent does (rebooting or powering off the server
//! through its BMC), and the test scripts how a deploy goes.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use metal3_agent_api::inventory::{Disk, InspectionData, Interface, Inventory, SystemVendor};
use metal3_agent_api::{Action, Command, CommandState, CommandStatus, Progress};
use metal3_agent_hub::stand_in::StandIn;
use metal3_sim::Fleet;
use metal3_sim::fleet::{Power, Running};

/// How the stand-in's deploys go, and what it was told.
#[derive(Default)]
pub struct Script {
    /// A deploy fails with this message.
    pub fail_deploy: Mutex<Option<String>>,
    /// A deploy runs until this is cleared.
    pub hold_deploy: std::sync::atomic::AtomicBool,
    /// Every command received (once per id), in order.
    pub received: Mutex<Vec<Command>>,
}

impl Script {
    /// The actions received, in order.
    pub fn actions(&self) -> Vec<String> {
        self.received
            .lock()
            .expect("lock")
            .iter()
            .map(|c| {
                serde_json::to_value(&c.action).expect("json")["action"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string()
            })
            .collect()
    }

    /// The actions received but `standby` (which the backend hands over without waiting).
    pub fn work(&self) -> Vec<String> {
        let mut actions = self.actions();
        actions.retain(|a| a != "standby");
        actions
    }

    /// The deploys received.
    pub fn deploys(&self) -> Vec<metal3_agent_api::Deploy> {
        self.received
            .lock()
            .expect("lock")
            .iter()
            .filter_map(|c| match &c.action {
                Action::Deploy(d) => Some((**d).clone()),
                _ => None,
            })
            .collect()
    }
}

/// One boot of the stand-in.
struct Boot {
    boots: u64,
    agent: StandIn,
    inventory_due: bool,
    status: Option<CommandStatus>,
    /// The command runs one more report, then ends.
    finishing: bool,
}

/// What the stand-in's inventory says: the server's NICs, two disks, the BMC's system.
fn inventory(macs: &[String]) -> InspectionData {
    let disk = |name: &str, serial: &str, gib: u64| Disk {
        name: name.into(),
        serial: serial.into(),
        size: gib << 30,
        model: "QEMU HARDDISK".into(),
        ..Disk::default()
    };
    InspectionData {
        inventory: Inventory {
            disks: vec![disk("/dev/vda", "D0", 8), disk("/dev/vdb", "D1", 4)],
            interfaces: macs
                .iter()
                .enumerate()
                .map(|(i, mac)| Interface {
                    name: format!("eth{i}"),
                    mac_address: mac.clone(),
                    has_carrier: i == 0,
                    ipv4_address: (i == 0).then(|| "10.0.2.15".to_string()),
                    ..Interface::default()
                })
                .collect(),
            system_vendor: SystemVendor {
                manufacturer: "QEMU".into(),
                ..SystemVendor::default()
            },
            ..Inventory::default()
        },
        ..InspectionData::default()
    }
}

fn status(id: &str, state: CommandState) -> CommandStatus {
    CommandStatus {
        id: id.into(),
        state,
        ..CommandStatus::default()
    }
}

/// A reset of the server through its BMC, as the host doing it itself.
async fn reset(bmc: &str, system: &str, kind: &str) {
    let response = reqwest::Client::new()
        .post(format!(
            "{bmc}/redfish/v1/Systems/{system}/Actions/ComputerSystem.Reset"
        ))
        .basic_auth("admin", Some("pw"))
        .json(&serde_json::json!({"ResetType": kind}))
        .send()
        .await
        .expect("reset");
    assert!(
        response.status().is_success(),
        "{kind}: {}",
        response.status()
    );
}

/// Runs the agent of server `index` for as long as the test runs.
pub async fn run(fleet: Arc<Fleet>, index: usize, bmc: String, script: Arc<Script>) {
    let mut current: Option<Boot> = None;
    loop {
        tokio::time::sleep(Duration::from_millis(15)).await;
        let Some(server) = fleet.host(index) else {
            return;
        };
        let booted = match (&server.running, server.power) {
            (Running::VirtualMedia(url), Power::On) if url.contains("/agent/") => Some(url.clone()),
            _ => None,
        };
        let Some(url) = booted else {
            current = None;
            continue;
        };
        if current.as_ref().is_none_or(|b| b.boots != server.boots) {
            current = StandIn::boot(&url, server.macs.clone())
                .await
                .ok()
                .map(|agent| Boot {
                    boots: server.boots,
                    agent,
                    inventory_due: true,
                    status: None,
                    finishing: false,
                });
        }
        let Some(boot) = current.as_mut() else {
            continue;
        };
        if boot.finishing {
            boot.finishing = false;
            if let Some(s) = boot.status.as_mut() {
                s.state = CommandState::Done;
                s.progress = None;
            }
        }
        let inventory = boot.inventory_due.then(|| inventory(&server.macs));
        // Refused (the hub does not expect the host yet): keep reporting, as the agent does.
        let Ok(reply) = boot.agent.report(inventory, boot.status.clone()).await else {
            continue;
        };
        boot.inventory_due = false;
        let Some(command) = reply.command else {
            hold_or_finish(boot, &script);
            continue;
        };
        {
            let mut received = script.received.lock().expect("lock");
            if !received.iter().any(|c| c.id == command.id) {
                received.push(command.clone());
            }
        }
        let running = || status(&command.id, CommandState::Running);
        match &command.action {
            Action::Inspect => {
                boot.inventory_due = true;
                boot.status = Some(status(&command.id, CommandState::Done));
            }
            Action::Clean { .. } | Action::RunStep { .. } => {
                boot.status = Some(running());
                boot.finishing = true;
            }
            Action::Deploy(_) => {
                let failure = script.fail_deploy.lock().expect("lock").clone();
                boot.status = Some(match failure {
                    Some(message) => CommandStatus {
                        message,
                        ..status(&command.id, CommandState::Failed)
                    },
                    None => CommandStatus {
                        step: "writing".into(),
                        progress: Some(Progress {
                            bytes_done: 3 << 20,
                            bytes_total: Some(8 << 20),
                            bytes_per_second: 1 << 20,
                        }),
                        ..running()
                    },
                });
                hold_or_finish(boot, &script);
            }
            Action::Standby => boot.status = Some(running()),
            Action::Reboot => {
                // The real agent syncs and reboots at once: no report after this.
                reset(&bmc, &server.id, "ForceRestart").await;
                current = None;
            }
            Action::PowerOff => {
                reset(&bmc, &server.id, "ForceOff").await;
                current = None;
            }
        }
    }
}

/// A running deploy ends at the next report unless the script holds it.
fn hold_or_finish(boot: &mut Boot, script: &Script) {
    let deploying = boot
        .status
        .as_ref()
        .is_some_and(|s| s.state == CommandState::Running && s.id.starts_with("deploy-"));
    if deploying {
        boot.finishing = !script.hold_deploy.load(std::sync::atomic::Ordering::SeqCst);
    }
}
