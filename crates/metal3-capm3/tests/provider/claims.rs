//! Claiming hosts: which host a machine gets, concurrent claims, and what a machine waits for
//! before it claims one.

use std::collections::BTreeSet;

use crate::common::*;
use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt;
use metal3_api::v1alpha1::{BareMetalHost, ProvisioningState};
use metal3_capm3::capi::MachineSet;
use metal3_capm3_api::v1beta2::{Metal3Cluster, Metal3Machine};
use metal3_fixture::Operation;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scale_up_a_machine_set_of_three_over_five_hosts() {
    let env = Env::new("scale-up").await;
    let hosts = ["host-0", "host-1", "host-2", "host-3", "host-4"];
    for h in hosts {
        env.host(h, json!({})).await;
    }
    let cluster = env.cluster("c1").await;
    let m3c = env
        .wait::<Metal3Cluster>("c1", "finalized", |m| {
            m.finalizers()
                .contains(&"metal3cluster.infrastructure.cluster.x-k8s.io".to_string())
        })
        .await;
    let status = m3c.status.clone().expect("status");
    assert_eq!(
        status.failure_domains.len(),
        2,
        "failure domains mirrored into the status"
    );
    assert!(
        m3c.finalizers()
            .contains(&"metal3cluster.infrastructure.cluster.x-k8s.io".to_string())
    );
    let ms = env
        .create::<MachineSet>(json!({
            "apiVersion": "cluster.x-k8s.io/v1beta2", "kind": "MachineSet",
            "metadata": {"name": "workers", "labels": {"cluster.x-k8s.io/cluster-name": "c1"}},
            "spec": {"clusterName": "c1", "replicas": 3, "selector": {"matchLabels": {"set": "workers"}},
                     "template": {"metadata": {"labels": {"set": "workers"}}, "spec": {"clusterName": "c1",
                        "bootstrap": {"dataSecretName": "unused"},
                        "infrastructureRef": {"apiGroup": "infrastructure.cluster.x-k8s.io", "kind": "Metal3MachineTemplate", "name": "workers"}}}},
        }))
        .await;
    let _ = cluster;
    env.hosts_available(&hosts).await;
    let names = ["workers-a", "workers-b", "workers-c"];
    for n in names {
        env.machine("c1", n, image_spec(), Some(owner(&ms, true)))
            .await;
    }
    let mut used = BTreeSet::new();
    for n in names {
        let m3m = env.join(n).await;
        let host = host_of(&m3m);
        assert!(used.insert(host.clone()), "{host} given twice");
        // providerID: metal3://<namespace>/<host>/<metal3machine>, on the machine and the Node.
        let want = format!("metal3://{}/{host}/{n}", env.ns);
        assert_eq!(m3m.spec.provider_id, want);
        let node = env.node(&host).await.expect("node");
        assert_eq!(
            node.spec.and_then(|s| s.provider_id).as_deref(),
            Some(want.as_str())
        );
        assert_eq!(
            condition(&m3m, "Ready"),
            Some(("True".into(), "Ready".into())),
            "{n}"
        );
        assert_eq!(
            condition(&m3m, "AssociateBareMetalHost").map(|c| c.0),
            Some("True".into())
        );
        let addresses: Vec<_> = m3m
            .status
            .clone()
            .expect("status")
            .addresses
            .into_iter()
            .map(|a| (a.r#type.as_str().to_string(), a.address))
            .collect();
        assert!(
            addresses.contains(&("Hostname".into(), host.clone())),
            "{addresses:?}"
        );
        assert!(
            m3m.finalizers()
                .contains(&"metal3machine.infrastructure.cluster.x-k8s.io".to_string())
        );
        // The host: claimed by the machine (no owner reference), labelled, provisioned with
        // the machine's image and powered on.
        let bmh = env.api::<BareMetalHost>().get(&host).await.expect("host");
        let consumer = bmh.spec.consumer_ref.clone().expect("consumer");
        assert_eq!(
            (consumer.kind.as_deref(), consumer.name.as_deref()),
            (Some("Metal3Machine"), Some(n))
        );
        assert_eq!(
            bmh.labels()
                .get("cluster.x-k8s.io/cluster-name")
                .map(String::as_str),
            Some("c1")
        );
        assert!(bmh.owner_references().is_empty());
        assert_eq!(
            bmh.spec.image.as_ref().map(|i| i.url.as_str()),
            Some("http://images.example/ubuntu.qcow2")
        );
        assert!(bmh.spec.online);
        let bmc = env
            .api::<Secret>()
            .get(&format!("{host}-bmc"))
            .await
            .expect("bmc secret");
        assert_eq!(
            bmc.labels()
                .get("cluster.x-k8s.io/cluster-name")
                .map(String::as_str),
            Some("c1")
        );
        // The bootstrap data arrived as the host's user data, unchanged.
        assert_eq!(
            bmh.spec.user_data.as_ref().and_then(|u| u.name.clone()),
            Some(format!("{n}-bootstrap"))
        );
        let given = env
            .fixture
            .node(&env.ns, &host)
            .and_then(|node| node.provisioned_config)
            .and_then(|c| c.user_data);
        assert_eq!(
            given.as_deref(),
            Some(user_data(n).as_str()),
            "{n} on {host}"
        );
    }
    // Exactly two hosts are left, unclaimed and available.
    let free: Vec<_> = env
        .hosts()
        .await
        .into_iter()
        .filter(|h| h.spec.consumer_ref.is_none())
        .map(|h| (h.name_any(), h.provisioning_state()))
        .collect();
    assert_eq!(free.len(), 2, "{free:?}");
    assert!(
        free.iter().all(|(_, s)| *s == ProvisioningState::Available),
        "{free:?}"
    );
    for h in hosts {
        let calls = env.fixture.calls(&env.ns, h);
        assert_eq!(
            calls.started(Operation::Provision),
            u32::from(used.contains(h)),
            "{h}"
        );
    }
    let _ = env.api::<Metal3Machine>();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_selectors_and_failure_domains_decide_the_host() {
    let env = Env::new("selectors").await;
    let fd = "infrastructure.cluster.x-k8s.io/failure-domain";
    env.host(
        "storage-a",
        json!({"role": "storage", "rack": "r1", fd: "fd-a"}),
    )
    .await;
    env.host(
        "worker-a",
        json!({"role": "worker", "rack": "r1", fd: "fd-a"}),
    )
    .await;
    env.host(
        "worker-b",
        json!({"role": "worker", "rack": "r2", fd: "fd-b"}),
    )
    .await;
    env.host(
        "worker-r9",
        json!({"role": "worker", "rack": "r9", fd: "fd-b"}),
    )
    .await;
    env.cluster("c1").await;
    env.hosts_available(&["storage-a", "worker-a", "worker-b", "worker-r9"])
        .await;
    let selector = json!({"matchLabels": {"role": "worker"},
                          "matchExpressions": [{"key": "rack", "operator": "In", "values": ["r1", "r2"]}]});
    let spec = |extra: serde_json::Value| {
        let mut s = image_spec();
        s["hostSelector"] = selector.clone();
        if let Some(o) = extra.as_object() {
            for (k, v) in o {
                s[k] = v.clone();
            }
        }
        s
    };
    // The Machine's failure domain reaches the Metal3Machine, and picks worker-b, the only
    // worker in r1/r2 of fd-b.
    let (machine, _) = env.machine("c1", "in-fd-b", spec(json!({})), None).await;
    env.merge::<metal3_capm3::capi::Machine>(
        &machine.name_any(),
        json!({"spec": {"failureDomain": "fd-b"}}),
    )
    .await;
    let m = env
        .wait::<Metal3Machine>("in-fd-b", "associated", |m| {
            m.annotations().contains_key("metal3.io/BareMetalHost")
        })
        .await;
    assert_eq!(m.spec.failure_domain, "fd-b");
    assert_eq!(host_of(&m), "worker-b");
    // The status reports where the machine is (Cluster API copies it to the Machine).
    env.wait::<Metal3Machine>("in-fd-b", "placed in fd-b", |m| {
        m.status.as_ref().and_then(|s| s.failure_domain.as_deref()) == Some("fd-b")
    })
    .await;
    // No free host of the selector is in fd-c: any matching one (worker-a) will do.
    let (machine, _) = env.machine("c1", "in-fd-c", spec(json!({})), None).await;
    env.merge::<metal3_capm3::capi::Machine>(
        &machine.name_any(),
        json!({"spec": {"failureDomain": "fd-c"}}),
    )
    .await;
    let m = env
        .wait::<Metal3Machine>("in-fd-c", "associated", |m| {
            m.annotations().contains_key("metal3.io/BareMetalHost")
        })
        .await;
    assert_eq!(host_of(&m), "worker-a");
    // Its status says where it really is: worker-a's fd-a, not the fd-c it asked for.
    env.wait::<Metal3Machine>("in-fd-c", "placed in fd-a", |m| {
        m.status.as_ref().and_then(|s| s.failure_domain.as_deref()) == Some("fd-a")
    })
    .await;
    // Nothing left that matches: the machine waits, saying why; the storage host and the r9
    // worker are never taken.
    env.machine("c1", "no-match", spec(json!({})), None).await;
    let m = env
        .wait::<Metal3Machine>("no-match", "waiting for a host", |m| {
            condition(m, "AssociateBareMetalHost")
                == Some(("False".into(), "AssociateBareMetalHostFailed".into()))
        })
        .await;
    assert!(!m.annotations().contains_key("metal3.io/BareMetalHost"));
    for free in ["storage-a", "worker-r9"] {
        let h = env.api::<BareMetalHost>().get(free).await.expect("host");
        assert!(h.spec.consumer_ref.is_none(), "{free} must stay free");
    }
    // A bad selector is a terminal configuration error naming the field.
    let mut bad = image_spec();
    bad["hostSelector"] =
        json!({"matchExpressions": [{"key": "rack", "operator": "Near", "values": []}]});
    env.machine("c1", "bad-selector", bad, None).await;
    let m = env
        .wait::<Metal3Machine>("bad-selector", "refused", |m| {
            m.status
                .as_ref()
                .and_then(|s| s.deprecated.as_ref())
                .is_some()
        })
        .await;
    let failure = m
        .status
        .and_then(|s| s.deprecated)
        .and_then(|d| d.v1beta1)
        .and_then(|v| v.failure_message)
        .unwrap_or_default();
    assert!(
        failure.contains("spec.hostSelector.matchExpressions[0].operator"),
        "{failure}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_claims_never_share_a_host() {
    // Two provider instances (as two processes sharded with --watch-filter) race for the same
    // hosts, each with its own in-process claim lock: only the optimistic concurrency of the
    // claim on the host keeps them apart.
    let env = Env::bare("concurrent").await;
    env.start_operator();
    for shard in ["a", "b"] {
        env.start_capm3(metal3_capm3::Config {
            watch_filter: Some(shard.into()),
            ..fast_capm3(&env.ns)
        });
    }
    let hosts = ["h-0", "h-1", "h-2", "h-3"];
    for h in hosts {
        env.host(h, json!({})).await;
    }
    env.cluster_labelled("c1", json!({"cluster.x-k8s.io/watch-filter": "a"}))
        .await;
    env.hosts_available(&hosts).await;
    let machines: Vec<String> = (0..8).map(|i| format!("m-{i}")).collect();
    let creations = machines.iter().enumerate().map(|(i, m)| {
        let shard = if i % 2 == 0 { "a" } else { "b" };
        env.machine_labelled(
            "c1",
            m,
            image_spec(),
            None,
            json!({"cluster.x-k8s.io/watch-filter": shard}),
        )
    });
    futures::future::join_all(creations).await;
    // Wait until every host is claimed and the claims have settled.
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let claimed = env
            .hosts()
            .await
            .iter()
            .filter(|h| h.spec.consumer_ref.is_some())
            .count();
        let annotated = env
            .api::<Metal3Machine>()
            .list(&Default::default())
            .await
            .expect("list")
            .items
            .iter()
            .filter(|m| m.annotations().contains_key("metal3.io/BareMetalHost"))
            .count();
        if claimed == 4 && annotated == 4 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "claims never settled: {claimed} hosts, {annotated} machines"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let consumers: Vec<String> = env
        .hosts()
        .await
        .iter()
        .filter_map(|h| h.spec.consumer_ref.clone()?.name)
        .collect();
    let distinct: BTreeSet<_> = consumers.iter().cloned().collect();
    assert_eq!(
        distinct.len(),
        4,
        "a machine holds two hosts: {consumers:?}"
    );
    let m3ms = env
        .api::<Metal3Machine>()
        .list(&Default::default())
        .await
        .expect("list")
        .items;
    let taken: Vec<String> = m3ms
        .iter()
        .filter(|m| m.annotations().contains_key("metal3.io/BareMetalHost"))
        .map(host_of)
        .collect();
    let unique: BTreeSet<_> = taken.iter().cloned().collect();
    assert_eq!(
        unique.len(),
        taken.len(),
        "two machines share a host: {taken:?}"
    );
    // Each claim agrees both ways.
    for m in m3ms
        .iter()
        .filter(|m| m.annotations().contains_key("metal3.io/BareMetalHost"))
    {
        let h = env
            .api::<BareMetalHost>()
            .get(&host_of(m))
            .await
            .expect("host");
        assert_eq!(h.spec.consumer_ref.and_then(|c| c.name), Some(m.name_any()));
    }
    // The four without a host say so.
    for m in m3ms
        .iter()
        .filter(|m| !m.annotations().contains_key("metal3.io/BareMetalHost"))
    {
        env.wait::<Metal3Machine>(&m.name_any(), "waiting for a host", |m| {
            condition(m, "AssociateBareMetalHost")
                .is_some_and(|c| c.1 == "AssociateBareMetalHostFailed")
        })
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_machine_waits_for_its_cluster_and_bootstrap_data() {
    let env = Env::new("waits").await;
    env.host("h-0", json!({})).await;
    env.hosts_available(&["h-0"]).await;
    // A Cluster whose infrastructure is not provisioned yet.
    let cluster = env
        .create::<metal3_capm3::capi::Cluster>(json!({
            "metadata": {"name": "c1"},
            "spec": {"infrastructureRef": {"apiGroup": "infrastructure.cluster.x-k8s.io", "kind": "Metal3Cluster", "name": "c1"}},
        }))
        .await;
    // A Metal3Cluster without an endpoint is not provisioned, and says why.
    env.create::<Metal3Cluster>(json!({
        "metadata": {"name": "c1", "labels": {"cluster.x-k8s.io/cluster-name": "c1"}, "ownerReferences": [owner(&cluster, true)]},
        "spec": {},
    }))
    .await;
    let m3c = env
        .wait::<Metal3Cluster>("c1", "not provisioned", |m| {
            m.status
                .as_ref()
                .is_some_and(|s| s.initialization.provisioned == Some(false))
        })
        .await;
    let ready = m3c
        .status
        .expect("status")
        .conditions
        .into_iter()
        .find(|c| c.r#type == "BaremetalInfrastructureReady")
        .expect("condition");
    assert_eq!(ready.reason, "ControlPlaneEndpointFailed");
    env.machine("c1", "m", image_spec(), None).await;
    env.wait::<Metal3Machine>("m", "waiting for the cluster", |m| {
        condition(m, "AssociateBareMetalHost")
            == Some((
                "False".into(),
                "WaitingForClusterInfrastructureReady".into(),
            ))
    })
    .await;
    // The Machine's bootstrap data is not ready yet (a bootstrap config without its Secret);
    // then the infrastructure is provisioned.
    env.merge::<metal3_capm3::capi::Machine>("m", json!({"spec": {"bootstrap": {"dataSecretName": null, "configRef": {"apiGroup": "bootstrap.cluster.x-k8s.io", "kind": "KubeadmConfig", "name": "m"}}}}))
        .await;
    env.merge_status::<metal3_capm3::capi::Cluster>(
        "c1",
        json!({"status": {"initialization": {"infrastructureProvisioned": true}}}),
    )
    .await;
    env.wait::<Metal3Machine>("m", "waiting for bootstrap data", |m| {
        condition(m, "AssociateBareMetalHost")
            == Some(("False".into(), "WaitingForBootstrapData".into()))
    })
    .await;
    let h = env.api::<BareMetalHost>().get("h-0").await.expect("host");
    assert!(
        h.spec.consumer_ref.is_none(),
        "no host is claimed before bootstrap data exists"
    );
    // With its data Secret, it gets the host.
    env.merge::<metal3_capm3::capi::Machine>(
        "m",
        json!({"spec": {"bootstrap": {"dataSecretName": "m-bootstrap"}}}),
    )
    .await;
    env.wait::<BareMetalHost>("h-0", "claimed", |h| h.spec.consumer_ref.is_some())
        .await;
}
