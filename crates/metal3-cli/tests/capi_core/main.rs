//! The provider driven by the real Cluster API core (v1.14, built by `hack/capi/build.sh`):
//! Cluster API's manager, `metal3 capm3`, `metal3 ipam` and `metal3 operator` (fixture
//! backend) run as processes on this test binary's own control plane, and a workload cluster
//! goes through its life — a control plane machine and a MachineDeployment of three on a
//! Metal3MachineTemplate, hosts provisioned with the bootstrap data and addresses from an
//! IPPool, Nodes joining (the test plays the kubelets), scaling down and up, a
//! MachineHealthCheck whose remediation reboots a host and then replaces its machine, and the
//! cluster's deletion releasing every host. Once
//! with every object written as v1beta2, once as v1beta1 (converted by Cluster API's and the
//! provider's webhooks), side by side in two namespaces.

#[path = "../common/mod.rs"]
mod common;
mod objects;
mod stack;
mod world;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use k8s_openapi::api::core::v1::{Node, Secret};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::ResourceExt;
use kube::api::Api;
use metal3_api::v1alpha1::BareMetalHost;
use serde_json::json;

use objects::{CAPI, Contract, INFRA};
use stack::Stack;
use world::{WAIT, World, node_name, node_ready};

const CLUSTER: &str = "wl";
const DEPLOYMENT: &str = "workers";
/// The control plane machine's (and its Metal3Machine's) name.
const CONTROL_PLANE: &str = "cp-0";
/// One for the control plane, three for the workers, one spare.
const HOSTS: usize = 5;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_workload_cluster_lives_and_dies_under_cluster_api_core_in_both_contracts() {
    let stack = Stack::start().await;
    tokio::join!(
        scenario(&stack, Contract::V1beta2, 1),
        scenario(&stack, Contract::V1beta1, 2),
    );
}

async fn scenario(stack: &Stack, contract: Contract, subnet: u8) {
    let cp = metal3_testenv::shared();
    let ns = cp
        .namespace(&stack.client, &format!("capi-{}", contract.version()))
        .await
        .expect("namespace");
    let w = World {
        client: stack.client.clone(),
        ns,
        contract,
        stack,
        kubelets: Arc::new(AtomicBool::new(false)),
    };
    let kubelets = w.spawn_kubelets();
    create_cluster(&w, subnet).await;
    provisioned(&w, subnet).await;
    running(&w).await;
    scale(&w).await;
    remediate(&w).await;
    delete_cluster(&w).await;
    kubelets.abort();
}

/// The hosts, the pool, the workload cluster's objects and a MachineDeployment of three.
async fn create_cluster(w: &World<'_>, subnet: u8) {
    for i in 0..HOSTS {
        for object in objects::host(&format!("host-{i}")) {
            w.create(object).await;
        }
    }
    w.create(objects::ip_pool("pool", subnet)).await;
    let bootstrap = format!("{CLUSTER}-bootstrap");
    w.create(objects::cluster_secret(
        CLUSTER,
        &bootstrap,
        &objects::user_data(CLUSTER),
    ))
    .await;
    // The workload cluster is this control plane, reached through the kubeconfig Secret
    // Cluster API reads (a control plane provider would write it).
    let kubeconfig = std::fs::read_to_string(metal3_testenv::shared().kubeconfig())
        .expect("read the kubeconfig");
    w.create(objects::cluster_secret(
        CLUSTER,
        &format!("{CLUSTER}-kubeconfig"),
        &kubeconfig,
    ))
    .await;
    let c = w.contract;
    w.create(c.cluster(CLUSTER)).await;
    w.create(c.metal3_cluster(CLUSTER)).await;
    w.create(c.data_template(CLUSTER, "data", "pool")).await;
    for object in c.control_plane_machine(CLUSTER, CONTROL_PLANE, &bootstrap, "data") {
        w.create(object).await;
    }
    w.create(c.machine_template("workers", "data")).await;
    w.create(c.machine_deployment(CLUSTER, DEPLOYMENT, 3, "workers", &bootstrap))
        .await;
    // Cluster API saw the provider's Metal3Cluster provisioned.
    w.eventually("infrastructure provisioned", || async {
        let cluster = w
            .v2(CAPI, "Cluster")
            .get(CLUSTER)
            .await
            .map_err(|e| e.to_string())?;
        let status = &cluster.data["status"];
        if status["initialization"]["infrastructureProvisioned"] == true {
            Ok(())
        } else {
            Err(format!("{status}"))
        }
    })
    .await;
}

/// Cluster API cloned the template into three Metal3Machines; each claimed a host, which was
/// provisioned with the bootstrap data and the rendered metadata and network data (addresses
/// from the pool); the Machines are `Provisioned` (with the providerID the provider gave, which
/// the metadata carries for the kubelet), and no Node has joined yet.
async fn provisioned(w: &World<'_>, subnet: u8) {
    w.hosts_settled(4).await;
    let machines = w.machines_in(3, "Provisioned").await;
    let m3ms = w.v2(INFRA, "Metal3Machine");
    let secrets: Api<Secret> = Api::namespaced(w.client.clone(), &w.ns);
    let mut addresses = Vec::new();
    for machine in &machines {
        let m3m_name = machine.data["spec"]["infrastructureRef"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let m3m = m3ms.get(&m3m_name).await.expect("the cloned Metal3Machine");
        assert_eq!(
            m3m.annotations().get("cluster.x-k8s.io/cloned-from-name"),
            Some(&"workers".to_string()),
            "{m3m:?}"
        );
        let host = m3m.annotations()["metal3.io/BareMetalHost"]
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_string();
        let host: BareMetalHost = Api::namespaced(w.client.clone(), &w.ns)
            .get(&host)
            .await
            .expect("the host");
        let user_data = host.spec.user_data.clone().expect("user data");
        assert_eq!(user_data.name.as_deref(), Some("wl-bootstrap"));
        let network = host.spec.network_data.clone().expect("network data");
        let network = secrets
            .get(network.name.as_deref().unwrap_or_default())
            .await
            .expect("the network data Secret");
        let network = common_text(&network, "networkData");
        let meta = host.spec.meta_data.clone().expect("metadata");
        let meta = secrets
            .get(meta.name.as_deref().unwrap_or_default())
            .await
            .expect("the metadata Secret");
        let meta: BTreeMap<String, String> =
            serde_saphyr::from_str(&common_text(&meta, "metaData")).expect("metadata YAML");
        assert_eq!(meta["machine"], machine.name_any(), "{meta:?}");
        let address = meta["provisioning-ip"].clone();
        assert!(
            address.starts_with(&format!("192.168.{subnet}.1")),
            "{meta:?}"
        );
        assert!(network.contains(&address), "{network}");
        assert!(network.contains("192.0.2.53"), "{network}");
        addresses.push(address);
    }
    addresses.sort();
    addresses.dedup();
    assert_eq!(
        addresses.len(),
        3,
        "three different addresses: {addresses:?}"
    );
}

/// Nodes join with the machines' provider IDs and the Machines are `Running`, also as read in
/// the contract they were written in.
async fn running(w: &World<'_>) {
    w.kubelets.store(true, Ordering::SeqCst);
    let machines = w.machines_in(3, "Running").await;
    // The control plane machine's Node makes the control plane initialized.
    w.eventually("the control plane initialized", || async {
        let cluster = w
            .v2(CAPI, "Cluster")
            .get(CLUSTER)
            .await
            .map_err(|e| e.to_string())?;
        let conditions = &cluster.data["status"]["conditions"];
        let initialized = conditions.as_array().is_some_and(|cs| {
            cs.iter()
                .any(|c| c["type"] == "ControlPlaneInitialized" && c["status"] == "True")
        });
        if initialized {
            Ok(())
        } else {
            Err(format!("{conditions}"))
        }
    })
    .await;
    let nodes: Api<Node> = Api::all(w.client.clone());
    for machine in machines {
        assert_eq!(
            machine.data["status"]["initialization"]["infrastructureProvisioned"],
            true
        );
        let id = machine.data["spec"]["providerID"]
            .as_str()
            .unwrap_or_default();
        assert!(id.starts_with(&format!("metal3://{}/host-", w.ns)), "{id}");
        let node = machine.data["status"]["nodeRef"]["name"]
            .as_str()
            .unwrap_or_default();
        let node = nodes.get(node).await.expect("the Machine's Node");
        assert_eq!(
            node.spec.and_then(|s| s.provider_id).as_deref(),
            Some(id),
            "the Node carries the Machine's provider ID"
        );
        let as_written = w
            .as_written(CAPI, "Machine")
            .get(&machine.name_any())
            .await
            .expect("the Machine as written");
        assert_eq!(as_written.data["status"]["phase"], "Running");
        // The failure domain, from the Metal3Machine's status (v1beta2) or spec (v1beta1).
        assert_eq!(
            machine.data["status"]["failureDomain"],
            objects::FAILURE_DOMAIN,
            "{machine:?}"
        );
        assert_eq!(as_written.data["spec"]["providerID"], id);
    }
}

/// Down to one machine (two hosts deprovisioned and free) and back up to three.
async fn scale(w: &World<'_>) {
    let deployments = w.as_written(CAPI, "MachineDeployment");
    w.merge(&deployments, DEPLOYMENT, json!({"spec": {"replicas": 1}}))
        .await;
    w.machines_in(1, "Running").await;
    w.hosts_settled(2).await;
    w.merge(&deployments, DEPLOYMENT, json!({"spec": {"replicas": 3}}))
        .await;
    w.machines_in(3, "Running").await;
    w.hosts_settled(4).await;
}

/// A MachineHealthCheck finds a Node not Ready; its remediation reboots the host, and when the
/// Node stays down, the Machine is replaced.
async fn remediate(w: &World<'_>) {
    let c = w.contract;
    w.create(c.remediation_template("reboot")).await;
    w.create(c.health_check(CLUSTER, "workers", DEPLOYMENT, "reboot"))
        .await;
    let sick = w.live_workers().await.remove(0);
    let sick_name = sick.name_any();
    let m3m = sick.data["spec"]["infrastructureRef"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let nodes: Api<Node> = Api::all(w.client.clone());
    let long_ago = Timestamp::now() - SignedDuration::from_hours(1);
    node_ready(&nodes, &node_name(&w.ns, &m3m), "False", long_ago)
        .await
        .expect("the Node goes not Ready");

    // Cluster API asks the provider to remediate, and the provider reboots the host: it is
    // `Waiting` for the Node once the host went off and came back on.
    let remediations = w.v2(INFRA, "Metal3Remediation");
    w.eventually("rebooted by remediation", || async {
        let r = remediations
            .get_opt(&sick_name)
            .await
            .map_err(|e| e.to_string())?
            .ok_or("no Metal3Remediation yet")?;
        let status = &r.data["status"];
        if status["phase"] == "Waiting" && status["lastRemediated"].is_string() {
            Ok(())
        } else {
            Err(format!("{status}"))
        }
    })
    .await;
    // The reboots (the first and the one retry) do not bring the Node back: after the second
    // 100 s timeout the provider gives up, Cluster API's MachineSet deletes the Machine and a
    // new one takes its place.
    w.eventually_within(3 * WAIT, "the sick machine replaced", || async {
        let machines = w.live_workers().await;
        let names: Vec<String> = machines.iter().map(|m| m.name_any()).collect();
        let running = machines
            .iter()
            .filter(|m| m.data["status"]["phase"] == "Running")
            .count();
        if !names.contains(&sick_name) && running == 3 {
            Ok(())
        } else {
            Err(format!("{names:?}, {running} running"))
        }
    })
    .await;
    w.hosts_settled(4).await;
}

/// Deleting the Cluster deletes its machines, and every host is deprovisioned and free again;
/// the pool's addresses are released.
async fn delete_cluster(w: &World<'_>) {
    w.as_written(CAPI, "Cluster")
        .delete(CLUSTER, &Default::default())
        .await
        .expect("delete the Cluster");
    w.eventually("the Cluster gone", || async {
        match w.v2(CAPI, "Cluster").get_opt(CLUSTER).await {
            Ok(None) => Ok(()),
            Ok(Some(c)) => Err(format!("{}", c.data["status"])),
            Err(e) => Err(e.to_string()),
        }
    })
    .await;
    w.hosts_settled(0).await;
    w.eventually("the addresses released", || async {
        let left = w
            .list(&w.api("ipam.metal3.io", "v1alpha1", "IPAddress"))
            .await;
        if left.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "{:?}",
                left.iter().map(|a| a.name_any()).collect::<Vec<_>>()
            ))
        }
    })
    .await;
    assert!(w.list(&w.v2(INFRA, "Metal3Machine")).await.is_empty());
}

/// The text under `key` of a Secret.
fn common_text(secret: &Secret, key: &str) -> String {
    secret
        .data
        .as_ref()
        .and_then(|d| d.get(key))
        .map(|b| String::from_utf8_lossy(&b.0).into_owned())
        .unwrap_or_default()
}
