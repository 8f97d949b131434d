//! BMCEventSubscription: forward a host's BMC events (Redfish EventService) to a URL.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::SecretReference;

/// A subscription to the BMC events of one host.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "metal3.io",
    version = "v1alpha1",
    kind = "BMCEventSubscription",
    plural = "bmceventsubscriptions",
    singular = "bmceventsubscription",
    namespaced,
    status = "BMCEventSubscriptionStatus",
    shortname = "bes",
    shortname = "bmcevent",
    doc = "Asks a host's BMC to send its events to a URL.",
    printcolumn(
        name = "Error",
        type_ = "string",
        json_path = ".status.error",
        description = "Last error, if any"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp",
        description = "Time since the subscription was created"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct BMCEventSubscriptionSpec {
    /// Opaque text the BMC sends back with every event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
    /// URL the BMC sends events to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination: Option<String>,
    /// Name of the BareMetalHost whose BMC sends the events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_name: Option<String>,
    /// Secret (same namespace) whose keys and values are sent as HTTP headers with each event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_headers_ref: Option<SecretReference>,
}

/// State of a subscription.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BMCEventSubscriptionStatus {
    /// Why the subscription could not be made, if it could not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Identifier the BMC gave the subscription.
    #[serde(
        default,
        rename = "subscriptionID",
        skip_serializing_if = "Option::is_none"
    )]
    pub subscription_id: Option<String>,
}
