//! What a manager serves: only its namespace (`--namespace`), and with `--watch-filter` only
//! pools carrying the watch-filter label.

use kube::api::{Api, PostParams};
use metal3_ipam_api::v1alpha1::{IPClaim, IPPool};
use serde_json::json;

use crate::common::{Env, fast};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manager_serves_its_namespace_and_its_watch_filter_only() {
    let env = Env::bare("scope").await;
    env.start(metal3_ipam::Config {
        watch_filter: Some("mine".into()),
        ..fast(&env.ns)
    });
    let mine = json!({"cluster.x-k8s.io/watch-filter": "mine"});
    env.create::<IPPool>(json!({
        "metadata": {"name": "other", "labels": {"cluster.x-k8s.io/watch-filter": "theirs"}},
        "spec": {"namePrefix": "other", "pools": [{"start": "10.10.0.1", "end": "10.10.0.9"}]},
    }))
    .await;
    env.claim("not-mine", "other", json!({"labels": mine}))
        .await;

    // Another namespace, with a pool and claim carrying the label.
    let cp = metal3_testenv::shared();
    let elsewhere = cp
        .namespace(&env.client, "scope-elsewhere")
        .await
        .expect("namespace");
    let pool: IPPool = serde_json::from_value(json!({
        "apiVersion": "ipam.metal3.io/v1alpha1", "kind": "IPPool",
        "metadata": {"name": "p", "labels": mine},
        "spec": {"namePrefix": "p", "pools": [{"start": "10.10.1.1", "end": "10.10.1.9"}]},
    }))
    .expect("pool");
    Api::<IPPool>::namespaced(env.client.clone(), &elsewhere)
        .create(&PostParams::default(), &pool)
        .await
        .expect("create pool");
    let claim: IPClaim = serde_json::from_value(json!({
        "apiVersion": "ipam.metal3.io/v1alpha1", "kind": "IPClaim",
        "metadata": {"name": "c", "labels": mine},
        "spec": {"pool": {"name": "p"}},
    }))
    .expect("claim");
    let claims = Api::<IPClaim>::namespaced(env.client.clone(), &elsewhere);
    claims
        .create(&PostParams::default(), &claim)
        .await
        .expect("create claim");

    // The labelled pool of its own namespace is served…
    env.create::<IPPool>(json!({
        "metadata": {"name": "mine", "labels": mine},
        "spec": {"namePrefix": "mine", "pools": [{"start": "10.10.2.1", "end": "10.10.2.9"}]},
    }))
    .await;
    env.claim("served", "mine", json!({"labels": mine})).await;
    assert_eq!(
        env.address_of("served").await.spec.address.as_str(),
        "10.10.2.1"
    );
    // …the others are not.
    let ignored = env.api::<IPClaim>().get("not-mine").await.expect("claim");
    assert!(ignored.status.is_none(), "{ignored:?}");
    let outside = claims.get("c").await.expect("claim");
    assert!(outside.status.is_none(), "{outside:?}");
}
