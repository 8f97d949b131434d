//! Properties of decoding what Ironic answers: JSON of any shape (missing members, wrong
//! types, deep nesting) decodes into every resource type or is refused with the member that
//! did not fit named; nothing panics and nothing overflows the stack.

use metal3_ironic::types::*;
use proptest::prelude::*;
use serde_json::{Value, json};

/// Member names the resource types read.
const MEMBERS: &[&str] = &[
    "address",
    "allowable_values",
    "args",
    "attribute_type",
    "automated_clean",
    "bios",
    "bios_interface",
    "boot",
    "boot_interface",
    "clean_steps",
    "component",
    "configdrive",
    "created_at",
    "current_version",
    "deploy",
    "deploy_interface",
    "deploy_steps",
    "disable_power_off",
    "disable_ramdisk",
    "driver",
    "driver_info",
    "drivers",
    "event",
    "extra",
    "fault",
    "firmware",
    "firmware_interface",
    "health",
    "history",
    "initial_version",
    "inspect_interface",
    "inspection_finished_at",
    "inspection_started_at",
    "instance_info",
    "instance_uuid",
    "interface",
    "inventory",
    "last_error",
    "last_version_flashed",
    "local_link_connection",
    "lower_bound",
    "maintenance",
    "maintenance_reason",
    "management",
    "max_length",
    "min_length",
    "name",
    "network_data",
    "node_uuid",
    "nodes",
    "plugin_data",
    "ports",
    "power",
    "power_state",
    "priority",
    "properties",
    "provision_state",
    "pxe_enabled",
    "raid_interface",
    "read_only",
    "reason",
    "reservation",
    "result",
    "service_steps",
    "severity",
    "step",
    "target",
    "target_power_state",
    "target_provision_state",
    "unique",
    "updated_at",
    "upper_bound",
    "uuid",
    "value",
];

fn json() -> BoxedStrategy<Value> {
    let strings = prop_oneof![
        metal3_hostile::strings(MEMBERS),
        "(available|manageable|active|deploying|deploy failed|clean wait|power on|power off|enroll|inspecting|wait call-back)",
    ];
    metal3_hostile::json_with(MEMBERS, strings.boxed())
}

/// Decodes `value` into every resource type, as a value and as the bytes Ironic would send.
fn decode_everything(value: &Value) {
    let bytes = serde_json::to_vec(value).expect("a JSON value serialises");
    macro_rules! each {
        ($($t:ty),* $(,)?) => {$(
            let _ = decode::<$t>(value);
            let _ = serde_json::from_slice::<$t>(&bytes);
        )*};
    }
    each!(
        Node,
        NodeList,
        Port,
        PortList,
        Driver,
        DriverList,
        InterfaceValidation,
        Validation,
        BiosSetting,
        BiosSettings,
        FirmwareComponent,
        FirmwareComponents,
        InventoryData,
        HistoryEvent,
        History,
        Step,
    );
    if let Ok(node) = decode::<Node>(value) {
        let _ = node.in_transition();
    }
}

fn a_node() -> Value {
    json!({
        "uuid": "4f8b9d0e-1c2a-4b3c-9d8e-7f6a5b4c3d2e", "name": "ns~host",
        "driver": "redfish", "provision_state": "active", "power_state": "power on",
        "maintenance": false, "driver_info": {"redfish_address": "https://192.0.2.1"},
        "properties": {"cpus": 8, "memory_mb": 16384}, "instance_info": {}, "extra": {},
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_json_decodes_or_is_refused(value in json()) {
        decode_everything(&value);
    }

    #[test]
    fn any_member_of_a_real_node_may_be_anything(
        member in proptest::sample::select(MEMBERS),
        value in json(),
    ) {
        let mut node = a_node();
        node[member] = value;
        decode_everything(&node);
        if let Err(detail) = decode::<Node>(&node) {
            prop_assert!(detail.starts_with(member), "{member}: {detail}");
        }
        let list = json!({"nodes": [a_node(), node]});
        if let Err(detail) = decode::<NodeList>(&list) {
            prop_assert!(detail.starts_with(&format!("nodes[1].{member}")), "{member}: {detail}");
        }
    }
}

#[test]
fn nesting_past_the_recursion_limit_is_refused_or_skipped_never_followed_down_the_stack() {
    // A member the type reads is refused at the recursion limit.
    for member in ["driver_info", "properties", "extra"] {
        let text = metal3_hostile::nested_text(200_000, Some(member));
        let err = serde_json::from_str::<Node>(&text).expect_err("too deep");
        assert!(err.to_string().contains("recursion limit"), "{err}");
    }
    let text = format!(
        r#"{{"nodes":{}}}"#,
        metal3_hostile::nested_text(200_000, None)
    );
    assert!(serde_json::from_str::<NodeList>(&text).is_err());
    // One it does not read is skipped or refused, and the stack holds either way.
    for member in [None, Some("unknown")] {
        let _ = serde_json::from_str::<Node>(&metal3_hostile::nested_text(200_000, member));
    }
}
