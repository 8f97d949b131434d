//! Our CRDs and the API semantics the operator relies on, proven against a real kube-apiserver.

use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams,
};
use kube::runtime::watcher::{self, Event};
use kube::{Client, Resource};
use metal3_api::v1alpha1::BareMetalHost;
use metal3_testenv::{ControlPlane, is_established, shared};
use serde_json::{Value, json};

async fn setup(prefix: &str) -> (&'static ControlPlane, Client, String) {
    let cp = shared();
    let client = cp.client().await.expect("client");
    let ns = cp.namespace(&client, prefix).await.expect("namespace");
    (cp, client, ns)
}

fn bmh_resource() -> ApiResource {
    ApiResource::erase::<BareMetalHost>(&())
}

fn host(name: &str, extra_spec: Value) -> DynamicObject {
    let mut spec = json!({
        "online": true,
        "bmc": {"address": "redfish://192.168.111.1/redfish/v1/Systems/1", "credentialsName": "bmc-secret"}
    });
    if let (Some(spec), Some(extra)) = (spec.as_object_mut(), extra_spec.as_object()) {
        spec.extend(extra.clone());
    }
    DynamicObject::new(name, &bmh_resource()).data(json!({ "spec": spec }))
}

fn hosts(client: &Client, ns: &str) -> Api<DynamicObject> {
    Api::namespaced_with(client.clone(), ns, &bmh_resource())
}

/// Polls `check` until it returns `Some`, failing after `timeout`.
async fn eventually<T, F, Fut>(timeout: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn every_crd_is_accepted_and_established() {
    let (_, client, _) = setup("crds").await;
    let api: Api<CustomResourceDefinition> = Api::all(client);
    let ours: Vec<String> = metal3_api::crds::all()
        .iter()
        .filter_map(|c| c.metadata.name.clone())
        .collect();
    assert_eq!(ours.len(), 13, "the thirteen metal3.io kinds");
    for name in ours {
        let crd = api
            .get(&name)
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(is_established(&crd), "{name} is not Established");
        let structural = crd
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_none_or(|c| {
                !c.iter()
                    .any(|c| c.type_ == "NonStructuralSchema" && c.status == "True")
            });
        assert!(structural, "{name} has a non-structural schema");
    }
}

#[tokio::test]
async fn kubectl_shows_upstream_printer_columns() {
    let (cp, client, ns) = setup("columns").await;
    hosts(&client, &ns)
        .create(&PostParams::default(), &host("worker-0", json!({})))
        .await
        .expect("create host");
    let kubectl = |extra: &[&str]| {
        let out = metal3_testenv::kubectl()
            .arg("--kubeconfig")
            .arg(cp.kubeconfig())
            .args(["get", "bmh", "-n", &ns])
            .args(extra)
            .output()
            .expect("kubectl runs (hack/control-plane/build.sh builds it)");
        assert!(out.status.success(), "{out:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let plain = kubectl(&[]);
    let header: Vec<&str> = plain
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    assert_eq!(
        header,
        ["NAME", "STATE", "CONSUMER", "ONLINE", "ERROR", "AGE"],
        "{plain}"
    );
    assert!(plain.contains("worker-0"), "{plain}");
    let wide = kubectl(&["-o", "wide"]);
    let header: Vec<&str> = wide
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    assert_eq!(
        header,
        [
            "NAME", "STATUS", "STATE", "CONSUMER", "BMC", "ONLINE", "ERROR", "AGE"
        ],
        "{wide}"
    );
    assert!(
        wide.contains("redfish://192.168.111.1/redfish/v1/Systems/1"),
        "{wide}"
    );
}

#[tokio::test]
async fn schema_rejects_an_invalid_enum() {
    let (_, client, ns) = setup("enum").await;
    let err = hosts(&client, &ns)
        .create(
            &PostParams::default(),
            &host("bad", json!({"bootMode": "bogus"})),
        )
        .await
        .expect_err("an unknown bootMode is rejected");
    let text = err.to_string();
    assert!(text.contains("spec.bootMode"), "{text}");
    assert!(text.contains("Unsupported value"), "{text}");
    // A missing required field too.
    let mut no_online = host("bad2", json!({}));
    if let Some(spec) = no_online.data["spec"].as_object_mut() {
        spec.remove("online");
    }
    let err = hosts(&client, &ns)
        .create(&PostParams::default(), &no_online)
        .await
        .expect_err("spec.online is required");
    assert!(err.to_string().contains("spec.online"), "{err}");
}

#[tokio::test]
async fn status_goes_through_the_status_subresource() {
    let (_, client, ns) = setup("status").await;
    let api = hosts(&client, &ns);
    api.create(&PostParams::default(), &host("worker-0", json!({})))
        .await
        .expect("create");
    let status = json!({"status": {
        "operationalStatus": "OK", "errorMessage": "", "errorCount": 0, "poweredOn": true,
        "provisioningFailCount": 0, "provisioning": {"state": "available", "ID": "abc"}
    }});
    api.patch_status("worker-0", &PatchParams::default(), &Patch::Merge(&status))
        .await
        .expect("status patch");
    let typed: Api<BareMetalHost> = Api::namespaced(client.clone(), &ns);
    let got = typed.get("worker-0").await.expect("typed get");
    assert_eq!(got.provisioning_state().as_str(), "available");
    // Status sent to the main resource is ignored.
    let ignored = json!({"status": {"errorMessage": "from main resource"}});
    api.patch("worker-0", &PatchParams::default(), &Patch::Merge(&ignored))
        .await
        .expect("main patch");
    let got = typed.get("worker-0").await.expect("typed get");
    assert_eq!(got.status.map(|s| s.error_message), Some(String::new()));
    // The schema validates status too.
    let bad = json!({"status": {"operationalStatus": "sleepy"}});
    let err = api
        .patch_status("worker-0", &PatchParams::default(), &Patch::Merge(&bad))
        .await
        .expect_err("bad operationalStatus rejected");
    assert!(
        err.to_string().contains("status.operationalStatus"),
        "{err}"
    );
}

#[tokio::test]
async fn generation_bumps_on_spec_changes_only() {
    let (_, client, ns) = setup("generation").await;
    let api = hosts(&client, &ns);
    let created = api
        .create(&PostParams::default(), &host("worker-0", json!({})))
        .await
        .expect("create");
    assert_eq!(created.metadata.generation, Some(1));
    let labelled = api
        .patch(
            "worker-0",
            &PatchParams::default(),
            &Patch::Merge(&json!({"metadata": {"labels": {"rack": "r1"}}})),
        )
        .await
        .expect("label");
    assert_eq!(labelled.metadata.generation, Some(1));
    let status = json!({"status": {"operationalStatus": "OK", "errorMessage": "", "errorCount": 0,
        "poweredOn": false, "provisioningFailCount": 0, "provisioning": {"state": "registering", "ID": ""}}});
    let with_status = api
        .patch_status("worker-0", &PatchParams::default(), &Patch::Merge(&status))
        .await
        .expect("status");
    assert_eq!(with_status.metadata.generation, Some(1));
    let powered_off = api
        .patch(
            "worker-0",
            &PatchParams::default(),
            &Patch::Merge(&json!({"spec": {"online": false}})),
        )
        .await
        .expect("spec");
    assert_eq!(powered_off.metadata.generation, Some(2));
}

#[tokio::test]
async fn a_finalizer_blocks_deletion() {
    let (_, client, ns) = setup("finalizer").await;
    let api = hosts(&client, &ns);
    let mut h = host("worker-0", json!({}));
    h.metadata.finalizers = Some(vec![
        metal3_api::consts::BAREMETALHOST_FINALIZER.to_string(),
    ]);
    api.create(&PostParams::default(), &h)
        .await
        .expect("create");
    api.delete("worker-0", &DeleteParams::default())
        .await
        .expect("delete");
    let still = api.get("worker-0").await.expect("still there");
    assert!(still.metadata.deletion_timestamp.is_some());
    api.patch(
        "worker-0",
        &PatchParams::default(),
        &Patch::Merge(&json!({"metadata": {"finalizers": null}})),
    )
    .await
    .expect("remove finalizer");
    eventually(Duration::from_secs(10), "the host to disappear", || async {
        api.get_opt("worker-0")
            .await
            .expect("get")
            .is_none()
            .then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_watcher_sees_changes_in_order() {
    let (_, client, ns) = setup("watch").await;
    let typed: Api<BareMetalHost> = Api::namespaced(client.clone(), &ns);
    let mut events = watcher::watcher(typed, watcher::Config::default()).boxed();
    // Wait for the initial (empty) list to finish, so every change below is a live event.
    loop {
        let event = tokio::time::timeout(Duration::from_secs(10), events.next())
            .await
            .expect("the initial list in time");
        if matches!(event, Some(Ok(Event::InitDone))) {
            break;
        }
    }
    let api = hosts(&client, &ns);
    api.create(&PostParams::default(), &host("worker-0", json!({})))
        .await
        .expect("create");
    for rack in ["r1", "r2", "r3"] {
        api.patch(
            "worker-0",
            &PatchParams::default(),
            &Patch::Merge(&json!({"metadata": {"labels": {"rack": rack}}})),
        )
        .await
        .expect("label");
    }
    api.delete("worker-0", &DeleteParams::default())
        .await
        .expect("delete");

    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while seen.last().map(String::as_str) != Some("deleted") {
        assert!(Instant::now() < deadline, "events so far: {seen:?}");
        let event = tokio::time::timeout(Duration::from_secs(20), events.next())
            .await
            .expect("an event in time")
            .expect("stream open")
            .expect("no watch error");
        match event {
            Event::Apply(h) => {
                let rack = h
                    .meta()
                    .labels
                    .as_ref()
                    .and_then(|l| l.get("rack").cloned())
                    .unwrap_or_else(|| "created".into());
                seen.push(rack);
            }
            Event::Delete(_) => seen.push("deleted".into()),
            _ => {}
        }
    }
    assert_eq!(seen, ["created", "r1", "r2", "r3", "deleted"]);
}

#[tokio::test]
async fn namespaces_isolate_tests() {
    let (cp, client, ns) = setup("isolation").await;
    let other = cp
        .namespace(&client, "isolation")
        .await
        .expect("second namespace");
    assert_ne!(ns, other);
    hosts(&client, &ns)
        .create(&PostParams::default(), &host("worker-0", json!({})))
        .await
        .expect("create");
    let listed = hosts(&client, &other)
        .list(&ListParams::default())
        .await
        .expect("list");
    assert!(listed.items.is_empty());
}
