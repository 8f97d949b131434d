//! Recording failures on the host: error status and count, the warning event, exponential
//! backoff before a retry, which error type a failure of the current state gets, and the event
//! reason of each error type.

use std::time::Duration;

use k8s_openapi::jiff::SignedDuration;
use metal3_api::v1alpha1::{ErrorType, OperationalStatus, ProvisioningState};
use metal3_provisioner::Provisioner;

use super::Machine;
use crate::backoff::{backoff, stable_jitter};
use crate::io::{EventType, Requeue};

impl<P: Provisioner + ?Sized> Machine<'_, P> {
    /// Records a failed action: error status, one more error, an event; retry after backoff.
    pub(super) fn fail(&mut self, error_type: ErrorType, message: String) -> Requeue {
        self.record_error(error_type, message);
        Requeue::After(self.backoff_delay())
    }

    /// Records a problem the host cannot get past without a fix (nothing was attempted): the
    /// status changes, and the error counts, only the first time it is seen.
    pub(super) fn fail_static(
        &mut self,
        error_type: ErrorType,
        message: String,
        retry: Requeue,
    ) -> Requeue {
        let same = self.status.operational_status == OperationalStatus::Error
            && self.status.error_type == Some(error_type)
            && self.status.error_message == message;
        if !same {
            self.record_error(error_type, message);
        }
        retry
    }

    /// The error status, one more error, and the warning event.
    fn record_error(&mut self, error_type: ErrorType, message: String) {
        self.status.operational_status = OperationalStatus::Error;
        self.status.error_type = Some(error_type);
        self.status.error_count += 1;
        self.event(
            EventType::Warning,
            error_reason(error_type),
            message.clone(),
        );
        self.status.error_message = message;
    }

    /// Clears the error: no type, no message, the count back to zero; an error status becomes
    /// OK.
    pub(super) fn clear_error(&mut self) {
        if matches!(
            self.status.operational_status,
            OperationalStatus::Error | OperationalStatus::None
        ) {
            self.status.operational_status = OperationalStatus::Ok;
        }
        self.status.error_type = None;
        self.status.error_message.clear();
        self.status.error_count = 0;
    }

    fn backoff_delay(&self) -> Duration {
        let jitter = stable_jitter(&self.host_data.uid, self.status.error_count);
        backoff(self.status.error_count, jitter, self.config.backoff_unit)
    }

    /// Time left before a failed action may be retried, measured from the failure's save.
    pub(super) fn backoff_remaining(&self) -> Option<Duration> {
        let since = self
            .status
            .last_updated
            .as_ref()
            .map(|t| t.0)
            .unwrap_or(self.inputs.now);
        let delay = SignedDuration::try_from(self.backoff_delay()).ok()?;
        let due = since.checked_add(delay).ok()?;
        let left = due.duration_since(self.inputs.now);
        if left.is_positive() {
            Duration::try_from(left).ok()
        } else {
            None
        }
    }

    pub(super) fn registration_error_type(&self) -> ErrorType {
        match self.state() {
            ProvisioningState::Provisioned | ProvisioningState::ExternallyProvisioned => {
                ErrorType::ProvisionedRegistration
            }
            _ => ErrorType::Registration,
        }
    }

    /// Records that the provisioner could not be asked (its message says what could not be
    /// reached: Ironic, a BMC), as an error of the current state's action, so the host shows
    /// why it is stuck and retries with backoff.
    pub(super) fn backend_unreachable(&mut self, message: &str) -> Requeue {
        use ProvisioningState as S;
        let error_type = match self.state() {
            S::Inspecting => ErrorType::Inspection,
            S::Preparing | S::MatchProfile => ErrorType::Preparation,
            S::Provisioning | S::Deprovisioning => ErrorType::Provisioning,
            S::Provisioned | S::ExternallyProvisioned => ErrorType::ProvisionedRegistration,
            S::Available | S::Ready | S::PoweringOffBeforeDelete => ErrorType::PowerManagement,
            _ => ErrorType::Registration,
        };
        self.fail(error_type, format!("{message}; retrying with backoff"))
    }
}

/// Event reason for a failure of this type.
pub fn error_reason(error_type: ErrorType) -> &'static str {
    match error_type {
        ErrorType::ProvisionedRegistration => "ProvisionedRegistrationError",
        ErrorType::Registration => "RegistrationError",
        ErrorType::Inspection => "InspectionError",
        ErrorType::Preparation => "PreparationError",
        ErrorType::Provisioning => "ProvisioningError",
        ErrorType::PowerManagement => "PowerManagementError",
        ErrorType::Detach => "DetachError",
        ErrorType::Servicing => "ServicingError",
    }
}
