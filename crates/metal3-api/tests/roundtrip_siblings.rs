//! Upstream-shaped documents of the seven sibling kinds decode into our types and encode back
//! to the same JSON.

use metal3_api::v1alpha1::{
    BMCEventSubscription, DataImage, FirmwareSchema, HostFirmwareComponents, HostFirmwareSettings,
    HostUpdatePolicy, PreprovisioningImage,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

#[track_caller]
fn round_trips<T: DeserializeOwned + Serialize>(doc: Value) {
    let typed: T = serde_json::from_value(doc.clone()).expect("decodes");
    let back = serde_json::to_value(&typed).expect("encodes");
    assert_eq!(back, doc);
}

fn meta(name: &str) -> Value {
    json!({"name": name, "namespace": "metal3", "uid": "7d1c3a4d-2f10-4bd6-bb59-0f3c7c5c9d1e"})
}

fn condition(kind: &str, reason: &str) -> Value {
    json!({"type": kind, "status": "True", "reason": reason, "message": "",
           "lastTransitionTime": "2026-11-20T08:00:00Z", "observedGeneration": 2})
}

#[test]
fn host_firmware_settings() {
    round_trips::<HostFirmwareSettings>(json!({
        "apiVersion": "metal3.io/v1alpha1", "kind": "HostFirmwareSettings",
        "metadata": meta("worker-0"),
        "spec": {"settings": {"ProcVirtualization": "Disabled", "NetworkBootRetryCount": 10}},
        "status": {
            "conditions": [condition("ChangeDetected", "Success"), condition("Valid", "Success")],
            "lastUpdated": "2026-11-20T08:00:00Z",
            "schema": {"name": "schema-5c7e6f2a", "namespace": "metal3"},
            "settings": {"ProcVirtualization": "Enabled", "NetworkBootRetryCount": "20"}
        }
    }));
}

#[test]
fn firmware_schema() {
    round_trips::<FirmwareSchema>(json!({
        "apiVersion": "metal3.io/v1alpha1", "kind": "FirmwareSchema",
        "metadata": meta("schema-5c7e6f2a"),
        "spec": {
            "hardwareVendor": "Dell Inc.", "hardwareModel": "PowerEdge R650",
            "schema": {
                "ProcVirtualization": {"attribute_type": "Enumeration",
                                       "allowable_values": ["Enabled", "Disabled"],
                                       "read_only": false, "unique": false},
                "NetworkBootRetryCount": {"attribute_type": "Integer", "lower_bound": 1,
                                          "upper_bound": 20},
                "AssetTag": {"attribute_type": "String", "min_length": 0, "max_length": 16}
            }
        }
    }));
}

#[test]
fn host_firmware_components() {
    round_trips::<HostFirmwareComponents>(json!({
        "apiVersion": "metal3.io/v1alpha1", "kind": "HostFirmwareComponents",
        "metadata": meta("worker-0"),
        "spec": {"updates": [{"component": "bios", "url": "https://fw.example.com/bios-2.1.bin"}]},
        "status": {
            "components": [
                {"component": "bios", "initialVersion": "2.0.1", "currentVersion": "2.1.0",
                 "lastVersionFlashed": "2.1.0", "updatedAt": "2026-11-20T08:00:00Z"},
                {"component": "bmc", "initialVersion": "6.10.30.00"}
            ],
            "conditions": [condition("Valid", "OK")],
            "lastUpdated": "2026-11-20T08:00:00Z",
            "updates": [{"component": "bios", "url": "https://fw.example.com/bios-2.1.bin"}]
        }
    }));
}

#[test]
fn host_update_policy() {
    round_trips::<HostUpdatePolicy>(json!({
        "apiVersion": "metal3.io/v1alpha1", "kind": "HostUpdatePolicy",
        "metadata": meta("worker-0"),
        "spec": {"firmwareSettings": "onReboot", "firmwareUpdates": "onPreparing"},
        "status": {}
    }));
}

#[test]
fn preprovisioning_image() {
    round_trips::<PreprovisioningImage>(json!({
        "apiVersion": "metal3.io/v1alpha1", "kind": "PreprovisioningImage",
        "metadata": meta("worker-0"),
        "spec": {"acceptFormats": ["iso", "initrd"], "architecture": "x86_64",
                 "networkDataName": "worker-0-network"},
        "status": {
            "architecture": "x86_64", "format": "iso",
            "imageUrl": "http://images.example.com/ipa-x86_64.iso",
            "kernelUrl": "http://images.example.com/ipa.kernel",
            "extraKernelParams": "console=ttyS0",
            "networkData": {"name": "worker-0-network", "version": "4711"},
            "conditions": [condition("Ready", "ImageSuccess")]
        }
    }));
}

#[test]
fn bmc_event_subscription() {
    round_trips::<BMCEventSubscription>(json!({
        "apiVersion": "metal3.io/v1alpha1", "kind": "BMCEventSubscription",
        "metadata": meta("worker-0-events"),
        "spec": {"hostName": "worker-0", "destination": "https://events.example.com/hook/",
                 "context": "rack-12",
                 "httpHeadersRef": {"name": "event-headers", "namespace": "metal3"}},
        "status": {"subscriptionID": "f1b2c3", "error": ""}
    }));
}

#[test]
fn data_image() {
    round_trips::<DataImage>(json!({
        "apiVersion": "metal3.io/v1alpha1", "kind": "DataImage",
        "metadata": meta("worker-0"),
        "spec": {"url": "http://images.example.com/data.iso"},
        "status": {
            "attachedImage": {"url": "http://images.example.com/data.iso"},
            "error": {"count": 1, "message": "BMC busy"},
            "lastReconciled": "2026-11-20T08:00:00Z"
        }
    }));
}

#[test]
fn unknown_enum_values_are_rejected() {
    let bad = json!({
        "apiVersion": "metal3.io/v1alpha1", "kind": "HostUpdatePolicy",
        "metadata": meta("worker-0"),
        "spec": {"firmwareSettings": "whenever"}
    });
    assert!(serde_json::from_value::<HostUpdatePolicy>(bad).is_err());
}
