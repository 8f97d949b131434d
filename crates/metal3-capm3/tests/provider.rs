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
    let m3c = env.api::<Metal3Cluster>().get("c1").await.expect("m3c");
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
