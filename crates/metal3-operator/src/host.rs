//! The BareMetalHost controller: reads what a host needs, runs one pass of the state machine
//! and writes the outcome back (status, annotations, HardwareData, Secret, finalizers, events).

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::core::PartialObjectMetaExt;
use kube::runtime::controller::Action;
use kube::runtime::events::{Event as KubeEvent, EventType as KubeEventType};
use kube::{Resource, ResourceExt};
use metal3_api::consts::{BAREMETALHOST_FINALIZER, HARDWARE_DATA_FINALIZER, PAUSED_ANNOTATION};
use metal3_api::v1alpha1::{
    BareMetalHost, HardwareData, HardwareDataSpec, HardwareDetails, OperationalStatus,
    ProvisioningState, SecretReference,
};
use metal3_hoststate::{
    CredentialsInput, Decision, Effect, EventType, Inputs, PreprovisioningInput, Requeue,
};
use metal3_provisioner::{HostConfig, HostData, ProvisionerError};
use serde_json::json;
use tracing::{debug, info, warn};

use crate::context::{Context, Error};
use crate::credentials;
use crate::host_data;
use crate::metrics::{ErrorTypeLabels, HostLabels, PowerLabels, StateChangeLabels};
use metal3_kube::meta::{owner_reference, set_finalizer, set_finalizer_meta};
use metal3_kube::packed::Packed;

/// Field manager of our server-side applies.
pub const FIELD_MANAGER: &str = "metal3-baremetal-controller";

fn requeue_action(r: Requeue) -> Action {
    match r {
        Requeue::Now => Action::requeue(Duration::ZERO),
        Requeue::After(d) => Action::requeue(d),
        Requeue::Never => Action::await_change(),
    }
}

/// Retry policy after a failed reconcile.
pub fn error_policy(_host: Arc<Packed<BareMetalHost>>, error: &Error, ctx: Arc<Context>) -> Action {
    ctx.metrics.reconcile_error.inc();
    if error.is_conflict() {
        debug!(%error, "conflict; retrying with the newer object");
        Action::requeue(Duration::from_millis(200))
    } else {
        warn!(%error, "reconcile failed");
        Action::requeue(Duration::from_secs(5))
    }
}

/// One reconcile of one host: with shards, only when this replica holds the host's shard (the
/// backend calls made on behalf of that tenure); then the checks before a pass, the inputs,
/// one pass of the state machine, and its outcome written back. The cache holds the host
/// packed; the pass works on a typed copy of its own.
pub async fn reconcile(
    packed: Arc<Packed<BareMetalHost>>,
    ctx: Arc<Context>,
) -> Result<Action, Error> {
    let ns = packed.namespace().ok_or(Error::Incomplete("namespace"))?;
    let name = packed
        .meta()
        .name
        .clone()
        .ok_or(Error::Incomplete("name"))?;
    let Some(shards) = &ctx.shards else {
        return pass(&packed.unpack(), &ctx, &ns, &name, None).await;
    };
    // Not ours: another replica acts on it; we are woken again when we gain its shard.
    let Some(tenure) = shards.enter(&ns, &name) else {
        return Ok(Action::await_change());
    };
    let host = packed.unpack();
    metal3_provisioner::actor::scope(tenure.actor(), pass(&host, &ctx, &ns, &name, Some(&tenure)))
        .await
}

/// One pass on a host this replica may act on; `tenure` (with shards) is checked again before
/// the backend is asked and before the outcome is written.
async fn pass(
    host: &BareMetalHost,
    ctx: &Context,
    ns: &str,
    name: &str,
    tenure: Option<&metal3_kube::shards::Tenure>,
) -> Result<Action, Error> {
    let lost = || tenure.is_some_and(|t| !t.still_held());
    if let Some(action) = before_pass(host, ctx, ns, name).await? {
        return Ok(action);
    }
    let inputs = gather_inputs(host, ctx, ns, name).await?;
    if lost() {
        return Ok(Action::await_change());
    }
    let decision = decide(host, &inputs, ctx).await?;
    if lost() {
        warn!(host = %name, namespace = %ns, "lost the host's shard during a pass; not writing its outcome");
        return Ok(Action::await_change());
    }
    apply(host, ns, name, &inputs.host_data, decision, ctx).await
}

/// The checks before a pass. `Some(action)` ends the reconcile early: the cache has not caught
/// up with our last status write, the host is paused, or the host has no finalizer yet (it
/// gets one, and the pass runs when that change arrives; a deleted host without one is not
/// ours any more).
async fn before_pass(
    host: &BareMetalHost,
    ctx: &Context,
    ns: &str,
    name: &str,
) -> Result<Option<Action>, Error> {
    let rv = host.resource_version().unwrap_or_default();
    if ctx.behind_our_write(ns, name, &rv) {
        // The cache has not caught up with our last write yet.
        return Ok(Some(Action::requeue(Duration::from_millis(50))));
    }
    ctx.metrics
        .reconcile
        .get_or_create(&HostLabels {
            namespace: ns.to_string(),
            host: name.to_string(),
        })
        .inc();
    ctx.metrics.reconciles.inc();
    if host.annotations().contains_key(PAUSED_ANNOTATION) {
        debug!(host = %name, "paused");
        return Ok(Some(Action::await_change()));
    }
    ctx.caches.ready().await?;
    let has_finalizer = host
        .finalizers()
        .iter()
        .any(|f| f == BAREMETALHOST_FINALIZER);
    if !has_finalizer {
        if host.metadata.deletion_timestamp.is_none() {
            let hosts: Api<BareMetalHost> = Api::namespaced(ctx.client.clone(), ns);
            set_finalizer(&hosts, host, BAREMETALHOST_FINALIZER, true).await?;
        }
        return Ok(Some(Action::await_change()));
    }
    Ok(None)
}

/// Everything the state machine reads about the host, from the caches and the API server. On
/// the way the credentials Secret is marked as ours, the HardwareData of a deleted host is let
/// go, and the firmware objects, DataImage and PreprovisioningImage are brought up to date.
async fn gather_inputs(
    host: &BareMetalHost,
    ctx: &Context,
    ns: &str,
    name: &str,
) -> Result<Inputs, Error> {
    let deleting = host.metadata.deletion_timestamp.is_some();
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), ns);
    let found = credentials::load(&secrets, &ctx.caches.secrets, host).await?;
    match &found.input {
        CredentialsInput::Missing { .. } => ctx.metrics.credentials_missing.inc(),
        CredentialsInput::Invalid { .. } => ctx.metrics.credentials_invalid.inc(),
        _ => 0,
    };
    let hardware: Api<HardwareData> = Api::namespaced(ctx.client.clone(), ns);
    let hardware_meta = ctx.caches.hardware.get(ns, name);
    if deleting
        && let Some(hd) = &hardware_meta
        && let Some(patched) =
            set_finalizer_meta(&hardware, hd, HARDWARE_DATA_FINALIZER, false).await?
    {
        ctx.caches.hardware.wrote(ns, name, Some(patched));
    }
    // Only the metadata is cached: the inventory is read when the status lacks it.
    let hardware_data = match hardware_meta {
        Some(_) if metal3_hoststate::reads_hardware_data(host) => hardware
            .get_opt(name)
            .await?
            .and_then(|hd| hd.spec.hardware),
        _ => None,
    };
    let preprovisioning_network_data =
        preprovisioning_network_data(&secrets, host, deleting).await?;
    let host_config = host_config(&secrets, host, deleting, &preprovisioning_network_data).await?;

    let mut host_data = host_data::of(host, found.credentials);
    host_data.network_attachments = host_data::network_attachments(&ctx.client, host).await?;
    let can_ask = matches!(found.input, CredentialsInput::Valid { .. }) && !deleting;
    let firmware = crate::firmware::sync(ctx, host, ns, &host_data, can_ask, false).await?;
    let data_image =
        crate::dataimage::load(&ctx.client, &ctx.caches.data_images, ns, name, deleting).await?;
    let preprovisioning = preprovisioning(ctx, host, ns, name, deleting).await?;
    Ok(Inputs {
        now: Timestamp::now(),
        host_data,
        credentials: found.input,
        host_config,
        hardware_data,
        firmware,
        data_image,
        preprovisioning,
        preprovisioning_network_data: preprovisioning_network_data.unwrap_or_default(),
    })
}

/// The preprovisioning network data, while the agent's ramdisk may boot (upstream hands it to
/// the ramdisk, and to the config drive when spec.networkData is not set).
async fn preprovisioning_network_data(
    secrets: &Api<Secret>,
    host: &BareMetalHost,
    deleting: bool,
) -> Result<Option<String>, Error> {
    let ramdisk_may_boot = matches!(
        host.provisioning_state(),
        ProvisioningState::None
            | ProvisioningState::Registering
            | ProvisioningState::Inspecting
            | ProvisioningState::Preparing
            | ProvisioningState::Available
            | ProvisioningState::Ready
            | ProvisioningState::Provisioning
            | ProvisioningState::Deprovisioning
    );
    if deleting || host.spec.preprovisioning_network_data_name.is_empty() || !ramdisk_may_boot {
        return Ok(None);
    }
    let reference = SecretReference {
        name: Some(host.spec.preprovisioning_network_data_name.clone()),
        namespace: None,
    };
    Ok(credentials::read_data(secrets, Some(&reference), "networkData").await?)
}

/// The user data, network data and meta data of the config drive, read while the host may be
/// provisioned (empty otherwise).
async fn host_config(
    secrets: &Api<Secret>,
    host: &BareMetalHost,
    deleting: bool,
    preprovisioning_network_data: &Option<String>,
) -> Result<HostConfig, Error> {
    let may_provision = matches!(
        host.provisioning_state(),
        ProvisioningState::Available | ProvisioningState::Provisioning
    );
    if !may_provision || deleting {
        return Ok(HostConfig::default());
    }
    let network_data = match host.spec.network_data.as_ref() {
        Some(reference) => credentials::read_data(secrets, Some(reference), "networkData").await?,
        None => preprovisioning_network_data.clone(),
    };
    Ok(HostConfig {
        user_data: credentials::read_data(secrets, host.spec.user_data.as_ref(), "userData")
            .await?,
        network_data,
        meta_data: credentials::read_data(secrets, host.spec.meta_data.as_ref(), "metaData")
            .await?,
    })
}

/// The host's PreprovisioningImage, in the states where the backend may boot one.
async fn preprovisioning(
    ctx: &Context,
    host: &BareMetalHost,
    ns: &str,
    name: &str,
    deleting: bool,
) -> Result<PreprovisioningInput, Error> {
    if deleting
        || matches!(
            host.provisioning_state(),
            ProvisioningState::None | ProvisioningState::Unmanaged | ProvisioningState::Deleting
        )
    {
        return Ok(PreprovisioningInput::NotUsed);
    }
    crate::preprov::for_host(ctx, host, ns, name).await
}

/// One pass of the state machine. A transient provisioner error ends the reconcile with that
/// error (the controller retries).
async fn decide(host: &BareMetalHost, inputs: &Inputs, ctx: &Context) -> Result<Decision, Error> {
    let decision =
        metal3_hoststate::reconcile(host, inputs, &ctx.machine, ctx.provisioner.as_ref()).await;
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
    Ok(decision)
}

/// Writes the outcome of a pass, in this order: the HardwareData, the status (unless the host
/// is released), the other effects, the Events and metrics; a released host then lets go of its Secret,
/// PreprovisioningImage and finalizer.
async fn apply(
    host: &BareMetalHost,
    ns: &str,
    name: &str,
    host_data: &HostData,
    decision: Decision,
    ctx: &Context,
) -> Result<Action, Error> {
    let released = decision.effects.contains(&Effect::Released);
    // The inventory is saved before the status moves on: a crash or a failed write between
    // the two must not leave a host past inspection without its HardwareData.
    let (first, after): (Vec<&Effect>, Vec<&Effect>) = decision
        .effects
        .iter()
        .partition(|e| matches!(e, Effect::SaveHardwareData(_)));
    for effect in first {
        apply_effect(ctx, host, ns, name, host_data, effect).await?;
    }
    if !released && decision.status_changed(host.status.as_ref()) {
        write_status(ctx, host, ns, name, &decision).await?;
    }
    for effect in after {
        apply_effect(ctx, host, ns, name, host_data, effect).await?;
    }
    publish(ctx, host, &decision).await;
    crate::steps::record(ctx, host, host_data, ns, &decision);
    record_metrics(ctx, ns, name, &decision);
    if let Some((from, to)) = &decision.state_change {
        info!(host = %name, namespace = %ns, from = %from.as_str(), to = %to.as_str(), "provisioning state changed");
    }
    if released {
        release(ctx, host, ns, name).await?;
        return Ok(Action::await_change());
    }
    Ok(requeue_action(decision.requeue))
}

/// Replaces the host's status with the decided one (optimistic concurrency: a newer host
/// fails the write with a conflict), and remembers which version it replaced.
async fn write_status(
    ctx: &Context,
    host: &BareMetalHost,
    ns: &str,
    name: &str,
    decision: &Decision,
) -> Result<(), Error> {
    let hosts: Api<BareMetalHost> = Api::namespaced(ctx.client.clone(), ns);
    let mut updated = host.clone();
    let mut status = decision.status.clone();
    status.last_updated = Some(Time(Timestamp::now()));
    updated.status = Some(status);
    hosts
        .replace_status(name, &PostParams::default(), &updated)
        .await?;
    ctx.wrote_status(ns, name, host.resource_version().unwrap_or_default());
    Ok(())
}

/// Carries out one effect the state machine asked for.
async fn apply_effect(
    ctx: &Context,
    host: &BareMetalHost,
    ns: &str,
    name: &str,
    host_data: &HostData,
    effect: &Effect,
) -> Result<(), Error> {
    match effect {
        Effect::RemoveAnnotation(key) => {
            let hosts: Api<BareMetalHost> = Api::namespaced(ctx.client.clone(), ns);
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
    Ok(())
}

/// Lets go of a released host: its credentials Secret, its PreprovisioningImage, then its own
/// finalizer (after which the API server deletes it).
async fn release(ctx: &Context, host: &BareMetalHost, ns: &str, name: &str) -> Result<(), Error> {
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), ns);
    credentials::release(&secrets, &ctx.caches.secrets, host).await?;
    crate::preprov::release(&ctx.client, ns, name).await?;
    let hosts: Api<BareMetalHost> = Api::namespaced(ctx.client.clone(), ns);
    set_finalizer(&hosts, host, BAREMETALHOST_FINALIZER, false).await?;
    info!(host = %name, namespace = %ns, "host released");
    Ok(())
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
    ctx.caches
        .hardware
        .wrote(ns, name, Some(saved.metadata.into_response_partial()));
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
