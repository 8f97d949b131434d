//! One reconcile pass of a BareMetalHost: credentials, deletion, detach, registration, then the
//! handler of the current provisioning state. At most one state change per pass: the controller
//! saves the status before the next pass, so a restart never repeats a started operation.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use metal3_api::consts::{
    HARDWARE_DETAILS_ANNOTATION, INSPECT_ANNOTATION, REBOOT_ANNOTATION, STATUS_ANNOTATION,
};
use metal3_api::v1alpha1::{
    BareMetalHost, BareMetalHostSpec, BareMetalHostStatus, CredentialsStatus, ErrorType,
    FirmwareUpdate, HardwareDetails, Image, InspectionMode, OperationalStatus, ProvisioningState,
    RaidConfig, SecretReference,
};
use metal3_provisioner::{
    HostConfig, HostData, InspectData, InspectOptions, ManagementAccessData, Outcome, PrepareData,
    PrepareOptions, PreprovisioningImage, ProvisionData, Provisioner, ProvisionerError, RebootMode,
    RegisterOptions,
};
use serde::Deserialize;

use crate::annotations::{self, DeleteAction, InspectRequest};
use crate::backoff::{backoff, stable_jitter};
use crate::conditions;

/// Timing and limits of the machine. The defaults are upstream's.
#[derive(Clone, Debug)]
pub struct Config {
    /// Provisioning attempts before the host stops retrying (0 = unlimited).
    pub max_provisioning_retries: i64,
    /// Unit of the exponential backoff after errors (one minute).
    pub backoff_unit: Duration,
    /// Retry delay when the credentials Secret is missing (10 s).
    pub missing_secret_retry: Duration,
    /// Poll interval of unmanaged and detached hosts (10 min).
    pub idle_poll: Duration,
    /// Power state poll interval of hosts at rest (60 s).
    pub power_poll: Duration,
    /// Poll interval while waiting for a preprovisioning image (5 min).
    pub preprovisioning_wait: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            max_provisioning_retries: 5,
            backoff_unit: Duration::from_secs(60),
            missing_secret_retry: Duration::from_secs(10),
            idle_poll: Duration::from_secs(600),
            power_poll: Duration::from_secs(60),
            preprovisioning_wait: Duration::from_secs(300),
        }
    }
}

/// The host's BMC credentials as the controller found them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CredentialsInput {
    /// The host has no BMC details (unmanaged); nothing to read.
    NotNeeded,
    /// `spec.bmc.credentialsName` names a Secret that does not exist.
    Missing { secret: String },
    /// The BMC details are unusable (empty address, unknown scheme, Secret without username or
    /// password); `message` says which and how to fix it.
    Invalid { message: String },
    /// Usable credentials (already in [`Inputs::host_data`]), from `secret` at `version`.
    Valid {
        secret: SecretReference,
        version: String,
    },
}

/// What the controller read for this pass.
#[derive(Clone, Debug)]
pub struct Inputs {
    pub now: Timestamp,
    /// The host as the provisioner sees it, credentials included when valid.
    pub host_data: HostData,
    pub credentials: CredentialsInput,
    /// User data, network data and meta data for provisioning.
    pub host_config: HostConfig,
    /// The `spec.hardware` of the host's HardwareData, when it exists.
    pub hardware_data: Option<HardwareDetails>,
    /// Firmware settings to apply, from the host's HostFirmwareSettings.
    pub firmware: FirmwareInputs,
    /// The host's DataImage, when it has one.
    pub data_image: Option<DataImageInput>,
    /// The preprovisioning image registration needs, when the backend uses one.
    pub preprovisioning: PreprovisioningInput,
    /// `networkData` of the Secret `spec.preprovisioningNetworkDataName` names (empty when
    /// there is none), for backends that hand it to the agent's ramdisk themselves.
    pub preprovisioning_network_data: String,
}

/// Whether registration must wait for a preprovisioning image.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum PreprovisioningInput {
    /// The backend boots no preprovisioning image (or building them is off).
    #[default]
    NotUsed,
    /// The host's PreprovisioningImage is not ready; the reason says why.
    Waiting(String),
    /// The image to boot.
    Ready(PreprovisioningImage),
}

/// What the host's DataImage asks for and what is attached.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DataImageInput {
    /// URL to attach; `None` while the DataImage is being deleted.
    pub wanted: Option<String>,
    /// URL attached now, as the DataImage status says.
    pub attached: Option<String>,
}

/// Firmware settings of the host, as its HostFirmwareSettings says.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FirmwareInputs {
    /// Valid requested settings that differ from the current ones (empty when the request is
    /// invalid: an invalid request is reported on the HostFirmwareSettings, never applied).
    pub pending: BTreeMap<String, IntOrString>,
    /// Settings currently on the host.
    pub current: BTreeMap<String, String>,
    /// Firmware updates requested (HostFirmwareComponents) and not applied yet.
    pub pending_updates: Vec<FirmwareUpdate>,
    /// HostUpdatePolicy `firmwareSettings: onReboot`: apply settings to a provisioned host when
    /// it reboots (servicing).
    pub settings_on_reboot: bool,
    /// HostUpdatePolicy `firmwareUpdates: onReboot`.
    pub updates_on_reboot: bool,
}

/// When to look at the host again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Requeue {
    /// At once (the state advanced).
    Now,
    After(Duration),
    /// Only when something changes.
    Never,
}

/// Kubernetes event type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventType {
    Normal,
    Warning,
}

/// An event to publish on the host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    pub event_type: EventType,
    pub reason: &'static str,
    pub message: String,
}

/// A change to objects other than the host's status.
#[derive(Clone, Debug, PartialEq)]
pub enum Effect {
    /// Create or update the host's HardwareData with this inventory.
    SaveHardwareData(Box<HardwareDetails>),
    /// Remove this annotation from the host.
    RemoveAnnotation(String),
    /// The provisioner has forgotten the host: release the credentials Secret and the
    /// HardwareData, and remove the host's finalizer.
    Released,
    /// Firmware settings were applied: read them back into the HostFirmwareSettings now.
    FirmwareApplied,
    /// The data image now attached (`None`: detached); record it on the DataImage.
    DataImageAttached(Option<String>),
    /// Attaching or detaching the data image failed; record it on the DataImage.
    DataImageFailed(String),
}

/// The outcome of one pass.
#[derive(Clone, Debug)]
pub struct Decision {
    pub status: BareMetalHostStatus,
    pub requeue: Requeue,
    pub events: Vec<Event>,
    pub effects: Vec<Effect>,
    /// The provisioner could not be asked; retry with rate limiting, status unchanged.
    pub transient: Option<ProvisionerError>,
    /// `(from, to)` when the provisioning state changed.
    pub state_change: Option<(ProvisioningState, ProvisioningState)>,
}

impl Decision {
    /// Whether the status differs from `old`, ignoring `lastUpdated`.
    pub fn status_changed(&self, old: Option<&BareMetalHostStatus>) -> bool {
        let Some(old) = old else { return true };
        let mut a = self.status.clone();
        a.last_updated = None;
        let mut b = old.clone();
        b.last_updated = None;
        a != b
    }
}

/// Runs one reconcile pass of `host`.
pub async fn reconcile<P: Provisioner + ?Sized>(
    host: &BareMetalHost,
    inputs: &Inputs,
    config: &Config,
    prov: &P,
) -> Decision {
    let mut m = Machine::new(host, inputs, config, prov);
    let result = match m.run().await {
        // The backend is down or unreachable: say so on the host and back off. (Not-ready and
        // busy answers are routine and only retried.)
        Err(ProvisionerError::Transient(message)) => Ok(m.backend_unreachable(&message)),
        other => other,
    };
    m.finish(result)
}

struct Machine<'a, P: ?Sized> {
    host: &'a BareMetalHost,
    spec: &'a BareMetalHostSpec,
    inputs: &'a Inputs,
    config: &'a Config,
    prov: &'a P,
    host_data: HostData,
    status: BareMetalHostStatus,
    annotations: BTreeMap<String, String>,
    events: Vec<Event>,
    effects: Vec<Effect>,
    state_change: Option<(ProvisioningState, ProvisioningState)>,
    health: Option<metal3_provisioner::Health>,
    skip_conditions: bool,
}

type Step = Result<Option<Requeue>, ProvisionerError>;

fn is_capacity_limited(state: &ProvisioningState) -> bool {
    matches!(
        state,
        ProvisioningState::Inspecting
            | ProvisioningState::Provisioning
            | ProvisioningState::Deprovisioning
    )
}

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

impl<'a, P: Provisioner + ?Sized> Machine<'a, P> {
    fn new(host: &'a BareMetalHost, inputs: &'a Inputs, config: &'a Config, prov: &'a P) -> Self {
        Self {
            host,
            spec: &host.spec,
            inputs,
            config,
            prov,
            host_data: inputs.host_data.clone(),
            status: host.status.clone().unwrap_or_default(),
            annotations: host.metadata.annotations.clone().unwrap_or_default(),
            events: Vec::new(),
            effects: Vec::new(),
            state_change: None,
            health: None,
            skip_conditions: false,
        }
    }

    fn state(&self) -> ProvisioningState {
        self.status.provisioning.state.clone()
    }

    fn deleting(&self) -> bool {
        self.host.metadata.deletion_timestamp.is_some()
    }

    fn creds_valid(&self) -> bool {
        matches!(self.inputs.credentials, CredentialsInput::Valid { .. })
    }

    fn now_time(&self) -> Time {
        Time(self.inputs.now)
    }

    fn event(&mut self, event_type: EventType, reason: &'static str, message: impl Into<String>) {
        self.events.push(Event {
            event_type,
            reason,
            message: message.into(),
        });
    }

    fn remove_annotation(&mut self, key: &str) {
        if self.annotations.remove(key).is_some() {
            self.effects.push(Effect::RemoveAnnotation(key.to_string()));
        }
    }

    fn inspection_disabled(&self) -> bool {
        self.spec.inspection_mode == Some(InspectionMode::Disabled)
            || annotations::inspect_request(&self.annotations) == Some(InspectRequest::Disabled)
    }

    // --- errors -----------------------------------------------------------------------------

    /// Records a failed action: error status, one more error, an event; retry after backoff.
    fn fail(&mut self, error_type: ErrorType, message: String) -> Requeue {
        self.status.operational_status = OperationalStatus::Error;
        self.status.error_type = Some(error_type);
        self.status.error_count += 1;
        self.event(
            EventType::Warning,
            error_reason(error_type),
            message.clone(),
        );
        self.status.error_message = message;
        Requeue::After(self.backoff_delay())
    }

    /// Records a problem the host cannot get past without a fix (nothing was attempted): the
    /// status changes, and the error counts, only the first time it is seen.
    fn fail_static(&mut self, error_type: ErrorType, message: String, retry: Requeue) -> Requeue {
        let same = self.status.operational_status == OperationalStatus::Error
            && self.status.error_type == Some(error_type)
            && self.status.error_message == message;
        if !same {
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
        retry
    }

    fn clear_error(&mut self) {
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
    fn backoff_remaining(&self) -> Option<Duration> {
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

    // --- transitions ------------------------------------------------------------------------

    /// Moves to `next`, keeping the operation history. A normal transition clears the error;
    /// `keep_error` keeps it (a failure moved the host on, e.g. to clean up).
    async fn enter(
        &mut self,
        next: ProvisioningState,
        keep_error: bool,
    ) -> Result<(), ProvisionerError> {
        use ProvisioningState as S;
        let prev = self.state();
        if prev == next {
            return Ok(());
        }
        let now = Some(self.now_time());
        let history = &mut self.status.operation_history;
        match prev {
            S::Registering => history.register.end = now.clone(),
            S::Inspecting => history.inspect.end = now.clone(),
            S::Provisioning => history.provision.end = now.clone(),
            S::Deprovisioning => history.deprovision.end = now.clone(),
            _ => {}
        }
        let started = match next {
            S::Registering => Some(&mut history.register),
            S::Inspecting => Some(&mut history.inspect),
            S::Provisioning => Some(&mut history.provision),
            S::Deprovisioning => Some(&mut history.deprovision),
            _ => None,
        };
        if let Some(metric) = started {
            metric.start = now;
            metric.end = None;
        }
        if matches!(next, S::Registering | S::Inspecting | S::Provisioning) {
            self.status.provisioning.boot_mode = Some(self.host.boot_mode());
        }
        self.status.provisioning.state = next.clone();
        let from = self
            .state_change
            .take()
            .map(|(from, _)| from)
            .unwrap_or(prev);
        self.state_change = Some((from, next.clone()));
        if !keep_error {
            self.clear_error();
        }
        if self.status.operational_status == OperationalStatus::Delayed {
            self.status.operational_status = OperationalStatus::Ok;
        }
        if is_capacity_limited(&next) && !self.prov.has_capacity(&self.host_data).await? {
            self.status.operational_status = OperationalStatus::Delayed;
        }
        Ok(())
    }

    // --- the pass ---------------------------------------------------------------------------

    async fn run(&mut self) -> Result<Requeue, ProvisionerError> {
        if let Some(r) = self.restore_status() {
            return Ok(r);
        }
        self.adopt_hardware_details();
        if self.state() == ProvisioningState::Ready {
            // Old name of `available`.
            self.enter(ProvisioningState::Available, true).await?;
        }
        if let Some(r) = self.check_credentials() {
            return Ok(r);
        }
        if let Some(r) = self.check_delayed().await? {
            return Ok(r);
        }
        if self.deleting()
            && let Some(r) = self.initiate_delete().await?
        {
            return Ok(r);
        }
        if let Some(r) = self.handle_detach().await? {
            return Ok(r);
        }
        if let Some(r) = self.register().await? {
            return Ok(r);
        }
        self.handle_state().await
    }

    /// Restores a status saved in the status annotation into a host without status (a host
    /// moved from another cluster). Returns at once: the restored status is saved first.
    fn restore_status(&mut self) -> Option<Requeue> {
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

    /// Takes hardware details from the HardwareData, or from the hardware-details annotation
    /// when inspection is disabled (external inspection).
    fn adopt_hardware_details(&mut self) {
        let raw = self.annotations.get(HARDWARE_DETAILS_ANNOTATION).cloned();
        if raw.is_some() {
            self.remove_annotation(HARDWARE_DETAILS_ANNOTATION);
        }
        if self.status.hardware.is_some() && !self.inspection_disabled() {
            return;
        }
        if let Some(details) = &self.inputs.hardware_data {
            if self.status.hardware.as_ref() != Some(details) {
                self.status.hardware = Some(details.clone());
            }
            return;
        }
        let Some(raw) = raw else { return };
        if !self.inspection_disabled() {
            self.event(
                EventType::Warning,
                "InvalidAnnotationValue",
                format!("annotation {HARDWARE_DETAILS_ANNOTATION} is only used when inspection is disabled (spec.inspectionMode: disabled)"),
            );
            return;
        }
        let mut de = serde_json::Deserializer::from_str(&raw);
        match HardwareDetails::deserialize(&mut de).and_then(|d| de.end().map(|()| d)) {
            Ok(details) => {
                self.status.hardware = Some(details.clone());
                self.effects
                    .push(Effect::SaveHardwareData(Box::new(details)));
                self.event(
                    EventType::Normal,
                    "UpdateHardwareDetails",
                    "hardware details set from the inspect.metal3.io/hardwaredetails annotation",
                );
            }
            Err(e) => self.event(
                EventType::Warning,
                "InvalidAnnotationValue",
                format!(
                    "annotation {HARDWARE_DETAILS_ANNOTATION} is not valid hardware details: {e}"
                ),
            ),
        }
    }

    fn check_credentials(&mut self) -> Option<Requeue> {
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

    fn registration_error_type(&self) -> ErrorType {
        match self.state() {
            ProvisioningState::Provisioned | ProvisioningState::ExternallyProvisioned => {
                ErrorType::ProvisionedRegistration
            }
            _ => ErrorType::Registration,
        }
    }

    /// A host delayed for capacity waits until the provisioner has room.
    async fn check_delayed(&mut self) -> Step {
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

    async fn initiate_delete(&mut self) -> Step {
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

    async fn handle_detach(&mut self) -> Step {
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
    async fn register(&mut self) -> Step {
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

    async fn handle_state(&mut self) -> Result<Requeue, ProvisionerError> {
        use ProvisioningState as S;
        match self.state() {
            S::None => self.handle_none().await,
            S::Unmanaged => self.handle_unmanaged().await,
            S::Registering => self.handle_registering().await,
            S::Inspecting => self.handle_inspecting().await,
            S::MatchProfile => {
                self.enter(S::Preparing, false).await?;
                Ok(Requeue::Now)
            }
            S::Preparing => self.handle_preparing().await,
            S::Available | S::Ready => self.handle_available().await,
            S::Provisioning => self.handle_provisioning().await,
            S::Provisioned => self.handle_provisioned().await,
            S::ExternallyProvisioned => self.handle_externally_provisioned().await,
            S::Deprovisioning => self.handle_deprovisioning().await,
            S::PoweringOffBeforeDelete => self.handle_powering_off().await,
            S::Deleting => self.handle_deleting().await,
            S::Other(name) => Ok(self.fail_static(
                ErrorType::Registration,
                format!(
                    "unknown provisioning state {name:?} in status.provisioning.state; \
                     this operator does not know how to go on from it"
                ),
                Requeue::Never,
            )),
        }
    }

    async fn handle_none(&mut self) -> Result<Requeue, ProvisionerError> {
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

    async fn handle_unmanaged(&mut self) -> Result<Requeue, ProvisionerError> {
        if !self.spec.has_bmc_details() {
            return Ok(Requeue::After(self.config.idle_poll));
        }
        self.enter(ProvisioningState::Registering, false).await?;
        self.status.operational_status = OperationalStatus::Ok;
        Ok(Requeue::Now)
    }

    async fn handle_registering(&mut self) -> Result<Requeue, ProvisionerError> {
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

    fn note_inspection_skipped(&mut self) {
        self.event(
            EventType::Normal,
            "InspectionSkipped",
            "Hardware inspection is disabled",
        );
    }

    async fn handle_inspecting(&mut self) -> Result<Requeue, ProvisionerError> {
        use ProvisioningState as S;
        if self.inspection_disabled() {
            self.note_inspection_skipped();
            self.enter(S::Preparing, false).await?;
            return Ok(Requeue::Now);
        }
        let restart = self.status.error_type == Some(ErrorType::Inspection);
        if restart && let Some(left) = self.backoff_remaining() {
            return Ok(Requeue::After(left));
        }
        let data = InspectData {
            boot_mode: self.host.boot_mode(),
            inspection_mode: self.spec.inspection_mode.unwrap_or_default(),
        };
        let force_reboot = annotations::reboot_requests(&self.annotations)
            .iter()
            .any(|r| r.force);
        let out = self
            .prov
            .inspect_hardware(
                &self.host_data,
                &data,
                InspectOptions {
                    restart,
                    force_reboot,
                    ..Default::default()
                },
            )
            .await?;
        match out.outcome {
            Outcome::Failed { message } => Ok(self.fail(ErrorType::Inspection, message)),
            Outcome::InProgress { after } => {
                if out.started {
                    self.event(
                        EventType::Normal,
                        "InspectionStarted",
                        "Hardware inspection started",
                    );
                    if restart {
                        self.clear_error();
                    }
                }
                Ok(Requeue::After(after))
            }
            Outcome::Done => {
                if let Some(details) = out.details {
                    self.status.hardware = Some(details.clone());
                    self.effects
                        .push(Effect::SaveHardwareData(Box::new(details)));
                }
                self.event(
                    EventType::Normal,
                    "InspectionComplete",
                    "Hardware inspection completed",
                );
                self.enter(S::Preparing, false).await?;
                Ok(Requeue::Now)
            }
        }
    }

    /// Whether the spec asks for RAID, root disk or firmware settings not yet applied.
    fn needs_preparation(&self) -> bool {
        let applied = &self.status.provisioning;
        !same_raid(&self.spec.raid, &applied.raid)
            || self.spec.root_device_hints != applied.root_device_hints
            || self.spec.firmware != applied.firmware
            || !self.inputs.firmware.pending.is_empty()
            || !self.inputs.firmware.pending_updates.is_empty()
    }

    async fn handle_preparing(&mut self) -> Result<Requeue, ProvisionerError> {
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

    /// Whether the spec asks for a deployment the host does not have.
    fn wants_provisioning(&self) -> bool {
        let applied = &self.status.provisioning;
        let image = self.spec.image.as_ref().is_some_and(|i| !i.url.is_empty())
            && applied.image.url.is_empty();
        let custom =
            self.spec.custom_deploy.is_some() && self.spec.custom_deploy != applied.custom_deploy;
        self.spec.online && (image || custom)
    }

    async fn handle_available(&mut self) -> Result<Requeue, ProvisionerError> {
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

    async fn handle_provisioning(&mut self) -> Result<Requeue, ProvisionerError> {
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

    async fn handle_provisioned(&mut self) -> Result<Requeue, ProvisionerError> {
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

    async fn handle_externally_provisioned(&mut self) -> Result<Requeue, ProvisionerError> {
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

    async fn handle_deprovisioning(&mut self) -> Result<Requeue, ProvisionerError> {
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

    async fn handle_powering_off(&mut self) -> Result<Requeue, ProvisionerError> {
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

    async fn handle_deleting(&mut self) -> Result<Requeue, ProvisionerError> {
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

    /// Available and provisioned hosts: follow the power state, apply `online` and reboot
    /// requests.
    async fn steady_state(&mut self) -> Result<Requeue, ProvisionerError> {
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

    /// Applies firmware settings and updates to a provisioned host that is off.
    async fn service(&mut self) -> Result<Requeue, ProvisionerError> {
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

    async fn sync_data_image(&mut self, provisioned: bool) -> Result<(), ProvisionerError> {
        let Some(di) = self.inputs.data_image.clone() else {
            return Ok(());
        };
        if di.wanted == di.attached {
            return Ok(());
        }
        let outcome = match (&di.wanted, provisioned) {
            (Some(url), true) => self.prov.attach_data_image(&self.host_data, url).await?,
            (Some(_), false) if di.attached.is_none() => return Ok(()),
            _ => self.prov.detach_data_image(&self.host_data).await?,
        };
        let attached = if provisioned { di.wanted.clone() } else { None };
        match outcome {
            Outcome::Done => {
                let message = match &attached {
                    Some(url) => format!("attached data image {url}"),
                    None => "detached the data image".to_string(),
                };
                self.event(EventType::Normal, "DataImage", message);
                self.effects.push(Effect::DataImageAttached(attached));
            }
            Outcome::InProgress { .. } => {}
            Outcome::Failed { message } => {
                self.event(EventType::Warning, "DataImageError", message.clone());
                self.effects.push(Effect::DataImageFailed(message));
            }
        }
        Ok(())
    }

    /// Records that the provisioner could not be asked (its message says what could not be
    /// reached: Ironic, a BMC), as an error of the current state's action, so the host shows
    /// why it is stuck and retries with backoff.
    fn backend_unreachable(&mut self, message: &str) -> Requeue {
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

    fn clear_power_error(&mut self) {
        if self.status.error_type == Some(ErrorType::PowerManagement)
            || self.status.error_type.is_none()
        {
            self.clear_error();
        }
    }

    fn finish(mut self, result: Result<Requeue, ProvisionerError>) -> Decision {
        let (requeue, transient) = match result {
            Ok(r) => (r, None),
            Err(e) => (Requeue::Never, Some(e)),
        };
        if !self.skip_conditions {
            let now = self.now_time();
            let generation = self.host.metadata.generation;
            let mut wants = conditions::lifecycle(&self.status);
            if let Some(h) = self.health {
                wants.push(conditions::healthy(h));
            }
            conditions::merge(&mut self.status.conditions, &wants, generation, &now);
        }
        Decision {
            status: self.status,
            requeue,
            events: self.events,
            effects: self.effects,
            transient,
            state_change: self.state_change,
        }
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
