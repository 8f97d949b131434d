//! The Metal3Machine controller: waits for the Cluster's infrastructure and the Machine's
//! bootstrap data, claims a BareMetalHost, has it provisioned with the machine's image, user
//! data, metadata and network data, sets the providerID (on the Metal3Machine and the workload
//! Node) and addresses once the host is provisioned, propagates the Cluster's pause to the
//! host, and on deletion deprovisions and releases the host (keeping it for node reuse when
//! the template asks).
//!
//! The pass itself (reading the objects around the machine, then deleting or going on) is
//! here; each concern has a file: `claim` (choosing and claiming a host), `spec` (the data and
//! the host's spec), `provider_id` (the providerID and the workload Node), `pause`, `release`
//! (deprovisioning and releasing the host on deletion), `reuse` (node reuse) and `hostclaim`
//! (the whole pass in HostClaim mode, `--use-hostclaims`: the host asked for and read through
//! a HostClaim, never touched).

use std::sync::Arc;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::ResourceExt;
use kube::api::{Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::reflector::ObjectRef;
use kube::runtime::{Controller, watcher};
use metal3_api::v1alpha1::{BareMetalHost, ConditionStatus, HostClaim, ProvisioningState};
use metal3_capm3_api::GROUP;
use metal3_capm3_api::consts::{
    CLUSTER_NAME_LABEL, HOST_ANNOTATION, MACHINE_FINALIZER, conditions as c,
};
use metal3_capm3_api::v1beta2::{
    MachineDeprecatedStatus, MachineV1Beta1Status, Metal3Cluster, Metal3Data, Metal3DataClaim,
    Metal3Machine, Metal3MachineStatus,
};

use crate::capi::{self, Cluster, Machine};
use crate::conditions::{set, summarize};
use crate::context::{Context, Error};
use crate::hostspec;

mod claim;
mod hostclaim;
mod pause;
mod provider_id;
mod release;
mod reuse;
mod spec;

pub use provider_id::NODE_UUID_LABEL;

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
    let controller = base
        .watches(
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
        );
    // In HostClaim mode the claim's status changes wake its machine (the CRD need not exist
    // otherwise).
    match ctx.config.hostclaims {
        Some(_) => controller.owns(ctx.scoped::<HostClaim>(), watcher::Config::default()),
        None => controller,
    }
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
        if let Some(status) = new.status.as_mut() {
            let now = Time(k8s_openapi::jiff::Timestamp::now());
            crate::v1beta1conditions::set_machine(status, self.old.status.as_ref(), &now);
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

    if pause::follow(pass, &cluster).await? {
        return Ok(Some(Action::requeue(ctx.config.requeue)));
    }
    let world = World {
        machine,
        cluster,
        m3c,
    };
    if pass.old.metadata.deletion_timestamp.is_some() {
        if ctx.config.hostclaims.is_some() {
            return hostclaim::delete(pass).await;
        }
        return release::delete(pass, &world).await;
    }
    normal(pass, &world).await
}

/// The objects around the machine.
struct World {
    machine: Machine,
    cluster: Cluster,
    m3c: Metal3Cluster,
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
    if let Some(mode) = &ctx.config.hostclaims {
        return hostclaim::normal(pass, world, mode).await;
    }
    let status = pass.new.status.clone().unwrap_or_default();
    if !pass.new.spec.provider_id.is_empty()
        && status.initialization.is_provisioned()
        && world.machine.node_name().is_some()
    {
        spec::update(pass, world).await?;
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
        return claim::associate(pass, world).await;
    }
    pass.associated();
    if let Err(message) = spec::associate_metadata(pass).await? {
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
    if let Some(action) = spec::update(pass, world).await? {
        return Ok(Some(action));
    }
    let Some(host) = pass.host().await? else {
        return Ok(Some(Action::requeue(ctx.config.requeue)));
    };
    if host.provisioning_state() != ProvisioningState::Provisioned {
        // The host's own changes wake the machine.
        return Ok(None);
    }
    provider_id::set_provider_id(pass, world, &provider_id::Target::of(&host)).await
}
