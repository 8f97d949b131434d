//! The parts of Cluster API's own objects (`cluster.x-k8s.io/v1beta2`) that CAPM3 reads: what
//! the core controllers write and the provider contract relies on. Read-only views: fields not
//! listed here are dropped on reading, so these types are never written back whole.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::CustomResource;
use metal3_api::v1alpha1::Condition;
use metal3_capm3_api::common::V1Beta1Condition;
use serde::{Deserialize, Serialize};

/// API group of Cluster API's core kinds.
pub const GROUP: &str = "cluster.x-k8s.io";
/// API group of control-plane providers.
pub const CONTROL_PLANE_GROUP: &str = "controlplane.cluster.x-k8s.io";

/// A reference to an object in the same namespace, by group, kind and name.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase", default)]
pub struct ContractRef {
    /// API group.
    pub api_group: String,
    /// Kind.
    pub kind: String,
    /// Name.
    pub name: String,
}

/// Cluster API endpoint.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(default)]
pub struct Endpoint {
    /// Host.
    pub host: String,
    /// Port.
    pub port: i32,
}

/// What CAPM3 reads of a Cluster's spec.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[kube(
    group = "cluster.x-k8s.io",
    version = "v1beta2",
    kind = "Cluster",
    namespaced,
    status = "ClusterStatus",
    schema = "disabled"
)]
#[serde(rename_all = "camelCase", default)]
pub struct ClusterSpec {
    /// Whether reconciliation of the cluster is paused.
    pub paused: Option<bool>,
    /// The infrastructure cluster (a Metal3Cluster).
    pub infrastructure_ref: Option<ContractRef>,
    /// The control plane.
    pub control_plane_ref: Option<ContractRef>,
    /// The API endpoint.
    pub control_plane_endpoint: Option<Endpoint>,
}

/// What CAPM3 reads of a Cluster's status.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct ClusterStatus {
    /// Initialisation progress.
    pub initialization: ClusterInitialization,
    /// Kubernetes-style conditions.
    pub conditions: Vec<Condition>,
    /// Older conditions.
    pub deprecated: Option<Deprecated>,
}

/// A Cluster's initialisation progress.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase", default)]
pub struct ClusterInitialization {
    /// The infrastructure (Metal3Cluster) is provisioned.
    pub infrastructure_provisioned: Option<bool>,
    /// The control plane is initialised.
    pub control_plane_initialized: Option<bool>,
}

/// Status fields kept for v1beta1.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(default)]
pub struct Deprecated {
    /// The v1beta1 part.
    pub v1beta1: Option<DeprecatedV1Beta1>,
}

/// v1beta1 status fields.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(default)]
pub struct DeprecatedV1Beta1 {
    /// Cluster API v1beta1 conditions.
    pub conditions: Vec<V1Beta1Condition>,
}

fn v1beta1_true(deprecated: Option<&Deprecated>, kind: &str) -> bool {
    deprecated
        .and_then(|d| d.v1beta1.as_ref())
        .is_some_and(|v| {
            v.conditions
                .iter()
                .any(|c| c.r#type == kind && c.status == "True")
        })
}

impl Cluster {
    /// Whether the Cluster is paused (`spec.paused`).
    pub fn paused(&self) -> bool {
        self.spec.paused == Some(true)
    }

    /// Whether the Cluster's infrastructure is provisioned: the v1beta2 initialisation flag,
    /// or the v1beta1 `InfrastructureReady` condition (what CAPM3 checks).
    pub fn infrastructure_ready(&self) -> bool {
        let status = self.status.clone().unwrap_or_default();
        status.initialization.infrastructure_provisioned == Some(true)
            || v1beta1_true(status.deprecated.as_ref(), "InfrastructureReady")
    }
}

/// What CAPM3 reads of a Machine's spec.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[kube(
    group = "cluster.x-k8s.io",
    version = "v1beta2",
    kind = "Machine",
    namespaced,
    status = "MachineStatus",
    schema = "disabled"
)]
#[serde(rename_all = "camelCase", default)]
pub struct MachineSpec {
    /// The Cluster the Machine belongs to.
    pub cluster_name: String,
    /// Bootstrap configuration.
    pub bootstrap: Bootstrap,
    /// The infrastructure machine (a Metal3Machine).
    pub infrastructure_ref: ContractRef,
    /// Provider ID, copied from the infrastructure machine.
    #[serde(rename = "providerID")]
    pub provider_id: Option<String>,
    /// Failure domain to place the machine in.
    pub failure_domain: Option<String>,
}

/// A Machine's bootstrap configuration.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase", default)]
pub struct Bootstrap {
    /// The bootstrap config object (e.g. a KubeadmConfig).
    pub config_ref: Option<ContractRef>,
    /// Name of the Secret with the bootstrap data (`value`, `format`).
    pub data_secret_name: Option<String>,
}

/// What CAPM3 reads of a Machine's status.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct MachineStatus {
    /// The workload Node.
    pub node_ref: Option<NodeRef>,
    /// Kubernetes-style conditions (what Cluster API v1beta2 controllers read).
    pub conditions: Vec<Condition>,
    /// Older conditions.
    pub deprecated: Option<Deprecated>,
}

/// A reference to a workload Node.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(default)]
pub struct NodeRef {
    /// Node name.
    pub name: String,
}

impl Machine {
    /// Whether the Machine's bootstrap data can be used: a data Secret, or (with a bootstrap
    /// config) the v1beta1 `BootstrapReady` condition.
    pub fn bootstrap_ready(&self) -> bool {
        if self
            .spec
            .bootstrap
            .config_ref
            .as_ref()
            .is_some_and(|r| !r.name.is_empty())
        {
            let status = self.status.clone().unwrap_or_default();
            return v1beta1_true(status.deprecated.as_ref(), "BootstrapReady")
                || self.spec.bootstrap.data_secret_name.is_some();
        }
        self.spec.bootstrap.data_secret_name.is_some()
    }

    /// Whether this is a control-plane Machine.
    pub fn is_control_plane(&self) -> bool {
        self.metadata
            .labels
            .as_ref()
            .is_some_and(|l| l.contains_key(metal3_capm3_api::consts::CONTROL_PLANE_LABEL))
    }

    /// The Node name, once the Machine has one.
    pub fn node_name(&self) -> Option<String> {
        self.status
            .as_ref()
            .and_then(|s| s.node_ref.as_ref())
            .map(|n| n.name.clone())
            .filter(|n| !n.is_empty())
    }
}

/// What CAPM3 reads of a MachineSet's spec.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[kube(
    group = "cluster.x-k8s.io",
    version = "v1beta2",
    kind = "MachineSet",
    namespaced,
    schema = "disabled"
)]
#[serde(default)]
pub struct MachineSetSpec {
    /// The Machine template.
    pub template: MachineTemplateSpec,
}

/// A Machine template of a MachineSet.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(default)]
pub struct MachineTemplateSpec {
    /// Spec of the Machines.
    pub spec: MachineTemplateMachineSpec,
}

/// The parts of a Machine template's spec CAPM3 reads.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct MachineTemplateMachineSpec {
    /// The infrastructure template (a Metal3MachineTemplate).
    pub infrastructure_ref: ContractRef,
}

/// A MachineDeployment: CAPM3 only needs its name (the node-reuse label) and identity.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[kube(
    group = "cluster.x-k8s.io",
    version = "v1beta2",
    kind = "MachineDeployment",
    namespaced,
    schema = "disabled"
)]
#[serde(rename_all = "camelCase", default)]
pub struct MachineDeploymentSpec {
    /// The Cluster it belongs to.
    pub cluster_name: String,
}

/// The owner of `kind` in `group` among `owners`.
pub fn owner<'a>(
    owners: &'a [OwnerReference],
    group: &str,
    kind: Option<&str>,
) -> Option<&'a OwnerReference> {
    owners.iter().find(|o| {
        o.api_version.split_once('/').map_or("", |(g, _)| g) == group
            && kind.is_none_or(|k| o.kind == k)
    })
}

/// Labels of an object, or an empty map.
pub fn labels(meta: &kube::api::ObjectMeta) -> BTreeMap<String, String> {
    meta.labels.clone().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn readiness_from_either_contract() {
        let c: Cluster = serde_json::from_value(
            json!({"apiVersion": "cluster.x-k8s.io/v1beta2", "kind": "Cluster",
            "metadata": {"name": "c"}, "spec": {"paused": true},
            "status": {"initialization": {"infrastructureProvisioned": true}}}),
        )
        .expect("cluster");
        assert!(c.paused() && c.infrastructure_ready());
        let old: Cluster = serde_json::from_value(json!({"apiVersion": "cluster.x-k8s.io/v1beta2", "kind": "Cluster",
            "metadata": {"name": "c"}, "spec": {},
            "status": {"deprecated": {"v1beta1": {"conditions": [{"type": "InfrastructureReady", "status": "True", "lastTransitionTime": "2026-01-01T00:00:00Z"}]}}}})).expect("cluster");
        assert!(!old.paused() && old.infrastructure_ready());
        let m: Machine = serde_json::from_value(json!({"apiVersion": "cluster.x-k8s.io/v1beta2", "kind": "Machine",
            "metadata": {"name": "m", "labels": {"cluster.x-k8s.io/control-plane": ""}},
            "spec": {"clusterName": "c", "bootstrap": {"dataSecretName": "s"}, "infrastructureRef": {"apiGroup": "infrastructure.cluster.x-k8s.io", "kind": "Metal3Machine", "name": "m"}},
            "status": {"nodeRef": {"name": "n"}}})).expect("machine");
        assert!(m.bootstrap_ready() && m.is_control_plane());
        assert_eq!(m.node_name().as_deref(), Some("n"));
        let waiting: Machine = serde_json::from_value(json!({"apiVersion": "cluster.x-k8s.io/v1beta2", "kind": "Machine",
            "metadata": {"name": "m"}, "spec": {"clusterName": "c", "bootstrap": {"configRef": {"apiGroup": "bootstrap.cluster.x-k8s.io", "kind": "KubeadmConfig", "name": "k"}}}})).expect("machine");
        assert!(!waiting.bootstrap_ready());
    }
}
