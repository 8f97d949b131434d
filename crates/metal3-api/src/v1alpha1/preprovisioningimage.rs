//! PreprovisioningImage: the deploy ramdisk image a host boots for inspection and provisioning.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{Condition, conditions_list_map};

/// The ramdisk image wanted for a host.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "metal3.io",
    version = "v1alpha1",
    kind = "PreprovisioningImage",
    plural = "preprovisioningimages",
    singular = "preprovisioningimage",
    namespaced,
    status = "PreprovisioningImageStatus",
    shortname = "ppimg",
    doc = "The deploy ramdisk image for the BareMetalHost with the same name.",
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type=='Ready')].status",
        description = "Whether the image can be used"
    ),
    printcolumn(
        name = "Reason",
        type_ = "string",
        json_path = ".status.conditions[?(@.type=='Ready')].reason",
        description = "Why the image is or is not ready"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct PreprovisioningImageSpec {
    /// Image formats the provisioner can boot, in order of preference.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub accept_formats: Vec<ImageFormatKind>,
    /// CPU architecture the image must be built for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub architecture: Option<String>,
    /// Secret with the network configuration to embed in the image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_data_name: Option<String>,
}

/// Format of a ramdisk image.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
pub enum ImageFormatKind {
    // A bootable ISO (virtual media).
    #[serde(rename = "iso")]
    Iso,
    // A kernel and initramfs (PXE/iPXE).
    #[serde(rename = "initrd")]
    Initrd,
}

/// The image built or chosen.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PreprovisioningImageStatus {
    /// Architecture of the image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub architecture: Option<String>,
    /// Ready and Error.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(transform = conditions_list_map)]
    pub conditions: Vec<Condition>,
    /// Kernel command-line arguments the image needs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra_kernel_params: Option<String>,
    /// Format of the image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<ImageFormatKind>,
    /// Where to download the image (the ISO or the initramfs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_url: Option<String>,
    /// Where to download the kernel, for `initrd` images.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel_url: Option<String>,
    /// The network data embedded in the image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_data: Option<SecretStatus>,
}

/// A Secret and the version of it that was used.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct SecretStatus {
    /// Name of the Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `metadata.resourceVersion` of the Secret when used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}
