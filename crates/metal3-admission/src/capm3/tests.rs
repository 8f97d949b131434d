//! The provider's rules and defaults, kind by kind, through [`validate`] and [`default`] as the
//! webhook server calls them.

use super::*;
use serde_json::json;

fn obj(kind: &str, spec: Value) -> Value {
    json!({"apiVersion": "infrastructure.cluster.x-k8s.io/v1beta2", "kind": kind,
           "metadata": {"name": "x", "namespace": "ns"}, "spec": spec})
}

fn errors(kind: &str, new: &Value, old: Option<&Value>) -> Vec<String> {
    match validate(kind, new, old) {
        Verdict::Checked(v) => v
            .errors
            .into_iter()
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect(),
        Verdict::NotOurs => panic!("{kind} should be ours"),
    }
}

fn fields(kind: &str, new: &Value, old: Option<&Value>) -> Vec<String> {
    errors(kind, new, old)
        .into_iter()
        .map(|e| e.split(": ").next().unwrap_or_default().to_string())
        .collect()
}

#[test]
fn machine_image_rules() {
    let m = |image: Value| obj("Metal3Machine", json!({"image": image}));
    assert!(
        errors(
            "Metal3Machine",
            &m(json!({"url": "http://i/os.img", "checksum": "abc"})),
            None
        )
        .is_empty()
    );
    assert!(
        errors(
            "Metal3Machine",
            &m(json!({"url": "http://i/os.iso", "diskFormat": "live-iso"})),
            None
        )
        .is_empty()
    );
    assert_eq!(
        fields("Metal3Machine", &m(json!({"url": "http://i/os.img"})), None),
        ["spec.image.checksum"]
    );
    assert_eq!(
        fields(
            "Metal3Machine",
            &m(json!({"url": "not a url", "checksum": "c"})),
            None
        ),
        ["spec.image.url"]
    );
    assert_eq!(
        fields(
            "Metal3Machine",
            &m(json!({"url": "oci://r/i", "checksum": "c", "checksumType": "md5"})),
            None
        ),
        ["spec.image.checksum", "spec.image.checksumType"]
    );
    assert!(errors("Metal3Machine", &m(json!({"url": "oci://r/i"})), None).is_empty());
    assert_eq!(
        fields(
            "Metal3Machine",
            &m(json!({"url": "http://i/x", "checksum": "http://bad host/sum"})),
            None
        ),
        ["spec.image.checksum"]
    );
    // Neither image nor custom deploy.
    assert_eq!(
        fields("Metal3Machine", &obj("Metal3Machine", json!({})), None),
        ["spec.image"]
    );
    // A custom deploy needs no image.
    assert!(
        errors(
            "Metal3Machine",
            &obj("Metal3Machine", json!({"customDeploy": {"method": "m"}})),
            None
        )
        .is_empty()
    );
    // Secrets in the machine's namespace only.
    let foreign = obj(
        "Metal3Machine",
        json!({"customDeploy": {"method": "m"}, "userData": {"name": "u", "namespace": "other"}, "metaData": {"name": "m", "namespace": "ns"}}),
    );
    assert_eq!(
        fields("Metal3Machine", &foreign, None),
        ["spec.userData.namespace"]
    );
    let template = obj(
        "Metal3MachineTemplate",
        json!({"template": {"spec": {"image": {"url": "http://i/os.img"}}}}),
    );
    assert_eq!(
        fields("Metal3MachineTemplate", &template, None),
        ["spec.template.spec.image.checksum"]
    );
}

#[test]
fn cluster_defaults_and_rules() {
    let c = obj(
        "Metal3Cluster",
        json!({"controlPlaneEndpoint": {"host": "10.0.0.1"}}),
    );
    let d = default("Metal3Cluster", &c)
        .expect("decodes")
        .expect("changed");
    assert_eq!(d["spec"]["controlPlaneEndpoint"]["port"], 6443);
    assert_eq!(d["spec"]["cloudProviderEnabled"], false);
    assert_eq!(d["metadata"], c["metadata"]);
    assert_eq!(
        default("Metal3Cluster", &d).expect("decodes"),
        None,
        "defaults are idempotent"
    );
    assert!(errors("Metal3Cluster", &d, None).is_empty());
    assert_eq!(
        fields("Metal3Cluster", &obj("Metal3Cluster", json!({})), None),
        ["spec.controlPlaneEndpoint.host"]
    );
    let t = obj(
        "Metal3ClusterTemplate",
        json!({"template": {"spec": {"controlPlaneEndpoint": {"host": "h"}}}}),
    );
    assert_eq!(
        fields("Metal3ClusterTemplate", &t, None),
        ["spec.template.spec.controlPlaneEndpoint.port"]
    );
}

#[test]
fn remediation_defaults_and_rules() {
    let t = obj(
        "Metal3RemediationTemplate",
        json!({"template": {"spec": {}}}),
    );
    let d = default("Metal3RemediationTemplate", &t)
        .expect("decodes")
        .expect("changed");
    assert_eq!(
        d["spec"]["template"]["spec"]["strategy"],
        json!({"type": "Reboot", "retryLimit": 1, "timeoutSeconds": 600})
    );
    assert!(errors("Metal3RemediationTemplate", &d, None).is_empty());
    let r = |s: Value| obj("Metal3Remediation", json!({"strategy": s}));
    assert!(
        errors(
            "Metal3Remediation",
            &r(json!({"type": "Reboot", "retryLimit": 2, "timeoutSeconds": 100})),
            None
        )
        .is_empty()
    );
    assert!(
        errors(
            "Metal3Remediation",
            &r(json!({"type": "Reboot", "retryLimit": 1})),
            None
        )
        .is_empty(),
        "0 means the default"
    );
    assert_eq!(
        fields(
            "Metal3Remediation",
            &r(json!({"type": "Reboot", "retryLimit": 1, "timeoutSeconds": 99})),
            None
        ),
        ["spec.strategy.timeoutSeconds"]
    );
    assert_eq!(
        fields("Metal3Remediation", &r(json!({"retryLimit": 0})), None),
        ["spec.strategy.type", "spec.strategy.retryLimit"]
    );
    assert!(
        errors(
            "Metal3Remediation",
            &obj("Metal3Remediation", json!({})),
            None
        )
        .is_empty(),
        "no strategy, nothing to check"
    );
    assert_eq!(
        default("Metal3Remediation", &r(json!({}))).expect("no defaults"),
        None
    );
}

#[test]
fn data_name_index_and_immutability() {
    let d = |name: &str, spec: Value| {
        let mut o = obj("Metal3Data", spec);
        o["metadata"]["name"] = json!(name);
        o
    };
    let good = d(
        "tmpl-3",
        json!({"index": 3, "template": {"name": "tmpl"}, "claim": {"name": "c"}}),
    );
    assert!(errors("Metal3Data", &good, None).is_empty());
    assert_eq!(
        fields(
            "Metal3Data",
            &d("wrong", json!({"index": 3, "template": {"name": "tmpl"}})),
            None
        ),
        ["metadata.name"]
    );
    let moved = d(
        "tmpl-3",
        json!({"index": 4, "template": {"name": "other"}, "claim": {"name": "c", "namespace": "x"}}),
    );
    assert_eq!(
        fields("Metal3Data", &moved, Some(&good)),
        ["spec.index", "spec.template", "spec.claim"]
    );
    let claim = obj("Metal3DataClaim", json!({"template": {"name": "tmpl"}}));
    assert!(errors("Metal3DataClaim", &claim, None).is_empty());
    assert_eq!(
        fields("Metal3DataClaim", &obj("Metal3DataClaim", json!({})), None),
        ["spec.template.name"]
    );
    let elsewhere = obj(
        "Metal3DataClaim",
        json!({"template": {"name": "tmpl", "namespace": "other"}}),
    );
    assert_eq!(
        fields("Metal3DataClaim", &elsewhere, Some(&claim)),
        ["spec.template", "spec.template.namespace"]
    );
}

#[test]
fn data_template_rules() {
    let t = obj(
        "Metal3DataTemplate",
        json!({
            "clusterName": "c",
            "metaData": {"fromHostInterfaces": [{"key": "a"}, {"key": "b", "interface": "eth0", "fromBootMAC": true}, {"key": "c", "fromBootMAC": true}]},
            "networkData": {"networks": {"ipv4": [{"id": "n", "link": "l"}, {"id": "m", "link": "l", "ipAddressFromIPPool": "p"}], "ipv6": [{"id": "v", "link": "l"}]}},
        }),
    );
    let Verdict::Checked(v) = validate("Metal3DataTemplate", &t, None) else {
        panic!("ours")
    };
    let f: Vec<_> = v.errors.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(
        f,
        [
            "spec.metaData.fromHostInterfaces[0].interface",
            "spec.metaData.fromHostInterfaces[1].interface",
            "spec.networkData.networks.ipv4[0].fromPoolRef.name",
            "spec.networkData.networks.ipv6[0].fromPoolRef.name",
        ]
    );
    assert_eq!(v.warnings.len(), 1, "clusterName is deprecated");
    let old = obj(
        "Metal3DataTemplate",
        json!({"metaData": {"strings": [{"key": "a", "value": "b"}]}}),
    );
    let new = obj(
        "Metal3DataTemplate",
        json!({"metaData": {"strings": [{"key": "a", "value": "c"}]}}),
    );
    assert_eq!(
        fields("Metal3DataTemplate", &new, Some(&old)),
        ["spec.metaData"]
    );
}

#[test]
fn undecodable_objects_name_the_field_and_other_kinds_are_not_ours() {
    let bad = obj("Metal3Machine", json!({"image": {"url": 5}}));
    assert_eq!(fields("Metal3Machine", &bad, None), ["spec.image.url"]);
    assert_eq!(validate("Pod", &json!({}), None), Verdict::NotOurs);
}
