//! IPAddress: one address of an IPPool, given to one claim.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{IpAddressStr, ObjectReference};
use crate::schema::{is_default, plain_integer};

/// The address, where it comes from and who holds it.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "ipam.metal3.io",
    version = "v1alpha1",
    kind = "IPAddress",
    plural = "ipaddresses",
    namespaced,
    derive = "PartialEq",
    derive = "Default",
    category = "metal3",
    shortname = "ipa",
    shortname = "ipaddress",
    shortname = "m3ipa",
    shortname = "m3ipaddress",
    shortname = "m3ipaddresses",
    shortname = "metal3ipa",
    shortname = "metal3ipaddress",
    shortname = "metal3ipaddresses",
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp",
        description = "Time since the address was handed out"
    ),
    doc = "An address of an IPPool held by one IPClaim, named `<namePrefix>-<address>`; \
           it goes back to the pool when the claim is deleted."
)]
#[serde(rename_all = "camelCase")]
pub struct IPAddressSpec {
    /// The IPClaim holding the address. Cannot be changed.
    pub claim: ObjectReference,
    /// The IPPool the address comes from. Cannot be changed.
    pub pool: ObjectReference,
    /// Prefix length of the network the address is in.
    #[serde(default, skip_serializing_if = "is_default")]
    #[schemars(range(max = 128), transform = plain_integer)]
    pub prefix: i32,
    /// Gateway of the network.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<IpAddressStr>,
    /// The address. Cannot be changed.
    pub address: IpAddressStr,
    /// DNS servers of the network.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dns_servers: Vec<IpAddressStr>,
}
