//! BareMetalSwitch and HostNetworkAttachment through the entry point the webhook and
//! `metal3 validate` share: upstream's samples are accepted, broken variants refused with the
//! field named.

use metal3_admission::{Findings, Verdict, validate_value};
use serde_json::{Value, json};

fn judge(new: &Value, old: Option<&Value>) -> Findings {
    match validate_value(new, old) {
        Verdict::Checked(found) => found,
        Verdict::NotOurs => panic!("metal3.io kinds are ours"),
    }
}

fn switch(spec: Value) -> Value {
    json!({
        "apiVersion": "metal3.io/v1alpha1", "kind": "BareMetalSwitch",
        "metadata": {"name": "tor-switch-1", "namespace": "baremetal-operator-system"},
        "spec": spec,
    })
}

fn attachment(spec: Value) -> Value {
    json!({
        "apiVersion": "metal3.io/v1alpha1", "kind": "HostNetworkAttachment",
        "metadata": {"name": "storage-trunk-config", "namespace": "baremetal-operator-system"},
        "spec": spec,
    })
}

/// Asserts exactly the errors `fields`, each message containing its text.
#[track_caller]
fn refused(found: &Findings, expected: &[(&str, &str)]) {
    let got: Vec<_> = found.errors.iter().map(|e| e.field.as_str()).collect();
    let want: Vec<_> = expected.iter().map(|(f, _)| *f).collect();
    assert_eq!(got, want, "{found:#?}");
    for (e, (_, text)) in found.errors.iter().zip(expected) {
        assert!(e.message.contains(text), "{}: {}", e.field, e.message);
    }
}

/// Asserts that the API server's own checks (the schema) refuse `field`, with `text`: what Go's
/// decoding lets through to the rules as a zero value.
#[track_caller]
fn refused_by_schema(found: &Findings, field: &str, text: &str) {
    assert!(
        found
            .schema_errors
            .iter()
            .any(|e| e.field == field && e.message.contains(text)),
        "{found:#?}"
    );
}

#[test]
fn upstream_switch_sample_is_accepted() {
    let sample = switch(json!({
        "address": "192.168.1.10", "deviceType": "netmiko_cisco_ios", "driver": "generic-switch",
        "port": 22, "macAddress": "aa:bb:cc:dd:ee:ff", "disableCertificateVerification": false,
        "credentials": {"name": "tor-switch-1-credentials"}
    }));
    assert_eq!(judge(&sample, None), Findings::default());
}

#[test]
fn broken_switches_are_refused() {
    let base = json!({"address": "10.0.0.1", "deviceType": "netmiko_dell_os10",
                      "macAddress": "aa:bb:cc:dd:ee:ff", "credentials": {"name": "c"}});
    let variant = |patch: Value| {
        let mut spec = base.clone();
        for (k, v) in patch.as_object().expect("object") {
            match v {
                Value::Null => spec.as_object_mut().expect("object").remove(k),
                v => spec
                    .as_object_mut()
                    .expect("object")
                    .insert(k.clone(), v.clone()),
            };
        }
        switch(spec)
    };
    refused(
        &judge(&variant(json!({"macAddress": "aabb.ccdd.eeff"})), None),
        &[("spec.macAddress", "colon")],
    );
    refused(
        &judge(&variant(json!({"port": 70000})), None),
        &[("spec.port", "1-65535")],
    );
    refused(
        &judge(&variant(json!({"driver": "netconf"})), None),
        &[("spec.driver", "unknown variant")],
    );
    refused(
        &judge(&variant(json!({"port": "22"})), None),
        &[("spec.port", "invalid type")],
    );
    refused_by_schema(
        &judge(&variant(json!({"deviceType": null})), None),
        "spec",
        "deviceType",
    );
    let no_credentials = judge(&variant(json!({"credentials": null})), None);
    assert!(no_credentials.errors.is_empty(), "{no_credentials:?}");
    assert!(
        no_credentials.warnings[0].contains("spec.credentials"),
        "{no_credentials:?}"
    );
}

#[test]
fn upstream_attachment_samples_are_accepted() {
    for spec in [
        json!({"mode": "access", "nativeVLAN": 100, "mtu": 1500}),
        json!({"mode": "trunk", "nativeVLAN": 200, "allowedVLANs": ["200-203"], "mtu": 9000}),
        // The API server fills in the mode.
        json!({"nativeVLAN": 100}),
    ] {
        assert_eq!(
            judge(&attachment(spec.clone()), None),
            Findings::default(),
            "{spec}"
        );
    }
}

#[test]
fn broken_attachments_are_refused() {
    refused(
        &judge(
            &attachment(json!({"mode": "access", "nativeVLAN": 0})),
            None,
        ),
        &[("spec.nativeVLAN", "greater than or equal to 1")],
    );
    refused(
        &judge(
            &attachment(json!({"mode": "trunk", "nativeVLAN": 10, "mtu": 9217})),
            None,
        ),
        &[("spec.mtu", "less than or equal to 9216")],
    );
    refused(
        &judge(
            &attachment(json!({"mode": "access", "nativeVLAN": 10, "allowedVLANs": ["20"]})),
            None,
        ),
        &[("spec.allowedVLANs", "access mode")],
    );
    refused(
        &judge(
            &attachment(
                json!({"mode": "hybrid", "nativeVLAN": 10, "allowedVLANs": ["20", "30-25", "x"]}),
            ),
            None,
        ),
        &[
            ("spec.allowedVLANs[1]", "must be less than end"),
            ("spec.allowedVLANs[2]", "not a number"),
        ],
    );
    refused(
        &judge(
            &attachment(json!({"mode": "bridge", "nativeVLAN": 10})),
            None,
        ),
        &[("spec.mode", "unknown variant")],
    );
    refused_by_schema(
        &judge(&attachment(json!({"mode": "trunk"})), None),
        "spec",
        "nativeVLAN",
    );
}

#[test]
fn an_update_is_judged_only_when_the_spec_changes() {
    let old = attachment(json!({"mode": "trunk", "nativeVLAN": 10, "allowedVLANs": ["20"]}));
    let mut relabelled = old.clone();
    relabelled["metadata"]["labels"] = json!({"purpose": "storage"});
    assert_eq!(judge(&relabelled, Some(&old)), Findings::default());
    let widened =
        attachment(json!({"mode": "trunk", "nativeVLAN": 10, "allowedVLANs": ["20-4095"]}));
    refused(
        &judge(&widened, Some(&old)),
        &[("spec.allowedVLANs[0]", "out of range")],
    );
}
