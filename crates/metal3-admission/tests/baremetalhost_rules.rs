//! Every BareMetalHost admission rule, create and update, driven through the same entry point
//! the webhook and `metal3 validate` use (`validate_value` on JSON objects).

use metal3_admission::{FieldError, Verdict, validate_value};
use serde_json::{Value, json};

/// A valid host: redfish-virtualmedia BMC, online, no image.
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

/// `host()` with `patch` merged in (JSON merge patch semantics).
fn with(patch: Value) -> Value {
    let mut h = host();
    merge(&mut h, &patch);
    h
}

fn merge(target: &mut Value, patch: &Value) {
    match (target, patch) {
        (Value::Object(t), Value::Object(p)) => {
            for (k, v) in p {
                if v.is_null() {
                    t.remove(k);
                } else {
                    merge(t.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
        }
        (t, p) => *t = p.clone(),
    }
}

fn errors(new: &Value, old: Option<&Value>) -> Vec<FieldError> {
    match validate_value(new, old) {
        Verdict::Checked(found) => found.errors,
        Verdict::NotOurs => panic!("a BareMetalHost is ours"),
    }
}

/// Asserts the object is valid, or that exactly one error names `field` and contains `message`.
#[track_caller]
fn expect(new: &Value, old: Option<&Value>, expected: Option<(&str, &str)>) {
    let found = errors(new, old);
    match expected {
        None => assert!(found.is_empty(), "expected valid, got {found:#?}"),
        Some((field, message)) => {
            assert!(
                found
                    .iter()
                    .any(|e| e.field == field && e.message.contains(message)),
                "expected `{field}: …{message}…`, got {found:#?}"
            );
        }
    }
}

#[test]
fn valid_hosts() {
    expect(&host(), None, None);
    expect(
        &with(json!({"spec": {"externallyProvisioned": true}})),
        None,
        None,
    );
    // No BMC at all is fine (the host becomes unmanaged).
    expect(&with(json!({"spec": {"bmc": null}})), None, None);
    expect(
        &with(
            json!({"spec": {"bmc": {"address": "ipmi://192.168.122.1:6233"},
                               "bootMACAddress": "00:11:22:33:44:55"}}),
        ),
        None,
        None,
    );
}

#[test]
fn name_rules() {
    expect(
        &with(json!({"metadata": {"name": "worker_0.rack-1"}})),
        None,
        None,
    );
    expect(
        &with(json!({"metadata": {"name": "worker:0"}})),
        None,
        Some(("metadata.name", "other than [A-Za-z0-9._-]")),
    );
    expect(
        &with(json!({"metadata": {"name": "0f3c7c5c-9d1e-4bd6-bb59-7d1c3a4d2f10"}})),
        None,
        Some(("metadata.name", "cannot be a UUID")),
    );
}

#[test]
fn bmc_address_rules() {
    expect(
        &with(json!({"spec": {"bmc": {"address": "test:127.0.1.1"}}})),
        None,
        Some((
            "spec.bmc.address",
            "Unknown BMC type 'test' for address test:127.0.1.1",
        )),
    );
    expect(
        &with(json!({"spec": {"bmc": {"address": "ipmi://-host.example.com.org:6223"}}})),
        None,
        Some(("spec.bmc.address", "[-host.example.com.org] is invalid")),
    );
    expect(
        &with(json!({"spec": {"bmc": {"address": "ipm:host.example.com:6223"}}})),
        None,
        Some(("spec.bmc.address", "Unknown BMC type 'ipm'")),
    );
    for ok in [
        "ipmi://host.example.com:6223",
        "ipmi://[fe80::fc33:62ff:fe33:8eff]:6223",
        "redfish+http://host-1.example.com/redfish/v1/Systems/1",
    ] {
        expect(
            &with(json!({"spec": {"bmc": {"address": ok}, "bootMACAddress": "00:11:22:33:44:55"}})),
            None,
            None,
        );
    }
}

#[test]
fn firmware_field_is_rejected() {
    expect(
        &with(json!({"spec": {"firmware": {"virtualizationEnabled": true}}})),
        None,
        Some((
            "spec.firmware",
            "no longer supported, use HostFirmwareSettings",
        )),
    );
}

#[test]
fn boot_mac_rules() {
    expect(
        &with(json!({"spec": {"bmc": {"address": "libvirt://192.168.122.1:6233/"}}})),
        None,
        Some((
            "spec.bootMACAddress",
            "BMC driver libvirt requires a BootMACAddress value",
        )),
    );
    // Virtual media does not need the MAC, unless inspection is disabled.
    expect(&host(), None, None);
    expect(
        &with(json!({"spec": {"inspectionMode": "disabled"}})),
        None,
        Some(("spec.bootMACAddress", "requires a BootMACAddress value")),
    );
    expect(
        &with(json!({"metadata": {"annotations": {"inspect.metal3.io": "disabled"}}})),
        None,
        Some(("spec.bootMACAddress", "requires a BootMACAddress value")),
    );
    expect(
        &with(
            json!({"spec": {"inspectionMode": "disabled", "bootMACAddress": "00:11:22:33:44:55"}}),
        ),
        None,
        None,
    );
    expect(
        &with(json!({"spec": {"bootMACAddress": "00:00:00:00:00"}})),
        None,
        Some(("spec.bootMACAddress", "invalid MAC address")),
    );
}

#[test]
fn secure_boot_needs_a_capable_driver() {
    expect(
        &with(
            json!({"spec": {"bmc": {"address": "libvirt://192.168.122.1:6233/"},
                              "bootMACAddress": "00:11:22:33:44:55", "bootMode": "UEFISecureBoot"}}),
        ),
        None,
        Some((
            "spec.bootMode",
            "BMC driver libvirt does not support secure boot",
        )),
    );
    expect(
        &with(json!({"spec": {"bootMode": "UEFISecureBoot"}})),
        None,
        None,
    );
}

#[test]
fn raid_rules() {
    expect(
        &with(json!({"spec": {"raid": {
            "hardwareRAIDVolumes": [{"level": "1", "sizeGibibytes": 100}],
            "softwareRAIDVolumes": [{"level": "1"}]
        }}})),
        None,
        Some(("spec.raid", "can not be set at the same time")),
    );
    expect(
        &with(
            json!({"spec": {"bmc": {"address": "ipmi://192.168.122.1:6233"},
                              "raid": {"hardwareRAIDVolumes": [{"level": "1"}]}}}),
        ),
        None,
        Some((
            "spec.raid.hardwareRAIDVolumes",
            "BMC driver ipmi does not support configuring RAID",
        )),
    );
    expect(
        &with(json!({"spec": {"raid": {"hardwareRAIDVolumes": [{"level": "1"}]}}})),
        None,
        None,
    );
    expect(
        &with(json!({"spec": {"raid": {"hardwareRAIDVolumes": [
            {"level": "1", "physicalDisks": ["Disk-1", "Disk-2"]}
        ]}}})),
        None,
        Some((
            "spec.raid.hardwareRAIDVolumes[0].controller",
            "'physicalDisks' specified without 'controller' in hardware RAID volume 0",
        )),
    );
    expect(
        &with(json!({"spec": {"raid": {"hardwareRAIDVolumes": [
            {"level": "1", "controller": "RAID.Integrated.1-1",
             "numberOfPhysicalDisks": 3, "physicalDisks": ["Disk-1", "Disk-2"]}
        ]}}})),
        None,
        Some((
            "spec.raid.hardwareRAIDVolumes[0].numberOfPhysicalDisks",
            "the 'numberOfPhysicalDisks'[3] and number of 'physicalDisks'[2] is not same for volume 0",
        )),
    );
    let root = json!({"level": "1", "rootVolume": true});
    expect(
        &with(json!({"spec": {"raid": {"softwareRAIDVolumes": [root.clone(), root.clone()]}}})),
        None,
        Some((
            "spec.raid.softwareRAIDVolumes",
            "rootVolume can only be set once",
        )),
    );
    expect(
        &with(
            json!({"spec": {"raid": {"softwareRAIDVolumes": [root.clone()]},
                              "rootDeviceHints": {"deviceName": "/dev/sda"}}}),
        ),
        None,
        Some((
            "spec.raid.softwareRAIDVolumes",
            "rootDeviceHints can not be set at the same time",
        )),
    );
    expect(
        &with(
            json!({"spec": {"raid": {"softwareRAIDVolumes": [{"level": "0", "rootVolume": true}]}}}),
        ),
        None,
        Some((
            "spec.raid.softwareRAIDVolumes[0].level",
            "rootVolume set must use RAID level 1",
        )),
    );
    expect(
        &with(json!({"spec": {"raid": {"softwareRAIDVolumes": [root]}}})),
        None,
        None,
    );
}

#[test]
fn root_device_hint_rules() {
    for ok in ["/dev/sda", "/dev/disk/by-path/pci-0000:00:1f.2-ata-1"] {
        expect(
            &with(json!({"spec": {"rootDeviceHints": {"deviceName": ok}}})),
            None,
            None,
        );
    }
    expect(
        &with(json!({"spec": {"rootDeviceHints": {"deviceName": "/dev/disk/by-uuid/cdaacd50"}}})),
        None,
        Some((
            "spec.rootDeviceHints.deviceName",
            "must be path in /dev/ or /dev/disk/by-path/, not \"/dev/disk/by-uuid/cdaacd50\"",
        )),
    );
    expect(
        &with(json!({"spec": {"rootDeviceHints": {"deviceName": "sda"}}})),
        None,
        Some((
            "spec.rootDeviceHints.deviceName",
            "must be a /dev/ path, not \"sda\"",
        )),
    );
}

#[test]
fn image_rules() {
    let image = |v: Value| with(json!({"spec": {"image": v}}));
    expect(
        &image(
            json!({"url": "http://example.com/os.qcow2", "checksum": "http://example.com/os.qcow2.sha256sum"}),
        ),
        None,
        None,
    );
    expect(
        &image(json!({"url": "oci://quay.io/os/image:1.0"})),
        None,
        None,
    );
    expect(
        &image(json!({"url": "https://example.com/live.iso", "format": "live-iso"})),
        None,
        None,
    );
    expect(
        &image(json!({"url": "test1", "checksum": "abc"})),
        None,
        Some(("spec.image.url", "image URL test1 is invalid")),
    );
    expect(
        &image(json!({"url": "unix://example.com", "checksum": "abc"})),
        None,
        Some((
            "spec.image.url",
            "invalid scheme in URL, \"unix\" not allowed",
        )),
    );
    expect(
        &image(json!({"url": "", "checksum": "abc"})),
        None,
        Some(("spec.image.url", "image URL  is invalid")),
    );
    expect(
        &image(json!({"url": "http://example.com/os.qcow2"})),
        None,
        Some((
            "spec.image.checksum",
            "checksum is required for normal images",
        )),
    );
    expect(
        &image(json!({"url": "oci://quay.io/os/image:1.0", "checksum": "abc"})),
        None,
        Some(("spec.image.checksum", "must be empty for OCI images")),
    );
}

#[test]
fn unknown_enum_values_name_the_field() {
    expect(
        &with(
            json!({"spec": {"image": {"url": "http://x/os.img", "checksum": "a", "checksumType": "SHA42"}}}),
        ),
        None,
        Some(("spec.image.checksumType", "SHA42")),
    );
    expect(
        &with(json!({"spec": {"bootMode": "bogus"}})),
        None,
        Some(("spec.bootMode", "bogus")),
    );
}

#[test]
fn status_annotation_rules() {
    let annotated =
        |v: &str| with(json!({"metadata": {"annotations": {"baremetalhost.metal3.io/status": v}}}));
    let good = json!({
        "operationalStatus": "OK", "errorMessage": "", "errorCount": 0,
        "poweredOn": true, "provisioningFailCount": 0,
        "lastUpdated": "2026-11-01T10:00:00Z",
        "provisioning": {"state": "provisioned", "ID": "4c2b6ee1-0d35-4f3b-9ba8-6e0b7c0a7f01"}
    });
    expect(&annotated(&good.to_string()), None, None);
    let mut unknown = good.clone();
    unknown["InvalidField"] = json!(1);
    expect(
        &annotated(&unknown.to_string()),
        None,
        Some((
            "metadata.annotations[baremetalhost.metal3.io/status]",
            "InvalidField",
        )),
    );
    let mut bad_status = good.clone();
    bad_status["operationalStatus"] = json!("NotOK");
    expect(
        &annotated(&bad_status.to_string()),
        None,
        Some((
            "metadata.annotations[baremetalhost.metal3.io/status]",
            "invalid operationalStatus 'NotOK'",
        )),
    );
    let mut servicing = good.clone();
    servicing["operationalStatus"] = json!("servicing");
    expect(
        &annotated(&servicing.to_string()),
        None,
        Some((
            "metadata.annotations[baremetalhost.metal3.io/status]",
            "invalid operationalStatus 'servicing'",
        )),
    );
    let mut bad_error = good.clone();
    bad_error["errorType"] = json!("No Error");
    expect(
        &annotated(&bad_error.to_string()),
        None,
        Some((
            "metadata.annotations[baremetalhost.metal3.io/status]",
            "invalid errorType 'No Error'",
        )),
    );
    expect(
        &annotated("{\"operationalStatus\": \"OK\""),
        None,
        Some((
            "metadata.annotations[baremetalhost.metal3.io/status]",
            "error decoding status annotation",
        )),
    );
}

#[test]
fn reboot_annotation_rules() {
    let annotated = |key: &str, v: &str| with(json!({"metadata": {"annotations": {key: v}}}));
    for ok in [
        "",
        "{\"mode\": \"hard\"}",
        "{\"mode\": \"soft\", \"force\": true}",
        "{}",
    ] {
        expect(&annotated("reboot.metal3.io", ok), None, None);
        expect(
            &annotated("reboot.metal3.io/capm3-remediation", ok),
            None,
            None,
        );
    }
    expect(
        &annotated("reboot.metal3.io", "{\"mode\": \"medium\"}"),
        None,
        Some((
            "metadata.annotations[reboot.metal3.io]",
            "invalid mode in the reboot.metal3.io annotation, allowed are \"hard\", \"soft\" or \"\"",
        )),
    );
    expect(
        &annotated("reboot.metal3.io/my-key", "{\"mode\": \"medium\"}"),
        None,
        Some((
            "metadata.annotations[reboot.metal3.io/my-key]",
            "invalid mode",
        )),
    );
    expect(
        &annotated("reboot.metal3.io", "not json"),
        None,
        Some((
            "metadata.annotations[reboot.metal3.io]",
            "failed to unmarshal",
        )),
    );
}

#[test]
fn inspect_and_hardware_details_annotation_rules() {
    let annotations = |a: Value| with(json!({"metadata": {"annotations": a}}));
    expect(
        &annotations(json!({"inspect.metal3.io": "sometimes"})),
        None,
        Some((
            "metadata.annotations[inspect.metal3.io]",
            "allowed are \"disabled\" or \"\"",
        )),
    );
    expect(&annotations(json!({"inspect.metal3.io": ""})), None, None);
    let details = json!({"cpu": {"arch": "x86_64", "count": 4}, "ramMebibytes": 4096}).to_string();
    expect(
        &annotations(json!({"inspect.metal3.io/hardwaredetails": details})),
        None,
        Some((
            "metadata.annotations[inspect.metal3.io/hardwaredetails]",
            "inspection must be disabled",
        )),
    );
    expect(
        &with(json!({
            "metadata": {"annotations": {
                "inspect.metal3.io": "disabled",
                "inspect.metal3.io/hardwaredetails": details
            }},
            "spec": {"bootMACAddress": "00:11:22:33:44:55"}
        })),
        None,
        None,
    );
    expect(
        &with(json!({
            "metadata": {"annotations": {"inspect.metal3.io/hardwaredetails": details}},
            "spec": {"inspectionMode": "disabled", "bootMACAddress": "00:11:22:33:44:55"}
        })),
        None,
        None,
    );
    expect(
        &with(json!({
            "metadata": {"annotations": {
                "inspect.metal3.io": "disabled",
                "inspect.metal3.io/hardwaredetails": "{\"INVALIDField\": 1}"
            }},
            "spec": {"bootMACAddress": "00:11:22:33:44:55"}
        })),
        None,
        Some((
            "metadata.annotations[inspect.metal3.io/hardwaredetails]",
            "INVALIDField",
        )),
    );
}

#[test]
fn inspection_mode_rules() {
    expect(
        &with(json!({"spec": {"inspectionMode": "agent"}})),
        None,
        None,
    );
    expect(
        &with(json!({"spec": {"inspectionMode": "fast"}})),
        None,
        None,
    );
    expect(
        &with(
            json!({"metadata": {"annotations": {"inspect.metal3.io": "disabled"}},
                     "spec": {"inspectionMode": "agent"}}),
        ),
        None,
        Some(("spec.inspectionMode", "contradicting values")),
    );
    expect(
        &with(
            json!({"metadata": {"annotations": {"inspect.metal3.io": "disabled"}},
                     "spec": {"inspectionMode": "disabled", "bootMACAddress": "00:11:22:33:44:55"}}),
        ),
        None,
        None,
    );
    expect(
        &with(json!({"spec": {"inspectionMode": "fast",
                              "bmc": {"address": "ipmi://192.168.122.1:6233"}}})),
        None,
        Some((
            "spec.inspectionMode",
            "BMC driver ipmi does not support fast (out-of-band) inspection",
        )),
    );
    for address in [
        "redfish://192.168.1.1/redfish/v1/Systems/1",
        "idrac-redfish://192.168.1.1/redfish/v1/Systems/1",
        "idrac-virtualmedia://192.168.1.1/redfish/v1/Systems/1",
    ] {
        expect(
            &with(json!({"spec": {"inspectionMode": "fast", "bmc": {"address": address}}})),
            None,
            None,
        );
    }
}

#[test]
fn cross_namespace_secrets_are_forbidden() {
    for field in ["userData", "networkData", "metaData"] {
        expect(
            &with(json!({"spec": {field: {"name": "s", "namespace": "other"}}})),
            None,
            Some((
                &format!("spec.{field}"),
                "cross-namespace Secret references are not allowed",
            )),
        );
        expect(
            &with(json!({"spec": {field: {"name": "s", "namespace": "metal3"}}})),
            None,
            None,
        );
        expect(&with(json!({"spec": {field: {"name": "s"}}})), None, None);
    }
    let all = with(json!({"spec": {
        "userData": {"name": "u", "namespace": "a"},
        "networkData": {"name": "n", "namespace": "b"},
        "metaData": {"name": "m", "namespace": "c"}
    }}));
    assert_eq!(
        errors(&all, None).len(),
        3,
        "every bad reference is reported"
    );
    // A host without a namespace lands in `default`: a Secret there is its own, and the
    // message names `default` for any other.
    let mut unplaced = with(json!({"spec": {"userData": {"name": "s", "namespace": "default"}}}));
    unplaced["metadata"]
        .as_object_mut()
        .expect("metadata")
        .remove("namespace");
    expect(&unplaced, None, None);
    unplaced["spec"]["userData"]["namespace"] = json!("other");
    expect(
        &unplaced,
        None,
        Some((
            "spec.userData",
            "put it in the host's namespace \"default\"",
        )),
    );
}

#[test]
fn power_rules() {
    expect(
        &with(json!({"spec": {"disablePowerOff": true}})),
        None,
        None,
    );
    expect(
        &with(json!({"spec": {"disablePowerOff": true, "online": false}})),
        None,
        Some((
            "spec.disablePowerOff",
            "online set to false and have power off disabled",
        )),
    );
}

#[test]
fn network_interface_rules() {
    let ifaces = |v: Value| with(json!({"spec": {"networkInterfaces": v}}));
    expect(
        &ifaces(json!([{"name": "eth0"}, {"macAddress": "00:11:22:33:44:55"}])),
        None,
        None,
    );
    expect(
        &ifaces(json!([{}])),
        None,
        Some((
            "spec.networkInterfaces[0]",
            "must specify either name or macAddress",
        )),
    );
    expect(
        &ifaces(json!([{"name": "eth0", "macAddress": "00:11:22:33:44:55"}])),
        None,
        Some(("spec.networkInterfaces[0]", "mutually exclusive")),
    );
    expect(
        &ifaces(json!([{"name": "eth0"}, {"name": "eth0"}])),
        None,
        Some((
            "spec.networkInterfaces[1]",
            "duplicate interface selector for \"eth0\"",
        )),
    );
    expect(
        &ifaces(json!([{"macAddress": "00:11:22:33:44:55"}, {"macAddress": "00:11:22:33:44:55"}])),
        None,
        Some((
            "spec.networkInterfaces[1]",
            "duplicate interface selector for \"00:11:22:33:44:55\"",
        )),
    );
}

#[test]
fn all_problems_are_reported_at_once() {
    let bad = with(json!({
        "metadata": {"name": "bad:name"},
        "spec": {"firmware": {}, "disablePowerOff": true, "online": false,
                 "rootDeviceHints": {"deviceName": "sda"}}
    }));
    assert_eq!(errors(&bad, None).len(), 4, "{:#?}", errors(&bad, None));
}

fn with_status(mut h: Value, state: &str, operational: &str) -> Value {
    h["status"] = json!({
        "operationalStatus": operational, "errorMessage": "", "errorCount": 0,
        "poweredOn": false, "provisioningFailCount": 0,
        "provisioning": {"state": state, "ID": ""}
    });
    h
}

#[test]
fn bmc_address_change_rules() {
    let old = with_status(host(), "available", "OK");
    let moved = with_status(
        with(
            json!({"spec": {"bmc": {"address": "redfish-virtualmedia://192.168.111.2/redfish/v1/Systems/1"}}}),
        ),
        "available",
        "OK",
    );
    expect(
        &moved,
        Some(&old),
        Some(("spec.bmc.address", "BMC address can not be changed")),
    );
    // Allowed while registering, when detached, or when it was empty before.
    expect(
        &moved,
        Some(&with_status(host(), "registering", "OK")),
        None,
    );
    expect(
        &moved,
        Some(&with_status(host(), "available", "detached")),
        None,
    );
    let unset = with_status(with(json!({"spec": {"bmc": {"address": ""}}})), "", "");
    expect(&moved, Some(&unset), None);
}

#[test]
fn boot_mac_is_immutable() {
    let old = with(json!({"spec": {"bootMACAddress": "00:11:22:33:44:55"}}));
    expect(
        &with(json!({"spec": {"bootMACAddress": "00:11:22:33:44:66"}})),
        Some(&old),
        Some(("spec.bootMACAddress", "can not be changed once it is set")),
    );
    // Case does not matter.
    expect(
        &with(json!({"spec": {"bootMACAddress": "00:11:22:33:44:55"}})),
        Some(&with(
            json!({"spec": {"bootMACAddress": "00:11:22:33:44:55"}}),
        )),
        None,
    );
    expect(
        &with(json!({"spec": {"bootMACAddress": "00:11:22:33:44:5A"}})),
        Some(&with(
            json!({"spec": {"bootMACAddress": "00:11:22:33:44:5a"}}),
        )),
        None,
    );
    // Setting it for the first time is fine.
    expect(
        &with(json!({"spec": {"bootMACAddress": "00:11:22:33:44:55"}})),
        Some(&host()),
        None,
    );
}

#[test]
fn externally_provisioned_only_from_available() {
    let set = json!({"spec": {"externallyProvisioned": true}});
    expect(
        &with_status(with(set.clone()), "provisioning", "OK"),
        Some(&with_status(host(), "provisioning", "OK")),
        Some((
            "spec.externallyProvisioned",
            "can only be enabled when in Available state, currently in provisioning",
        )),
    );
    expect(
        &with_status(with(set), "available", "OK"),
        Some(&with_status(host(), "available", "OK")),
        None,
    );
}

#[test]
fn network_interface_schema_bounds() {
    let ifaces = |v: Value| with(json!({"spec": {"networkInterfaces": v}}));
    expect(
        &ifaces(json!([{
            "name": "ens1f0",
            "hostNetworkAttachment": {"name": "storage", "namespace": "net"},
            "switchPort": {"switchID": "aa:bb:cc:dd:ee:ff", "portID": "Ethernet1/5"}
        }])),
        None,
        None,
    );
    expect(
        &ifaces(json!([{"name": "eth 0"}])),
        None,
        Some(("spec.networkInterfaces[0].name", "only letters")),
    );
    expect(
        &ifaces(json!([{"macAddress": "00-11-22-33-44-55"}])),
        None,
        Some((
            "spec.networkInterfaces[0].macAddress",
            "six colon-separated",
        )),
    );
    expect(
        &ifaces(json!([{"name": "eth0", "switchPort": {"switchID": "switch-1", "portID": "1"}}])),
        None,
        Some(("spec.networkInterfaces[0].switchPort.switchID", "MAC")),
    );
    expect(
        &ifaces(
            json!([{"name": "eth0", "hostNetworkAttachment": {"name": "x", "namespace": "n".repeat(64)}}]),
        ),
        None,
        Some((
            "spec.networkInterfaces[0].hostNetworkAttachment.namespace",
            "longer than 63",
        )),
    );
    // A switch port without its required switchID: Go's decoding takes the zero value, which
    // the rule refuses (the API server's own required check is a schema error).
    expect(
        &ifaces(json!([{"name": "eth0", "switchPort": {"portID": "1"}}])),
        None,
        Some(("spec.networkInterfaces[0].switchPort.switchID", "MAC")),
    );
}
