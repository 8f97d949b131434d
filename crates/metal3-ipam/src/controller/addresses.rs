//! Address objects of both kinds: made for a claim (with the manager's finalizer, owned by
//! the pool and the claim, labelled as the claim), and deleted when their claim lets go.

use std::collections::BTreeSet;
use std::fmt::Debug;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::api::{Api, DeleteParams, PostParams};
use kube::{Resource, ResourceExt};
use metal3_ipam_api::GROUP;
use metal3_ipam_api::v1alpha1::{IPAddress, IPAddressSpec, IPPool, IpAddressStr, ObjectReference};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tracing::info;

use crate::capi;
use crate::context::{Context, Error, is_not_found};
use crate::facts::{ClaimKind, POOL_KIND};
use crate::plan::Answer;

/// Whether creating the address object found one of the same name.
pub enum Created {
    /// Made now, or made earlier for the same claim.
    Ours,
    /// An object of that name holds an address for another claim (or pool).
    Clash(String),
}

fn meta(
    name: &str,
    ns: &str,
    kind: ClaimKind,
    owners: Vec<OwnerReference>,
    labels: Option<std::collections::BTreeMap<String, String>>,
) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.into()),
        namespace: Some(ns.into()),
        finalizers: Some(vec![kind.address_finalizer().into()]),
        owner_references: Some(owners),
        labels,
        ..ObjectMeta::default()
    }
}

/// A reference to `owner` that neither controls it nor blocks its deletion, as upstream's.
fn owner<K: Resource<DynamicType = ()>>(obj: &K) -> Option<OwnerReference> {
    metal3_kube::meta::owner_reference(obj, false)
}

async fn create<K>(
    api: &Api<K>,
    obj: &K,
    claim: &str,
    claim_of: fn(&K) -> &str,
) -> Result<Created, Error>
where
    K: Resource + Clone + DeserializeOwned + Serialize + Debug,
{
    match api.create(&PostParams::default(), obj).await {
        Ok(_) => Ok(Created::Ours),
        Err(kube::Error::Api(s)) if s.code == 409 => {
            let name = obj.name_any();
            match api.get_opt(&name).await? {
                Some(existing) if claim_of(&existing) == claim => Ok(Created::Ours),
                Some(existing) => Ok(Created::Clash(format!(
                    "the address object {name} already exists for claim {:?}; do two pools of \
                     this namespace share a namePrefix?",
                    claim_of(&existing)
                ))),
                // Deleted in between: the next pass makes it again.
                None => Err(Error::Kube(kube::Error::Api(s))),
            }
        }
        Err(e) => Err(e.into()),
    }
}

/// Makes the IPAddress (`ipam.metal3.io`) of `answer` for `claim`.
pub async fn create_metal3(
    ctx: &Context,
    pool: &IPPool,
    claim: &metal3_ipam_api::v1alpha1::IPClaim,
    answer: &Answer,
) -> Result<Created, Error> {
    let ns = pool.namespace().unwrap_or_default();
    let a = &answer.allocation;
    let mut address = IPAddress::new(
        &answer.object,
        IPAddressSpec {
            claim: ObjectReference::named(&claim.name_any(), &ns),
            pool: ObjectReference::named(&pool.name_any(), &ns),
            prefix: a.prefix,
            gateway: a.gateway.clone().map(IpAddressStr::from),
            address: IpAddressStr::from(a.address),
            dns_servers: a
                .dns_servers
                .iter()
                .map(|d| IpAddressStr::from(d.as_str()))
                .collect(),
        },
    );
    address.metadata = meta(
        &answer.object,
        &ns,
        ClaimKind::Metal3,
        owner(pool).into_iter().chain(owner(claim)).collect(),
        claim.metadata.labels.clone(),
    );
    create(
        &ctx.api::<IPAddress>(&ns),
        &address,
        &claim.name_any(),
        |a| &a.spec.claim.name,
    )
    .await
}

/// Makes the Cluster API IPAddress of `answer` for `claim` (no DNS servers: the kind has none).
pub async fn create_capi(
    ctx: &Context,
    pool: &IPPool,
    claim: &capi::IPAddressClaim,
    answer: &Answer,
) -> Result<Created, Error> {
    let ns = pool.namespace().unwrap_or_default();
    let a = &answer.allocation;
    let mut address = capi::IPAddress::new(
        &answer.object,
        capi::IPAddressSpec {
            claim_ref: capi::NameRef {
                name: claim.name_any(),
            },
            pool_ref: capi::PoolRef {
                api_group: GROUP.into(),
                kind: POOL_KIND.into(),
                name: pool.name_any(),
            },
            address: a.address.to_string(),
            prefix: a.prefix,
            gateway: a.gateway.clone(),
        },
    );
    address.metadata = meta(
        &answer.object,
        &ns,
        ClaimKind::Capi,
        owner(pool).into_iter().chain(owner(claim)).collect(),
        claim.metadata.labels.clone(),
    );
    create(
        &ctx.api::<capi::IPAddress>(&ns),
        &address,
        &claim.name_any(),
        |a| &a.spec.claim_ref.name,
    )
    .await
}

/// Deletes one address object, its finalizer first; true once it is gone (another
/// finalizer can keep it a while).
async fn delete<K>(api: &Api<K>, name: &str, finalizer: &str) -> Result<bool, Error>
where
    K: Resource + Clone + DeserializeOwned + Debug,
{
    let Some(obj) = api.get_opt(name).await? else {
        return Ok(true);
    };
    match metal3_kube::meta::set_finalizer(api, &obj, finalizer, false).await {
        Ok(_) => {}
        Err(e) if is_not_found(&e) => return Ok(true),
        Err(e) => return Err(e.into()),
    }
    match api.delete(name, &DeleteParams::default()).await {
        Ok(either) => Ok(either.is_right()),
        Err(e) if is_not_found(&e) => Ok(true),
        Err(e) => Err(e.into()),
    }
}

/// Deletes the address objects `objects` of namespace `ns`; returns those that are gone.
pub async fn delete_all(
    ctx: &Context,
    ns: &str,
    objects: &[(ClaimKind, String)],
) -> Result<BTreeSet<(ClaimKind, String)>, Error> {
    let mut gone = BTreeSet::new();
    for (kind, name) in objects {
        let done = match kind {
            ClaimKind::Metal3 => {
                delete(&ctx.api::<IPAddress>(ns), name, kind.address_finalizer()).await?
            }
            ClaimKind::Capi => {
                delete(
                    &ctx.api::<capi::IPAddress>(ns),
                    name,
                    kind.address_finalizer(),
                )
                .await?
            }
        };
        if done {
            info!(namespace = ns, address = %name, kind = kind.claim_kind(), "address released");
            gone.insert((*kind, name.clone()));
        }
    }
    Ok(gone)
}
