//! Releasing hosts: scale-down deprovisions and releases, node reuse keeps a released host for
//! its MachineDeployment.

use crate::common::*;
use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt;
use metal3_api::v1alpha1::{BareMetalHost, ProvisioningState};
use metal3_capm3::capi::MachineSet;
use metal3_capm3_api::v1beta2::Metal3Machine;
use metal3_fixture::Operation;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scale_down_deprovisions_and_releases_the_host() {
    let env = Env::new("scale-down").await;
    env.host("h-0", json!({})).await;
    env.host("h-1", json!({})).await;
    env.cluster("c1").await;
    env.hosts_available(&["h-0", "h-1"]).await;
    let mut spec = image_spec();
    spec["automatedCleaningMode"] = json!("disabled");
    env.machine("c1", "keep", image_spec(), None).await;
    env.machine("c1", "drop", spec, None).await;
    let keep = env.join("keep").await;
    let drop = env.join("drop").await;
    let (kept_host, dropped_host) = (host_of(&keep), host_of(&drop));
    // While a machine uses it, the host blocks `clusterctl move`.
    env.wait::<BareMetalHost>(&dropped_host, "move-blocked", |h| {
        h.annotations()
            .contains_key("clusterctl.cluster.x-k8s.io/block-move")
    })
    .await;
    let h = env
        .api::<BareMetalHost>()
        .get(&dropped_host)
        .await
        .expect("host");
    assert_eq!(
        h.spec.automated_cleaning_mode.as_str(),
        "disabled",
        "the machine's cleaning mode reached the host"
    );
    // The Machine controller's part of a scale down: delete the infrastructure machine, then
    // the Machine once it is gone.
    env.delete::<Metal3Machine>("drop").await;
    let released = env
        .wait::<BareMetalHost>(&dropped_host, "released and available", |h| {
            h.spec.consumer_ref.is_none() && h.provisioning_state() == ProvisioningState::Available
        })
        .await;
    env.wait_gone::<Metal3Machine>("drop").await;
    env.delete::<metal3_capm3::capi::Machine>(&machine_of(&drop))
        .await;
    env.delete_node(&dropped_host).await;
    assert_eq!(released.spec.image, None);
    assert_eq!(released.spec.user_data, None);
    assert!(
        !released.spec.online,
        "released hosts are powered off (no fast track)"
    );
    assert!(
        !released
            .labels()
            .contains_key("cluster.x-k8s.io/cluster-name")
    );
    assert!(
        !released
            .annotations()
            .contains_key("clusterctl.cluster.x-k8s.io/block-move"),
        "a released host does not block moves"
    );
    let calls = env.fixture.calls(&env.ns, &dropped_host);
    assert_eq!(
        calls.completed(Operation::Deprovision),
        1,
        "deprovisioned once"
    );
    let bmc = env
        .api::<Secret>()
        .get(&format!("{dropped_host}-bmc"))
        .await
        .expect("bmc");
    assert!(!bmc.labels().contains_key("cluster.x-k8s.io/cluster-name"));
    // The other machine and its host are untouched.
    let k = env
        .api::<BareMetalHost>()
        .get(&kept_host)
        .await
        .expect("host");
    assert_eq!(k.provisioning_state(), ProvisioningState::Provisioned);
    assert_eq!(
        k.spec.consumer_ref.and_then(|c| c.name).as_deref(),
        Some("keep")
    );
    assert_eq!(
        env.fixture
            .calls(&env.ns, &kept_host)
            .started(Operation::Deprovision),
        0
    );
    // The released host serves the next machine.
    env.machine("c1", "next", image_spec(), None).await;
    let next = env.join("next").await;
    assert_eq!(host_of(&next), dropped_host);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_reuse_keeps_a_released_host_for_its_machine_deployment() {
    use metal3_capm3::capi::MachineDeployment;
    use metal3_capm3_api::v1beta2::Metal3MachineTemplate;
    let env = Env::new("reuse").await;
    env.host("h-0", json!({})).await;
    env.cluster("c1").await;
    let mut template_spec = image_spec();
    template_spec["automatedCleaningMode"] = json!("metadata");
    env.create::<Metal3MachineTemplate>(json!({
        "metadata": {"name": "workers"},
        "spec": {"template": {"spec": template_spec}, "nodeReuse": true},
    }))
    .await;
    let machine_template = json!({"metadata": {"labels": {"set": "w"}}, "spec": {"clusterName": "c1",
        "bootstrap": {"dataSecretName": "unused"},
        "infrastructureRef": {"apiGroup": "infrastructure.cluster.x-k8s.io", "kind": "Metal3MachineTemplate", "name": "workers"}}});
    let md = env
        .create::<MachineDeployment>(json!({
            "metadata": {"name": "workers-md"},
            "spec": {"clusterName": "c1", "selector": {"matchLabels": {"set": "w"}}, "template": machine_template},
        }))
        .await;
    let ms = env
        .create::<MachineSet>(json!({
            "metadata": {"name": "workers-ms", "ownerReferences": [owner(&md, true)]},
            "spec": {"clusterName": "c1", "selector": {"matchLabels": {"set": "w"}}, "template": machine_template},
        }))
        .await;
    env.hosts_available(&["h-0"]).await;
    env.machine("c1", "old", image_spec(), Some(owner(&ms, true)))
        .await;
    let old = env.join("old").await;
    assert_eq!(host_of(&old), "h-0");
    // A rolling upgrade deletes the old machine: its host is deprovisioned and kept for the
    // deployment.
    env.delete::<Metal3Machine>("old").await;
    let reserved = env
        .wait::<BareMetalHost>("h-0", "reserved", |h| {
            h.labels()
                .get("infrastructure.cluster.x-k8s.io/node-reuse")
                .map(String::as_str)
                == Some("md-workers-md")
                && h.provisioning_state() == ProvisioningState::Available
        })
        .await;
    let consumer = reserved
        .spec
        .consumer_ref
        .clone()
        .expect("still reserved by the cluster");
    assert_eq!(
        (consumer.kind.as_deref(), consumer.name.as_deref()),
        (Some("Cluster"), Some("c1"))
    );
    assert!(
        !reserved
            .annotations()
            .contains_key("clusterctl.cluster.x-k8s.io/block-move"),
        "a reserved host no machine uses does not block moves"
    );
    env.wait_gone::<Metal3Machine>("old").await;
    env.delete::<metal3_capm3::capi::Machine>(&machine_of(&old))
        .await;
    env.delete_node("h-0").await;
    // A machine of another owner does not get it.
    env.machine("c1", "stranger", image_spec(), None).await;
    env.wait::<Metal3Machine>("stranger", "waiting", |m| {
        condition(m, "AssociateBareMetalHost")
            .is_some_and(|c| c.1 == "AssociateBareMetalHostFailed")
    })
    .await;
    // The deployment's new machine does.
    env.machine("c1", "new", image_spec(), Some(owner(&ms, true)))
        .await;
    let new = env
        .wait::<Metal3Machine>("new", "associated", |m| {
            m.annotations().contains_key("metal3.io/BareMetalHost")
                && condition(m, "AssociateBareMetalHost").is_some_and(|c| c.0 == "True")
        })
        .await;
    assert_eq!(host_of(&new), "h-0");
    assert_eq!(
        condition(&new, "AssociateBareMetalHost"),
        Some((
            "True".into(),
            "AssociateBareMetalHostViaNodeReuseSuccess".into()
        ))
    );
    let h = env
        .wait::<BareMetalHost>("h-0", "claimed by the new machine", |h| {
            h.spec.consumer_ref.as_ref().and_then(|c| c.name.as_deref()) == Some("new")
        })
        .await;
    assert!(
        !h.labels()
            .contains_key("infrastructure.cluster.x-k8s.io/node-reuse")
    );
    let stranger = env
        .api::<Metal3Machine>()
        .get("stranger")
        .await
        .expect("stranger");
    assert!(
        !stranger
            .annotations()
            .contains_key("metal3.io/BareMetalHost")
    );
}
