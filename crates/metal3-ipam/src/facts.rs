//! What the allocation needs to know of claims and addresses of both kinds — Metal³
//! IPClaims/IPAddresses and Cluster API IPAddressClaims/IPAddresses — reduced to the same few
//! facts, and which of them belong to a given pool.

use std::fmt;
use std::net::IpAddr;

use kube::ResourceExt;
use metal3_ipam_api::GROUP;
use metal3_ipam_api::consts::{
    ADDRESS_FINALIZER, CAPI_ADDRESS_FINALIZER, CAPI_ALLOCATION_FAILED_REASON, CAPI_CLAIM_FINALIZER,
    CAPI_POOL_EXHAUSTED_REASON, CAPI_READY_CONDITION, CLAIM_FINALIZER,
    REQUESTED_ADDRESS_ANNOTATION,
};
use metal3_ipam_api::v1alpha1::{IPAddress, IPClaim};

use crate::capi;
use crate::range::parse_ip;

/// Kind of pool: the only kind of pool this manager answers for.
pub const POOL_KIND: &str = "IPPool";

/// Which kind of claim (and of address given to it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ClaimKind {
    /// `ipam.metal3.io` IPClaim, answered with an `ipam.metal3.io` IPAddress.
    Metal3,
    /// `ipam.cluster.x-k8s.io` IPAddressClaim, answered with an `ipam.cluster.x-k8s.io`
    /// IPAddress.
    Capi,
}

impl ClaimKind {
    /// The claim kind's name.
    pub fn claim_kind(self) -> &'static str {
        match self {
            ClaimKind::Metal3 => "IPClaim",
            ClaimKind::Capi => "IPAddressClaim",
        }
    }

    /// The finalizer this manager puts on claims of this kind.
    pub fn claim_finalizer(self) -> &'static str {
        match self {
            ClaimKind::Metal3 => CLAIM_FINALIZER,
            ClaimKind::Capi => CAPI_CLAIM_FINALIZER,
        }
    }

    /// The finalizer this manager puts on addresses of this kind.
    pub fn address_finalizer(self) -> &'static str {
        match self {
            ClaimKind::Metal3 => ADDRESS_FINALIZER,
            ClaimKind::Capi => CAPI_ADDRESS_FINALIZER,
        }
    }
}

/// A claim: its kind and name (in the pool's namespace).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ClaimKey {
    /// Kind.
    pub kind: ClaimKind,
    /// Name.
    pub name: String,
}

impl ClaimKey {
    /// The claim `name` of `kind`.
    pub fn new(kind: ClaimKind, name: &str) -> Self {
        Self {
            kind,
            name: name.to_string(),
        }
    }
}

impl fmt::Display for ClaimKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.kind.claim_kind(), self.name)
    }
}

/// What the allocation knows of a claim.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClaimFacts {
    /// Which claim.
    pub key: ClaimKey,
    /// The address asked for (annotation `ipAddress`), when set.
    pub requested: Option<String>,
    /// Being deleted.
    pub deleting: bool,
    /// Carries this manager's finalizer.
    pub finalized: bool,
    /// Carries finalizers of others: it is still in use, its address stays.
    pub other_finalizers: bool,
    /// The address object its status names, if answered.
    pub answer: Option<String>,
    /// Its status says the allocation failed: it is not tried again.
    pub failed: bool,
    /// Carries Cluster API's paused annotation.
    pub paused: bool,
}

impl ClaimFacts {
    /// A live claim with no finalizer, annotation or status yet.
    pub fn new(key: ClaimKey) -> Self {
        Self {
            key,
            requested: None,
            deleting: false,
            finalized: false,
            other_finalizers: false,
            answer: None,
            failed: false,
            paused: false,
        }
    }
}

fn common<K: ResourceExt>(kind: ClaimKind, claim: &K) -> ClaimFacts {
    let ours = kind.claim_finalizer();
    ClaimFacts {
        key: ClaimKey::new(kind, &claim.name_any()),
        requested: claim
            .annotations()
            .get(REQUESTED_ADDRESS_ANNOTATION)
            .filter(|v| !v.is_empty())
            .cloned(),
        deleting: claim.meta().deletion_timestamp.is_some(),
        finalized: claim.finalizers().iter().any(|f| f == ours),
        other_finalizers: claim.finalizers().iter().any(|f| f != ours),
        answer: None,
        failed: false,
        paused: capi::is_paused(claim.meta().annotations.as_ref()),
    }
}

/// The facts of an IPClaim.
pub fn metal3_claim(claim: &IPClaim) -> ClaimFacts {
    let status = claim.status.clone().unwrap_or_default();
    ClaimFacts {
        answer: status.address.map(|a| a.name).filter(|n| !n.is_empty()),
        failed: status.error_message.is_some(),
        ..common(ClaimKind::Metal3, claim)
    }
}

/// The facts of an IPAddressClaim; it failed when its `Ready` condition is false for a
/// failed allocation or an exhausted pool.
pub fn capi_claim(claim: &capi::IPAddressClaim) -> ClaimFacts {
    let status = claim.status.clone().unwrap_or_default();
    let failed = status.conditions.iter().any(|c| {
        c.r#type == CAPI_READY_CONDITION
            && c.status == metal3_api::v1alpha1::ConditionStatus::False
            && (c.reason == CAPI_ALLOCATION_FAILED_REASON || c.reason == CAPI_POOL_EXHAUSTED_REASON)
    });
    ClaimFacts {
        answer: status.address_ref.map(|a| a.name).filter(|n| !n.is_empty()),
        failed,
        ..common(ClaimKind::Capi, claim)
    }
}

/// What the allocation knows of an address object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddressFacts {
    /// Kind of the claim it was given to.
    pub kind: ClaimKind,
    /// Name of the address object.
    pub name: String,
    /// Name of the claim holding it.
    pub claim: String,
    /// The address (`None` when its text is not one).
    pub address: Option<IpAddr>,
    /// Being deleted.
    pub deleting: bool,
}

/// The facts of an `ipam.metal3.io` IPAddress.
pub fn metal3_address(address: &IPAddress) -> AddressFacts {
    AddressFacts {
        kind: ClaimKind::Metal3,
        name: address.name_any(),
        claim: address.spec.claim.name.clone(),
        address: parse_ip(address.spec.address.as_str()),
        deleting: address.metadata.deletion_timestamp.is_some(),
    }
}

/// The facts of an `ipam.cluster.x-k8s.io` IPAddress.
pub fn capi_address(address: &capi::IPAddress) -> AddressFacts {
    AddressFacts {
        kind: ClaimKind::Capi,
        name: address.name_any(),
        claim: address.spec.claim_ref.name.clone(),
        address: parse_ip(&address.spec.address),
        deleting: address.metadata.deletion_timestamp.is_some(),
    }
}

/// Whether `claim` asks pool `pool` (in the claim's namespace; a pool namespace, when given,
/// must be the claim's own).
pub fn metal3_claim_of(claim: &IPClaim, pool: &str) -> bool {
    let reference = &claim.spec.pool;
    reference.name == pool
        && (reference.namespace.is_empty()
            || Some(reference.namespace.as_str()) == claim.metadata.namespace.as_deref())
}

/// Whether `claim` asks for an address of the IPPool `pool`.
pub fn capi_claim_of(claim: &capi::IPAddressClaim, pool: &str) -> bool {
    is_our_pool(&claim.spec.pool_ref) && claim.spec.pool_ref.name == pool
}

/// Whether a Cluster API pool reference names an IPPool of this manager.
pub fn is_our_pool(reference: &capi::PoolRef) -> bool {
    reference.api_group == GROUP && reference.kind == POOL_KIND
}

/// Whether `address` comes from pool `pool`.
pub fn metal3_address_of(address: &IPAddress, pool: &str) -> bool {
    address.spec.pool.name == pool
}

/// Whether `address` comes from the IPPool `pool`.
pub fn capi_address_of(address: &capi::IPAddress, pool: &str) -> bool {
    is_our_pool(&address.spec.pool_ref) && address.spec.pool_ref.name == pool
}

/// The name of the address object of `address` in a pool whose `namePrefix` is `prefix`:
/// `<prefix>-<address>` with `.` and `:` turned into `-`, and no trailing `-`.
pub fn address_name(prefix: &str, address: IpAddr) -> String {
    let text = address.to_string().replace([':', '.'], "-");
    format!("{prefix}-{text}").trim_end_matches('-').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn address_names_follow_upstream() {
        let ip = |s: &str| s.parse::<IpAddr>().expect("ip");
        assert_eq!(
            address_name("pool", ip("192.168.0.10")),
            "pool-192-168-0-10"
        );
        assert_eq!(address_name("pool", ip("2001:db8::")), "pool-2001-db8");
        assert_eq!(address_name("pool", ip("2001:db8::1")), "pool-2001-db8--1");
        assert_eq!(address_name("pool", ip("::1")), "pool---1");
    }

    #[test]
    fn a_metal3_claim_is_reduced_to_its_facts() {
        let claim: IPClaim = serde_json::from_value(json!({
            "apiVersion": "ipam.metal3.io/v1alpha1", "kind": "IPClaim",
            "metadata": {"name": "c", "namespace": "ns", "finalizers": ["ipclaim.ipam.metal3.io", "other"],
                          "annotations": {"ipAddress": "10.0.0.5", "cluster.x-k8s.io/paused": ""},
                          "deletionTimestamp": "2024-01-01T00:00:00Z"},
            "spec": {"pool": {"name": "p"}},
            "status": {"address": {"name": "p-10-0-0-5"}},
        }))
        .expect("claim");
        let facts = metal3_claim(&claim);
        assert_eq!(facts.key, ClaimKey::new(ClaimKind::Metal3, "c"));
        assert_eq!(facts.requested.as_deref(), Some("10.0.0.5"));
        assert!(facts.deleting && facts.finalized && facts.other_finalizers && facts.paused);
        assert_eq!(facts.answer.as_deref(), Some("p-10-0-0-5"));
        assert!(!facts.failed);
        assert!(metal3_claim_of(&claim, "p"));
        assert!(!metal3_claim_of(&claim, "q"));
        let mut elsewhere = claim.clone();
        elsewhere.spec.pool.namespace = "other".into();
        assert!(!metal3_claim_of(&elsewhere, "p"));
    }

    #[test]
    fn a_capi_claim_failed_only_for_allocation_reasons() {
        let claim = |reason: &str, status: &str| -> capi::IPAddressClaim {
            serde_json::from_value(json!({
                "apiVersion": "ipam.cluster.x-k8s.io/v1beta2", "kind": "IPAddressClaim",
                "metadata": {"name": "c", "namespace": "ns"},
                "spec": {"poolRef": {"apiGroup": "ipam.metal3.io", "kind": "IPPool", "name": "p"}},
                "status": {"conditions": [{"type": "Ready", "status": status, "reason": reason, "message": "", "lastTransitionTime": "2024-01-01T00:00:00Z"}]},
            }))
            .expect("claim")
        };
        assert!(capi_claim(&claim("PoolExhausted", "False")).failed);
        assert!(capi_claim(&claim("AllocationFailed", "False")).failed);
        assert!(!capi_claim(&claim("PoolNotReady", "False")).failed);
        assert!(!capi_claim(&claim("Ready", "True")).failed);
        assert!(capi_claim_of(&claim("Ready", "True"), "p"));
        let mut other = claim("Ready", "True");
        other.spec.pool_ref.kind = "InClusterIPPool".into();
        other.spec.pool_ref.api_group = "ipam.cluster.x-k8s.io".into();
        assert!(
            !capi_claim_of(&other, "p"),
            "pools of other providers are not ours"
        );
    }
}
