//! What the three kinds share: address and subnet strings, and references to other objects.

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::schema::{atomic, ip_pattern, subnet_pattern};

/// An IPv4 address (dotted decimal) or IPv6 address (hexadecimal groups).
#[derive(
    Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, JsonSchema,
)]
#[serde(transparent)]
#[schemars(transform = ip_pattern)]
pub struct IpAddressStr(pub String);

impl IpAddressStr {
    /// The address, or `None` when the text is not one (the schema checks only the syntax).
    pub fn parse(&self) -> Option<std::net::IpAddr> {
        self.0.parse().ok()
    }

    /// The text as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for IpAddressStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for IpAddressStr {
    fn from(s: &str) -> Self {
        Self(s.to_string())
    }
}

impl From<String> for IpAddressStr {
    fn from(s: String) -> Self {
        Self(s)
    }
}

impl From<std::net::IpAddr> for IpAddressStr {
    fn from(ip: std::net::IpAddr) -> Self {
        Self(ip.to_string())
    }
}

/// A subnet in CIDR notation (`192.168.0.0/24`, `2001:db8::/64`).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, Hash, JsonSchema)]
#[serde(transparent)]
#[schemars(transform = subnet_pattern)]
pub struct IpSubnetStr(pub String);

impl IpSubnetStr {
    /// The text as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for IpSubnetStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for IpSubnetStr {
    fn from(s: &str) -> Self {
        Self(s.to_string())
    }
}

/// A reference to another object (the shape of Kubernetes' `ObjectReference`); the IP address
/// manager uses `name` and `namespace`, and keeps the other fields as given.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, Hash, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = atomic)]
pub struct ObjectReference {
    /// `apiVersion` of the object referred to.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub api_version: String,
    /// Kind of the object referred to.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    /// Name of the object referred to.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Namespace of the object referred to; the referring object's when empty.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    /// UID of the object referred to.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub uid: String,
    /// The object's resourceVersion the reference was made at, if it matters.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub resource_version: String,
    /// A part of the object rather than all of it, as a field path (`spec.containers[2]`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub field_path: String,
}

impl ObjectReference {
    /// A reference by name and namespace only.
    pub fn named(name: &str, namespace: &str) -> Self {
        Self {
            name: name.into(),
            namespace: namespace.into(),
            ..Self::default()
        }
    }
}
