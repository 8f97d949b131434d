//! The checks made before the state handler, in the order the pass makes them: restoring a
//! status saved in an annotation, the BMC credentials, a capacity delay, and detaching. (The
//! start of a deletion is in `delete`, registration in `register`.)

use metal3_api::consts::STATUS_ANNOTATION;
use metal3_api::v1alpha1::{BareMetalHostStatus, ErrorType, OperationalStatus, ProvisioningState};
use metal3_provisioner::{Outcome, Provisioner};

use super::{Machine, Step, is_capacity_limited};
use crate::annotations;
use crate::backoff::{backoff, stable_jitter};
use crate::io::{CredentialsInput, EventType, Requeue};

impl<P: Provisioner + ?Sized> Machine<'_, P> {
    /// Restores a status saved in the status annotation into a host without status (a host
    /// moved from another cluster). Returns at once: the restored status is saved first.
    pub(super) fn restore_status(&mut self) -> Option<Requeue> {
        let raw = self.annotations.get(STATUS_ANNOTATION)?.clone();
        self.remove_annotation(STATUS_ANNOTATION);
        if self.status.last_updated.is_some() {
            return None;
        }
        match serde_json::from_str::<BareMetalHostStatus>(&raw) {
            Ok(mut restored) => {
                if let Some(details) = &self.inputs.hardware_data {
                    restored.hardware = Some(details.clone());
                }
                self.status = restored;
                self.skip_conditions = true;
                Some(Requeue::Now)
            }
            Err(e) => {
                self.event(
                    EventType::Warning,
                    "InvalidAnnotationValue",
                    format!("annotation {STATUS_ANNOTATION} is not a valid status, ignored: {e}"),
                );
                None
            }
        }
    }

    pub(super) fn check_credentials(&mut self) -> Option<Requeue> {
        if matches!(
            self.state(),
            ProvisioningState::None | ProvisioningState::Unmanaged
        ) || self.deleting()
        {
            return None;
        }
        let error_type = self.registration_error_type();
        match &self.inputs.credentials {
            CredentialsInput::Missing { secret } => {
                let message = format!(
                    "the BMC credentials Secret {secret:?} does not exist; create it with keys \
                     \"username\" and \"password\" in the host's namespace"
                );
                let retry = Requeue::After(self.config.missing_secret_retry);
                Some(self.fail_static(error_type, message, retry))
            }
            CredentialsInput::Invalid { message } => {
                let message = message.clone();
                let first = self.status.error_message != message;
                let r = self.fail_static(error_type, message.clone(), Requeue::Never);
                if first {
                    self.event(EventType::Warning, "BMCCredentialError", message);
                }
                Some(r)
            }
            CredentialsInput::NotNeeded | CredentialsInput::Valid { .. } => None,
        }
    }

    /// A host delayed for capacity waits until the provisioner has room.
    pub(super) async fn check_delayed(&mut self) -> Step {
        if self.status.operational_status != OperationalStatus::Delayed {
            return Ok(None);
        }
        if !is_capacity_limited(&self.state()) || self.prov.has_capacity(&self.host_data).await? {
            self.status.operational_status = OperationalStatus::Ok;
            return Ok(None);
        }
        let jitter = stable_jitter(&self.host_data.uid, 1);
        Ok(Some(Requeue::After(backoff(
            1,
            jitter,
            self.config.backoff_unit,
        ))))
    }

    pub(super) async fn handle_detach(&mut self) -> Step {
        use ProvisioningState as S;
        let state = self.state();
        if state == S::Deleting {
            return Ok(None);
        }
        let Some(request) = annotations::detached(&self.annotations) else {
            if self.status.operational_status == OperationalStatus::Detached {
                // Re-attach: registration below takes the host back.
                self.status.operational_status = OperationalStatus::Ok;
                self.event(
                    EventType::Normal,
                    "Attached",
                    "the detached annotation was removed; re-registering",
                );
            }
            return Ok(None);
        };
        if self.status.operational_status == OperationalStatus::Detached {
            return Ok(Some(Requeue::After(self.config.idle_poll)));
        }
        let safe = matches!(
            state,
            S::Provisioned | S::ExternallyProvisioned | S::Available | S::Ready
        );
        if !(safe || request.force) || !self.creds_valid() {
            return Ok(None);
        }
        match self.prov.detach(&self.host_data, request.force).await? {
            Outcome::Done => {
                self.clear_error();
                self.status.operational_status = OperationalStatus::Detached;
                self.event(
                    EventType::Normal,
                    "Detached",
                    "the host was detached from the provisioner",
                );
                Ok(Some(Requeue::After(self.config.idle_poll)))
            }
            Outcome::InProgress { after } => Ok(Some(Requeue::After(after))),
            Outcome::Failed { message } => Ok(Some(self.fail(ErrorType::Detach, message))),
        }
    }
}
