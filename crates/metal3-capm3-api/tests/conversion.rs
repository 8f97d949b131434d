//! v1beta1 ⇄ v1beta2 conversion: round trips for every kind (rich and sparse objects), the
//! field mappings that differ between the versions, the conversion-data annotation, and clear
//! errors.

use metal3_capm3_api::consts::CONVERSION_DATA_ANNOTATION;
use metal3_capm3_api::conversion::{
    ConversionError, convert, format_go_duration, parse_go_duration,
};
use metal3_capm3_api::{v1beta1, v1beta2};
use proptest::prelude::*;
use serde_json::{Value, json};

const V1: &str = "infrastructure.cluster.x-k8s.io/v1beta1";
const V2: &str = "infrastructure.cluster.x-k8s.io/v1beta2";

fn object(version: &str, kind: &str, spec: Value, status: Option<Value>) -> Value {
    let mut o = json!({
        "apiVersion": version,
        "kind": kind,
        "metadata": {"name": "x", "namespace": "ns", "uid": "u-1", "labels": {"cluster.x-k8s.io/cluster-name": "c"}},
        "spec": spec,
    });
    if let Some(status) = status {
        o["status"] = status;
    }
    o
}

fn down(o: &Value) -> Value {
    convert(o, V1).expect("converts down")
}

fn up(o: &Value) -> Value {
    convert(o, V2).expect("converts up")
}

/// The condition both versions carry for v1beta2 clients.
fn condition() -> Value {
    json!({"type": "Ready", "status": "True", "reason": "Ready", "message": "",
           "lastTransitionTime": "2026-01-02T03:04:05Z", "observedGeneration": 2})
}

fn old_condition() -> Value {
    json!({"type": "Ready", "status": "False", "severity": "Warning", "reason": "Waiting",
           "message": "waiting for host", "lastTransitionTime": "2026-01-02T03:04:05Z"})
}

/// Rich v1beta2 objects of every kind.
fn hubs() -> Vec<Value> {
    vec![
        object(
            V2,
            "Metal3Cluster",
            json!({
                "controlPlaneEndpoint": {"host": "10.0.0.1", "port": 6443},
                "cloudProviderEnabled": false,
                "failureDomains": [
                    {"name": "fd-a", "controlPlane": true, "attributes": {"rack": "1"}},
                    {"name": "fd-b", "controlPlane": false},
                    {"name": "fd-c"},
                ],
            }),
            Some(json!({
                "conditions": [condition()],
                "lastUpdated": "2026-01-02T03:04:05Z",
                "initialization": {"provisioned": false},
                "deprecated": {"v1beta1": {"conditions": [old_condition()], "failureReason": "InvalidConfiguration", "failureMessage": "no endpoint"}},
                "failureDomains": [{"name": "fd-a", "controlPlane": true}],
            })),
        ),
        object(
            V2,
            "Metal3ClusterTemplate",
            json!({"template": {
                "metadata": {"labels": {"a": "b"}, "annotations": {"c": "d"}},
                "spec": {"controlPlaneEndpoint": {"host": "api.example", "port": 443}, "cloudProviderEnabled": true},
            }}),
            None,
        ),
        object(
            V2,
            "Metal3Machine",
            json!({
                "providerID": "metal3://ns/host-0/x",
                "image": {"url": "http://images/os.qcow2", "checksum": "", "checksumType": "sha256", "diskFormat": "qcow2"},
                "userData": {"name": "bootstrap", "namespace": "ns"},
                "hostSelector": {"matchLabels": {"role": "worker"}, "matchExpressions": [{"key": "rack", "operator": "in", "values": ["1", "2"]}]},
                "dataTemplate": {"name": "tmpl"},
                "metaData": {"name": "md"},
                "networkData": {"name": "nd"},
                "automatedCleaningMode": "disabled",
                "failureDomain": "fd-a",
            }),
            Some(json!({
                "conditions": [condition()],
                "lastUpdated": "2026-01-02T03:04:05Z",
                "addresses": [{"type": "InternalIP", "address": "192.168.0.5"}, {"type": "Hostname", "address": "node-0"}],
                "initialization": {"provisioned": true},
                "userData": {"name": "bootstrap"},
                "renderedData": {"name": "tmpl-0", "namespace": "ns"},
                "metaData": {"name": "x-metadata"},
                "networkData": {"name": "x-networkdata"},
                "deprecated": {"v1beta1": {"failureReason": "CreateError", "failureMessage": "boom"}},
            })),
        ),
        object(
            V2,
            "Metal3Machine",
            json!({"customDeploy": {"method": "install_coreos"}}),
            None,
        ),
        object(
            V2,
            "Metal3MachineTemplate",
            json!({
                "template": {"metadata": {"labels": {"tier": "gold"}}, "spec": {"image": {"url": "http://i/live.iso", "diskFormat": "live-iso"}}},
                "nodeReuse": false,
            }),
            None,
        ),
        object(
            V2,
            "Metal3DataTemplate",
            json!({
                "clusterName": "c",
                "metaData": {
                    "strings": [{"key": "s", "value": "v"}],
                    "objectNames": [{"key": "name", "object": "machine"}],
                    "indexes": [{"key": "idx", "offset": 0, "step": 2, "prefix": "n-", "suffix": "-x"}, {"key": "plain"}],
                    "namespaces": [{"key": "ns"}],
                    "ipAddressesFromPool": [{"key": "ip", "name": "pool", "apiGroup": "ipam.metal3.io", "kind": "IPPool"}],
                    "prefixesFromPool": [{"key": "prefix", "name": "pool"}],
                    "gatewaysFromPool": [{"key": "gw", "name": "pool"}],
                    "dnsServersFromPool": [{"key": "dns", "name": "pool"}],
                    "fromHostInterfaces": [{"key": "mac", "interface": "eth0"}, {"key": "boot", "fromBootMAC": true}, {"key": "f", "fromBootMAC": false}],
                    "fromLabels": [{"key": "l", "object": "baremetalhost", "label": "rack"}],
                    "fromAnnotations": [{"key": "a", "object": "metal3machine", "annotation": "note"}],
                },
                "networkData": {
                    "links": {
                        "ethernets": [{"type": "phy", "id": "eth0", "mtu": 9000, "macAddress": {"fromHostInterface": "eth0"}}],
                        "bonds": [{"bondMode": "802.3ad", "bondXmitHashPolicy": "layer3+4", "id": "bond0", "name": "bond0",
                                   "macAddress": {"string": "00:11:22:33:44:55"},
                                   "parameters": [{"name": "miimon", "value": {"ms": 100}}], "bondLinks": ["eth0"]}],
                        "vlans": [{"vlanID": 0, "id": "vlan0", "vlanLink": "bond0", "macAddress": {"fromAnnotation": {"object": "machine", "annotation": "mac"}}}],
                    },
                    "networks": {
                        "ipv4": [{"id": "abc", "link": "def", "ipAddressFromIPPool": "pool",
                                  "routes": [{"network": "10.0.0.0", "prefix": 16, "gateway": {"string": "192.168.1.1"}, "services": {"dns": ["8.8.8.8"]}},
                                             {"network": "0.0.0.0", "prefix": 0, "gateway": {"fromPoolRef": {"name": "pool", "kind": "IPPool", "apiGroup": "ipam.metal3.io"}}}]}],
                        "ipv6": [{"id": "v6", "link": "def", "fromPoolAnnotation": {"object": "baremetalhost", "annotation": "pool6"},
                                  "routes": [{"network": "::", "gateway": {"fromIPPool": "pool6"}, "services": {"dnsFromIPPool": "pool6"}}]}],
                        "ipv4DHCP": [{"id": "d4", "link": "eth0"}],
                        "ipv6DHCP": [{"id": "d6", "link": "eth0"}],
                        "ipv6SLAAC": [{"id": "s6", "link": "eth0"}],
                    },
                    "services": {"dns": ["8.8.4.4", "2001:db8::1"], "dnsFromIPPool": "pool"},
                },
            }),
            Some(
                json!({"lastUpdated": "2026-01-02T03:04:05Z", "indexes": [{"name": "m-0", "index": 0}, {"name": "m-1", "index": 1}]}),
            ),
        ),
        object(
            V2,
            "Metal3DataTemplate",
            json!({"networkData": {"links": {}, "networks": {}}}),
            None,
        ),
        object(
            V2,
            "Metal3Data",
            json!({
                "index": 0, "metaData": {"name": "x-metadata"}, "networkData": {"name": "x-networkdata"},
                "claim": {"name": "m"}, "template": {"name": "tmpl", "namespace": "ns"},
            }),
            Some(json!({"ready": false, "errorMessage": "no pool"})),
        ),
        object(V2, "Metal3Data", json!({}), None),
        object(
            V2,
            "Metal3DataClaim",
            json!({"template": {"name": "tmpl"}}),
            Some(json!({"renderedData": {"name": "tmpl-3"}, "errorMessage": "x"})),
        ),
        object(
            V2,
            "Metal3Remediation",
            json!({"strategy": {"type": "Reboot", "retryLimit": 3, "timeoutSeconds": 300}}),
            Some(
                json!({"phase": "Deleting machine", "retryCount": 2, "lastRemediated": "2026-01-02T03:04:05Z"}),
            ),
        ),
        object(
            V2,
            "Metal3RemediationTemplate",
            json!({"template": {"spec": {"strategy": {"type": "Reboot", "retryLimit": 1, "timeoutSeconds": 600}}}}),
            Some(json!({"status": {"phase": "Waiting"}})),
        ),
    ]
}

#[test]
fn v1beta2_survives_a_trip_through_v1beta1() {
    for hub in hubs() {
        let spoke = down(&hub);
        assert_eq!(spoke["apiVersion"], V1);
        let back = up(&spoke);
        assert_eq!(back, hub, "kind {} via {spoke:#}", hub["kind"]);
    }
}

#[test]
fn converted_objects_decode_as_their_version() {
    fn check<K: serde::de::DeserializeOwned>(o: &Value) {
        serde_json::from_value::<K>(o.clone())
            .unwrap_or_else(|e| panic!("{} does not decode: {e}\n{o:#}", o["kind"]));
    }
    for hub in hubs() {
        let spoke = down(&hub);
        match hub["kind"].as_str().expect("kind") {
            "Metal3Cluster" => check::<v1beta1::Metal3Cluster>(&spoke),
            "Metal3ClusterTemplate" => check::<v1beta1::Metal3ClusterTemplate>(&spoke),
            "Metal3Machine" => check::<v1beta1::Metal3Machine>(&spoke),
            "Metal3MachineTemplate" => check::<v1beta1::Metal3MachineTemplate>(&spoke),
            "Metal3DataTemplate" => check::<v1beta1::Metal3DataTemplate>(&spoke),
            "Metal3Data" => check::<v1beta1::Metal3Data>(&spoke),
            "Metal3DataClaim" => check::<v1beta1::Metal3DataClaim>(&spoke),
            "Metal3Remediation" => check::<v1beta1::Metal3Remediation>(&spoke),
            "Metal3RemediationTemplate" => check::<v1beta1::Metal3RemediationTemplate>(&spoke),
            other => panic!("unexpected kind {other}"),
        }
    }
}

#[test]
fn lossless_objects_get_no_conversion_annotation() {
    let hub = object(
        V2,
        "Metal3Machine",
        json!({
            "image": {"url": "http://i/os.img", "checksum": "abc", "checksumType": "md5"},
        }),
        Some(json!({"initialization": {"provisioned": true}})),
    );
    let spoke = down(&hub);
    assert!(spoke["metadata"].get("annotations").is_none(), "{spoke:#}");
    // A lossy one keeps its v1beta2 form.
    let lossy = object(
        V2,
        "Metal3Machine",
        json!({}),
        Some(json!({"initialization": {"provisioned": false}})),
    );
    let spoke = down(&lossy);
    assert!(spoke["metadata"]["annotations"][CONVERSION_DATA_ANNOTATION].is_string());
    // The annotation never reaches the stored (v1beta2) object.
    assert!(up(&spoke)["metadata"].get("annotations").is_none());
}

#[test]
fn status_ready_is_initialization_provisioned() {
    let hub = object(
        V2,
        "Metal3Machine",
        json!({}),
        Some(json!({"initialization": {"provisioned": true}, "conditions": [condition()]})),
    );
    let spoke = down(&hub);
    assert_eq!(spoke["status"]["ready"], true);
    assert_eq!(spoke["status"]["v1beta2"]["conditions"][0]["type"], "Ready");
    let old = object(
        V1,
        "Metal3Cluster",
        json!({"controlPlaneEndpoint": {"host": "h", "port": 6443}}),
        Some(json!({"ready": true, "failureReason": "x", "conditions": [old_condition()]})),
    );
    let new = up(&old);
    assert_eq!(new["status"]["initialization"]["provisioned"], true);
    assert_eq!(new["status"]["deprecated"]["v1beta1"]["failureReason"], "x");
    assert_eq!(
        new["status"]["deprecated"]["v1beta1"]["conditions"][0]["severity"],
        "Warning"
    );
    assert!(
        new["status"].get("conditions").is_none(),
        "v1beta1 conditions are not v1beta2 ones"
    );
}

#[test]
fn the_machine_failure_domain_survives_a_trip_through_v1beta1() {
    let hub = object(
        V2,
        "Metal3Machine",
        json!({"failureDomain": "fd-a"}),
        Some(json!({"failureDomain": "fd-a", "initialization": {"provisioned": true}})),
    );
    let spoke = down(&hub);
    assert!(
        spoke["status"].get("failureDomain").is_none(),
        "not a v1beta1 field"
    );
    assert_eq!(up(&spoke)["status"]["failureDomain"], "fd-a");
}

#[test]
fn image_format_is_disk_format_and_provider_id_is_a_string() {
    let old = object(
        V1,
        "Metal3Machine",
        json!({
            "providerID": "metal3://ns/h/m",
            "image": {"url": "http://i/x.iso", "format": "live-iso"},
            "hostSelector": {},
            "dataTemplate": {"name": "t", "namespace": "ns", "kind": "Metal3DataTemplate", "apiVersion": V1, "uid": "1"},
        }),
        Some(json!({"ready": false, "phase": "Provisioning"})),
    );
    let new = up(&old);
    assert_eq!(
        new["spec"]["image"],
        json!({"url": "http://i/x.iso", "diskFormat": "live-iso"})
    );
    assert_eq!(new["spec"]["providerID"], "metal3://ns/h/m");
    assert_eq!(
        new["spec"]["dataTemplate"],
        json!({"name": "t", "namespace": "ns"})
    );
    assert!(new["spec"].get("hostSelector").is_none());
    assert!(
        new["status"].get("phase").is_none(),
        "phase is gone in v1beta2"
    );
    let back = down(&new);
    assert_eq!(back["spec"]["image"]["format"], "live-iso");
    assert_eq!(back["spec"]["hostSelector"], json!({}));
}

#[test]
fn failure_domains_turn_from_a_map_into_a_list() {
    let old = object(
        V1,
        "Metal3Cluster",
        json!({
            "controlPlaneEndpoint": {"host": "h", "port": 1},
            "noCloudProvider": true,
            "failureDomains": {"z": {"controlPlane": true}, "a": {"attributes": {"k": "v"}}},
        }),
        None,
    );
    let new = up(&old);
    assert_eq!(
        new["spec"]["failureDomains"],
        json!([
            {"name": "a", "attributes": {"k": "v"}},
            {"name": "z", "controlPlane": true},
        ])
    );
    // The older inverted flag becomes cloudProviderEnabled.
    assert_eq!(new["spec"]["cloudProviderEnabled"], false);
    let back = down(&new);
    assert_eq!(back["spec"]["noCloudProvider"], true);
    assert_eq!(back["spec"]["cloudProviderEnabled"], false);
    assert_eq!(back["spec"]["failureDomains"]["z"]["controlPlane"], true);
}

#[test]
fn remediation_timeout_becomes_seconds() {
    let old = object(
        V1,
        "Metal3Remediation",
        json!({"strategy": {"type": "Reboot", "retryLimit": 2, "timeout": "5m"}}),
        None,
    );
    let new = up(&old);
    assert_eq!(
        new["spec"]["strategy"],
        json!({"type": "Reboot", "retryLimit": 2, "timeoutSeconds": 300})
    );
    assert_eq!(down(&new)["spec"]["strategy"]["timeout"], "5m0s");
}

#[test]
fn data_template_indexes_and_pool_fields_are_renamed() {
    let old = object(
        V1,
        "Metal3DataTemplate",
        json!({
            "clusterName": "c",
            "templateReference": "old",
            "metaData": {"ipAddressesFromIPPool": [{"key": "ip", "name": "p", "apiGroup": "ipam.metal3.io", "kind": "IPPool"}]},
        }),
        Some(json!({"indexes": {"m-2": 1, "m-1": 0}})),
    );
    let new = up(&old);
    assert_eq!(
        new["spec"]["metaData"]["ipAddressesFromPool"][0]["name"],
        "p"
    );
    assert!(new["spec"].get("templateReference").is_none());
    assert_eq!(
        new["status"]["indexes"],
        json!([{"name": "m-1", "index": 0}, {"name": "m-2", "index": 1}])
    );
    assert_eq!(down(&new)["status"]["indexes"], json!({"m-1": 0, "m-2": 1}));
}

#[test]
fn v1beta1_survives_a_trip_through_v1beta2_except_removed_fields() {
    let old = object(
        V1,
        "Metal3Machine",
        json!({
            "providerID": "metal3://ns/h/m",
            "image": {"url": "http://i/os.img", "checksum": "abc", "checksumType": "sha512", "format": "raw"},
            "customDeploy": {"method": "m"},
            "hostSelector": {"matchLabels": {"a": "b"}},
            "automatedCleaningMode": "metadata",
        }),
        Some(json!({"ready": true, "addresses": [{"type": "Hostname", "address": "h"}]})),
    );
    assert_eq!(down(&up(&old)), old);
    let old = object(
        V1,
        "Metal3Data",
        json!({
            "index": 3, "claim": {"name": "c"}, "template": {"name": "t"},
        }),
        Some(json!({"ready": true})),
    );
    assert_eq!(down(&up(&old)), old);
}

#[test]
fn a_v1beta1_edit_wins_over_the_kept_v1beta2_form() {
    let hub = object(
        V2,
        "Metal3MachineTemplate",
        json!({
            "template": {"metadata": {"labels": {"keep": "me"}}, "spec": {"failureDomain": "a"}},
        }),
        None,
    );
    let mut spoke = down(&hub);
    spoke["spec"]["template"]["spec"]["failureDomain"] = json!("b");
    let back = up(&spoke);
    assert_eq!(back["spec"]["template"]["spec"]["failureDomain"], "b");
    // What v1beta1 cannot express is kept whatever the client did.
    assert_eq!(back["spec"]["template"]["metadata"]["labels"]["keep"], "me");
}

#[test]
fn errors_name_the_problem() {
    let unknown = json!({"apiVersion": V1, "kind": "Pod", "spec": {}});
    assert_eq!(
        convert(&unknown, V2),
        Err(ConversionError::UnknownKind("Pod".into()))
    );
    let bad_version =
        json!({"apiVersion": "infrastructure.cluster.x-k8s.io/v1alpha5", "kind": "Metal3Machine"});
    assert!(
        matches!(convert(&bad_version, V2), Err(ConversionError::UnknownVersion(v)) if v.ends_with("v1alpha5"))
    );
    let bad_timeout = object(
        V1,
        "Metal3Remediation",
        json!({"strategy": {"timeout": "soon"}}),
        None,
    );
    let message = convert(&bad_timeout, V2)
        .expect_err("bad timeout")
        .to_string();
    assert!(message.starts_with("spec.strategy.timeout:"), "{message}");
    let bad_type = object(
        V1,
        "Metal3Remediation",
        json!({"strategy": {"type": "Reprovision"}}),
        None,
    );
    let message = convert(&bad_type, V2).expect_err("bad type").to_string();
    assert!(
        message.contains("spec.strategy.type") && message.contains("Reboot"),
        "{message}"
    );
    let bad_field = object(V1, "Metal3Machine", json!({"image": {"url": 5}}), None);
    let message = convert(&bad_field, V2).expect_err("bad field").to_string();
    assert!(message.contains("spec.image.url"), "{message}");
    let big = object(
        V1,
        "Metal3Cluster",
        json!({"controlPlaneEndpoint": {"host": "h", "port": 5_000_000_000_i64}}),
        None,
    );
    let message = convert(&big, V2).expect_err("too big").to_string();
    assert!(
        message.starts_with("spec.controlPlaneEndpoint.port:"),
        "{message}"
    );
}

#[test]
fn an_object_in_the_desired_version_is_returned_as_is() {
    for hub in hubs() {
        assert_eq!(convert(&hub, V2).expect("no-op"), hub);
    }
}

#[test]
fn typed_v1beta2_objects_round_trip_through_json() {
    for hub in hubs() {
        let kind = hub["kind"].as_str().expect("kind").to_string();
        let again = match kind.as_str() {
            "Metal3Machine" => serde_json::to_value(
                serde_json::from_value::<v1beta2::Metal3Machine>(hub.clone()).expect("decode"),
            ),
            "Metal3DataTemplate" => serde_json::to_value(
                serde_json::from_value::<v1beta2::Metal3DataTemplate>(hub.clone()).expect("decode"),
            ),
            "Metal3Cluster" => serde_json::to_value(
                serde_json::from_value::<v1beta2::Metal3Cluster>(hub.clone()).expect("decode"),
            ),
            _ => continue,
        }
        .expect("encode");
        assert_eq!(again, hub, "{kind} re-encodes as written");
    }
}

proptest! {
    #[test]
    fn go_durations_round_trip(seconds in 0_i64..10_000_000) {
        let text = format_go_duration(seconds);
        prop_assert_eq!(parse_go_duration(&text), Ok(seconds));
    }

    #[test]
    fn failure_domain_maps_round_trip(domains in proptest::collection::btree_map("[a-z]{1,8}", (any::<bool>(), proptest::collection::btree_map("[a-z]{1,4}", "[a-z0-9]{0,4}", 0..3)), 0..6)) {
        let map: serde_json::Map<String, Value> = domains.iter().map(|(name, (cp, attrs))| {
            let mut fd = serde_json::Map::new();
            if *cp { fd.insert("controlPlane".into(), json!(true)); }
            if !attrs.is_empty() { fd.insert("attributes".into(), json!(attrs)); }
            (name.clone(), Value::Object(fd))
        }).collect();
        let mut spec = json!({"controlPlaneEndpoint": {"host": "h", "port": 1}});
        if !map.is_empty() { spec["failureDomains"] = Value::Object(map); }
        let old = object(V1, "Metal3Cluster", spec, None);
        let new = up(&old);
        prop_assert_eq!(new["spec"]["failureDomains"].as_array().map_or(0, Vec::len), domains.len());
        prop_assert_eq!(down(&new), old);
    }

    #[test]
    fn data_template_indexes_round_trip(indexes in proptest::collection::btree_map("[a-z]{1,8}", 0_i64..1000, 0..8)) {
        let mut status = json!({});
        if !indexes.is_empty() { status["indexes"] = json!(indexes); }
        let old = object(V1, "Metal3DataTemplate", json!({"clusterName": "c"}), Some(status));
        prop_assert_eq!(down(&up(&old)), old);
    }
}

#[test]
fn go_duration_forms() {
    assert_eq!(format_go_duration(600), "10m0s");
    assert_eq!(format_go_duration(100), "1m40s");
    assert_eq!(format_go_duration(3600), "1h0m0s");
    assert_eq!(format_go_duration(0), "0s");
    assert_eq!(parse_go_duration("1h30m"), Ok(5400));
    assert_eq!(parse_go_duration("1.5h"), Ok(5400));
    assert_eq!(parse_go_duration("300ms"), Ok(0));
    assert!(parse_go_duration("-5s").is_err());
    assert!(parse_go_duration("5").is_err());
}
