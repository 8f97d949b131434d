//! IPPool: ranges of addresses handed out to claims, with what goes with an address (prefix,
//! gateway, DNS servers).

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{IpAddressStr, IpSubnetStr};
use crate::schema::{is_default, plain_integer};

/// How addresses are picked within a range: `sequential` (the lowest free one; the default)
/// or `random`. Either way, a range is used up before the next one. Cannot be changed.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum AllocationStrategy {
    /// The lowest free address.
    #[default]
    Sequential,
    /// A free address chosen at random.
    Random,
}

/// One range of addresses of a pool, and the prefix, gateway and DNS servers of its addresses
/// (each falling back to the pool's own when unset).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Pool {
    /// First address of the range; without it the range starts right after the subnet's
    /// network address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<IpAddressStr>,
    /// Last address of the range (inclusive); without it, the range ends with the subnet (or
    /// never, when there is no subnet either).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<IpAddressStr>,
    /// The subnet every address of the range lies in (CIDR); it bounds the range when `end`
    /// is unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subnet: Option<IpSubnetStr>,
    /// Prefix length of the range's addresses; 0 takes the pool's.
    #[serde(default, skip_serializing_if = "is_default")]
    #[schemars(range(max = 128), transform = plain_integer)]
    pub prefix: i32,
    /// Gateway of the range's addresses; the pool's when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<IpAddressStr>,
    /// DNS servers of the range's addresses; the pool's when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dns_servers: Vec<IpAddressStr>,
}

/// Ranges of addresses for claims, and pool-wide defaults.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "ipam.metal3.io",
    version = "v1alpha1",
    kind = "IPPool",
    plural = "ippools",
    namespaced,
    status = "IPPoolStatus",
    derive = "PartialEq",
    derive = "Default",
    category = "cluster-api",
    shortname = "ipp",
    shortname = "ippool",
    shortname = "m3ipp",
    shortname = "m3ippool",
    shortname = "m3ippools",
    shortname = "metal3ipp",
    shortname = "metal3ippool",
    shortname = "metal3ippools",
    printcolumn(
        name = "Cluster",
        type_ = "string",
        json_path = ".metadata.labels.cluster\\.x-k8s\\.io/cluster-name",
        description = "Cluster API cluster the pool serves"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp",
        description = "Time since the pool was created"
    ),
    doc = "A pool of IP addresses: claims in its namespace (IPClaims, and Cluster API \
           IPAddressClaims naming it) each get one address of its ranges as an IPAddress."
)]
#[serde(rename_all = "camelCase")]
pub struct IPPoolSpec {
    /// The Cluster API cluster the pool serves: the pool is paused with it and owned by it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_name: Option<String>,
    /// The ranges, used in this order: a range is full before the next one is used.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pools: Vec<Pool>,
    /// How addresses are picked within a range (see [`AllocationStrategy`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = "sequential"))]
    pub allocation_strategy: Option<AllocationStrategy>,
    /// Addresses reserved for claims by claim name; no other claim gets them.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub pre_allocations: BTreeMap<String, IpAddressStr>,
    /// Prefix length of the addresses of ranges that set none.
    #[serde(default, skip_serializing_if = "is_default")]
    #[schemars(range(max = 128), transform = plain_integer)]
    pub prefix: i32,
    /// Gateway of the addresses of ranges that set none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<IpAddressStr>,
    /// DNS servers of the addresses of ranges that set none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dns_servers: Vec<IpAddressStr>,
    /// Start of the names of the pool's IPAddress objects (`<namePrefix>-<address>`). Cannot
    /// be changed.
    #[schemars(length(min = 1))]
    pub name_prefix: String,
}

impl IPPoolSpec {
    /// The allocation strategy, `sequential` when unset.
    pub fn strategy(&self) -> AllocationStrategy {
        self.allocation_strategy.unwrap_or_default()
    }
}

/// What the pool has handed out.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct IPPoolStatus {
    /// When the allocations last changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_updated: Option<Time>,
    /// The address of each claim, by claim name.
    #[serde(
        default,
        rename = "indexes",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub allocations: BTreeMap<String, IpAddressStr>,
}
