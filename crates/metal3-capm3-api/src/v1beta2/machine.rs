//! Metal3Machine and Metal3MachineTemplate (v1beta2).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::CustomResource;
use metal3_api::v1alpha1::{Condition, SecretReference};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{
    CustomDeploy, HostSelector, Image, Initialization, Metal3ObjectRef, TemplateMetadata,
};
use crate::common::{CleaningMode, MachineAddress, V1Beta1Condition};
use crate::schema::{conditions, is_default};

/// Desired state of one bare metal machine: which hosts may serve it and what to deploy.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "infrastructure.cluster.x-k8s.io",
    version = "v1beta2",
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
        name = "Provisioned",
        type_ = "string",
        json_path = ".status.initialization.provisioned",
        description = "Whether the machine's host is provisioned"
    ),
    printcolumn(
        name = "Cluster",
        type_ = "string",
        json_path = ".metadata.labels.cluster\\.x-k8s\\.io/cluster-name",
        description = "Cluster API cluster this belongs to"
    ),
    doc = "The bare metal side of a Cluster API Machine: it claims a BareMetalHost, has it \
           provisioned with the machine's image and bootstrap data, and releases it when the \
           Machine goes away."
)]
#[serde(rename_all = "camelCase")]
pub struct Metal3MachineSpec {
    /// Provider ID of the machine's Node, `metal3://<namespace>/<host>/<metal3machine>`; set by
    /// the controller once the host is provisioned.
    #[serde(
        rename = "providerID",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    #[schemars(length(min = 1, max = 512))]
    pub provider_id: String,
    /// Image written to the host. Set this or `customDeploy`.
    #[serde(default, skip_serializing_if = "is_default")]
    pub image: Image,
    /// Deploy step installing the host instead of an image.
    #[serde(default, skip_serializing_if = "is_default")]
    pub custom_deploy: CustomDeploy,
    /// Secret with the user data for the host, when the Machine has no bootstrap data Secret;
    /// its namespace, when given, must be the Metal3Machine's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_data: Option<SecretReference>,
    /// Which BareMetalHosts may be chosen; any available host in the namespace when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_selector: Option<HostSelector>,
    /// Metal3DataTemplate rendering the host's metadata and network data; its keys win over
    /// those of `metaData`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_template: Option<Metal3ObjectRef>,
    /// Secret with metadata for the host, given by the user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta_data: Option<SecretReference>,
    /// Secret with network data for the host, given by the user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_data: Option<SecretReference>,
    /// Disk cleaning of the host, copied to it; the host's own setting stays when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub automated_cleaning_mode: Option<CleaningMode>,
    /// Failure domain the machine is placed in, copied from the Machine; hosts labelled with
    /// it are preferred.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    #[schemars(length(min = 1, max = 256))]
    pub failure_domain: String,
}

/// What the controller observed of a Metal3Machine.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Metal3MachineStatus {
    /// Current conditions: `Ready`, `AssociateBareMetalHost`, `AssociateMetal3MachineMetaData`,
    /// `Metal3DataReady`, `Paused`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(transform = conditions)]
    pub conditions: Vec<Condition>,
    /// When the status was last written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_updated: Option<Time>,
    /// Addresses of the host: its NICs' IPs and its host name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(min = 1, max = 32), extend("x-kubernetes-list-type" = "atomic"))]
    pub addresses: Vec<MachineAddress>,
    /// Progress of the machine's initialisation (Cluster API contract).
    #[serde(default, skip_serializing_if = "is_default")]
    #[schemars(extend("minProperties" = 1))]
    pub initialization: Initialization,
    /// Where the machine actually is: the failure domain of its BareMetalHost (the host's
    /// `infrastructure.cluster.x-k8s.io/failure-domain` label), which Cluster API copies into
    /// the Machine's status (v1beta2 contract). Absent when the host is in none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 256))]
    pub failure_domain: Option<String>,
    /// The user data Secret given to the host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_data: Option<SecretReference>,
    /// The Metal3Data rendered for this machine.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rendered_data: Option<Metal3ObjectRef>,
    /// The metadata Secret given to the host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta_data: Option<SecretReference>,
    /// The network data Secret given to the host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_data: Option<SecretReference>,
    /// Fields kept only for v1beta1 clients.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deprecated: Option<MachineDeprecatedStatus>,
}

/// Metal3Machine status fields that exist for older clients.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct MachineDeprecatedStatus {
    /// The v1beta1 status fields.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub v1beta1: Option<MachineV1Beta1Status>,
}

/// Metal3Machine status as v1beta1 clients know it.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MachineV1Beta1Status {
    /// Cluster API v1beta1 conditions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<V1Beta1Condition>,
    /// Machine-readable token of a terminal error: `InvalidConfiguration`, `CreateError`,
    /// `UpdateError` or `DeleteError`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_reason: Option<String>,
    /// Human-readable description of a terminal error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_message: Option<String>,
}

/// A template of Metal3Machines, referenced by MachineSets, MachineDeployments and control
/// planes.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "infrastructure.cluster.x-k8s.io",
    version = "v1beta2",
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
    doc = "A template from which the Cluster API clones the Metal3Machines of a machine set \
           or control plane."
)]
#[serde(rename_all = "camelCase")]
pub struct Metal3MachineTemplateSpec {
    /// The Metal3Machine to create.
    pub template: Metal3MachineTemplateResource,
    /// Keep the hosts released during a rolling upgrade for the new machines of the same
    /// MachineDeployment or control plane.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = false))]
    pub node_reuse: Option<bool>,
}

/// The Metal3Machine a template creates.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct Metal3MachineTemplateResource {
    /// Labels and annotations of the created Metal3Machine.
    #[serde(default, skip_serializing_if = "is_default")]
    #[schemars(extend("minProperties" = 1))]
    pub metadata: TemplateMetadata,
    /// Spec of the created Metal3Machine.
    pub spec: Metal3MachineSpec,
}
