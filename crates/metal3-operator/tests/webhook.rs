//! The validating webhook served over TLS and called by the real kube-apiserver.

use std::time::{Duration, Instant};

use base64::Engine;
use k8s_openapi::api::admissionregistration::v1::ValidatingWebhookConfiguration;
use kube::api::{Api, DeleteParams, PostParams};
use metal3_api::v1alpha1::BareMetalHost;
use serde_json::json;

fn host(name: &str, address: &str) -> BareMetalHost {
    serde_json::from_value(json!({
        "apiVersion": "metal3.io/v1alpha1", "kind": "BareMetalHost",
        "metadata": {"name": name},
        "spec": {"online": true, "bmc": {"address": address, "credentialsName": "bmc"}},
    }))
    .expect("host")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_server_rejects_invalid_hosts_through_our_webhook() {
    let cp = metal3_testenv::shared();
    let client = cp.client().await.expect("client");
    let ns = cp.namespace(&client, "webhook").await.expect("namespace");

    // A CA and a serving certificate for 127.0.0.1.
    let tls = metal3_testenv::tls::loopback_certificate().expect("certificate");

    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let server = tokio::spawn(metal3_operator::webhook::serve_listener(
        listener,
        tls.cert_pem.into_bytes(),
        tls.key_pem.into_bytes(),
    ));

    let webhooks: Vec<_> = metal3_operator::webhook::PATHS
        .iter()
        .map(|(kind, path)| {
            let plural = format!("{}s", kind.to_lowercase());
            json!({
                "name": format!("{}.metal3.io", kind.to_lowercase()),
                "clientConfig": {
                    "url": format!("https://127.0.0.1:{port}{path}"),
                    "caBundle": base64::engine::general_purpose::STANDARD.encode(&tls.ca_pem),
                },
                "rules": [{
                    "apiGroups": ["metal3.io"], "apiVersions": ["v1alpha1"],
                    "operations": ["CREATE", "UPDATE"], "resources": [plural],
                }],
                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": ns}},
                "sideEffects": "None",
                "admissionReviewVersions": ["v1"],
                "failurePolicy": "Fail",
            })
        })
        .collect();
    let config: ValidatingWebhookConfiguration = serde_json::from_value(json!({
        "metadata": {"name": format!("metal3-{ns}")},
        "webhooks": webhooks,
    }))
    .expect("webhook configuration");
    let configs: Api<ValidatingWebhookConfiguration> = Api::all(client.clone());
    configs
        .create(&PostParams::default(), &config)
        .await
        .expect("create webhook configuration");

    // The API server picks the configuration up within moments; poll until it rejects.
    let hosts: Api<BareMetalHost> = Api::namespaced(client.clone(), &ns);
    let deadline = Instant::now() + Duration::from_secs(30);
    let message = loop {
        match hosts
            .create(&PostParams::default(), &host("bad", "foo://192.0.2.1"))
            .await
        {
            Err(kube::Error::Api(status)) => break status.message,
            Ok(_) => {
                hosts
                    .delete("bad", &DeleteParams::default())
                    .await
                    .expect("cleanup");
            }
            Err(e) => panic!("unexpected error: {e}"),
        }
        assert!(
            Instant::now() < deadline,
            "the webhook never rejected the host"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(message.contains("spec.bmc.address"), "{message}");
    assert!(message.contains("Unknown BMC type"), "{message}");

    hosts
        .create(
            &PostParams::default(),
            &host("good", "redfish://192.0.2.1/redfish/v1/Systems/1"),
        )
        .await
        .expect("a valid host is admitted");

    // HostClaims are judged at their own path.
    let claims: Api<metal3_api::v1alpha1::HostClaim> = Api::namespaced(client.clone(), &ns);
    let claim = |operator: &str| {
        serde_json::from_value(json!({
            "apiVersion": "metal3.io/v1alpha1", "kind": "HostClaim",
            "metadata": {"name": format!("c-{}", operator.len())},
            "spec": {"poweredOn": false, "hostSelector": {"matchExpressions": [
                {"key": "rack", "operator": operator, "values": ["r1"]}]}},
        }))
        .expect("claim")
    };
    let refused = claims.create(&PostParams::default(), &claim("In")).await;
    let Err(kube::Error::Api(status)) = refused else {
        panic!("a HostClaim with operator In must be refused: {refused:?}");
    };
    assert!(
        status
            .message
            .contains("spec.hostSelector.matchExpressions[0].operator"),
        "{}",
        status.message
    );
    claims
        .create(&PostParams::default(), &claim("in"))
        .await
        .expect("a valid claim is admitted");

    configs
        .delete(&format!("metal3-{ns}"), &DeleteParams::default())
        .await
        .expect("delete webhook configuration");
    server.abort();
}
