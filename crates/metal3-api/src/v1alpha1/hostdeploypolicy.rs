//! HostDeployPolicy: which namespaces' HostClaims may be bound to the BareMetalHosts of the
//! policy's own namespace.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Admits HostClaims of some namespaces to the hosts of this policy's namespace.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "metal3.io",
    version = "v1alpha1",
    kind = "HostDeployPolicy",
    plural = "hostdeploypolicies",
    singular = "hostdeploypolicy",
    namespaced,
    status = "HostDeployPolicyStatus",
    doc = "Lets HostClaims of the namespaces it admits bind the hosts of its own namespace."
)]
#[serde(rename_all = "camelCase")]
pub struct HostDeployPolicySpec {
    /// The claim namespaces admitted; a policy without it admits none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_claim_namespaces: Option<HostClaimNamespaces>,
}

/// Conditions a claim's namespace must all meet (an unset condition holds).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HostClaimNamespaces {
    /// The namespace is one of these names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub names: Option<Vec<String>>,
    /// A regular expression found somewhere in the namespace's name (anchor it with `^…$` to
    /// match the whole name).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name_matches: String,
    /// Labels the namespace carries (with the value, when one is given).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub has_labels: Vec<NameValuePair>,
}

/// A label, and optionally the value it must have.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct NameValuePair {
    /// Label key.
    pub name: String,
    /// Required value; any value when empty.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub value: String,
}

/// Observed state of a HostDeployPolicy (none).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct HostDeployPolicyStatus {}
