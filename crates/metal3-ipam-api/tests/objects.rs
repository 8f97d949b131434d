//! Objects as upstream's manager writes them decode into our types and encode back unchanged,
//! so a pool, claim or address written by either manager survives the other's update.

use metal3_ipam_api::v1alpha1::{AllocationStrategy, IPAddress, IPClaim, IPPool};
use serde_json::{Value, json};

fn round_trip<T: serde::de::DeserializeOwned + serde::Serialize>(value: Value) -> T {
    let typed: T = serde_json::from_value(value.clone()).expect("decodes");
    assert_eq!(
        serde_json::to_value(&typed).expect("encodes"),
        value,
        "re-encoded unchanged"
    );
    typed
}

#[test]
fn a_pool_with_every_field_round_trips() {
    let pool: IPPool = round_trip(json!({
        "apiVersion": "ipam.metal3.io/v1alpha1", "kind": "IPPool",
        "metadata": {"name": "provisioning", "namespace": "metal3"},
        "spec": {
            "clusterName": "c1",
            "namePrefix": "prov",
            "allocationStrategy": "random",
            "pools": [
                {"start": "192.168.0.10", "end": "192.168.0.20", "prefix": 25, "gateway": "192.168.0.1", "dnsServers": ["192.168.0.2"]},
                {"subnet": "2001:db8::/64"},
            ],
            "prefix": 24,
            "gateway": "192.168.0.254",
            "dnsServers": ["8.8.8.8"],
            "preAllocations": {"claim-a": "192.168.0.15"},
        },
        "status": {
            "lastUpdated": "2024-05-01T10:00:00Z",
            "indexes": {"claim-a": "192.168.0.15", "claim-b": "192.168.0.10"},
        },
    }));
    assert_eq!(pool.spec.strategy(), AllocationStrategy::Random);
    let status = pool.status.expect("status");
    assert_eq!(status.allocations["claim-b"].as_str(), "192.168.0.10");
}

#[test]
fn a_pool_without_a_strategy_allocates_sequentially() {
    let pool: IPPool = round_trip(json!({
        "apiVersion": "ipam.metal3.io/v1alpha1", "kind": "IPPool",
        "metadata": {"name": "p"},
        "spec": {"namePrefix": "p"},
    }));
    assert_eq!(pool.spec.strategy(), AllocationStrategy::Sequential);
}

#[test]
fn a_claim_and_its_address_round_trip() {
    let claim: IPClaim = round_trip(json!({
        "apiVersion": "ipam.metal3.io/v1alpha1", "kind": "IPClaim",
        "metadata": {"name": "m-0-provisioning", "annotations": {"ipAddress": "192.168.0.12"}},
        "spec": {"pool": {"name": "provisioning", "namespace": "metal3"}},
        "status": {"address": {"name": "prov-192-168-0-12", "namespace": "metal3"}, "errorMessage": "none"},
    }));
    assert_eq!(claim.spec.pool.name, "provisioning");
    let address: IPAddress = round_trip(json!({
        "apiVersion": "ipam.metal3.io/v1alpha1", "kind": "IPAddress",
        "metadata": {"name": "prov-192-168-0-12"},
        "spec": {
            "address": "192.168.0.12", "prefix": 24, "gateway": "192.168.0.1",
            "dnsServers": ["8.8.8.8"],
            "claim": {"name": "m-0-provisioning", "namespace": "metal3"},
            "pool": {"name": "provisioning", "namespace": "metal3", "kind": "IPPool", "apiVersion": "ipam.metal3.io/v1alpha1"},
        },
    }));
    assert_eq!(
        address.spec.address.parse(),
        Some("192.168.0.12".parse().expect("ip"))
    );
}
