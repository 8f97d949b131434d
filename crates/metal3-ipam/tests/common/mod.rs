//! The test world of the IP address manager: the shared real control plane with our IPAM CRDs
//! (`config/crd/ipam`) and Cluster API's Cluster and IPAM CRDs (read from `shared/`)
//! installed, one namespace per test, the manager running in-process for that namespace, and
//! helpers that make pools and claims of both kinds and wait for their answers.

#![allow(dead_code)]

use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, PostParams};
use kube::{Client, Resource, ResourceExt};
use metal3_ipam::capi;
use metal3_ipam_api::v1alpha1::{IPAddress, IPClaim, IPPool};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

/// How long anything may take.
pub const WAIT: Duration = Duration::from_secs(90);

/// Cluster API CRDs the manager reads or writes.
const CAPI_CRDS: &[&str] = &[
    "cluster.x-k8s.io_clusters.yaml",
    "ipam.cluster.x-k8s.io_ipaddressclaims.yaml",
    "ipam.cluster.x-k8s.io_ipaddresses.yaml",
];

fn read_crd(path: &Path) -> CustomResourceDefinition {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Installs, once per test binary, our IPAM CRDs and Cluster API's, and waits until every
/// kind lists.
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
                let mut crds: Vec<CustomResourceDefinition> = CAPI_CRDS
                    .iter()
                    .map(|f| read_crd(&shared.join("reference/crds/cluster-api").join(f)))
                    .collect();
                let ours = metal3_testenv::crd_dir().join("ipam");
                for entry in std::fs::read_dir(&ours).expect("config/crd/ipam") {
                    let path = entry.expect("entry").path();
                    if path.file_name().is_some_and(|n| n != "kustomization.yaml") {
                        crds.push(read_crd(&path));
                    }
                }
                let client = cp.client().await.expect("client");
                metal3_testenv::install_crd_objects(&client, &crds)
                    .await
                    .expect("the CRDs install");
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

/// Manager timings for tests.
pub fn fast(ns: &str) -> metal3_ipam::Config {
    metal3_ipam::Config {
        namespace: Some(ns.to_string()),
        requeue: Duration::from_millis(300),
        error_retry: Duration::from_millis(300),
        concurrency: 4,
        capi: Some(true),
        ..metal3_ipam::Config::default()
    }
}

/// One test's world.
pub struct Env {
    pub client: Client,
    pub ns: String,
}

impl Env {
    /// A namespace with one manager running in it.
    pub async fn new(prefix: &str) -> Self {
        let env = Self::bare(prefix).await;
        env.start(fast(&env.ns));
        env
    }

    /// A namespace, with the CRDs installed, and nothing running.
    pub async fn bare(prefix: &str) -> Self {
        // `RUST_LOG=metal3_ipam=debug` shows the manager's logs of failing tests.
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
        install_crds();
        let cp = metal3_testenv::shared();
        let client = cp.client().await.expect("client");
        let ns = cp.namespace(&client, prefix).await.expect("namespace");
        Self { client, ns }
    }

    /// Runs (another instance of) the manager with `config`, on a client of its own, until
    /// the test ends; returns its counters.
    pub fn start(&self, config: metal3_ipam::Config) -> Arc<metal3_ipam::Metrics> {
        let metrics = Arc::new(metal3_ipam::Metrics::default());
        let handle = metrics.clone();
        tokio::spawn(async move {
            let client = metal3_testenv::shared().client().await.expect("client");
            metal3_ipam::run(client, config, handle, std::future::pending::<()>()).await;
        });
        metrics
    }

    /// Runs the manager with `config` on `client` (e.g. one with fewer rights).
    pub fn start_as(&self, client: Client, config: metal3_ipam::Config) {
        let metrics = Arc::new(metal3_ipam::Metrics::default());
        tokio::spawn(metal3_ipam::run(
            client,
            config,
            metrics,
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

    /// Creates `value` (kind `K`, in this namespace).
    pub async fn create<K>(&self, value: Value) -> K
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
            + Clone
            + std::fmt::Debug
            + serde::Serialize
            + DeserializeOwned,
    {
        let mut value = value;
        value["apiVersion"] = json!(K::api_version(&()));
        value["kind"] = json!(K::kind(&()));
        let obj: K = serde_json::from_value(value).expect("object of the kind");
        self.api::<K>()
            .create(&PostParams::default(), &obj)
            .await
            .unwrap_or_else(|e| panic!("create {}: {e}", K::kind(&())))
    }

    /// An IPPool `name` with `spec`.
    pub async fn pool(&self, name: &str, spec: Value) -> IPPool {
        self.create(json!({"metadata": {"name": name}, "spec": spec}))
            .await
    }

    /// An IPClaim `name` on pool `pool`, with `metadata` merged in.
    pub async fn claim(&self, name: &str, pool: &str, metadata: Value) -> IPClaim {
        let mut meta = json!({"name": name});
        json_patch::merge(&mut meta, &metadata);
        self.create(json!({"metadata": meta, "spec": {"pool": {"name": pool}}}))
            .await
    }

    /// A Cluster API IPAddressClaim `name` on IPPool `pool`, with `metadata` merged in.
    pub async fn capi_claim(
        &self,
        name: &str,
        pool: &str,
        metadata: Value,
    ) -> capi::IPAddressClaim {
        let mut meta = json!({"name": name});
        json_patch::merge(&mut meta, &metadata);
        let claim = json!({
            "apiVersion": "ipam.cluster.x-k8s.io/v1beta2", "kind": "IPAddressClaim",
            "metadata": meta,
            "spec": {"poolRef": {"apiGroup": "ipam.metal3.io", "kind": "IPPool", "name": pool}},
        });
        let api: Api<DynamicObject> = Api::namespaced_with(
            self.client.clone(),
            &self.ns,
            &ApiResource::erase::<capi::IPAddressClaim>(&()),
        );
        let obj: DynamicObject = serde_json::from_value(claim).expect("claim");
        let created = api
            .create(&PostParams::default(), &obj)
            .await
            .expect("create IPAddressClaim");
        serde_json::from_value(serde_json::to_value(created).expect("json")).expect("claim")
    }

    /// Waits until `ok` holds for object `name` of kind `K`; returns it.
    pub async fn wait<K>(&self, name: &str, what: &str, ok: impl Fn(&K) -> bool) -> K
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
            + Clone
            + std::fmt::Debug
            + DeserializeOwned,
    {
        let api = self.api::<K>();
        let deadline = Instant::now() + WAIT;
        loop {
            let current = api.get_opt(name).await.expect("get");
            if let Some(obj) = &current
                && ok(obj)
            {
                return obj.clone();
            }
            assert!(
                Instant::now() < deadline,
                "{} {name} never {what}: {current:#?}",
                K::kind(&())
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until object `name` of kind `K` is gone.
    pub async fn wait_gone<K>(&self, name: &str)
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
            + Clone
            + std::fmt::Debug
            + DeserializeOwned,
    {
        let api = self.api::<K>();
        let deadline = Instant::now() + WAIT;
        while let Some(obj) = api.get_opt(name).await.expect("get") {
            assert!(
                Instant::now() < deadline,
                "{} {name} is never gone: {obj:#?}",
                K::kind(&())
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Deletes object `name` of kind `K`.
    pub async fn delete<K>(&self, name: &str)
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
            + Clone
            + std::fmt::Debug
            + DeserializeOwned,
    {
        self.api::<K>()
            .delete(name, &DeleteParams::default())
            .await
            .unwrap_or_else(|e| panic!("delete {} {name}: {e}", K::kind(&())));
    }

    /// The IPAddress given to IPClaim `claim`, once it has one.
    pub async fn address_of(&self, claim: &str) -> IPAddress {
        let answered = self
            .wait::<IPClaim>(claim, "answered", |c| {
                c.status.as_ref().is_some_and(|s| s.address.is_some())
            })
            .await;
        let name = answered
            .status
            .and_then(|s| s.address)
            .map(|a| a.name)
            .unwrap_or_default();
        self.api::<IPAddress>()
            .get(&name)
            .await
            .expect("the IPAddress named in the status")
    }

    /// The Cluster API IPAddress given to IPAddressClaim `claim`, once it has one.
    pub async fn capi_address_of(&self, claim: &str) -> capi::IPAddress {
        let answered = self
            .wait::<capi::IPAddressClaim>(claim, "answered", |c| {
                c.status.as_ref().is_some_and(|s| s.address_ref.is_some())
            })
            .await;
        let name = answered
            .status
            .and_then(|s| s.address_ref)
            .map(|a| a.name)
            .unwrap_or_default();
        self.api::<capi::IPAddress>()
            .get(&name)
            .await
            .expect("the IPAddress named in the status")
    }

    /// The error message of IPClaim `claim`, once it has one.
    pub async fn error_of(&self, claim: &str) -> String {
        self.wait::<IPClaim>(claim, "failed", |c| {
            c.status.as_ref().is_some_and(|s| s.error_message.is_some())
        })
        .await
        .status
        .and_then(|s| s.error_message)
        .unwrap_or_default()
    }

    /// The `Ready` condition of IPAddressClaim `claim`, once it is false: (reason, message).
    pub async fn capi_failure_of(&self, claim: &str) -> (String, String) {
        let ready = |c: &capi::IPAddressClaim| {
            c.status
                .as_ref()
                .and_then(|s| s.conditions.iter().find(|c| c.r#type == "Ready").cloned())
        };
        let failed = self
            .wait::<capi::IPAddressClaim>(claim, "failed", |c| {
                ready(c).is_some_and(|r| r.status == metal3_api::v1alpha1::ConditionStatus::False)
            })
            .await;
        let condition = ready(&failed).expect("Ready condition");
        (condition.reason, condition.message)
    }
}

/// Whether `obj` carries finalizer `name`.
pub fn has_finalizer<K: ResourceExt>(obj: &K, name: &str) -> bool {
    obj.finalizers().iter().any(|f| f == name)
}
