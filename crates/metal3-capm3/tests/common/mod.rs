//! The test world of the provider: the shared real control plane with the upstream Cluster API
//! CRDs installed, one namespace per test, the BareMetalHost operator (fixture backend) and the
//! CAPM3 controllers running in-process for that namespace, and helpers that create Clusters,
//! Machines and their bootstrap Secrets as the core Cluster API controllers would, and play
//! the kubelet (a Node appears once a host is provisioned).

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{Node, Secret};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, Patch, PatchParams, PostParams};
use kube::{Client, Resource, ResourceExt};
use metal3_api::v1alpha1::{BareMetalHost, ProvisioningState};
use metal3_capm3::capi::{Cluster, Machine};
use metal3_capm3_api::v1beta2::{Metal3Cluster, Metal3Machine};
use metal3_fixture::Fixture;
use metal3_operator::{Metrics, OperatorConfig};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

/// How long anything may take.
pub const WAIT: Duration = Duration::from_secs(180);

/// Installs, once per test binary, the upstream Cluster API CRDs (read from `shared/`) and
/// ours from `config/crd/capm3` (the BareMetalHost CRDs of `config/crd` come with the control
/// plane).
pub fn install_crds() {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        let cp = metal3_testenv::shared();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async {
                let shared = metal3_api::compat::shared_dir(Path::new(env!("CARGO_MANIFEST_DIR")));
                let mut crds = Vec::new();
                for dir in [
                    shared.join("reference/crds/cluster-api"),
                    metal3_testenv::crd_dir().join("capm3"),
                    metal3_testenv::crd_dir().join("ipam"),
                ] {
                    for entry in
                        std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
                    {
                        let path = entry.expect("entry").path();
                        if path.file_name().is_some_and(|n| n == "kustomization.yaml") {
                            continue;
                        }
                        let text = std::fs::read_to_string(&path).expect("read CRD");
                        let crd: CustomResourceDefinition = serde_saphyr::from_str(&text)
                            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                        crds.push(crd);
                    }
                }
                let client = cp.client().await.expect("client");
                metal3_testenv::install_crd_objects(&client, &crds)
                    .await
                    .expect("the CRDs install");
                // Established is not yet served everywhere: wait until every new kind lists.
                for crd in &crds {
                    let version = crd
                        .spec
                        .versions
                        .iter()
                        .find(|v| v.storage)
                        .map(|v| v.name.clone())
                        .unwrap_or_default();
                    let resource = ApiResource {
                        group: crd.spec.group.clone(),
                        version: version.clone(),
                        api_version: format!("{}/{version}", crd.spec.group),
                        kind: crd.spec.names.kind.clone(),
                        plural: crd.spec.names.plural.clone(),
                    };
                    let api: Api<DynamicObject> = Api::all_with(client.clone(), &resource);
                    let deadline = Instant::now() + WAIT;
                    while api.list(&Default::default()).await.is_err() {
                        assert!(
                            Instant::now() < deadline,
                            "{} is never served",
                            resource.plural
                        );
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                }
            });
        })
        .join()
        .expect("CRD install thread");
    });
}

/// BareMetalHost operator timings for tests.
pub fn fast_machine() -> metal3_hoststate::Config {
    metal3_hoststate::Config {
        max_provisioning_retries: 5,
        backoff_unit: Duration::from_millis(500),
        missing_secret_retry: Duration::from_millis(300),
        idle_poll: Duration::from_secs(2),
        power_poll: Duration::from_millis(300),
        preprovisioning_wait: Duration::from_millis(500),
    }
}

/// CAPM3 timings for tests.
pub fn fast_capm3(ns: &str) -> metal3_capm3::Config {
    metal3_capm3::Config {
        namespace: Some(ns.to_string()),
        requeue: Duration::from_millis(500),
        error_retry: Duration::from_millis(500),
        remediation_poll: Duration::from_millis(300),
        label_sync_interval: Duration::from_millis(500),
        concurrency: 4,
        out_of_service_taint: Some(true),
        ..metal3_capm3::Config::default()
    }
}

/// One test's world.
pub struct Env {
    pub client: Client,
    pub ns: String,
    pub fixture: Fixture,
}

impl Env {
    /// A namespace with the operator and the provider running in it.
    pub async fn new(prefix: &str) -> Self {
        let env = Self::bare(prefix).await;
        env.start_operator();
        env.start_capm3(fast_capm3(&env.ns));
        env
    }

    /// A namespace, with the Cluster API CRDs installed, and nothing running.
    pub async fn bare(prefix: &str) -> Self {
        // `RUST_LOG=metal3_capm3=debug` shows the controllers' logs of failing tests.
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
        install_crds();
        let cp = metal3_testenv::shared();
        let client = cp.client().await.expect("client");
        let ns = cp.namespace(&client, prefix).await.expect("namespace");
        Self {
            client,
            ns,
            fixture: Fixture::new(),
        }
    }

    /// Runs the BareMetalHost operator for this namespace (until the test ends).
    pub fn start_operator(&self) {
        let config = OperatorConfig {
            namespace: Some(self.ns.clone()),
            machine: fast_machine(),
            concurrency: 4,
            instance: Some("test".into()),
            dependency_retry: Duration::from_millis(500),
            ..OperatorConfig::default()
        };
        tokio::spawn(metal3_operator::run(
            self.client.clone(),
            Arc::new(self.fixture.clone()),
            config,
            Arc::new(Metrics::default()),
            std::future::pending::<()>(),
        ));
    }

    /// Runs (another instance of) the CAPM3 controllers with `config`.
    pub fn start_capm3(&self, config: metal3_capm3::Config) {
        self.start_capm3_as(self.client.clone(), config);
    }

    /// Runs the CAPM3 controllers with `client`.
    pub fn start_capm3_as(&self, client: Client, config: metal3_capm3::Config) {
        tokio::spawn(metal3_capm3::run(
            client,
            config,
            std::future::pending::<()>(),
        ));
    }

    pub fn api<K>(&self) -> Api<K>
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope>,
        <K as Resource>::DynamicType: Default,
    {
        Api::namespaced(self.client.clone(), &self.ns)
    }

    /// Creates `value` as it is (through an untyped API, so fields our read-only views of
    /// Cluster API kinds do not know are kept) and returns it as `K`.
    pub async fn create<K>(&self, value: Value) -> K
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
            + Clone
            + DeserializeOwned
            + serde::Serialize
            + std::fmt::Debug,
    {
        let mut value = value;
        value["apiVersion"] = json!(K::api_version(&()));
        value["kind"] = json!(K::kind(&()));
        let obj: DynamicObject =
            serde_json::from_value(value.clone()).unwrap_or_else(|e| panic!("{e}: {value:#}"));
        let api: Api<DynamicObject> =
            Api::namespaced_with(self.client.clone(), &self.ns, &ApiResource::erase::<K>(&()));
        let created = api
            .create(&PostParams::default(), &obj)
            .await
            .unwrap_or_else(|e| panic!("create {}: {e}", value["metadata"]["name"]));
        serde_json::from_value(serde_json::to_value(created).expect("json"))
            .expect("decodes as its kind")
    }

    pub async fn merge<K>(&self, name: &str, patch: Value) -> K
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope>
            + Clone
            + DeserializeOwned
            + std::fmt::Debug,
        <K as Resource>::DynamicType: Default,
    {
        self.api::<K>()
            .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .unwrap_or_else(|e| panic!("patch {name}: {e}"))
    }

    pub async fn merge_status<K>(&self, name: &str, patch: Value) -> K
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope>
            + Clone
            + DeserializeOwned
            + std::fmt::Debug,
        <K as Resource>::DynamicType: Default,
    {
        self.api::<K>()
            .patch_status(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .unwrap_or_else(|e| panic!("patch status {name}: {e}"))
    }

    pub async fn delete<K>(&self, name: &str)
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope>
            + Clone
            + DeserializeOwned
            + std::fmt::Debug,
        <K as Resource>::DynamicType: Default,
    {
        match self.api::<K>().delete(name, &DeleteParams::default()).await {
            Ok(_) | Err(kube::Error::Api(_)) => {}
            Err(e) => panic!("delete {name}: {e}"),
        }
    }

    /// Polls `name` until `pred` holds, or panics after [`WAIT`] with the last state seen.
    pub async fn wait<K>(&self, name: &str, what: &str, pred: impl Fn(&K) -> bool) -> K
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope>
            + Clone
            + DeserializeOwned
            + serde::Serialize
            + std::fmt::Debug,
        <K as Resource>::DynamicType: Default,
    {
        let deadline = Instant::now() + WAIT;
        let mut last = None;
        while Instant::now() < deadline {
            if let Some(obj) = self.api::<K>().get_opt(name).await.expect("get") {
                if pred(&obj) {
                    return obj;
                }
                last = Some(obj);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "{name}: not {what} after {WAIT:?}; last seen: {}",
            serde_json::to_string_pretty(&last).unwrap_or_default()
        );
    }

    /// Polls until `name` is gone.
    pub async fn wait_gone<K>(&self, name: &str)
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope>
            + Clone
            + DeserializeOwned
            + serde::Serialize
            + std::fmt::Debug,
        <K as Resource>::DynamicType: Default,
    {
        let deadline = Instant::now() + WAIT;
        let mut last = None;
        while Instant::now() < deadline {
            match self.api::<K>().get_opt(name).await.expect("get") {
                None => return,
                Some(obj) => last = Some(obj),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "{name} still exists after {WAIT:?}: {}",
            serde_json::to_string_pretty(&last).unwrap_or_default()
        );
    }

    /// A BareMetalHost (with its BMC Secret) carrying `labels`.
    pub async fn host(&self, name: &str, labels: Value) -> BareMetalHost {
        let secret = format!("{name}-bmc");
        self.create::<Secret>(json!({
            "metadata": {"name": secret},
            "stringData": {"username": "admin", "password": format!("pw-{name}")},
        }))
        .await;
        self.create::<BareMetalHost>(json!({
            "apiVersion": "metal3.io/v1alpha1", "kind": "BareMetalHost",
            "metadata": {"name": name, "labels": labels},
            "spec": {
                "online": false,
                "bmc": {"address": format!("redfish://192.0.2.1/redfish/v1/Systems/{name}"), "credentialsName": secret},
            },
        }))
        .await
    }

    /// Waits until `hosts` are all available.
    pub async fn hosts_available(&self, hosts: &[&str]) {
        for h in hosts {
            self.wait::<BareMetalHost>(h, "available", |h| {
                h.provisioning_state() == ProvisioningState::Available
            })
            .await;
        }
    }

    /// A Cluster with its Metal3Cluster, as the Cluster API's cluster controller has them
    /// (owner reference, cluster label, infrastructure provisioned once the Metal3Cluster is),
    /// and the workload kubeconfig Secret pointing at this test control plane.
    pub async fn cluster(&self, name: &str) -> Cluster {
        self.cluster_labelled(name, json!({})).await
    }

    /// Like [`Env::cluster`], with extra `labels` on the Metal3Cluster.
    pub async fn cluster_labelled(&self, name: &str, labels: Value) -> Cluster {
        let mut m3c_labels = json!({"cluster.x-k8s.io/cluster-name": name});
        if let Some(extra) = labels.as_object() {
            for (k, v) in extra {
                m3c_labels[k] = v.clone();
            }
        }
        let cluster = self
            .create::<Cluster>(json!({
                "apiVersion": "cluster.x-k8s.io/v1beta2", "kind": "Cluster",
                "metadata": {"name": name},
                "spec": {"infrastructureRef": {"apiGroup": "infrastructure.cluster.x-k8s.io", "kind": "Metal3Cluster", "name": name}},
            }))
            .await;
        self.create::<Metal3Cluster>(json!({
            "apiVersion": "infrastructure.cluster.x-k8s.io/v1beta2", "kind": "Metal3Cluster",
            "metadata": {
                "name": name,
                "labels": m3c_labels,
                "ownerReferences": [owner(&cluster, true)],
            },
            "spec": {"controlPlaneEndpoint": {"host": "192.0.2.10", "port": 6443}, "cloudProviderEnabled": false,
                     "failureDomains": [{"name": "fd-a"}, {"name": "fd-b", "controlPlane": true}]},
        }))
        .await;
        let kubeconfig =
            std::fs::read_to_string(metal3_testenv::shared().kubeconfig()).expect("kubeconfig");
        self.create::<Secret>(json!({
            "metadata": {"name": format!("{name}-kubeconfig"), "labels": {"cluster.x-k8s.io/cluster-name": name}},
            "stringData": {"value": kubeconfig},
        }))
        .await;
        self.wait::<Metal3Cluster>(name, "provisioned", |m| {
            m.status
                .as_ref()
                .is_some_and(|s| s.initialization.is_provisioned())
        })
        .await;
        // The Cluster controller's part: copy provisioned and the endpoint.
        self.merge::<Cluster>(
            name,
            json!({"spec": {"controlPlaneEndpoint": {"host": "192.0.2.10", "port": 6443}}}),
        )
        .await;
        self.merge_status::<Cluster>(
            name,
            json!({"status": {"initialization": {"infrastructureProvisioned": true}}}),
        )
        .await
    }

    /// A Machine of `cluster` with its bootstrap data Secret and its Metal3Machine (of
    /// `m3m_spec`), as the Machine controller has them; `owner` owns the Machine (a
    /// MachineSet, say).
    pub async fn machine(
        &self,
        cluster: &str,
        name: &str,
        m3m_spec: Value,
        owner_ref: Option<Value>,
    ) -> (Machine, Metal3Machine) {
        self.machine_labelled(cluster, name, m3m_spec, owner_ref, json!({}))
            .await
    }

    /// Like [`Env::machine`], with extra `labels` on the Metal3Machine.
    pub async fn machine_labelled(
        &self,
        cluster: &str,
        name: &str,
        m3m_spec: Value,
        owner_ref: Option<Value>,
        labels: Value,
    ) -> (Machine, Metal3Machine) {
        let mut m3m_labels = json!({"cluster.x-k8s.io/cluster-name": cluster});
        if let Some(extra) = labels.as_object() {
            for (k, v) in extra {
                m3m_labels[k] = v.clone();
            }
        }
        let bootstrap = format!("{name}-bootstrap");
        self.create::<Secret>(json!({
            "metadata": {"name": bootstrap, "labels": {"cluster.x-k8s.io/cluster-name": cluster}},
            "type": "cluster.x-k8s.io/secret",
            "stringData": {"value": user_data(name), "format": "cloud-config"},
        }))
        .await;
        let mut meta = json!({"name": name, "labels": {"cluster.x-k8s.io/cluster-name": cluster}});
        if let Some(o) = owner_ref {
            meta["ownerReferences"] = json!([o]);
        }
        let machine = self
            .create::<Machine>(json!({
                "apiVersion": "cluster.x-k8s.io/v1beta2", "kind": "Machine",
                "metadata": meta,
                "spec": {
                    "clusterName": cluster,
                    "bootstrap": {"dataSecretName": bootstrap},
                    "infrastructureRef": {"apiGroup": "infrastructure.cluster.x-k8s.io", "kind": "Metal3Machine", "name": name},
                },
            }))
            .await;
        let m3m = self
            .create::<Metal3Machine>(json!({
                "apiVersion": "infrastructure.cluster.x-k8s.io/v1beta2", "kind": "Metal3Machine",
                "metadata": {
                    "name": name,
                    "labels": m3m_labels,
                    "ownerReferences": [owner(&machine, true)],
                },
                "spec": m3m_spec,
            }))
            .await;
        (machine, m3m)
    }

    /// The kubelet's and the Machine controller's part once `m3m`'s host is provisioned: a
    /// Node labelled with the host's UID joins, and after the Metal3Machine is provisioned
    /// the Machine gets its providerID and nodeRef. Returns the provisioned Metal3Machine.
    pub async fn join(&self, m3m: &str) -> Metal3Machine {
        let with_host = self
            .wait::<Metal3Machine>(m3m, "associated", |m| {
                m.annotations().contains_key("metal3.io/BareMetalHost")
            })
            .await;
        let host_name = host_of(&with_host);
        let host = self
            .wait::<BareMetalHost>(&host_name, "provisioned", |h| {
                h.provisioning_state() == ProvisioningState::Provisioned
            })
            .await;
        let node_name = node_name(&self.ns, &host_name);
        let nodes: Api<Node> = Api::all(self.client.clone());
        let node: Node = serde_json::from_value(json!({
            "metadata": {"name": node_name, "labels": {
                "metal3.io/uuid": host.metadata.uid,
                "kubernetes.io/hostname": node_name,
            }},
        }))
        .expect("node");
        nodes
            .create(&PostParams::default(), &node)
            .await
            .expect("create node");
        let provisioned = self
            .wait::<Metal3Machine>(m3m, "provisioned", |m| {
                m.status
                    .as_ref()
                    .is_some_and(|s| s.initialization.is_provisioned())
                    && !m.spec.provider_id.is_empty()
            })
            .await;
        // The Machine controller finds the Node by providerID, then records it.
        let deadline = Instant::now() + WAIT;
        loop {
            let node = nodes.get(&node_name).await.expect("node");
            let id = node.spec.and_then(|s| s.provider_id).unwrap_or_default();
            if id == provisioned.spec.provider_id {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "Node {node_name} never got providerID {}",
                provisioned.spec.provider_id
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let machine = machine_of(&provisioned);
        self.merge::<Machine>(
            &machine,
            json!({"spec": {"providerID": provisioned.spec.provider_id}}),
        )
        .await;
        self.merge_status::<Machine>(
            &machine,
            json!({"status": {"nodeRef": {"name": node_name}}}),
        )
        .await;
        provisioned
    }

    /// The Node of a host, from the workload cluster (this control plane).
    pub async fn node(&self, host: &str) -> Option<Node> {
        let nodes: Api<Node> = Api::all(self.client.clone());
        nodes
            .get_opt(&node_name(&self.ns, host))
            .await
            .expect("get node")
    }

    /// Deletes the Node of a host (the Machine controller does when it deletes a Machine).
    pub async fn delete_node(&self, host: &str) {
        let nodes: Api<Node> = Api::all(self.client.clone());
        nodes
            .delete(&node_name(&self.ns, host), &DeleteParams::default())
            .await
            .expect("delete node");
    }

    /// The BareMetalHosts of this namespace.
    pub async fn hosts(&self) -> Vec<BareMetalHost> {
        self.api::<BareMetalHost>()
            .list(&Default::default())
            .await
            .expect("list hosts")
            .items
    }
}

/// The bootstrap data a Machine gets (a stand-in for kubeadm's cloud-config).
pub fn user_data(machine: &str) -> String {
    format!(
        "#cloud-config\nhostname: {machine}\nruncmd:\n  - kubeadm join --token not-a-real-secret\n"
    )
}

/// Nodes are cluster-wide: their names carry the test namespace.
pub fn node_name(ns: &str, host: &str) -> String {
    format!("{ns}-{host}")
}

/// A reference to `obj` from its dependant.
pub fn owner<K: Resource<DynamicType = ()>>(obj: &K, controller: bool) -> Value {
    json!({
        "apiVersion": K::api_version(&()),
        "kind": K::kind(&()),
        "name": obj.meta().name,
        "uid": obj.meta().uid,
        "controller": controller,
        "blockOwnerDeletion": controller,
    })
}

/// The host named by a Metal3Machine's annotation.
pub fn host_of(m3m: &Metal3Machine) -> String {
    let value = m3m
        .annotations()
        .get("metal3.io/BareMetalHost")
        .cloned()
        .unwrap_or_default();
    value.rsplit('/').next().unwrap_or_default().to_string()
}

/// The Machine owning a Metal3Machine.
pub fn machine_of(m3m: &Metal3Machine) -> String {
    m3m.owner_references()
        .iter()
        .find(|o| o.kind == "Machine")
        .map(|o| o.name.clone())
        .unwrap_or_default()
}

/// The image every test machine deploys.
pub fn image_spec() -> Value {
    json!({"image": {"url": "http://images.example/ubuntu.qcow2", "checksum": "abc123", "checksumType": "sha256", "diskFormat": "qcow2"}})
}

/// The value of key `key` of Secret data, as text.
pub fn secret_text(secret: &Secret, key: &str) -> String {
    let data: BTreeMap<String, ByteString> = secret.data.clone().unwrap_or_default();
    data.get(key)
        .map(|b| String::from_utf8_lossy(&b.0).into_owned())
        .unwrap_or_default()
}

/// Condition `kind` of a Metal3Machine, as `(status, reason)`.
pub fn condition(m3m: &Metal3Machine, kind: &str) -> Option<(String, String)> {
    m3m.status
        .as_ref()?
        .conditions
        .iter()
        .find(|c| c.r#type == kind)
        .map(|c| (format!("{:?}", c.status), c.reason.clone()))
}
