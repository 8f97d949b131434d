//! The operator against a real kube-apiserver, with the fixture backend: the upstream end-to-end
//! scenarios, each in its own namespace with its own operator instance, so they run in parallel.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::api::events::v1::Event;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::{Client, ResourceExt};
use metal3_api::consts::*;
use metal3_api::v1alpha1::ConditionStatus;
use metal3_api::v1alpha1::{
    BMCEventSubscription, BareMetalHost, DataImage, FirmwareSchema, HardwareData,
    HostFirmwareComponents, HostFirmwareSettings, HostUpdatePolicy, ImageFormatKind,
    OperationalStatus, PreprovisioningImage, ProvisioningState as S,
};
use metal3_fixture::{Behaviour, Failure, Fixture, Operation};
use metal3_operator::{Metrics, OperatorConfig};
use serde_json::{Value, json};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

const WAIT: Duration = Duration::from_secs(60);

struct Env {
    client: Client,
    ns: String,
    fixture: Fixture,
    config: OperatorConfig,
    operator: Option<(oneshot::Sender<()>, JoinHandle<()>)>,
}

fn fast_machine() -> metal3_hoststate::Config {
    metal3_hoststate::Config {
        max_provisioning_retries: 5,
        backoff_unit: Duration::from_millis(500),
        missing_secret_retry: Duration::from_millis(300),
        idle_poll: Duration::from_secs(2),
        power_poll: Duration::from_millis(500),
        preprovisioning_wait: Duration::from_millis(500),
    }
}

impl Env {
    async fn new(prefix: &str) -> Self {
        Self::new_with(prefix, |_| {}).await
    }

    /// A namespace and an operator for it, with `adjust` applied to the test configuration.
    async fn new_with(prefix: &str, adjust: impl FnOnce(&mut OperatorConfig)) -> Self {
        let cp = metal3_testenv::shared();
        let client = cp.client().await.expect("client");
        let ns = cp.namespace(&client, prefix).await.expect("namespace");
        let mut config = OperatorConfig {
            namespace: Some(ns.clone()),
            machine: fast_machine(),
            concurrency: 4,
            instance: Some("test".into()),
            dependency_retry: Duration::from_millis(500),
            ..OperatorConfig::default()
        };
        adjust(&mut config);
        let mut env = Self {
            client,
            ns,
            fixture: Fixture::new(),
            config,
            operator: None,
        };
        env.start_operator();
        env
    }

    fn start_operator(&mut self) {
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(metal3_operator::run(
            self.client.clone(),
            Arc::new(self.fixture.clone()),
            self.config.clone(),
            Arc::new(Metrics::default()),
            async move {
                let _ = rx.await;
            },
        ));
        self.operator = Some((tx, task));
    }

    async fn stop_operator(&mut self) {
        if let Some((tx, task)) = self.operator.take() {
            let _ = tx.send(());
            task.await.expect("operator task");
        }
    }

    fn hosts(&self) -> Api<BareMetalHost> {
        Api::namespaced(self.client.clone(), &self.ns)
    }

    fn secrets(&self) -> Api<Secret> {
        Api::namespaced(self.client.clone(), &self.ns)
    }

    async fn secret(&self, name: &str, username: &str, password: &str) {
        let mut data = BTreeMap::new();
        data.insert(
            "username".to_string(),
            ByteString(username.as_bytes().to_vec()),
        );
        data.insert(
            "password".to_string(),
            ByteString(password.as_bytes().to_vec()),
        );
        let secret = Secret {
            metadata: kube::api::ObjectMeta {
                name: Some(name.into()),
                ..Default::default()
            },
            data: Some(data),
            ..Default::default()
        };
        self.secrets()
            .create(&PostParams::default(), &secret)
            .await
            .expect("create secret");
    }

    async fn host(&self, name: &str, spec: Value, annotations: Value) -> BareMetalHost {
        let obj: BareMetalHost = serde_json::from_value(json!({
            "apiVersion": "metal3.io/v1alpha1",
            "kind": "BareMetalHost",
            "metadata": {"name": name, "annotations": annotations},
            "spec": spec,
        }))
        .expect("host json");
        self.hosts()
            .create(&PostParams::default(), &obj)
            .await
            .expect("create host")
    }

    async fn patch_spec(&self, name: &str, spec: Value) {
        self.hosts()
            .patch(
                name,
                &PatchParams::default(),
                &Patch::Merge(&json!({"spec": spec})),
            )
            .await
            .expect("patch spec");
    }

    async fn annotate(&self, name: &str, annotations: Value) {
        self.hosts()
            .patch(
                name,
                &PatchParams::default(),
                &Patch::Merge(&json!({"metadata": {"annotations": annotations}})),
            )
            .await
            .expect("annotate");
    }

    /// Polls the host until `pred` holds (deadline [`WAIT`]).
    async fn wait_for(
        &self,
        name: &str,
        what: &str,
        pred: impl Fn(&BareMetalHost) -> bool,
    ) -> BareMetalHost {
        let deadline = Instant::now() + WAIT;
        let mut last = None;
        while Instant::now() < deadline {
            if let Some(h) = self.hosts().get_opt(name).await.expect("get host") {
                if pred(&h) {
                    return h;
                }
                last = Some(h);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "{name}: not {what} after {WAIT:?}; last seen status: {}",
            serde_json::to_string_pretty(&last.and_then(|h| h.status)).unwrap_or_default()
        );
    }

    async fn wait_state(&self, name: &str, state: S) -> BareMetalHost {
        self.wait_for(name, state.as_str(), |h| h.provisioning_state() == state)
            .await
    }

    async fn wait_gone(&self, name: &str) {
        let deadline = Instant::now() + WAIT;
        while Instant::now() < deadline {
            if self.hosts().get_opt(name).await.expect("get").is_none() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("{name} still exists after {WAIT:?}");
    }

    async fn event_reasons(&self) -> Vec<String> {
        let events: Api<Event> = Api::namespaced(self.client.clone(), &self.ns);
        events
            .list(&ListParams::default())
            .await
            .expect("events")
            .items
            .into_iter()
            .filter_map(|e| e.reason)
            .collect()
    }

    async fn wait_event(&self, reason: &str) {
        let deadline = Instant::now() + WAIT;
        while Instant::now() < deadline {
            if self.event_reasons().await.iter().any(|r| r == reason) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "no {reason} event after {WAIT:?}: {:?}",
            self.event_reasons().await
        );
    }
}

fn bmc_spec(secret: &str) -> Value {
    json!({
        "online": true,
        "bootMACAddress": "52:54:00:12:34:56",
        "bmc": {
            "address": "redfish-virtualmedia://192.0.2.1/redfish/v1/Systems/1",
            "credentialsName": secret,
        },
    })
}

fn op_status(h: &BareMetalHost) -> OperationalStatus {
    h.operational_status()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registers_inspects_and_becomes_available() {
    let env = Env::new("available").await;
    env.secret("bmc", "admin", "s3cret-pw").await;
    env.host("worker-0", bmc_spec("bmc"), json!({})).await;
    let host = env.wait_state("worker-0", S::Available).await;
    let status = host.status.clone().expect("status");
    assert_eq!(status.operational_status, OperationalStatus::Ok);
    assert!(status.provisioning.id.starts_with("fixture-"));
    assert!(status.last_updated.is_some());
    assert!(
        host.finalizers()
            .contains(&BAREMETALHOST_FINALIZER.to_string())
    );
    let hw = status.hardware.clone().expect("hardware in status");
    assert_eq!(hw.nics[0].mac, "52:54:00:12:34:56");
    let ready = status
        .conditions
        .iter()
        .find(|c| c.r#type == "AvailableForProvisioning")
        .expect("condition");
    assert_eq!(ready.reason, "Available");

    let hd: Api<HardwareData> = Api::namespaced(env.client.clone(), &env.ns);
    let hd = hd.get("worker-0").await.expect("HardwareData created");
    assert_eq!(hd.spec.hardware.as_ref(), Some(&hw));
    assert!(
        hd.finalizers()
            .contains(&HARDWARE_DATA_FINALIZER.to_string())
    );
    assert_eq!(hd.owner_references()[0].uid, host.uid().expect("uid"));

    let secret = env.secrets().get("bmc").await.expect("secret");
    assert_eq!(
        secret
            .labels()
            .get(SECRET_ENVIRONMENT_LABEL)
            .map(String::as_str),
        Some(SECRET_ENVIRONMENT_VALUE)
    );
    assert!(secret.finalizers().contains(&SECRET_FINALIZER.to_string()));
    assert_eq!(secret.owner_references()[0].name, "worker-0");

    for reason in ["Registered", "BMCAccessValidated", "InspectionComplete"] {
        env.wait_event(reason).await;
    }
    // No credential anywhere in what we wrote.
    let written = serde_json::to_string(&host).expect("json");
    assert!(!written.contains("s3cret-pw"));
    let events: Api<Event> = Api::namespaced(env.client.clone(), &env.ns);
    let all = serde_json::to_string(
        &events
            .list(&ListParams::default())
            .await
            .expect("events")
            .items,
    )
    .expect("json");
    assert!(!all.contains("s3cret-pw"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preprovisioning_network_data_reaches_the_backend_and_the_config_drive() {
    let env = Env::new("preprov-net").await;
    env.secret("bmc", "admin", "pw").await;
    let network = |name: &str, text: &str| Secret {
        metadata: kube::api::ObjectMeta {
            name: Some(name.into()),
            ..Default::default()
        },
        string_data: Some([("networkData".to_string(), text.to_string())].into()),
        ..Default::default()
    };
    for (name, text) in [
        ("ramdisk-net", "links: [ramdisk]"),
        ("os-net", "links: [os]"),
    ] {
        env.secrets()
            .create(&PostParams::default(), &network(name, text))
            .await
            .expect("create secret");
    }
    let mut spec = bmc_spec("bmc");
    spec["preprovisioningNetworkDataName"] = json!("ramdisk-net");
    env.host("static", spec, json!({})).await;
    env.wait_state("static", S::Available).await;
    let node = env.fixture.node(&env.ns, "static").expect("node");
    assert_eq!(node.preprovisioning_network_data, "links: [ramdisk]");

    // Without spec.networkData, the config drive gets the preprovisioning network data.
    env.patch_spec(
        "static",
        json!({"image": {"url": "http://images.example/os.qcow2", "checksum": "0123456789abcdef0123456789abcdef", "checksumType": "md5"}}),
    )
    .await;
    env.wait_state("static", S::Provisioned).await;
    let node = env.fixture.node(&env.ns, "static").expect("node");
    assert_eq!(
        node.provisioned_config
            .and_then(|c| c.network_data)
            .as_deref(),
        Some("links: [ramdisk]")
    );

    // spec.networkData wins when both are set.
    env.patch_spec("static", json!({"image": null})).await;
    env.wait_state("static", S::Available).await;
    env.patch_spec(
        "static",
        json!({
            "networkData": {"name": "os-net"},
            "image": {"url": "http://images.example/os2.qcow2", "checksum": "0123456789abcdef0123456789abcdef", "checksumType": "md5"},
        }),
    )
    .await;
    env.wait_state("static", S::Provisioned).await;
    let node = env.fixture.node(&env.ns, "static").expect("node");
    assert_eq!(
        node.provisioned_config
            .and_then(|c| c.network_data)
            .as_deref(),
        Some("links: [os]")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unmanaged_hosts_and_a_missing_secret_recover() {
    let env = Env::new("unmanaged").await;
    env.host("bare", json!({"online": false}), json!({})).await;
    let h = env.wait_state("bare", S::Unmanaged).await;
    assert_eq!(op_status(&h), OperationalStatus::Discovered);

    env.host("nosecret", bmc_spec("later"), json!({})).await;
    let h = env
        .wait_for("nosecret", "registration error", |h| {
            h.status
                .as_ref()
                .is_some_and(|s| s.error_message.contains("\"later\""))
        })
        .await;
    assert_eq!(op_status(&h), OperationalStatus::Error);
    assert_eq!(h.provisioning_state(), S::Registering);
    env.secret("later", "admin", "pw").await;
    let h = env.wait_state("nosecret", S::Available).await;
    assert_eq!(h.status.expect("status").error_count, 0);

    // Adding BMC details to the unmanaged host starts managing it.
    env.secret("bare-bmc", "admin", "pw").await;
    env.patch_spec("bare", bmc_spec("bare-bmc")).await;
    env.wait_state("bare", S::Available).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provision_deprovision_and_delete() {
    let env = Env::new("provision").await;
    env.secret("bmc", "admin", "pw").await;
    env.host("w", bmc_spec("bmc"), json!({})).await;
    env.wait_state("w", S::Available).await;
    env.patch_spec(
        "w",
        json!({"image": {"url": "http://images.example/os.qcow2", "checksum": "abc"}}),
    )
    .await;
    let h = env
        .wait_for("w", "provisioned and on", |h| {
            h.provisioning_state() == S::Provisioned
                && h.status.as_ref().is_some_and(|s| s.powered_on)
        })
        .await;
    let status = h.status.expect("status");
    assert_eq!(
        status.provisioning.image.url,
        "http://images.example/os.qcow2"
    );
    env.wait_event("ProvisioningComplete").await;

    env.patch_spec("w", json!({"image": null})).await;
    env.wait_state("w", S::Available).await;
    env.wait_event("DeprovisioningComplete").await;

    env.hosts()
        .delete("w", &DeleteParams::default())
        .await
        .expect("delete");
    env.wait_gone("w").await;
    let secret = env.secrets().get("bmc").await.expect("secret");
    assert!(
        !secret.finalizers().contains(&SECRET_FINALIZER.to_string()),
        "secret released"
    );
    let hd: Api<HardwareData> = Api::namespaced(env.client.clone(), &env.ns);
    if let Some(hd) = hd.get_opt("w").await.expect("get hd") {
        assert!(
            hd.finalizers().is_empty(),
            "HardwareData released for garbage collection"
        );
    }
    assert_eq!(
        env.fixture
            .calls(&env.ns, "w")
            .started(Operation::Provision),
        1
    );
    assert!(!env.fixture.node(&env.ns, "w").expect("node").registered);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn detach_then_move_the_host_with_its_status() {
    let env = Env::new("detach").await;
    env.secret("bmc", "admin", "pw").await;
    let mut spec = bmc_spec("bmc");
    spec["image"] = json!({"url": "http://images.example/os.qcow2", "checksum": "abc"});
    env.host("mover", spec.clone(), json!({})).await;
    env.wait_state("mover", S::Provisioned).await;

    env.annotate("mover", json!({DETACHED_ANNOTATION: ""}))
        .await;
    let h = env
        .wait_for("mover", "detached", |h| {
            op_status(h) == OperationalStatus::Detached
        })
        .await;
    assert_eq!(h.provisioning_state(), S::Provisioned);

    // Re-attaching takes the host back as it is.
    let patch = json!({"metadata": {"annotations": {DETACHED_ANNOTATION: null}}});
    env.hosts()
        .patch("mover", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .expect("re-attach");
    env.wait_for("mover", "re-attached", |h| {
        op_status(h) == OperationalStatus::Ok
    })
    .await;
    assert_eq!(
        env.fixture
            .calls(&env.ns, "mover")
            .started(Operation::Provision),
        1
    );
    env.annotate("mover", json!({DETACHED_ANNOTATION: ""}))
        .await;
    let h = env
        .wait_for("mover", "detached again", |h| {
            op_status(h) == OperationalStatus::Detached
        })
        .await;
    let saved = serde_json::to_string(&h.status).expect("status json");

    // Deleting a detached host skips deprovisioning.
    env.hosts()
        .delete("mover", &DeleteParams::default())
        .await
        .expect("delete");
    env.wait_gone("mover").await;
    assert_eq!(
        env.fixture
            .calls(&env.ns, "mover")
            .started(Operation::Deprovision),
        0
    );

    // Recreated elsewhere with its status: provisioned again without a new deployment.
    env.host("mover", spec, json!({STATUS_ANNOTATION: saved}))
        .await;
    let h = env
        .wait_for("mover", "restored and re-registered", |h| {
            h.provisioning_state() == S::Provisioned
                && !h.annotations().contains_key(STATUS_ANNOTATION)
                && op_status(h) == OperationalStatus::Ok
        })
        .await;
    assert_eq!(
        h.status.expect("status").provisioning.image.url,
        "http://images.example/os.qcow2"
    );
    assert_eq!(
        env.fixture
            .calls(&env.ns, "mover")
            .started(Operation::Provision),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_restart_mid_provisioning_never_provisions_twice() {
    let mut env = Env::new("restart").await;
    env.fixture.configure(
        &env.ns,
        "slow",
        Behaviour {
            polls: 30,
            poll_interval_ms: 100,
            ..Behaviour::default()
        },
    );
    env.secret("bmc", "admin", "pw").await;
    let mut spec = bmc_spec("bmc");
    spec["externallyProvisioned"] = json!(false);
    env.host("slow", spec, json!({})).await;
    env.wait_state("slow", S::Available).await;
    env.patch_spec(
        "slow",
        json!({"image": {"url": "http://images.example/os.qcow2", "checksum": "abc"}}),
    )
    .await;
    env.wait_state("slow", S::Provisioning).await;
    env.stop_operator().await;
    env.start_operator();
    env.wait_state("slow", S::Provisioned).await;
    assert_eq!(
        env.fixture
            .calls(&env.ns, "slow")
            .started(Operation::Provision),
        1
    );
    env.stop_operator().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reboot_annotation_power_cycles_the_host() {
    let env = Env::new("reboot").await;
    env.secret("bmc", "admin", "pw").await;
    let mut spec = bmc_spec("bmc");
    spec["image"] = json!({"url": "http://images.example/os.qcow2", "checksum": "abc"});
    env.host("r", spec, json!({})).await;
    env.wait_for("r", "provisioned and on", |h| {
        h.provisioning_state() == S::Provisioned && h.status.as_ref().is_some_and(|s| s.powered_on)
    })
    .await;
    env.annotate("r", json!({REBOOT_ANNOTATION: ""})).await;
    env.wait_for("r", "rebooted", |h| {
        !h.annotations().contains_key(REBOOT_ANNOTATION)
            && h.status.as_ref().is_some_and(|s| s.powered_on)
    })
    .await;
    let calls = env.fixture.calls(&env.ns, "r");
    assert!(calls.completed(Operation::PowerOff) >= 1);
    assert!(calls.completed(Operation::PowerOn) >= 1);
    env.wait_event("PowerOff").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_rotation_is_validated_at_once() {
    let env = Env::new("rotate").await;
    env.secret("bmc", "admin", "old").await;
    env.host("rot", bmc_spec("bmc"), json!({})).await;
    let h = env.wait_state("rot", S::Available).await;
    let before = h
        .status
        .expect("status")
        .good_credentials
        .credentials_version;
    let patch = json!({"stringData": {"password": "new"}});
    env.secrets()
        .patch("bmc", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .expect("rotate");
    let h = env
        .wait_for("rot", "new credentials validated", |h| {
            h.status.as_ref().is_some_and(|s| {
                !s.good_credentials.credentials_version.is_empty()
                    && s.good_credentials.credentials_version != before
            })
        })
        .await;
    assert_eq!(h.provisioning_state(), S::Available);
    let registered = env
        .fixture
        .calls(&env.ns, "rot")
        .started(Operation::Register);
    assert!(
        registered >= 2,
        "registered again with the new credentials ({registered})"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_show_back_off_and_recover() {
    let env = Env::new("errors").await;
    let mut failures = BTreeMap::new();
    failures.insert(
        Operation::Inspect,
        Failure {
            message: "inspection ramdisk timed out".into(),
            times: 1,
        },
    );
    env.fixture.configure(
        &env.ns,
        "flaky",
        Behaviour {
            failures,
            ..Behaviour::default()
        },
    );
    env.secret("bmc", "admin", "pw").await;
    env.host("flaky", bmc_spec("bmc"), json!({})).await;
    let h = env
        .wait_for("flaky", "inspection error", |h| {
            h.status
                .as_ref()
                .is_some_and(|s| s.error_message == "inspection ramdisk timed out")
        })
        .await;
    assert_eq!(op_status(&h), OperationalStatus::Error);
    env.wait_event("InspectionError").await;
    let h = env.wait_state("flaky", S::Available).await;
    let status = h.status.expect("status");
    assert_eq!(status.error_count, 0);
    assert!(status.error_message.is_empty());

    // The backend goes away: the host says so, then recovers by itself.
    env.fixture.configure(
        &env.ns,
        "flaky",
        Behaviour {
            unreachable: true,
            ..Behaviour::default()
        },
    );
    let h = env
        .wait_for("flaky", "reporting the outage", |h| {
            h.status
                .as_ref()
                .is_some_and(|s| s.error_message.starts_with("cannot reach the provisioner"))
        })
        .await;
    assert_eq!(op_status(&h), OperationalStatus::Error);
    env.wait_event("PowerManagementError").await;
    env.fixture
        .configure(&env.ns, "flaky", Behaviour::default());
    env.wait_for("flaky", "recovered", |h| {
        h.status
            .as_ref()
            .is_some_and(|s| s.error_message.is_empty())
            && op_status(h) == OperationalStatus::Ok
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paused_hosts_are_left_alone_and_externally_provisioned_hosts_adopted() {
    let env = Env::new("paused").await;
    env.secret("bmc", "admin", "pw").await;
    env.host(
        "paused",
        bmc_spec("bmc"),
        json!({PAUSED_ANNOTATION: "metal3.io/capm3"}),
    )
    .await;
    let mut spec = bmc_spec("bmc");
    spec["externallyProvisioned"] = json!(true);
    env.host("ext", spec, json!({})).await;
    env.wait_state("ext", S::ExternallyProvisioned).await;
    // The operator has long reconciled everything it was going to.
    let paused = env.hosts().get("paused").await.expect("get");
    assert!(paused.status.is_none(), "{:?}", paused.status);
    assert!(paused.finalizers().is_empty());
    assert_eq!(
        env.fixture
            .calls(&env.ns, "ext")
            .started(Operation::Inspect),
        0
    );

    // Unpausing resumes.
    let patch = json!({"metadata": {"annotations": {PAUSED_ANNOTATION: null}}});
    env.hosts()
        .patch("paused", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .expect("unpause");
    env.wait_state("paused", S::Available).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reinspection_and_external_inspection_by_annotation() {
    let env = Env::new("inspect").await;
    env.secret("bmc", "admin", "pw").await;
    env.host("again", bmc_spec("bmc"), json!({})).await;
    env.wait_state("again", S::Available).await;
    env.annotate("again", json!({INSPECT_ANNOTATION: ""})).await;
    env.wait_for("again", "re-inspected", |h| {
        h.provisioning_state() == S::Available && !h.annotations().contains_key(INSPECT_ANNOTATION)
    })
    .await;
    let deadline = Instant::now() + WAIT;
    while env
        .fixture
        .calls(&env.ns, "again")
        .completed(Operation::Inspect)
        < 2
    {
        assert!(
            Instant::now() < deadline,
            "second inspection never completed"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let mut spec = bmc_spec("bmc");
    spec["inspectionMode"] = json!("disabled");
    let details = json!({"cpu": {"arch": "aarch64", "count": 4}, "ramMebibytes": 2048});
    env.host(
        "edge",
        spec,
        json!({HARDWARE_DETAILS_ANNOTATION: details.to_string()}),
    )
    .await;
    let h = env.wait_state("edge", S::Available).await;
    assert!(!h.annotations().contains_key(HARDWARE_DETAILS_ANNOTATION));
    assert_eq!(
        h.status
            .expect("status")
            .hardware
            .expect("hardware")
            .cpu
            .arch,
        "aarch64"
    );
    assert_eq!(
        env.fixture
            .calls(&env.ns, "edge")
            .started(Operation::Inspect),
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn firmware_settings_are_reported_validated_and_applied() {
    let env = Env::new("firmware").await;
    env.secret("bmc", "admin", "pw").await;
    env.host("bios", bmc_spec("bmc"), json!({})).await;
    env.wait_state("bios", S::Available).await;
    let settings: Api<HostFirmwareSettings> = Api::namespaced(env.client.clone(), &env.ns);
    let wait_hfs = |what: &'static str, pred: fn(&HostFirmwareSettings) -> bool| {
        let settings = settings.clone();
        async move {
            let deadline = Instant::now() + WAIT;
            loop {
                if let Some(h) = settings.get_opt("bios").await.expect("get hfs")
                    && pred(&h)
                {
                    return h;
                }
                assert!(
                    Instant::now() < deadline,
                    "HostFirmwareSettings never {what}"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    let hfs = wait_hfs("reported", |h| {
        h.status
            .as_ref()
            .is_some_and(|s| s.settings.get("BootMode").map(String::as_str) == Some("Uefi"))
    })
    .await;
    let status = hfs.status.clone().expect("status");
    let schema_ref = status.schema.expect("schema reference");
    assert!(schema_ref.name.starts_with("schema-"));
    let schemas: Api<FirmwareSchema> = Api::namespaced(env.client.clone(), &env.ns);
    let schema = schemas.get(&schema_ref.name).await.expect("FirmwareSchema");
    assert!(schema.spec.schema.contains_key("ProcVirtualization"));
    assert_eq!(schema.owner_references()[0].uid, hfs.uid().expect("uid"));
    let components: Api<HostFirmwareComponents> = Api::namespaced(env.client.clone(), &env.ns);
    let hfc = components
        .get("bios")
        .await
        .expect("HostFirmwareComponents");
    assert_eq!(hfc.status.expect("status").components.len(), 2);

    // A valid change goes through preparing and is read back.
    settings
        .patch(
            "bios",
            &PatchParams::default(),
            &Patch::Merge(&json!({"spec": {"settings": {"ProcVirtualization": "Disabled"}}})),
        )
        .await
        .expect("request a setting");
    wait_hfs("applied", |h| {
        let s = h.status.as_ref();
        s.is_some_and(|s| {
            s.settings.get("ProcVirtualization").map(String::as_str) == Some("Disabled")
                && s.conditions
                    .iter()
                    .any(|c| c.r#type == "ChangeDetected" && c.status == ConditionStatus::False)
        })
    })
    .await;
    env.wait_state("bios", S::Available).await;
    assert_eq!(
        env.fixture
            .calls(&env.ns, "bios")
            .completed(Operation::Prepare),
        1
    );

    // An invalid request is reported, never applied.
    settings
        .patch(
            "bios",
            &PatchParams::default(),
            &Patch::Merge(&json!({"spec": {"settings": {"TurboBoost": "On"}}})),
        )
        .await
        .expect("request an unknown setting");
    let hfs = wait_hfs("invalid", |h| {
        h.status.as_ref().is_some_and(|s| {
            s.conditions
                .iter()
                .any(|c| c.r#type == "Valid" && c.reason == "ConfigurationError")
        })
    })
    .await;
    let valid = hfs
        .status
        .expect("status")
        .conditions
        .into_iter()
        .find(|c| c.r#type == "Valid")
        .expect("Valid");
    assert!(
        valid
            .message
            .contains("Setting TurboBoost is invalid, it is not in the associated schema"),
        "{}",
        valid.message
    );
    env.wait_event("ValidationFailed").await;
    assert_eq!(
        env.fixture
            .calls(&env.ns, "bios")
            .completed(Operation::Prepare),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn firmware_read_back_unchanged_writes_nothing() {
    let env = Env::new_with("fwpoll", |c| {
        c.firmware_poll = metal3_operator::firmware::FirmwarePoll {
            idle: Duration::from_millis(500),
            pending: Duration::from_millis(500),
        };
    })
    .await;
    env.secret("bmc", "admin", "pw").await;
    env.host("quiet", bmc_spec("bmc"), json!({})).await;
    env.wait_state("quiet", S::Available).await;
    let settings: Api<HostFirmwareSettings> = Api::namespaced(env.client.clone(), &env.ns);
    let components: Api<HostFirmwareComponents> = Api::namespaced(env.client.clone(), &env.ns);
    let reads = || {
        env.fixture
            .calls(&env.ns, "quiet")
            .completed(Operation::ReadFirmware)
    };
    // Settled: the status written by the first reading is there.
    let deadline = Instant::now() + WAIT;
    let (hfs, hfc) = loop {
        let hfs = settings.get_opt("quiet").await.expect("get hfs");
        let hfc = components.get_opt("quiet").await.expect("get hfc");
        if let (Some(s), Some(c)) = (hfs, hfc)
            && s.status.as_ref().is_some_and(|st| !st.settings.is_empty())
            && c.status
                .as_ref()
                .is_some_and(|st| !st.components.is_empty())
        {
            break (s, c);
        }
        assert!(Instant::now() < deadline, "firmware status not written");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let before = reads();
    // Three more readings of the same firmware.
    let deadline = Instant::now() + WAIT;
    while reads() < before + 3 {
        assert!(
            Instant::now() < deadline,
            "firmware not read back: {} readings",
            reads()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let hfs_now = settings.get("quiet").await.expect("get hfs");
    let hfc_now = components.get("quiet").await.expect("get hfc");
    assert_eq!(
        hfs_now.resource_version(),
        hfs.resource_version(),
        "HostFirmwareSettings rewritten although nothing changed: {:?} then {:?}",
        hfs.status,
        hfs_now.status
    );
    assert_eq!(
        hfc_now.resource_version(),
        hfc.resource_version(),
        "HostFirmwareComponents rewritten although nothing changed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shared_firmware_schema_lists_a_bounded_set_of_owners_and_comes_back() {
    let env = Env::new_with("schema", |c| {
        c.firmware_poll = metal3_operator::firmware::FirmwarePoll {
            idle: Duration::from_secs(1),
            pending: Duration::from_secs(1),
        };
    })
    .await;
    env.secret("bmc", "admin", "pw").await;
    let count = metal3_operator::firmware::SCHEMA_OWNERS + 3;
    let names: Vec<String> = (0..count).map(|i| format!("model-{i}")).collect();
    for name in &names {
        env.host(name, bmc_spec("bmc"), json!({})).await;
    }
    let settings: Api<HostFirmwareSettings> = Api::namespaced(env.client.clone(), &env.ns);
    let schemas: Api<FirmwareSchema> = Api::namespaced(env.client.clone(), &env.ns);
    // Every host of the model names the same schema.
    let deadline = Instant::now() + WAIT;
    let schema_name = loop {
        let listed = settings.list(&ListParams::default()).await.expect("list");
        let refs: Vec<String> = listed
            .items
            .iter()
            .filter_map(|h| Some(h.status.as_ref()?.schema.as_ref()?.name.clone()))
            .collect();
        if refs.len() == count {
            assert!(refs.iter().all(|r| *r == refs[0]), "{refs:?}");
            break refs[0].clone();
        }
        assert!(
            Instant::now() < deadline,
            "only {} of {count} HostFirmwareSettings name a schema",
            refs.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let schema = schemas.get(&schema_name).await.expect("schema");
    assert_eq!(
        schema.owner_references().len(),
        metal3_operator::firmware::SCHEMA_OWNERS
    );
    // Gone (as when its listed owners are all deleted): the hosts that name it recreate it.
    schemas
        .delete(&schema_name, &DeleteParams::default())
        .await
        .expect("delete schema");
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(s) = schemas.get_opt(&schema_name).await.expect("get")
            && s.metadata.deletion_timestamp.is_none()
            && !s.owner_references().is_empty()
        {
            assert!(s.spec.schema.contains_key("ProcVirtualization"));
            break;
        }
        assert!(
            Instant::now() < deadline,
            "schema {schema_name} not recreated"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bmc_event_subscriptions_are_created_once_and_removed_on_delete() {
    let env = Env::new("events").await;
    env.secret("bmc", "admin", "pw").await;
    env.host("sub", bmc_spec("bmc"), json!({})).await;
    env.wait_state("sub", S::Available).await;
    let headers: Secret = serde_json::from_value(json!({
        "metadata": {"name": "hook-headers"},
        "stringData": {"Authorization": "Bearer token-123"},
    }))
    .expect("secret");
    env.secrets()
        .create(&PostParams::default(), &headers)
        .await
        .expect("headers secret");
    let subs: Api<BMCEventSubscription> = Api::namespaced(env.client.clone(), &env.ns);
    let make = |name: &str, host: &str| -> BMCEventSubscription {
        serde_json::from_value(json!({
            "apiVersion": "metal3.io/v1alpha1", "kind": "BMCEventSubscription",
            "metadata": {"name": name},
            "spec": {
                "hostName": host,
                "destination": "https://events.example/hook",
                "context": "rack-7",
                "httpHeadersRef": {"name": "hook-headers", "namespace": env.ns},
            },
        }))
        .expect("subscription")
    };
    subs.create(&PostParams::default(), &make("alerts", "sub"))
        .await
        .expect("create subscription");
    subs.create(&PostParams::default(), &make("orphan", "no-such-host"))
        .await
        .expect("create orphan subscription");

    let deadline = Instant::now() + WAIT;
    let (alerts, orphan) = loop {
        let a = subs.get("alerts").await.expect("get");
        let o = subs.get("orphan").await.expect("get");
        let done = a
            .status
            .as_ref()
            .is_some_and(|s| s.subscription_id.is_some())
            && o.status.as_ref().is_some_and(|s| s.error.is_some());
        if done {
            break (a, o);
        }
        assert!(
            Instant::now() < deadline,
            "subscriptions not handled: {:?} {:?}",
            a.status,
            o.status
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        alerts
            .finalizers()
            .contains(&BMC_EVENT_SUBSCRIPTION_FINALIZER.to_string())
    );
    let error = orphan.status.and_then(|s| s.error).unwrap_or_default();
    assert!(error.contains("\"no-such-host\" does not exist"), "{error}");
    let node = env.fixture.node(&env.ns, "sub").expect("node");
    let made = node
        .subscriptions
        .values()
        .next()
        .expect("one subscription");
    assert_eq!(made.destination, "https://events.example/hook");
    assert_eq!(made.context, "rack-7");
    assert_eq!(
        made.http_headers.get("Authorization").map(String::as_str),
        Some("Bearer token-123")
    );
    // Headers are secrets: never in the subscription's status.
    assert!(
        !serde_json::to_string(&alerts.status)
            .expect("json")
            .contains("token-123")
    );

    subs.delete("alerts", &DeleteParams::default())
        .await
        .expect("delete");
    let deadline = Instant::now() + WAIT;
    while subs.get_opt("alerts").await.expect("get").is_some() {
        assert!(Instant::now() < deadline, "subscription not finalized");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        env.fixture
            .node(&env.ns, "sub")
            .expect("node")
            .subscriptions
            .is_empty()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_images_attach_and_detach_across_reboots() {
    let env = Env::new("dataimage").await;
    env.secret("bmc", "admin", "pw").await;
    let mut spec = bmc_spec("bmc");
    spec["image"] = json!({"url": "http://images.example/os.qcow2", "checksum": "abc"});
    env.host("di", spec, json!({})).await;
    env.wait_for("di", "provisioned and on", |h| {
        h.provisioning_state() == S::Provisioned && h.status.as_ref().is_some_and(|s| s.powered_on)
    })
    .await;
    let images: Api<DataImage> = Api::namespaced(env.client.clone(), &env.ns);
    let image: DataImage = serde_json::from_value(json!({
        "apiVersion": "metal3.io/v1alpha1", "kind": "DataImage",
        "metadata": {"name": "di"},
        "spec": {"url": "http://images.example/config.iso"},
    }))
    .expect("data image");
    images
        .create(&PostParams::default(), &image)
        .await
        .expect("create");
    let wait_image = |what: &'static str, pred: fn(Option<&DataImage>) -> bool| {
        let images = images.clone();
        async move {
            let deadline = Instant::now() + WAIT;
            loop {
                let d = images.get_opt("di").await.expect("get");
                if pred(d.as_ref()) {
                    return d;
                }
                assert!(
                    Instant::now() < deadline,
                    "DataImage never {what}: {:?}",
                    d.map(|d| d.status)
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    wait_image("finalized", |d| {
        d.is_some_and(|d| d.finalizers().contains(&DATA_IMAGE_FINALIZER.to_string()))
    })
    .await;
    env.annotate("di", json!({REBOOT_ANNOTATION: ""})).await;
    wait_image("attached", |d| {
        d.and_then(|d| d.status.as_ref())
            .and_then(|s| s.attached_image.as_ref())
            .is_some_and(|a| a.url == "http://images.example/config.iso")
    })
    .await;
    assert_eq!(
        env.fixture
            .node(&env.ns, "di")
            .expect("node")
            .data_image
            .as_deref(),
        Some("http://images.example/config.iso")
    );

    images
        .delete("di", &DeleteParams::default())
        .await
        .expect("delete");
    env.wait_for("di", "back on", |h| {
        !h.annotations().contains_key(REBOOT_ANNOTATION)
            && h.status.as_ref().is_some_and(|s| s.powered_on)
    })
    .await;
    env.annotate("di", json!({REBOOT_ANNOTATION: ""})).await;
    wait_image("detached and gone", |d| d.is_none()).await;
    assert_eq!(
        env.fixture.node(&env.ns, "di").expect("node").data_image,
        None
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_update_policy_services_firmware_on_reboot() {
    let env = Env::new("servicing").await;
    env.secret("bmc", "admin", "pw").await;
    let mut spec = bmc_spec("bmc");
    spec["image"] = json!({"url": "http://images.example/os.qcow2", "checksum": "abc"});
    env.host("svc", spec, json!({})).await;
    env.wait_for("svc", "provisioned and on", |h| {
        h.provisioning_state() == S::Provisioned && h.status.as_ref().is_some_and(|s| s.powered_on)
    })
    .await;
    let policies: Api<HostUpdatePolicy> = Api::namespaced(env.client.clone(), &env.ns);
    let policy: HostUpdatePolicy = serde_json::from_value(json!({
        "apiVersion": "metal3.io/v1alpha1", "kind": "HostUpdatePolicy",
        "metadata": {"name": "svc"},
        "spec": {"firmwareSettings": "onReboot", "firmwareUpdates": "onReboot"},
    }))
    .expect("policy");
    policies
        .create(&PostParams::default(), &policy)
        .await
        .expect("create policy");
    let settings: Api<HostFirmwareSettings> = Api::namespaced(env.client.clone(), &env.ns);
    let deadline = Instant::now() + WAIT;
    while settings.get_opt("svc").await.expect("get").is_none() {
        assert!(
            Instant::now() < deadline,
            "HostFirmwareSettings never created"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    settings
        .patch(
            "svc",
            &PatchParams::default(),
            &Patch::Merge(&json!({"spec": {"settings": {"SriovGlobalEnable": "Enabled"}}})),
        )
        .await
        .expect("request a setting");
    env.annotate("svc", json!({REBOOT_ANNOTATION: ""})).await;
    let deadline = Instant::now() + WAIT;
    loop {
        let hfs = settings.get("svc").await.expect("get");
        let applied = hfs.status.as_ref().is_some_and(|s| {
            s.settings.get("SriovGlobalEnable").map(String::as_str) == Some("Enabled")
        });
        if applied {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "settings never applied: {:?}",
            hfs.status
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let h = env
        .wait_for("svc", "back on after servicing", |h| {
            h.status.as_ref().is_some_and(|s| s.powered_on)
                && op_status(h) == OperationalStatus::Ok
                && !h.annotations().contains_key(REBOOT_ANNOTATION)
        })
        .await;
    assert_eq!(h.provisioning_state(), S::Provisioned);
    env.wait_event("ServicingComplete").await;
    let calls = env.fixture.calls(&env.ns, "svc");
    assert_eq!(calls.completed(Operation::Service), 1);
    assert_eq!(
        calls.started(Operation::Provision),
        1,
        "servicing never reprovisions"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registration_uses_the_preprovisioning_image() {
    let vars: BTreeMap<String, String> = [(
        "DEPLOY_ISO_URL".to_string(),
        "http://images.example/ipa.iso".to_string(),
    )]
    .into();
    let sources = metal3_hoststate::preprov::ImageSources::from_env(&vars).expect("sources");
    let env = Env::new_with("preprov", |c| c.preprovisioning_images = Some(sources)).await;
    env.fixture
        .set_preprovisioning_formats(Some(vec!["iso".into()]));
    env.secret("bmc", "admin", "pw").await;
    let mut spec = bmc_spec("bmc");
    spec["preprovisioningNetworkDataName"] = json!("netdata");
    env.host("ppi", spec, json!({})).await;

    let images: Api<PreprovisioningImage> = Api::namespaced(env.client.clone(), &env.ns);
    let wait_image = |what: &'static str, pred: fn(&PreprovisioningImage) -> bool| {
        let images = images.clone();
        async move {
            let deadline = Instant::now() + WAIT;
            loop {
                if let Some(p) = images.get_opt("ppi").await.expect("get")
                    && pred(&p)
                {
                    return p;
                }
                assert!(
                    Instant::now() < deadline,
                    "PreprovisioningImage never {what}"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    let waiting = wait_image("missing its network data", |p| {
        p.status.as_ref().is_some_and(|s| {
            s.conditions
                .iter()
                .any(|c| c.r#type == "Error" && c.reason == "MissingNetworkData")
        })
    })
    .await;
    assert_eq!(waiting.spec.accept_formats, vec![ImageFormatKind::Iso]);
    assert!(
        waiting
            .finalizers()
            .contains(&PREPROVISIONING_IMAGE_HOST_FINALIZER.to_string())
    );
    assert_eq!(
        env.hosts()
            .get("ppi")
            .await
            .expect("host")
            .provisioning_state(),
        S::Registering
    );
    assert_eq!(
        env.fixture
            .calls(&env.ns, "ppi")
            .started(Operation::Register),
        0
    );

    let netdata: Secret = serde_json::from_value(json!({
        "metadata": {"name": "netdata"},
        "stringData": {"networkData": "{}"},
    }))
    .expect("secret");
    env.secrets()
        .create(&PostParams::default(), &netdata)
        .await
        .expect("network data");
    let ready = wait_image("ready", |p| {
        p.status.as_ref().is_some_and(|s| {
            s.conditions
                .iter()
                .any(|c| c.r#type == "Ready" && c.status == ConditionStatus::True)
        })
    })
    .await;
    let status = ready.status.expect("status");
    assert_eq!(
        status.image_url.as_deref(),
        Some("http://images.example/ipa.iso")
    );
    assert_eq!(status.format, Some(ImageFormatKind::Iso));
    assert_eq!(
        status.network_data.and_then(|n| n.name).as_deref(),
        Some("netdata")
    );

    // The operator only re-checks after its wait; the host then registers with the image.
    env.wait_state("ppi", S::Available).await;
    assert_eq!(
        env.fixture
            .node(&env.ns, "ppi")
            .expect("node")
            .preprovisioning_image
            .as_deref(),
        Some("http://images.example/ipa.iso")
    );
    env.hosts()
        .delete("ppi", &DeleteParams::default())
        .await
        .expect("delete");
    env.wait_gone("ppi").await;
    let left = images.get_opt("ppi").await.expect("get");
    assert!(left.is_none_or(|p| {
        !p.finalizers()
            .contains(&PREPROVISIONING_IMAGE_HOST_FINALIZER.to_string())
    }));
}
