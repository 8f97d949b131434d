//! The BMCEventSubscription controller: subscribes a host's BMC to send events to a
//! destination, once, and removes the subscription when the object is deleted.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::{Client, ResourceExt};
use metal3_api::consts::BMC_EVENT_SUBSCRIPTION_FINALIZER;
use metal3_api::v1alpha1::{BMCEventSubscription, BareMetalHost};
use metal3_hoststate::CredentialsInput;
use metal3_provisioner::{EventSubscription, HostData, Outcome, Provisioner};
use serde_json::json;
use tracing::warn;

use crate::cache::Cached;
use crate::context::Error;
use crate::credentials;
use crate::host_data;
use metal3_kube::meta::set_finalizer;

/// What the subscription controller needs.
pub struct SubscriptionContext {
    /// The Kubernetes client.
    pub client: Client,
    /// The backend that subscribes the BMCs.
    pub provisioner: Arc<dyn Provisioner>,
    /// Retry delay while the host is missing or not ready (10 min upstream).
    pub retry: Duration,
    /// Adopted credentials Secrets (shared with the host controller).
    pub secrets: Arc<Cached<Secret>>,
    /// The shards this replica holds: a subscription follows its host's shard.
    pub shards: Option<metal3_kube::shards::Shards>,
}

async fn set_status(
    api: &Api<BMCEventSubscription>,
    name: &str,
    subscription_id: Option<&str>,
    error: Option<&str>,
) -> Result<(), Error> {
    let patch = json!({"status": {"subscriptionID": subscription_id, "error": error}});
    api.patch_status(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await?;
    Ok(())
}

/// The host's identity and credentials, when it can be asked.
async fn host_to_ask(
    client: &Client,
    cache: &Cached<Secret>,
    ns: &str,
    host_name: &str,
) -> Result<Result<HostData, String>, Error> {
    let hosts: Api<BareMetalHost> = Api::namespaced(client.clone(), ns);
    let Some(host) = hosts.get_opt(host_name).await? else {
        return Ok(Err(format!("BareMetalHost {host_name:?} does not exist")));
    };
    let id = host
        .status
        .as_ref()
        .map(|s| s.provisioning.id.clone())
        .unwrap_or_default();
    if id.is_empty() {
        return Ok(Err(format!(
            "BareMetalHost {host_name:?} is not registered yet"
        )));
    }
    let secrets: Api<Secret> = Api::namespaced(client.clone(), ns);
    let found = credentials::load(&secrets, cache, &host).await?;
    if !matches!(found.input, CredentialsInput::Valid { .. }) {
        return Ok(Err(format!(
            "BareMetalHost {host_name:?} has no usable BMC credentials"
        )));
    }
    Ok(Ok(HostData {
        provisioner_id: id,
        ..host_data::of(&host, found.credentials)
    }))
}

/// Reads the HTTP headers Secret: every key is a header name.
async fn headers(
    client: &Client,
    ns: &str,
    sub: &BMCEventSubscription,
) -> Result<Result<BTreeMap<String, String>, String>, Error> {
    let Some(name) = sub
        .spec
        .http_headers_ref
        .as_ref()
        .and_then(|r| r.name.clone())
    else {
        return Ok(Ok(BTreeMap::new()));
    };
    let secrets: Api<Secret> = Api::namespaced(client.clone(), ns);
    let Some(secret) = secrets.get_opt(&name).await? else {
        return Ok(Err(format!(
            "the httpHeadersRef Secret {name:?} does not exist"
        )));
    };
    Ok(Ok(secret
        .data
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, String::from_utf8_lossy(&v.0).into_owned()))
        .collect()))
}

/// One reconcile of one subscription, by the replica holding its host's shard.
pub async fn reconcile(
    sub: Arc<BMCEventSubscription>,
    ctx: Arc<SubscriptionContext>,
) -> Result<Action, Error> {
    let Some(shards) = &ctx.shards else {
        return subscribe(sub, ctx.clone()).await;
    };
    let ns = sub.namespace().ok_or(Error::Incomplete("namespace"))?;
    let host_name = sub.spec.host_name.clone().unwrap_or_default();
    let Some(tenure) = shards.enter(&ns, &host_name) else {
        return Ok(Action::await_change());
    };
    metal3_provisioner::actor::scope(tenure.actor(), subscribe(sub, ctx.clone())).await
}

async fn subscribe(
    sub: Arc<BMCEventSubscription>,
    ctx: Arc<SubscriptionContext>,
) -> Result<Action, Error> {
    let ns = sub.namespace().ok_or(Error::Incomplete("namespace"))?;
    let name = sub.name_any();
    let api: Api<BMCEventSubscription> = Api::namespaced(ctx.client.clone(), &ns);
    let host_name = sub.spec.host_name.clone().unwrap_or_default();
    let id = sub
        .status
        .as_ref()
        .and_then(|s| s.subscription_id.clone())
        .filter(|i| !i.is_empty());
    let ours = sub
        .finalizers()
        .iter()
        .any(|f| f == BMC_EVENT_SUBSCRIPTION_FINALIZER);

    if sub.metadata.deletion_timestamp.is_some() {
        if !ours {
            return Ok(Action::await_change());
        }
        if let Some(id) = &id {
            match host_to_ask(&ctx.client, &ctx.secrets, &ns, &host_name).await? {
                Ok(host) => {
                    if let Outcome::Failed { message } = ctx
                        .provisioner
                        .remove_bmc_event_subscription(&host, id)
                        .await?
                    {
                        set_status(&api, &name, Some(id), Some(&message)).await?;
                        return Ok(Action::requeue(ctx.retry));
                    }
                }
                // The host is gone or unusable: nothing left to unsubscribe from.
                Err(why) => warn!(subscription = %name, %why, "not removing the BMC subscription"),
            }
        }
        set_finalizer(&api, &sub, BMC_EVENT_SUBSCRIPTION_FINALIZER, false).await?;
        return Ok(Action::await_change());
    }
    if !ours {
        set_finalizer(&api, &sub, BMC_EVENT_SUBSCRIPTION_FINALIZER, true).await?;
        return Ok(Action::await_change());
    }
    if id.is_some() {
        // Subscriptions are created once; the spec is immutable after that.
        return Ok(Action::await_change());
    }
    let host = match host_to_ask(&ctx.client, &ctx.secrets, &ns, &host_name).await? {
        Ok(h) => h,
        Err(why) => {
            set_status(&api, &name, None, Some(&why)).await?;
            return Ok(Action::requeue(ctx.retry));
        }
    };
    let http_headers = match headers(&ctx.client, &ns, &sub).await? {
        Ok(h) => h,
        Err(why) => {
            set_status(&api, &name, None, Some(&why)).await?;
            return Ok(Action::requeue(ctx.retry));
        }
    };
    let request = EventSubscription {
        destination: sub.spec.destination.clone().unwrap_or_default(),
        context: sub.spec.context.clone().unwrap_or_default(),
        http_headers,
    };
    match ctx
        .provisioner
        .add_bmc_event_subscription(&host, &request)
        .await?
    {
        (Outcome::Done, id) => {
            set_status(&api, &name, Some(&id), None).await?;
            Ok(Action::await_change())
        }
        (Outcome::InProgress { after }, _) => Ok(Action::requeue(after)),
        (Outcome::Failed { message }, _) => {
            set_status(&api, &name, None, Some(&message)).await?;
            Ok(Action::requeue(ctx.retry))
        }
    }
}

/// Retry policy after a failed reconcile.
pub fn error_policy(
    _sub: Arc<BMCEventSubscription>,
    error: &Error,
    _ctx: Arc<SubscriptionContext>,
) -> Action {
    warn!(%error, "BMCEventSubscription reconcile failed");
    Action::requeue(Duration::from_secs(5))
}
