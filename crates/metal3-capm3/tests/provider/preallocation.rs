//! BareMetalHost-name-based IP preallocation (`--enable-bmh-name-based-preallocation`): the
//! IPClaims are named after the hosts, so the real IP address manager (`metal3 ipam`) gives
//! each host the address its IPPool's `preAllocations` keeps for that name.

use crate::common::*;
use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt;
use kube::api::{Api, ApiResource, DynamicObject, PostParams};
use metal3_capm3_api::v1beta2::{Metal3DataTemplate, Metal3Machine};
use metal3_ipam_api::v1alpha1::IPPool;
use serde_json::json;

/// The rendered `ip` of a machine's metadata Secret.
async fn rendered_ip(env: &Env, machine: &str) -> String {
    let secret = env
        .api::<Secret>()
        .get(&format!("{machine}-metadata"))
        .await
        .expect("metadata Secret");
    let meta: std::collections::BTreeMap<String, String> =
        serde_saphyr::from_str(&secret_text(&secret, "metaData")).expect("metadata YAML");
    meta.get("ip").cloned().expect("ip rendered")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pool_preallocation_for_a_hosts_claim_name_gives_that_host_its_address() {
    let env = Env::bare("prealloc").await;
    env.start_operator();
    env.start_capm3(metal3_capm3::Config {
        bmh_name_based_preallocation: true,
        ..fast_capm3(&env.ns)
    });
    let ipam = tokio::spawn(metal3_ipam::run(
        env.client.clone(),
        metal3_ipam::Config {
            namespace: Some(env.ns.clone()),
            requeue: std::time::Duration::from_millis(300),
            error_retry: std::time::Duration::from_millis(300),
            ..metal3_ipam::Config::default()
        },
        std::sync::Arc::new(metal3_ipam::Metrics::default()),
        std::future::pending::<()>(),
    ));
    // Addresses kept for the claims `<host>-prov`; sequential allocation would give .10 first.
    let wanted = [("h-0", "192.0.2.17"), ("h-1", "192.0.2.13")];
    let pool: IPPool = serde_json::from_value(json!({
        "metadata": {"name": "prov"},
        "spec": {
            "namePrefix": "prov", "prefix": 24,
            "pools": [{"start": "192.0.2.10", "end": "192.0.2.20"}],
            "preAllocations": {"h-0-prov": wanted[0].1, "h-1-prov": wanted[1].1},
        },
    }))
    .expect("pool");
    env.api::<IPPool>()
        .create(&PostParams::default(), &pool)
        .await
        .expect("IPPool");
    for (h, _) in wanted {
        env.host(h, json!({})).await;
    }
    env.cluster("c1").await;
    env.create::<Metal3DataTemplate>(json!({
        "metadata": {"name": "tmpl", "labels": {"cluster.x-k8s.io/cluster-name": "c1"}},
        "spec": {"metaData": {"ipAddressesFromPool": [{"key": "ip", "name": "prov"}]}},
    }))
    .await;
    env.hosts_available(&["h-0", "h-1"]).await;
    let mut spec = image_spec();
    spec["dataTemplate"] = json!({"name": "tmpl"});
    let claims: Api<DynamicObject> = Api::namespaced_with(
        env.client.clone(),
        &env.ns,
        &ApiResource::from_gvk(&kube::core::GroupVersionKind::gvk(
            "ipam.metal3.io",
            "v1alpha1",
            "IPClaim",
        )),
    );
    let mut hosts = Vec::new();
    for (machine, data) in [("m-0", "tmpl-0"), ("m-1", "tmpl-1")] {
        env.machine("c1", machine, spec.clone(), None).await;
        let host = host_of(&env.join(machine).await);
        let want = wanted
            .iter()
            .find(|(h, _)| *h == host)
            .map(|(_, a)| *a)
            .expect("a known host");
        assert_eq!(
            rendered_ip(&env, machine).await,
            want,
            "{machine} on {host} gets the address kept for {host}-prov"
        );
        // The claim is named after the host and labelled with its data and pool.
        let claim = claims
            .get(&format!("{host}-prov"))
            .await
            .expect("IPClaim named after the host");
        let label = |k: &str| claim.labels().get(k).cloned();
        assert_eq!(
            label("infrastructure.cluster.x-k8s.io/data-name").as_deref(),
            Some(data)
        );
        assert_eq!(
            label("infrastructure.cluster.x-k8s.io/pool-name").as_deref(),
            Some("prov")
        );
        assert_eq!(claim.owner_references()[0].name, data);
        assert!(
            claims
                .get_opt(&format!("{data}-prov"))
                .await
                .expect("get")
                .is_none(),
            "no claim named after the data"
        );
        hosts.push(host);
    }
    // Deleting a machine deletes its host-named claim (found by its labels).
    env.delete::<Metal3Machine>("m-0").await;
    env.wait_gone::<Metal3Machine>("m-0").await;
    let deadline = std::time::Instant::now() + WAIT;
    while claims
        .get_opt(&format!("{}-prov", hosts[0]))
        .await
        .expect("get")
        .is_some()
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the claim of the released host is still there"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert!(
        claims
            .get_opt(&format!("{}-prov", hosts[1]))
            .await
            .expect("get")
            .is_some(),
        "the other machine keeps its claim"
    );
    ipam.abort();
}
