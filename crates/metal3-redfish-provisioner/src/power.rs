//! Power: turning the host on and off (gracefully first when asked, then by force), the
//! resets other phases use, and the power state and health readings answered from memory
//! between checks.

use std::time::Instant;

use metal3_provisioner::{HardwareState, Health, HostData, Outcome, RebootMode};
use metal3_redfish::Connection;
use metal3_redfish::types::ComputerSystem;
use serde_json::json;

use crate::RedfishProvisioner;
use crate::errors::Step;

/// Whether the system is on (or coming on).
pub(crate) fn is_on(system: &ComputerSystem) -> bool {
    matches!(system.power_state.as_deref(), Some("On" | "PoweringOn"))
}

/// The BMC's health verdict on the system.
pub(crate) fn health_of(system: &ComputerSystem) -> Health {
    match system.status.health.as_deref() {
        Some("OK") => Health::Ok,
        Some("Warning") => Health::Warning,
        Some("Critical") => Health::Critical,
        _ => Health::Unknown,
    }
}

impl RedfishProvisioner {
    /// Asks for a `ComputerSystem.Reset` of `kind` and forgets the readings it invalidates.
    pub(crate) async fn reset(
        &self,
        host: &HostData,
        conn: &Connection,
        path: &str,
        kind: &'static str,
    ) -> Step<()> {
        conn.post(
            &format!("{path}/Actions/ComputerSystem.Reset"),
            &json!({"ResetType": kind}),
        )
        .await?;
        let now = Instant::now();
        self.cache.remember(host, |k| {
            k.power_request = Some((kind, now));
            k.power = None;
            // Settings and firmware we staged apply at this boot: read them again afterwards.
            // A boot with nothing staged changes neither, so the readings stay.
            if k.staged.is_some() {
                k.forget_firmware();
            }
        });
        Ok(())
    }

    /// Powers on, or restarts a host that is on.
    pub(crate) async fn boot(
        &self,
        host: &HostData,
        conn: &Connection,
        path: &str,
        on: bool,
    ) -> Step<()> {
        self.reset(host, conn, path, if on { "ForceRestart" } else { "On" })
            .await
    }

    /// Brings the host to the power state `on`; done when the BMC reports it there.
    pub(crate) async fn do_power(
        &self,
        host: &HostData,
        on: bool,
        mode: RebootMode,
    ) -> Step<Outcome> {
        let (conn, path) = self.connect(host).await?;
        let system = self.system(host, &conn, &path).await?;
        if is_on(&system) == on {
            self.cache.remember(host, |k| {
                k.power_request = None;
                k.soft_off_since = None;
            });
            return Ok(Outcome::Done);
        }
        let known = self.cache.known(host);
        let now = Instant::now();
        if on {
            let asked = known
                .power_request
                .is_some_and(|(kind, at)| kind == "On" && now - at < self.config.boot_timeout);
            if !asked {
                self.reset(host, &conn, &path, "On").await?;
            }
            return Ok(Outcome::wait(self.config.poll));
        }
        match (mode, known.soft_off_since) {
            (RebootMode::Soft, None) => {
                self.reset(host, &conn, &path, "GracefulShutdown").await?;
                self.cache.remember(host, |k| k.soft_off_since = Some(now));
            }
            (RebootMode::Soft, Some(since)) if now - since < self.config.soft_power_off_timeout => {
            }
            _ => {
                let asked = known.power_request.is_some_and(|(kind, at)| {
                    kind == "ForceOff" && now - at < self.config.poll * 5
                });
                if !asked {
                    self.reset(host, &conn, &path, "ForceOff").await?;
                }
            }
        }
        Ok(Outcome::wait(self.config.poll))
    }

    /// The power state, read from the BMC at most once per power check interval; unknown
    /// when the BMC cannot be read.
    pub(crate) async fn hardware_state(&self, host: &HostData) -> HardwareState {
        let known = self.cache.known(host);
        if let Some((on, at)) = known.power
            && at.elapsed() < self.config.power_check
        {
            return HardwareState {
                powered_on: Some(on),
            };
        }
        let result = async {
            let (conn, path) = self.connect(host).await?;
            self.system(host, &conn, &path).await
        }
        .await;
        match result {
            Ok(system) => HardwareState {
                powered_on: Some(is_on(&system)),
            },
            Err(_) => HardwareState { powered_on: None },
        }
    }

    /// The BMC's health verdict, read with the power state; unknown when the BMC cannot be
    /// read.
    pub(crate) async fn do_health(&self, host: &HostData) -> Health {
        if let Some((health, at)) = self.cache.known(host).health
            && at.elapsed() < self.config.power_check
        {
            return health;
        }
        let result = async {
            let (conn, path) = self.connect(host).await?;
            self.system(host, &conn, &path).await
        }
        .await;
        result.map_or(Health::Unknown, |s| health_of(&s))
    }
}
