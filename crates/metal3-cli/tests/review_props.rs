//! Properties of the bodies the webhooks read: every route of the operator's, the provider's
//! and the IP address manager's webhooks, given any bytes, any AdmissionReview (any kind, any
//! operation, any object and old object) or any ConversionReview, answers — a review for its
//! `uid`, or a client error for a body that is not one — and never fails on the server's side.

use std::sync::OnceLock;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use proptest::prelude::*;
use serde_json::{Value, json};
use tower::ServiceExt;

/// Members the rules read, so arbitrary objects hit them with every type.
const MEMBERS: &[&str] = &[
    "apiVersion",
    "kind",
    "metadata",
    "name",
    "namespace",
    "annotations",
    "labels",
    "spec",
    "status",
    "bmc",
    "address",
    "credentialsName",
    "bootMACAddress",
    "online",
    "image",
    "url",
    "checksum",
    "checksumType",
    "format",
    "rootDeviceHints",
    "raid",
    "firmware",
    "userData",
    "networkData",
    "metaData",
    "consumerRef",
    "externallyProvisioned",
    "automatedCleaningMode",
    "bootMode",
    "hardwareProfile",
    "customDeploy",
    "preprovisioningNetworkDataName",
    "updates",
    "hostSelector",
    "matchLabels",
    "dataTemplate",
    "template",
    "controlPlaneEndpoint",
    "host",
    "port",
    "strategy",
    "type",
    "retryLimit",
    "timeout",
    "pools",
    "ipAddressesFromIPPool",
    "networks",
    "links",
    "ethernets",
    "prefix",
    "gateway",
    "start",
    "end",
    "subnet",
    "ranges",
    "dnsServers",
    "preAllocations",
    "pool",
    "address",
    "destinationUrl",
    "eventTypes",
    "httpHeadersRef",
    "context",
    "component",
    "poweredOn",
    "hostClaimNamespaces",
];

/// Every webhook route with its router.
fn routes() -> &'static [(String, Router)] {
    static ROUTES: OnceLock<Vec<(String, Router)>> = OnceLock::new();
    ROUTES.get_or_init(|| {
        let mut routes: Vec<(String, Router)> = metal3_operator::webhook::PATHS
            .iter()
            .map(|(_, path)| (path.to_string(), metal3_operator::webhook::router()))
            .collect();
        for (kind, lower) in metal3_capm3::webhook::KINDS {
            let mut paths = vec![metal3_capm3::webhook::validate_path(lower)];
            if metal3_capm3::webhook::DEFAULTED.contains(kind) {
                paths.push(metal3_capm3::webhook::mutate_path(lower));
            }
            for path in paths {
                routes.push((path, metal3_capm3::webhook::router()));
            }
        }
        routes.push(("/convert".to_string(), metal3_capm3::webhook::router()));
        for (_, lower) in metal3_ipam::webhook::KINDS {
            for path in [
                metal3_ipam::webhook::validate_path(lower),
                metal3_ipam::webhook::mutate_path(lower),
            ] {
                routes.push((path, metal3_ipam::webhook::router()));
            }
        }
        routes
    })
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime")
    })
}

/// POSTs `body` as JSON to `path` of `router`: the status and the body.
fn post(router: &Router, path: &str, body: Vec<u8>) -> (StatusCode, Vec<u8>) {
    runtime().block_on(async {
        let request = Request::post(path)
            .header("content-type", "application/json")
            .body(Body::from(body))
            .expect("request");
        let response = router.clone().oneshot(request).await.expect("infallible");
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 64 << 20)
            .await
            .expect("body");
        (status, bytes.to_vec())
    })
}

fn json() -> BoxedStrategy<Value> {
    metal3_hostile::json(MEMBERS)
}

/// An object that mostly claims a kind the webhooks judge, with any content.
fn object() -> BoxedStrategy<Value> {
    let kinds = prop_oneof![
        Just(("metal3.io/v1alpha1", "BareMetalHost")),
        Just(("metal3.io/v1alpha1", "DataImage")),
        Just(("metal3.io/v1alpha1", "HostClaim")),
        Just(("infrastructure.cluster.x-k8s.io/v1beta1", "Metal3Machine")),
        Just((
            "infrastructure.cluster.x-k8s.io/v1beta2",
            "Metal3DataTemplate"
        )),
        Just(("infrastructure.cluster.x-k8s.io/v1beta1", "Metal3Cluster")),
        Just(("ipam.metal3.io/v1alpha1", "IPPool")),
        Just(("v1", "Secret")),
    ];
    (kinds, json(), json(), json())
        .prop_map(|((api_version, kind), spec, status, metadata)| {
            json!({"apiVersion": api_version, "kind": kind, "metadata": metadata,
                   "spec": spec, "status": status})
        })
        .boxed()
}

fn admission_review(object: Value, old: Option<Value>, operation: &str) -> Value {
    let kind = object["kind"]
        .as_str()
        .unwrap_or("BareMetalHost")
        .to_string();
    let api_version = object["apiVersion"]
        .as_str()
        .unwrap_or("metal3.io/v1alpha1")
        .to_string();
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", &api_version));
    json!({
        "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "request": {
            "uid": "review-uid",
            "kind": {"group": group, "version": version, "kind": kind},
            "resource": {"group": group, "version": version, "resource": kind.to_lowercase()},
            "name": "x", "namespace": "ns", "operation": operation,
            "userInfo": {"username": "tester"},
            "object": object, "oldObject": old, "dryRun": false,
        }
    })
}

/// An answer for the review's uid, or a client error; never a server error.
fn answered(status: StatusCode, body: &[u8], what: &str) -> Result<(), TestCaseError> {
    prop_assert!(
        !status.is_server_error() && status != StatusCode::NOT_FOUND,
        "{what}: {status}"
    );
    if status == StatusCode::OK {
        let review: Value = serde_json::from_slice(body).expect("a JSON review");
        prop_assert_eq!(&review["response"]["uid"], "review-uid", "{}", review);
        if review["response"]["allowed"] == false {
            let message = review["response"]["status"]["message"]
                .as_str()
                .unwrap_or("");
            prop_assert!(!message.is_empty(), "a refusal says why: {}", review);
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn any_bytes_get_an_answer_not_a_failure(
        route in proptest::sample::select((0..routes().len()).collect::<Vec<_>>()),
        bytes in proptest::collection::vec(any::<u8>(), 0..256),
    ) {
        let (path, router) = &routes()[route];
        let (status, _) = post(router, path, bytes);
        prop_assert!(status.is_client_error() && status != StatusCode::NOT_FOUND, "{path}: {status}");
    }

    #[test]
    fn any_admission_review_gets_an_answer_for_its_uid(
        route in proptest::sample::select((0..routes().len()).collect::<Vec<_>>()),
        object in object(),
        old in proptest::option::of(object()),
        operation in proptest::sample::select(vec!["CREATE", "UPDATE", "DELETE", "CONNECT", "PATCH"]),
    ) {
        let (path, router) = &routes()[route];
        let review = admission_review(object, old, operation);
        let (status, body) = post(router, path, serde_json::to_vec(&review).expect("JSON"));
        answered(status, &body, path)?;
    }

    #[test]
    fn any_conversion_review_gets_an_answer_for_its_uid(
        objects in proptest::collection::vec(object(), 0..4),
        desired in proptest::sample::select(vec![
            "infrastructure.cluster.x-k8s.io/v1beta1",
            "infrastructure.cluster.x-k8s.io/v1beta2",
            "infrastructure.cluster.x-k8s.io/v9",
            "",
        ]),
    ) {
        let review = json!({
            "apiVersion": "apiextensions.k8s.io/v1", "kind": "ConversionReview",
            "request": {"uid": "review-uid", "desiredAPIVersion": desired, "objects": objects},
        });
        let router = metal3_capm3::webhook::router();
        let (status, body) = post(&router, "/convert", serde_json::to_vec(&review).expect("JSON"));
        prop_assert!(!status.is_server_error(), "{status}");
        if status == StatusCode::OK {
            let review: Value = serde_json::from_slice(&body).expect("a JSON review");
            prop_assert_eq!(&review["response"]["uid"], "review-uid", "{}", review);
            if review["response"]["result"]["status"] == "Failure" {
                let message = review["response"]["result"]["message"].as_str().unwrap_or("");
                prop_assert!(!message.is_empty(), "a failure says why: {}", review);
            }
        }
    }
}

#[test]
fn an_oversized_or_too_deep_body_is_refused_by_every_webhook() {
    let huge = json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
                      "request": {"uid": "u", "object": {"spec": "x".repeat(8 << 20)}}});
    let huge = serde_json::to_vec(&huge).expect("JSON");
    let deep = metal3_hostile::nested_text(200_000, Some("request")).into_bytes();
    for (path, router) in routes() {
        let (status, _) = post(router, path, huge.clone());
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{path}");
        let (status, _) = post(router, path, deep.clone());
        assert!(status.is_client_error(), "{path}: {status}");
    }
}

#[test]
fn a_well_formed_review_is_answered_by_every_admission_webhook() {
    let object = json!({"apiVersion": "metal3.io/v1alpha1", "kind": "BareMetalHost",
                        "metadata": {"name": "x", "namespace": "ns"}});
    let review = serde_json::to_vec(&admission_review(object, None, "DELETE")).expect("JSON");
    for (path, router) in routes().iter().filter(|(p, _)| p != "/convert") {
        let (status, body) = post(router, path, review.clone());
        assert_eq!(status, StatusCode::OK, "{path}");
        let review: Value = serde_json::from_slice(&body).expect("a JSON review");
        assert_eq!(review["response"]["uid"], "review-uid", "{path}: {review}");
        assert_eq!(review["response"]["allowed"], true, "{path}: {review}");
    }
}
