//! One scenario's namespace on the stack: untyped access to any kind (objects are written in
//! the scenario's contract and read back as v1beta2, or as written), polling with a deadline
//! that fails with the processes' logs, and the kubelets the test plays.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Node;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, ApiResource, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::{Client, ResourceExt};
use metal3_api::v1alpha1::{BareMetalHost, ProvisioningState};
use serde_json::{Value, json};

use crate::objects::{Contract, INFRA};
use crate::stack::Stack;

/// clusterctl's annotation on hosts in use.
const BLOCK_MOVE: &str = "clusterctl.cluster.x-k8s.io/block-move";

/// How long any one step may take (two cores run the whole stack).
pub const WAIT: Duration = Duration::from_secs(300);

/// A kind's resource, its plural as Cluster API's and the provider's CRDs spell them.
pub fn resource(group: &str, version: &str, kind: &str) -> ApiResource {
    let api_version = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    ApiResource {
        group: group.into(),
        version: version.into(),
        api_version,
        kind: kind.into(),
        plural: match kind.to_lowercase() {
            k if k.ends_with('s') => format!("{k}es"),
            k => format!("{k}s"),
        },
    }
}

pub struct World<'a> {
    pub client: Client,
    pub ns: String,
    pub contract: Contract,
    pub stack: &'a Stack,
    /// Whether the test's kubelets join Nodes for provisioned machines.
    pub kubelets: Arc<AtomicBool>,
}

impl World<'_> {
    pub fn api(&self, group: &str, version: &str, kind: &str) -> Api<DynamicObject> {
        Api::namespaced_with(
            self.client.clone(),
            &self.ns,
            &resource(group, version, kind),
        )
    }

    /// The kind `kind` of `group` at v1beta2.
    pub fn v2(&self, group: &str, kind: &str) -> Api<DynamicObject> {
        self.api(group, "v1beta2", kind)
    }

    /// The kind `kind` of `group` in the scenario's contract.
    pub fn as_written(&self, group: &str, kind: &str) -> Api<DynamicObject> {
        self.api(group, self.contract.version(), kind)
    }

    /// Creates `value` (any kind) in the namespace.
    pub async fn create(&self, value: Value) -> DynamicObject {
        let api_version = value["apiVersion"].as_str().unwrap_or_default().to_string();
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", &api_version));
        let kind = value["kind"].as_str().unwrap_or_default();
        let api = self.api(group, version, kind);
        let obj: DynamicObject =
            serde_json::from_value(value.clone()).unwrap_or_else(|e| panic!("{e}: {value:#}"));
        api.create(&PostParams::default(), &obj)
            .await
            .unwrap_or_else(|e| panic!("[{:?}] create {kind}: {e}\n{value:#}", self.contract))
    }

    pub async fn merge(&self, api: &Api<DynamicObject>, name: &str, patch: Value) {
        api.patch(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .unwrap_or_else(|e| panic!("[{:?}] patch {name}: {e}", self.contract));
    }

    pub async fn list(&self, api: &Api<DynamicObject>) -> Vec<DynamicObject> {
        api.list(&ListParams::default())
            .await
            .unwrap_or_else(|e| panic!("[{:?}] list: {e}", self.contract))
            .items
    }

    pub async fn hosts(&self) -> Vec<BareMetalHost> {
        Api::<BareMetalHost>::namespaced(self.client.clone(), &self.ns)
            .list(&ListParams::default())
            .await
            .expect("list hosts")
            .items
    }

    /// Polls `check` until it gives a value; after [`WAIT`], fails with the last reason it
    /// gave and the tail of every process's log.
    pub async fn eventually<T, F>(&self, what: &str, check: impl FnMut() -> F) -> T
    where
        F: Future<Output = Result<T, String>>,
    {
        self.eventually_within(WAIT, what, check).await
    }

    /// [`World::eventually`] with a deadline of `wait`.
    pub async fn eventually_within<T, F>(
        &self,
        wait: Duration,
        what: &str,
        mut check: impl FnMut() -> F,
    ) -> T
    where
        F: Future<Output = Result<T, String>>,
    {
        let deadline = Instant::now() + wait;
        loop {
            match check().await {
                Ok(v) => return v,
                Err(last) if Instant::now() > deadline => panic!(
                    "[{:?}, namespace {}] not {what} after {wait:?}: {last}\n{}",
                    self.contract,
                    self.ns,
                    self.stack.logs()
                ),
                Err(_) => tokio::time::sleep(Duration::from_millis(500)).await,
            }
        }
    }

    /// The worker Machines (those of the MachineDeployment), read as v1beta2.
    pub async fn workers(&self) -> Vec<DynamicObject> {
        let machines = self.list(&self.v2(crate::objects::CAPI, "Machine")).await;
        machines
            .into_iter()
            .filter(|m| m.labels().contains_key("pool"))
            .collect()
    }

    /// The worker Machines that are not being deleted.
    pub async fn live_workers(&self) -> Vec<DynamicObject> {
        let mut machines = self.workers().await;
        machines.retain(|m| m.metadata.deletion_timestamp.is_none());
        machines
    }

    /// Waits until exactly `count` worker Machines exist, all in phase `phase`; returns them.
    pub async fn machines_in(&self, count: usize, phase: &str) -> Vec<DynamicObject> {
        self.eventually(&format!("{count} machines {phase}"), || async {
            let all = self.workers().await;
            let phases: Vec<String> = all
                .iter()
                .map(|m| format!("{}: {}", m.name_any(), m.data["status"]["phase"]))
                .collect();
            let ok = all.len() == count && all.iter().all(|m| m.data["status"]["phase"] == phase);
            if ok {
                Ok(all)
            } else {
                Err(format!("{phases:?}"))
            }
        })
        .await
    }

    /// Waits until `provisioned` hosts are provisioned and every other host is available
    /// without a consumer.
    pub async fn hosts_settled(&self, provisioned: usize) {
        self.eventually(
            &format!("{provisioned} hosts provisioned, the rest available"),
            || async {
                let hosts = self.hosts().await;
                let states: Vec<String> = hosts
                    .iter()
                    .map(|h| {
                        format!(
                            "{}: {} {:?}",
                            h.name_any(),
                            h.provisioning_state().as_str(),
                            h.spec.consumer_ref.as_ref().map(|c| &c.name)
                        )
                    })
                    .collect();
                let used = hosts
                    .iter()
                    .filter(|h| {
                        h.provisioning_state() == ProvisioningState::Provisioned
                            && h.spec.consumer_ref.is_some()
                    })
                    .count();
                // Released as upstream releases them: nothing left of the cluster's move guard.
                let free = hosts
                    .iter()
                    .filter(|h| {
                        h.provisioning_state() == ProvisioningState::Available
                            && h.spec.consumer_ref.is_none()
                            && !h.annotations().contains_key(BLOCK_MOVE)
                    })
                    .count();
                if used == provisioned && used + free == hosts.len() {
                    Ok(())
                } else {
                    Err(format!("{states:?}"))
                }
            },
        )
        .await
    }

    /// Plays the kubelets of this namespace until the test ends: once a Metal3Machine's host
    /// is provisioned (and the kubelets are on), a Ready Node named after the Metal3Machine
    /// joins, labelled with the host's UID as the machine's image would label it. Each
    /// machine's Node joins once (what happens to it later is the test's or the provider's).
    pub fn spawn_kubelets(&self) -> tokio::task::JoinHandle<()> {
        let (client, ns, on) = (self.client.clone(), self.ns.clone(), self.kubelets.clone());
        let machines: Api<DynamicObject> = Api::namespaced_with(
            client.clone(),
            &ns,
            &resource(INFRA, "v1beta2", "Metal3Machine"),
        );
        let hosts: Api<BareMetalHost> = Api::namespaced(client.clone(), &ns);
        let nodes: Api<Node> = Api::all(client);
        tokio::spawn(async move {
            let mut joined = BTreeSet::new();
            loop {
                tokio::time::sleep(Duration::from_millis(300)).await;
                if !on.load(Ordering::SeqCst) {
                    continue;
                }
                let Ok(list) = machines.list(&ListParams::default()).await else {
                    continue;
                };
                for m3m in list.items {
                    let name = m3m.name_any();
                    let host = m3m
                        .annotations()
                        .get("metal3.io/BareMetalHost")
                        .and_then(|h| h.rsplit('/').next().map(str::to_string));
                    let (false, Some(host)) = (joined.contains(&name), host) else {
                        continue;
                    };
                    let Ok(host) = hosts.get(&host).await else {
                        continue;
                    };
                    if host.provisioning_state() != ProvisioningState::Provisioned {
                        continue;
                    }
                    if join(
                        &nodes,
                        &node_name(&ns, &name),
                        &host.uid().unwrap_or_default(),
                    )
                    .await
                    .is_ok()
                    {
                        joined.insert(name);
                    }
                }
            }
        })
    }
}

/// Nodes are cluster-wide: their names carry the namespace.
pub fn node_name(ns: &str, m3m: &str) -> String {
    format!("{ns}-{m3m}")
}

/// A Node joins and reports Ready, with no memory, disk or PID pressure.
async fn join(nodes: &Api<Node>, name: &str, host_uid: &str) -> kube::Result<()> {
    let node: Node = serde_json::from_value(json!({
        "metadata": {"name": name, "labels": {"metal3.io/uuid": host_uid, "kubernetes.io/hostname": name}},
    }))
    .expect("node");
    match nodes.create(&PostParams::default(), &node).await {
        Ok(_) => {}
        Err(kube::Error::Api(s)) if s.code == 409 => {}
        Err(e) => return Err(e),
    }
    node_ready(nodes, name, "True", Timestamp::now()).await?;
    let now = serde_json::to_value(Time(Timestamp::now())).expect("a time");
    let healthy = |kind: &str| {
        json!({"type": kind, "status": "False", "reason": format!("KubeletHasNo{kind}"), "message": "",
               "lastHeartbeatTime": now, "lastTransitionTime": now})
    };
    let conditions = ["MemoryPressure", "DiskPressure", "PIDPressure"].map(healthy);
    let patch = json!({"status": {"conditions": conditions}});
    nodes
        .patch_status(name, &PatchParams::default(), &Patch::Strategic(&patch))
        .await
        .map(|_| ())
}

/// Sets the Node's Ready condition to `status`, since `since`.
pub async fn node_ready(
    nodes: &Api<Node>,
    name: &str,
    status: &str,
    since: Timestamp,
) -> kube::Result<()> {
    let time = |t: Timestamp| serde_json::to_value(Time(t)).expect("a time");
    let now = time(Timestamp::now());
    let patch = json!({"status": {"conditions": [{
        "type": "Ready", "status": status, "reason": if status == "True" { "KubeletReady" } else { "KubeletNotReady" },
        "message": "", "lastHeartbeatTime": now, "lastTransitionTime": time(since),
    }]}});
    nodes
        .patch_status(name, &PatchParams::default(), &Patch::Strategic(&patch))
        .await
        .map(|_| ())
}
