//! IPClaim: a request for one address of an IPPool.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::ObjectReference;

/// The pool a claim asks an address of.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "ipam.metal3.io",
    version = "v1alpha1",
    kind = "IPClaim",
    plural = "ipclaims",
    namespaced,
    status = "IPClaimStatus",
    derive = "PartialEq",
    derive = "Default",
    category = "cluster-api",
    shortname = "ipc",
    shortname = "ipclaim",
    shortname = "m3ipc",
    shortname = "m3ipclaim",
    shortname = "m3ipclaims",
    shortname = "metal3ipc",
    shortname = "metal3ipclaim",
    shortname = "metal3ipclaims",
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp",
        description = "Time since the claim was made"
    ),
    doc = "A claim on one address of an IPPool in the same namespace; the annotation \
           `ipAddress` asks for a given address. Answered with an IPAddress."
)]
pub struct IPClaimSpec {
    /// The IPPool to take the address from. Cannot be changed.
    pub pool: ObjectReference,
}

/// The answer to a claim.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct IPClaimStatus {
    /// The IPAddress holding the claim's address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<ObjectReference>,
    /// Why no address could be given; the claim is not tried again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
}
