//! Registering: new and unmanaged hosts, making sure the provisioner knows the host and takes
//! its current credentials (every pass, with the management access data), and leaving the
//! registering state for inspection, preparation or external provisioning.

use metal3_api::v1alpha1::{
    CredentialsStatus, ErrorType, InspectionMode, OperationalStatus, ProvisioningState,
};
use metal3_provisioner::{
    ManagementAccessData, Outcome, Provisioner, ProvisionerError, RegisterOptions,
};

use super::{Machine, Step};
use crate::io::{CredentialsInput, EventType, PreprovisioningInput, Requeue};

impl<P: Provisioner + ?Sized> Machine<'_, P> {
    fn management_access_data(&self) -> ManagementAccessData {
        ManagementAccessData {
            boot_mode: self.host.boot_mode(),
            automated_cleaning_mode: self.spec.automated_cleaning_mode,
            state: self.state(),
            operational_status: self.status.operational_status,
            current_image: (!self.status.provisioning.image.url.is_empty())
                .then(|| self.status.provisioning.image.clone()),
            preprovisioning_image: None,
            preprovisioning_network_data: self.inputs.preprovisioning_network_data.clone(),
            has_custom_deploy: self.spec.custom_deploy.is_some(),
            disable_power_off: self.spec.disable_power_off,
            cpu_architecture: self.spec.architecture.clone(),
            hardware_details: self.status.hardware.clone(),
            inspection_mode: if self.inspection_disabled() {
                InspectionMode::Disabled
            } else {
                self.spec.inspection_mode.unwrap_or_default()
            },
        }
    }

    /// Makes sure the provisioner knows the host and takes its current credentials.
    pub(super) async fn register(&mut self) -> Step {
        use ProvisioningState as S;
        if matches!(
            self.state(),
            S::None | S::Unmanaged | S::MatchProfile | S::Deleting
        ) {
            return Ok(None);
        }
        let CredentialsInput::Valid { secret, version } = &self.inputs.credentials else {
            return Ok(None);
        };
        let current = CredentialsStatus {
            credentials: Some(secret.clone()),
            credentials_version: version.clone(),
        };
        let creds_changed = self.status.good_credentials != current;
        let newly_tried = self.status.tried_credentials != current;
        if creds_changed && newly_tried {
            self.status.tried_credentials = current.clone();
        }
        let error_type = self.registration_error_type();
        let restart = matches!(
            self.status.error_type,
            Some(ErrorType::Registration | ErrorType::ProvisionedRegistration)
        );
        if restart
            && !newly_tried
            && let Some(left) = self.backoff_remaining()
        {
            return Ok(Some(Requeue::After(left)));
        }
        let mut data = self.management_access_data();
        match &self.inputs.preprovisioning {
            PreprovisioningInput::NotUsed => {}
            PreprovisioningInput::Waiting(_) => {
                return Ok(Some(Requeue::After(self.config.preprovisioning_wait)));
            }
            PreprovisioningInput::Ready(image) => data.preprovisioning_image = Some(image.clone()),
        }
        let (outcome, id) = self
            .prov
            .register(
                &self.host_data,
                &data,
                RegisterOptions {
                    credentials_changed: creds_changed,
                    restart,
                },
            )
            .await?;
        if !id.is_empty() && id != self.status.provisioning.id {
            self.status.provisioning.id = id.clone();
            self.host_data.provisioner_id = id;
        }
        match outcome {
            Outcome::Failed { message } => Ok(Some(self.fail(error_type, message))),
            Outcome::InProgress { after } => Ok(Some(Requeue::After(after))),
            Outcome::Done => {
                if creds_changed {
                    self.status.good_credentials = current;
                    self.event(
                        EventType::Normal,
                        "BMCAccessValidated",
                        "Verified access to BMC",
                    );
                }
                if restart {
                    self.clear_error();
                }
                Ok(None)
            }
        }
    }

    pub(super) async fn handle_none(&mut self) -> Result<Requeue, ProvisionerError> {
        if self.spec.has_bmc_details() {
            self.enter(ProvisioningState::Registering, false).await?;
        } else {
            self.enter(ProvisioningState::Unmanaged, false).await?;
            self.status.operational_status = OperationalStatus::Discovered;
            self.event(
                EventType::Normal,
                "Discovered",
                "Discovered host with no BMC details; set spec.bmc to manage it",
            );
        }
        Ok(Requeue::Now)
    }

    pub(super) async fn handle_unmanaged(&mut self) -> Result<Requeue, ProvisionerError> {
        if !self.spec.has_bmc_details() {
            return Ok(Requeue::After(self.config.idle_poll));
        }
        self.enter(ProvisioningState::Registering, false).await?;
        self.status.operational_status = OperationalStatus::Ok;
        Ok(Requeue::Now)
    }

    pub(super) async fn handle_registering(&mut self) -> Result<Requeue, ProvisionerError> {
        use ProvisioningState as S;
        if !self.creds_valid() {
            // Unreachable in practice (credentials are checked first); wait for them.
            return Ok(Requeue::After(self.config.missing_secret_retry));
        }
        self.event(EventType::Normal, "Registered", "Registered new host");
        let next = if self.spec.externally_provisioned {
            S::ExternallyProvisioned
        } else if self.inspection_disabled() {
            self.note_inspection_skipped();
            S::Preparing
        } else {
            S::Inspecting
        };
        self.enter(next, false).await?;
        Ok(Requeue::Now)
    }
}
