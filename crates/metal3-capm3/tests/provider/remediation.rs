//! Remediation reboots the host of an unhealthy machine.

use crate::common::*;
use kube::ResourceExt;
use metal3_api::v1alpha1::{BareMetalHost, ProvisioningState};
use metal3_fixture::Operation;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remediation_reboots_the_host() {
    use metal3_capm3_api::v1beta2::Metal3Remediation;
    let env = Env::new("remediate").await;
    env.host("h-0", json!({})).await;
    env.cluster("c1").await;
    env.hosts_available(&["h-0"]).await;
    let (machine, _) = env.machine("c1", "sick", image_spec(), None).await;
    let m3m = env.join("sick").await;
    let host = host_of(&m3m);
    let before = env.fixture.calls(&env.ns, &host);
    // Every version of the Node, seen through a watch, to tell whether it was taken out of
    // service on the way.
    let seen_taint = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    {
        use futures::StreamExt;
        let nodes: kube::Api<k8s_openapi::api::core::v1::Node> = kube::Api::all(env.client.clone());
        let config = kube::runtime::watcher::Config::default()
            .fields(&format!("metadata.name={}", node_name(&env.ns, &host)));
        let seen = seen_taint.clone();
        tokio::spawn(async move {
            let mut events = kube::runtime::WatchStreamExt::applied_objects(
                kube::runtime::watcher(nodes, config),
            )
            .boxed();
            while let Some(Ok(node)) = events.next().await {
                let taints = node.spec.and_then(|s| s.taints).unwrap_or_default();
                if taints.iter().any(|t| {
                    t.key == "node.kubernetes.io/out-of-service" && t.effect == "NoExecute"
                }) {
                    seen.store(true, std::sync::atomic::Ordering::SeqCst);
                }
            }
        });
    }
    // A MachineHealthCheck found the machine unhealthy and made a remediation from a template.
    let machine = env
        .api::<metal3_capm3::capi::Machine>()
        .get(&machine.name_any())
        .await
        .expect("machine");
    let m3r = env
        .create::<Metal3Remediation>(json!({
            "metadata": {"name": "sick", "ownerReferences": [owner(&machine, false)]},
            "spec": {"strategy": {"type": "Reboot", "retryLimit": 1, "timeoutSeconds": 300}},
        }))
        .await;
    let key = format!(
        "reboot.metal3.io/metal3-remediation-{}",
        m3r.metadata.uid.clone().unwrap_or_default()
    );
    // The host is held off with a hard reboot annotation and the Node is taken out of service.
    env.wait::<BareMetalHost>(&host, "held off", |h| {
        h.annotations().get(&key).map(String::as_str) == Some(r#"{"mode":"hard"}"#)
    })
    .await;
    // Then, powered on again and the Node back in service, the remediation lets go.
    let done = env
        .wait::<Metal3Remediation>("sick", "done", |r| {
            r.finalizers().is_empty()
                && r.status
                    .as_ref()
                    .and_then(|s| s.phase.map(|p| p.as_str().to_string()))
                    .as_deref()
                    == Some("Waiting")
        })
        .await;
    assert!(
        done.status
            .as_ref()
            .and_then(|s| s.last_remediated.as_ref())
            .is_some()
    );
    let h = env
        .wait::<BareMetalHost>(&host, "powered on", |h| {
            h.status.as_ref().is_some_and(|s| s.powered_on)
        })
        .await;
    assert!(!h.annotations().contains_key(&key));
    let after = env.fixture.calls(&env.ns, &host);
    assert!(
        after.completed(Operation::PowerOff) > before.completed(Operation::PowerOff),
        "the host was powered off"
    );
    assert!(
        after.completed(Operation::PowerOn) > before.completed(Operation::PowerOn),
        "and on again"
    );
    let node = env.node(&host).await.expect("node");
    let taints = node.spec.and_then(|s| s.taints).unwrap_or_default();
    assert!(
        taints
            .iter()
            .all(|t| t.key != "node.kubernetes.io/out-of-service"),
        "{taints:?}"
    );
    assert!(
        seen_taint.load(std::sync::atomic::Ordering::SeqCst),
        "the Node was never tainted out-of-service while the host was off"
    );
    // The host stays provisioned and claimed: a reboot, not a reprovisioning.
    assert_eq!(h.provisioning_state(), ProvisioningState::Provisioned);
    assert_eq!(after.started(Operation::Provision), 1);
}

/// A remediation whose Node never comes back gives the Machine up: `OwnerRemediated` false in
/// the Machine's conditions (what Cluster API v1beta2's MachineSet reads before it deletes and
/// replaces the Machine) and in their v1beta1 copy, the host marked unhealthy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remediation_gives_the_machine_up() {
    use metal3_capm3::capi::Machine;
    use metal3_capm3_api::common::RemediationPhase;
    use metal3_capm3_api::v1beta2::Metal3Remediation;
    let env = Env::new("giveup").await;
    env.host("h-0", json!({})).await;
    env.cluster("c1").await;
    env.hosts_available(&["h-0"]).await;
    let (machine, _) = env.machine("c1", "lost", image_spec(), None).await;
    let m3m = env.join("lost").await;
    let host = host_of(&m3m);
    // A condition Cluster API set before must survive the provider's write.
    env.merge_status::<Machine>(
        &machine.name_any(),
        json!({"status": {"conditions": [{"type": "Ready", "status": "False", "reason": "NotReady", "message": "", "lastTransitionTime": "2026-01-01T00:00:00Z"}]}}),
    )
    .await;
    // The Node is gone for good: the reboot cannot bring it back.
    env.delete_node(&host).await;
    let machine = env
        .api::<Machine>()
        .get(&machine.name_any())
        .await
        .expect("machine");
    env.create::<Metal3Remediation>(json!({
        "metadata": {"name": "lost", "ownerReferences": [owner(&machine, false)]},
        "spec": {"strategy": {"type": "Reboot", "retryLimit": 1, "timeoutSeconds": 100}},
    }))
    .await;
    env.wait::<Metal3Remediation>("lost", "waiting", |r| {
        r.status
            .as_ref()
            .is_some_and(|s| s.phase == Some(RemediationPhase::Waiting))
    })
    .await;
    // This is the last attempt, and it started long ago (instead of waiting out the 100 s
    // minimum timeout twice).
    env.merge_status::<Metal3Remediation>(
        "lost",
        json!({"status": {"lastRemediated": "2026-01-01T00:00:00Z", "retryCount": 1}}),
    )
    .await;
    env.wait::<Metal3Remediation>("lost", "given up", |r| {
        r.status
            .as_ref()
            .is_some_and(|s| s.phase == Some(RemediationPhase::DeletingMachine))
    })
    .await;
    let m = env
        .api::<Machine>()
        .get(&machine.name_any())
        .await
        .expect("machine");
    let status = m.status.clone().unwrap_or_default();
    let owner_remediated = status
        .conditions
        .iter()
        .find(|c| c.r#type == "OwnerRemediated")
        .unwrap_or_else(|| panic!("no v1beta2 OwnerRemediated: {:?}", status.conditions));
    assert_eq!(
        owner_remediated.status,
        metal3_api::v1alpha1::ConditionStatus::False
    );
    assert_eq!(owner_remediated.reason, "WaitingForRemediation");
    assert!(
        status
            .conditions
            .iter()
            .any(|c| c.r#type == "Ready" && c.reason == "NotReady"),
        "the other conditions are kept: {:?}",
        status.conditions
    );
    let v1beta1 = status
        .deprecated
        .and_then(|d| d.v1beta1)
        .map(|v| v.conditions)
        .unwrap_or_default();
    assert!(
        v1beta1.iter().any(|c| c.r#type == "OwnerRemediated"
            && c.status == "False"
            && c.reason == "WaitingForRemediation"),
        "{v1beta1:?}"
    );
    let h = env.api::<BareMetalHost>().get(&host).await.expect("host");
    assert_eq!(
        h.annotations()
            .get("capm3.metal3.io/unhealthy")
            .map(String::as_str),
        Some("capm3/UnhealthyNode")
    );
}
