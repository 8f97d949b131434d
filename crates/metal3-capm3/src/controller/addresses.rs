//! The IP addresses of a Metal3Data: claims them from the pools its template names (a Metal3
//! `IPClaim` for `IPPool`s, named after the host with `--enable-bmh-name-based-preallocation`;
//! a Cluster API `IPAddressClaim` for other pools), reads the allocated addresses, and deletes
//! the claims when the data goes. The IPAM kinds are read untyped: their CRDs belong to the
//! IP address manager, not to us.

use std::collections::BTreeMap;

use kube::api::{ApiResource, DeleteParams, DynamicObject, ListParams};
use kube::core::GroupVersionKind;
use kube::{Api, ResourceExt};
use metal3_capm3_api::consts::DATA_FINALIZER;
use metal3_capm3_api::v1beta2::{Metal3Data, Metal3DataTemplate};
use serde_json::{Value, json};

use super::data::Stop;
use crate::context::{Context, Error};
use crate::ippool::{self, ClaimOwner, DATA_NAME_LABEL, POOL_NAME_LABEL};
use crate::render::{self, Objects, PoolAddress, PoolRef};

/// The addresses allocated to the data from every pool the template refers to, by pool name.
pub(super) async fn pool_addresses(
    ctx: &Context,
    ns: &str,
    data: &Metal3Data,
    template: &Metal3DataTemplate,
    objects: &Objects<'_>,
) -> Result<Result<BTreeMap<String, PoolAddress>, Stop>, Error> {
    let pools = match render::referenced_pools(
        template.spec.meta_data.as_ref(),
        template.spec.network_data.as_ref(),
        Some(objects),
    ) {
        Ok(p) => p,
        Err(e) => return Ok(Err(Stop::Failed(e.0))),
    };
    let host = objects.host.name_any();
    let mut addresses = BTreeMap::new();
    for pool in pools.values() {
        match address_from_pool(ctx, ns, data, &host, pool).await? {
            Ok(Some(a)) => {
                addresses.insert(pool.name.clone(), a);
            }
            Ok(None) => {
                return Ok(Err(Stop::Wait(format!(
                    "waiting for an address from IP pool {}",
                    pool.name
                ))));
            }
            Err(message) => return Ok(Err(Stop::Failed(message))),
        }
    }
    Ok(Ok(addresses))
}

/// An untyped API of an IPAM kind.
fn dynamic(
    ctx: &Context,
    ns: &str,
    group: &str,
    version: &str,
    kind: &str,
) -> (Api<DynamicObject>, ApiResource) {
    let resource = ApiResource::from_gvk(&GroupVersionKind::gvk(group, version, kind));
    (
        Api::namespaced_with(ctx.client.clone(), ns, &resource),
        resource,
    )
}

/// The claim and address kinds serving `pool`.
fn ipam_kinds(
    ctx: &Context,
    ns: &str,
    pool: &PoolRef,
) -> ((Api<DynamicObject>, ApiResource), Api<DynamicObject>) {
    if pool.is_metal3() {
        (
            dynamic(ctx, ns, "ipam.metal3.io", "v1alpha1", "IPClaim"),
            dynamic(ctx, ns, "ipam.metal3.io", "v1alpha1", "IPAddress").0,
        )
    } else {
        (
            dynamic(
                ctx,
                ns,
                "ipam.cluster.x-k8s.io",
                "v1beta2",
                "IPAddressClaim",
            ),
            dynamic(ctx, ns, "ipam.cluster.x-k8s.io", "v1beta2", "IPAddress").0,
        )
    }
}

/// The data's claim on `pool`, creating it when there is none: `Ok(None)` after creating one
/// (its answer comes later). A Metal3 pool's claim may be named after the data or, when it was
/// made with BareMetalHost-name-based preallocation (on now or before), after `host`.
async fn claim_for(
    ctx: &Context,
    ns: &str,
    data: &Metal3Data,
    host: &str,
    pool: &PoolRef,
) -> Result<Option<DynamicObject>, Error> {
    let ((claims, claim_kind), _) = ipam_kinds(ctx, ns, pool);
    let data_name = data.name_any();
    if let Some(c) = claims
        .get_opt(&ippool::data_claim_name(&data_name, &pool.name))
        .await?
    {
        return Ok(Some(c));
    }
    let (name, labels, spec) = if pool.is_metal3() {
        if let Some(c) = claims
            .get_opt(&ippool::host_claim_name(host, &pool.name))
            .await?
        {
            return Ok(Some(c));
        }
        let (name, labels) = ippool::new_claim(
            &data_name,
            data.labels(),
            host,
            &pool.name,
            ctx.config.bmh_name_based_preallocation,
        );
        let spec = json!({"pool": {"name": pool.name, "namespace": ns}});
        (name, labels, spec)
    } else {
        let spec =
            json!({"poolRef": {"apiGroup": pool.api_group, "kind": pool.kind, "name": pool.name}});
        (
            ippool::data_claim_name(&data_name, &pool.name),
            data.labels().clone(),
            spec,
        )
    };
    let mut claim = DynamicObject::new(&name, &claim_kind);
    claim.metadata.namespace = Some(ns.into());
    claim.metadata.finalizers = Some(vec![DATA_FINALIZER.into()]);
    claim.metadata.owner_references =
        metal3_kube::meta::owner_reference(data, true).map(|o| vec![o]);
    claim.metadata.labels = Some(labels);
    claim.data = json!({"spec": spec});
    metal3_kube::meta::create_unless_exists(&claims, &claim).await?;
    Ok(None)
}

/// The address allocated to this data from `pool`, claiming one first. `Ok(None)` while
/// waiting; the inner `Err` is an allocation failure reported by the pool.
async fn address_from_pool(
    ctx: &Context,
    ns: &str,
    data: &Metal3Data,
    host: &str,
    pool: &PoolRef,
) -> Result<Result<Option<PoolAddress>, String>, Error> {
    let Some(claim) = claim_for(ctx, ns, data, host, pool).await? else {
        return Ok(Ok(None));
    };
    let ((claims, _), addresses) = ipam_kinds(ctx, ns, pool);
    let deleting = claim.metadata.deletion_timestamp.is_some();
    if pool.is_metal3() {
        let uids = claim.owner_references().iter().map(|o| o.uid.as_str());
        match ippool::claim_owner(uids, deleting, data.uid().as_deref().unwrap_or_default()) {
            ClaimOwner::Ours => {}
            ClaimOwner::StaleDeleting => {
                metal3_kube::meta::set_finalizer(&claims, &claim, DATA_FINALIZER, false).await?;
                return Ok(Ok(None));
            }
            ClaimOwner::Foreign => {
                tracing::debug!(claim = %claim.name_any(), namespace = %ns,
                    "an IPClaim of this name belongs to another Metal3Data; waiting for it to go");
                return Ok(Ok(None));
            }
        }
    } else if deleting {
        return Ok(Ok(None));
    }
    let status = &claim.data["status"];
    if let Some(message) = status["errorMessage"].as_str().filter(|m| !m.is_empty()) {
        return Ok(Err(format!(
            "IP Allocation for {} failed : {message}",
            pool.name
        )));
    }
    let address_name = if pool.is_metal3() {
        status["address"]["name"].as_str()
    } else {
        status["addressRef"]["name"].as_str()
    };
    let Some(address_name) = address_name.filter(|n| !n.is_empty()) else {
        return Ok(Ok(None));
    };
    let Some(address) = addresses.get_opt(address_name).await? else {
        return Ok(Ok(None));
    };
    let spec = &address.data["spec"];
    let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
    // A Metal3 IPAddress carries its DNS servers; a Cluster API one does not.
    let dns_servers = if address.types.as_ref().is_some_and(is_metal3_kind) {
        spec["dnsServers"]
            .as_array()
            .map(|a| a.iter().map(text).collect())
            .unwrap_or_default()
    } else {
        match capi_dns_servers(ctx, ns, pool, &text(&spec["address"])).await? {
            Ok(servers) => servers,
            Err(message) => return Ok(Err(message)),
        }
    };
    Ok(Ok(Some(PoolAddress {
        address: text(&spec["address"]),
        prefix: spec["prefix"]
            .as_i64()
            .and_then(|p| i32::try_from(p).ok())
            .unwrap_or(0),
        gateway: text(&spec["gateway"]),
        dns_servers,
    })))
}

fn is_metal3_kind(types: &kube::api::TypeMeta) -> bool {
    types.api_version.starts_with("ipam.metal3.io/")
}

/// The DNS servers of a Cluster API IPAddress, which has no field for them: those of the
/// Metal3 IPPool it came from (the range holding it, else the pool's), as upstream; none for
/// other providers' pools. (Metal3 pools are claimed with IPClaims today, by upstream too, so
/// only another provider's pool reaches this now.)
async fn capi_dns_servers(
    ctx: &Context,
    ns: &str,
    pool: &PoolRef,
    address: &str,
) -> Result<Result<Vec<String>, String>, Error> {
    if !pool.is_metal3() {
        return Ok(Ok(Vec::new()));
    }
    let (pools, _) = dynamic(ctx, ns, "ipam.metal3.io", "v1alpha1", "IPPool");
    let Some(found) = pools.get_opt(&pool.name).await? else {
        return Ok(Err(format!("IP pool {} not found", pool.name)));
    };
    Ok(ippool::dns_servers_of(&found.data["spec"], address)
        .map_err(|e| format!("{e} {}", pool.name)))
}

/// Deletes the IP claims of a deleted Metal3Data: for each pool, the claims named after hosts
/// that carry the data's and the pool's labels, and the claim named after the data.
pub(super) async fn release_addresses(
    ctx: &Context,
    ns: &str,
    data: &Metal3Data,
) -> Result<(), Error> {
    let Some(template_ref) = data.spec.template.clone() else {
        return Ok(());
    };
    let Some(template) = ctx
        .api::<Metal3DataTemplate>(ns)
        .get_opt(&template_ref.name)
        .await?
    else {
        return Ok(());
    };
    let pools = render::referenced_pools(
        template.spec.meta_data.as_ref(),
        template.spec.network_data.as_ref(),
        None,
    )
    .unwrap_or_default();
    let data_name = data.name_any();
    for pool in pools.values() {
        let ((claims, _), _) = ipam_kinds(ctx, ns, pool);
        let mut names = Vec::new();
        if pool.is_metal3() && label_value_ok(&data_name) && label_value_ok(&pool.name) {
            let selector = format!(
                "{DATA_NAME_LABEL}={data_name},{POOL_NAME_LABEL}={}",
                pool.name
            );
            match claims.list(&ListParams::default().labels(&selector)).await {
                Ok(list) => names.extend(list.items.iter().map(ResourceExt::name_any)),
                // No such kind in this cluster: nothing was claimed.
                Err(kube::Error::Api(s)) if s.code == 404 => {}
                Err(e) => return Err(e.into()),
            }
        }
        names.push(ippool::data_claim_name(&data_name, &pool.name));
        for name in names {
            delete_claim(&claims, &name).await?;
        }
    }
    Ok(())
}

/// Whether `value` can be a label value (else no claim carries it and none is listed by it).
fn label_value_ok(value: &str) -> bool {
    value.len() <= 63
}

/// Takes our finalizer off the claim `name` and deletes it; a missing claim (or kind) is fine.
async fn delete_claim(claims: &Api<DynamicObject>, name: &str) -> Result<(), Error> {
    let claim = match claims.get_opt(name).await {
        Ok(c) => c,
        Err(kube::Error::Api(s)) if s.code == 404 => None,
        Err(e) => return Err(e.into()),
    };
    if let Some(claim) = claim {
        metal3_kube::meta::set_finalizer(claims, &claim, DATA_FINALIZER, false).await?;
        match claims.delete(name, &DeleteParams::default()).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 404 => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}
