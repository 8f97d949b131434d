//! The BareMetalSwitch controller (only with `IRONIC_NETWORKING_ENABLED`): keeps the switch
//! configuration Secrets of each namespace in step with its BareMetalSwitches and their
//! credentials, and reports each switch's `Valid` condition.
//!
//! Any change to a switch (created, changed, deleted) or to a credentials Secret a switch owns
//! regenerates its namespace's configuration from a fresh list, as upstream does; a switch
//! whose Secret does not exist yet is looked at again every 10 s. Credentials are read from the
//! switches' Secrets and written only to the two configuration Secrets: never to logs, Events
//! or status. Rendering is pure, in [`crate::switch_config`].
//!
//! With shards (`--shards N`), a namespace belongs to the shard of its configuration Secret
//! (`namespace/<configs secret>`): only the replica holding that shard writes it, so two
//! replicas never race on the same Secrets, and a replica gaining the shard rewrites the
//! namespaces it has seen switches in.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::time::Duration;

use futures::StreamExt;
use jiff::Timestamp;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, ResourceExt};
use metal3_api::consts::{SECRET_ENVIRONMENT_LABEL, SECRET_ENVIRONMENT_VALUE};
use metal3_api::v1alpha1::{BareMetalSwitch, Condition, ConditionStatus, SWITCH_CONDITION_VALID};
use metal3_kube::meta::owner_reference;
use metal3_kube::shards::Shards;
use serde_json::json;
use tracing::{debug, info, warn};

use crate::switch_config::{CredentialProblem, Rendered, SwitchInput, SwitchNetworking, render};

/// Why a namespace's configuration was not written.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A request to the API server failed.
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    /// A configuration Secret does not exist; the deployment (as upstream's) creates both.
    #[error("Secret {0} does not exist: create it (it is mounted by the networking service)")]
    SecretMissing(String),
}

/// How soon a switch whose credentials Secret is missing is looked at again (upstream's 10 s).
pub const MISSING_SECRET_RETRY: Duration = Duration::from_secs(10);

/// Runs the controller until `shutdown` completes: every namespace (or only `namespace`); with
/// `shards`, only the namespaces whose shard this replica holds.
pub async fn run(
    client: Client,
    namespace: Option<String>,
    settings: SwitchNetworking,
    shards: Option<Shards>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    info!(
        configs = %settings.configs_secret,
        credentials = %settings.credentials_secret,
        "starting the BareMetalSwitch controller"
    );
    let switches: Api<BareMetalSwitch> = match &namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    };
    let secrets: Api<Secret> = match &namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    };
    let labelled = watcher::Config::default().labels(&format!(
        "{SECRET_ENVIRONMENT_LABEL}={SECRET_ENVIRONMENT_VALUE}"
    ));
    let switch_namespaces = watcher(switches, watcher::Config::default())
        .default_backoff()
        .touched_objects()
        .map(|r| r.ok().and_then(|s: BareMetalSwitch| s.namespace()))
        .map(Due::Namespace);
    let secret_namespaces = watcher(secrets, labelled)
        .default_backoff()
        .touched_objects()
        .map(|r| {
            r.ok()
                .filter(|s: &Secret| {
                    s.owner_references()
                        .iter()
                        .any(|o| o.kind == "BareMetalSwitch")
                })
                .and_then(|s| s.namespace())
        })
        .map(Due::Namespace);
    let gained = crate::controllers::shards_gained(shards.clone()).map(|()| Due::Gained);
    // Deletions too: `touched_objects` yields deleted objects as well as applied ones.
    let mut changes = std::pin::pin!(futures::stream::select(
        futures::stream::select(switch_namespaces, secret_namespaces),
        gained,
    ));
    let mut shutdown = std::pin::pin!(shutdown);
    // Namespaces seen with switches (or their Secrets): rewritten when a shard is gained.
    let mut seen: BTreeSet<String> = BTreeSet::new();
    let mut retry: BTreeSet<String> = BTreeSet::new();
    let mut retry_at = tokio::time::Instant::now() + MISSING_SECRET_RETRY;
    loop {
        let due: Vec<String> = tokio::select! {
            _ = &mut shutdown => break,
            next = changes.next() => match next {
                Some(Due::Namespace(Some(ns))) => {
                    seen.insert(ns.clone());
                    vec![ns]
                }
                Some(Due::Namespace(None)) => continue,
                Some(Due::Gained) => seen.iter().cloned().collect(),
                None => break,
            },
            _ = tokio::time::sleep_until(retry_at), if !retry.is_empty() => {
                std::mem::take(&mut retry).into_iter().collect()
            }
        };
        for ns in due {
            // Held for the whole rewrite: giving the shard back waits for it.
            let tenure = match &shards {
                Some(shards) => match shards.enter(&ns, &settings.configs_secret) {
                    Some(tenure) => Some(tenure),
                    None => continue,
                },
                None => None,
            };
            let outcome = sync_namespace(&client, &ns, &settings).await;
            drop(tenure);
            match outcome {
                Ok(true) => {
                    if retry.is_empty() {
                        retry_at = tokio::time::Instant::now() + MISSING_SECRET_RETRY;
                    }
                    retry.insert(ns);
                }
                Ok(false) => {}
                Err(e) => {
                    warn!(namespace = %ns, error = %e, "switch configuration not written; retrying");
                    if retry.is_empty() {
                        retry_at = tokio::time::Instant::now() + MISSING_SECRET_RETRY;
                    }
                    retry.insert(ns);
                }
            }
        }
    }
    info!("BareMetalSwitch controller stopped");
}

/// What the controller is woken for.
enum Due {
    /// A change in a namespace (`None`: an object without one, ignored).
    Namespace(Option<String>),
    /// This replica gained a shard: every namespace seen is looked at again.
    Gained,
}

/// Regenerates the configuration of namespace `ns` and the switches' conditions. `Ok(true)`
/// when a switch waits for its credentials Secret to appear.
pub async fn sync_namespace(
    client: &Client,
    ns: &str,
    settings: &SwitchNetworking,
) -> Result<bool, Error> {
    let api: Api<BareMetalSwitch> = Api::namespaced(client.clone(), ns);
    let switches = api.list(&ListParams::default()).await?.items;
    let mut datas: Vec<Credentials> = Vec::new();
    for switch in &switches {
        datas.push(credentials(client, switch).await?);
    }
    let inputs: Vec<SwitchInput<'_>> = switches
        .iter()
        .zip(&datas)
        .map(|(switch, (key, data))| SwitchInput {
            switch,
            secret_key: key.clone(),
            secret_data: data.as_ref(),
        })
        .collect();
    let Rendered {
        config,
        key_files,
        problems,
    } = render(&inputs, &settings.credentials_path);
    let secrets: Api<Secret> = Api::namespaced(client.clone(), ns);
    write_secret(&secrets, &settings.configs_secret, config).await?;
    write_secret(&secrets, &settings.credentials_secret, key_files).await?;
    for switch in &switches {
        let name = switch.name_any();
        set_valid(&api, switch, problems.get(&name)).await?;
    }
    debug!(namespace = %ns, switches = switches.len(), left_out = problems.len(), "switch configuration written");
    Ok(problems
        .values()
        .any(|p| matches!(p, CredentialProblem::SecretMissing(_))))
}

/// A switch's credentials Secret as `namespace/name` (when one is named) and its data (when it
/// exists).
type Credentials = (Option<String>, Option<BTreeMap<String, Vec<u8>>>);

/// The switch's credentials Secret (`namespace/name`) and its data when it exists; the Secret
/// is labelled so its changes are watched, and owned by the switch when in its namespace.
async fn credentials(client: &Client, switch: &BareMetalSwitch) -> Result<Credentials, Error> {
    let reference = switch.spec.credentials.as_ref();
    let Some(name) = reference
        .and_then(|r| r.name.clone())
        .filter(|n| !n.is_empty())
    else {
        return Ok((None, None));
    };
    let own_ns = switch.namespace().unwrap_or_default();
    let ns = reference
        .and_then(|r| r.namespace.clone())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| own_ns.clone());
    let key = format!("{ns}/{name}");
    let api: Api<Secret> = Api::namespaced(client.clone(), &ns);
    let Some(secret) = api.get_opt(&name).await? else {
        return Ok((Some(key), None));
    };
    adopt(&api, &secret, switch, ns == own_ns).await?;
    let data = secret
        .data
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, v.0))
        .collect();
    Ok((Some(key), Some(data)))
}

/// Labels the Secret (so the controller watches it) and, in the switch's namespace, adds an
/// owner reference to the switch; nothing when both are there.
async fn adopt(
    api: &Api<Secret>,
    secret: &Secret,
    switch: &BareMetalSwitch,
    same_namespace: bool,
) -> Result<(), Error> {
    let labelled = secret
        .labels()
        .get(SECRET_ENVIRONMENT_LABEL)
        .is_some_and(|v| v == SECRET_ENVIRONMENT_VALUE);
    let owner = owner_reference(switch, false).filter(|_| same_namespace);
    let owned = owner
        .as_ref()
        .is_none_or(|o| secret.owner_references().iter().any(|r| r.uid == o.uid));
    if labelled && owned {
        return Ok(());
    }
    let mut owners = secret.owner_references().to_vec();
    if let (false, Some(o)) = (owned, owner) {
        owners.push(o);
    }
    let patch = json!({"metadata": {
        "labels": {SECRET_ENVIRONMENT_LABEL: SECRET_ENVIRONMENT_VALUE},
        "ownerReferences": owners,
        "resourceVersion": secret.resource_version(),
    }});
    api.patch(
        &secret.name_any(),
        &PatchParams::default(),
        &Patch::Merge(&patch),
    )
    .await?;
    Ok(())
}

/// Makes Secret `name` hold exactly `data`: replaced (with the resourceVersion read) when
/// different, left alone when equal. Like upstream, the Secret must exist.
async fn write_secret(
    api: &Api<Secret>,
    name: &str,
    data: BTreeMap<String, Vec<u8>>,
) -> Result<(), Error> {
    let data: BTreeMap<String, ByteString> =
        data.into_iter().map(|(k, v)| (k, ByteString(v))).collect();
    let Some(mut secret) = api.get_opt(name).await? else {
        return Err(Error::SecretMissing(name.to_string()));
    };
    if secret.data.clone().unwrap_or_default() == data {
        return Ok(());
    }
    secret.data = Some(data);
    secret.string_data = None;
    api.replace(name, &PostParams::default(), &secret).await?;
    Ok(())
}

/// Sets the switch's `Valid` condition when it differs from what the status says.
async fn set_valid(
    api: &Api<BareMetalSwitch>,
    switch: &BareMetalSwitch,
    problem: Option<&CredentialProblem>,
) -> Result<(), Error> {
    let (status, reason, message) = match problem {
        None => (
            ConditionStatus::True,
            "Reconciled",
            "Switch configuration has been written to the switch configuration secret",
        ),
        Some(p) => (ConditionStatus::False, "CredentialError", p.message()),
    };
    let conditions = switch
        .status
        .as_ref()
        .map(|s| s.conditions.clone())
        .unwrap_or_default();
    let current = conditions
        .iter()
        .find(|c| c.r#type == SWITCH_CONDITION_VALID);
    let generation = switch.metadata.generation;
    if current.is_some_and(|c| {
        c.status == status
            && c.reason == reason
            && c.message == message
            && c.observed_generation == generation
    }) {
        return Ok(());
    }
    let since = match current {
        Some(c) if c.status == status => c.last_transition_time.clone(),
        _ => Time(Timestamp::now()),
    };
    let mut next: Vec<Condition> = conditions
        .into_iter()
        .filter(|c| c.r#type != SWITCH_CONDITION_VALID)
        .collect();
    next.push(Condition {
        r#type: SWITCH_CONDITION_VALID.to_string(),
        status,
        observed_generation: generation,
        last_transition_time: since,
        reason: reason.to_string(),
        message: message.to_string(),
    });
    let patch = json!({"status": {"conditions": next}});
    api.patch_status(
        &switch.name_any(),
        &PatchParams::default(),
        &Patch::Merge(&patch),
    )
    .await?;
    Ok(())
}
