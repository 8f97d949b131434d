//! HostUpdatePolicy: whether firmware changes may be applied to a provisioned host.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// When firmware changes of the host with the same name are applied.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "metal3.io",
    version = "v1alpha1",
    kind = "HostUpdatePolicy",
    derive = "PartialEq",
    plural = "hostupdatepolicies",
    singular = "hostupdatepolicy",
    namespaced,
    status = "HostUpdatePolicyStatus",
    doc = "Opts the BareMetalHost with the same name into firmware changes while provisioned."
)]
#[serde(rename_all = "camelCase")]
pub struct HostUpdatePolicySpec {
    /// When HostFirmwareSettings changes are applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub firmware_settings: Option<UpdatePolicyMode>,
    /// When HostFirmwareComponents updates are applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub firmware_updates: Option<UpdatePolicyMode>,
}

/// When a change is applied.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
pub enum UpdatePolicyMode {
    // Only while preparing (before provisioning).
    #[serde(rename = "onPreparing")]
    OnPreparing,
    // Also on the next reboot of a provisioned host (servicing).
    #[serde(rename = "onReboot")]
    OnReboot,
}

/// Observed state of a HostUpdatePolicy (none yet).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct HostUpdatePolicyStatus {}
