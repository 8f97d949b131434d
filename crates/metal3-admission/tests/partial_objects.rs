//! Partial objects, decoded as upstream decodes them: Go's `encoding/json` in the webhook (an
//! absent or `null` field is its zero value; a wrong JSON type is refused) and the API server
//! for a manifest (required fields, types, unknown fields). One table per concern, each row
//! a case driven through `validate_value`, the entry point of the webhook and `metal3 validate`.

use metal3_admission::{Findings, Verdict, validate_value};
use serde_json::{Value, json};

const STATUS: &str = "baremetalhost.metal3.io/status";
const HARDWARE: &str = "inspect.metal3.io/hardwaredetails";

fn host() -> Value {
    json!({
        "apiVersion": "metal3.io/v1alpha1",
        "kind": "BareMetalHost",
        "metadata": {"name": "worker-0", "namespace": "metal3"},
        "spec": {
            "online": true,
            "bmc": {
                "address": "redfish-virtualmedia://192.168.111.1:8000/redfish/v1/Systems/1",
                "credentialsName": "worker-0-bmc-secret"
            }
        }
    })
}

fn annotated(key: &str, value: &str) -> Value {
    let mut h = host();
    h["metadata"]["annotations"] = json!({ key: value });
    h
}

fn findings(new: &Value, old: Option<&Value>) -> Findings {
    match validate_value(new, old) {
        Verdict::Checked(found) => found,
        Verdict::NotOurs => panic!("metal3.io objects are ours"),
    }
}

/// `None`: accepted; `Some((field, part))`: exactly one error, at `field`, containing `part`.
type Expected = Option<(&'static str, &'static str)>;

#[track_caller]
fn assert_errors(case: &str, errors: &[metal3_admission::FieldError], expected: Expected) {
    match expected {
        None => assert!(
            errors.is_empty(),
            "{case}: expected no error, got {errors:#?}"
        ),
        Some((field, part)) => {
            assert_eq!(errors.len(), 1, "{case}: {errors:#?}");
            assert_eq!(errors[0].field, field, "{case}");
            assert!(errors[0].message.contains(part), "{case}: {}", errors[0]);
        }
    }
}

#[test]
fn a_status_annotation_is_decoded_as_go_decodes_it() {
    let field = "metadata.annotations[baremetalhost.metal3.io/status]";
    let cases: &[(&str, &str, Expected)] = &[
        ("only some fields", r#"{"operationalStatus": "OK"}"#, None),
        ("no fields at all", "{}", None),
        (
            "provisioning without ID",
            r#"{"operationalStatus": "OK", "provisioning": {"state": "provisioned"}}"#,
            None,
        ),
        (
            "null counts as absent",
            r#"{"operationalStatus": null, "errorMessage": null, "poweredOn": null}"#,
            None,
        ),
        (
            "nested partial objects",
            r#"{"operationalStatus": "OK", "goodCredentials": {}, "operationHistory": {"register": {}},
                "provisioning": {"image": {"url": "http://i/x.img"}}}"#,
            None,
        ),
        (
            "wrong type",
            r#"{"operationalStatus": "OK", "poweredOn": "yes"}"#,
            Some((field, "error decoding status annotation")),
        ),
        (
            "wrong type inside",
            r#"{"provisioning": {"ID": 5}}"#,
            Some((field, "error decoding status annotation")),
        ),
        (
            "unknown field",
            r#"{"operationalStatus": "OK", "provisioning": {"state": "ready", "Bogus": 1}}"#,
            Some((field, "Bogus")),
        ),
        (
            "value upstream checks",
            r#"{"operationalStatus": "servicing"}"#,
            Some((field, "invalid operationalStatus 'servicing'")),
        ),
        (
            "error type upstream checks",
            r#"{"errorType": "detach error"}"#,
            Some((field, "invalid errorType 'detach error'")),
        ),
    ];
    for (case, annotation, expected) in cases {
        let found = findings(&annotated(STATUS, annotation), None);
        assert_errors(case, &found.errors, *expected);
    }
}

#[test]
fn a_hardware_details_annotation_may_be_partial() {
    let with_details = |details: &str| {
        let mut h = annotated(HARDWARE, details);
        h["spec"]["inspectionMode"] = json!("disabled");
        h["spec"]["bootMACAddress"] = json!("52:54:00:00:00:01");
        h
    };
    let partial = with_details(r#"{"cpu": {"arch": "x86_64"}, "nics": [{"name": "eth0"}]}"#);
    assert_errors("partial", &findings(&partial, None).errors, None);
    let wrong = with_details(r#"{"cpu": {"count": "many"}}"#);
    let expected = Some((
        "metadata.annotations[inspect.metal3.io/hardwaredetails]",
        "error decoding",
    ));
    assert_errors("wrong type", &findings(&wrong, None).errors, expected);
}

/// `host()` with `status`, as an old object of an update.
fn stored(status: Value) -> Value {
    let mut h = host();
    h["status"] = status;
    h
}

#[test]
fn old_objects_are_decoded_as_go_decodes_them() {
    let moved = {
        let mut h = host();
        h["spec"]["bmc"]["address"] = json!("redfish://192.168.111.2/redfish/v1/Systems/1");
        h
    };
    let cases: &[(&str, Value, &Value, Expected)] = &[
        (
            "provisioning without ID",
            stored(json!({"operationalStatus": "OK", "provisioning": {"state": "available"}})),
            &host(),
            None,
        ),
        ("an empty status", stored(json!({})), &host(), None),
        ("a null status", stored(Value::Null), &host(), None),
        (
            // The rules still see what is there: an available host's BMC cannot move.
            "a partial status still counts",
            stored(json!({"provisioning": {"state": "available"}})),
            &moved,
            Some(("spec.bmc.address", "can not be changed")),
        ),
        (
            "an absent state is no state (registering rules do not apply)",
            stored(json!({"operationalStatus": "OK"})),
            &moved,
            Some(("spec.bmc.address", "can not be changed")),
        ),
        (
            "an old spec without bmc",
            json!({"apiVersion": "metal3.io/v1alpha1", "kind": "BareMetalHost",
                   "metadata": {"name": "worker-0", "namespace": "metal3"}, "spec": {}}),
            &host(),
            None,
        ),
        (
            "a wrong type in the old object",
            stored(json!({"poweredOn": "yes"})),
            &host(),
            Some(("(old object) status.poweredOn", "invalid type")),
        ),
    ];
    for (case, old, new, expected) in cases {
        let found = findings(new, Some(old));
        assert_errors(case, &found.errors, *expected);
    }
}

#[test]
fn old_objects_of_other_kinds_may_be_partial() {
    let data_image = json!({
        "apiVersion": "metal3.io/v1alpha1", "kind": "DataImage",
        "metadata": {"name": "worker-0", "namespace": "metal3"},
        "spec": {"url": "http://images/data.iso"}
    });
    let old_image = json!({"apiVersion": "metal3.io/v1alpha1", "kind": "DataImage",
        "metadata": {"name": "worker-0", "namespace": "metal3"}, "status": {"attachedImage": {}}});
    let components = json!({
        "apiVersion": "metal3.io/v1alpha1", "kind": "HostFirmwareComponents",
        "metadata": {"name": "worker-0", "namespace": "metal3"},
        "spec": {"updates": [{"component": "bmc", "url": "http://firmware/bmc.bin"}]}
    });
    let old_components = json!({"apiVersion": "metal3.io/v1alpha1",
        "kind": "HostFirmwareComponents", "metadata": {"name": "worker-0", "namespace": "metal3"},
        "spec": {"updates": [{}]}, "status": {"components": [{"component": "bmc"}]}});
    let subscription = json!({
        "apiVersion": "metal3.io/v1alpha1", "kind": "BMCEventSubscription",
        "metadata": {"name": "s", "namespace": "metal3"},
        "spec": {"hostName": "worker-0", "destination": "https://events.example/hook"}
    });
    let mut old_subscription = subscription.clone();
    old_subscription["status"] = json!({"error": null});
    for (case, new, old) in [
        ("DataImage", &data_image, &old_image),
        ("HostFirmwareComponents", &components, &old_components),
        ("BMCEventSubscription", &subscription, &old_subscription),
    ] {
        let found = findings(new, Some(old));
        assert_errors(case, &found.errors, None);
    }
}

#[test]
fn manifests_are_decoded_as_the_api_server_decodes_them() {
    // (case, patch of host() (a `"-"` removes the field), schema error expected at, unknown
    // fields expected)
    let cases: &[(&str, Value, Option<&str>, &[&str])] = &[
        ("valid", json!({}), None, &[]),
        (
            "unknown spec field",
            json!({"spec": {"foo": 1}}),
            None,
            &["spec.foo"],
        ),
        (
            "unknown fields at depth",
            json!({"spec": {"bmc": {"port": 1}, "rootDeviceHints": {"size": 1}}, "extra": {}}),
            None,
            &["extra", "spec.bmc.port", "spec.rootDeviceHints.size"],
        ),
        (
            "unknown metadata field",
            json!({"metadata": {"colour": "red"}}),
            None,
            &["metadata.colour"],
        ),
        (
            "null of an optional field",
            json!({"spec": {"bootMACAddress": null}}),
            None,
            &[],
        ),
        (
            "null of a required field",
            json!({"spec": {"bmc": {"address": null}}}),
            Some("spec.bmc"),
            &[],
        ),
        (
            "missing required field",
            json!({"spec": {"online": "-"}}),
            Some("spec"),
            &[],
        ),
        (
            "missing nested required field",
            json!({"spec": {"bmc": {"credentialsName": "-"}}}),
            Some("spec.bmc"),
            &[],
        ),
        (
            "wrong type",
            json!({"spec": {"online": "yes"}}),
            Some("spec.online"),
            &[],
        ),
        (
            // The API server ignores a status subresource written with the object.
            "wrong type in the status",
            json!({"status": {"poweredOn": "yes"}}),
            None,
            &[],
        ),
        (
            "unknown field in the status",
            json!({"status": {"colour": "red"}}),
            None,
            &["status.colour"],
        ),
        (
            "below the schema's minimum",
            json!({"spec": {"rootDeviceHints": {"minSizeGigabytes": -1}}}),
            Some("spec.rootDeviceHints.minSizeGigabytes"),
            &[],
        ),
        (
            "unknown enum value",
            json!({"spec": {"bootMode": "bogus"}}),
            Some("spec.bootMode"),
            &[],
        ),
    ];
    for (case, patch, schema_error, unknown) in cases {
        let mut object = host();
        json_merge(&mut object, patch);
        let found = findings(&object, None);
        let schema_fields: Vec<_> = found
            .schema_errors
            .iter()
            .map(|e| e.field.as_str())
            .collect();
        assert_eq!(
            schema_fields,
            schema_error.iter().copied().collect::<Vec<_>>(),
            "{case}"
        );
        let mut unknown_fields: Vec<_> = found
            .unknown_fields
            .iter()
            .map(|e| e.field.as_str())
            .collect();
        unknown_fields.sort_unstable();
        assert_eq!(unknown_fields, *unknown, "{case}");
        // What the webhook answers: nothing about fields the API server prunes.
        if schema_error.is_none() {
            assert_errors(case, &found.errors, None);
        }
    }
}

/// JSON merge patch, but keeping `null`s (they are part of some cases): `"-"` removes a field.
fn json_merge(target: &mut Value, patch: &Value) {
    match (target, patch) {
        (Value::Object(t), Value::Object(p)) => {
            for (k, v) in p {
                if v == "-" {
                    t.remove(k);
                } else {
                    json_merge(t.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
        }
        (t, p) => *t = p.clone(),
    }
}
