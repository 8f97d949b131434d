//! Pools of a Cluster API cluster: they wait for the Cluster, are owned by it and labelled
//! with it, and are left alone while it (or the pool) is paused; a deleted pool goes only
//! once its addresses are gone.

use kube::api::{Patch, PatchParams};
use metal3_ipam::capi;
use metal3_ipam_api::consts::POOL_FINALIZER;
use metal3_ipam_api::v1alpha1::{IPClaim, IPPool};
use serde_json::json;

use crate::common::{Env, has_finalizer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pool_of_a_cluster_is_owned_by_it_and_paused_with_it() {
    let env = Env::new("cluster").await;
    env.create::<capi::Cluster>(json!({"metadata": {"name": "c1"}, "spec": {"paused": true}}))
        .await;
    env.pool(
        "cp",
        json!({"namePrefix": "cp", "clusterName": "c1", "pools": [{"start": "10.7.0.1", "end": "10.7.0.9"}]}),
    )
    .await;
    env.claim("paused", "cp", json!({})).await;
    // A pool of no cluster beside it is served: the manager is running…
    env.pool(
        "free",
        json!({"namePrefix": "free", "pools": [{"start": "10.7.1.1", "end": "10.7.1.9"}]}),
    )
    .await;
    env.claim("control", "free", json!({})).await;
    env.address_of("control").await;
    // …and the paused cluster's pool was left alone.
    let claim = env.api::<IPClaim>().get("paused").await.expect("claim");
    assert!(claim.status.is_none(), "{claim:?}");

    // Unpaused, the pool is served, owned by the Cluster and labelled with it.
    env.api::<capi::Cluster>()
        .patch(
            "c1",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"paused": false}})),
        )
        .await
        .expect("unpause");
    assert_eq!(
        env.address_of("paused").await.spec.address.as_str(),
        "10.7.0.1"
    );
    let pool = env.api::<IPPool>().get("cp").await.expect("pool");
    let labels = pool.metadata.labels.clone().unwrap_or_default();
    assert_eq!(
        labels
            .get("cluster.x-k8s.io/cluster-name")
            .map(String::as_str),
        Some("c1")
    );
    assert_eq!(
        labels.get("cluster.x-k8s.io/provider").map(String::as_str),
        Some("ipam-metal3")
    );
    let owner = pool
        .metadata
        .owner_references
        .iter()
        .flatten()
        .find(|o| o.kind == "Cluster")
        .expect("owned by the Cluster");
    assert_eq!((owner.name.as_str(), owner.controller), ("c1", None));

    // The paused annotation on the Cluster pauses it too, and on the pool the pool alone.
    for (what, api_patch) in [("cluster", true), ("pool", false)] {
        let paused = json!({"metadata": {"annotations": {"cluster.x-k8s.io/paused": ""}}});
        if api_patch {
            env.api::<capi::Cluster>()
                .patch("c1", &PatchParams::default(), &Patch::Merge(&paused))
                .await
                .expect("pause");
        } else {
            env.api::<IPPool>()
                .patch("cp", &PatchParams::default(), &Patch::Merge(&paused))
                .await
                .expect("pause");
        }
        let name = format!("while-{what}-paused");
        env.claim(&name, "cp", json!({})).await;
        let control = format!("control-{what}");
        env.claim(&control, "free", json!({})).await;
        env.address_of(&control).await;
        let claim = env.api::<IPClaim>().get(&name).await.expect("claim");
        assert!(
            claim.status.is_none(),
            "served while the {what} is paused: {claim:?}"
        );
        let resumed = json!({"metadata": {"annotations": {"cluster.x-k8s.io/paused": null}}});
        if api_patch {
            env.api::<capi::Cluster>()
                .patch("c1", &PatchParams::default(), &Patch::Merge(&resumed))
                .await
                .expect("resume");
        } else {
            env.api::<IPPool>()
                .patch("cp", &PatchParams::default(), &Patch::Merge(&resumed))
                .await
                .expect("resume");
        }
        env.address_of(&name).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pool_waits_for_its_cluster() {
    let env = Env::new("nocluster").await;
    env.pool(
        "later",
        json!({"namePrefix": "later", "clusterName": "c2", "pools": [{"start": "10.8.0.1", "end": "10.8.0.9"}]}),
    )
    .await;
    env.claim("waiting", "later", json!({})).await;
    env.pool(
        "free",
        json!({"namePrefix": "free", "pools": [{"start": "10.8.1.1", "end": "10.8.1.9"}]}),
    )
    .await;
    env.claim("control", "free", json!({})).await;
    env.address_of("control").await;
    let claim = env.api::<IPClaim>().get("waiting").await.expect("claim");
    assert!(
        claim.status.is_none(),
        "served without its Cluster: {claim:?}"
    );
    env.create::<capi::Cluster>(json!({"metadata": {"name": "c2"}, "spec": {"paused": false}}))
        .await;
    assert_eq!(
        env.address_of("waiting").await.spec.address.as_str(),
        "10.8.0.1"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_pool_goes_once_its_addresses_are_released() {
    let env = Env::new("poolgone").await;
    env.pool(
        "p",
        json!({"namePrefix": "p", "pools": [{"start": "10.9.0.1", "end": "10.9.0.9"}]}),
    )
    .await;
    env.claim("a", "p", json!({})).await;
    let address = env.address_of("a").await;
    env.delete::<IPPool>("p").await;
    let deleting = env
        .wait::<IPPool>("p", "marked for deletion", |p| {
            p.metadata.deletion_timestamp.is_some()
        })
        .await;
    assert!(
        has_finalizer(&deleting, POOL_FINALIZER),
        "held by its address"
    );
    // No new address from a pool being deleted.
    env.claim("late", "p", json!({})).await;
    env.delete::<IPClaim>("a").await;
    env.wait_gone::<metal3_ipam_api::v1alpha1::IPAddress>(
        address.metadata.name.as_deref().unwrap_or_default(),
    )
    .await;
    env.wait_gone::<IPPool>("p").await;
    let late = env.api::<IPClaim>().get("late").await.expect("claim");
    assert!(late.status.is_none(), "{late:?}");
}
