//! DataImage: an extra image attached to a provisioned host as virtual media.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::plain_integer;

/// An image to attach to the host with the same name as a virtual CD.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "metal3.io",
    version = "v1alpha1",
    kind = "DataImage",
    derive = "PartialEq",
    plural = "dataimages",
    singular = "dataimage",
    namespaced,
    status = "DataImageStatus",
    doc = "An image attached as virtual media to the BareMetalHost with the same name."
)]
pub struct DataImageSpec {
    /// Where to download the image.
    pub url: String,
}

/// Attachment state of a DataImage.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DataImageStatus {
    /// The image attached now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attached_image: Option<AttachedImageReference>,
    /// Errors while attaching or detaching.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<DataImageError>,
    /// When the image was last reconciled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_reconciled: Option<Time>,
}

/// An attached image.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct AttachedImageReference {
    /// URL of the attached image.
    pub url: String,
}

/// Errors while attaching or detaching an image.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct DataImageError {
    /// Failures in a row.
    #[schemars(transform = plain_integer)]
    pub count: i64,
    /// The last failure.
    pub message: String,
}
