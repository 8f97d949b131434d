//! Deleting a host: choosing the path out of the current state (deprovision, power off, or
//! straight to deleting; detached hosts by their delete action), powering off before the
//! delete, and releasing the host once the provisioner has forgotten it.

use metal3_api::v1alpha1::{ErrorType, OperationalStatus, ProvisioningState};
use metal3_provisioner::{Outcome, Provisioner, ProvisionerError, RebootMode};

use super::{Machine, Step};
use crate::annotations::{self, DeleteAction};
use crate::io::{Effect, EventType, Requeue};

impl<P: Provisioner + ?Sized> Machine<'_, P> {
    pub(super) async fn initiate_delete(&mut self) -> Step {
        use ProvisioningState as S;
        let state = self.state();
        if matches!(
            state,
            S::Deleting | S::Deprovisioning | S::PoweringOffBeforeDelete
        ) {
            return Ok(None);
        }
        let detached = annotations::detached(&self.annotations);
        match detached {
            Some(d) if d.delete_action == DeleteAction::Delay => {
                return Ok(Some(Requeue::After(self.config.idle_poll)));
            }
            Some(_) => {
                self.enter(S::Deleting, false).await?;
                return Ok(Some(Requeue::Now));
            }
            // Detached in status but the annotation is gone: re-attach first.
            None if self.status.operational_status == OperationalStatus::Detached => {
                return Ok(None);
            }
            None => {}
        }
        let next = match state {
            S::None | S::Unmanaged | S::Registering => S::Deleting,
            S::Provisioning | S::Provisioned => S::Deprovisioning,
            _ => S::PoweringOffBeforeDelete,
        };
        if next == S::Deprovisioning {
            self.event(
                EventType::Normal,
                "DeprovisioningStarted",
                "the host is being deleted: removing its image",
            );
        }
        self.enter(next, false).await?;
        Ok(Some(Requeue::Now))
    }

    pub(super) async fn handle_powering_off(&mut self) -> Result<Requeue, ProvisionerError> {
        use ProvisioningState as S;
        if !self.creds_valid() || self.spec.disable_power_off {
            self.enter(S::Deleting, true).await?;
            return Ok(Requeue::Now);
        }
        let hw = self.prov.update_hardware_state(&self.host_data).await?;
        if hw.powered_on == Some(false) {
            self.status.powered_on = false;
            self.enter(S::Deleting, false).await?;
            return Ok(Requeue::Now);
        }
        let out = self
            .prov
            .power_off(
                &self.host_data,
                RebootMode::Hard,
                true,
                self.spec.automated_cleaning_mode,
            )
            .await?;
        match out {
            Outcome::Done => {
                self.status.powered_on = false;
                self.enter(S::Deleting, false).await?;
                Ok(Requeue::Now)
            }
            Outcome::InProgress { after } => Ok(Requeue::After(after)),
            Outcome::Failed { message } => {
                let r = self.fail(ErrorType::PowerManagement, message);
                if self.status.error_count > 3 {
                    self.enter(S::Deleting, true).await?;
                    return Ok(Requeue::Now);
                }
                Ok(r)
            }
        }
    }

    pub(super) async fn handle_deleting(&mut self) -> Result<Requeue, ProvisionerError> {
        if self.creds_valid() {
            match self.prov.delete(&self.host_data).await? {
                Outcome::Done => {}
                Outcome::InProgress { after } => return Ok(Requeue::After(after)),
                Outcome::Failed { message } => {
                    return Ok(self.fail(ErrorType::Registration, message));
                }
            }
        }
        self.effects.push(Effect::Released);
        self.skip_conditions = true;
        Ok(Requeue::Never)
    }
}
