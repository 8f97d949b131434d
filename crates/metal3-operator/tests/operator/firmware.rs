//! Firmware settings, schemas, components and update policies.

use std::time::{Duration, Instant};

use kube::ResourceExt;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use metal3_api::consts::*;
use metal3_api::v1alpha1::ConditionStatus;
use metal3_api::v1alpha1::{
    FirmwareSchema, HostFirmwareComponents, HostFirmwareSettings, HostUpdatePolicy,
    OperationalStatus, ProvisioningState as S,
};
use metal3_fixture::Operation;
use serde_json::json;

use crate::common::*;

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
