//! The BareMetalHost controller: reads what a host needs, runs one pass of the state machine
//! and writes the outcome back (status, annotations, HardwareData, Secret, finalizers, events).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::runtime::controller::Action;
use kube::runtime::events::{Event as KubeEvent, EventType as KubeEventType};
use kube::{Client, Resource, ResourceExt};
use metal3_api::consts::{BAREMETALHOST_FINALIZER, HARDWARE_DATA_FINALIZER, PAUSED_ANNOTATION};
use metal3_api::v1alpha1::{
    BareMetalHost, HardwareData, HardwareDataSpec, HardwareDetails, OperationalStatus,
    ProvisioningState, SecretReference,
};
use metal3_hoststate::{
    CredentialsInput, Decision, Effect, EventType, Inputs, PreprovisioningInput, Requeue,
};
use metal3_provisioner::{HostConfig, HostData, Provisioner, ProvisionerError};
use serde_json::json;
use tracing::{debug, info, warn};

use crate::cache::{Caches, NotReady};
use crate::credentials;
use crate::meta::host_data;
use crate::metrics::{ErrorTypeLabels, HostLabels, Metrics, PowerLabels, StateChangeLabels};
use metal3_kube::meta::{owner_reference, set_finalizer};

/// Field manager of our server-side applies.
pub const FIELD_MANAGER: &str = "metal3-baremetal-controller";

/// Everything a reconcile needs.
pub struct Context {
    pub client: Client,
    pub provisioner: Arc<dyn Provisioner>,
    pub machine: metal3_hoststate::Config,
    pub recorder: crate::events::Recorder,
    pub metrics: Arc<Metrics>,
    /// How often firmware settings are read back.
    pub firmware_poll: crate::firmware::FirmwarePoll,
    /// Whether hosts get PreprovisioningImages (`--build-preprov-image`).
    pub build_preprovisioning_images: bool,
    /// The host's companion objects, read from watches.
    pub caches: Caches,
    /// Per host: the resourceVersion our last status write replaced. A cached object still at
    /// that version is older than what we wrote.
    written: Mutex<HashMap<(String, String), String>>,
    /// Per host: when its firmware was last read back. A reading that changes nothing is not
    /// written (10,000 hosts polled every 5 minutes would otherwise write 67 statuses a
    /// second), so the status's `lastUpdated` says when the content last changed and this
    /// says when it was last checked.
    firmware_read: Mutex<HashMap<(String, String), k8s_openapi::jiff::Timestamp>>,
}

impl Context {
    pub fn new(
        client: Client,
        provisioner: Arc<dyn Provisioner>,
        machine: metal3_hoststate::Config,
        recorder: crate::events::Recorder,
        metrics: Arc<Metrics>,
        caches: Caches,
    ) -> Self {
        Self {
            client,
            provisioner,
            machine,
            recorder,
            metrics,
            firmware_poll: crate::firmware::FirmwarePoll::default(),
            build_preprovisioning_images: false,
            caches,
            written: Mutex::new(HashMap::new()),
            firmware_read: Mutex::new(HashMap::new()),
        }
    }

    fn written(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), String>> {
        self.written.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// When the host's firmware was last read back by this process, if it was.
    pub(crate) fn firmware_read(
        &self,
        ns: &str,
        name: &str,
    ) -> Option<k8s_openapi::jiff::Timestamp> {
        let read = self.firmware_read.lock().unwrap_or_else(|e| e.into_inner());
        read.get(&(ns.to_string(), name.to_string())).copied()
    }

    pub(crate) fn firmware_was_read(&self, ns: &str, name: &str, at: k8s_openapi::jiff::Timestamp) {
        let mut read = self.firmware_read.lock().unwrap_or_else(|e| e.into_inner());
        read.insert((ns.to_string(), name.to_string()), at);
    }
}

/// Why a reconcile failed; the controller retries.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    #[error("provisioner: {0}")]
    Provisioner(#[from] ProvisionerError),
    #[error("object has no {0}")]
    Incomplete(&'static str),
    #[error(transparent)]
    Cache(#[from] NotReady),
}

impl Error {
    /// Whether the error is an optimistic-concurrency conflict (a newer object exists).
    pub fn is_conflict(&self) -> bool {
        matches!(self, Self::Kube(kube::Error::Api(s)) if s.code == 409)
    }
}

fn requeue_action(r: Requeue) -> Action {
    match r {
        Requeue::Now => Action::requeue(Duration::ZERO),
        Requeue::After(d) => Action::requeue(d),
        Requeue::Never => Action::await_change(),
    }
}

/// Retry policy after a failed reconcile.
pub fn error_policy(_host: Arc<BareMetalHost>, error: &Error, ctx: Arc<Context>) -> Action {
    ctx.metrics.reconcile_error.inc();
    if error.is_conflict() {
        debug!(%error, "conflict; retrying with the newer object");
        Action::requeue(Duration::from_millis(200))
    } else {
        warn!(%error, "reconcile failed");
        Action::requeue(Duration::from_secs(5))
    }
}

/// One reconcile of one host.
pub async fn reconcile(host: Arc<BareMetalHost>, ctx: Arc<Context>) -> Result<Action, Error> {
    let ns = host.namespace().ok_or(Error::Incomplete("namespace"))?;
    let name = host
        .metadata
        .name
        .clone()
        .ok_or(Error::Incomplete("name"))?;
    let key = (ns.clone(), name.clone());
    let rv = host.resource_version().unwrap_or_default();
    {
        let mut written = ctx.written();
        match written.get(&key) {
            // The cache has not caught up with our last write yet.
            Some(old) if *old == rv => return Ok(Action::requeue(Duration::from_millis(50))),
            Some(_) => {
                written.remove(&key);
            }
            None => {}
        }
    }
    ctx.metrics
        .reconcile
        .get_or_create(&HostLabels {
            namespace: ns.clone(),
            host: name.clone(),
        })
        .inc();
    if host.annotations().contains_key(PAUSED_ANNOTATION) {
        debug!(host = %name, "paused");
        return Ok(Action::await_change());
    }
    ctx.caches.ready().await?;
    let hosts: Api<BareMetalHost> = Api::namespaced(ctx.client.clone(), &ns);
    let deleting = host.metadata.deletion_timestamp.is_some();
    let has_finalizer = host
        .finalizers()
        .iter()
        .any(|f| f == BAREMETALHOST_FINALIZER);
    if !has_finalizer {
        if deleting {
            return Ok(Action::await_change());
        }
        set_finalizer(&hosts, &host, BAREMETALHOST_FINALIZER, true).await?;
        return Ok(Action::await_change());
    }

    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), &ns);
    let found = credentials::load(&secrets, &ctx.caches.secrets, &host).await?;
    match &found.input {
        CredentialsInput::Missing { .. } => ctx.metrics.credentials_missing.inc(),
        CredentialsInput::Invalid { .. } => ctx.metrics.credentials_invalid.inc(),
        _ => 0,
    };
    let hardware: Api<HardwareData> = Api::namespaced(ctx.client.clone(), &ns);
    let hardware_data = ctx.caches.hardware.get(&ns, &name);
    if deleting
        && let Some(hd) = &hardware_data
        && let Some(patched) =
            set_finalizer(&hardware, &**hd, HARDWARE_DATA_FINALIZER, false).await?
    {
        ctx.caches.hardware.wrote(&ns, &name, Some(patched));
    }
    let state = host.provisioning_state();
    // The preprovisioning network data, while the agent's ramdisk may boot (upstream hands
    // it to the ramdisk, and to the config drive when spec.networkData is not set).
    let preprovisioning_network_data = if !deleting
        && !host.spec.preprovisioning_network_data_name.is_empty()
        && matches!(
            state,
            ProvisioningState::None
                | ProvisioningState::Registering
                | ProvisioningState::Inspecting
                | ProvisioningState::Preparing
                | ProvisioningState::Available
                | ProvisioningState::Ready
                | ProvisioningState::Provisioning
                | ProvisioningState::Deprovisioning
        ) {
        let reference = SecretReference {
            name: Some(host.spec.preprovisioning_network_data_name.clone()),
            namespace: None,
        };
        credentials::read_data(&secrets, Some(&reference), "networkData").await?
    } else {
        None
    };
    let host_config = if matches!(
        state,
        ProvisioningState::Available | ProvisioningState::Provisioning
    ) && !deleting
    {
        let network_data = match host.spec.network_data.as_ref() {
            Some(reference) => {
                credentials::read_data(&secrets, Some(reference), "networkData").await?
            }
            None => preprovisioning_network_data.clone(),
        };
        HostConfig {
            user_data: credentials::read_data(&secrets, host.spec.user_data.as_ref(), "userData")
                .await?,
            network_data,
            meta_data: credentials::read_data(&secrets, host.spec.meta_data.as_ref(), "metaData")
                .await?,
        }
    } else {
        HostConfig::default()
    };

    let host_data = host_data(&host, found.credentials);
    let can_ask = matches!(found.input, CredentialsInput::Valid { .. }) && !deleting;
    let firmware = crate::firmware::sync(&ctx, &host, &ns, &host_data, can_ask, false).await?;
    let data_image =
        crate::dataimage::load(&ctx.client, &ctx.caches.data_images, &ns, &name, deleting).await?;
    let preprovisioning = if deleting
        || matches!(
            state,
            ProvisioningState::None | ProvisioningState::Unmanaged | ProvisioningState::Deleting
        ) {
        PreprovisioningInput::NotUsed
    } else {
        crate::preprov::for_host(&ctx, &host, &ns, &name).await?
    };
    let inputs = Inputs {
        now: Timestamp::now(),
        host_data,
        credentials: found.input,
        host_config,
        hardware_data: hardware_data.and_then(|hd| hd.spec.hardware.clone()),
        firmware,
        data_image,
        preprovisioning,
        preprovisioning_network_data: preprovisioning_network_data.unwrap_or_default(),
    };
    let decision =
        metal3_hoststate::reconcile(&host, &inputs, &ctx.machine, ctx.provisioner.as_ref()).await;
    if let Some(e) = decision.transient {
        if e == ProvisionerError::NotReady {
            ctx.metrics.provisioner_not_ready.inc();
        }
        return Err(e.into());
    }
    if matches!(inputs.preprovisioning, PreprovisioningInput::Waiting(_))
        && decision.status.provisioning.state == ProvisioningState::Registering
    {
        ctx.metrics.waiting_for_preprov_image.inc();
    }
    apply(&host, &ns, &name, &inputs.host_data, decision, &ctx).await
}

async fn apply(
    host: &BareMetalHost,
    ns: &str,
    name: &str,
    host_data: &HostData,
    decision: Decision,
    ctx: &Context,
) -> Result<Action, Error> {
    let hosts: Api<BareMetalHost> = Api::namespaced(ctx.client.clone(), ns);
    let released = decision.effects.contains(&Effect::Released);
    if !released && decision.status_changed(host.status.as_ref()) {
        let mut updated = host.clone();
        let mut status = decision.status.clone();
        status.last_updated = Some(Time(Timestamp::now()));
        updated.status = Some(status);
        hosts
            .replace_status(name, &PostParams::default(), &updated)
            .await?;
        ctx.written().insert(
            (ns.to_string(), name.to_string()),
            host.resource_version().unwrap_or_default(),
        );
    }
    for effect in &decision.effects {
        match effect {
            Effect::RemoveAnnotation(key) => {
                let patch = json!({"metadata": {"annotations": {key: null}}});
                hosts
                    .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
                    .await?;
            }
            Effect::SaveHardwareData(details) => {
                save_hardware_data(ctx, host, ns, name, details).await?
            }
            Effect::FirmwareApplied => {
                crate::firmware::sync(ctx, host, ns, host_data, true, true).await?;
            }
            Effect::DataImageAttached(url) => {
                crate::dataimage::record(
                    &ctx.client,
                    &ctx.caches.data_images,
                    ns,
                    name,
                    Ok(url.clone()),
                )
                .await?;
            }
            Effect::DataImageFailed(message) => {
                crate::dataimage::record(
                    &ctx.client,
                    &ctx.caches.data_images,
                    ns,
                    name,
                    Err(message.clone()),
                )
                .await?;
            }
            Effect::Released => {}
        }
    }
    publish(ctx, host, &decision).await;
    record_metrics(ctx, ns, name, &decision);
    if let Some((from, to)) = &decision.state_change {
        info!(host = %name, namespace = %ns, from = %from.as_str(), to = %to.as_str(), "provisioning state changed");
    }
    if released {
        let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), ns);
        credentials::release(&secrets, &ctx.caches.secrets, host).await?;
        crate::preprov::release(&ctx.client, ns, name).await?;
        set_finalizer(&hosts, host, BAREMETALHOST_FINALIZER, false).await?;
        info!(host = %name, namespace = %ns, "host released");
        return Ok(Action::await_change());
    }
    Ok(requeue_action(decision.requeue))
}

async fn save_hardware_data(
    ctx: &Context,
    host: &BareMetalHost,
    ns: &str,
    name: &str,
    details: &HardwareDetails,
) -> Result<(), Error> {
    let api: Api<HardwareData> = Api::namespaced(ctx.client.clone(), ns);
    let mut hd = HardwareData::new(
        name,
        HardwareDataSpec {
            hardware: Some(details.clone()),
        },
    );
    hd.metadata.namespace = Some(ns.to_string());
    hd.metadata.finalizers = Some(vec![HARDWARE_DATA_FINALIZER.to_string()]);
    let owner = owner_reference(host, true).ok_or(Error::Incomplete("uid"))?;
    hd.metadata.owner_references = Some(vec![owner]);
    let value =
        serde_json::to_value(&hd).map_err(|_| Error::Incomplete("serialisable HardwareData"))?;
    let saved = api
        .patch(
            name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&value),
        )
        .await?;
    ctx.caches.hardware.wrote(ns, name, Some(saved));
    Ok(())
}

async fn publish(ctx: &Context, host: &BareMetalHost, decision: &Decision) {
    let reference = host.object_ref(&());
    for e in &decision.events {
        let event = KubeEvent {
            type_: match e.event_type {
                EventType::Normal => KubeEventType::Normal,
                EventType::Warning => KubeEventType::Warning,
            },
            reason: e.reason.to_string(),
            note: Some(e.message.clone()),
            action: e.reason.to_string(),
            secondary: None,
        };
        if let Err(err) = ctx.recorder.publish(&event, &reference).await {
            warn!(reason = e.reason, %err, "cannot publish event");
        }
    }
}

fn record_metrics(ctx: &Context, ns: &str, name: &str, decision: &Decision) {
    let m = &ctx.metrics;
    if let Some((from, to)) = &decision.state_change {
        let history = &decision.status.operation_history;
        let (op, histogram) = match from {
            ProvisioningState::Registering => (&history.register, &m.register_duration),
            ProvisioningState::Inspecting => (&history.inspect, &m.inspect_duration),
            ProvisioningState::Provisioning => (&history.provision, &m.provision_duration),
            ProvisioningState::Deprovisioning => (&history.deprovision, &m.deprovision_duration),
            _ => (&history.register, &m.register_duration),
        };
        let tracked = matches!(
            from,
            ProvisioningState::Registering
                | ProvisioningState::Inspecting
                | ProvisioningState::Provisioning
                | ProvisioningState::Deprovisioning
        );
        if tracked && let (Some(start), Some(end)) = (&op.start, &op.end) {
            let seconds = end.0.duration_since(start.0).as_secs_f64();
            histogram.observe(seconds.max(0.0));
        }
        if *to == ProvisioningState::Deleting && *from != ProvisioningState::PoweringOffBeforeDelete
        {
            m.delete_without_deprovisioning.inc();
        }
        m.state_change
            .get_or_create(&StateChangeLabels {
                prev_state: from.as_str().to_string(),
                new_state: to.as_str().to_string(),
            })
            .inc();
        if decision.status.operational_status == OperationalStatus::Delayed {
            match to {
                ProvisioningState::Provisioning => m.delayed_provisioning.inc(),
                ProvisioningState::Deprovisioning => m.delayed_deprovisioning.inc(),
                _ => 0,
            };
        }
        if *to == ProvisioningState::Unmanaged {
            m.unmanaged.inc();
        }
    }
    for e in &decision.events {
        match e.reason {
            "PowerOn" | "PowerOff" => {
                m.power_change
                    .get_or_create(&PowerLabels {
                        namespace: ns.to_string(),
                        host: name.to_string(),
                        on_off: if e.reason == "PowerOn" { "on" } else { "off" }.to_string(),
                    })
                    .inc();
            }
            "BMCAccessValidated" => {
                m.credentials_updated.inc();
            }
            _ => {}
        }
        if e.event_type == EventType::Warning
            && let Some(t) = decision.status.error_type
            && metal3_hoststate::error_reason(t) == e.reason
        {
            m.host_error
                .get_or_create(&ErrorTypeLabels {
                    error_type: t.as_str().to_string(),
                })
                .inc();
        }
    }
}
