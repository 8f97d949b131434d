//! BMC event subscriptions: creating one on the BMC's EventService for the host's system and
//! deleting it again.

use metal3_provisioner::{EventSubscription, HostData, Outcome};
use serde_json::{Value, json};

use crate::RedfishProvisioner;
use crate::errors::{Fault, Step};

impl RedfishProvisioner {
    /// Subscribes `subscription`'s destination to the system's events; returns where the BMC
    /// keeps the subscription.
    pub(crate) async fn subscribe(
        &self,
        host: &HostData,
        subscription: &EventSubscription,
    ) -> Step<String> {
        let (conn, path) = self.connect(host).await?;
        let headers: Vec<Value> = subscription
            .http_headers
            .iter()
            .map(|(k, v)| json!({k: v}))
            .collect();
        let reply = conn
            .post(
                "/redfish/v1/EventService/Subscriptions",
                &json!({
                    "Destination": subscription.destination,
                    "Context": subscription.context,
                    "Protocol": "Redfish",
                    "HttpHeaders": headers,
                    "OriginResources": [{"@odata.id": path}],
                }),
            )
            .await?;
        let id = reply
            .location
            .or_else(|| {
                reply
                    .body
                    .get("@odata.id")
                    .and_then(Value::as_str)
                    .map(str::to_string)
            })
            .ok_or_else(|| Fault::Failed("the BMC did not say where the subscription is".into()))?;
        Ok(id)
    }

    /// Deletes a subscription (its path or its id); one that is gone already is fine.
    pub(crate) async fn unsubscribe(
        &self,
        host: &HostData,
        subscription_id: &str,
    ) -> Step<Outcome> {
        let (conn, _) = self.connect(host).await?;
        let path = if subscription_id.starts_with('/') {
            subscription_id.to_string()
        } else {
            format!("/redfish/v1/EventService/Subscriptions/{subscription_id}")
        };
        match conn.delete(&path).await {
            Ok(_) => Ok(Outcome::Done),
            Err(e) if e.is_not_found() => Ok(Outcome::Done),
            Err(e) => Err(e.into()),
        }
    }
}
