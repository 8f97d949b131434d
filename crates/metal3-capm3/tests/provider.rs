//! The Cluster API provider against a real kube-apiserver with the upstream Cluster API CRDs,
//! the BareMetalHost operator (fixture backend) and the provider running in-process: Machines
//! are created as the core Cluster API controllers would, and hosts really go through
//! available → provisioned → deprovisioned.

mod common;

use std::collections::BTreeSet;

use common::*;
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
async fn scale_down_deprovisions_and_releases_the_host() {
    let env = Env::new("scale-down").await;
    env.host("h-0", json!({})).await;
    env.host("h-1", json!({})).await;
    env.cluster("c1").await;
    env.hosts_available(&["h-0", "h-1"]).await;
    let mut spec = image_spec();
    spec["automatedCleaningMode"] = json!("disabled");
    env.machine("c1", "keep", image_spec(), None).await;
    env.machine("c1", "drop", spec, None).await;
    let keep = env.join("keep").await;
    let drop = env.join("drop").await;
    let (kept_host, dropped_host) = (host_of(&keep), host_of(&drop));
    let h = env
        .api::<BareMetalHost>()
        .get(&dropped_host)
        .await
        .expect("host");
    assert_eq!(
        h.spec.automated_cleaning_mode.as_str(),
        "disabled",
        "the machine's cleaning mode reached the host"
    );
    // The Machine controller's part of a scale down: delete the infrastructure machine, then
    // the Machine once it is gone.
    env.delete::<Metal3Machine>("drop").await;
    let released = env
        .wait::<BareMetalHost>(&dropped_host, "released and available", |h| {
            h.spec.consumer_ref.is_none() && h.provisioning_state() == ProvisioningState::Available
        })
        .await;
    env.wait_gone::<Metal3Machine>("drop").await;
    env.delete::<metal3_capm3::capi::Machine>(&machine_of(&drop))
        .await;
    env.delete_node(&dropped_host).await;
    assert_eq!(released.spec.image, None);
    assert_eq!(released.spec.user_data, None);
    assert!(
        !released.spec.online,
        "released hosts are powered off (no fast track)"
    );
    assert!(
        !released
            .labels()
            .contains_key("cluster.x-k8s.io/cluster-name")
    );
    let calls = env.fixture.calls(&env.ns, &dropped_host);
    assert_eq!(
        calls.completed(Operation::Deprovision),
        1,
        "deprovisioned once"
    );
    let bmc = env
        .api::<Secret>()
        .get(&format!("{dropped_host}-bmc"))
        .await
        .expect("bmc");
    assert!(!bmc.labels().contains_key("cluster.x-k8s.io/cluster-name"));
    // The other machine and its host are untouched.
    let k = env
        .api::<BareMetalHost>()
        .get(&kept_host)
        .await
        .expect("host");
    assert_eq!(k.provisioning_state(), ProvisioningState::Provisioned);
    assert_eq!(
        k.spec.consumer_ref.and_then(|c| c.name).as_deref(),
        Some("keep")
    );
    assert_eq!(
        env.fixture
            .calls(&env.ns, &kept_host)
            .started(Operation::Deprovision),
        0
    );
    // The released host serves the next machine.
    env.machine("c1", "next", image_spec(), None).await;
    let next = env.join("next").await;
    assert_eq!(host_of(&next), dropped_host);
}

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remediation_reboots_the_host() {
    use metal3_capm3_api::v1beta2::Metal3Remediation;
    let env = Env::new("remediate").await;
    env.host("h-0", json!({})).await;
    env.cluster("c1").await;
    env.hosts_available(&["h-0"]).await;
    let (machine, _) = env.machine("c1", "sick", image_spec(), None).await;
    let m3m = env.join("sick").await;
    let host = host_of(&m3m);
    let before = env.fixture.calls(&env.ns, &host);
    // Every version of the Node, seen through a watch, to tell whether it was taken out of
    // service on the way.
    let seen_taint = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    {
        use futures::StreamExt;
        let nodes: kube::Api<k8s_openapi::api::core::v1::Node> = kube::Api::all(env.client.clone());
        let config = kube::runtime::watcher::Config::default()
            .fields(&format!("metadata.name={}", node_name(&env.ns, &host)));
        let seen = seen_taint.clone();
        tokio::spawn(async move {
            let mut events = kube::runtime::WatchStreamExt::applied_objects(
                kube::runtime::watcher(nodes, config),
            )
            .boxed();
            while let Some(Ok(node)) = events.next().await {
                let taints = node.spec.and_then(|s| s.taints).unwrap_or_default();
                if taints.iter().any(|t| {
                    t.key == "node.kubernetes.io/out-of-service" && t.effect == "NoExecute"
                }) {
                    seen.store(true, std::sync::atomic::Ordering::SeqCst);
                }
            }
        });
    }
    // A MachineHealthCheck found the machine unhealthy and made a remediation from a template.
    let machine = env
        .api::<metal3_capm3::capi::Machine>()
        .get(&machine.name_any())
        .await
        .expect("machine");
    let m3r = env
        .create::<Metal3Remediation>(json!({
            "metadata": {"name": "sick", "ownerReferences": [owner(&machine, false)]},
            "spec": {"strategy": {"type": "Reboot", "retryLimit": 1, "timeoutSeconds": 300}},
        }))
        .await;
    let key = format!(
        "reboot.metal3.io/metal3-remediation-{}",
        m3r.metadata.uid.clone().unwrap_or_default()
    );
    // The host is held off with a hard reboot annotation and the Node is taken out of service.
    env.wait::<BareMetalHost>(&host, "held off", |h| {
        h.annotations().get(&key).map(String::as_str) == Some(r#"{"mode":"hard"}"#)
    })
    .await;
    // Then, powered on again and the Node back in service, the remediation lets go.
    let done = env
        .wait::<Metal3Remediation>("sick", "done", |r| {
            r.finalizers().is_empty()
                && r.status
                    .as_ref()
                    .and_then(|s| s.phase.map(|p| p.as_str().to_string()))
                    .as_deref()
                    == Some("Waiting")
        })
        .await;
    assert!(
        done.status
            .as_ref()
            .and_then(|s| s.last_remediated.as_ref())
            .is_some()
    );
    let h = env
        .wait::<BareMetalHost>(&host, "powered on", |h| {
            h.status.as_ref().is_some_and(|s| s.powered_on)
        })
        .await;
    assert!(!h.annotations().contains_key(&key));
    let after = env.fixture.calls(&env.ns, &host);
    assert!(
        after.completed(Operation::PowerOff) > before.completed(Operation::PowerOff),
        "the host was powered off"
    );
    assert!(
        after.completed(Operation::PowerOn) > before.completed(Operation::PowerOn),
        "and on again"
    );
    let node = env.node(&host).await.expect("node");
    let taints = node.spec.and_then(|s| s.taints).unwrap_or_default();
    assert!(
        taints
            .iter()
            .all(|t| t.key != "node.kubernetes.io/out-of-service"),
        "{taints:?}"
    );
    assert!(
        seen_taint.load(std::sync::atomic::Ordering::SeqCst),
        "the Node was never tainted out-of-service while the host was off"
    );
    // The host stays provisioned and claimed: a reboot, not a reprovisioning.
    assert_eq!(h.provisioning_state(), ProvisioningState::Provisioned);
    assert_eq!(after.started(Operation::Provision), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_data_template_renders_metadata_and_network_data() {
    use metal3_capm3_api::v1beta2::{Metal3Data, Metal3DataClaim, Metal3DataTemplate};
    let env = Env::new("data").await;
    for h in ["h-0", "h-1"] {
        env.host(h, json!({"rack": format!("rack-{h}")})).await;
    }
    env.cluster("c1").await;
    env.create::<Metal3DataTemplate>(json!({
        "metadata": {"name": "tmpl", "labels": {"cluster.x-k8s.io/cluster-name": "c1"}},
        "spec": {
            "metaData": {
                "strings": [{"key": "role", "value": "worker"}],
                "objectNames": [{"key": "machine", "object": "machine"}, {"key": "host", "object": "baremetalhost"}],
                "indexes": [{"key": "hostname", "prefix": "node-"}],
                "namespaces": [{"key": "ns"}],
                "fromLabels": [{"key": "rack", "object": "baremetalhost", "label": "rack"}],
                "fromHostInterfaces": [{"key": "mac", "interface": "eth0"}],
            },
            "networkData": {
                "links": {"ethernets": [{"type": "phy", "id": "eth0", "macAddress": {"fromHostInterface": "eth0"}}]},
                "networks": {"ipv4DHCP": [{"id": "provisioning", "link": "eth0"}]},
                "services": {"dns": ["192.0.2.53"]},
            },
        },
    }))
    .await;
    env.hosts_available(&["h-0", "h-1"]).await;
    let mut spec = image_spec();
    spec["dataTemplate"] = json!({"name": "tmpl"});
    env.machine("c1", "m-0", spec.clone(), None).await;
    let m0 = env.join("m-0").await;
    let host = host_of(&m0);
    let status = m0.status.clone().expect("status");
    assert_eq!(
        status.rendered_data.as_ref().map(|r| r.name.as_str()),
        Some("tmpl-0")
    );
    assert_eq!(
        status.meta_data.as_ref().and_then(|r| r.name.as_deref()),
        Some("m-0-metadata")
    );
    assert_eq!(
        condition(&m0, "Metal3DataReady"),
        Some(("True".into(), "Metal3DataSecretsReady".into()))
    );
    // The claim, owned by the machine, answered with Metal3Data of index 0.
    let claim = env
        .api::<Metal3DataClaim>()
        .get("m-0")
        .await
        .expect("claim");
    assert_eq!(claim.owner_references()[0].kind, "Metal3Machine");
    assert!(
        claim
            .finalizers()
            .contains(&"metal3machine.infrastructure.cluster.x-k8s.io".to_string())
    );
    assert!(
        claim
            .finalizers()
            .contains(&"metal3dataclaim.infrastructure.cluster.x-k8s.io".to_string())
    );
    let data = env.api::<Metal3Data>().get("tmpl-0").await.expect("data");
    assert_eq!(data.spec.index, Some(0));
    assert_eq!(data.status.as_ref().and_then(|s| s.ready), Some(true));
    // The rendered Secrets, owned by the Metal3Data.
    let meta = env
        .api::<Secret>()
        .get("m-0-metadata")
        .await
        .expect("metadata secret");
    assert_eq!(
        meta.type_.as_deref(),
        Some("infrastructure.cluster.x-k8s.io/secret")
    );
    assert_eq!(meta.owner_references()[0].name, "tmpl-0");
    assert_eq!(
        meta.labels()
            .get("cluster.x-k8s.io/cluster-name")
            .map(String::as_str),
        Some("c1")
    );
    let rendered: std::collections::BTreeMap<String, String> =
        serde_saphyr::from_str(&secret_text(&meta, "metaData")).expect("metadata YAML");
    let bmh = env.api::<BareMetalHost>().get(&host).await.expect("host");
    let nic_mac = bmh
        .status
        .as_ref()
        .and_then(|s| s.hardware.as_ref())
        .and_then(|hw| hw.nics.iter().find(|n| n.name == "eth0"))
        .map(|n| n.mac.clone())
        .expect("eth0");
    let want: std::collections::BTreeMap<String, String> = serde_json::from_value(json!({
        "role": "worker", "machine": "m-0", "host": host, "hostname": "node-0", "ns": env.ns,
        "rack": format!("rack-{host}"), "mac": nic_mac, "providerid": format!("{}/{host}/m-0", env.ns),
    }))
    .expect("want");
    assert_eq!(rendered, want);
    let network: serde_json::Value = serde_saphyr::from_str(&secret_text(
        &env.api::<Secret>()
            .get("m-0-networkdata")
            .await
            .expect("network secret"),
        "networkData",
    ))
    .expect("network YAML");
    assert_eq!(
        network,
        json!({
            "links": [{"type": "phy", "id": "eth0", "mtu": 1500, "ethernet_mac_address": nic_mac}],
            "networks": [{"type": "ipv4_dhcp", "id": "provisioning", "link": "eth0", "routes": []}],
            "services": [{"type": "dns", "address": "192.0.2.53"}],
        })
    );
    // The host was provisioned with them.
    assert_eq!(
        bmh.spec.meta_data.as_ref().and_then(|r| r.name.as_deref()),
        Some("m-0-metadata")
    );
    assert_eq!(
        bmh.spec
            .network_data
            .as_ref()
            .and_then(|r| r.name.as_deref()),
        Some("m-0-networkdata")
    );
    let given = env
        .fixture
        .node(&env.ns, &host)
        .and_then(|n| n.provisioned_config)
        .expect("provisioned");
    assert!(given.meta_data.unwrap_or_default().contains("node-0"));
    // The next machine gets the next index; the template lists both.
    env.machine("c1", "m-1", spec.clone(), None).await;
    env.join("m-1").await;
    let tmpl = env
        .wait::<Metal3DataTemplate>("tmpl", "two indexes", |t| {
            t.status.as_ref().is_some_and(|s| s.indexes.len() == 2)
        })
        .await;
    let indexes: Vec<_> = tmpl
        .status
        .expect("status")
        .indexes
        .into_iter()
        .map(|e| (e.name, e.index))
        .collect();
    assert_eq!(indexes, [("m-0".to_string(), 0), ("m-1".to_string(), 1)]);
    // Deleting the first machine removes its claim and data and frees index 0.
    env.delete::<Metal3Machine>("m-0").await;
    env.wait_gone::<Metal3Machine>("m-0").await;
    env.wait_gone::<Metal3DataClaim>("m-0").await;
    env.wait_gone::<Metal3Data>("tmpl-0").await;
    env.wait::<Metal3DataTemplate>("tmpl", "index 0 free", |t| {
        t.status
            .as_ref()
            .is_some_and(|s| s.indexes.iter().map(|e| e.index).collect::<Vec<_>>() == [1])
    })
    .await;
    let released = env
        .wait::<BareMetalHost>(&host, "released", |h| {
            h.spec.consumer_ref.is_none() && h.provisioning_state() == ProvisioningState::Available
        })
        .await;
    assert_eq!(
        released.spec.meta_data, None,
        "the rendered Secrets are taken off the host"
    );
    assert_eq!(released.spec.network_data, None);
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_reuse_keeps_a_released_host_for_its_machine_deployment() {
    use metal3_capm3::capi::MachineDeployment;
    use metal3_capm3_api::v1beta2::Metal3MachineTemplate;
    let env = Env::new("reuse").await;
    env.host("h-0", json!({})).await;
    env.cluster("c1").await;
    let mut template_spec = image_spec();
    template_spec["automatedCleaningMode"] = json!("metadata");
    env.create::<Metal3MachineTemplate>(json!({
        "metadata": {"name": "workers"},
        "spec": {"template": {"spec": template_spec}, "nodeReuse": true},
    }))
    .await;
    let machine_template = json!({"metadata": {"labels": {"set": "w"}}, "spec": {"clusterName": "c1",
        "bootstrap": {"dataSecretName": "unused"},
        "infrastructureRef": {"apiGroup": "infrastructure.cluster.x-k8s.io", "kind": "Metal3MachineTemplate", "name": "workers"}}});
    let md = env
        .create::<MachineDeployment>(json!({
            "metadata": {"name": "workers-md"},
            "spec": {"clusterName": "c1", "selector": {"matchLabels": {"set": "w"}}, "template": machine_template},
        }))
        .await;
    let ms = env
        .create::<MachineSet>(json!({
            "metadata": {"name": "workers-ms", "ownerReferences": [owner(&md, true)]},
            "spec": {"clusterName": "c1", "selector": {"matchLabels": {"set": "w"}}, "template": machine_template},
        }))
        .await;
    env.hosts_available(&["h-0"]).await;
    env.machine("c1", "old", image_spec(), Some(owner(&ms, true)))
        .await;
    let old = env.join("old").await;
    assert_eq!(host_of(&old), "h-0");
    // A rolling upgrade deletes the old machine: its host is deprovisioned and kept for the
    // deployment.
    env.delete::<Metal3Machine>("old").await;
    let reserved = env
        .wait::<BareMetalHost>("h-0", "reserved", |h| {
            h.labels()
                .get("infrastructure.cluster.x-k8s.io/node-reuse")
                .map(String::as_str)
                == Some("md-workers-md")
                && h.provisioning_state() == ProvisioningState::Available
        })
        .await;
    let consumer = reserved
        .spec
        .consumer_ref
        .clone()
        .expect("still reserved by the cluster");
    assert_eq!(
        (consumer.kind.as_deref(), consumer.name.as_deref()),
        (Some("Cluster"), Some("c1"))
    );
    env.wait_gone::<Metal3Machine>("old").await;
    env.delete::<metal3_capm3::capi::Machine>(&machine_of(&old))
        .await;
    env.delete_node("h-0").await;
    // A machine of another owner does not get it.
    env.machine("c1", "stranger", image_spec(), None).await;
    env.wait::<Metal3Machine>("stranger", "waiting", |m| {
        condition(m, "AssociateBareMetalHost")
            .is_some_and(|c| c.1 == "AssociateBareMetalHostFailed")
    })
    .await;
    // The deployment's new machine does.
    env.machine("c1", "new", image_spec(), Some(owner(&ms, true)))
        .await;
    let new = env
        .wait::<Metal3Machine>("new", "associated", |m| {
            m.annotations().contains_key("metal3.io/BareMetalHost")
                && condition(m, "AssociateBareMetalHost").is_some_and(|c| c.0 == "True")
        })
        .await;
    assert_eq!(host_of(&new), "h-0");
    assert_eq!(
        condition(&new, "AssociateBareMetalHost"),
        Some((
            "True".into(),
            "AssociateBareMetalHostViaNodeReuseSuccess".into()
        ))
    );
    let h = env
        .wait::<BareMetalHost>("h-0", "claimed by the new machine", |h| {
            h.spec.consumer_ref.as_ref().and_then(|c| c.name.as_deref()) == Some("new")
        })
        .await;
    assert!(
        !h.labels()
            .contains_key("infrastructure.cluster.x-k8s.io/node-reuse")
    );
    let stranger = env
        .api::<Metal3Machine>()
        .get("stranger")
        .await
        .expect("stranger");
    assert!(
        !stranger
            .annotations()
            .contains_key("metal3.io/BareMetalHost")
    );
}

/// Installs, for an IPAM provider this test plays itself, schema-less CRDs of the IPAM kinds
/// the provider claims addresses with: Metal3 IPAM (`ipam.metal3.io/v1alpha1` IPClaim,
/// IPAddress) and Cluster API IPAM (`ipam.cluster.x-k8s.io/v1beta2` IPAddressClaim,
/// IPAddress). Status is a plain field (no subresource), as the test writes it.
async fn install_ipam_crds(env: &Env) -> [kube::api::ApiResource; 4] {
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
    let kinds = [
        ("ipam.metal3.io", "v1alpha1", "IPClaim", "ipclaims"),
        ("ipam.metal3.io", "v1alpha1", "IPAddress", "ipaddresses"),
        (
            "ipam.cluster.x-k8s.io",
            "v1beta2",
            "IPAddressClaim",
            "ipaddressclaims",
        ),
        (
            "ipam.cluster.x-k8s.io",
            "v1beta2",
            "IPAddress",
            "ipaddresses",
        ),
    ];
    let mut crds = Vec::new();
    for (group, version, kind, plural) in kinds {
        let crd: CustomResourceDefinition = serde_json::from_value(json!({
            "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": format!("{plural}.{group}")},
            "spec": {
                "group": group, "scope": "Namespaced",
                "names": {"kind": kind, "plural": plural, "singular": kind.to_lowercase(), "listKind": format!("{kind}List")},
                "versions": [{"name": version, "served": true, "storage": true,
                    "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}],
            },
        }))
        .expect("CRD");
        crds.push(crd);
    }
    metal3_testenv::install_crd_objects(&env.client, &crds)
        .await
        .expect("the IPAM CRDs install");
    kinds.map(|(group, version, kind, plural)| kube::api::ApiResource {
        group: group.into(),
        version: version.into(),
        api_version: format!("{group}/{version}"),
        kind: kind.into(),
        plural: plural.into(),
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn addresses_from_ip_pools_are_claimed_rendered_and_released() {
    use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
    use metal3_capm3_api::v1beta2::Metal3DataTemplate;
    let env = Env::new("ipam").await;
    let [m3_claim, m3_address, capi_claim, capi_address] = install_ipam_crds(&env).await;
    let api = |r: &kube::api::ApiResource| -> Api<DynamicObject> {
        Api::namespaced_with(env.client.clone(), &env.ns, r)
    };
    // The IPAM provider: answers every claim with the next address of its pool.
    let ipam = {
        let (m3_claims, m3_addresses) = (api(&m3_claim), api(&m3_address));
        let (capi_claims, capi_addresses) = (api(&capi_claim), api(&capi_address));
        let (m3_address, capi_address) = (m3_address.clone(), capi_address.clone());
        tokio::spawn(async move {
            let mut next = [10, 10];
            loop {
                for (claims, addresses, kind, metal3) in [
                    (&m3_claims, &m3_addresses, &m3_address, true),
                    (&capi_claims, &capi_addresses, &capi_address, false),
                ] {
                    let Ok(list) = claims.list(&Default::default()).await else {
                        continue;
                    };
                    for claim in list.items {
                        let answered = if metal3 {
                            &claim.data["status"]["address"]["name"]
                        } else {
                            &claim.data["status"]["addressRef"]["name"]
                        };
                        if answered.is_string() {
                            continue;
                        }
                        let name = format!("{}-address", claim.name_any());
                        let mut address = DynamicObject::new(&name, kind);
                        address.data = if metal3 {
                            json!({"spec": {"address": format!("192.0.2.{}", next[0]), "prefix": 24, "gateway": "192.0.2.1", "dnsServers": ["192.0.2.53"]}})
                        } else {
                            json!({"spec": {"address": format!("198.51.100.{}", next[1]), "prefix": 25, "gateway": "198.51.100.1"}})
                        };
                        next[usize::from(!metal3)] += 1;
                        let _ = addresses.create(&PostParams::default(), &address).await;
                        let status = if metal3 {
                            json!({"status": {"address": {"name": name}}})
                        } else {
                            json!({"status": {"addressRef": {"name": name}}})
                        };
                        let _ = claims
                            .patch(
                                &claim.name_any(),
                                &PatchParams::default(),
                                &Patch::Merge(&status),
                            )
                            .await;
                    }
                }
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
        })
    };

    env.host("h-0", json!({})).await;
    env.cluster("c1").await;
    env.create::<Metal3DataTemplate>(json!({
        "metadata": {"name": "pools", "labels": {"cluster.x-k8s.io/cluster-name": "c1"}},
        "spec": {
            "metaData": {"ipAddressesFromPool": [{"key": "provisioning-ip", "name": "provisioning"}]},
            "networkData": {
                "links": {"ethernets": [{"type": "phy", "id": "eth0", "macAddress": {"fromHostInterface": "eth0"}}]},
                "networks": {"ipv4": [
                    {"id": "provisioning", "link": "eth0", "ipAddressFromIPPool": "provisioning",
                     "routes": [{"network": "0.0.0.0", "prefix": 0, "gateway": {"fromIPPool": "provisioning"}}]},
                    {"id": "public", "link": "eth0",
                     "fromPoolRef": {"apiGroup": "ipam.cluster.x-k8s.io", "kind": "InClusterIPPool", "name": "public"}},
                ]},
                "services": {"dnsFromIPPool": "provisioning"},
            },
        },
    }))
    .await;
    env.hosts_available(&["h-0"]).await;
    let mut spec = image_spec();
    spec["dataTemplate"] = json!({"name": "pools"});
    env.machine("c1", "m-0", spec, None).await;
    env.join("m-0").await;

    // One claim per pool, owned by the Metal3Data, naming its pool.
    let claim = api(&m3_claim)
        .get("pools-0-provisioning")
        .await
        .expect("IPClaim");
    assert_eq!(claim.data["spec"]["pool"]["name"], "provisioning");
    assert_eq!(claim.owner_references()[0].name, "pools-0");
    let claim = api(&capi_claim)
        .get("pools-0-public")
        .await
        .expect("IPAddressClaim");
    assert_eq!(claim.data["spec"]["poolRef"]["kind"], "InClusterIPPool");
    assert_eq!(claim.data["spec"]["poolRef"]["name"], "public");

    // The addresses are rendered into the host's metadata and network data.
    let meta: std::collections::BTreeMap<String, String> = serde_saphyr::from_str(&secret_text(
        &env.api::<Secret>()
            .get("m-0-metadata")
            .await
            .expect("metadata"),
        "metaData",
    ))
    .expect("metadata YAML");
    assert_eq!(meta["provisioning-ip"], "192.0.2.10");
    let network: serde_json::Value = serde_saphyr::from_str(&secret_text(
        &env.api::<Secret>()
            .get("m-0-networkdata")
            .await
            .expect("network data"),
        "networkData",
    ))
    .expect("network YAML");
    let networks = network["networks"].as_array().expect("networks");
    let by_id = |id: &str| {
        networks
            .iter()
            .find(|n| n["id"] == id)
            .unwrap_or_else(|| panic!("network {id} in {network}"))
    };
    assert_eq!(by_id("provisioning")["ip_address"], "192.0.2.10");
    assert_eq!(by_id("provisioning")["netmask"], "255.255.255.0");
    assert_eq!(by_id("provisioning")["routes"][0]["gateway"], "192.0.2.1");
    assert_eq!(by_id("public")["ip_address"], "198.51.100.10");
    assert_eq!(by_id("public")["netmask"], "255.255.255.128");
    assert_eq!(
        network["services"],
        json!([{"type": "dns", "address": "192.0.2.53"}])
    );

    // Deleting the machine deletes its claims (the addresses go back to the pools).
    env.delete::<Metal3Machine>("m-0").await;
    env.wait_gone::<Metal3Machine>("m-0").await;
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let left = api(&m3_claim)
            .list(&Default::default())
            .await
            .expect("list")
            .items
            .len()
            + api(&capi_claim)
                .list(&Default::default())
                .await
                .expect("list")
                .items
                .len();
        if left == 0 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{left} claims left");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    ipam.abort();
}
