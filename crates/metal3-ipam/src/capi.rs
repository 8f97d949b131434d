//! The Cluster API objects the IP address manager reads or writes, as typed structs of its
//! own: IPAddressClaim and IPAddress (`ipam.cluster.x-k8s.io/v1beta2`) and the Cluster
//! (`cluster.x-k8s.io/v1beta2`, for `spec.paused`). Claims and Clusters are read-only views
//! (fields not listed are dropped on reading, so they are only ever written by patches);
//! IPAddress is complete, since the manager creates it.

use std::collections::BTreeMap;

use kube::CustomResource;
use metal3_api::v1alpha1::Condition;
use serde::{Deserialize, Serialize};

/// A reference to a pool: group, kind and name (in the referrer's namespace).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase", default)]
pub struct PoolRef {
    /// API group of the pool (`ipam.metal3.io` for an IPPool).
    pub api_group: String,
    /// Kind of the pool (`IPPool`).
    pub kind: String,
    /// Name of the pool.
    pub name: String,
}

/// A reference by name (in the referrer's namespace).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(default)]
pub struct NameRef {
    /// Name of the object.
    pub name: String,
}

/// What the manager reads of an IPAddressClaim's spec.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[kube(
    group = "ipam.cluster.x-k8s.io",
    version = "v1beta2",
    kind = "IPAddressClaim",
    namespaced,
    status = "IPAddressClaimStatus",
    schema = "disabled"
)]
#[serde(rename_all = "camelCase", default)]
pub struct IPAddressClaimSpec {
    /// The pool to take the address from.
    pub pool_ref: PoolRef,
    /// The Cluster the claim belongs to.
    pub cluster_name: Option<String>,
}

/// What the manager reads of an IPAddressClaim's status.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct IPAddressClaimStatus {
    /// The IPAddress made for the claim.
    pub address_ref: Option<NameRef>,
    /// Conditions, `Ready` among them.
    pub conditions: Vec<Condition>,
}

/// A Cluster API IPAddress: one address given to one IPAddressClaim.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[kube(
    group = "ipam.cluster.x-k8s.io",
    version = "v1beta2",
    kind = "IPAddress",
    namespaced,
    schema = "disabled"
)]
#[serde(rename_all = "camelCase")]
pub struct IPAddressSpec {
    /// The claim holding the address.
    pub claim_ref: NameRef,
    /// The pool the address comes from.
    pub pool_ref: PoolRef,
    /// The address.
    pub address: String,
    /// Prefix length of its network.
    pub prefix: i32,
    /// Gateway of its network.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<String>,
}

/// What the manager reads of a Cluster.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[kube(
    group = "cluster.x-k8s.io",
    version = "v1beta2",
    kind = "Cluster",
    namespaced,
    schema = "disabled"
)]
#[serde(rename_all = "camelCase", default)]
pub struct ClusterSpec {
    /// Whether reconciliation of the cluster is paused.
    pub paused: Option<bool>,
}

impl Cluster {
    /// Whether the Cluster is paused: `spec.paused`, or the paused annotation on it.
    pub fn paused(&self) -> bool {
        self.spec.paused == Some(true) || is_paused(self.metadata.annotations.as_ref())
    }
}

/// Whether `annotations` carry Cluster API's paused annotation.
pub fn is_paused(annotations: Option<&BTreeMap<String, String>>) -> bool {
    annotations.is_some_and(|a| a.contains_key(metal3_ipam_api::consts::PAUSED_ANNOTATION))
}
