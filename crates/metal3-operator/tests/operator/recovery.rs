//! Hosts that cannot go on yet and recover: unmanaged hosts, a missing or rotated credentials
//! Secret, backend errors with back-off, an unreachable backend.

use std::collections::BTreeMap;

use kube::api::{Patch, PatchParams};
use metal3_api::v1alpha1::{OperationalStatus, ProvisioningState as S};
use metal3_fixture::{Behaviour, Failure, Operation};
use serde_json::json;

use crate::common::*;

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
