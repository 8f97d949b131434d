//! What annotations ask for: a reboot, a pause, re-inspection and hardware details given from
//! outside.

use std::time::{Duration, Instant};

use kube::ResourceExt;
use kube::api::{Patch, PatchParams};
use metal3_api::consts::*;
use metal3_api::v1alpha1::ProvisioningState as S;
use metal3_fixture::Operation;
use serde_json::json;

use crate::common::*;

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
