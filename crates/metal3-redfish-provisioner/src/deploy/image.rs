//! Provisioning a disk image through the agent: the agent up (with fast track, the one
//! standing by: no reboot), `Deploy` (or the custom deploy step) followed until it ends, then
//! Secure Boot as the host asks, a persistent `Hdd` boot override in the host's boot mode,
//! `Reboot` told to the agent (a BMC restart when the agent is gone), and the CD ejected.
//!
//! Resumable from the BMC and the agent: "our agent image in the CD and the override on `Hdd`"
//! means the image was written and the host is to reboot into it; the agent keeps reporting its
//! last command, whose id a restarted operator derives again, so nothing is written twice and
//! no host is called provisioned before it was told to boot its disk.

use metal3_api::v1alpha1::BootMode;
use metal3_provisioner::{HostData, Outcome, ProvisionData};
use serde_json::json;

use super::instance;
use crate::RedfishProvisioner;
use crate::agent::{AgentState, OnHost, Ran, command, command_id, describe, override_mode, wait};
use crate::config::AgentSettings;
use crate::errors::{Fault, Step};
use crate::power::is_on;

/// Whether the system boots its disk persistently in `mode` (set once the image is written).
fn disk_override(at: &OnHost, mode: BootMode) -> bool {
    let boot = &at.system.boot;
    boot.boot_source_override_target.as_deref() == Some("Hdd")
        && boot.boot_source_override_enabled.as_deref() == Some("Continuous")
        && boot
            .boot_source_override_mode
            .as_deref()
            .is_none_or(|m| m == override_mode(mode))
}

impl RedfishProvisioner {
    /// Writes the image (or runs the custom deploy step) and boots the host into its disk.
    pub(crate) async fn provision_image(
        &self,
        host: &HostData,
        data: &ProvisionData,
        agent: &AgentSettings,
    ) -> Step<Outcome> {
        instance::check(host, data).map_err(Fault::Failed)?;
        self.cache.remember(host, |k| k.provisioning = true);
        let at = self.on_host(host).await?;
        if self.agent_media(agent, host, &at) && disk_override(&at, data.boot_mode) {
            return self.reboot_into_disk(host, agent, &at).await;
        }
        let view = match self.agent_up(host, agent, &at, false).await? {
            AgentState::Booting { .. } => return Ok(wait(self.config.poll)),
            AgentState::Up(view) => view,
        };
        let order = instance::command(host, data, &view.boot_id).map_err(Fault::Failed)?;
        let what = match &data.custom_deploy {
            Some(c) => format!("running the custom deploy step {}", c.method),
            None => "writing the image".to_string(),
        };
        match self.order(agent, host, &view, order) {
            Ran::NotYet => {
                self.show(host, agent, format!("{what}: handed to the agent"));
                Ok(wait(self.config.poll))
            }
            Ran::Running(status) => {
                self.show(host, agent, describe(&what, &status));
                Ok(wait(self.config.poll))
            }
            Ran::Failed(message) => Err(Fault::Failed(format!("{what} failed: {message}"))),
            Ran::Done(_) => {
                // The written disk boots next, and on every boot after.
                self.set_secure_boot(
                    &at.conn,
                    &at.system,
                    data.boot_mode == BootMode::UefiSecureBoot,
                )
                .await?;
                let patch = json!({"Boot": {
                    "BootSourceOverrideTarget": "Hdd",
                    "BootSourceOverrideEnabled": "Continuous",
                    "BootSourceOverrideMode": override_mode(data.boot_mode),
                }});
                at.conn.patch(&at.path, &patch, None).await?;
                self.show(host, agent, "rebooting into the written disk");
                Ok(wait(self.config.poll))
            }
        }
    }

    /// The image is written and the host set to boot its disk: the agent reboots it (done once
    /// the command is handed over; the CD is ejected). An agent that does not report (gone, or
    /// unseen since an operator restart) gets the grace time, then the BMC restarts the host.
    async fn reboot_into_disk(
        &self,
        host: &HostData,
        agent: &AgentSettings,
        at: &OnHost,
    ) -> Step<Outcome> {
        self.expect_agent(agent, host)?;
        if let Some(view) = self.fresh_agent(host, agent) {
            let id = command_id("reboot", &view.boot_id, &[]);
            let handed_over = view.delivered.as_deref() == Some(id.as_str());
            let ran = self.order(
                agent,
                host,
                &view,
                command(id, metal3_agent_api::Action::Reboot),
            );
            if ran == Ran::NotYet && !handed_over {
                return Ok(wait(self.config.poll));
            }
            self.eject(&at.conn, &at.cd).await?;
            return Ok(Outcome::Done);
        }
        let since = match self.cache.known(host).agent_wait {
            Some(t) => t,
            None => {
                let now = std::time::Instant::now();
                self.cache.remember(host, |k| k.agent_wait = Some(now));
                now
            }
        };
        if since.elapsed() < agent.grace {
            self.show(
                host,
                agent,
                "waiting for the agent to reboot the host into its disk",
            );
            return Ok(wait(self.config.poll));
        }
        self.eject(&at.conn, &at.cd).await?;
        self.boot(host, &at.conn, &at.path, is_on(&at.system))
            .await?;
        Ok(Outcome::Done)
    }
}
