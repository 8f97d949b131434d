//! Never the same address twice: many claims of both kinds made at once, served by two
//! managers racing on the same pools (as two replicas do before leader election settles).

use std::collections::BTreeSet;

use futures::future::join_all;
use metal3_ipam::capi;
use metal3_ipam_api::v1alpha1::{IPAddress, IPClaim, IPPool};
use serde_json::json;

use crate::common::{Env, fast};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_managers_and_many_claims_never_share_an_address() {
    let env = Env::bare("race").await;
    let one = env.start(fast(&env.ns));
    let two = env.start(fast(&env.ns));
    env.pool(
        "shared",
        json!({"namePrefix": "shared", "pools": [{"start": "10.6.0.1", "end": "10.6.0.30"}]}),
    )
    .await;
    // 40 claims for 30 addresses, of both kinds, all at once.
    let env = &env;
    let metal3 = (0..20).map(|i| async move {
        env.claim(&format!("m-{i}"), "shared", json!({})).await;
    });
    let cluster_api = (0..20).map(|i| async move {
        env.capi_claim(&format!("c-{i}"), "shared", json!({})).await;
    });
    futures::join!(join_all(metal3), join_all(cluster_api));

    // Every claim ends answered or failed.
    let mut answered = Vec::new();
    let mut exhausted = 0;
    for i in 0..20 {
        let claim = env
            .wait::<IPClaim>(&format!("m-{i}"), "settled", |c| {
                c.status
                    .as_ref()
                    .is_some_and(|s| s.address.is_some() || s.error_message.is_some())
            })
            .await;
        match claim.status.and_then(|s| s.address) {
            Some(a) => answered.push(a.name),
            None => exhausted += 1,
        }
        let capi_claim = env
            .wait::<capi::IPAddressClaim>(&format!("c-{i}"), "settled", |c| {
                c.status.as_ref().is_some_and(|s| {
                    s.address_ref.is_some()
                        || s.conditions.iter().any(|c| c.reason == "PoolExhausted")
                })
            })
            .await;
        match capi_claim.status.and_then(|s| s.address_ref) {
            Some(a) => answered.push(a.name),
            None => exhausted += 1,
        }
    }
    assert_eq!(answered.len(), 30, "every address is handed out");
    assert_eq!(
        exhausted, 10,
        "and the other claims are told the pool is full"
    );

    // One address object per address, across both kinds, each for the claim naming it.
    let objects: Vec<(String, String)> = env
        .api::<IPAddress>()
        .list(&Default::default())
        .await
        .expect("list")
        .items
        .into_iter()
        .map(|a| (a.spec.address.to_string(), a.spec.claim.name))
        .chain(
            env.api::<capi::IPAddress>()
                .list(&Default::default())
                .await
                .expect("list")
                .items
                .into_iter()
                .map(|a| (a.spec.address, a.spec.claim_ref.name)),
        )
        .collect();
    let distinct: BTreeSet<&String> = objects.iter().map(|(a, _)| a).collect();
    assert_eq!(objects.len(), 30, "{objects:?}");
    assert_eq!(distinct.len(), 30, "an address given twice: {objects:?}");
    let pool = env
        .wait::<IPPool>("shared", "records 30 allocations", |p| {
            p.status.as_ref().is_some_and(|s| s.allocations.len() == 30)
        })
        .await;
    let recorded: BTreeSet<String> = pool
        .status
        .expect("status")
        .allocations
        .values()
        .map(|a| a.to_string())
        .collect();
    assert_eq!(recorded, distinct.into_iter().cloned().collect());
    let passes_lost = one.conflicts.get() + two.conflicts.get();
    tracing::info!(passes_lost, "pool writes that lost a race");
}
