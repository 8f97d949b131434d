//! Metal3Remediation and Metal3RemediationTemplate (v1beta2).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::common::{RemediationPhase, RemediationType};
use crate::schema::is_default;

/// How an unhealthy machine's host is to be remediated.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "infrastructure.cluster.x-k8s.io",
    version = "v1beta2",
    kind = "Metal3Remediation",
    namespaced,
    status = "Metal3RemediationStatus",
    derive = "PartialEq",
    derive = "Default",
    category = "cluster-api",
    shortname = "m3r",
    shortname = "m3remediation",
    printcolumn(
        name = "Retry limit",
        type_ = "string",
        json_path = ".spec.strategy.retryLimit",
        description = "Attempts allowed before the machine is given up"
    ),
    printcolumn(
        name = "Retry count",
        type_ = "string",
        json_path = ".status.retryCount",
        description = "Attempts made so far"
    ),
    printcolumn(
        name = "Last Remediated",
        type_ = "string",
        json_path = ".status.lastRemediated",
        description = "When the last attempt started"
    ),
    printcolumn(
        name = "Strategy",
        type_ = "string",
        json_path = ".spec.strategy.type",
        description = "How the host is remediated"
    ),
    printcolumn(
        name = "Phase",
        type_ = "string",
        json_path = ".status.phase",
        description = "Where the remediation is"
    ),
    doc = "Remediation of the host of one unhealthy Machine, created by a \
           MachineHealthCheck from a Metal3RemediationTemplate and owned by the Machine."
)]
pub struct Metal3RemediationSpec {
    /// How to remediate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strategy: Option<RemediationStrategy>,
}

/// A remediation strategy.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RemediationStrategy {
    /// What to do; only `Reboot` exists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub r#type: Option<RemediationType>,
    /// Attempts before the machine is given up and deleted.
    #[serde(default, skip_serializing_if = "is_default")]
    #[schemars(range(min = 1), extend("default" = 1))]
    pub retry_limit: i32,
    /// Seconds an attempt may take before the next one starts.
    #[serde(default, skip_serializing_if = "is_default")]
    #[schemars(range(min = 100), extend("default" = 600))]
    pub timeout_seconds: i32,
}

/// Progress of a remediation.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Metal3RemediationStatus {
    /// Current phase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<RemediationPhase>,
    /// Attempts beyond the first made so far.
    #[serde(default, skip_serializing_if = "is_default")]
    #[schemars(range(min = 1))]
    pub retry_count: i32,
    /// When the last attempt started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_remediated: Option<Time>,
}

/// A template of Metal3Remediations, referenced by a MachineHealthCheck.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "infrastructure.cluster.x-k8s.io",
    version = "v1beta2",
    kind = "Metal3RemediationTemplate",
    namespaced,
    status = "Metal3RemediationTemplateStatus",
    derive = "PartialEq",
    derive = "Default",
    category = "cluster-api",
    shortname = "m3rt",
    shortname = "m3remediationtemplate",
    shortname = "m3remediationtemplates",
    shortname = "metal3rt",
    shortname = "metal3remediationtemplate",
    doc = "The Metal3Remediation a MachineHealthCheck creates for an unhealthy Machine."
)]
pub struct Metal3RemediationTemplateSpec {
    /// The Metal3Remediation to create.
    pub template: Metal3RemediationTemplateResource,
}

/// The Metal3Remediation a template creates.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct Metal3RemediationTemplateResource {
    /// Spec of the created Metal3Remediation.
    pub spec: Metal3RemediationSpec,
}

/// Status of a remediation template.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct Metal3RemediationTemplateStatus {
    /// Status of a remediation made from the template.
    #[serde(default, skip_serializing_if = "is_default")]
    pub status: Metal3RemediationStatus,
}
