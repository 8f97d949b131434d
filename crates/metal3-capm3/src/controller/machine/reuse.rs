//! Node reuse: a released host can be kept for the machine's MachineDeployment or control
//! plane (the node-reuse label) when the machine's template asks for it.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::ResourceExt;
use kube::api::Api;
use metal3_capm3_api::v1beta2::Metal3MachineTemplate;

use crate::capi::{self, Machine, MachineSet};
use crate::context::{Context, Error};

/// The node-reuse label value reserving hosts for the machine's owner: `cp-<control plane>` or
/// `md-<MachineDeployment>`.
pub(super) async fn reuse_label(ctx: &Context, machine: &Machine) -> Result<Option<String>, Error> {
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
pub(super) async fn node_reuse_enabled(ctx: &Context, machine: &Machine) -> Result<bool, Error> {
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
