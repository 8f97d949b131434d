//! What a pool hands out: ranges in order, each range's prefix, gateway and DNS servers (or
//! the pool's), pre-allocations, requested addresses, both strategies, IPv6, and what the
//! pool's status says.

use std::collections::BTreeSet;

use metal3_ipam_api::consts::{ADDRESS_FINALIZER, CLAIM_FINALIZER, POOL_FINALIZER};
use metal3_ipam_api::v1alpha1::{IPClaim, IPPool};
use serde_json::json;

use crate::common::{Env, has_finalizer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ranges_hand_out_their_addresses_with_their_prefix_gateway_and_dns() {
    let env = Env::new("ranges").await;
    env.pool(
        "prov",
        json!({
            "namePrefix": "prov",
            "prefix": 24, "gateway": "192.168.0.1", "dnsServers": ["192.168.0.53"],
            "pools": [
                {"start": "192.168.0.10", "end": "192.168.0.11", "prefix": 25, "gateway": "192.168.0.126", "dnsServers": ["8.8.8.8", "8.8.4.4"]},
                {"subnet": "192.168.1.0/24"},
            ],
        }),
    )
    .await;
    for name in ["a", "b", "c"] {
        env.claim(name, "prov", json!({"labels": {"role": name}}))
            .await;
    }
    let a = env.address_of("a").await;
    let b = env.address_of("b").await;
    let c = env.address_of("c").await;
    let got: BTreeSet<String> = [&a, &b, &c]
        .iter()
        .map(|x| x.spec.address.to_string())
        .collect();
    assert_eq!(
        got,
        BTreeSet::from([
            "192.168.0.10".into(),
            "192.168.0.11".into(),
            "192.168.1.1".into()
        ]),
        "the first range is used up before the second"
    );
    let first = [&a, &b, &c]
        .into_iter()
        .find(|x| x.spec.address.as_str() == "192.168.0.10")
        .expect("one got .10");
    assert_eq!(first.metadata.name.as_deref(), Some("prov-192-168-0-10"));
    assert_eq!(first.spec.prefix, 25);
    assert_eq!(
        first.spec.gateway.as_ref().map(|g| g.as_str()),
        Some("192.168.0.126")
    );
    let dns: Vec<&str> = first.spec.dns_servers.iter().map(|d| d.as_str()).collect();
    assert_eq!(dns, ["8.8.8.8", "8.8.4.4"]);
    // The subnet range takes the pool's prefix, gateway and DNS servers.
    assert_eq!(
        c.spec.address.as_str(),
        "192.168.1.1",
        "claims are served by name"
    );
    assert_eq!(c.spec.prefix, 24);
    assert_eq!(
        c.spec.gateway.as_ref().map(|g| g.as_str()),
        Some("192.168.0.1")
    );
    assert_eq!(c.spec.dns_servers.len(), 1);
    // The address points back at its pool and claim, is owned by both, labelled as the claim
    // and finalized.
    assert_eq!(c.spec.claim.name, "c");
    assert_eq!(c.spec.pool.name, "prov");
    let owners: Vec<(&str, &str)> = c
        .metadata
        .owner_references
        .iter()
        .flatten()
        .map(|o| (o.kind.as_str(), o.name.as_str()))
        .collect();
    assert_eq!(owners, [("IPPool", "prov"), ("IPClaim", "c")]);
    assert_eq!(
        c.metadata
            .labels
            .as_ref()
            .and_then(|l| l.get("role"))
            .map(String::as_str),
        Some("c")
    );
    assert!(has_finalizer(&c, ADDRESS_FINALIZER));
    let claim = env.api::<IPClaim>().get("c").await.expect("claim");
    assert!(has_finalizer(&claim, CLAIM_FINALIZER));
    // The pool's status names every allocation.
    let pool = env
        .wait::<IPPool>("prov", "records its allocations", |p| {
            p.status.as_ref().is_some_and(|s| s.allocations.len() == 3)
        })
        .await;
    let status = pool.status.clone().expect("status");
    assert_eq!(status.allocations["c"].as_str(), "192.168.1.1");
    assert!(status.last_updated.is_some());
    assert!(has_finalizer(&pool, POOL_FINALIZER));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pre_allocated_and_requested_addresses_go_to_their_claims_only() {
    let env = Env::new("fixed").await;
    env.pool(
        "fixed",
        json!({
            "namePrefix": "fixed", "prefix": 24,
            "pools": [{"start": "10.1.0.1", "end": "10.1.0.9"}],
            "preAllocations": {"reserved": "10.1.0.1"},
        }),
    )
    .await;
    env.claim("any", "fixed", json!({})).await;
    env.claim("reserved", "fixed", json!({})).await;
    env.claim(
        "asks",
        "fixed",
        json!({"annotations": {"ipAddress": "10.1.0.7"}}),
    )
    .await;
    assert_eq!(
        env.address_of("reserved").await.spec.address.as_str(),
        "10.1.0.1"
    );
    assert_eq!(
        env.address_of("asks").await.spec.address.as_str(),
        "10.1.0.7"
    );
    assert_eq!(
        env.address_of("any").await.spec.address.as_str(),
        "10.1.0.2",
        "the reserved address is skipped"
    );
    env.claim(
        "greedy",
        "fixed",
        json!({"annotations": {"ipAddress": "10.1.0.7"}}),
    )
    .await;
    assert_eq!(
        env.error_of("greedy").await,
        "the requested address 10.1.0.7 is already taken"
    );
    env.claim(
        "lost",
        "fixed",
        json!({"annotations": {"ipAddress": "10.9.9.9"}}),
    )
    .await;
    assert_eq!(
        env.error_of("lost").await,
        "the requested address 10.9.9.9 is in no range of the pool"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_allocation_spreads_over_the_range() {
    let env = Env::new("random").await;
    env.pool(
        "rnd",
        json!({"namePrefix": "rnd", "allocationStrategy": "random", "pools": [{"subnet": "10.2.0.0/24"}]}),
    )
    .await;
    for i in 0..12 {
        env.claim(&format!("c-{i}"), "rnd", json!({})).await;
    }
    let mut got = BTreeSet::new();
    for i in 0..12 {
        let a = env.address_of(&format!("c-{i}")).await;
        let ip: std::net::Ipv4Addr = a.spec.address.as_str().parse().expect("IPv4");
        assert_eq!(ip.octets()[..3], [10, 2, 0]);
        assert_ne!(ip.octets()[3], 0, "never the address written in the subnet");
        got.insert(ip);
    }
    assert_eq!(got.len(), 12, "all different");
    let lowest: BTreeSet<std::net::Ipv4Addr> = (1..=12)
        .map(|n| std::net::Ipv4Addr::new(10, 2, 0, n))
        .collect();
    assert_ne!(got, lowest, "random, not the lowest twelve");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ipv6_pools_hand_out_ipv6_addresses() {
    let env = Env::new("v6").await;
    env.pool(
        "v6",
        json!({"namePrefix": "v6", "prefix": 64, "gateway": "2001:db8::1",
               "pools": [{"subnet": "2001:db8::/120", "start": "2001:db8::10"}]}),
    )
    .await;
    env.claim("m", "v6", json!({})).await;
    let a = env.address_of("m").await;
    assert_eq!(a.spec.address.as_str(), "2001:db8::10");
    assert_eq!(a.metadata.name.as_deref(), Some("v6-2001-db8--10"));
    assert_eq!(a.spec.prefix, 64);
}
