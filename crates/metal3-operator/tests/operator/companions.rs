//! The objects beside a host: BMCEventSubscriptions, DataImages and PreprovisioningImages.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, PostParams};
use metal3_api::consts::*;
use metal3_api::v1alpha1::ConditionStatus;
use metal3_api::v1alpha1::{
    BMCEventSubscription, DataImage, ImageFormatKind, PreprovisioningImage, ProvisioningState as S,
};
use metal3_fixture::Operation;
use serde_json::json;

use crate::common::*;

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
