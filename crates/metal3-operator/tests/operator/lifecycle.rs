//! Registration, inspection, provisioning, deprovisioning and deletion; detaching and moving a host;
//! an operator restart mid-provisioning.

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::api::events::v1::Event;
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use metal3_api::consts::*;
use metal3_api::v1alpha1::{HardwareData, OperationalStatus, ProvisioningState as S};
use metal3_fixture::{Behaviour, Operation};
use serde_json::json;

use crate::common::*;

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

/// The operator caches only the metadata of HardwareData; a host whose status lost its
/// hardware details gets them back from its HardwareData, without inspecting again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hardware_details_lost_from_the_status_come_back_from_hardware_data() {
    let env = Env::new("hw-back").await;
    env.secret("bmc", "admin", "s3cret-pw").await;
    env.host("w", bmc_spec("bmc"), json!({})).await;
    let host = env.wait_state("w", S::Available).await;
    let hw = host
        .status
        .and_then(|s| s.hardware)
        .expect("hardware in status");

    env.hosts()
        .patch_status(
            "w",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"hardware": null}})),
        )
        .await
        .expect("drop the details");
    // A status change does not wake the host; an annotation does.
    env.annotate("w", json!({"example.com/touched": "1"})).await;
    env.wait_for("w", "hardware details restored", |h| {
        h.status
            .as_ref()
            .is_some_and(|s| s.hardware.as_ref() == Some(&hw))
    })
    .await;
    assert_eq!(
        env.fixture.calls(&env.ns, "w").started(Operation::Inspect),
        1
    );
}
