//! Deploying and removing the image: available hosts (re-inspection, preparation or
//! provisioning when the spec asks, the provisioning retry limit), provisioning, provisioned and
//! externally provisioned hosts (adopting them, noticing an outdated deployment), and
//! deprovisioning.

use metal3_api::consts::INSPECT_ANNOTATION;
use metal3_api::v1alpha1::{ErrorType, Image, ProvisioningState};
use metal3_provisioner::{Outcome, ProvisionData, Provisioner, ProvisionerError};

use super::{Machine, Step};
use crate::annotations::{self, InspectRequest};
use crate::io::{EventType, Requeue};

impl<P: Provisioner + ?Sized> Machine<'_, P> {
    /// Whether the spec asks for a deployment the host does not have.
    fn wants_provisioning(&self) -> bool {
        let applied = &self.status.provisioning;
        let image = self.spec.image.as_ref().is_some_and(|i| !i.url.is_empty())
            && applied.image.url.is_empty();
        let custom =
            self.spec.custom_deploy.is_some() && self.spec.custom_deploy != applied.custom_deploy;
        self.spec.online && (image || custom)
    }

    pub(super) async fn handle_available(&mut self) -> Result<Requeue, ProvisionerError> {
        use ProvisioningState as S;
        if self.spec.externally_provisioned {
            self.enter(S::ExternallyProvisioned, false).await?;
            return Ok(Requeue::Now);
        }
        if annotations::inspect_request(&self.annotations) == Some(InspectRequest::Reinspect) {
            self.remove_annotation(INSPECT_ANNOTATION);
            self.enter(S::Inspecting, false).await?;
            return Ok(Requeue::Now);
        }
        if self.needs_preparation() {
            self.enter(S::Preparing, false).await?;
            return Ok(Requeue::Now);
        }
        // A new image (or none) gives provisioning a fresh set of attempts.
        if self.spec.image != self.status.last_attempted_image
            && self.status.provisioning_fail_count > 0
        {
            self.status.provisioning_fail_count = 0;
            if self.status.error_type == Some(ErrorType::Provisioning) {
                self.clear_error();
            }
        }
        if self.wants_provisioning() {
            let limit = self.config.max_provisioning_retries;
            if limit > 0 && self.status.provisioning_fail_count >= limit {
                let message = format!(
                    "provisioning failed {} times, the limit (--max-provisioning-retries); \
                     change spec.image to try again. Last error: {}",
                    self.status.provisioning_fail_count,
                    self.last_provisioning_error()
                );
                let r = self.fail_static(ErrorType::Provisioning, message, Requeue::Never);
                self.steady_state().await?;
                return Ok(r);
            }
            if self.status.error_type == Some(ErrorType::Provisioning)
                && let Some(left) = self.backoff_remaining()
            {
                return Ok(Requeue::After(left));
            }
            self.status.last_attempted_image = self.spec.image.clone();
            let what = self.deployment_name();
            self.event(
                EventType::Normal,
                "ProvisioningStarted",
                format!("Image provisioning started for {what}"),
            );
            let keep_error = self.status.error_type == Some(ErrorType::Provisioning);
            self.enter(S::Provisioning, keep_error).await?;
            return Ok(Requeue::Now);
        }
        self.steady_state().await
    }

    fn last_provisioning_error(&self) -> String {
        let m = &self.status.error_message;
        match m.find("Last error: ") {
            Some(i) => m[i + "Last error: ".len()..].to_string(),
            None => m.clone(),
        }
    }

    fn deployment_name(&self) -> String {
        match (&self.spec.custom_deploy, &self.spec.image) {
            (Some(cd), _) => format!("custom deploy method {}", cd.method),
            (None, Some(image)) => image.url.clone(),
            (None, None) => "nothing".into(),
        }
    }

    /// Provisioning is cancelled when the image it was started for is no longer wanted.
    fn provisioning_cancelled(&self) -> bool {
        if self.spec.custom_deploy.is_some() {
            return false;
        }
        let wanted = self
            .spec
            .image
            .as_ref()
            .map(|i| i.url.as_str())
            .unwrap_or("");
        let started = self
            .status
            .last_attempted_image
            .as_ref()
            .map(|i| i.url.as_str())
            .unwrap_or("");
        wanted.is_empty() || wanted != started
    }

    pub(super) async fn handle_provisioning(&mut self) -> Result<Requeue, ProvisionerError> {
        use ProvisioningState as S;
        if self.provisioning_cancelled() {
            self.event(
                EventType::Normal,
                "DeprovisioningStarted",
                "the image changed during provisioning: removing the partial deployment",
            );
            self.enter(S::Deprovisioning, false).await?;
            return Ok(Requeue::Now);
        }
        let data = ProvisionData {
            image: self.spec.image.clone().unwrap_or_default(),
            host_config: self.inputs.host_config.clone(),
            boot_mode: self.host.boot_mode(),
            hardware_profile: self.spec.hardware_profile.clone(),
            root_device_hints: self.spec.root_device_hints.clone(),
            custom_deploy: self.spec.custom_deploy.clone(),
            cpu_architecture: self.spec.architecture.clone(),
        };
        match self.prov.provision(&self.host_data, &data, false).await? {
            Outcome::Failed { message } => {
                self.status.provisioning_fail_count += 1;
                let r = self.fail(ErrorType::Provisioning, message);
                self.enter(S::Deprovisioning, true).await?;
                Ok(r)
            }
            Outcome::InProgress { after } => Ok(Requeue::After(after)),
            Outcome::Done => {
                let what = self.deployment_name();
                self.status.provisioning.image = self.spec.image.clone().unwrap_or_default();
                self.status.provisioning.custom_deploy = self.spec.custom_deploy.clone();
                self.status.provisioning_fail_count = 0;
                self.event(
                    EventType::Normal,
                    "ProvisioningComplete",
                    format!("Image provisioning completed for {what}"),
                );
                self.enter(S::Provisioned, false).await?;
                Ok(Requeue::Now)
            }
        }
    }

    /// Whether the deployed image or custom deploy no longer matches the spec.
    fn deployment_outdated(&self) -> bool {
        let applied = &self.status.provisioning;
        let wanted_url = self
            .spec
            .image
            .as_ref()
            .map(|i| i.url.as_str())
            .unwrap_or("");
        if applied.image.url.is_empty() && applied.custom_deploy.is_none() {
            return true;
        }
        if applied.custom_deploy.is_some() || self.spec.custom_deploy.is_some() {
            return applied.custom_deploy != self.spec.custom_deploy;
        }
        wanted_url != applied.image.url
    }

    async fn adopt(&mut self) -> Step {
        let restart = self.status.error_type == Some(ErrorType::ProvisionedRegistration);
        if restart && let Some(left) = self.backoff_remaining() {
            return Ok(Some(Requeue::After(left)));
        }
        let state = self.state();
        match self.prov.adopt(&self.host_data, &state, restart).await? {
            Outcome::Done => {
                if restart {
                    self.clear_error();
                }
                Ok(None)
            }
            Outcome::InProgress { after } => Ok(Some(Requeue::After(after))),
            Outcome::Failed { message } => {
                Ok(Some(self.fail(ErrorType::ProvisionedRegistration, message)))
            }
        }
    }

    pub(super) async fn handle_provisioned(&mut self) -> Result<Requeue, ProvisionerError> {
        if self.deployment_outdated() {
            self.event(
                EventType::Normal,
                "DeprovisioningStarted",
                "the image was removed or changed: removing the deployed one",
            );
            self.enter(ProvisioningState::Deprovisioning, false).await?;
            return Ok(Requeue::Now);
        }
        if let Some(r) = self.adopt().await? {
            return Ok(r);
        }
        self.steady_state().await
    }

    pub(super) async fn handle_externally_provisioned(
        &mut self,
    ) -> Result<Requeue, ProvisionerError> {
        if !self.spec.externally_provisioned {
            self.status.provisioning.image = self.spec.image.clone().unwrap_or_default();
            self.status.provisioning.custom_deploy = self.spec.custom_deploy.clone();
            self.enter(ProvisioningState::Provisioned, false).await?;
            return Ok(Requeue::Now);
        }
        if let Some(r) = self.adopt().await? {
            return Ok(r);
        }
        self.steady_state().await
    }

    pub(super) async fn handle_deprovisioning(&mut self) -> Result<Requeue, ProvisionerError> {
        use ProvisioningState as S;
        if self.deleting() && !self.creds_valid() {
            self.enter(S::Deleting, true).await?;
            return Ok(Requeue::Now);
        }
        let restart = self.status.error_type == Some(ErrorType::Provisioning);
        let out = self
            .prov
            .deprovision(&self.host_data, restart, self.spec.automated_cleaning_mode)
            .await?;
        match out {
            Outcome::Failed { message } => {
                let r = self.fail(ErrorType::Provisioning, message);
                if self.deleting() && self.status.error_count > 3 {
                    self.enter(S::PoweringOffBeforeDelete, true).await?;
                    return Ok(Requeue::Now);
                }
                Ok(r)
            }
            Outcome::InProgress { after } => Ok(Requeue::After(after)),
            Outcome::Done => {
                self.status.provisioning.image = Image::default();
                self.status.provisioning.custom_deploy = None;
                self.event(
                    EventType::Normal,
                    "DeprovisioningComplete",
                    "Image deprovisioning completed",
                );
                // A failed deployment stays visible (and backs off) until the next attempt.
                let keep_error = self.status.error_type == Some(ErrorType::Provisioning)
                    && self.status.provisioning_fail_count > 0
                    && !self.deleting();
                let next = if self.deleting() {
                    S::PoweringOffBeforeDelete
                } else {
                    S::Available
                };
                self.enter(next, keep_error).await?;
                Ok(Requeue::Now)
            }
        }
    }
}
