//! Provisioning and deprovisioning. Provisioning boots a live ISO, from virtual media or by
//! UEFI HTTP boot (Secure Boot on when the host asks for it): boot override first, then the
//! medium, then one power on or restart; done when the override is used up with our medium
//! in and the host on, which a restarted operator can tell from the BMC alone. Disk images
//! and custom deploy steps go through the in-band agent (`image`, with the command built in
//! the pure `instance`) when the operator runs its hub, and are refused otherwise.
//! Deprovisioning ejects the ISO, clears the override and Secure Boot and powers the host off;
//! with the agent it first cleans the disks (`automatedCleaningMode: metadata`), and with fast
//! track leaves the agent standing by instead of powering the host off.

mod image;
mod instance;

use std::time::Instant;

use metal3_api::v1alpha1::{AutomatedCleaningMode, BootMode};
use metal3_provisioner::{HostData, Outcome, ProvisionData};
use metal3_redfish::Connection;
use metal3_redfish::types::{ComputerSystem, SecureBoot, VirtualMedia};
use serde_json::json;

use crate::RedfishProvisioner;
use crate::address;
use crate::agent::{AgentState, Ran, command, command_id, wait};
use crate::cache::{Operation, Phase};
use crate::config::AgentSettings;
use crate::errors::{Fault, Step};
use crate::power::is_on;

/// Where a live-ISO boot stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum LiveIso {
    /// The host runs the ISO.
    Running,
    /// We restarted it into the ISO a moment ago; it is still coming up.
    Booting,
    /// It must be booted (or booted again) into the ISO.
    Boot,
}

/// Decides from the BMC's state alone, so a restarted operator neither boots a host twice nor
/// calls a host provisioned that never booted the ISO. `ours`: our ISO is what the override
/// points at (medium inserted or HTTP boot URI set); `pending`: the one-time override is not
/// used yet. The override is always set before the ISO, so "used + ours + on" can only follow
/// a boot that found the ISO.
fn live_iso(ours: bool, pending: bool, on: bool, restarted_recently: bool, force: bool) -> LiveIso {
    match (ours && on && !force, pending) {
        (true, false) => LiveIso::Running,
        (true, true) if restarted_recently => LiveIso::Booting,
        _ => LiveIso::Boot,
    }
}

impl RedfishProvisioner {
    /// Whether another host may start provisioning (the capacity counts the others).
    pub(crate) fn has_room(&self, host: &HostData) -> bool {
        self.config.capacity == 0 || self.cache.provisioning_besides(host) < self.config.capacity
    }

    /// Provisions the host; a host that is done or failed no longer counts against the
    /// capacity.
    pub(crate) async fn do_provision(
        &self,
        host: &HostData,
        data: &ProvisionData,
        force: bool,
    ) -> Step<Outcome> {
        if let Some(message) = crate::switchports::unsupported(&host.network_interfaces) {
            return Ok(Outcome::Failed { message });
        }
        let result = match self.agent() {
            Some(agent) if !data.image.is_live_iso() || data.custom_deploy.is_some() => {
                self.provision_image(host, data, agent).await
            }
            _ => self.boot_live_iso(host, data, force).await,
        };
        if matches!(result, Ok(Outcome::Done) | Err(Fault::Failed(_))) {
            self.cache.remember(host, |k| k.provisioning = false);
            self.agent_finished(host);
        }
        result
    }

    /// Boots the live ISO `data` names, from virtual media or by UEFI HTTP boot.
    async fn boot_live_iso(
        &self,
        host: &HostData,
        data: &ProvisionData,
        force: bool,
    ) -> Step<Outcome> {
        if data.custom_deploy.is_some() {
            return Err(Fault::Failed(
                "customDeploy needs the in-band agent, which the redfish provisioner does not \
                 have yet; use --provisioner ironic for custom deploy steps"
                    .into(),
            ));
        }
        if !data.image.is_live_iso() {
            return Err(Fault::Failed(format!(
                "the redfish provisioner boots live ISOs (image.format: live-iso) from virtual \
                 media; writing a {} image to disk needs the in-band agent, which it does not \
                 have yet — use a live ISO or --provisioner ironic",
                data.image
                    .disk_format
                    .map_or_else(|| "disk".to_string(), |f| f.to_string())
            )));
        }
        if address::uefi_http(&host.bmc_address) {
            return self.provision_http(host, data, force).await;
        }
        let url = data.image.url.as_str();
        let (conn, path) = self.connect(host).await?;
        let system = self.system(host, &conn, &path).await?;
        let cd = self.media_path(host, &conn, &system, false).await?;
        let media: VirtualMedia = conn.get(&cd).await?;
        let ours = media.inserted == Some(true) && media.image.as_deref() == Some(url);
        let boot = &system.boot;
        let pending = boot.boot_source_override_target.as_deref() == Some("Cd")
            && boot.boot_source_override_enabled.as_deref() == Some("Once");
        if let Some(outcome) = self.live_iso_progress(host, ours, pending, &system, force) {
            return Ok(outcome);
        }
        self.set_secure_boot(&conn, &system, data.boot_mode == BootMode::UefiSecureBoot)
            .await?;
        // Boot override first, then the medium, then one power on or restart.
        let mode = if data.boot_mode == BootMode::Legacy {
            "Legacy"
        } else {
            "UEFI"
        };
        if !pending || boot.boot_source_override_mode.as_deref() != Some(mode) {
            let patch = json!({"Boot": {
                "BootSourceOverrideTarget": "Cd",
                "BootSourceOverrideEnabled": "Once",
                "BootSourceOverrideMode": mode,
            }});
            conn.patch(&path, &patch, None).await?;
        }
        self.insert(&conn, &cd, &media, url).await?;
        self.boot(host, &conn, &path, is_on(&system)).await?;
        self.cache.remember(host, |k| {
            k.booted = Some(Instant::now());
            k.provisioning = true;
        });
        Ok(Outcome::wait(self.config.poll))
    }

    /// Live ISO by UEFI HTTP boot: the firmware fetches the ISO itself, no virtual media.
    async fn provision_http(
        &self,
        host: &HostData,
        data: &ProvisionData,
        force: bool,
    ) -> Step<Outcome> {
        if data.boot_mode == BootMode::Legacy {
            return Err(Fault::Failed(
                "redfish-uefihttp boots over UEFI HTTP, which needs bootMode UEFI or \
                 UEFISecureBoot"
                    .into(),
            ));
        }
        let url = data.image.url.as_str();
        let (conn, path) = self.connect(host).await?;
        let system = self.system(host, &conn, &path).await?;
        let boot = &system.boot;
        let pending = boot.boot_source_override_target.as_deref() == Some("UefiHttp")
            && boot.boot_source_override_enabled.as_deref() == Some("Once");
        let ours = boot.http_boot_uri.as_deref() == Some(url);
        if let Some(outcome) = self.live_iso_progress(host, ours, pending, &system, force) {
            return Ok(outcome);
        }
        self.set_secure_boot(&conn, &system, data.boot_mode == BootMode::UefiSecureBoot)
            .await?;
        let patch = json!({"Boot": {
            "BootSourceOverrideTarget": "UefiHttp",
            "BootSourceOverrideEnabled": "Once",
            "BootSourceOverrideMode": "UEFI",
            "HttpBootUri": url,
        }});
        conn.patch(&path, &patch, None).await?;
        self.boot(host, &conn, &path, is_on(&system)).await?;
        self.cache.remember(host, |k| {
            k.booted = Some(Instant::now());
            k.provisioning = true;
        });
        Ok(Outcome::wait(self.config.poll))
    }

    /// Done or still booting, when the BMC's state says so; `None` when the host must be
    /// (re)booted into the ISO.
    fn live_iso_progress(
        &self,
        host: &HostData,
        ours: bool,
        pending: bool,
        system: &ComputerSystem,
        force: bool,
    ) -> Option<Outcome> {
        let restarted_recently = self
            .cache
            .known(host)
            .booted
            .is_some_and(|t| t.elapsed() < self.config.boot_timeout);
        match live_iso(ours, pending, is_on(system), restarted_recently, force) {
            LiveIso::Running => {
                self.cache.remember(host, |k| {
                    k.provisioning = false;
                    k.booted = None;
                });
                Some(Outcome::Done)
            }
            LiveIso::Booting => Some(Outcome::wait(self.config.poll)),
            LiveIso::Boot => None,
        }
    }

    /// Turns UEFI Secure Boot on or off for the next boot, when it is not already so.
    pub(crate) async fn set_secure_boot(
        &self,
        conn: &Connection,
        system: &ComputerSystem,
        on: bool,
    ) -> Step<()> {
        let Some(link) = &system.secure_boot else {
            return if on {
                Err(Fault::Failed(
                    "bootMode UEFISecureBoot needs Secure Boot, but the BMC has no SecureBoot \
                     resource"
                        .into(),
                ))
            } else {
                Ok(())
            };
        };
        let current: SecureBoot = conn.get(&link.id).await?;
        if current.secure_boot_enable.unwrap_or(false) != on {
            conn.patch(&link.id, &json!({"SecureBootEnable": on}), None)
                .await?;
        }
        Ok(())
    }

    /// Removes the deployment: with the agent, cleaning first (see [`Self::deprovision_with_agent`]);
    /// without, the host is powered off with the ISO ejected.
    pub(crate) async fn do_deprovision(
        &self,
        host: &HostData,
        cleaning: AutomatedCleaningMode,
    ) -> Step<Outcome> {
        let result = match self.agent() {
            Some(agent) if cleaning != AutomatedCleaningMode::Disabled || agent.fast_track => {
                self.deprovision_with_agent(host, agent, cleaning).await
            }
            _ => self.power_down(host).await,
        };
        if matches!(result, Ok(Outcome::Done) | Err(Fault::Failed(_))) {
            self.agent_finished(host);
        }
        result
    }

    /// The agent up, the disks cleaned (`metadata`), then the agent standing by (fast track:
    /// the host stays on, ready for the next provisioning) or the host powered off with the CD
    /// ejected and the override cleared.
    async fn deprovision_with_agent(
        &self,
        host: &HostData,
        agent: &AgentSettings,
        cleaning: AutomatedCleaningMode,
    ) -> Step<Outcome> {
        const OP: Operation = Operation::Deprovision;
        if self.phase(host, OP).is_none() {
            let at = self.on_host(host).await?;
            let view = match self.agent_up(host, agent, &at, false).await? {
                AgentState::Booting { .. } => return Ok(wait(self.config.poll)),
                AgentState::Up(view) => view,
            };
            if cleaning == AutomatedCleaningMode::Metadata {
                let id = command_id("clean", &view.boot_id, &[]);
                match self.order(agent, host, &view, clean(id)) {
                    Ran::Failed(m) => {
                        return Err(Fault::Failed(format!("cleaning the disks failed: {m}")));
                    }
                    Ran::Done(_) => {}
                    _ => {
                        self.show(host, agent, "cleaning the disks' metadata");
                        return Ok(wait(self.config.poll));
                    }
                }
            }
            self.set_phase(host, OP, Some(Phase::Resting));
        }
        if agent.fast_track {
            let at = self.on_host(host).await?;
            self.agent_rest(host, agent, &at).await?;
            self.cache.remember(host, |k| {
                k.provisioning = false;
                k.booted = None;
            });
            return Ok(Outcome::Done);
        }
        self.power_down(host).await
    }

    /// Ejects the ISO, clears the boot override and Secure Boot, and powers the host off (the
    /// agent, when it reports, powers it off itself); done once it is off.
    async fn power_down(&self, host: &HostData) -> Step<Outcome> {
        let (conn, path) = self.connect(host).await?;
        let system = self.system(host, &conn, &path).await?;
        if let Ok(cd) = self.media_path(host, &conn, &system, false).await {
            self.eject(&conn, &cd).await?;
        }
        self.set_secure_boot(&conn, &system, false).await?;
        let boot = &system.boot;
        if boot
            .boot_source_override_enabled
            .as_deref()
            .is_some_and(|e| e != "Disabled")
        {
            conn.patch(
                &path,
                &json!({"Boot": {"BootSourceOverrideEnabled": "Disabled", "BootSourceOverrideTarget": "None"}}),
                None,
            )
            .await?;
        }
        if is_on(&system) {
            match self.agent() {
                Some(agent) => {
                    self.power_off_agent(host, agent, &conn, &path, &system)
                        .await?;
                }
                None => self.reset(host, &conn, &path, "ForceOff").await?,
            }
            return Ok(Outcome::wait(self.config.poll));
        }
        self.cache.remember(host, |k| {
            k.provisioning = false;
            k.booted = None;
        });
        Ok(Outcome::Done)
    }
}

/// Cleaning as `automatedCleaningMode: metadata` asks.
pub(crate) fn clean(id: String) -> metal3_agent_api::Command {
    command(
        id,
        metal3_agent_api::Action::Clean {
            mode: metal3_agent_api::CleanMode::Metadata,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::{LiveIso, live_iso};

    #[test]
    fn live_iso_decisions() {
        // (ours, pending, on, restarted recently, force) → decision
        let cases = [
            ((true, false, true, false, false), LiveIso::Running),
            ((true, false, true, true, false), LiveIso::Running),
            ((true, true, true, true, false), LiveIso::Booting),
            ((true, true, true, false, false), LiveIso::Boot),
            ((true, false, false, false, false), LiveIso::Boot),
            ((false, false, true, false, false), LiveIso::Boot),
            ((true, false, true, false, true), LiveIso::Boot),
            ((false, true, true, true, false), LiveIso::Boot),
        ];
        for ((ours, pending, on, recent, force), expected) in cases {
            assert_eq!(
                live_iso(ours, pending, on, recent, force),
                expected,
                "ours={ours} pending={pending} on={on} recent={recent} force={force}"
            );
        }
    }
}
