//! Metal3Cluster and Metal3ClusterTemplate (v1beta2).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::CustomResource;
use metal3_api::v1alpha1::Condition;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{ApiEndpoint, FailureDomain, Initialization, TemplateMetadata};
use crate::common::V1Beta1Condition;
use crate::schema::{conditions, is_default};

/// Desired state of the bare metal infrastructure of one Cluster API cluster.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "infrastructure.cluster.x-k8s.io",
    version = "v1beta2",
    kind = "Metal3Cluster",
    namespaced,
    status = "Metal3ClusterStatus",
    derive = "PartialEq",
    derive = "Default",
    category = "cluster-api",
    shortname = "m3c",
    shortname = "m3cluster",
    shortname = "m3clusters",
    shortname = "metal3c",
    shortname = "metal3cluster",
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp",
        description = "Time since the Metal3Cluster was created"
    ),
    printcolumn(
        name = "Provisioned",
        type_ = "string",
        json_path = ".status.initialization.provisioned",
        description = "Whether the cluster infrastructure is provisioned"
    ),
    printcolumn(
        name = "Error",
        type_ = "string",
        json_path = ".status.deprecated.v1beta1.failureReason",
        description = "Last terminal error"
    ),
    printcolumn(
        name = "Cluster",
        type_ = "string",
        json_path = ".metadata.labels.cluster\\.x-k8s\\.io/cluster-name",
        description = "Cluster API cluster this belongs to"
    ),
    printcolumn(
        name = "Endpoint",
        type_ = "string",
        json_path = ".spec.controlPlaneEndpoint",
        description = "Where the cluster's API server is reached"
    ),
    doc = "The bare metal infrastructure of a Cluster API cluster: its control-plane endpoint \
           and failure domains. Its hosts are claimed by the cluster's Metal3Machines."
)]
#[serde(rename_all = "camelCase")]
pub struct Metal3ClusterSpec {
    /// Address of the cluster's API server, copied to the Cluster once provisioned.
    #[serde(default, skip_serializing_if = "is_default")]
    #[schemars(extend("minProperties" = 1))]
    pub control_plane_endpoint: ApiEndpoint,
    /// Whether the workload cluster runs a cloud provider that sets Node provider IDs; when
    /// false, provider IDs are set from Node labels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloud_provider_enabled: Option<bool>,
    /// The cluster's failure domains, mirrored into the status.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(
        length(min = 1, max = 100),
        extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["name"])
    )]
    pub failure_domains: Vec<FailureDomain>,
}

/// What the controller observed of a Metal3Cluster.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Metal3ClusterStatus {
    /// Current conditions: `Ready`, `BaremetalInfrastructureReady`, `Paused`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(transform = conditions)]
    pub conditions: Vec<Condition>,
    /// When the status was last written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_updated: Option<Time>,
    /// Progress of the infrastructure's initialisation (Cluster API contract).
    #[serde(default, skip_serializing_if = "is_default")]
    #[schemars(extend("minProperties" = 1))]
    pub initialization: Initialization,
    /// Fields kept only for v1beta1 clients.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deprecated: Option<ClusterDeprecatedStatus>,
    /// The failure domains of the spec, as the Cluster API reads them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(
        length(min = 1, max = 100),
        extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["name"])
    )]
    pub failure_domains: Vec<FailureDomain>,
}

/// Metal3Cluster status fields that exist for older clients.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct ClusterDeprecatedStatus {
    /// The v1beta1 status fields.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub v1beta1: Option<ClusterV1Beta1Status>,
}

/// Metal3Cluster status as v1beta1 clients know it.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterV1Beta1Status {
    /// Cluster API v1beta1 conditions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<V1Beta1Condition>,
    /// Machine-readable token of a terminal error, e.g. `InvalidConfiguration`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_reason: Option<String>,
    /// Human-readable description of a terminal error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 0, max = 1024))]
    pub failure_message: Option<String>,
}

/// A template of Metal3Clusters, for ClusterClass.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "infrastructure.cluster.x-k8s.io",
    version = "v1beta2",
    kind = "Metal3ClusterTemplate",
    namespaced,
    derive = "PartialEq",
    derive = "Default",
    category = "cluster-api",
    shortname = "m3ct",
    doc = "A template from which ClusterClass-based clusters get their Metal3Cluster."
)]
pub struct Metal3ClusterTemplateSpec {
    /// The Metal3Cluster to create.
    pub template: Metal3ClusterTemplateResource,
}

/// The Metal3Cluster a template creates.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct Metal3ClusterTemplateResource {
    /// Labels and annotations of the created Metal3Cluster.
    #[serde(default, skip_serializing_if = "is_default")]
    #[schemars(extend("minProperties" = 1))]
    pub metadata: TemplateMetadata,
    /// Spec of the created Metal3Cluster.
    pub spec: Metal3ClusterSpec,
}
