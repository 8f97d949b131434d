//! BIOS settings of a simulated server: an attribute registry (names, types, allowed values),
//! current values, and values staged through `@Redfish.Settings` for the next boot.

use std::collections::BTreeMap;

use serde_json::{Value, json};

/// The registry's identity, as `Bios.AttributeRegistry` names it.
pub const REGISTRY: &str = "BiosAttributeRegistry.v1_0_0";

/// What values an attribute takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Enumeration(&'static [&'static str]),
    String { max_length: usize },
    Integer { lower: i64, upper: i64 },
    Boolean,
}

/// A literal default value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lit {
    Str(&'static str),
    Int(i64),
    Bool(bool),
}

impl Lit {
    fn value(self) -> Value {
        match self {
            Self::Str(s) => Value::from(s),
            Self::Int(i) => Value::from(i),
            Self::Bool(b) => Value::from(b),
        }
    }
}

/// One registry entry.
#[derive(Clone, Copy, Debug)]
pub struct Attribute {
    pub name: &'static str,
    pub display: &'static str,
    pub kind: Kind,
    pub default: Lit,
    pub read_only: bool,
}

const ON_OFF: &[&str] = &["Enabled", "Disabled"];

/// Every attribute a simulated server has.
pub const ATTRIBUTES: &[Attribute] = &[
    Attribute {
        name: "BootMode",
        display: "Boot Mode",
        kind: Kind::Enumeration(&["Uefi", "Bios"]),
        default: Lit::Str("Uefi"),
        read_only: false,
    },
    Attribute {
        name: "ProcVirtualization",
        display: "Virtualization Technology",
        kind: Kind::Enumeration(ON_OFF),
        default: Lit::Str("Enabled"),
        read_only: false,
    },
    Attribute {
        name: "ProcTurboMode",
        display: "Turbo Mode",
        kind: Kind::Enumeration(ON_OFF),
        default: Lit::Str("Enabled"),
        read_only: false,
    },
    Attribute {
        name: "SriovGlobalEnable",
        display: "SR-IOV Global Enable",
        kind: Kind::Enumeration(ON_OFF),
        default: Lit::Str("Disabled"),
        read_only: false,
    },
    Attribute {
        name: "AssetTag",
        display: "Asset Tag",
        kind: Kind::String { max_length: 64 },
        default: Lit::Str(""),
        read_only: false,
    },
    Attribute {
        name: "PxeRetryCount",
        display: "PXE Retry Count",
        kind: Kind::Integer {
            lower: 0,
            upper: 10,
        },
        default: Lit::Int(1),
        read_only: false,
    },
    Attribute {
        name: "SecureBootEnable",
        display: "Secure Boot",
        kind: Kind::Boolean,
        default: Lit::Bool(false),
        read_only: false,
    },
    Attribute {
        name: "SystemSerial",
        display: "System Serial Number",
        kind: Kind::String { max_length: 32 },
        default: Lit::Str("SIM-SERIAL"),
        read_only: true,
    },
];

fn attribute(name: &str) -> Option<&'static Attribute> {
    ATTRIBUTES.iter().find(|a| a.name == name)
}

/// Checks one value against its registry entry, naming the attribute in the error.
pub fn check(name: &str, value: &Value) -> Result<&'static str, String> {
    let Some(a) = attribute(name) else {
        return Err(format!(
            "unknown BIOS attribute {name:?} (the registry {REGISTRY} lists the known ones)"
        ));
    };
    if a.read_only {
        return Err(format!("BIOS attribute {name} is read-only"));
    }
    let fits = match a.kind {
        Kind::Enumeration(allowed) => value.as_str().is_some_and(|v| allowed.contains(&v)),
        Kind::String { max_length } => value.as_str().is_some_and(|v| v.len() <= max_length),
        Kind::Integer { lower, upper } => {
            value.as_i64().is_some_and(|v| (lower..=upper).contains(&v))
        }
        Kind::Boolean => value.is_boolean(),
    };
    if fits {
        return Ok(a.name);
    }
    let wanted = match a.kind {
        Kind::Enumeration(allowed) => format!("one of {}", allowed.join(", ")),
        Kind::String { max_length } => format!("a string of at most {max_length} characters"),
        Kind::Integer { lower, upper } => format!("an integer from {lower} to {upper}"),
        Kind::Boolean => "true or false".into(),
    };
    Err(format!("BIOS attribute {name}: {value} is not {wanted}"))
}

/// Current and pending BIOS values.
#[derive(Clone, Debug, PartialEq)]
pub struct Bios {
    pub current: BTreeMap<&'static str, Value>,
    pub pending: BTreeMap<&'static str, Value>,
}

impl Default for Bios {
    fn default() -> Self {
        Self {
            current: ATTRIBUTES
                .iter()
                .map(|a| (a.name, a.default.value()))
                .collect(),
            pending: BTreeMap::new(),
        }
    }
}

impl Bios {
    /// Stages `attributes` for the next boot; nothing is staged if any value is refused.
    pub fn stage(&mut self, attributes: &serde_json::Map<String, Value>) -> Result<(), String> {
        let checked = attributes
            .iter()
            .map(|(k, v)| check(k, v).map(|name| (name, v.clone())))
            .collect::<Result<Vec<_>, _>>()?;
        self.pending.extend(checked);
        Ok(())
    }

    /// Stages every default (`Bios.ResetBios`).
    pub fn stage_defaults(&mut self) {
        self.pending = Self::default().current;
    }

    /// The pending values take effect (the server is booting).
    pub fn apply(&mut self) {
        let pending = std::mem::take(&mut self.pending);
        self.current.extend(pending);
    }

    /// The current value of `name`.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.current.get(name)
    }
}

/// The attribute registry document (`#AttributeRegistry`).
pub fn registry() -> Value {
    let attributes: Vec<Value> = ATTRIBUTES
        .iter()
        .map(|a| {
            let mut entry = json!({
                "AttributeName": a.name,
                "DisplayName": a.display,
                "ReadOnly": a.read_only,
                "ResetRequired": true,
                "DefaultValue": a.default.value(),
            });
            let extra = match a.kind {
                Kind::Enumeration(allowed) => json!({
                    "Type": "Enumeration",
                    "Value": allowed.iter().map(|v| json!({"ValueName": v, "ValueDisplayName": v})).collect::<Vec<_>>(),
                }),
                Kind::String { max_length } => json!({"Type": "String", "MaxLength": max_length, "MinLength": 0}),
                Kind::Integer { lower, upper } => json!({"Type": "Integer", "LowerBound": lower, "UpperBound": upper}),
                Kind::Boolean => json!({"Type": "Boolean"}),
            };
            if let (Some(e), Some(x)) = (entry.as_object_mut(), extra.as_object()) {
                e.extend(x.clone());
            }
            entry
        })
        .collect();
    json!({
        "@odata.type": "#AttributeRegistry.v1_3_0.AttributeRegistry",
        "Id": REGISTRY,
        "Name": "BIOS Attribute Registry",
        "Language": "en",
        "RegistryVersion": "1.0.0",
        "OwningEntity": "Metal3 simulator",
        "SupportedSystems": [{"ProductName": "Simulated Server", "SystemId": "SIM"}],
        "RegistryEntries": {"Attributes": attributes},
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, Value)]) -> serde_json::Map<String, Value> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    }

    #[test]
    fn staged_values_wait_for_the_next_boot() {
        let mut bios = Bios::default();
        bios.stage(&map(&[
            ("ProcVirtualization", json!("Disabled")),
            ("PxeRetryCount", json!(3)),
        ]))
        .expect("stage");
        assert_eq!(bios.get("ProcVirtualization"), Some(&json!("Enabled")));
        bios.apply();
        assert_eq!(bios.get("ProcVirtualization"), Some(&json!("Disabled")));
        assert_eq!(bios.get("PxeRetryCount"), Some(&json!(3)));
        assert!(bios.pending.is_empty());
        bios.stage_defaults();
        bios.apply();
        assert_eq!(bios, Bios::default());
    }

    #[test]
    fn refused_values_name_the_attribute_and_stage_nothing() {
        let mut bios = Bios::default();
        let cases = [
            (("Turbo", json!("On")), "unknown BIOS attribute \"Turbo\""),
            (("SystemSerial", json!("X")), "read-only"),
            (
                ("ProcTurboMode", json!("Maybe")),
                "one of Enabled, Disabled",
            ),
            (("PxeRetryCount", json!(11)), "an integer from 0 to 10"),
            (("PxeRetryCount", json!("3")), "an integer"),
            (("SecureBootEnable", json!("yes")), "true or false"),
            (("AssetTag", json!("x".repeat(65))), "at most 64"),
        ];
        for ((name, value), expected) in cases {
            let err = bios
                .stage(&map(&[("AssetTag", json!("ok")), (name, value)]))
                .expect_err(name);
            assert!(err.contains(expected), "{name}: {err}");
            assert!(err.contains(name), "{err}");
        }
        assert!(bios.pending.is_empty(), "all or nothing");
    }

    #[test]
    fn the_registry_describes_every_attribute() {
        let r = registry();
        let entries = r["RegistryEntries"]["Attributes"]
            .as_array()
            .expect("attributes");
        assert_eq!(entries.len(), ATTRIBUTES.len());
        let pxe = entries
            .iter()
            .find(|e| e["AttributeName"] == "PxeRetryCount")
            .expect("pxe");
        assert_eq!(pxe["Type"], "Integer");
        assert_eq!(pxe["UpperBound"], 10);
        let mode = entries
            .iter()
            .find(|e| e["AttributeName"] == "BootMode")
            .expect("mode");
        assert_eq!(mode["Value"][1]["ValueName"], "Bios");
        // Defaults are valid values, except for read-only ones which cannot be set.
        for a in ATTRIBUTES.iter().filter(|a| !a.read_only) {
            check(a.name, &a.default.value()).expect(a.name);
        }
    }
}
