//! Steady-state power of available and provisioned hosts: following the power state, applying
//! `online` and the reboot annotations, soft-then-hard power off, clearing power errors. It also
//! decides when servicing (`prepare`) and data-image changes (`media`) run, since both need the
//! host off.

use metal3_api::consts::REBOOT_ANNOTATION;
use metal3_api::v1alpha1::{ErrorType, OperationalStatus, ProvisioningState};
use metal3_provisioner::{Outcome, Provisioner, ProvisionerError, RebootMode};

use super::Machine;
use crate::annotations;
use crate::io::{EventType, Requeue};

impl<P: Provisioner + ?Sized> Machine<'_, P> {
    /// Available and provisioned hosts: follow the power state, apply `online` and reboot
    /// requests.
    pub(super) async fn steady_state(&mut self) -> Result<Requeue, ProvisionerError> {
        use ProvisioningState as S;
        let hw = self.prov.update_hardware_state(&self.host_data).await?;
        if let Some(on) = hw.powered_on {
            self.status.powered_on = on;
        }
        self.health = Some(self.prov.health(&self.host_data).await?);
        let provisioned = matches!(self.state(), S::Provisioned | S::ExternallyProvisioned);
        let mut reboots: Vec<_> = annotations::reboot_requests(&self.annotations)
            .into_iter()
            .filter(|r| provisioned || r.force)
            .collect();
        if !self.status.powered_on
            && let Some(pos) = reboots.iter().position(|r| r.is_one_shot())
        {
            reboots.remove(pos);
            self.remove_annotation(REBOOT_ANNOTATION);
            self.event(
                EventType::Normal,
                "RemoveAnnotation",
                "the host is off: removed the reboot.metal3.io annotation",
            );
        }
        let want_on = self.spec.online && reboots.is_empty();
        // Firmware changes a HostUpdatePolicy allows on reboot are applied while the host is
        // off, before it comes back (servicing).
        let fw = &self.inputs.firmware;
        let servicing = self.status.operational_status == OperationalStatus::Servicing
            || self.status.error_type == Some(ErrorType::Servicing);
        let service_due = (fw.settings_on_reboot && !fw.pending.is_empty())
            || (fw.updates_on_reboot && !fw.pending_updates.is_empty());
        if provisioned && !self.status.powered_on && (servicing || (want_on && service_due)) {
            return self.service().await;
        }
        // Virtual media changes only while the host is off: right before it is powered on
        // (provisioned hosts), or at any time when nothing runs on it.
        if !self.status.powered_on && (want_on || !provisioned) {
            self.sync_data_image(provisioned).await?;
        }
        if want_on == self.status.powered_on {
            if self.status.error_type == Some(ErrorType::PowerManagement) {
                self.clear_error();
            }
            return Ok(Requeue::After(self.config.power_poll));
        }
        if self.status.error_type == Some(ErrorType::PowerManagement)
            && let Some(left) = self.backoff_remaining()
        {
            return Ok(Requeue::After(left));
        }
        if want_on {
            match self.prov.power_on(&self.host_data, false).await? {
                Outcome::Done => {
                    self.status.powered_on = true;
                    self.clear_power_error();
                    self.event(EventType::Normal, "PowerOn", "Host powered on");
                    Ok(Requeue::After(self.config.power_poll))
                }
                Outcome::InProgress { after } => Ok(Requeue::After(after)),
                Outcome::Failed { message } => Ok(self.fail(ErrorType::PowerManagement, message)),
            }
        } else {
            for r in reboots.iter().filter(|r| r.invalid) {
                self.event(
                    EventType::Warning,
                    "InvalidAnnotationValue",
                    format!(
                        "annotation {} should be empty or {{\"mode\": \"hard\"|\"soft\", \"force\": bool}}; doing a soft reboot",
                        r.key
                    ),
                );
            }
            let hard =
                self.status.error_count > 0 || reboots.iter().any(|r| r.mode == RebootMode::Hard);
            let mode = if hard {
                RebootMode::Hard
            } else {
                RebootMode::Soft
            };
            let out = self
                .prov
                .power_off(
                    &self.host_data,
                    mode,
                    false,
                    self.spec.automated_cleaning_mode,
                )
                .await?;
            match out {
                Outcome::Done => {
                    self.status.powered_on = false;
                    self.clear_power_error();
                    self.event(EventType::Normal, "PowerOff", "Host powered off");
                    Ok(Requeue::Now)
                }
                Outcome::InProgress { after } => Ok(Requeue::After(after)),
                Outcome::Failed { message } => {
                    let message = if mode == RebootMode::Soft {
                        format!(
                            "Continuing with hard poweroff after soft poweroff fails. More details: {message}"
                        )
                    } else {
                        message
                    };
                    Ok(self.fail(ErrorType::PowerManagement, message))
                }
            }
        }
    }

    fn clear_power_error(&mut self) {
        if self.status.error_type == Some(ErrorType::PowerManagement)
            || self.status.error_type.is_none()
        {
            self.clear_error();
        }
    }
}
