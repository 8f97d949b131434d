//! BareMetalHost and HardwareData documents shaped as upstream writes them (Go encoding, with
//! the API server's defaults applied) decode into our types and encode back unchanged.

use metal3_api::v1alpha1::{
    AutomatedCleaningMode, BareMetalHost, BootMode, DiskType, ErrorType, HardwareData,
    HardwareRaidLevel, ImageFormat, OperationalStatus, ProvisioningState, SoftwareRaidLevel,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

/// Decodes `doc` as `T`, encodes it again and requires the same JSON back.
#[track_caller]
fn round_trip<T: DeserializeOwned + Serialize>(doc: &Value) -> T {
    let typed: T = match serde_json::from_value(doc.clone()) {
        Ok(t) => t,
        Err(e) => panic!("does not decode: {e}"),
    };
    let back = serde_json::to_value(&typed).expect("encodes");
    if back != *doc {
        panic!(
            "round trip changed the document\n--- input\n{}\n--- output\n{}",
            serde_json::to_string_pretty(doc).unwrap_or_default(),
            serde_json::to_string_pretty(&back).unwrap_or_default()
        );
    }
    typed
}

fn never() -> Value {
    json!({"start": null, "end": null})
}

fn hardware_details() -> Value {
    json!({
        "systemVendor": {
            "manufacturer": "Dell Inc.",
            "productName": "PowerEdge R650",
            "serialNumber": "8XK2LM3"
        },
        "firmware": {"bios": {"date": "03/14/2026", "vendor": "Dell Inc.", "version": "1.14.2"}},
        "ramMebibytes": 262144,
        "nics": [
            {
                "name": "eno1",
                "model": "0x8086 0x1593",
                "mac": "b4:96:91:6e:12:a0",
                "ip": "172.22.0.57",
                "speedGbps": 25,
                "vlans": [{"id": 100, "name": "prov"}, {"id": 200}],
                "vlanId": 100,
                "pxe": true,
                "lldp": {
                    "switchID": "c4:7e:e0:01:02:03",
                    "portID": "Ethernet1/5",
                    "switchSystemName": "leaf-04"
                },
                "pciAddress": "0000:31:00.0"
            },
            {
                "name": "eno1",
                "model": "0x8086 0x1593",
                "mac": "b4:96:91:6e:12:a0",
                "ip": "fd2e:6f44:5dd8::57",
                "speedGbps": 25,
                "pxe": true,
                "pciAddress": "0000:31:00.0"
            },
            {"name": "eno2", "mac": "b4:96:91:6e:12:a1"}
        ],
        "storage": [
            {
                "name": "/dev/disk/by-path/pci-0000:01:00.0-scsi-0:2:0:0",
                "alternateNames": ["/dev/sda", "/dev/disk/by-path/pci-0000:01:00.0-scsi-0:2:0:0"],
                "rotational": true,
                "type": "HDD",
                "sizeBytes": 4000787030016_i64,
                "vendor": "SEAGATE",
                "model": "ST4000NM0295",
                "serialNumber": "ZC1BX0KQ",
                "wwn": "0x5000c500c4f4a8b3",
                "wwnVendorExtension": "0x0",
                "wwnWithExtension": "0x5000c500c4f4a8b30x0",
                "hctl": "0:2:0:0"
            },
            {
                "name": "/dev/disk/by-path/pci-0000:02:00.0-sas-0x4433221100000000-lun-0",
                "alternateNames": ["/dev/sdb"],
                "type": "SSD",
                "sizeBytes": 960197124096_i64,
                "model": "MZ7LH960HAJR"
            },
            {
                "name": "/dev/disk/by-path/pci-0000:c1:00.0-nvme-1",
                "alternateNames": ["/dev/nvme0n1"],
                "type": "NVME",
                "sizeBytes": 1600321314816_i64,
                "serialNumber": "S5XANA0R601234"
            }
        ],
        "cpu": {
            "arch": "x86_64",
            "model": "Intel(R) Xeon(R) Gold 6338 CPU @ 2.00GHz",
            "clockMegahertz": 2000,
            "flags": ["avx2", "sse4_2", "vmx"],
            "count": 128
        },
        "hostname": "worker-0"
    })
}

fn condition(kind: &str, status: &str, reason: &str) -> Value {
    json!({
        "type": kind,
        "status": status,
        "observedGeneration": 3,
        "lastTransitionTime": "2026-10-01T09:12:44Z",
        "reason": reason,
        "message": ""
    })
}

/// A provisioned host with every spec and status field set.
fn full_host() -> Value {
    let image = json!({
        "url": "http://172.22.0.1/images/ubuntu-24.04.qcow2",
        "checksum": "http://172.22.0.1/images/ubuntu-24.04.qcow2.sha256sum",
        "checksumType": "sha256",
        "format": "qcow2"
    });
    let hints = json!({
        "deviceName": "/dev/disk/by-path/pci-0000:01:00.0-scsi-0:2:0:0",
        "hctl": "0:2:0:0",
        "model": "ST4000",
        "vendor": "SEAGATE",
        "serialNumber": "ZC1BX0KQ",
        "minSizeGigabytes": 200,
        "wwn": "0x5000c500c4f4a8b3",
        "wwnWithExtension": "0x5000c500c4f4a8b30x0",
        "wwnVendorExtension": "0x0",
        "rotational": true
    });
    let firmware = json!({
        "virtualizationEnabled": true,
        "simultaneousMultithreadingEnabled": false,
        "sriovEnabled": true
    });
    let secret = |name: &str| json!({"name": name, "namespace": "metal3"});
    json!({
        "apiVersion": "metal3.io/v1alpha1",
        "kind": "BareMetalHost",
        "metadata": {
            "name": "worker-0",
            "namespace": "metal3",
            "uid": "1f0b5a8e-3c9d-4c1e-9a57-2d7f4b0c6e11",
            "resourceVersion": "884213",
            "generation": 3,
            "creationTimestamp": "2026-10-01T08:00:00Z",
            "labels": {"cluster.x-k8s.io/cluster-name": "prod"},
            "annotations": {"metal3.io/notes": "rack 4"},
            "finalizers": ["baremetalhost.metal3.io"]
        },
        "spec": {
            "taints": [
                {"key": "dedicated", "value": "gpu", "effect": "NoSchedule"},
                {"key": "maintenance", "effect": "NoExecute", "timeAdded": "2026-10-01T08:00:00Z"}
            ],
            "bmc": {
                "address": "redfish-virtualmedia://192.168.111.1:8000/redfish/v1/Systems/1",
                "credentialsName": "worker-0-bmc-secret",
                "disableCertificateVerification": true
            },
            "raid": {
                "hardwareRAIDVolumes": [{"level": "1", "sizeGibibytes": 200}],
                "softwareRAIDVolumes": null
            },
            "firmware": firmware,
            "hardwareProfile": "unknown",
            "rootDeviceHints": hints,
            "bootMode": "UEFISecureBoot",
            "bootMACAddress": "b4:96:91:6e:12:a0",
            "online": true,
            "consumerRef": {
                "apiVersion": "infrastructure.cluster.x-k8s.io/v1beta1",
                "kind": "Metal3Machine",
                "name": "prod-md-0-7xk2p",
                "namespace": "metal3",
                "uid": "5b7f1c2d-8e4a-4f3b-a1c9-0d6e2f8b9a34"
            },
            "image": image,
            "userData": secret("worker-0-user-data"),
            "preprovisioningNetworkDataName": "worker-0-ramdisk-network",
            "networkData": secret("worker-0-network-data"),
            "metaData": secret("worker-0-meta-data"),
            "description": "rack 4, U12",
            "automatedCleaningMode": "disabled",
            "customDeploy": {"method": "install_coreos"},
            "architecture": "x86_64",
            "disablePowerOff": true,
            "inspectionMode": "agent",
            "networkInterfaces": [
                {
                    "name": "eno1",
                    "hostNetworkAttachment": {"name": "provisioning", "namespace": "net"},
                    "switchPort": {"switchID": "c4:7e:e0:01:02:03", "portID": "Ethernet1/5"}
                },
                {"macAddress": "b4:96:91:6e:12:a1", "hostNetworkAttachment": {}}
            ]
        },
        "status": {
            "operationalStatus": "OK",
            "lastUpdated": "2026-10-01T09:30:02Z",
            "hardwareProfile": "unknown",
            "hardware": hardware_details(),
            "provisioning": {
                "state": "provisioned",
                "ID": "0c6bc1a9-7e7c-4d34-9c61-3d52f8e0b0aa",
                "image": image,
                "rootDeviceHints": hints,
                "bootMode": "UEFISecureBoot",
                "raid": {
                    "hardwareRAIDVolumes": [{"level": "1", "sizeGibibytes": 200}],
                    "softwareRAIDVolumes": null
                },
                "firmware": firmware,
                "customDeploy": {"method": "install_coreos"}
            },
            "goodCredentials": {
                "credentials": secret("worker-0-bmc-secret"),
                "credentialsVersion": "4242"
            },
            "triedCredentials": {
                "credentials": secret("worker-0-bmc-secret"),
                "credentialsVersion": "4242"
            },
            "errorMessage": "",
            "poweredOn": true,
            "operationHistory": {
                "register": {"start": "2026-10-01T08:00:05Z", "end": "2026-10-01T08:00:41Z"},
                "inspect": {"start": "2026-10-01T08:00:41Z", "end": "2026-10-01T08:07:13Z"},
                "provision": {"start": "2026-10-01T09:01:00Z", "end": "2026-10-01T09:12:44Z"},
                "deprovision": never()
            },
            "errorCount": 0,
            "provisioningFailCount": 0,
            "lastAttemptedImage": image,
            "conditions": [
                condition("Manageable", "True", "Manageable"),
                condition("AvailableForProvisioning", "False", "NotAvailable"),
                condition("Provisioned", "True", "Provisioned"),
                condition("Ready", "True", "Provisioned"),
                condition("Progressing", "False", "NotProgressing"),
                condition("Healthy", "True", "Healthy")
            ]
        }
    })
}

#[test]
fn full_host_round_trips() {
    let host: BareMetalHost = round_trip(&full_host());
    assert_eq!(host.provisioning_state(), ProvisioningState::Provisioned);
    assert_eq!(host.operational_status(), OperationalStatus::Ok);
    assert_eq!(host.boot_mode(), BootMode::UefiSecureBoot);
    assert_eq!(
        host.spec.automated_cleaning_mode,
        AutomatedCleaningMode::Disabled
    );
    assert_eq!(
        host.spec.image.as_ref().and_then(|i| i.disk_format),
        Some(ImageFormat::Qcow2)
    );
    assert_eq!(
        host.spec
            .consumer_ref
            .as_ref()
            .and_then(|r| r.name.as_deref()),
        Some("prod-md-0-7xk2p")
    );
    assert!(host.spec.taints[1].time_added.is_some());
    let status = host.status.as_ref().expect("status");
    assert_eq!(
        status.provisioning.id,
        "0c6bc1a9-7e7c-4d34-9c61-3d52f8e0b0aa"
    );
    assert_eq!(status.conditions.len(), 6);
    assert!(status.operation_history.deprovision.start.is_none());
    assert!(status.operation_history.provision.end.is_some());
    let hw = status.hardware.as_ref().expect("hardware");
    assert_eq!(hw.cpu.count, 128);
    assert_eq!(hw.storage[2].disk_type, Some(DiskType::Nvme));
}

#[test]
fn unmanaged_host_round_trips() {
    // What upstream writes for a host created without BMC details.
    let doc = json!({
        "apiVersion": "metal3.io/v1alpha1",
        "kind": "BareMetalHost",
        "metadata": {"name": "spare-3", "namespace": "metal3"},
        "spec": {
            "bmc": {"address": "", "credentialsName": ""},
            "online": false,
            "automatedCleaningMode": "metadata"
        },
        "status": {
            "operationalStatus": "discovered",
            "lastUpdated": "2026-10-02T11:00:00Z",
            "provisioning": {"state": "unmanaged", "ID": "", "image": {"url": ""}},
            "goodCredentials": {},
            "triedCredentials": {},
            "errorMessage": "",
            "poweredOn": false,
            "operationHistory": {
                "register": never(),
                "inspect": never(),
                "provision": never(),
                "deprovision": never()
            },
            "errorCount": 0,
            "provisioningFailCount": 0,
            "conditions": [
                condition("Manageable", "False", "NotManaged"),
                condition("Ready", "False", "NotProvisioned")
            ]
        }
    });
    let host: BareMetalHost = round_trip(&doc);
    assert!(!host.spec.has_bmc_details());
    assert_eq!(host.provisioning_state(), ProvisioningState::Unmanaged);
    assert_eq!(host.operational_status(), OperationalStatus::Discovered);
    assert_eq!(host.boot_mode(), BootMode::Uefi);
}

#[test]
fn provisioned_host_keeps_its_provisioner_id() {
    let doc = json!({
        "apiVersion": "metal3.io/v1alpha1",
        "kind": "BareMetalHost",
        "metadata": {"name": "db-1", "namespace": "prod"},
        "spec": {
            "bmc": {"address": "ipmi://10.10.0.21", "credentialsName": "db-1-bmc"},
            "bootMACAddress": "00:5c:52:31:3a:9c",
            "online": true,
            "image": {"url": "oci://quay.io/acme/os:2026.10", "ociAuthSecretName": "pull-secret"},
            "userData": {"name": "db-1-user-data"},
            "automatedCleaningMode": "metadata"
        },
        "status": {
            "operationalStatus": "OK",
            "lastUpdated": "2026-10-03T07:45:10Z",
            "provisioning": {
                "state": "provisioned",
                "ID": "8b3f2a61-52a4-4a5e-b0b8-6f1d1c9e2d77",
                "image": {"url": "oci://quay.io/acme/os:2026.10", "ociAuthSecretName": "pull-secret"},
                "bootMode": "UEFI"
            },
            "goodCredentials": {"credentials": {"name": "db-1-bmc", "namespace": "prod"}, "credentialsVersion": "17"},
            "triedCredentials": {"credentials": {"name": "db-1-bmc", "namespace": "prod"}, "credentialsVersion": "17"},
            "errorMessage": "",
            "poweredOn": true,
            "operationHistory": {
                "register": {"start": "2026-10-03T07:00:00Z", "end": "2026-10-03T07:00:30Z"},
                "inspect": {"start": "2026-10-03T07:00:30Z", "end": "2026-10-03T07:06:00Z"},
                "provision": {"start": "2026-10-03T07:30:00Z", "end": "2026-10-03T07:45:10Z"},
                "deprovision": never()
            },
            "errorCount": 0,
            "provisioningFailCount": 0,
            "lastAttemptedImage": {"url": "oci://quay.io/acme/os:2026.10", "ociAuthSecretName": "pull-secret"}
        }
    });
    let host: BareMetalHost = round_trip(&doc);
    let status = host.status.as_ref().expect("status");
    assert_eq!(
        status.provisioning.id,
        "8b3f2a61-52a4-4a5e-b0b8-6f1d1c9e2d77"
    );
    assert_eq!(status.provisioning.boot_mode, Some(BootMode::Uefi));
    assert!(host.spec.image.as_ref().is_some_and(|i| i.is_oci()));
    assert_eq!(
        host.spec
            .user_data
            .as_ref()
            .and_then(|s| s.namespace.as_deref()),
        None
    );
}

#[test]
fn failed_host_keeps_error_details() {
    let doc = json!({
        "apiVersion": "metal3.io/v1alpha1",
        "kind": "BareMetalHost",
        "metadata": {"name": "worker-9", "namespace": "metal3"},
        "spec": {
            "bmc": {"address": "redfish://10.0.0.9/redfish/v1/Systems/1", "credentialsName": "worker-9-bmc"},
            "online": true,
            "externallyProvisioned": true,
            "automatedCleaningMode": "metadata"
        },
        "status": {
            "operationalStatus": "error",
            "errorType": "provisioned registration error",
            "lastUpdated": "2026-10-04T12:00:00Z",
            "provisioning": {"state": "externally provisioned", "ID": "", "image": {"url": ""}},
            "goodCredentials": {},
            "triedCredentials": {"credentials": {"name": "worker-9-bmc", "namespace": "metal3"}, "credentialsVersion": "3"},
            "errorMessage": "Failed to get power state for node: 401 Unauthorized",
            "poweredOn": false,
            "operationHistory": {
                "register": {"start": "2026-10-04T11:58:00Z", "end": null},
                "inspect": never(),
                "provision": never(),
                "deprovision": never()
            },
            "errorCount": 4,
            "provisioningFailCount": 0
        }
    });
    let host: BareMetalHost = round_trip(&doc);
    let status = host.status.as_ref().expect("status");
    assert_eq!(status.error_type, Some(ErrorType::ProvisionedRegistration));
    assert_eq!(status.error_count, 4);
    assert_eq!(
        host.provisioning_state(),
        ProvisioningState::ExternallyProvisioned
    );
}

#[test]
fn raid_and_root_device_hints_round_trip() {
    let hw_raid = json!({
        "apiVersion": "metal3.io/v1alpha1",
        "kind": "BareMetalHost",
        "metadata": {"name": "storage-0", "namespace": "metal3"},
        "spec": {
            "bmc": {"address": "idrac-virtualmedia://10.0.0.40/redfish/v1/Systems/System.Embedded.1", "credentialsName": "storage-0-bmc"},
            "online": false,
            "rootDeviceHints": {"hctl": "0:2:0:0", "minSizeGigabytes": 100, "rotational": false},
            "raid": {
                "hardwareRAIDVolumes": [
                    {
                        "sizeGibibytes": 0,
                        "level": "1+0",
                        "name": "os",
                        "rotational": false,
                        "numberOfPhysicalDisks": 4,
                        "controller": "RAID.Integrated.1-1",
                        "physicalDisks": [
                            "Disk.Bay.0:Enclosure.Internal.0-1:RAID.Integrated.1-1",
                            "Disk.Bay.1:Enclosure.Internal.0-1:RAID.Integrated.1-1",
                            "Disk.Bay.2:Enclosure.Internal.0-1:RAID.Integrated.1-1",
                            "Disk.Bay.3:Enclosure.Internal.0-1:RAID.Integrated.1-1"
                        ]
                    },
                    {"level": "5+0", "sizeGibibytes": 2000}
                ],
                "softwareRAIDVolumes": null
            },
            "automatedCleaningMode": "metadata"
        }
    });
    let host: BareMetalHost = round_trip(&hw_raid);
    let raid = host.spec.raid.as_ref().expect("raid");
    let volumes = raid
        .hardware_raid_volumes
        .as_ref()
        .expect("hardware volumes");
    assert_eq!(volumes[0].level, HardwareRaidLevel::Raid10);
    assert_eq!(volumes[0].size_gibibytes, Some(0));
    assert_eq!(volumes[1].level, HardwareRaidLevel::Raid50);
    assert!(raid.software_raid_volumes.is_none());
    let hints = host.spec.root_device_hints.as_ref().expect("hints");
    assert_eq!(hints.rotational, Some(false));
    assert_eq!(hints.min_size_gigabytes, 100);

    // Software RAID; an empty hardware list (which clears existing volumes) stays distinct
    // from null.
    let sw_raid = json!({
        "apiVersion": "metal3.io/v1alpha1",
        "kind": "BareMetalHost",
        "metadata": {"name": "storage-1", "namespace": "metal3"},
        "spec": {
            "bmc": {"address": "redfish://10.0.0.41/redfish/v1/Systems/1", "credentialsName": "storage-1-bmc"},
            "online": true,
            "raid": {
                "hardwareRAIDVolumes": [],
                "softwareRAIDVolumes": [
                    {
                        "rootVolume": true,
                        "sizeGibibytes": 100,
                        "level": "1",
                        "physicalDisks": [{"deviceName": "/dev/sda"}, {"deviceName": "/dev/sdb"}]
                    },
                    {
                        "rootVolume": false,
                        "level": "0",
                        "physicalDisks": [{"serialNumber": "S1"}, {"wwn": "0x5000c500c4f4a8b3"}]
                    }
                ]
            },
            "automatedCleaningMode": "metadata"
        }
    });
    let host: BareMetalHost = round_trip(&sw_raid);
    let raid = host.spec.raid.as_ref().expect("raid");
    assert_eq!(raid.hardware_raid_volumes.as_deref(), Some(&[][..]));
    let volumes = raid
        .software_raid_volumes
        .as_ref()
        .expect("software volumes");
    assert!(volumes[0].root_volume);
    assert_eq!(volumes[0].level, SoftwareRaidLevel::Raid1);
    assert_eq!(volumes[1].level, SoftwareRaidLevel::Raid0);
}

#[test]
fn unknown_provisioning_state_round_trips() {
    let mut doc = full_host();
    doc["status"]["provisioning"]["state"] = json!("some future state");
    let host: BareMetalHost = round_trip(&doc);
    assert_eq!(
        host.provisioning_state(),
        ProvisioningState::Other("some future state".into())
    );
}

#[test]
fn minimal_manifest_gains_only_the_schema_default() {
    // A hand-written manifest (as applied by a user) decodes; encoding adds the one field
    // the API server would default anyway.
    let manifest = json!({
        "apiVersion": "metal3.io/v1alpha1",
        "kind": "BareMetalHost",
        "metadata": {"name": "worker-1", "namespace": "metal3"},
        "spec": {
            "online": true,
            "bmc": {"address": "ipmi://10.0.0.2", "credentialsName": "worker-1-bmc"},
            "bootMACAddress": "00:11:22:33:44:55"
        }
    });
    let host: BareMetalHost = serde_json::from_value(manifest.clone()).expect("decodes");
    let mut expected = manifest;
    expected["spec"]["automatedCleaningMode"] = json!("metadata");
    assert_eq!(serde_json::to_value(&host).expect("encodes"), expected);
}

#[test]
fn unknown_enum_values_are_rejected() {
    for (field, value) in [
        ("bootMode", "bogus"),
        ("automatedCleaningMode", "always"),
        ("inspectionMode", "slow"),
    ] {
        let mut doc = full_host();
        doc["spec"][field] = json!(value);
        let err =
            serde_json::from_value::<BareMetalHost>(doc).expect_err("an unknown value is rejected");
        assert!(err.to_string().contains(value), "{err}");
    }
    let mut doc = full_host();
    doc["status"]["operationalStatus"] = json!("NotOK");
    assert!(serde_json::from_value::<BareMetalHost>(doc).is_err());
}

#[test]
fn hardware_data_round_trips() {
    let doc = json!({
        "apiVersion": "metal3.io/v1alpha1",
        "kind": "HardwareData",
        "metadata": {
            "name": "worker-0",
            "namespace": "metal3",
            "creationTimestamp": "2026-10-01T08:07:13Z",
            "finalizers": ["hardwaredata.metal3.io"],
            "ownerReferences": [{
                "apiVersion": "metal3.io/v1alpha1",
                "kind": "BareMetalHost",
                "name": "worker-0",
                "uid": "1f0b5a8e-3c9d-4c1e-9a57-2d7f4b0c6e11",
                "controller": true
            }]
        },
        "spec": {"hardware": hardware_details()}
    });
    let hd: HardwareData = round_trip(&doc);
    let hw = hd.spec.hardware.as_ref().expect("hardware");
    assert_eq!(hw.nics.len(), 3);
    assert_eq!(hw.nics[0].vlans[0].id, 100);
    assert_eq!(
        hw.nics[0]
            .lldp
            .as_ref()
            .map(|l| l.switch_system_name.as_str()),
        Some("leaf-04")
    );
    assert_eq!(hw.storage[0].disk_type, Some(DiskType::Hdd));
    assert_eq!(hw.storage[1].disk_type, Some(DiskType::Ssd));
    assert_eq!(hw.storage[0].size_bytes, 4_000_787_030_016);
    assert_eq!(hw.cpu.clock_megahertz, 2000.0);
    assert_eq!(hw.ram_mebibytes, 262_144);
    assert_eq!(hw.system_vendor.product_name, "PowerEdge R650");
    assert_eq!(hw.firmware.bios.version, "1.14.2");
}

#[test]
fn sparse_hardware_data_round_trips() {
    // Upstream always writes the nested records, even when inspection found nothing.
    let doc = json!({
        "apiVersion": "metal3.io/v1alpha1",
        "kind": "HardwareData",
        "metadata": {"name": "vm-1", "namespace": "default"},
        "spec": {"hardware": {
            "systemVendor": {},
            "firmware": {"bios": {}},
            "cpu": {"arch": "aarch64", "clockMegahertz": 2593.9, "count": 4},
            "hostname": "vm-1"
        }}
    });
    let hd: HardwareData = round_trip(&doc);
    assert_eq!(
        hd.spec.hardware.as_ref().map(|h| h.cpu.arch.as_str()),
        Some("aarch64")
    );
    let empty = json!({
        "apiVersion": "metal3.io/v1alpha1",
        "kind": "HardwareData",
        "metadata": {"name": "vm-2", "namespace": "default"},
        "spec": {}
    });
    let hd: HardwareData = round_trip(&empty);
    assert!(hd.spec.hardware.is_none());
}
