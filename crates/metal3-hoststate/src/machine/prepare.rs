//! Preparing (RAID, root device hints, BIOS and firmware settings, firmware updates) before a
//! host is available, and servicing: the same changes applied to a provisioned host while it is
//! off, when its HostUpdatePolicy allows it.

use std::collections::BTreeMap;

use metal3_api::v1alpha1::{ErrorType, OperationalStatus, ProvisioningState, RaidConfig};
use metal3_provisioner::{Outcome, PrepareData, PrepareOptions, Provisioner, ProvisionerError};

use super::Machine;
use crate::io::{Effect, EventType, Requeue};

/// RAID settings compare equal when they ask for the same volumes (absent = empty).
fn same_raid(a: &Option<RaidConfig>, b: &Option<RaidConfig>) -> bool {
    let norm = |r: &Option<RaidConfig>| {
        let r = r.clone().unwrap_or_default();
        (
            r.hardware_raid_volumes.unwrap_or_default(),
            r.software_raid_volumes.unwrap_or_default(),
        )
    };
    norm(a) == norm(b)
}

impl<P: Provisioner + ?Sized> Machine<'_, P> {
    /// Whether the spec asks for RAID, root disk or firmware settings not yet applied.
    pub(super) fn needs_preparation(&self) -> bool {
        let applied = &self.status.provisioning;
        !same_raid(&self.spec.raid, &applied.raid)
            || self.spec.root_device_hints != applied.root_device_hints
            || self.spec.firmware != applied.firmware
            || !self.inputs.firmware.pending.is_empty()
            || !self.inputs.firmware.pending_updates.is_empty()
    }

    pub(super) async fn handle_preparing(&mut self) -> Result<Requeue, ProvisionerError> {
        let restart = self.status.error_type == Some(ErrorType::Preparation);
        if restart && let Some(left) = self.backoff_remaining() {
            return Ok(Requeue::After(left));
        }
        let data = PrepareData {
            target_raid: self.spec.raid.clone(),
            actual_raid: self.status.provisioning.raid.clone(),
            root_device_hints: self.spec.root_device_hints.clone(),
            firmware_config: self.spec.firmware.clone(),
            target_firmware_settings: self.inputs.firmware.pending.clone(),
            actual_firmware_settings: self.inputs.firmware.current.clone(),
            target_firmware_components: self.inputs.firmware.pending_updates.clone(),
            has_firmware_spec: !self.inputs.firmware.pending_updates.is_empty(),
        };
        let unprepared = self.needs_preparation();
        let out = self
            .prov
            .prepare(
                &self.host_data,
                &data,
                PrepareOptions {
                    unprepared,
                    restart,
                },
            )
            .await?;
        match out.outcome {
            Outcome::Failed { message } => Ok(self.fail(ErrorType::Preparation, message)),
            Outcome::InProgress { after } => {
                if out.started && restart {
                    self.clear_error();
                }
                Ok(Requeue::After(after))
            }
            Outcome::Done => {
                let applied = &mut self.status.provisioning;
                applied.raid = self.spec.raid.clone();
                applied.root_device_hints = self.spec.root_device_hints.clone();
                applied.firmware = self.spec.firmware.clone();
                if !self.inputs.firmware.pending.is_empty()
                    || !self.inputs.firmware.pending_updates.is_empty()
                {
                    self.effects.push(Effect::FirmwareApplied);
                }
                self.enter(ProvisioningState::Available, false).await?;
                Ok(Requeue::Now)
            }
        }
    }

    /// Applies firmware settings and updates to a provisioned host that is off.
    pub(super) async fn service(&mut self) -> Result<Requeue, ProvisionerError> {
        let restart = self.status.error_type == Some(ErrorType::Servicing);
        if restart && let Some(left) = self.backoff_remaining() {
            return Ok(Requeue::After(left));
        }
        let fw = &self.inputs.firmware;
        let data = PrepareData {
            target_firmware_settings: if fw.settings_on_reboot {
                fw.pending.clone()
            } else {
                BTreeMap::new()
            },
            actual_firmware_settings: fw.current.clone(),
            target_firmware_components: if fw.updates_on_reboot {
                fw.pending_updates.clone()
            } else {
                Vec::new()
            },
            has_firmware_spec: fw.updates_on_reboot && !fw.pending_updates.is_empty(),
            ..PrepareData::default()
        };
        let unprepared = !data.target_firmware_settings.is_empty()
            || !data.target_firmware_components.is_empty();
        let out = self
            .prov
            .service(
                &self.host_data,
                &data,
                PrepareOptions {
                    unprepared,
                    restart,
                },
            )
            .await?;
        match out.outcome {
            Outcome::InProgress { after } => {
                if self.status.operational_status != OperationalStatus::Servicing {
                    self.status.operational_status = OperationalStatus::Servicing;
                    self.status.error_type = None;
                    self.status.error_message.clear();
                    self.event(
                        EventType::Normal,
                        "ServicingStarted",
                        "applying firmware changes",
                    );
                }
                Ok(Requeue::After(after))
            }
            Outcome::Done => {
                self.clear_error();
                self.status.operational_status = OperationalStatus::Ok;
                if unprepared {
                    self.effects.push(Effect::FirmwareApplied);
                    self.event(
                        EventType::Normal,
                        "ServicingComplete",
                        "firmware changes applied",
                    );
                }
                Ok(Requeue::Now)
            }
            Outcome::Failed { message } => Ok(self.fail(ErrorType::Servicing, message)),
        }
    }
}
