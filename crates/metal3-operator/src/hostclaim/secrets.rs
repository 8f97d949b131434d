//! Copies of a HostClaim's Secrets beside its host: made from the claim's namespace, labelled
//! as ours and owned by the host, updated when the source changes, removed when unused. Their
//! content is never logged or reported; a Secret of the same name that is not ours is left
//! alone and reported.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, DeleteParams, ObjectMeta, PostParams};
use kube::{Client, ResourceExt};
use metal3_api::v1alpha1::{BareMetalHost, SecretReference};
use metal3_kube::meta::owner_reference;

use super::binding::{DataRole, Deployment, source_secret};
use crate::context::Error;

/// Label on every copy the HostClaim controller makes.
pub const COPY_LABEL: &str = "hostclaim.metal3.io/copy";

/// Copies the claim's Secret for `role` (named by `reference`, in the claim's namespace `ns`)
/// beside `host`. `Ok(Err(why))` when it cannot be copied for a reason the claim's owner can fix.
pub(crate) async fn copy(
    client: &Client,
    ns: &str,
    host: &BareMetalHost,
    role: DataRole,
    reference: &SecretReference,
) -> Result<Result<(), String>, Error> {
    let name = match source_secret(reference, ns) {
        Ok(name) => name,
        Err(why) => return Ok(Err(why)),
    };
    let Some(source) = Api::<Secret>::namespaced(client.clone(), ns)
        .get_opt(&name)
        .await?
    else {
        return Ok(Err(format!(
            "Secret {name:?} not found in namespace {ns:?}"
        )));
    };
    let host_ns = host.namespace().ok_or(Error::Incomplete("namespace"))?;
    let copy_name = role.copy_name(&host.name_any());
    let copies: Api<Secret> = Api::namespaced(client.clone(), &host_ns);
    let existing = copies.get_opt(&copy_name).await?;
    if let Some(existing) = &existing {
        if !existing.labels().contains_key(COPY_LABEL) {
            return Ok(Err(format!(
                "a Secret {copy_name:?} not made for HostClaims already exists in namespace \
                 {host_ns:?}"
            )));
        }
        if existing.data == source.data && existing.type_ == source.type_ {
            return Ok(Ok(()));
        }
    }
    let copy = Secret {
        metadata: ObjectMeta {
            name: Some(copy_name.clone()),
            namespace: Some(host_ns),
            labels: Some(BTreeMap::from([(
                COPY_LABEL.to_string(),
                "true".to_string(),
            )])),
            owner_references: owner_reference(host, false).map(|o| vec![o]),
            resource_version: existing.as_ref().and_then(|e| e.resource_version()),
            ..ObjectMeta::default()
        },
        type_: source.type_.clone(),
        data: source.data.clone(),
        ..Secret::default()
    };
    match existing {
        Some(_) => {
            copies
                .replace(&copy_name, &PostParams::default(), &copy)
                .await?
        }
        None => copies.create(&PostParams::default(), &copy).await?,
    };
    Ok(Ok(()))
}

/// Deletes the copies beside `host` that `deployment` no longer references.
pub(crate) async fn remove_unused(
    client: &Client,
    host: &BareMetalHost,
    deployment: &Deployment,
) -> Result<(), Error> {
    let host_ns = host.namespace().ok_or(Error::Incomplete("namespace"))?;
    let copies: Api<Secret> = Api::namespaced(client.clone(), &host_ns);
    for (role, wanted) in DataRole::ALL.into_iter().zip(&deployment.data) {
        let copy_name = role.copy_name(&host.name_any());
        if wanted.is_some() {
            continue;
        }
        match copies.get_opt(&copy_name).await? {
            Some(secret) if secret.labels().contains_key(COPY_LABEL) => {
                match copies.delete(&copy_name, &DeleteParams::default()).await {
                    Ok(_) => {}
                    Err(kube::Error::Api(s)) if s.code == 404 => {}
                    Err(e) => return Err(e.into()),
                }
            }
            _ => {}
        }
    }
    Ok(())
}
