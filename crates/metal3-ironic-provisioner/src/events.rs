//! BMC event subscriptions, made and removed through the node's Redfish vendor passthru.

use metal3_ironic::Method;
use metal3_provisioner::{EventSubscription, HostData, Outcome, ProvResult};
use serde_json::{Value, json};

use crate::IronicProvisioner;
use crate::errors::{act, classify};

/// Subscribes the subscription's destination to the BMC's events; the BMC's id of the
/// subscription comes back with the outcome.
pub(crate) async fn add_bmc_event_subscription(
    p: &IronicProvisioner,
    host: &HostData,
    subscription: &EventSubscription,
) -> ProvResult<(Outcome, String)> {
    let node = p.node(host).await?;
    let headers: Vec<Value> = subscription
        .http_headers
        .iter()
        .map(|(k, v)| json!({k: v}))
        .collect();
    let body = json!({
        "Destination": subscription.destination,
        "Context": subscription.context,
        "Protocol": "Redfish",
        "HttpHeaders": headers,
    });
    match p
        .client
        .vendor_passthru(&node.uuid, "create_subscription", Method::POST, &body)
        .await
    {
        Ok(reply) => {
            let id = reply
                .as_ref()
                .and_then(|r| r.get("Id").or_else(|| r.get("id")))
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            Ok((Outcome::Done, id))
        }
        Err(e) => classify(e).map(|o| (o, String::new())),
    }
}

/// Removes the BMC's subscription `subscription_id`.
pub(crate) async fn remove_bmc_event_subscription(
    p: &IronicProvisioner,
    host: &HostData,
    subscription_id: &str,
) -> ProvResult<Outcome> {
    let node = p.node(host).await?;
    let body = json!({"id": subscription_id});
    act!(
        p.client
            .vendor_passthru(&node.uuid, "delete_subscription", Method::DELETE, &body)
            .await
    );
    Ok(Outcome::Done)
}
