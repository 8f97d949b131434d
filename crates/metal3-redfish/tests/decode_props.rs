//! Properties of decoding what BMCs send: JSON of any shape (missing members, wrong types,
//! huge collections, deep nesting), as a value or as bytes, decodes into every resource type
//! or fails with an error; nothing panics and nothing overflows the stack.

use metal3_redfish::types::*;
use metal3_redfish::{Error, Reply};
use proptest::prelude::*;
use serde_json::{Value, json};

/// Member names the resource types read, so that arbitrary objects hit them with wrong types.
const MEMBERS: &[&str] = &[
    "@Redfish.Settings",
    "@odata.id",
    "AttributeName",
    "AttributeRegistry",
    "Attributes",
    "Bios",
    "BiosVersion",
    "Boot",
    "BootSourceOverrideEnabled",
    "BootSourceOverrideMode",
    "BootSourceOverrideTarget",
    "BootSourceOverrideTarget@Redfish.AllowableValues",
    "CapacityBytes",
    "CapacityMiB",
    "Chassis",
    "Count",
    "Drives",
    "EthernetInterfaces",
    "EventService",
    "ExpandAll",
    "ExpandQuery",
    "FirmwareVersion",
    "Health",
    "HttpBootUri",
    "Id",
    "Image",
    "Inserted",
    "InstructionSet",
    "Language",
    "Levels",
    "LinkStatus",
    "Links",
    "Location",
    "LowerBound",
    "MACAddress",
    "ManagedBy",
    "Managers",
    "Manufacturer",
    "MaxLength",
    "MaxLevels",
    "MaxSpeedMHz",
    "MediaType",
    "MediaTypes",
    "Members",
    "Memory",
    "MemorySummary",
    "Message",
    "Messages",
    "MinLength",
    "Model",
    "Name",
    "NoLinks",
    "PercentComplete",
    "PermanentMACAddress",
    "PowerState",
    "ProcessorArchitecture",
    "ProcessorSummary",
    "Processors",
    "Protocol",
    "ProtocolFeaturesSupported",
    "RAIDType",
    "ReadOnly",
    "RedfishVersion",
    "Registries",
    "Registry",
    "RegistryEntries",
    "ResetRequired",
    "RotationSpeedRPM",
    "SecureBoot",
    "SecureBootCurrentBoot",
    "SecureBootEnable",
    "SelectQuery",
    "SerialNumber",
    "SessionService",
    "Sessions",
    "SettingsObject",
    "SimpleStorage",
    "SoftwareId",
    "SpeedMbps",
    "State",
    "Status",
    "Storage",
    "StorageControllers",
    "SupportedRAIDTypes",
    "Systems",
    "TaskState",
    "TaskStatus",
    "TotalCores",
    "TotalSystemMemoryGiB",
    "TotalThreads",
    "Type",
    "UUID",
    "UpdateService",
    "Updateable",
    "UpperBound",
    "Uri",
    "Value",
    "ValueName",
    "Version",
    "VirtualMedia",
    "Volumes",
];

/// Any JSON value, objects mostly keyed by the members the types read, strings mostly the
/// members or values BMCs send.
fn json() -> BoxedStrategy<Value> {
    let strings = prop_oneof![
        metal3_hostile::strings(MEMBERS),
        "(On|Off|Completed|Exception|Running|Enabled|Disabled|Cd|Pxe)",
    ];
    metal3_hostile::json_with(MEMBERS, strings.boxed())
}

/// Decodes `value` into every resource type, as a value, through [`Reply::decode`] and as the
/// bytes a BMC would send; uses what decodes.
fn decode_everything(value: &Value) {
    let bytes = serde_json::to_vec(value).expect("a JSON value serialises");
    macro_rules! each {
        ($($t:ty),* $(,)?) => {$(
            let _ = serde_json::from_value::<$t>(value.clone());
            let _ = serde_json::from_slice::<$t>(&bytes);
        )*};
    }
    each!(
        Link,
        Collection,
        Status,
        ExpandQuery,
        ProtocolFeatures,
        ServiceRoot,
        RootLinks,
        Boot,
        ProcessorSummary,
        MemorySummary,
        SystemLinks,
        ComputerSystem,
        SecureBoot,
        Processor,
        Memory,
        EthernetInterface,
        Storage,
        StorageController,
        Drive,
        Volume,
        VolumeLinks,
        Settings,
        Bios,
        RegistryAttribute,
        RegistryValue,
        RegistryEntries,
        AttributeRegistry,
        RegistryFile,
        RegistryLocation,
        Manager,
        VirtualMedia,
        SoftwareInventory,
        TaskMessage,
    );
    let reply = Reply {
        status: 200,
        location: None,
        etag: None,
        body: value.clone(),
        not_json: None,
    };
    if let Ok(task) = reply.decode::<Task>("/redfish/v1/TaskService/Tasks/1") {
        let _ = (task.finished(), task.failed());
    }
    match reply.decode::<ComputerSystem>("/redfish/v1/Systems/1") {
        Ok(_) => {}
        Err(Error::Decode { path, .. }) => assert_eq!(path, "/redfish/v1/Systems/1"),
        Err(other) => panic!("decoding fails as a decoding error, not {other}"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_json_decodes_or_is_refused(value in json()) {
        decode_everything(&value);
    }

    #[test]
    fn any_member_of_a_real_system_may_be_anything(
        member in proptest::sample::select(MEMBERS),
        nested in proptest::sample::select(MEMBERS),
        value in json(),
    ) {
        let system = json!({
            "Id": "1", "PowerState": "On", "UUID": "u",
            "MemorySummary": {"TotalSystemMemoryGiB": 64},
            "ProcessorSummary": {"Count": 2, "Model": "x"},
            "Boot": {"BootSourceOverrideTarget@Redfish.AllowableValues": ["Pxe", "Cd"]},
            "Links": {"ManagedBy": [{"@odata.id": "/redfish/v1/Managers/1"}]},
            "Status": {"State": "Enabled", "Health": "OK"},
        });
        let mut top = system.clone();
        top[member] = value.clone();
        decode_everything(&top);
        // A system that does not decode says which member did not fit.
        if let Err(detail) = metal3_redfish::decode::<ComputerSystem>(&top) {
            prop_assert!(detail.starts_with(member), "{member}: {detail}");
        }
        let mut deeper = system;
        deeper["Boot"][nested] = value.clone();
        deeper["Links"][nested] = value;
        decode_everything(&deeper);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(8))]

    #[test]
    fn huge_collections_decode_whole_or_not_at_all(size in 0usize..50_000, broken in any::<Option<proptest::sample::Index>>()) {
        let mut members: Vec<Value> = (0..size)
            .map(|i| json!({"@odata.id": format!("/redfish/v1/Systems/{i}")}))
            .collect();
        if let Some(at) = broken.filter(|_| size > 0) {
            members[at.index(size)] = json!({"@odata.id": 7});
        }
        let body = json!({"Members": members, "Members@odata.count": size});
        let decoded = serde_json::from_slice::<Collection>(&serde_json::to_vec(&body).expect("serialise"));
        match (decoded, broken.is_some() && size > 0) {
            (Ok(c), false) => prop_assert_eq!(c.members.len(), size),
            (Err(_), true) => {}
            (other, broken) => prop_assert!(false, "broken {broken}: {other:?}"),
        }
    }

    #[test]
    fn deep_nesting_is_refused_without_overflowing(depth in 100usize..200_000, open in "[\\[{]") {
        // The client reads a body into a value first: nesting past serde_json's limit (128)
        // is an error there, so no type ever sees a deeper value.
        let (opening, closing) = if open == "[" {
            ("[".repeat(depth), "]".repeat(depth))
        } else {
            ("{\"Boot\":".repeat(depth), "}".repeat(depth))
        };
        let body = format!("{opening}1{closing}");
        let value = serde_json::from_slice::<Value>(body.as_bytes());
        if depth > 128 {
            prop_assert!(value.is_err(), "{depth} levels were read");
        }
        let _ = serde_json::from_slice::<ComputerSystem>(body.as_bytes());
        let _ = serde_json::from_slice::<Collection>(body.as_bytes());
    }
}

#[test]
fn a_body_that_is_not_json_says_so_when_decoded() {
    let reply = Reply {
        status: 200,
        location: None,
        etag: None,
        body: Value::Null,
        not_json: Some("expected value at line 1 column 1".into()),
    };
    let err = reply
        .decode::<ComputerSystem>("/redfish/v1/Systems/1")
        .expect_err("not JSON");
    assert!(err.to_string().contains("not JSON"), "{err}");
}
