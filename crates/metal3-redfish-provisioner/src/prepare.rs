//! Preparing and servicing: staging BIOS settings (`@Redfish.Settings`), firmware updates
//! (`SimpleUpdate`) and, when preparing, hardware RAID volumes (`OnReset`) together, applying
//! them with a single reboot, and following their task monitors until they took effect. When
//! preparing with the agent and `automatedCleaningMode: metadata`, the agent cleans the disks
//! first (then stands by, or powers the host off), as upstream cleans before a host becomes
//! available.

use std::collections::BTreeMap;
use std::time::Instant;

use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use metal3_api::v1alpha1::{AutomatedCleaningMode, HardwareRaidLevel, HardwareRaidVolume};
use metal3_provisioner::{HostData, Outcome, PrepareData, PrepareOutcome};
use metal3_redfish::types::{Bios, Collection, ComputerSystem, Storage, Volume};
use metal3_redfish::{Connection, TaskProgress};
use serde_json::{Value, json};

use crate::RedfishProvisioner;
use crate::agent::{AgentState, Ran, command_id};
use crate::cache::{Operation, Phase, Staged};
use crate::config::AgentSettings;
use crate::deploy::clean;
use crate::errors::{Fault, Step};
use crate::power::is_on;
use crate::schema;

impl RedfishProvisioner {
    /// Prepares (`raid`) or services the host: cleaning with the agent when preparing, then
    /// the staged changes.
    pub(crate) async fn do_prepare(
        &self,
        host: &HostData,
        data: &PrepareData,
        raid: bool,
    ) -> Step<PrepareOutcome> {
        if raid
            && let Some(agent) = self.agent()
            && self.facts(host).cleaning == AutomatedCleaningMode::Metadata
            && self.phase(host, Operation::Prepare) != Some(Phase::Rested)
        {
            let cleaned = self.clean_with_agent(host, agent).await;
            match cleaned {
                Ok(None) => {}
                Ok(Some(waiting)) => return Ok(waiting),
                Err(e) => {
                    self.agent_finished(host);
                    return Err(e);
                }
            }
        }
        let result = self.stage_and_apply(host, data, raid).await;
        if matches!(
            result,
            Ok(PrepareOutcome {
                outcome: Outcome::Done,
                ..
            }) | Err(Fault::Failed(_))
        ) {
            self.agent_finished(host);
        }
        result
    }

    /// The agent cleans every disk's metadata, then rests; `None` once it does, else how the
    /// cleaning stands.
    async fn clean_with_agent(
        &self,
        host: &HostData,
        agent: &AgentSettings,
    ) -> Step<Option<PrepareOutcome>> {
        const OP: Operation = Operation::Prepare;
        let waiting = |started| {
            Some(PrepareOutcome {
                outcome: Outcome::wait(self.config.poll),
                started,
            })
        };
        let at = self.on_host(host).await?;
        if self.phase(host, OP).is_none() {
            let view = match self.agent_up(host, agent, &at, false).await? {
                AgentState::Booting { started } => return Ok(waiting(started)),
                AgentState::Up(view) => view,
            };
            let id = command_id("clean", &view.boot_id, &[]);
            match self.order(agent, host, &view, clean(id)) {
                Ran::Failed(m) => {
                    return Err(Fault::Failed(format!("cleaning the disks failed: {m}")));
                }
                Ran::Done(_) => self.set_phase(host, OP, Some(Phase::Resting)),
                ran => {
                    self.show(host, agent, "cleaning the disks' metadata");
                    return Ok(waiting(ran == Ran::NotYet));
                }
            }
        }
        if !self.agent_rest(host, agent, &at).await? {
            return Ok(waiting(false));
        }
        self.set_phase(host, OP, Some(Phase::Rested));
        Ok(None)
    }

    /// Stages what `data` asks for (RAID volumes only when `raid`) and applies it with one
    /// reboot; done when every staged change has taken effect (the host is then left powered
    /// off).
    async fn stage_and_apply(
        &self,
        host: &HostData,
        data: &PrepareData,
        raid: bool,
    ) -> Step<PrepareOutcome> {
        let known = self.cache.known(host);
        let (conn, path) = self.connect(host).await?;
        if let Some(staged) = known.staged {
            return self.follow_staged(host, &conn, &path, &staged).await;
        }

        let system = self.system(host, &conn, &path).await?;
        let mut monitors = Vec::new();
        let mut staged_any = false;

        // BIOS settings that differ from what the BMC has now.
        if !data.target_firmware_settings.is_empty()
            && self
                .stage_bios(&conn, &system, &data.target_firmware_settings)
                .await?
        {
            staged_any = true;
        }

        // Firmware updates, one SimpleUpdate each.
        for update in &data.target_firmware_components {
            let reply = conn
                .post(
                    "/redfish/v1/UpdateService/Actions/UpdateService.SimpleUpdate",
                    &json!({"ImageURI": update.url, "TransferProtocol": transfer(&update.url), "Targets": [path]}),
                )
                .await?;
            if let Some(monitor) = reply.location {
                monitors.push(monitor);
            }
            staged_any = true;
        }

        // Hardware RAID: replace the volumes when the request differs from what is there.
        if raid
            && let Some(volumes) = data
                .target_raid
                .as_ref()
                .and_then(|r| r.hardware_raid_volumes.clone())
            && data.target_raid != data.actual_raid
        {
            monitors.extend(self.stage_raid(&conn, &system, &volumes).await?);
            staged_any = true;
        }

        if !staged_any {
            return Ok(PrepareOutcome {
                outcome: Outcome::Done,
                started: true,
            });
        }
        self.boot(host, &conn, &path, is_on(&system)).await?;
        self.cache.remember(host, |k| {
            k.staged = Some(Staged {
                monitors,
                rebooted: Some(Instant::now()),
            });
            k.forget_firmware();
        });
        Ok(PrepareOutcome {
            outcome: Outcome::wait(self.config.poll),
            started: true,
        })
    }

    /// Where changes staged earlier stand: waiting while their tasks run (failed when one
    /// failed or they outlast the boot timeout), then powering the host off; done once it is.
    async fn follow_staged(
        &self,
        host: &HostData,
        conn: &Connection,
        path: &str,
        staged: &Staged,
    ) -> Step<PrepareOutcome> {
        let mut running = false;
        for monitor in &staged.monitors {
            match conn.task(monitor).await? {
                TaskProgress::Running(_) => running = true,
                TaskProgress::Done(Some(task)) if task.failed() => {
                    self.cache.remember(host, |k| {
                        k.staged = None;
                        k.forget_firmware();
                    });
                    let why = task
                        .messages
                        .iter()
                        .filter_map(|m| m.message.clone())
                        .collect::<Vec<_>>()
                        .join("; ");
                    return Err(Fault::Failed(format!(
                        "a staged change failed on the BMC: {why}"
                    )));
                }
                TaskProgress::Done(_) => {}
            }
        }
        if running {
            let timed_out = staged
                .rebooted
                .is_some_and(|t| t.elapsed() > self.config.boot_timeout);
            if timed_out {
                self.cache.remember(host, |k| {
                    k.staged = None;
                    k.forget_firmware();
                });
                return Err(Fault::Failed(
                    "the staged changes did not complete within the boot timeout".into(),
                ));
            }
            return Ok(PrepareOutcome {
                outcome: Outcome::wait(self.config.poll),
                started: false,
            });
        }
        let system = self.system(host, conn, path).await?;
        if is_on(&system) {
            self.reset(host, conn, path, "ForceOff").await?;
            return Ok(PrepareOutcome {
                outcome: Outcome::wait(self.config.poll),
                started: false,
            });
        }
        self.cache.remember(host, |k| {
            k.staged = None;
            k.forget_firmware();
        });
        Ok(PrepareOutcome {
            outcome: Outcome::Done,
            started: false,
        })
    }

    /// Stages the BIOS settings in `wanted` that differ from what the BMC has now, typed as
    /// the attribute registry says; whether anything was staged.
    async fn stage_bios(
        &self,
        conn: &Connection,
        system: &ComputerSystem,
        wanted: &BTreeMap<String, IntOrString>,
    ) -> Step<bool> {
        let bios_link = system
            .bios
            .clone()
            .ok_or_else(|| Fault::Failed("the system has no Bios resource".into()))?;
        let bios: Bios = conn.get(&bios_link.id).await?;
        let schema = match &bios.attribute_registry {
            Some(r) => self.registry_schema(conn, r).await.ok(),
            None => None,
        };
        let mut changes = serde_json::Map::new();
        for (name, wanted) in wanted {
            let wanted = metal3_api::v1alpha1::setting_text(wanted);
            let current = bios.attributes.get(name);
            if current.map(schema::text).as_deref() == Some(wanted.as_str()) {
                continue;
            }
            let kind = schema
                .as_ref()
                .and_then(|s| s.get(name))
                .and_then(|s| s.attribute_type);
            changes.insert(name.clone(), schema::typed(&wanted, current, kind));
        }
        if changes.is_empty() {
            return Ok(false);
        }
        let settings = bios
            .settings
            .and_then(|s| s.settings_object)
            .map_or_else(|| format!("{}/Settings", bios_link.id), |l| l.id);
        conn.patch(&settings, &json!({"Attributes": changes}), None)
            .await?;
        Ok(true)
    }

    /// Replaces the RAID controller's volumes with `volumes`, applied at the next reset;
    /// returns the task monitors the BMC gave.
    async fn stage_raid(
        &self,
        conn: &Connection,
        system: &ComputerSystem,
        volumes: &[HardwareRaidVolume],
    ) -> Step<Vec<String>> {
        let link = system.storage.clone().ok_or_else(|| {
            Fault::Failed("hardware RAID was requested but the system has no Storage".into())
        })?;
        let list: Collection = conn.get(&link.id).await?;
        let storage_path = list.members.first().map(|m| m.id.clone()).ok_or_else(|| {
            Fault::Failed(
                "hardware RAID was requested but the system has no RAID controller".into(),
            )
        })?;
        let storage: Storage = conn.get(&storage_path).await?;
        let volumes_path = storage
            .volumes
            .map(|v| v.id)
            .unwrap_or_else(|| format!("{storage_path}/Volumes"));
        let existing: Collection = conn.get(&volumes_path).await?;
        let on_reset = json!({"@Redfish.OperationApplyTime": "OnReset"});
        let mut monitors = Vec::new();
        for v in &existing.members {
            let _: Volume = conn.get(&v.id).await?;
            let reply = conn.delete_with(&v.id, &on_reset).await?;
            monitors.extend(reply.location);
        }
        for wanted in volumes {
            let raid = match wanted.level {
                HardwareRaidLevel::Raid0 => "RAID0",
                HardwareRaidLevel::Raid1 => "RAID1",
                HardwareRaidLevel::Raid5 => "RAID5",
                HardwareRaidLevel::Raid6 => "RAID6",
                HardwareRaidLevel::Raid10 => "RAID10",
                other => {
                    return Err(Fault::Failed(format!(
                        "hardware RAID level {other} is not supported through Redfish"
                    )));
                }
            };
            let mut body = json!({"RAIDType": raid, "@Redfish.OperationApplyTime": "OnReset"});
            if !wanted.name.is_empty() {
                body["Name"] = Value::from(wanted.name.as_str());
            }
            if let Some(gib) = wanted.size_gibibytes.filter(|g| *g > 0) {
                body["CapacityBytes"] = Value::from(gib as u64 * 1024 * 1024 * 1024);
            }
            let reply = conn.post(&volumes_path, &body).await?;
            if reply.status == 202 {
                monitors.extend(reply.location);
            }
        }
        Ok(monitors)
    }
}

/// `TransferProtocol` for an image URL.
fn transfer(url: &str) -> &'static str {
    if url.starts_with("https://") {
        "HTTPS"
    } else {
        "HTTP"
    }
}
