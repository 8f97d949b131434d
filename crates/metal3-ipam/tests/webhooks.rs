//! The IP address manager's webhooks called by the real kube-apiserver, registered as
//! upstream registers them (a defaulting and a validating webhook per kind, over TLS with a
//! CA bundle): what the rules refuse is refused with the field named, and the rest goes
//! through.

mod common;

use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use k8s_openapi::ByteString;
use k8s_openapi::api::admissionregistration::v1::{
    MutatingWebhookConfiguration, ValidatingWebhookConfiguration,
};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use metal3_ipam::webhook::{KINDS, mutate_path, validate_path};
use metal3_ipam_api::v1alpha1::{IPAddress, IPClaim, IPPool};
use serde_json::{Value, json};

use common::Env;

const WAIT: Duration = Duration::from_secs(60);

/// Defaulting requests the server has answered.
static DEFAULTED: AtomicUsize = AtomicUsize::new(0);

/// The webhook server of this test binary: `https://127.0.0.1:<port>` and its CA (PEM).
fn server() -> &'static (String, String) {
    static SERVER: OnceLock<(String, String)> = OnceLock::new();
    SERVER.get_or_init(|| {
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
            let router = metal3_ipam::webhook::router().layer(axum::middleware::from_fn(
                |request: axum::extract::Request, next: axum::middleware::Next| async move {
                    if request.uri().path().starts_with("/mutate-") {
                        DEFAULTED.fetch_add(1, Ordering::SeqCst);
                    }
                    next.run(request).await
                },
            ));
            let served = runtime.block_on(metal3_kube::webhook::serve_router_on(
                listener, cert_pem, key_pem, router,
            ));
            panic!("the webhook server stopped: {served:?}");
        });
        (format!("https://127.0.0.1:{port}"), tls.ca_pem)
    })
}

fn plural(kind: &str) -> String {
    match kind {
        "IPAddress" => "ipaddresses".into(),
        k => format!("{}s", k.to_lowercase()),
    }
}

/// Registers the webhooks for the test's namespace only; returns the configurations' name.
async fn register(env: &Env) -> String {
    let (url, ca) = server();
    let hook = |prefix: &str, kind: &str, path: String| {
        json!({
            "name": format!("{prefix}.{}.ipam.metal3.io", kind.to_lowercase()),
            "clientConfig": {"url": format!("{url}{path}"), "caBundle": ByteString(ca.clone().into_bytes())},
            "rules": [{
                "apiGroups": ["ipam.metal3.io"], "apiVersions": ["v1alpha1"],
                "operations": ["CREATE", "UPDATE"], "resources": [plural(kind)],
            }],
            "matchPolicy": "Equivalent",
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": env.ns}},
            "sideEffects": "None",
            "admissionReviewVersions": ["v1"],
            "failurePolicy": "Fail",
        })
    };
    let name = format!("ipam-{}", env.ns);
    let validating: ValidatingWebhookConfiguration = serde_json::from_value(json!({
        "metadata": {"name": name},
        "webhooks": KINDS.iter().map(|(k, l)| hook("validation", k, validate_path(l))).collect::<Vec<_>>(),
    }))
    .expect("validating configuration");
    let mutating: MutatingWebhookConfiguration = serde_json::from_value(json!({
        "metadata": {"name": name},
        "webhooks": KINDS.iter().map(|(k, l)| hook("default", k, mutate_path(l))).collect::<Vec<_>>(),
    }))
    .expect("mutating configuration");
    Api::<ValidatingWebhookConfiguration>::all(env.client.clone())
        .create(&PostParams::default(), &validating)
        .await
        .expect("create validating configuration");
    Api::<MutatingWebhookConfiguration>::all(env.client.clone())
        .create(&PostParams::default(), &mutating)
        .await
        .expect("create mutating configuration");
    name
}

async fn unregister(env: &Env, name: &str) {
    Api::<ValidatingWebhookConfiguration>::all(env.client.clone())
        .delete(name, &DeleteParams::default())
        .await
        .expect("delete validating configuration");
    Api::<MutatingWebhookConfiguration>::all(env.client.clone())
        .delete(name, &DeleteParams::default())
        .await
        .expect("delete mutating configuration");
}

fn pool(name: &str, spec: Value) -> IPPool {
    serde_json::from_value(json!({
        "apiVersion": "ipam.metal3.io/v1alpha1", "kind": "IPPool",
        "metadata": {"name": name}, "spec": spec,
    }))
    .expect("pool")
}

/// Creates pools with `spec` until the API server denies one (a new configuration is picked
/// up within moments); returns the message.
async fn first_denial(pools: &Api<IPPool>, spec: Value) -> String {
    let deadline = Instant::now() + WAIT;
    let mut n = 0;
    loop {
        n += 1;
        let name = format!("probe-{n}");
        match pools
            .create(&PostParams::default(), &pool(&name, spec.clone()))
            .await
        {
            Err(kube::Error::Api(status)) => return status.message,
            Ok(_) => {
                pools
                    .delete(&name, &DeleteParams::default())
                    .await
                    .expect("cleanup");
            }
            Err(e) => panic!("unexpected error: {e}"),
        }
        assert!(Instant::now() < deadline, "the webhook never denied");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn denied<T: std::fmt::Debug>(result: Result<T, kube::Error>) -> String {
    match result {
        Err(kube::Error::Api(status)) => status.message,
        other => panic!("expected a denial, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_server_validates_and_defaults_through_our_webhooks() {
    let env = Env::bare("admission").await;
    let registered = register(&env).await;
    let pools = env.api::<IPPool>();

    let message = first_denial(
        &pools,
        json!({"namePrefix": "p", "pools": [{"start": "10.0.0.9", "end": "10.0.0.1"}]}),
    )
    .await;
    assert!(
        message.contains("spec.pools[0]: end comes before start"),
        "{message}"
    );

    // A valid pool goes through, defaulted through our webhook too.
    let before = DEFAULTED.load(Ordering::SeqCst);
    pools
        .create(
            &PostParams::default(),
            &pool(
                "good",
                json!({"namePrefix": "good", "pools": [{"subnet": "10.0.0.0/24"}],
                                 "preAllocations": {"fixed": "10.0.0.5"}}),
            ),
        )
        .await
        .expect("a valid pool is admitted");
    assert!(
        DEFAULTED.load(Ordering::SeqCst) > before,
        "the defaulting webhook was called"
    );

    let random_open = denied(
        pools
            .create(
                &PostParams::default(),
                &pool("open", json!({"namePrefix": "o", "allocationStrategy": "random", "pools": [{"start": "10.0.1.1"}]})),
            )
            .await,
    );
    assert!(
        random_open.contains("spec.pools[0]: the random allocation strategy needs a bounded range"),
        "{random_open}"
    );
    let outside = denied(
        pools
            .create(
                &PostParams::default(),
                &pool(
                    "outside",
                    json!({"namePrefix": "x", "pools": [{"subnet": "10.0.0.0/24"}],
                                        "preAllocations": {"m": "10.0.9.9"}}),
                ),
            )
            .await,
    );
    assert!(
        outside.contains("spec.preAllocations: 10.0.9.9 (claim \"m\") is in no range of the pool"),
        "{outside}"
    );
    let renamed = denied(
        pools
            .patch(
                "good",
                &PatchParams::default(),
                &Patch::Merge(json!({"spec": {"namePrefix": "bad"}})),
            )
            .await,
    );
    assert!(
        renamed.contains("spec.namePrefix: cannot be changed"),
        "{renamed}"
    );

    // Claims: a pool is named, and a requested address is one.
    let claims = env.api::<IPClaim>();
    let claim = |annotation: Option<&str>, pool: &str| -> IPClaim {
        let mut c = json!({"apiVersion": "ipam.metal3.io/v1alpha1", "kind": "IPClaim",
                           "metadata": {"name": "c"}, "spec": {"pool": {"name": pool}}});
        if let Some(a) = annotation {
            c["metadata"]["annotations"] = json!({"ipAddress": a});
        }
        serde_json::from_value(c).expect("claim")
    };
    let nameless = denied(
        claims
            .create(&PostParams::default(), &claim(None, ""))
            .await,
    );
    assert!(nameless.contains("spec.pool.name: required"), "{nameless}");
    let bad_request = denied(
        claims
            .create(&PostParams::default(), &claim(Some("10.0.0.300"), "good"))
            .await,
    );
    assert!(
        bad_request.contains("metadata.annotations.ipAddress"),
        "{bad_request}"
    );
    claims
        .create(&PostParams::default(), &claim(Some("10.0.0.7"), "good"))
        .await
        .expect("a valid claim is admitted");
    let moved = denied(
        claims
            .patch(
                "c",
                &PatchParams::default(),
                &Patch::Merge(json!({"spec": {"pool": {"name": "other"}}})),
            )
            .await,
    );
    assert!(moved.contains("spec.pool: cannot be changed"), "{moved}");

    // Addresses keep their address, pool and claim.
    let addresses = env.api::<IPAddress>();
    let address: IPAddress = serde_json::from_value(json!({
        "apiVersion": "ipam.metal3.io/v1alpha1", "kind": "IPAddress",
        "metadata": {"name": "good-10-0-0-7"},
        "spec": {"address": "10.0.0.7", "pool": {"name": "good"}, "claim": {"name": "c"}},
    }))
    .expect("address");
    addresses
        .create(&PostParams::default(), &address)
        .await
        .expect("a valid address is admitted");
    let changed = denied(
        addresses
            .patch(
                "good-10-0-0-7",
                &PatchParams::default(),
                &Patch::Merge(json!({"spec": {"address": "10.0.0.8"}})),
            )
            .await,
    );
    assert!(
        changed.contains("spec.address: cannot be changed"),
        "{changed}"
    );

    unregister(&env, &registered).await;
}
