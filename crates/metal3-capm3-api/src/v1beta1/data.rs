//! Metal3Data and Metal3DataClaim (v1beta1).

use kube::CustomResource;
use metal3_api::v1alpha1::{ObjectReference, SecretReference};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::schema::{is_default, no_default, plain_integer};

/// One rendering of a Metal3DataTemplate (v1beta1 form).
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "infrastructure.cluster.x-k8s.io",
    version = "v1beta1",
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
    doc = "One rendering of a Metal3DataTemplate (v1beta1 form, deprecated)."
)]
#[serde(rename_all = "camelCase")]
pub struct Metal3DataSpec {
    /// Index of this rendering in its template.
    #[serde(default, skip_serializing_if = "is_default")]
    #[schemars(transform = plain_integer)]
    pub index: i64,
    /// Deprecated: name of the template this one replaces.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub template_reference: String,
    /// The rendered metadata Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta_data: Option<SecretReference>,
    /// The rendered network data Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_data: Option<SecretReference>,
    /// The Metal3DataClaim this was rendered for.
    pub claim: ObjectReference,
    /// The Metal3DataTemplate this was rendered from.
    pub template: ObjectReference,
}

/// Whether the rendering succeeded (v1beta1 form).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Metal3DataStatus {
    /// True once both Secrets exist (always written).
    #[serde(default)]
    #[schemars(transform = no_default)]
    pub ready: bool,
    /// Why rendering failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
}

/// A machine's request for a rendering of a Metal3DataTemplate (v1beta1 form).
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "infrastructure.cluster.x-k8s.io",
    version = "v1beta1",
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
    doc = "A claim on a Metal3DataTemplate (v1beta1 form, deprecated)."
)]
pub struct Metal3DataClaimSpec {
    /// The template to render.
    pub template: ObjectReference,
}

/// The answer to a claim (v1beta1 form).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Metal3DataClaimStatus {
    /// The Metal3Data rendered for the claim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rendered_data: Option<ObjectReference>,
    /// Why the claim could not be answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
}
