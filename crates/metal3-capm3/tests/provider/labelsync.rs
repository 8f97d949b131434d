//! The BareMetalHost → Node label sync: labels of a consumed host under the prefixes the
//! Metal3Cluster's `metal3.io/metal3-label-sync-prefixes` annotation lists follow it to the
//! workload Node; nothing else on the Node is touched.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::common::*;
use k8s_openapi::api::core::v1::Node;
use kube::ResourceExt;
use kube::api::{Api, Patch, PatchParams};
use metal3_api::v1alpha1::BareMetalHost;
use metal3_capm3_api::v1beta2::Metal3Cluster;
use serde_json::json;

/// Waits until the host's Node has labels satisfying `pred`; returns them.
async fn node_labels(
    env: &Env,
    host: &str,
    what: &str,
    pred: impl Fn(&BTreeMap<String, String>) -> bool,
) -> BTreeMap<String, String> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let labels = env
            .node(host)
            .await
            .map(|n| n.labels().clone())
            .unwrap_or_default();
        if pred(&labels) {
            return labels;
        }
        assert!(
            Instant::now() < deadline,
            "the Node of {host} never got {what}; labels: {labels:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn get<'a>(labels: &'a BTreeMap<String, String>, key: &str) -> Option<&'a str> {
    labels.get(key).map(String::as_str)
}

/// A host labelled `labels`, claimed by machine `m` of cluster `c1`; the host's name.
async fn claimed_host(env: &Env, labels: serde_json::Value) -> String {
    env.host("h-0", labels).await;
    env.cluster("c1").await;
    env.hosts_available(&["h-0"]).await;
    env.machine("c1", "m", image_spec(), None).await;
    let m3m = env.join("m").await;
    host_of(&m3m)
}

/// Sets the label sync prefixes of cluster `c1`.
async fn sync_prefixes(env: &Env, prefixes: &str) {
    env.merge::<Metal3Cluster>(
        "c1",
        json!({"metadata": {"annotations": {"metal3.io/metal3-label-sync-prefixes": prefixes}}}),
    )
    .await;
}

/// Checks for `seconds` (several sync intervals; the tests' is 500 ms) that the host's Node
/// keeps satisfying `pred`.
async fn node_keeps(
    env: &Env,
    host: &str,
    seconds: u64,
    what: &str,
    pred: impl Fn(&BTreeMap<String, String>) -> bool,
) {
    let until = Instant::now() + Duration::from_secs(seconds);
    while Instant::now() < until {
        let labels = node_labels(env, host, "any labels", |_| true).await;
        assert!(pred(&labels), "{what}: {labels:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_labels_under_the_prefixes_follow_to_the_node() {
    let env = Env::new("labelsync").await;
    let host = claimed_host(
        &env,
        json!({"zone.example.com/rack": "r1", "other.example.com/x": "host", "plain": "host"}),
    )
    .await;
    // The Node's own labels: one under a synced prefix the host lacks, others not synced.
    let nodes: Api<Node> = Api::all(env.client.clone());
    nodes
        .patch(
            &node_name(&env.ns, &host),
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {
                "pool.example.com/stale": "node",
                "other.example.com/x": "node",
                "plain": "node",
            }}})),
        )
        .await
        .expect("label the node");

    // Annotate the Metal3Cluster: the Node gets the host's labels under the prefixes only.
    sync_prefixes(&env, "zone.example.com, pool.example.com").await;
    let labels = node_labels(&env, &host, "the rack, without the stale label", |l| {
        get(l, "zone.example.com/rack") == Some("r1") && !l.contains_key("pool.example.com/stale")
    })
    .await;
    assert_eq!(get(&labels, "other.example.com/x"), Some("node"));
    assert_eq!(get(&labels, "plain"), Some("node"));
    assert_eq!(
        get(&labels, "kubernetes.io/hostname"),
        Some(node_name(&env.ns, &host).as_str())
    );

    // Change one label and add another on the host: the Node follows.
    env.merge::<BareMetalHost>(
        &host,
        json!({"metadata": {"labels": {"zone.example.com/rack": "r2", "pool.example.com/gpu": "yes"}}}),
    )
    .await;
    node_labels(&env, &host, "the new rack and the pool label", |l| {
        get(l, "zone.example.com/rack") == Some("r2")
            && get(l, "pool.example.com/gpu") == Some("yes")
    })
    .await;

    // Remove one from the host: it goes from the Node; the others stay.
    env.merge::<BareMetalHost>(
        &host,
        json!({"metadata": {"labels": {"zone.example.com/rack": null}}}),
    )
    .await;
    let labels = node_labels(&env, &host, "no rack", |l| {
        !l.contains_key("zone.example.com/rack")
    })
    .await;
    assert_eq!(get(&labels, "pool.example.com/gpu"), Some("yes"));
    assert_eq!(get(&labels, "other.example.com/x"), Some("node"));
    assert_eq!(get(&labels, "plain"), Some("node"));

    // A synced label added to the Node by hand is taken away again on the periodic sync.
    nodes
        .patch(
            &node_name(&env.ns, &host),
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"zone.example.com/manual": "x"}}})),
        )
        .await
        .expect("label the node");
    node_labels(&env, &host, "the manual label removed", |l| {
        !l.contains_key("zone.example.com/manual") && get(l, "pool.example.com/gpu") == Some("yes")
    })
    .await;
    let h = env.api::<BareMetalHost>().get(&host).await.expect("host");
    assert_eq!(get(h.labels(), "other.example.com/x"), Some("host"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_is_synced_while_the_cluster_is_paused() {
    let env = Env::new("labelsync-pause").await;
    let host = claimed_host(&env, json!({"zone.example.com/rack": "r1"})).await;
    sync_prefixes(&env, "zone.example.com").await;
    node_labels(&env, &host, "the rack", |l| {
        get(l, "zone.example.com/rack") == Some("r1")
    })
    .await;
    env.merge::<metal3_capm3::capi::Cluster>("c1", json!({"spec": {"paused": true}}))
        .await;
    env.wait::<BareMetalHost>(&host, "paused", |h| {
        h.annotations()
            .contains_key("baremetalhost.metal3.io/paused")
    })
    .await;
    env.merge::<BareMetalHost>(
        &host,
        json!({"metadata": {"labels": {"zone.example.com/rack": "r2"}}}),
    )
    .await;
    // Several sync intervals pass without the Node changing.
    node_keeps(&env, &host, 3, "synced while paused", |l| {
        get(l, "zone.example.com/rack") == Some("r1")
    })
    .await;
    env.merge::<metal3_capm3::capi::Cluster>("c1", json!({"spec": {"paused": false}}))
        .await;
    node_labels(&env, &host, "the new rack once unpaused", |l| {
        get(l, "zone.example.com/rack") == Some("r2")
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_prefix_syncs_nothing() {
    let env = Env::new("labelsync-bad").await;
    let host = claimed_host(&env, json!({"zone.example.com/rack": "r1"})).await;
    sync_prefixes(&env, "zone.example.com,Not_A_Domain").await;
    node_keeps(&env, &host, 2, "synced with an invalid prefix", |l| {
        !l.contains_key("zone.example.com/rack")
    })
    .await;
    // Fixed, the sync goes on.
    sync_prefixes(&env, "zone.example.com").await;
    node_labels(&env, &host, "the rack", |l| {
        get(l, "zone.example.com/rack") == Some("r1")
    })
    .await;
}
