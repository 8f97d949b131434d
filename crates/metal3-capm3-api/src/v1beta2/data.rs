//! Metal3Data and Metal3DataClaim (v1beta2).

use kube::CustomResource;
use metal3_api::v1alpha1::SecretReference;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::Metal3ObjectRef;

/// One rendering of a Metal3DataTemplate for one machine.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "infrastructure.cluster.x-k8s.io",
    version = "v1beta2",
    kind = "Metal3Data",
    plural = "metal3datas",
    namespaced,
    status = "Metal3DataStatus",
    derive = "PartialEq",
    derive = "Default",
    category = "cluster-api",
    shortname = "m3d",
    shortname = "m3data",
    shortname = "m3datas",
    shortname = "metal3d",
    shortname = "metal3data",
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp",
        description = "Time since the data was rendered"
    ),
    doc = "The metadata and network data rendered from a Metal3DataTemplate for one claim, \
           named `<template>-<index>`; the rendered Secrets are owned by it."
)]
#[serde(rename_all = "camelCase")]
pub struct Metal3DataSpec {
    /// Index of this rendering in its template. Cannot be changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub index: Option<i32>,
    /// The rendered metadata Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta_data: Option<SecretReference>,
    /// The rendered network data Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_data: Option<SecretReference>,
    /// The Metal3DataClaim this was rendered for. Cannot be changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claim: Option<Metal3ObjectRef>,
    /// The Metal3DataTemplate this was rendered from. Cannot be changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<Metal3ObjectRef>,
}

/// Whether the rendering succeeded.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Metal3DataStatus {
    /// True once both Secrets exist.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready: Option<bool>,
    /// Why rendering failed.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    #[schemars(length(min = 1, max = 512))]
    pub error_message: String,
}

/// A machine's request for a rendering of a Metal3DataTemplate.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "infrastructure.cluster.x-k8s.io",
    version = "v1beta2",
    kind = "Metal3DataClaim",
    namespaced,
    status = "Metal3DataClaimStatus",
    derive = "PartialEq",
    derive = "Default",
    category = "cluster-api",
    shortname = "m3dc",
    shortname = "m3dataclaim",
    shortname = "m3dataclaims",
    shortname = "metal3dc",
    shortname = "metal3dataclaim",
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp",
        description = "Time since the claim was made"
    ),
    doc = "A Metal3Machine's claim on a Metal3DataTemplate: the template controller answers \
           it with a Metal3Data of its own index."
)]
pub struct Metal3DataClaimSpec {
    /// The template to render; its namespace, when given, must be the claim's. Cannot be
    /// changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<Metal3ObjectRef>,
}

/// The answer to a claim.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Metal3DataClaimStatus {
    /// The Metal3Data rendered for the claim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rendered_data: Option<Metal3ObjectRef>,
    /// Why the claim could not be answered.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    #[schemars(length(min = 1, max = 512))]
    pub error_message: String,
}
