//! The CAPM3 webhook server called by the real kube-apiserver: the nine CRDs pointed at our
//! `/convert` endpoint (loopback TLS, CA bundle in the CRD), so objects written in one version
//! are read in the other; and the defaulting and validating webhooks registered as upstream
//! registers them (v1beta2 rules, `matchPolicy: Equivalent`, so v1beta1 requests reach them
//! converted).

mod common;

use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use base64::Engine;
use k8s_openapi::api::admissionregistration::v1::{
    MutatingWebhookConfiguration, ValidatingWebhookConfiguration,
};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, Patch, PatchParams, PostParams};
use kube::{Client, ResourceExt};
use metal3_capm3::webhook::{DEFAULTED, KINDS, mutate_path, validate_path};
use metal3_capm3_api::GROUP;
use metal3_capm3_api::consts::CONVERSION_DATA_ANNOTATION;
use metal3_capm3_api::crds::{CONVERSION_PATH, with_conversion_webhook};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(60);

/// Conversion requests the server has answered.
static CONVERSIONS: AtomicUsize = AtomicUsize::new(0);

/// The webhook server of this test binary.
struct Server {
    /// `https://127.0.0.1:<port>`.
    url: String,
    /// PEM of the CA that signed its certificate.
    ca_pem: String,
}

fn plural(kind: &str) -> String {
    format!("{}s", kind.to_lowercase())
}

fn resource(kind: &str, version: &str) -> ApiResource {
    ApiResource {
        group: GROUP.into(),
        version: version.into(),
        api_version: format!("{GROUP}/{version}"),
        kind: kind.into(),
        plural: plural(kind),
    }
}

fn api(client: &Client, ns: &str, kind: &str, version: &str) -> Api<DynamicObject> {
    Api::namespaced_with(client.clone(), ns, &resource(kind, version))
}

fn object(kind: &str, version: &str, name: &str, spec: Value) -> DynamicObject {
    serde_json::from_value(json!({
        "apiVersion": format!("{GROUP}/{version}"), "kind": kind,
        "metadata": {"name": name},
        "spec": spec,
    }))
    .expect("object")
}

/// A minimal valid v1beta1 object of each kind, for probing.
fn minimal_v1beta1(kind: &str) -> Value {
    match kind {
        "Metal3ClusterTemplate" => json!({"template": {"spec": {}}}),
        "Metal3MachineTemplate" | "Metal3RemediationTemplate" => {
            json!({"template": {"spec": {}}})
        }
        "Metal3DataClaim" => json!({"template": {"name": "t"}}),
        "Metal3Data" => json!({"template": {"name": "t"}, "claim": {"name": "c"}}),
        "Metal3DataTemplate" => json!({"clusterName": "c"}),
        _ => json!({}),
    }
}

/// Starts the webhook server (on a thread of its own, for the life of the test binary), points
/// every CAPM3 CRD's conversion at it, and waits until the API server converts through it.
fn server() -> &'static Server {
    static SERVER: OnceLock<Server> = OnceLock::new();
    SERVER.get_or_init(|| {
        common::install_crds();
        let tls = metal3_testenv::tls::loopback_certificate().expect("certificate");
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let (cert_pem, key_pem) = (tls.cert_pem.into_bytes(), tls.key_pem.into_bytes());
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .expect("runtime");
            let router = metal3_capm3::webhook::router().layer(axum::middleware::from_fn(
                |request: axum::extract::Request, next: axum::middleware::Next| async move {
                    if request.uri().path() == CONVERSION_PATH {
                        CONVERSIONS.fetch_add(1, Ordering::SeqCst);
                    }
                    next.run(request).await
                },
            ));
            let served = runtime.block_on(metal3_kube::webhook::serve_router_on(
                listener, cert_pem, key_pem, router,
            ));
            panic!("the webhook server stopped: {served:?}");
        });
        let server = Server {
            url: format!("https://127.0.0.1:{port}"),
            ca_pem: tls.ca_pem,
        };
        let (url, ca_pem) = (server.url.clone(), server.ca_pem.clone());
        std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime")
                .block_on(convert_through(&url, &ca_pem))
        })
        .join()
        .expect("conversion setup");
        server
    })
}

/// Points the CRDs' conversion at `url` and waits until reading each kind in v1beta1 calls it.
async fn convert_through(url: &str, ca_pem: &str) {
    let cp = metal3_testenv::shared();
    let client = cp.client().await.expect("client");
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    for (kind, _) in KINDS {
        let name = format!("{}.{GROUP}", plural(kind));
        let mut crd = crds.get(&name).await.expect("our CRD is installed");
        with_conversion_webhook(&mut crd, None, Some(url), ca_pem.as_bytes());
        crds.replace(&name, &PostParams::default(), &crd)
            .await
            .expect("CRD conversion set");
    }
    let ns = cp.namespace(&client, "probe").await.expect("namespace");
    for (kind, _) in KINDS {
        let v1 = api(&client, &ns, kind, "v1beta1");
        let deadline = Instant::now() + WAIT;
        let mut n = 0;
        loop {
            n += 1;
            let name = format!("probe-{n}");
            let probe = object(kind, "v1beta1", &name, minimal_v1beta1(kind));
            v1.create(&PostParams::default(), &probe)
                .await
                .unwrap_or_else(|e| panic!("create a {kind}: {e}"));
            let before = CONVERSIONS.load(Ordering::SeqCst);
            v1.get(&name).await.expect("read back");
            let converted = CONVERSIONS.load(Ordering::SeqCst) > before;
            v1.delete(&name, &DeleteParams::default())
                .await
                .expect("delete probe");
            if converted {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the API server never converted a {kind} through the webhook"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

async fn setup(prefix: &str) -> (Client, String, &'static Server) {
    let server = server();
    let cp = metal3_testenv::shared();
    let client = cp.client().await.expect("client");
    let ns = cp.namespace(&client, prefix).await.expect("namespace");
    (client, ns, server)
}

fn json_of(o: &DynamicObject) -> Value {
    serde_json::to_value(o).expect("json")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn objects_written_in_one_version_are_read_in_the_other_through_our_conversion_webhook() {
    let (client, ns, _) = setup("convert").await;

    // A v1beta1 Metal3Cluster: failure domains as a map, the inverted cloud provider flag.
    let v1 = api(&client, &ns, "Metal3Cluster", "v1beta1");
    let v2 = api(&client, &ns, "Metal3Cluster", "v1beta2");
    v1.create(
        &PostParams::default(),
        &object(
            "Metal3Cluster",
            "v1beta1",
            "c",
            json!({
                "controlPlaneEndpoint": {"host": "192.0.2.10", "port": 6443},
                "noCloudProvider": true,
                "failureDomains": {"rack-b": {"controlPlane": true, "attributes": {"room": "1"}}, "rack-a": {}},
            }),
        ),
    )
    .await
    .expect("create v1beta1");
    let new = json_of(&v2.get("c").await.expect("read as v1beta2"));
    assert_eq!(new["apiVersion"], format!("{GROUP}/v1beta2"));
    assert_eq!(new["spec"]["cloudProviderEnabled"], false);
    assert!(new["spec"].get("noCloudProvider").is_none(), "{new:#}");
    assert_eq!(
        new["spec"]["failureDomains"],
        json!([{"name": "rack-a"}, {"name": "rack-b", "controlPlane": true, "attributes": {"room": "1"}}])
    );
    // Status written in v1beta2 reads as v1beta1's `ready`, and the v1beta1 condition mirrors
    // the provider keeps (`status.deprecated.v1beta1.conditions`) as v1beta1's `conditions`.
    let mirrors = json!([
        {"type": "Ready", "status": "True", "lastTransitionTime": "2026-01-01T00:00:00Z"},
        {"type": "BaremetalInfrastructureReady", "status": "True", "lastTransitionTime": "2026-01-01T00:00:00Z"},
    ]);
    v2.patch_status(
        "c",
        &PatchParams::default(),
        &Patch::Merge(json!({"status": {
            "initialization": {"provisioned": true},
            "deprecated": {"v1beta1": {"conditions": mirrors}},
        }})),
    )
    .await
    .expect("status in v1beta2");
    let old = json_of(&v1.get("c").await.expect("read as v1beta1"));
    assert_eq!(old["status"]["ready"], true, "{old:#}");
    assert_eq!(old["status"]["conditions"], mirrors, "{old:#}");
    assert_eq!(
        old["spec"]["failureDomains"]["rack-b"]["controlPlane"], true,
        "{old:#}"
    );

    // A v1beta2 Metal3Remediation: whole seconds become a Go duration in v1beta1, in a list too.
    let r2 = api(&client, &ns, "Metal3Remediation", "v1beta2");
    let r1 = api(&client, &ns, "Metal3Remediation", "v1beta1");
    r2.create(
        &PostParams::default(),
        &object(
            "Metal3Remediation",
            "v1beta2",
            "r",
            json!({"strategy": {"type": "Reboot", "retryLimit": 2, "timeoutSeconds": 330}}),
        ),
    )
    .await
    .expect("create v1beta2");
    let listed = r1.list(&Default::default()).await.expect("list as v1beta1");
    let old = json_of(listed.items.first().expect("listed"));
    assert_eq!(old["apiVersion"], format!("{GROUP}/v1beta1"));
    assert_eq!(
        old["spec"]["strategy"],
        json!({"type": "Reboot", "retryLimit": 2, "timeout": "5m30s"})
    );

    // A v1beta1 Metal3Machine: `format` is v1beta2's `diskFormat`.
    let m1 = api(&client, &ns, "Metal3Machine", "v1beta1");
    let m2 = api(&client, &ns, "Metal3Machine", "v1beta2");
    m1.create(
        &PostParams::default(),
        &object(
            "Metal3Machine",
            "v1beta1",
            "m",
            json!({"image": {"url": "http://images.example/live.iso", "format": "live-iso"}, "automatedCleaningMode": "disabled"}),
        ),
    )
    .await
    .expect("create v1beta1");
    let new = json_of(&m2.get("m").await.expect("read as v1beta2"));
    assert_eq!(
        new["spec"]["image"],
        json!({"url": "http://images.example/live.iso", "diskFormat": "live-iso"})
    );
    assert_eq!(new["spec"]["automatedCleaningMode"], "disabled");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_v1beta1_cannot_hold_survives_a_v1beta1_client_edit() {
    let (client, ns, _) = setup("lossless").await;
    let v1 = api(&client, &ns, "Metal3MachineTemplate", "v1beta1");
    let v2 = api(&client, &ns, "Metal3MachineTemplate", "v1beta2");
    v2.create(
        &PostParams::default(),
        &object(
            "Metal3MachineTemplate",
            "v1beta2",
            "t",
            json!({"template": {
                "metadata": {"labels": {"tier": "gold"}},
                "spec": {"failureDomain": "rack-a", "customDeploy": {"method": "install_coreos"}},
            }}),
        ),
    )
    .await
    .expect("create v1beta2");

    // The v1beta1 form carries what it cannot express in the conversion-data annotation…
    let mut old = v1.get("t").await.expect("read as v1beta1");
    assert!(
        old.annotations().contains_key(CONVERSION_DATA_ANNOTATION),
        "{:#}",
        json_of(&old)
    );
    // …so a v1beta1 client that edits and writes the whole object loses nothing.
    old.data["spec"]["template"]["spec"]["failureDomain"] = json!("rack-b");
    v1.replace("t", &PostParams::default(), &old)
        .await
        .expect("v1beta1 update");
    let new = json_of(&v2.get("t").await.expect("read as v1beta2"));
    assert_eq!(new["spec"]["template"]["spec"]["failureDomain"], "rack-b");
    assert_eq!(
        new["spec"]["template"]["metadata"]["labels"]["tier"],
        "gold"
    );
    assert_eq!(
        new["spec"]["template"]["spec"]["customDeploy"]["method"],
        "install_coreos"
    );
    assert!(
        new["metadata"]
            .get("annotations")
            .and_then(|a| a.get(CONVERSION_DATA_ANNOTATION))
            .is_none(),
        "the annotation is never stored: {new:#}"
    );
}

/// Registers the defaulting and validating webhooks for `ns`, as upstream's manifests do.
async fn register_admission(client: &Client, ns: &str, server: &Server) -> String {
    let ca = base64::engine::general_purpose::STANDARD.encode(&server.ca_pem);
    let hook = |prefix: &str, kind: &str, path: String| {
        json!({
            "name": format!("{prefix}.{}.{GROUP}", kind.to_lowercase()),
            "clientConfig": {"url": format!("{}{path}", server.url), "caBundle": ca},
            "rules": [{
                "apiGroups": [GROUP], "apiVersions": ["v1beta2"],
                "operations": ["CREATE", "UPDATE"], "resources": [plural(kind)],
            }],
            "matchPolicy": "Equivalent",
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": ns}},
            "sideEffects": "None",
            "admissionReviewVersions": ["v1"],
            "failurePolicy": "Fail",
        })
    };
    let name = format!("capm3-{ns}");
    let validating: ValidatingWebhookConfiguration = serde_json::from_value(json!({
        "metadata": {"name": name},
        "webhooks": KINDS.iter().map(|(kind, lower)| hook("validation", kind, validate_path(lower))).collect::<Vec<_>>(),
    }))
    .expect("validating configuration");
    let mutating: MutatingWebhookConfiguration = serde_json::from_value(json!({
        "metadata": {"name": name},
        "webhooks": KINDS.iter().filter(|(kind, _)| DEFAULTED.contains(kind)).map(|(kind, lower)| hook("default", kind, mutate_path(lower))).collect::<Vec<_>>(),
    }))
    .expect("mutating configuration");
    Api::<ValidatingWebhookConfiguration>::all(client.clone())
        .create(&PostParams::default(), &validating)
        .await
        .expect("create validating configuration");
    Api::<MutatingWebhookConfiguration>::all(client.clone())
        .create(&PostParams::default(), &mutating)
        .await
        .expect("create mutating configuration");
    // Wait until the API server defaults through the new configuration.
    let clusters = api(client, ns, "Metal3Cluster", "v1beta2");
    let deadline = Instant::now() + WAIT;
    let mut n = 0;
    loop {
        n += 1;
        let probe = format!("probe-{n}");
        let created = clusters
            .create(
                &PostParams::default(),
                &object(
                    "Metal3Cluster",
                    "v1beta2",
                    &probe,
                    json!({"controlPlaneEndpoint": {"host": "192.0.2.1"}}),
                ),
            )
            .await
            .expect("create probe");
        clusters
            .delete(&probe, &DeleteParams::default())
            .await
            .expect("delete probe");
        if json_of(&created)["spec"]["controlPlaneEndpoint"]["port"] == 6443 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the API server never called the defaulting webhook"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    name
}

async fn unregister_admission(client: &Client, name: &str) {
    Api::<ValidatingWebhookConfiguration>::all(client.clone())
        .delete(name, &DeleteParams::default())
        .await
        .expect("delete validating configuration");
    Api::<MutatingWebhookConfiguration>::all(client.clone())
        .delete(name, &DeleteParams::default())
        .await
        .expect("delete mutating configuration");
}

/// Creates objects named `<base>-<n>` until the API server denies one (the configuration is
/// picked up within moments), and returns the message.
async fn denied(api: &Api<DynamicObject>, mut make: impl FnMut(&str) -> DynamicObject) -> String {
    let deadline = Instant::now() + WAIT;
    let mut n = 0;
    loop {
        n += 1;
        let name = format!("x-{n}");
        match api.create(&PostParams::default(), &make(&name)).await {
            Err(kube::Error::Api(status)) => return status.message,
            Ok(_) => {
                api.delete(&name, &DeleteParams::default())
                    .await
                    .expect("cleanup");
            }
            Err(e) => panic!("unexpected error: {e}"),
        }
        assert!(Instant::now() < deadline, "the webhook never denied");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_server_defaults_and_validates_through_our_webhooks() {
    let (client, ns, server) = setup("admission").await;
    let registered = register_admission(&client, &ns, server).await;

    // Validation, in v1beta2 and (converted) in v1beta1: the message names the field.
    let m2 = api(&client, &ns, "Metal3Machine", "v1beta2");
    let message = denied(&m2, |name| {
        object(
            "Metal3Machine",
            "v1beta2",
            name,
            json!({"image": {"url": "http://images.example/os.qcow2"}}),
        )
    })
    .await;
    assert!(message.contains("spec.image.checksum"), "{message}");
    let m1 = api(&client, &ns, "Metal3Machine", "v1beta1");
    let message = denied(&m1, |name| {
        object(
            "Metal3Machine",
            "v1beta1",
            name,
            json!({"image": {"url": "not a url", "checksum": "abc"}}),
        )
    })
    .await;
    assert!(message.contains("spec.image.url"), "{message}");
    m2.create(
        &PostParams::default(),
        &object(
            "Metal3Machine",
            "v1beta2",
            "good",
            json!({"image": {"url": "http://images.example/os.qcow2", "checksum": "http://images.example/os.qcow2.sha256"}}),
        ),
    )
    .await
    .expect("a valid Metal3Machine is admitted");

    let r2 = api(&client, &ns, "Metal3Remediation", "v1beta2");
    let message = denied(&r2, |name| {
        object(
            "Metal3Remediation",
            "v1beta2",
            name,
            json!({"strategy": {"type": "Reboot", "retryLimit": 1, "timeoutSeconds": 10}}),
        )
    })
    .await;
    assert!(
        message.contains("spec.strategy.timeoutSeconds"),
        "{message}"
    );

    // Updates: a Metal3DataClaim's template cannot change.
    let claims = api(&client, &ns, "Metal3DataClaim", "v1beta2");
    claims
        .create(
            &PostParams::default(),
            &object(
                "Metal3DataClaim",
                "v1beta2",
                "claim",
                json!({"template": {"name": "t1"}}),
            ),
        )
        .await
        .expect("create claim");
    let err = claims
        .patch(
            "claim",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"template": {"name": "t2"}}})),
        )
        .await
        .expect_err("the template is immutable");
    assert!(err.to_string().contains("spec.template"), "{err}");

    // Defaulting: the API port (also for a v1beta1 request, converted for the webhook), and a
    // remediation template's strategy.
    let c2 = api(&client, &ns, "Metal3Cluster", "v1beta2");
    let cluster = c2
        .create(
            &PostParams::default(),
            &object(
                "Metal3Cluster",
                "v1beta2",
                "c2",
                json!({"controlPlaneEndpoint": {"host": "192.0.2.10"}}),
            ),
        )
        .await
        .expect("create Metal3Cluster");
    let cluster = json_of(&cluster);
    assert_eq!(cluster["spec"]["controlPlaneEndpoint"]["port"], 6443);
    assert_eq!(cluster["spec"]["cloudProviderEnabled"], false);
    let c1 = api(&client, &ns, "Metal3Cluster", "v1beta1");
    let cluster = c1
        .create(
            &PostParams::default(),
            &object(
                "Metal3Cluster",
                "v1beta1",
                "c1",
                json!({"controlPlaneEndpoint": {"host": "192.0.2.11", "port": 0}}),
            ),
        )
        .await
        .expect("create v1beta1 Metal3Cluster");
    let cluster = json_of(&cluster);
    assert_eq!(cluster["spec"]["controlPlaneEndpoint"]["port"], 6443);
    assert_eq!(cluster["spec"]["noCloudProvider"], true);
    let templates = api(&client, &ns, "Metal3RemediationTemplate", "v1beta2");
    let template = templates
        .create(
            &PostParams::default(),
            &object(
                "Metal3RemediationTemplate",
                "v1beta2",
                "rt",
                json!({"template": {"spec": {}}}),
            ),
        )
        .await
        .expect("create Metal3RemediationTemplate");
    assert_eq!(
        json_of(&template)["spec"]["template"]["spec"]["strategy"],
        json!({"type": "Reboot", "retryLimit": 1, "timeoutSeconds": 600})
    );

    unregister_admission(&client, &registered).await;
}
