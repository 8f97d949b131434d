//! The HostNetworkAttachment webhook served over TLS and called by the real kube-apiserver: an
//! attachment's spec cannot change, nor can it be deleted, while a host interface refers to
//! it; metadata changes pass, and once the reference is gone so do spec changes and deletes.

use std::time::{Duration, Instant};

use base64::Engine;
use k8s_openapi::api::admissionregistration::v1::ValidatingWebhookConfiguration;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use metal3_api::v1alpha1::{BareMetalHost, HostNetworkAttachment};
use serde_json::json;

fn attachment(vlan: i64) -> HostNetworkAttachment {
    serde_json::from_value(json!({
        "apiVersion": "metal3.io/v1alpha1", "kind": "HostNetworkAttachment",
        "metadata": {"name": "storage"},
        "spec": {"mode": "trunk", "nativeVLAN": vlan, "allowedVLANs": ["300-310"]},
    }))
    .expect("attachment")
}

fn error_message(result: Result<impl std::fmt::Debug, kube::Error>) -> String {
    match result {
        Err(kube::Error::Api(status)) => status.message,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_attachment_in_use_cannot_change_or_go() {
    let cp = metal3_testenv::shared();
    let client = cp.client().await.expect("client");
    let ns = cp.namespace(&client, "attach").await.expect("namespace");
    let tls = metal3_testenv::tls::loopback_certificate().expect("certificate");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let server = tokio::spawn(metal3_operator::webhook::serve_listener_with_client(
        listener,
        tls.cert_pem.into_bytes(),
        tls.key_pem.into_bytes(),
        client.clone(),
    ));
    let config: ValidatingWebhookConfiguration = serde_json::from_value(json!({
        "metadata": {"name": format!("metal3-attach-{ns}")},
        "webhooks": [{
            "name": "hostnetworkattachment.metal3.io",
            "clientConfig": {
                "url": format!("https://127.0.0.1:{port}{}", metal3_operator::attachment_webhook::PATH),
                "caBundle": base64::engine::general_purpose::STANDARD.encode(&tls.ca_pem),
            },
            "rules": [{
                "apiGroups": ["metal3.io"], "apiVersions": ["v1alpha1"],
                "operations": ["CREATE", "UPDATE", "DELETE"], "resources": ["hostnetworkattachments"],
            }],
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": ns}},
            "sideEffects": "None",
            "admissionReviewVersions": ["v1"],
            "failurePolicy": "Fail",
        }],
    }))
    .expect("webhook configuration");
    let configs: Api<ValidatingWebhookConfiguration> = Api::all(client.clone());
    configs
        .create(&PostParams::default(), &config)
        .await
        .expect("create webhook configuration");

    // Until the API server calls the webhook, an access attachment with allowed VLANs passes
    // (the schema allows it); poll until the webhook refuses it.
    let attachments: Api<HostNetworkAttachment> = Api::namespaced(client.clone(), &ns);
    let mut access = attachment(10);
    access.metadata.name = Some("bad".into());
    access.spec.mode = metal3_api::v1alpha1::SwitchPortMode::Access;
    let deadline = Instant::now() + Duration::from_secs(30);
    let message = loop {
        match attachments.create(&PostParams::default(), &access).await {
            Err(kube::Error::Api(status)) => break status.message,
            Ok(_) => {
                // Deleting goes through the webhook too once it is in place; either is fine.
                let _ = attachments.delete("bad", &DeleteParams::default()).await;
            }
            Err(e) => panic!("unexpected error: {e}"),
        }
        assert!(Instant::now() < deadline, "the webhook never refused");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(message.contains("spec.allowedVLANs"), "{message}");

    attachments
        .create(&PostParams::default(), &attachment(200))
        .await
        .expect("a valid attachment is admitted");
    let hosts: Api<BareMetalHost> = Api::namespaced(client.clone(), &ns);
    let host: BareMetalHost = serde_json::from_value(json!({
        "apiVersion": "metal3.io/v1alpha1", "kind": "BareMetalHost",
        "metadata": {"name": "worker-0"},
        "spec": {"online": true, "networkInterfaces": [
            {"name": "eno1", "hostNetworkAttachment": {"name": "storage"}}
        ]},
    }))
    .expect("host");
    hosts
        .create(&PostParams::default(), &host)
        .await
        .expect("host referring to the attachment");

    let pp = PatchParams::default();
    let change = Patch::Merge(json!({"spec": {"nativeVLAN": 201}}));
    let message = error_message(attachments.patch("storage", &pp, &change).await);
    assert!(message.contains("immutable while referenced"), "{message}");
    assert!(
        message.contains(&format!("{ns}/worker-0[eno1]")),
        "{message}"
    );
    let message = error_message(
        attachments
            .delete("storage", &DeleteParams::default())
            .await,
    );
    assert!(message.contains("cannot delete attachment"), "{message}");
    // Metadata is not the spec.
    attachments
        .patch(
            "storage",
            &pp,
            &Patch::Merge(json!({"metadata": {"labels": {"purpose": "storage"}}})),
        )
        .await
        .expect("a label may change");

    // Without the reference, the attachment is free again.
    hosts
        .patch(
            "worker-0",
            &pp,
            &Patch::Merge(json!({"spec": {"networkInterfaces": null}})),
        )
        .await
        .expect("drop the reference");
    let changed = attachments
        .patch("storage", &pp, &change)
        .await
        .expect("the spec may change once unreferenced");
    assert_eq!(changed.spec.native_vlan, 201);
    attachments
        .delete("storage", &DeleteParams::default())
        .await
        .expect("and it may go");

    configs
        .delete(&format!("metal3-attach-{ns}"), &DeleteParams::default())
        .await
        .expect("delete webhook configuration");
    server.abort();
}
