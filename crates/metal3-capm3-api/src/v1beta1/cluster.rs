//! Metal3Cluster and Metal3ClusterTemplate (v1beta1).

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{ApiEndpoint, FailureDomainSpec, V1Beta2Status};
use crate::common::V1Beta1Condition;
use crate::schema::no_default;

/// Desired state of the bare metal infrastructure of one cluster (v1beta1 form).
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "infrastructure.cluster.x-k8s.io",
    version = "v1beta1",
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
        name = "Ready",
        type_ = "string",
        json_path = ".status.ready",
        description = "Whether the cluster infrastructure is ready"
    ),
    printcolumn(
        name = "Error",
        type_ = "string",
        json_path = ".status.failureReason",
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
    doc = "The bare metal infrastructure of a Cluster API cluster (v1beta1 form, deprecated)."
)]
#[serde(rename_all = "camelCase")]
pub struct Metal3ClusterSpec {
    /// Address of the cluster's API server (always written, empty when unknown).
    #[serde(default)]
    #[schemars(transform = no_default)]
    pub control_plane_endpoint: ApiEndpoint,
    /// Deprecated inverse of `cloudProviderEnabled`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub no_cloud_provider: Option<bool>,
    /// Whether the workload cluster runs a cloud provider that sets Node provider IDs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloud_provider_enabled: Option<bool>,
    /// The cluster's failure domains, by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub failure_domains: BTreeMap<String, FailureDomainSpec>,
}

/// What the controller observed of a Metal3Cluster (v1beta1 form).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Metal3ClusterStatus {
    /// When the status was last written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_updated: Option<Time>,
    /// Machine-readable token of a terminal error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_reason: Option<String>,
    /// Human-readable description of a terminal error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_message: Option<String>,
    /// Whether the infrastructure is ready (v1beta1 contract).
    #[serde(default)]
    #[schemars(transform = no_default)]
    pub ready: bool,
    /// Cluster API v1beta1 conditions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<V1Beta1Condition>,
    /// The v1beta2 conditions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub v1beta2: Option<V1Beta2Status>,
    /// The failure domains of the spec, by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub failure_domains: BTreeMap<String, FailureDomainSpec>,
}

/// A template of Metal3Clusters (v1beta1 form).
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "infrastructure.cluster.x-k8s.io",
    version = "v1beta1",
    kind = "Metal3ClusterTemplate",
    namespaced,
    derive = "PartialEq",
    derive = "Default",
    category = "cluster-api",
    shortname = "m3ct",
    doc = "A template of Metal3Clusters (v1beta1 form, deprecated)."
)]
pub struct Metal3ClusterTemplateSpec {
    /// The Metal3Cluster to create.
    pub template: Metal3ClusterTemplateResource,
}

/// The Metal3Cluster a template creates.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct Metal3ClusterTemplateResource {
    /// Spec of the created Metal3Cluster.
    pub spec: Metal3ClusterSpec,
}
