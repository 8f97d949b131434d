//! Reading a host's BMC credentials Secret, and marking the Secret as ours (label, owner
//! reference, finalizer) so that changes to it wake the host up and it is not deleted under us.
//! The rules the details and the Secret must follow are `metal3_hoststate::credentials`.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt;
use kube::api::{Api, Patch, PatchParams};
use metal3_api::consts::{SECRET_ENVIRONMENT_LABEL, SECRET_ENVIRONMENT_VALUE, SECRET_FINALIZER};
use metal3_api::v1alpha1::{BareMetalHost, SecretReference};
use metal3_hoststate::{CredentialsInput, credentials};
use metal3_provisioner::Credentials;
use serde_json::json;

use crate::cache::Cached;
use metal3_kube::meta::owner_reference;

/// The credentials found for a host.
pub(crate) struct Found {
    pub input: CredentialsInput,
    pub credentials: Credentials,
}

impl Found {
    fn only(input: CredentialsInput) -> Self {
        Self {
            input,
            credentials: Credentials::default(),
        }
    }
}

fn invalid(message: String) -> Found {
    Found::only(CredentialsInput::Invalid { message })
}

/// Reads and checks the host's credentials.
pub(crate) async fn load(
    secrets: &Api<Secret>,
    cache: &Cached<Secret>,
    host: &BareMetalHost,
) -> Result<Found, kube::Error> {
    let bmc = &host.spec.bmc;
    if !host.spec.has_bmc_details() {
        return Ok(Found::only(CredentialsInput::NotNeeded));
    }
    if let Err(message) = credentials::check_bmc(bmc) {
        return Ok(invalid(message));
    }
    let ns = host.namespace().unwrap_or_default();
    // Adopted Secrets are in the cache; a Secret we have not labelled yet is read once.
    let cached = cache
        .get(&ns, &bmc.credentials_name)
        .map(Arc::unwrap_or_clone);
    let secret = match cached {
        Some(s) => Some(s),
        None => secrets.get_opt(&bmc.credentials_name).await?,
    };
    let Some(secret) = secret else {
        return Ok(Found::only(CredentialsInput::Missing {
            secret: bmc.credentials_name.clone(),
        }));
    };
    let name = &bmc.credentials_name;
    let data = secret.data.clone().unwrap_or_default();
    let credentials = match credentials::from_secret(name, &data) {
        Ok(c) => c,
        Err(message) => return Ok(invalid(message)),
    };
    let secret = if host.metadata.deletion_timestamp.is_none() {
        adopt(secrets, cache, &secret, host).await?
    } else {
        secret
    };
    Ok(Found {
        input: CredentialsInput::Valid {
            secret: SecretReference {
                name: Some(name.clone()),
                namespace: host.namespace(),
            },
            version: secret.resource_version().unwrap_or_default(),
        },
        credentials,
    })
}

/// Labels the Secret, adds our finalizer and an owner reference to the host, when missing.
async fn adopt(
    secrets: &Api<Secret>,
    cache: &Cached<Secret>,
    secret: &Secret,
    host: &BareMetalHost,
) -> Result<Secret, kube::Error> {
    let labelled = secret
        .labels()
        .get(SECRET_ENVIRONMENT_LABEL)
        .map(String::as_str)
        == Some(SECRET_ENVIRONMENT_VALUE);
    let finalized = secret.finalizers().iter().any(|f| f == SECRET_FINALIZER);
    let owner = owner_reference(host, false);
    let owned = match &owner {
        Some(o) => secret.owner_references().iter().any(|r| r.uid == o.uid),
        None => true,
    };
    if labelled && finalized && owned {
        return Ok(secret.clone());
    }
    let mut finalizers = secret.finalizers().to_vec();
    if !finalized {
        finalizers.push(SECRET_FINALIZER.to_string());
    }
    let mut owners = secret.owner_references().to_vec();
    if let (false, Some(o)) = (owned, owner) {
        owners.push(o);
    }
    let labels: BTreeMap<&str, &str> =
        [(SECRET_ENVIRONMENT_LABEL, SECRET_ENVIRONMENT_VALUE)].into();
    let patch = json!({
        "metadata": {
            "resourceVersion": secret.resource_version(),
            "labels": labels,
            "finalizers": finalizers,
            "ownerReferences": owners,
        }
    });
    let adopted = secrets
        .patch(
            &secret.name_any(),
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await?;
    cache.wrote(
        &secret.namespace().unwrap_or_default(),
        &secret.name_any(),
        Some(adopted.clone()),
    );
    Ok(adopted)
}

/// Drops our finalizer and owner reference from the Secret of a host that is gone.
pub(crate) async fn release(
    secrets: &Api<Secret>,
    cache: &Cached<Secret>,
    host: &BareMetalHost,
) -> Result<(), kube::Error> {
    let name = &host.spec.bmc.credentials_name;
    if name.is_empty() {
        return Ok(());
    }
    let Some(secret) = secrets.get_opt(name).await? else {
        return Ok(());
    };
    let uid = host.metadata.uid.clone().unwrap_or_default();
    let owners: Vec<_> = secret
        .owner_references()
        .iter()
        .filter(|r| r.uid != uid)
        .cloned()
        .collect();
    // Keep the finalizer while other hosts still use the Secret.
    let others = owners.iter().any(|o| o.kind == "BareMetalHost");
    let finalizers: Vec<_> = secret
        .finalizers()
        .iter()
        .filter(|f| others || *f != SECRET_FINALIZER)
        .cloned()
        .collect();
    if owners.len() == secret.owner_references().len()
        && finalizers.len() == secret.finalizers().len()
    {
        return Ok(());
    }
    let patch = json!({
        "metadata": {
            "resourceVersion": secret.resource_version(),
            "finalizers": finalizers,
            "ownerReferences": owners,
        }
    });
    let released = secrets
        .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await?;
    cache.wrote(&host.namespace().unwrap_or_default(), name, Some(released));
    Ok(())
}

/// Reads a user-data style Secret: `key`, else `value`.
pub(crate) async fn read_data(
    secrets: &Api<Secret>,
    reference: Option<&SecretReference>,
    key: &str,
) -> Result<Option<String>, kube::Error> {
    let Some(name) = reference.and_then(|r| r.name.as_deref()) else {
        return Ok(None);
    };
    let Some(secret) = secrets.get_opt(name).await? else {
        return Ok(None);
    };
    let data = secret.data.unwrap_or_default();
    Ok(data
        .get(key)
        .or_else(|| data.get("value"))
        .map(|v| String::from_utf8_lossy(&v.0).into_owned()))
}
