//! Types several v1beta1 kinds embed.

use std::collections::BTreeMap;

use metal3_api::v1alpha1::Condition;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::common::{ChecksumType, DiskFormat};
use crate::schema::{conditions, plain_integer};

/// Where the cluster's API server is reached.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct ApiEndpoint {
    /// Host name or IP address.
    pub host: String,
    /// TCP port.
    #[schemars(transform = plain_integer)]
    pub port: i64,
}

/// Label criteria a BareMetalHost must meet to be chosen for a machine.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HostSelector {
    /// Labels the host must carry with exactly these values.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub match_labels: BTreeMap<String, String>,
    /// Further requirements on the host's labels; all must hold.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub match_expressions: Vec<HostSelectorRequirement>,
}

/// One requirement on a label: `key operator values`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct HostSelectorRequirement {
    /// Label key.
    pub key: String,
    /// How the label is compared (`in`, `notin`, `exists`, `=`, `!=`, `gt`, `lt`, any case).
    pub operator: String,
    /// Values compared with.
    pub values: Vec<String>,
}

/// An image to write to the host.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Image {
    /// Where the image is downloaded from.
    pub url: String,
    /// The image checksum, or a URL of a checksum file.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub checksum: String,
    /// Algorithm of `checksum`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum_type: Option<ChecksumType>,
    /// Format of the image (`diskFormat` in v1beta2).
    #[serde(rename = "format", default, skip_serializing_if = "Option::is_none")]
    pub disk_format: Option<DiskFormat>,
}

/// A deploy step installing the host instead of an image.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct CustomDeploy {
    /// Name of the deploy step.
    pub method: String,
}

/// A failure domain (Cluster API v1beta1 form, keyed by name in a map).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FailureDomainSpec {
    /// Whether control-plane machines may be placed in it.
    #[serde(default, skip_serializing_if = "crate::schema::is_false")]
    pub control_plane: bool,
    /// Free-form properties of the failure domain.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: BTreeMap<String, String>,
}

/// The v1beta2 conditions, carried for clients of the v1beta1 version.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct V1Beta2Status {
    /// Kubernetes-style conditions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(transform = conditions)]
    pub conditions: Vec<Condition>,
}
