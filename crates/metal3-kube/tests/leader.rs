//! Leader election against the real API server.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use kube::api::Api;
use metal3_kube::leader::{Elector, LeaseConfig};

fn quick() -> LeaseConfig {
    LeaseConfig {
        lease_duration: Duration::from_secs(2),
        renew_deadline: Duration::from_millis(1500),
        retry_period: Duration::from_millis(200),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_leader_at_a_time_with_handover_on_release_and_on_expiry() {
    let cp = metal3_testenv::shared();
    let client = cp.client().await.expect("client");
    let ns = cp.namespace(&client, "leader").await.expect("namespace");
    let a = Elector::new(
        client.clone(),
        &ns,
        "baremetal-operator",
        "replica-a",
        quick(),
    );
    let b = Elector::new(
        client.clone(),
        &ns,
        "baremetal-operator",
        "replica-b",
        quick(),
    );
    let c = Elector::new(
        client.clone(),
        &ns,
        "baremetal-operator",
        "replica-c",
        quick(),
    );

    a.acquire().await;
    let leases: Api<Lease> = Api::namespaced(client.clone(), &ns);
    let holder = |l: Lease| l.spec.and_then(|s| s.holder_identity);
    assert_eq!(
        holder(leases.get("baremetal-operator").await.expect("lease")).as_deref(),
        Some("replica-a")
    );

    // a keeps renewing; b cannot get in.
    let a_hold = tokio::spawn({
        let a = a.clone();
        async move { a.hold().await }
    });
    let blocked = tokio::time::timeout(Duration::from_secs(3), b.acquire()).await;
    assert!(blocked.is_err(), "b became leader while a renewed");

    // A clean release hands over at once.
    a_hold.abort();
    a.release().await.expect("release");
    tokio::time::timeout(Duration::from_secs(5), b.acquire())
        .await
        .expect("b takes over a released lease");
    let lease = leases.get("baremetal-operator").await.expect("lease");
    assert_eq!(
        lease.spec.as_ref().and_then(|s| s.lease_transitions),
        Some(1)
    );

    // b dies without releasing: c waits for expiry, then takes over; b, back, steps down.
    tokio::time::timeout(Duration::from_secs(10), c.acquire())
        .await
        .expect("c takes over an expired lease");
    assert_eq!(
        holder(leases.get("baremetal-operator").await.expect("lease")).as_deref(),
        Some("replica-c")
    );
    tokio::time::timeout(Duration::from_secs(5), b.hold())
        .await
        .expect("b notices it lost the lease");
}
