//! Claims of both kinds: Cluster API IPAddressClaims get Cluster API IPAddresses, a full pool
//! is a clear answer on the claim, released addresses go back to the pool, and a claim still
//! in use by someone else keeps its address.

use kube::ResourceExt;
use metal3_ipam::capi;
use metal3_ipam_api::consts::{CAPI_ADDRESS_FINALIZER, CAPI_CLAIM_FINALIZER};
use metal3_ipam_api::v1alpha1::{IPAddress, IPClaim};
use serde_json::json;

use crate::common::{Env, has_finalizer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_api_claims_get_cluster_api_addresses() {
    let env = Env::new("capi").await;
    env.pool(
        "pub",
        json!({"namePrefix": "pub", "prefix": 25, "gateway": "198.51.100.1", "dnsServers": ["198.51.100.53"],
               "pools": [{"start": "198.51.100.10", "end": "198.51.100.20"}]}),
    )
    .await;
    env.capi_claim(
        "m-0",
        "pub",
        json!({"labels": {"cluster.x-k8s.io/cluster-name": "c1"}}),
    )
    .await;
    let address = env.capi_address_of("m-0").await;
    assert_eq!(address.metadata.name.as_deref(), Some("pub-198-51-100-10"));
    assert_eq!(address.spec.address, "198.51.100.10");
    assert_eq!(address.spec.prefix, 25);
    assert_eq!(address.spec.gateway.as_deref(), Some("198.51.100.1"));
    assert_eq!(address.spec.claim_ref.name, "m-0");
    assert_eq!(
        (
            address.spec.pool_ref.api_group.as_str(),
            address.spec.pool_ref.kind.as_str(),
            address.spec.pool_ref.name.as_str()
        ),
        ("ipam.metal3.io", "IPPool", "pub")
    );
    assert!(has_finalizer(&address, CAPI_ADDRESS_FINALIZER));
    assert_eq!(
        address
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get("cluster.x-k8s.io/cluster-name"))
            .map(String::as_str),
        Some("c1")
    );
    let claim = env
        .api::<capi::IPAddressClaim>()
        .get("m-0")
        .await
        .expect("claim");
    assert!(has_finalizer(&claim, CAPI_CLAIM_FINALIZER));
    let ready = claim
        .status
        .as_ref()
        .and_then(|s| s.conditions.iter().find(|c| c.r#type == "Ready"))
        .expect("Ready condition");
    assert_eq!(ready.status, metal3_api::v1alpha1::ConditionStatus::True);

    // Both kinds draw from the same pool.
    env.claim("m-1", "pub", json!({})).await;
    assert_eq!(
        env.address_of("m-1").await.spec.address.as_str(),
        "198.51.100.11"
    );

    // A claim on another provider's pool of the same name is not ours to answer: the
    // IPClaim made after it is answered, and it is still not.
    let other = json!({
        "apiVersion": "ipam.cluster.x-k8s.io/v1beta2", "kind": "IPAddressClaim",
        "metadata": {"name": "elsewhere"},
        "spec": {"poolRef": {"apiGroup": "ipam.cluster.x-k8s.io", "kind": "InClusterIPPool", "name": "pub"}},
    });
    let api: kube::Api<kube::api::DynamicObject> = kube::Api::namespaced_with(
        env.client.clone(),
        &env.ns,
        &kube::api::ApiResource::erase::<capi::IPAddressClaim>(&()),
    );
    api.create(
        &Default::default(),
        &serde_json::from_value(other).expect("claim"),
    )
    .await
    .expect("create");
    env.claim("m-2", "pub", json!({})).await;
    env.address_of("m-2").await;
    let untouched = env
        .api::<capi::IPAddressClaim>()
        .get("elsewhere")
        .await
        .expect("claim");
    assert!(untouched.status.is_none() && untouched.finalizers().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_pool_says_so_and_released_addresses_return() {
    let env = Env::new("full").await;
    env.pool(
        "small",
        json!({"namePrefix": "small", "pools": [{"start": "10.4.0.1", "end": "10.4.0.2"}]}),
    )
    .await;
    env.claim("a", "small", json!({})).await;
    env.capi_claim("b", "small", json!({})).await;
    assert_eq!(env.address_of("a").await.spec.address.as_str(), "10.4.0.1");
    assert_eq!(env.capi_address_of("b").await.spec.address, "10.4.0.2");

    env.claim("c", "small", json!({})).await;
    assert_eq!(env.error_of("c").await, "the pool has no free address left");
    env.capi_claim("d", "small", json!({})).await;
    let (reason, message) = env.capi_failure_of("d").await;
    assert_eq!(reason, "PoolExhausted");
    assert_eq!(message, "the pool has no free address left");

    // Deleting a claim deletes its address and lets the claim go.
    env.delete::<IPClaim>("a").await;
    env.wait_gone::<IPAddress>("small-10-4-0-1").await;
    env.wait_gone::<IPClaim>("a").await;
    env.delete::<capi::IPAddressClaim>("b").await;
    env.wait_gone::<capi::IPAddress>("small-10-4-0-2").await;
    env.wait_gone::<capi::IPAddressClaim>("b").await;

    // The addresses are free again; failed claims are not tried again (as upstream).
    env.capi_claim("e", "small", json!({})).await;
    env.claim("f", "small", json!({})).await;
    let mut again = [
        env.capi_address_of("e").await.spec.address,
        env.address_of("f").await.spec.address.to_string(),
    ];
    again.sort();
    assert_eq!(again, ["10.4.0.1", "10.4.0.2"]);
    let c = env.api::<IPClaim>().get("c").await.expect("claim");
    assert!(c.status.and_then(|s| s.address).is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_still_in_use_keeps_its_address_until_released() {
    let env = Env::new("inuse").await;
    env.pool(
        "p",
        json!({"namePrefix": "p", "pools": [{"start": "10.5.0.1", "end": "10.5.0.1"}]}),
    )
    .await;
    env.claim("held", "p", json!({"finalizers": ["example.com/user"]}))
        .await;
    let address = env.address_of("held").await;
    env.delete::<IPClaim>("held").await;
    // Another claim cannot get the address while the first one's user holds it.
    env.claim("next", "p", json!({})).await;
    assert_eq!(
        env.error_of("next").await,
        "the pool has no free address left"
    );
    let still = env
        .api::<IPAddress>()
        .get(&address.name_any())
        .await
        .expect("the address stays while the claim is in use");
    assert!(still.metadata.deletion_timestamp.is_none());
    // Once the user lets go, the address goes.
    env.api::<IPClaim>()
        .patch(
            "held",
            &Default::default(),
            &kube::api::Patch::Merge(
                json!({"metadata": {"finalizers": ["ipclaim.ipam.metal3.io"]}}),
            ),
        )
        .await
        .expect("drop the user's finalizer");
    env.wait_gone::<IPAddress>(&address.name_any()).await;
    env.wait_gone::<IPClaim>("held").await;
}
