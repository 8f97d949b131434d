//! Metal3Machine and Metal3MachineTemplate (v1beta1).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::CustomResource;
use metal3_api::v1alpha1::{ObjectReference, SecretReference};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{CustomDeploy, HostSelector, Image, V1Beta2Status};
use crate::common::{CleaningMode, MachineAddress, V1Beta1Condition};
use crate::schema::no_default;

/// Desired state of one bare metal machine (v1beta1 form).
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "infrastructure.cluster.x-k8s.io",
    version = "v1beta1",
    kind = "Metal3Machine",
    namespaced,
    status = "Metal3MachineStatus",
    derive = "PartialEq",
    derive = "Default",
    category = "cluster-api",
    shortname = "m3m",
    shortname = "m3machine",
    shortname = "m3machines",
    shortname = "metal3m",
    shortname = "metal3machine",
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp",
        description = "Time since the Metal3Machine was created"
    ),
    printcolumn(
        name = "ProviderID",
        type_ = "string",
        json_path = ".spec.providerID",
        description = "Provider ID of the machine's Node"
    ),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.ready",
        description = "Whether the machine's host is provisioned"
    ),
    printcolumn(
        name = "Cluster",
        type_ = "string",
        json_path = ".metadata.labels.cluster\\.x-k8s\\.io/cluster-name",
        description = "Cluster API cluster this belongs to"
    ),
    printcolumn(
        name = "Phase",
        type_ = "string",
        json_path = ".status.phase",
        description = "Lifecycle phase (no longer written)"
    ),
    doc = "The bare metal side of a Cluster API Machine (v1beta1 form, deprecated)."
)]
#[serde(rename_all = "camelCase")]
pub struct Metal3MachineSpec {
    /// Provider ID of the machine's Node.
    #[serde(
        rename = "providerID",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub provider_id: Option<String>,
    /// Image written to the host (always written, empty with `customDeploy`).
    #[serde(default)]
    #[schemars(transform = no_default)]
    pub image: Image,
    /// Deploy step installing the host instead of an image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_deploy: Option<CustomDeploy>,
    /// Secret with the user data for the host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_data: Option<SecretReference>,
    /// Which BareMetalHosts may be chosen (always written).
    #[serde(default)]
    #[schemars(transform = no_default)]
    pub host_selector: HostSelector,
    /// Metal3DataTemplate rendering the host's metadata and network data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_template: Option<ObjectReference>,
    /// Secret with metadata for the host, given by the user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta_data: Option<SecretReference>,
    /// Secret with network data for the host, given by the user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_data: Option<SecretReference>,
    /// Disk cleaning of the host, copied to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub automated_cleaning_mode: Option<CleaningMode>,
    /// Failure domain the machine is placed in.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub failure_domain: String,
}

/// What the controller observed of a Metal3Machine (v1beta1 form).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Metal3MachineStatus {
    /// When the status was last written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_updated: Option<Time>,
    /// Machine-readable token of a terminal error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_reason: Option<String>,
    /// Human-readable description of a terminal error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_message: Option<String>,
    /// Addresses of the host.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub addresses: Vec<MachineAddress>,
    /// Lifecycle phase; no longer written.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub phase: String,
    /// Whether the machine's host is provisioned (v1beta1 contract).
    #[serde(default)]
    #[schemars(transform = no_default)]
    pub ready: bool,
    /// The user data Secret given to the host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_data: Option<SecretReference>,
    /// The Metal3Data rendered for this machine.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rendered_data: Option<ObjectReference>,
    /// The metadata Secret given to the host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta_data: Option<SecretReference>,
    /// The network data Secret given to the host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_data: Option<SecretReference>,
    /// Cluster API v1beta1 conditions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<V1Beta1Condition>,
    /// The v1beta2 conditions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub v1beta2: Option<V1Beta2Status>,
}

/// A template of Metal3Machines (v1beta1 form).
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "infrastructure.cluster.x-k8s.io",
    version = "v1beta1",
    kind = "Metal3MachineTemplate",
    namespaced,
    derive = "PartialEq",
    derive = "Default",
    category = "cluster-api",
    shortname = "m3mt",
    shortname = "m3machinetemplate",
    shortname = "m3machinetemplates",
    shortname = "metal3mt",
    shortname = "metal3machinetemplate",
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp",
        description = "Time since the template was created"
    ),
    doc = "A template of Metal3Machines (v1beta1 form, deprecated)."
)]
#[serde(rename_all = "camelCase")]
pub struct Metal3MachineTemplateSpec {
    /// The Metal3Machine to create.
    pub template: Metal3MachineTemplateResource,
    /// Keep released hosts for the new machines of the same owner during upgrades.
    #[serde(default)]
    #[schemars(extend("default" = false))]
    pub node_reuse: bool,
}

/// The Metal3Machine a template creates.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct Metal3MachineTemplateResource {
    /// Spec of the created Metal3Machine.
    pub spec: Metal3MachineSpec,
}
