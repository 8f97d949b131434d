//! Types several v1beta2 kinds embed.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::common::{ChecksumType, DiskFormat};
use crate::schema::is_default;

/// Where the cluster's API server is reached.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct ApiEndpoint {
    /// Host name or IP address.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    #[schemars(length(min = 1, max = 512))]
    pub host: String,
    /// TCP port.
    #[serde(default, skip_serializing_if = "is_default")]
    #[schemars(range(min = 1, max = 65535))]
    pub port: i32,
}

impl ApiEndpoint {
    /// Whether both host and port are set (what the Cluster API calls a valid endpoint).
    pub fn is_valid(&self) -> bool {
        !self.host.is_empty() && self.port != 0
    }
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
    #[schemars(
        length(min = 1, max = 512),
        extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["key"])
    )]
    pub match_expressions: Vec<HostSelectorRequirement>,
}

/// One requirement on a label: `key operator values`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct HostSelectorRequirement {
    /// Label key.
    #[schemars(length(min = 1, max = 512))]
    pub key: String,
    /// How the label is compared: `in`, `notin`, `exists`, `=`, `==`, `!=`, `gt`, `lt`
    /// (any case).
    pub operator: String,
    /// Values compared with; empty for `exists`.
    #[schemars(
        length(max = 512),
        inner(length(min = 1, max = 512)),
        extend("x-kubernetes-list-type" = "set")
    )]
    pub values: Vec<String>,
}

/// An image to write to the host.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Image {
    /// Where the image is downloaded from.
    #[schemars(length(min = 1, max = 512), extend("format" = "uri"))]
    pub url: String,
    /// The image checksum, or a URL of a checksum file. Required except for live ISOs and
    /// `oci://` images (which must not have one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 0, max = 512))]
    pub checksum: Option<String>,
    /// Algorithm of `checksum`; detected from its length when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum_type: Option<ChecksumType>,
    /// Format of the image; `live-iso` boots it without writing it to disk.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disk_format: Option<DiskFormat>,
}

impl Image {
    /// Whether the image comes from an OCI registry (`oci://`, any case).
    pub fn is_oci(&self) -> bool {
        metal3_api::v1alpha1::is_oci_url(&self.url)
    }
}

/// A deploy step of the deployment ramdisk that installs the host instead of an image.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct CustomDeploy {
    /// Name of the deploy step.
    #[schemars(length(min = 1, max = 512))]
    pub method: String,
}

/// A reference to an object by name, in the referring object's namespace unless given.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, Hash, JsonSchema)]
#[schemars(extend("x-kubernetes-map-type" = "atomic"))]
pub struct Metal3ObjectRef {
    /// Object name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// Object namespace; the referring object's when empty.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    #[schemars(length(min = 1, max = 253))]
    pub namespace: String,
}

/// A failure domain (Cluster API v1beta2 form).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FailureDomain {
    /// Name of the failure domain; hosts in it carry the label
    /// `infrastructure.cluster.x-k8s.io/failure-domain=<name>`.
    #[schemars(length(min = 1, max = 256))]
    pub name: String,
    /// Whether control-plane machines may be placed in it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub control_plane: Option<bool>,
    /// Free-form properties of the failure domain.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: BTreeMap<String, String>,
}

/// Labels and annotations given to objects created from a template.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct TemplateMetadata {
    /// Labels to set.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Annotations to set.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// How far the initialisation of the object's infrastructure has come (Cluster API contract).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct Initialization {
    /// True once the infrastructure is fully provisioned; never goes back to false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provisioned: Option<bool>,
}

impl Initialization {
    /// Whether `provisioned` is true.
    pub fn is_provisioned(&self) -> bool {
        self.provisioned == Some(true)
    }
}
