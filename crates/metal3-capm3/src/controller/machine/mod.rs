//! The Metal3Machine controller: waits for the Cluster's infrastructure and the Machine's
//! bootstrap data, claims a BareMetalHost, has it provisioned with the machine's image, user
//! data, metadata and network data, sets the providerID (on the Metal3Machine and the workload
//! Node) and addresses once the host is provisioned, propagates the Cluster's pause to the
//! host, and on deletion deprovisions and releases the host (keeping it for node reuse when
//! the template asks).

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Node, Secret};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{OwnerReference, Time};
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::reflector::ObjectRef;
use kube::runtime::{Controller, watcher};
use metal3_api::v1alpha1::{BareMetalHost, ConditionStatus, ProvisioningState, SecretReference};
use metal3_capm3_api::GROUP;
use metal3_capm3_api::consts::{
    CAPI_PAUSED_ANNOTATION, CLUSTER_NAME_LABEL, HOST_ANNOTATION, MACHINE_FINALIZER,
    NODE_REUSE_LABEL, conditions as c,
};
use metal3_capm3_api::v1beta2::{
    MachineDeprecatedStatus, MachineV1Beta1Status, Metal3Cluster, Metal3Data, Metal3DataClaim,
    Metal3DataClaimSpec, Metal3Machine, Metal3MachineStatus, Metal3MachineTemplate,
    Metal3ObjectRef,
};
use serde_json::json;
use tracing::info;

use crate::capi::{self, Cluster, Machine, MachineSet};
use crate::conditions::{set, summarize};
use crate::context::{Context, Error};
use crate::hosts::{Choice, Claimant, choose, consumer_is};
use crate::hostspec::{self, Reservation};
use crate::provider_id::ProviderId;
use crate::selector;

/// Node label carrying the BareMetalHost's UID (set by the kubelet from the metadata).
pub const NODE_UUID_LABEL: &str = "metal3.io/uuid";

fn to_machine(namespace: Option<String>, name: String) -> Option<ObjectRef<Metal3Machine>> {
    Some(ObjectRef::new(&name).within(&namespace?))
}

/// The controller, woken by its Machine, its host, its data claim and data, and its Cluster.
pub fn controller(ctx: &Context) -> Controller<Metal3Machine> {
    let base = crate::context::controller_for::<Metal3Machine>(ctx);
    let store = base.store();
    let by_cluster = move |namespace: Option<String>, cluster: String| {
        store
            .state()
            .into_iter()
            .filter(|m| {
                m.namespace() == namespace && m.labels().get(CLUSTER_NAME_LABEL) == Some(&cluster)
            })
            .map(|m| ObjectRef::from_obj(&*m))
            .collect::<Vec<_>>()
    };
    let by_cluster_too = by_cluster.clone();
    base.watches(
        ctx.scoped::<Machine>(),
        watcher::Config::default(),
        |m: Machine| {
            let r = &m.spec.infrastructure_ref;
            (r.kind == "Metal3Machine" && r.api_group == GROUP)
                .then(|| to_machine(m.namespace(), r.name.clone()))
                .flatten()
        },
    )
    .watches(
        ctx.scoped::<BareMetalHost>(),
        watcher::Config::default(),
        |h: BareMetalHost| {
            let c = h.spec.consumer_ref.as_ref()?;
            let group = c.api_version.as_deref()?.split_once('/')?.0;
            (c.kind.as_deref() == Some("Metal3Machine") && group == GROUP)
                .then(|| to_machine(c.namespace.clone(), c.name.clone()?))
                .flatten()
        },
    )
    .owns(ctx.scoped::<Metal3DataClaim>(), watcher::Config::default())
    .watches(
        ctx.scoped::<Metal3Data>(),
        watcher::Config::default(),
        |d: Metal3Data| {
            let owner = capi::owner(d.owner_references(), GROUP, Some("Metal3Machine"))?;
            to_machine(d.namespace(), owner.name.clone())
        },
    )
    .watches(
        ctx.scoped::<Cluster>(),
        watcher::Config::default(),
        move |cl: Cluster| by_cluster(cl.namespace(), cl.name_any()),
    )
    .watches(
        ctx.scoped::<Metal3Cluster>(),
        watcher::Config::default(),
        move |m3c: Metal3Cluster| match m3c.labels().get(CLUSTER_NAME_LABEL) {
            Some(cluster) => by_cluster_too(m3c.namespace(), cluster.clone()),
            None => Vec::new(),
        },
    )
}

/// What one pass works on: the object as read and as it should be written.
struct Pass<'a> {
    ctx: &'a Context,
    ns: String,
    name: String,
    old: Arc<Metal3Machine>,
    new: Metal3Machine,
}

impl Pass<'_> {
    fn status(&mut self) -> &mut Metal3MachineStatus {
        self.new.status.get_or_insert_with(Default::default)
    }

    fn condition(&mut self, kind: &str, status: ConditionStatus, reason: &str, message: &str) {
        let generation = self.old.metadata.generation;
        set(
            &mut self.status().conditions,
            kind,
            status,
            reason,
            message,
            generation,
        );
    }

    /// The host is associated: `AssociateBMH` True, unless it already is (a node-reuse claim
    /// keeps the reason it was set with).
    fn associated(&mut self) {
        if !crate::conditions::is_true(&self.status().conditions, c::ASSOCIATE_BMH) {
            self.condition(
                c::ASSOCIATE_BMH,
                ConditionStatus::True,
                c::ASSOCIATE_BMH_SUCCESS,
                "",
            );
        }
    }

    /// A terminal problem (the v1beta1 `failureReason`/`failureMessage`).
    fn fail(&mut self, kind: &str, reason: &str, message: &str) {
        self.condition(kind, ConditionStatus::False, reason, message);
        self.status().deprecated = Some(MachineDeprecatedStatus {
            v1beta1: Some(MachineV1Beta1Status {
                failure_reason: Some(reason.into()),
                failure_message: Some(message.into()),
                ..Default::default()
            }),
        });
    }

    fn host_name(&self) -> Option<String> {
        let value = self.new.annotations().get(HOST_ANNOTATION)?;
        // `<namespace>/<name>`; the namespace part is ignored: hosts are always local.
        Some(value.rsplit('/').next().unwrap_or(value).to_string())
    }

    async fn host(&self) -> Result<Option<BareMetalHost>, Error> {
        match self.host_name() {
            Some(name) => Ok(self
                .ctx
                .api::<BareMetalHost>(&self.ns)
                .get_opt(&name)
                .await?),
            None => Ok(None),
        }
    }

    async fn write(&self) -> Result<(), Error> {
        let mut new = self.new.clone();
        if new.status != self.old.status {
            let parts = [
                c::ASSOCIATE_BMH,
                c::ASSOCIATE_METADATA,
                c::METAL3_DATA_READY,
            ];
            let generation = self.old.metadata.generation;
            let status = new.status.get_or_insert_with(Default::default);
            summarize(&mut status.conditions, &parts, generation);
            status.last_updated = Some(Time(k8s_openapi::jiff::Timestamp::now()));
        }
        crate::patch::write(&self.ctx.api::<Metal3Machine>(&self.ns), &self.old, &new).await?;
        Ok(())
    }

    /// Writes a host edit made by `edit`, pinned to the version read; `true` when written.
    async fn edit_host(
        &self,
        host: &BareMetalHost,
        edit: impl FnOnce(&mut BareMetalHost),
    ) -> Result<Option<BareMetalHost>, Error> {
        let mut edited = host.clone();
        edit(&mut edited);
        match hostspec::patch(host, &edited) {
            Some(p) => Ok(Some(
                self.ctx
                    .api::<BareMetalHost>(&self.ns)
                    .patch(&host.name_any(), &PatchParams::default(), &Patch::Merge(&p))
                    .await?,
            )),
            None => Ok(None),
        }
    }
}

fn is_conflict(e: &Error) -> bool {
    matches!(e, Error::Kube(kube::Error::Api(s)) if s.code == 409)
}

/// One pass over a Metal3Machine.
pub async fn reconcile(m3m: Arc<Metal3Machine>, ctx: Arc<Context>) -> Result<Action, Error> {
    let Some(m3m) = crate::context::fresh(&ctx, &*m3m).await?.map(Arc::new) else {
        return Ok(Action::await_change());
    };
    let mut pass = Pass {
        ctx: &ctx,
        ns: m3m.namespace().unwrap_or_default(),
        name: m3m.name_any(),
        new: (*m3m).clone(),
        old: m3m,
    };
    let result = preamble(&mut pass).await;
    let action = match result {
        Ok(action) => action,
        Err(e) if is_conflict(&e) => Some(Action::requeue(std::time::Duration::from_millis(200))),
        Err(e) => {
            // Keep what was learnt, then let the error policy retry.
            pass.write().await?;
            return Err(e);
        }
    };
    pass.write().await?;
    Ok(action.unwrap_or_else(Action::await_change))
}

async fn preamble(pass: &mut Pass<'_>) -> Result<Option<Action>, Error> {
    let ctx = pass.ctx;
    let owner = capi::owner(pass.old.owner_references(), capi::GROUP, Some("Machine")).cloned();
    let machine = match owner {
        Some(o) => ctx.api::<Machine>(&pass.ns).get_opt(&o.name).await?,
        None => None,
    };
    let Some(machine) = machine else {
        pass.condition(
            c::ASSOCIATE_BMH,
            ConditionStatus::False,
            c::WAITING_FOR_OWNER_REF,
            "waiting for the Machine controller to set the owner reference",
        );
        return Ok(None);
    };
    let failure_domain = machine.spec.failure_domain.clone().unwrap_or_default();
    if pass.new.spec.failure_domain != failure_domain {
        pass.new.spec.failure_domain = failure_domain;
    }
    let cluster_name = capi::labels(&machine.metadata)
        .get(CLUSTER_NAME_LABEL)
        .cloned()
        .unwrap_or_else(|| machine.spec.cluster_name.clone());
    let cluster = match cluster_name.is_empty() {
        true => None,
        false => ctx.api::<Cluster>(&pass.ns).get_opt(&cluster_name).await?,
    };
    let Some(cluster) = cluster else {
        pass.condition(
            c::ASSOCIATE_BMH,
            ConditionStatus::False,
            c::WAITING_FOR_CLUSTER_INFRASTRUCTURE,
            "the Machine has no cluster label or its Cluster does not exist",
        );
        return Ok(None);
    };
    if !cluster.infrastructure_ready() {
        pass.condition(
            c::ASSOCIATE_BMH,
            ConditionStatus::False,
            c::WAITING_FOR_CLUSTER_INFRASTRUCTURE,
            "waiting for the cluster infrastructure to be provisioned",
        );
        return Ok(None);
    }
    let m3c_name = cluster
        .spec
        .infrastructure_ref
        .clone()
        .unwrap_or_default()
        .name;
    let m3c = match m3c_name.is_empty() {
        true => None,
        false => {
            ctx.api::<Metal3Cluster>(&pass.ns)
                .get_opt(&m3c_name)
                .await?
        }
    };
    let Some(m3c) = m3c else {
        pass.condition(
            c::ASSOCIATE_BMH,
            ConditionStatus::False,
            c::WAITING_FOR_METAL3_CLUSTER,
            "waiting for the Metal3Cluster to be created",
        );
        return Ok(Some(Action::requeue(ctx.config.requeue)));
    };

    // Block moves of the host while it is ours and not paused; follow the Cluster's pause.
    let host = pass.host().await?;
    if let Some(host) = &host {
        pass.edit_host(host, |h| hostspec::ensure_block_move(h, &pass.old))
            .await?;
        if let Some(host) = pass.host().await? {
            propagate_pause(pass, &cluster, host).await?;
        }
    }
    if !cluster.paused() {
        pass.condition(c::PAUSED, ConditionStatus::False, c::NOT_PAUSED_REASON, "");
    }
    if cluster.paused() || pass.old.annotations().contains_key(CAPI_PAUSED_ANNOTATION) {
        pass.condition(
            c::ASSOCIATE_BMH,
            ConditionStatus::False,
            c::PAUSED_REASON,
            "",
        );
        pass.condition(c::PAUSED, ConditionStatus::True, c::PAUSED_REASON, "");
        return Ok(Some(Action::requeue(ctx.config.requeue)));
    }
    let world = World {
        machine,
        cluster,
        m3c,
    };
    if pass.old.metadata.deletion_timestamp.is_some() {
        return delete(pass, &world).await;
    }
    normal(pass, &world).await
}

/// The objects around the machine.
struct World {
    machine: Machine,
    cluster: Cluster,
    m3c: Metal3Cluster,
}

async fn propagate_pause(
    pass: &Pass<'_>,
    cluster: &Cluster,
    host: BareMetalHost,
) -> Result<(), Error> {
    if cluster.paused() {
        // Each step is written before the next: block moves, pause with status, allow moves.
        let mut current = host;
        loop {
            let mut next = current.clone();
            if !hostspec::pause_step(&mut next) {
                return Ok(());
            }
            match pass.edit_host(&current, |h| *h = next).await? {
                Some(written) => current = written,
                None => return Ok(()),
            }
        }
    }
    pass.edit_host(&host, |h| hostspec::unpause(h, &cluster.name_any()))
        .await?;
    Ok(())
}

async fn normal(pass: &mut Pass<'_>, world: &World) -> Result<Option<Action>, Error> {
    let ctx = pass.ctx;
    if !pass.old.finalizers().iter().any(|f| f == MACHINE_FINALIZER) {
        // Saved before anything else, so a host is never claimed by a machine that could
        // vanish without releasing it.
        pass.new
            .metadata
            .finalizers
            .get_or_insert_with(Vec::new)
            .push(MACHINE_FINALIZER.into());
        return Ok(Some(Action::requeue(std::time::Duration::ZERO)));
    }
    let status = pass.new.status.clone().unwrap_or_default();
    if !pass.new.spec.provider_id.is_empty()
        && status.initialization.is_provisioned()
        && world.machine.node_name().is_some()
    {
        update(pass, world).await?;
        return Ok(None);
    }
    if !world.machine.bootstrap_ready() {
        pass.condition(
            c::ASSOCIATE_BMH,
            ConditionStatus::False,
            c::WAITING_FOR_BOOTSTRAP_DATA,
            "waiting for the Machine's bootstrap data",
        );
        return Ok(None);
    }
    if pass.host_name().is_none() {
        return associate(pass, world).await;
    }
    pass.associated();
    if let Err(message) = associate_metadata(pass).await? {
        pass.fail(
            c::ASSOCIATE_METADATA,
            c::ASSOCIATE_METADATA_FAILED,
            &message,
        );
        return Ok(None);
    }
    pass.condition(
        c::ASSOCIATE_METADATA,
        ConditionStatus::True,
        c::ASSOCIATE_METADATA_SUCCESS,
        "",
    );
    if let Some(action) = update(pass, world).await? {
        return Ok(Some(action));
    }
    let Some(host) = pass.host().await? else {
        return Ok(Some(Action::requeue(ctx.config.requeue)));
    };
    if host.provisioning_state() != ProvisioningState::Provisioned {
        // The host's own changes wake the machine.
        return Ok(None);
    }
    set_provider_id(pass, world, &host).await
}

/// The node-reuse label value reserving hosts for the machine's owner: `cp-<control plane>` or
/// `md-<MachineDeployment>`.
async fn reuse_label(ctx: &Context, machine: &Machine) -> Result<Option<String>, Error> {
    if machine.is_control_plane() {
        return Ok(
            capi::owner(machine.owner_references(), capi::CONTROL_PLANE_GROUP, None)
                .map(|o| format!("cp-{}", o.name)),
        );
    }
    let Some(ms) = machine_set(ctx, machine).await? else {
        return Ok(None);
    };
    Ok(capi::owner(
        ms.owner_references(),
        capi::GROUP,
        Some("MachineDeployment"),
    )
    .map(|o| format!("md-{}", o.name)))
}

async fn machine_set(ctx: &Context, machine: &Machine) -> Result<Option<MachineSet>, Error> {
    let Some(owner) = capi::owner(machine.owner_references(), capi::GROUP, Some("MachineSet"))
    else {
        return Ok(None);
    };
    let ns = machine.namespace().unwrap_or_default();
    let ms = ctx.api::<MachineSet>(&ns).get_opt(&owner.name).await?;
    Ok(ms.filter(|ms| {
        ms.metadata.uid.as_deref() == Some(owner.uid.as_str()) || owner.uid.is_empty()
    }))
}

/// Whether the machine's template asks for node reuse.
async fn node_reuse_enabled(ctx: &Context, machine: &Machine) -> Result<bool, Error> {
    let ns = machine.namespace().unwrap_or_default();
    let template = if machine.is_control_plane() {
        let Some(owner) = capi::owner(machine.owner_references(), capi::CONTROL_PLANE_GROUP, None)
        else {
            return Ok(false);
        };
        control_plane_template(ctx, &ns, owner).await?
    } else {
        machine_set(ctx, machine)
            .await?
            .map(|ms| ms.spec.template.spec.infrastructure_ref.name)
    };
    let Some(name) = template.filter(|n| !n.is_empty()) else {
        return Ok(false);
    };
    let m3mt = ctx.api::<Metal3MachineTemplate>(&ns).get_opt(&name).await?;
    Ok(m3mt.is_some_and(|t| t.spec.node_reuse == Some(true)))
}

/// The infrastructure template of a control plane (`spec.machineTemplate.spec.infrastructureRef`
/// by the Cluster API contract), read as an untyped object of whatever kind it is.
async fn control_plane_template(
    ctx: &Context,
    ns: &str,
    owner: &OwnerReference,
) -> Result<Option<String>, Error> {
    let (group, version) = owner
        .api_version
        .split_once('/')
        .unwrap_or(("", owner.api_version.as_str()));
    let gvk = kube::core::GroupVersionKind::gvk(group, version, &owner.kind);
    let resource = kube::api::ApiResource::from_gvk(&gvk);
    let api: Api<kube::core::DynamicObject> =
        Api::namespaced_with(ctx.client.clone(), ns, &resource);
    let Some(cp) = api.get_opt(&owner.name).await? else {
        return Ok(None);
    };
    Ok(
        cp.data["spec"]["machineTemplate"]["spec"]["infrastructureRef"]["name"]
            .as_str()
            .map(str::to_string),
    )
}

async fn associate(pass: &mut Pass<'_>, world: &World) -> Result<Option<Action>, Error> {
    let ctx = pass.ctx;
    let requirements = match selector::requirements(pass.new.spec.host_selector.as_ref()) {
        Ok(r) => r,
        Err(e) => {
            pass.fail(c::ASSOCIATE_BMH, c::ASSOCIATE_BMH_FAILED, &e.to_string());
            return Ok(None);
        }
    };
    let _claiming = ctx.claims.lock().await;
    let hosts = ctx
        .api::<BareMetalHost>(&pass.ns)
        .list(&ListParams::default())
        .await?
        .items;
    let reuse = if hosts
        .iter()
        .any(|h| h.labels().contains_key(NODE_REUSE_LABEL))
    {
        reuse_label(ctx, &world.machine).await?
    } else {
        None
    };
    let claimant = Claimant {
        name: &pass.name,
        namespace: &pass.ns,
        failure_domain: &pass.new.spec.failure_domain,
        reuse_label: reuse.as_deref(),
    };
    let (host, reason) = match choose(&hosts, &requirements, &claimant, &mut |n| {
        fastrand::usize(..n)
    }) {
        Choice::Existing(h) => (h.clone(), c::ASSOCIATE_BMH_SUCCESS),
        Choice::Chosen { host, reason } => (host.clone(), reason),
        Choice::WaitForReserved { hosts } => {
            pass.condition(
                c::ASSOCIATE_BMH,
                ConditionStatus::False,
                c::ASSOCIATE_BMH_FAILED,
                &format!(
                    "waiting for reserved host(s) {} to become available",
                    hosts.join(", ")
                ),
            );
            return Ok(Some(Action::requeue(ctx.config.requeue)));
        }
        Choice::NoneAvailable => {
            pass.condition(
                c::ASSOCIATE_BMH,
                ConditionStatus::False,
                c::ASSOCIATE_BMH_FAILED,
                "no available host found; requeuing",
            );
            return Ok(Some(Action::requeue(ctx.config.requeue)));
        }
    };
    // The user data the host gets: the machine's own, overridden by the Machine's bootstrap.
    if pass.status().user_data.is_none() {
        if let Some(user) = pass.new.spec.user_data.clone() {
            if user
                .namespace
                .as_deref()
                .is_some_and(|ns| !ns.is_empty() && ns != pass.ns)
            {
                pass.fail(
                    c::ASSOCIATE_BMH,
                    c::ASSOCIATE_BMH_FAILED,
                    "spec.userData: the Secret must be in the machine's namespace",
                );
                return Ok(None);
            }
            pass.status().user_data = Some(user);
        }
        let bootstrap = &world.machine.spec.bootstrap;
        let secret = bootstrap
            .data_secret_name
            .clone()
            .or_else(|| bootstrap.config_ref.as_ref().map(|r| r.name.clone()));
        if let Some(name) = secret {
            pass.status().user_data = Some(SecretReference {
                name: Some(name),
                namespace: world.machine.namespace(),
            });
        }
    }
    let cluster = world.cluster.name_any();
    let with_spec = pass.new.spec.data_template.is_none();
    let mut spec_error = None;
    let machine = pass.new.clone();
    let claimed = pass
        .edit_host(&host, |h| {
            hostspec::claim(h, &machine, &cluster);
            if with_spec && let Err(e) = hostspec::set_spec(h, &machine) {
                spec_error = Some(e);
            }
        })
        .await;
    if let Some(e) = spec_error {
        pass.fail(c::ASSOCIATE_BMH, c::ASSOCIATE_BMH_FAILED, &e);
        return Ok(None);
    }
    if let Err(e) = claimed {
        if is_conflict(&e) {
            // Someone changed the host since it was listed: look again.
            return Ok(Some(Action::requeue(std::time::Duration::from_millis(200))));
        }
        return Err(e);
    }
    label_bmc_secret(ctx, &pass.ns, &host, Some(&cluster)).await?;
    info!(machine = %pass.name, host = %host.name_any(), namespace = %pass.ns, "claimed a BareMetalHost");
    pass.new
        .metadata
        .annotations
        .get_or_insert_with(BTreeMap::new)
        .insert(
            HOST_ANNOTATION.into(),
            format!("{}/{}", pass.ns, host.name_any()),
        );
    pass.condition(c::ASSOCIATE_BMH, ConditionStatus::True, reason, "");
    Ok(Some(Action::requeue(std::time::Duration::ZERO)))
}

/// Sets (or with `None`, removes) the cluster label on the host's BMC credentials Secret, so
/// `clusterctl move` takes it along.
async fn label_bmc_secret(
    ctx: &Context,
    ns: &str,
    host: &BareMetalHost,
    cluster: Option<&str>,
) -> Result<(), Error> {
    let name = &host.spec.bmc.credentials_name;
    if name.is_empty() {
        return Ok(());
    }
    let secrets = ctx.api::<Secret>(ns);
    let Some(secret) = secrets.get_opt(name).await? else {
        return Ok(());
    };
    let current = secret.labels().get(CLUSTER_NAME_LABEL).cloned();
    let patch = match cluster {
        Some(c) if current.as_deref() != Some(c) => {
            json!({"metadata": {"labels": {CLUSTER_NAME_LABEL: c}}})
        }
        None if current.is_some() => json!({"metadata": {"labels": {CLUSTER_NAME_LABEL: null}}}),
        _ => return Ok(()),
    };
    secrets
        .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await?;
    Ok(())
}

/// Copies the user's metadata and network data Secrets into the status, and asks for a
/// rendering of the data template (once). `Err` carries a configuration problem.
async fn associate_metadata(pass: &mut Pass<'_>) -> Result<Result<(), String>, Error> {
    let ns = pass.ns.clone();
    for (what, reference) in [
        ("metaData", pass.new.spec.meta_data.clone()),
        ("networkData", pass.new.spec.network_data.clone()),
    ] {
        let Some(r) = reference else { continue };
        if r.namespace
            .as_deref()
            .is_some_and(|n| !n.is_empty() && n != ns)
        {
            return Ok(Err(format!(
                "spec.{what}: the Secret must be in the machine's namespace {ns:?}"
            )));
        }
        match what {
            "metaData" => pass.status().meta_data = Some(r),
            _ => pass.status().network_data = Some(r),
        }
    }
    let Some(template) = pass.new.spec.data_template.clone() else {
        return Ok(Ok(()));
    };
    if pass.status().rendered_data.is_some() {
        return Ok(Ok(()));
    }
    let claims = pass.ctx.api::<Metal3DataClaim>(&ns);
    if claims.get_opt(&pass.name).await?.is_some() {
        return Ok(Ok(()));
    }
    let mut claim = Metal3DataClaim::new(
        &pass.name,
        Metal3DataClaimSpec {
            template: Some(Metal3ObjectRef {
                name: template.name,
                namespace: if template.namespace.is_empty() {
                    ns.clone()
                } else {
                    template.namespace
                },
            }),
        },
    );
    claim.metadata.namespace = Some(ns.clone());
    claim.metadata.labels = pass.old.metadata.labels.clone();
    claim.metadata.finalizers = Some(vec![MACHINE_FINALIZER.into()]);
    claim.metadata.owner_references =
        metal3_kube::meta::owner_reference(&*pass.old, true).map(|o| vec![o]);
    metal3_kube::meta::create_unless_exists(&claims, &claim).await?;
    Ok(Ok(()))
}

/// Waits for the rendered data, then keeps the host's spec, the annotation and the addresses
/// in line. `Some` when the machine has to wait.
async fn update(pass: &mut Pass<'_>, world: &World) -> Result<Option<Action>, Error> {
    let ctx = pass.ctx;
    let Some(host) = pass.host().await? else {
        pass.condition(
            c::ASSOCIATE_BMH,
            ConditionStatus::False,
            c::ASSOCIATE_BMH_FAILED,
            &format!(
                "the BareMetalHost of Machine {} does not exist",
                world.machine.name_any()
            ),
        );
        return Ok(Some(Action::requeue(ctx.config.requeue)));
    };
    pass.associated();
    if let Some(action) = wait_for_data(pass).await? {
        return Ok(Some(action));
    }
    let machine = pass.new.clone();
    let cluster = world.cluster.name_any();
    let mut spec_error = None;
    pass.edit_host(&host, |h| {
        hostspec::claim(h, &machine, &cluster);
        if let Err(e) = hostspec::set_spec(h, &machine) {
            spec_error = Some(e);
        }
    })
    .await?;
    if let Some(e) = spec_error {
        pass.fail(c::ASSOCIATE_METADATA, c::CREATE_ERROR, &e);
        return Ok(Some(Action::requeue(ctx.config.requeue)));
    }
    let addresses = hostspec::addresses(&host);
    pass.status().addresses = addresses;
    Ok(None)
}

async fn wait_for_data(pass: &mut Pass<'_>) -> Result<Option<Action>, Error> {
    let ctx = pass.ctx;
    if pass.new.spec.data_template.is_none() {
        return Ok(None);
    }
    if pass.status().rendered_data.is_none() {
        let claim = ctx
            .api::<Metal3DataClaim>(&pass.ns)
            .get_opt(&pass.name)
            .await?;
        let rendered = claim
            .and_then(|c| c.status)
            .and_then(|s| s.rendered_data)
            .filter(|r| !r.name.is_empty());
        match rendered {
            Some(r) => pass.status().rendered_data = Some(r),
            None => {
                pass.condition(
                    c::METAL3_DATA_READY,
                    ConditionStatus::False,
                    c::WAITING_FOR_METAL3_DATA,
                    "waiting for the Metal3DataTemplate to render the data",
                );
                return Ok(Some(Action::requeue(ctx.config.requeue)));
            }
        }
    }
    let name = pass.status().rendered_data.clone().unwrap_or_default().name;
    let data = ctx.api::<Metal3Data>(&pass.ns).get_opt(&name).await?;
    let ready = data
        .as_ref()
        .and_then(|d| d.status.as_ref())
        .is_some_and(|s| s.ready == Some(true));
    let Some(data) = data.filter(|_| ready) else {
        pass.condition(
            c::METAL3_DATA_READY,
            ConditionStatus::False,
            c::WAITING_FOR_METAL3_DATA,
            "",
        );
        return Ok(Some(Action::requeue(ctx.config.requeue)));
    };
    pass.condition(
        c::METAL3_DATA_READY,
        ConditionStatus::True,
        c::METAL3_DATA_SECRETS_READY,
        "",
    );
    let ns = data.namespace();
    let local = |r: &Option<SecretReference>| {
        r.as_ref()
            .and_then(|r| r.name.clone())
            .filter(|n| !n.is_empty())
            .map(|name| SecretReference {
                name: Some(name),
                namespace: ns.clone(),
            })
    };
    if pass.status().meta_data.is_none() {
        pass.status().meta_data = local(&data.spec.meta_data);
    }
    if pass.status().network_data.is_none() {
        pass.status().network_data = local(&data.spec.network_data);
    }
    Ok(None)
}

fn mark_provisioned(pass: &mut Pass<'_>, provider_id: &ProviderId) {
    pass.new.spec.provider_id = provider_id.to_string();
    pass.status().initialization.provisioned = Some(true);
    let conditions = pass.status().conditions.clone();
    if !crate::conditions::is_true(&conditions, c::METAL3_DATA_READY) {
        pass.condition(
            c::METAL3_DATA_READY,
            ConditionStatus::True,
            c::SECRETS_SET_EXTERNALLY,
            "",
        );
    }
}

/// Finds the workload Node of the host and agrees on the providerID with it (see the module
/// documentation of [`crate::provider_id`]).
async fn set_provider_id(
    pass: &mut Pass<'_>,
    world: &World,
    host: &BareMetalHost,
) -> Result<Option<Action>, Error> {
    let ctx = pass.ctx;
    let pid = ProviderId::new(&pass.ns, &host.name_any(), &pass.name);
    let client = match ctx
        .workloads
        .client(&ctx.client, &pass.ns, &world.cluster.name_any())
        .await
    {
        Ok(c) => c,
        Err(e) => {
            pass.condition(
                c::ASSOCIATE_METADATA,
                ConditionStatus::False,
                c::CREATE_ERROR,
                &e.to_string(),
            );
            return Ok(Some(Action::requeue(ctx.config.requeue)));
        }
    };
    let nodes_api: Api<Node> = Api::all(client);
    let nodes = nodes_api.list(&ListParams::default()).await?.items;
    let provider_of = |n: &Node| {
        n.spec
            .as_ref()
            .and_then(|s| s.provider_id.clone())
            .unwrap_or_default()
    };
    let wanted = pid.to_string();
    let same: Vec<&Node> = nodes.iter().filter(|n| provider_of(n) == wanted).collect();
    let of_host = nodes
        .iter()
        .filter(|n| provider_of(n).starts_with(&pid.host_prefix()))
        .count();
    if same.len() > 1 || of_host > 1 {
        pass.fail(
            c::ASSOCIATE_METADATA,
            c::CREATE_ERROR,
            &format!(
                "more than one Node has a providerID of host {}; remove the stale Node",
                host.name_any()
            ),
        );
        return Ok(None);
    }
    if !pass.new.spec.provider_id.is_empty() && same.len() == 1 {
        mark_provisioned(pass, &pid);
        return Ok(None);
    }
    if world.m3c.spec.cloud_provider_enabled == Some(true) {
        return match same.first() {
            Some(_) => {
                mark_provisioned(pass, &pid);
                Ok(None)
            }
            None => {
                pass.condition(
                    c::ASSOCIATE_METADATA,
                    ConditionStatus::False,
                    c::CREATE_ERROR,
                    "waiting for the cloud provider to set the Node's providerID",
                );
                Ok(Some(Action::requeue(ctx.config.requeue)))
            }
        };
    }
    let uid = host.metadata.uid.clone().unwrap_or_default();
    let labelled: Vec<&Node> = nodes
        .iter()
        .filter(|n| n.labels().get(NODE_UUID_LABEL) == Some(&uid))
        .collect();
    match labelled.as_slice() {
        [node] => {
            let current = provider_of(node);
            if current.is_empty() {
                set_node_provider_id(&nodes_api, node, &wanted).await?;
            } else if current != wanted {
                pass.fail(
                    c::ASSOCIATE_METADATA,
                    c::CREATE_ERROR,
                    &format!(
                        "Node {} has providerID {current:?}, not {wanted:?}",
                        node.name_any()
                    ),
                );
                return Ok(None);
            }
            mark_provisioned(pass, &pid);
            return Ok(None);
        }
        [] if world.machine.spec.bootstrap.config_ref.is_some() => {
            pass.condition(
                c::ASSOCIATE_METADATA,
                ConditionStatus::False,
                c::CREATE_ERROR,
                &format!("waiting for a Node labelled {NODE_UUID_LABEL}={uid}"),
            );
            return Ok(Some(Action::requeue(ctx.config.requeue)));
        }
        [] => {}
        _ => {
            pass.fail(
                c::ASSOCIATE_METADATA,
                c::CREATE_ERROR,
                &format!("more than one Node is labelled {NODE_UUID_LABEL}={uid}"),
            );
            return Ok(None);
        }
    }
    // No Node tells us yet: the providerID is ours to give; a Node found by host name gets it.
    mark_provisioned(pass, &pid);
    let hostnames: Vec<String> = pass
        .status()
        .addresses
        .iter()
        .filter(|a| a.r#type == metal3_capm3_api::common::MachineAddressType::Hostname)
        .map(|a| a.address.clone())
        .collect();
    let by_name: Vec<&Node> = nodes
        .iter()
        .filter(|n| {
            n.labels()
                .get("kubernetes.io/hostname")
                .is_some_and(|h| hostnames.contains(h))
        })
        .collect();
    if let [node] = by_name.as_slice()
        && provider_of(node).is_empty()
    {
        set_node_provider_id(&nodes_api, node, &wanted).await?;
        return Ok(None);
    }
    Ok(Some(Action::requeue(ctx.config.requeue)))
}

async fn set_node_provider_id(
    nodes: &Api<Node>,
    node: &Node,
    provider_id: &str,
) -> Result<(), Error> {
    nodes
        .patch(
            &node.name_any(),
            &PatchParams::default(),
            &Patch::Merge(&json!({"spec": {"providerID": provider_id}})),
        )
        .await?;
    Ok(())
}

async fn delete(pass: &mut Pass<'_>, world: &World) -> Result<Option<Action>, Error> {
    let ctx = pass.ctx;
    pass.condition(
        c::ASSOCIATE_METADATA,
        ConditionStatus::False,
        c::DELETING_REASON,
        "",
    );
    // The host first, while the status still names the Secrets the machine gave it.
    if let Some(action) = release_host(pass, world).await? {
        return Ok(Some(action));
    }
    // Then the rendered data (the user's own Secrets stay named).
    if pass.new.spec.meta_data.is_none() {
        pass.status().meta_data = None;
    }
    if pass.new.spec.network_data.is_none() {
        pass.status().network_data = None;
    }
    pass.status().rendered_data = None;
    let claims = ctx.api::<Metal3DataClaim>(&pass.ns);
    if let Some(claim) = claims.get_opt(&pass.name).await? {
        metal3_kube::meta::set_finalizer(&claims, &claim, MACHINE_FINALIZER, false).await?;
        if claim.metadata.deletion_timestamp.is_none() {
            match claims.delete(&pass.name, &DeleteParams::default()).await {
                Ok(_) => {}
                Err(kube::Error::Api(s)) if s.code == 404 => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
    pass.new.metadata.finalizers = Some(
        pass.old
            .finalizers()
            .iter()
            .filter(|f| *f != MACHINE_FINALIZER)
            .cloned()
            .collect(),
    );
    Ok(None)
}

/// Deprovisions and lets go of the host; `Some` while the host is still busy.
async fn release_host(pass: &mut Pass<'_>, world: &World) -> Result<Option<Action>, Error> {
    let ctx = pass.ctx;
    let Some(host) = pass.host().await? else {
        return Ok(None);
    };
    if !consumer_is(host.spec.consumer_ref.as_ref(), &pass.name, &pass.ns) {
        // Already released, or someone else's.
        return Ok(None);
    }
    let cluster = world.machine.spec.cluster_name.clone();
    if !host.spec.bmc.credentials_name.is_empty() {
        let secrets = ctx.api::<Secret>(&pass.ns);
        if let Some(secret) = secrets.get_opt(&host.spec.bmc.credentials_name).await?
            && secret.labels().get(CLUSTER_NAME_LABEL) == Some(&cluster)
        {
            label_bmc_secret(ctx, &pass.ns, &host, None).await?;
        }
    }
    let machine = pass.new.clone();
    let fast_track = ctx.config.fast_track;
    if pass
        .edit_host(&host, |h| hostspec::unprovision(h, &machine, fast_track))
        .await?
        .is_some()
    {
        info!(machine = %pass.name, host = %host.name_any(), "deprovisioning the BareMetalHost");
        return Ok(Some(Action::requeue(std::time::Duration::ZERO)));
    }
    if hostspec::still_busy(&host) {
        return Ok(Some(Action::requeue(ctx.config.requeue)));
    }
    let reservation = if world.cluster.metadata.deletion_timestamp.is_none()
        && node_reuse_enabled(ctx, &world.machine).await?
    {
        reuse_label(ctx, &world.machine)
            .await?
            .map(|label| Reservation {
                label,
                cluster_namespace: world.cluster.namespace().unwrap_or_default(),
                cluster_name: world.cluster.name_any(),
            })
    } else {
        None
    };
    match pass
        .edit_host(&host, |h| {
            hostspec::let_go(h, &cluster, reservation.as_ref())
        })
        .await
    {
        Ok(_) => {}
        Err(Error::Kube(kube::Error::Api(s))) if s.code == 404 => {}
        Err(e) => return Err(e),
    }
    info!(machine = %pass.name, host = %host.name_any(), reserved = reservation.is_some(), "released the BareMetalHost");
    Ok(None)
}
