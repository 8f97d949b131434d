//! The event recorder against the real API server: repeats become one Event's series.

use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::events::v1::Event as K8sEvent;
use kube::api::Api;
use kube::runtime::events::{Event, EventType};
use metal3_operator::events::Recorder;

fn event(note: &str) -> Event {
    Event {
        type_: EventType::Warning,
        reason: "PowerManagementError".into(),
        note: Some(note.into()),
        action: "PowerOn".into(),
        secondary: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_events_are_one_series_and_others_their_own_event() {
    let cp = metal3_testenv::shared();
    let client = cp.client().await.expect("client");
    let ns = cp.namespace(&client, "events").await.expect("namespace");
    let recorder = Recorder::new(client.clone(), "metal3.io/test", Some("test-0".into()));
    let regarding = ObjectReference {
        api_version: Some("metal3.io/v1alpha1".into()),
        kind: Some("BareMetalHost".into()),
        namespace: Some(ns.clone()),
        name: Some("worker-0".into()),
        uid: Some("8a7e1c9e-0000-4000-8000-000000000001".into()),
        ..ObjectReference::default()
    };
    for _ in 0..3 {
        recorder
            .publish(&event("BMC unreachable"), &regarding)
            .await
            .expect("publish");
    }
    recorder
        .publish(&event("wrong password"), &regarding)
        .await
        .expect("publish");

    let events: Api<K8sEvent> = Api::namespaced(client, &ns);
    let mut listed: Vec<(String, i32)> = events
        .list(&Default::default())
        .await
        .expect("list")
        .items
        .into_iter()
        .map(|e| {
            assert_eq!(e.reporting_controller.as_deref(), Some("metal3.io/test"));
            assert_eq!(e.reporting_instance.as_deref(), Some("test-0"));
            assert_eq!(e.type_.as_deref(), Some("Warning"));
            (
                e.note.unwrap_or_default(),
                e.series.map(|s| s.count).unwrap_or(1),
            )
        })
        .collect();
    listed.sort();
    assert_eq!(
        listed,
        vec![
            ("BMC unreachable".to_string(), 3),
            ("wrong password".to_string(), 1)
        ]
    );
    assert_eq!(recorder.remembered(), 2);
}
