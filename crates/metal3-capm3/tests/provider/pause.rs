//! A paused Cluster pauses its hosts.

use crate::common::*;
use kube::ResourceExt;
use metal3_api::v1alpha1::BareMetalHost;
use metal3_capm3_api::v1beta2::Metal3Machine;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_cluster_pauses_its_hosts() {
    let env = Env::new("pause").await;
    env.host("h-0", json!({})).await;
    env.cluster("c1").await;
    env.hosts_available(&["h-0"]).await;
    env.machine("c1", "m", image_spec(), None).await;
    let m3m = env.join("m").await;
    let host = host_of(&m3m);
    let h = env
        .wait::<BareMetalHost>(&host, "move-blocked", |h| {
            h.annotations()
                .contains_key("clusterctl.cluster.x-k8s.io/block-move")
        })
        .await;
    assert!(
        !h.annotations()
            .contains_key("baremetalhost.metal3.io/paused")
    );
    // Pause the Cluster: the host is paused by CAPM3 with its status saved, and moves are
    // allowed again once it is.
    env.merge::<metal3_capm3::capi::Cluster>("c1", json!({"spec": {"paused": true}}))
        .await;
    let h = env
        .wait::<BareMetalHost>(&host, "paused", |h| {
            h.annotations()
                .get("baremetalhost.metal3.io/paused")
                .map(String::as_str)
                == Some("metal3.io/capm3")
                && !h
                    .annotations()
                    .contains_key("clusterctl.cluster.x-k8s.io/block-move")
        })
        .await;
    let saved: serde_json::Value =
        serde_json::from_str(&h.annotations()["baremetalhost.metal3.io/status"])
            .expect("status annotation is JSON");
    assert_eq!(saved["provisioning"]["state"], "provisioned");
    assert!(saved.get("hardware").is_none(), "the inventory is left out");
    env.wait::<Metal3Machine>("m", "paused", |m| {
        condition(m, "Paused").is_some_and(|c| c.0 == "True")
    })
    .await;
    // A pause set by someone else survives unpausing; ours goes.
    env.merge::<metal3_capm3::capi::Cluster>("c1", json!({"spec": {"paused": false}}))
        .await;
    env.wait::<BareMetalHost>(&host, "unpaused", |h| {
        !h.annotations()
            .contains_key("baremetalhost.metal3.io/paused")
    })
    .await;
    env.wait::<Metal3Machine>("m", "not paused", |m| {
        condition(m, "Paused") == Some(("False".into(), "NotPaused".into()))
    })
    .await;
    // Unpaused and still in use, the host blocks moves again (as upstream's provider does).
    env.wait::<BareMetalHost>(&host, "move-blocked again", |h| {
        h.annotations()
            .contains_key("clusterctl.cluster.x-k8s.io/block-move")
    })
    .await;
    env.merge::<BareMetalHost>(
        &host,
        json!({"metadata": {"annotations": {"baremetalhost.metal3.io/paused": "maintenance"}}}),
    )
    .await;
    // The machine keeps being reconciled (its Ready stays true) and leaves the user's pause.
    env.merge::<Metal3Machine>("m", json!({"metadata": {"labels": {"poke": "1"}}}))
        .await;
    env.wait::<Metal3Machine>("m", "ready", |m| {
        condition(m, "Ready").is_some_and(|c| c.0 == "True")
    })
    .await;
    let h = env.api::<BareMetalHost>().get(&host).await.expect("host");
    assert_eq!(
        h.annotations()
            .get("baremetalhost.metal3.io/paused")
            .map(String::as_str),
        Some("maintenance")
    );
}
