//! Properties of the admission entry point on hostile input: any JSON, and real objects with
//! any member replaced by anything, get a verdict; nothing panics, and every error names the
//! field it is about.

use metal3_admission::{Findings, Verdict, validate_value};
use proptest::prelude::*;
use serde_json::{Map, Number, Value, json};

/// Field names the kinds read, so that arbitrary objects hit them with wrong types.
const FIELDS: &[&str] = &[
    "apiVersion",
    "kind",
    "metadata",
    "name",
    "namespace",
    "annotations",
    "labels",
    "spec",
    "status",
    "online",
    "bmc",
    "address",
    "credentialsName",
    "disableCertificateVerification",
    "bootMACAddress",
    "bootMode",
    "image",
    "url",
    "checksum",
    "checksumType",
    "format",
    "rootDeviceHints",
    "deviceName",
    "hctl",
    "model",
    "vendor",
    "serialNumber",
    "minSizeGigabytes",
    "wwn",
    "rotational",
    "raid",
    "hardwareRAIDVolumes",
    "softwareRAIDVolumes",
    "level",
    "physicalDisks",
    "sizeGibibytes",
    "firmware",
    "simultaneousMultithreadingEnabled",
    "customDeploy",
    "method",
    "userData",
    "networkData",
    "metaData",
    "consumerRef",
    "externallyProvisioned",
    "automatedCleaningMode",
    "preprovisioningNetworkDataName",
    "hostName",
    "destination",
    "context",
    "httpHeadersRef",
    "updates",
    "component",
    "poweredOn",
    "hostSelector",
    "matchLabels",
    "matchExpressions",
    "key",
    "operator",
    "values",
    "architecture",
    "deviceType",
    "driver",
    "port",
    "macAddress",
    "credentials",
    "networkInterfaces",
    "hardwareProfile",
    "taints",
];

const KINDS: &[&str] = &[
    "BareMetalHost",
    "BMCEventSubscription",
    "DataImage",
    "HostFirmwareComponents",
    "HardwareData",
    "HostFirmwareSettings",
    "FirmwareSchema",
    "HostUpdatePolicy",
    "PreprovisioningImage",
    "HostClaim",
    "HostDeployPolicy",
    "BareMetalSwitch",
    "HostNetworkAttachment",
];

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        proptest::sample::select(FIELDS).prop_map(str::to_string),
        proptest::sample::select(KINDS).prop_map(str::to_string),
        ".{0,16}",
        "(metal3\\.io/v1alpha1|metal3\\.io/v1|v1|/|metal3\\.io/)",
        "(redfish|ipmi|idrac-virtualmedia|redfish-virtualmedia)(\\+https?)?://[0-9.:\\[\\]a-z]{0,16}(/[a-zA-Z0-9/]{0,12})?",
        "(https?|ftp|file)://[a-z.]{0,10}(/[a-z%]{0,8})?",
        "[0-9a-f]{2}(:[0-9a-f]{2}){0,6}",
    ]
}

fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| Number::from_f64(f).map_or(Value::Null, Value::Number)),
        text().prop_map(Value::String),
    ];
    leaf.prop_recursive(6, 96, 8, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::vec(
                (
                    prop_oneof![
                        4 => proptest::sample::select(FIELDS).prop_map(str::to_string),
                        1 => ".{0,10}",
                    ],
                    inner
                ),
                0..8
            )
            .prop_map(|members| Value::Object(members.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// Valid objects of several kinds, to be broken one member at a time.
fn seeds() -> Vec<Value> {
    let meta = json!({"name": "worker-0", "namespace": "ns"});
    vec![
        json!({"apiVersion": "metal3.io/v1alpha1", "kind": "BareMetalHost", "metadata": meta,
            "spec": {"online": true, "bootMACAddress": "00:11:22:33:44:55", "bootMode": "UEFI",
                "bmc": {"address": "redfish-virtualmedia://192.168.111.1:8000/redfish/v1/Systems/1",
                    "credentialsName": "worker-0-bmc-secret"},
                "image": {"url": "http://images.example/os.qcow2",
                    "checksum": "http://images.example/os.qcow2.sha256sum", "checksumType": "sha256"},
                "rootDeviceHints": {"deviceName": "/dev/sda", "minSizeGigabytes": 10},
                "raid": {"hardwareRAIDVolumes": [{"level": "1", "sizeGibibytes": 100}]},
                "firmware": {"simultaneousMultithreadingEnabled": true},
                "userData": {"name": "ud"}, "automatedCleaningMode": "metadata"}}),
        json!({"apiVersion": "metal3.io/v1alpha1", "kind": "DataImage", "metadata": meta,
            "spec": {"url": "http://images.example/data.iso"}}),
        json!({"apiVersion": "metal3.io/v1alpha1", "kind": "BMCEventSubscription",
            "metadata": meta, "spec": {"hostName": "worker-0",
                "destination": "https://events.example/hook", "context": "rack-1"}}),
        json!({"apiVersion": "metal3.io/v1alpha1", "kind": "HostFirmwareComponents",
            "metadata": meta, "spec": {"updates": [{"component": "bmc",
                "url": "http://firmware.example/bmc.bin"}]}}),
        json!({"apiVersion": "metal3.io/v1alpha1", "kind": "HostClaim", "metadata": meta,
            "spec": {"poweredOn": true,
                "hostSelector": {"matchLabels": {"role": "worker"},
                    "matchExpressions": [{"key": "rack", "operator": "In", "values": ["1"]}]},
                "image": {"url": "http://images.example/os.qcow2",
                    "checksum": "http://images.example/os.qcow2.sha256sum",
                    "checksumType": "sha256", "format": "qcow2"}}}),
        json!({"apiVersion": "metal3.io/v1alpha1", "kind": "BareMetalSwitch", "metadata": meta,
            "spec": {"address": "192.168.1.10", "deviceType": "netmiko_cisco_ios",
                "driver": "generic-switch", "port": 22, "macAddress": "aa:bb:cc:dd:ee:ff",
                "credentials": {"name": "tor-switch-1-credentials"}}}),
        json!({"apiVersion": "metal3.io/v1alpha1", "kind": "HostFirmwareSettings",
            "metadata": meta, "spec": {"settings": {"ProcTurboMode": "Enabled"}}}),
    ]
}

/// JSON pointers of every member and element of `value`, itself included.
fn pointers(value: &Value, at: String, out: &mut Vec<String>) {
    match value {
        Value::Object(members) => {
            for (k, v) in members {
                let escaped = k.replace('~', "~0").replace('/', "~1");
                pointers(v, format!("{at}/{escaped}"), out);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                pointers(v, format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
    out.push(at);
}

/// Judges `new` (and against `old`): a verdict, every error naming its field.
fn judged(new: &Value, old: Option<&Value>) -> Result<(), TestCaseError> {
    let verdict = validate_value(new, old);
    if let Verdict::Checked(Findings { errors, .. }) = &verdict {
        for e in errors {
            prop_assert!(
                !e.field.is_empty(),
                "an error names no field: {e:?} for {new}"
            );
        }
    }
    let (_warnings, denial) = verdict.clone().outcome();
    if let Verdict::Checked(Findings { errors, .. }) = &verdict {
        prop_assert_eq!(denial.is_some(), !errors.is_empty());
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_json_gets_a_verdict(value in json(), old in proptest::option::of(json())) {
        judged(&value, old.as_ref())?;
    }

    #[test]
    fn any_kind_with_any_body_gets_a_verdict(
        kind in proptest::sample::select(KINDS),
        spec in json(),
        metadata in json(),
        status in json(),
    ) {
        let object = json!({"apiVersion": "metal3.io/v1alpha1", "kind": kind,
            "metadata": metadata, "spec": spec, "status": status});
        judged(&object, None)?;
        judged(&object, Some(&object))?;
    }

    #[test]
    fn real_objects_with_any_member_broken_get_a_verdict(
        seed in proptest::sample::select(seeds()),
        at in any::<proptest::sample::Index>(),
        replacement in json(),
        added in proptest::sample::select(FIELDS),
    ) {
        let mut all = Vec::new();
        pointers(&seed, String::new(), &mut all);
        let pointer = at.get(&all).clone();
        let mut broken = seed.clone();
        let mut extended = seed.clone();
        if let Some(slot) = broken.pointer_mut(&pointer) {
            *slot = replacement.clone();
        }
        if let Some(Value::Object(members)) = extended.pointer_mut(&pointer) {
            members.insert(added.to_string(), replacement);
        }
        for object in [&broken, &extended] {
            judged(object, None)?;
            judged(object, Some(&seed))?;
            judged(&seed, Some(object))?;
        }
    }
}
