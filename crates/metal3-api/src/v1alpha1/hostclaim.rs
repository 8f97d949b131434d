//! HostClaim: a tenant's request for a BareMetalHost (chosen by labels and failure domain, in
//! namespaces a HostDeployPolicy admits), carrying what to deploy on it.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::baremetalhost::{CustomDeploy, Image};
use super::common::{Condition, ObjectReference, SecretReference, is_false};

/// Finalizer the HostClaim controller puts on every claim it serves.
pub const HOSTCLAIM_FINALIZER: &str = "metal3.io/hostclaim";
/// `kind` of a host's `consumerRef` naming the HostClaim bound to it.
pub const HOSTCLAIM_KIND: &str = "HostClaim";
/// Label on a host naming its failure domain, preferred when a claim asks for one.
pub const FAILURE_DOMAIN_LABEL: &str = "infrastructure.cluster.x-k8s.io/failure-domain";

/// Condition type: whether the claim is bound to a host.
pub const ASSOCIATED_CONDITION: &str = "Associated";
/// Condition type: whether the claim's deployment fields and Secrets reached the host.
pub const SYNCHRONIZED_CONDITION: &str = "Synchronized";
/// Reason: the claim is bound to a host.
pub const HOST_ASSOCIATED_REASON: &str = "BareMetalHostAssociated";
/// Reason: the bound host no longer exists (or no longer names this claim).
pub const MISSING_HOST_REASON: &str = "MissingBareMetalHost";
/// Reason: no host fits the claim.
pub const NO_HOST_REASON: &str = "NoBareMetalHost";
/// Reason: the claim is being deleted and its host released.
pub const HOSTCLAIM_DELETING_REASON: &str = "HostClaimDeleting";
/// Reason: everything the claim asks for reached the host.
pub const CONFIGURATION_SYNCED_REASON: &str = "ConfigurationSynced";
/// Reason: the user data Secret could not be copied to the host.
pub const USER_DATA_SYNC_FAILURE_REASON: &str = "UserDataSecretSyncFailure";
/// Reason: the metadata Secret could not be copied to the host.
pub const META_DATA_SYNC_FAILURE_REASON: &str = "MetaDataSecretSyncFailure";
/// Reason: the network data Secret could not be copied to the host.
pub const NETWORK_DATA_SYNC_FAILURE_REASON: &str = "NetworkDataSecretSyncFailure";
/// Reason: the host could not be updated with the claim's fields.
pub const HOST_NOT_SYNCHRONIZED_REASON: &str = "BareMetalHostNotSynchronized";

/// A request for one BareMetalHost and what to deploy on it.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "metal3.io",
    version = "v1alpha1",
    kind = "HostClaim",
    plural = "hostclaims",
    singular = "hostclaim",
    namespaced,
    status = "HostClaimStatus",
    doc = "A tenant's claim on a BareMetalHost, possibly in another namespace."
)]
#[serde(rename_all = "camelCase")]
pub struct HostClaimSpec {
    /// Whether the claimed host should be powered on.
    pub powered_on: bool,
    /// Image written to the claimed host; setting it starts provisioning.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<Image>,
    /// Secret in the claim's namespace holding user data for the config drive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_data: Option<SecretReference>,
    /// Secret in the claim's namespace holding network data for the config drive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_data: Option<SecretReference>,
    /// Secret in the claim's namespace holding metadata for the config drive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta_data: Option<SecretReference>,
    /// Deploy with a custom ramdisk deploy step instead of `image`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_deploy: Option<CustomDeploy>,
    /// Which hosts may be chosen.
    #[serde(default, skip_serializing_if = "HostSelector::is_empty")]
    pub host_selector: HostSelector,
    /// What uses the claimed host (for example a Cluster API Machine).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consumer_ref: Option<ObjectReference>,
    /// Preferred failure domain: hosts labelled with it are chosen first.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub failure_domain: String,
}

/// Which hosts a claim may be bound to.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HostSelector {
    /// Labels a chosen host must carry with exactly these values.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub match_labels: BTreeMap<String, String>,
    /// Label requirements a chosen host must meet.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub match_expressions: Vec<HostSelectorRequirement>,
    /// Only hosts of this namespace; every namespace whose policy admits the claim otherwise.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub in_namespace: String,
}

impl HostSelector {
    /// Whether the selector sets nothing (every admitted host matches).
    pub fn is_empty(&self) -> bool {
        self.match_labels.is_empty()
            && self.match_expressions.is_empty()
            && self.in_namespace.is_empty()
    }
}

/// One label requirement of a [`HostSelector`].
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct HostSelectorRequirement {
    /// Label key.
    pub key: String,
    /// How the label is compared: `in`, `notin`, `=`, `==`, `!=`, `exists` or `!`.
    pub operator: String,
    /// Values the label is compared with.
    pub values: Vec<String>,
}

/// What the controller observed about a claim.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HostClaimStatus {
    /// When the status was last written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_updated: Option<Time>,
    /// `Associated` and `Synchronized`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// The host bound to the claim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bare_metal_host: Option<BoundObjectReference>,
    /// The bound host's HardwareData, once it has been inspected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hardware_data: Option<BoundObjectReference>,
    /// Power state last reported by the bound host.
    #[serde(default, skip_serializing_if = "is_false")]
    pub powered_on: bool,
}

/// An object bound to a claim, by namespace and name.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, Hash, JsonSchema)]
pub struct BoundObjectReference {
    /// Namespace of the object.
    pub namespace: String,
    /// Name of the object.
    pub name: String,
}

impl HostClaim {
    /// The condition of type `kind`, if reported.
    pub fn condition(&self, kind: &str) -> Option<&Condition> {
        self.status
            .as_ref()?
            .conditions
            .iter()
            .find(|c| c.r#type == kind)
    }

    /// The host bound to the claim, if any.
    pub fn bound_host(&self) -> Option<&BoundObjectReference> {
        self.status.as_ref()?.bare_metal_host.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn round_trips_a_full_claim_and_omits_zero_values() {
        let doc = json!({
            "apiVersion": "metal3.io/v1alpha1",
            "kind": "HostClaim",
            "metadata": {"name": "c", "namespace": "tenant"},
            "spec": {
                "poweredOn": true,
                "image": {"url": "http://x/os.img", "checksum": "abc", "checksumType": "sha256"},
                "userData": {"name": "ud"},
                "hostSelector": {
                    "matchLabels": {"tier": "gold"},
                    "matchExpressions": [{"key": "rack", "operator": "in", "values": ["a"]}],
                    "inNamespace": "hosts"
                },
                "failureDomain": "fd-1"
            },
            "status": {"bareMetalHost": {"namespace": "hosts", "name": "h"}, "poweredOn": true}
        });
        let claim: HostClaim = serde_json::from_value(doc.clone()).expect("decodes");
        assert_eq!(claim.spec.host_selector.in_namespace, "hosts");
        assert_eq!(claim.bound_host().map(|b| b.name.as_str()), Some("h"));
        assert_eq!(serde_json::to_value(&claim).expect("encodes"), doc);
        let bare: HostClaim = serde_json::from_value(json!({
            "apiVersion": "metal3.io/v1alpha1", "kind": "HostClaim",
            "metadata": {"name": "c"}, "spec": {"poweredOn": false}
        }))
        .expect("decodes");
        assert_eq!(
            serde_json::to_value(&bare.spec).expect("encodes"),
            json!({"poweredOn": false})
        );
    }
}
