//! HostClaim mode (`metal3 capm3 --use-hostclaims`), pure: the HostClaim a Metal3Machine asks
//! its host through (selector, failure domain, what to deploy, owner and consumer), what the
//! claim's status says about the bound host, and the providerID it leads to.

use metal3_api::v1alpha1::{
    ASSOCIATED_CONDITION, BareMetalHost, ConditionStatus, HostClaim, HostClaimSpec, HostSelector,
    HostSelectorRequirement, ObjectReference, SYNCHRONIZED_CONDITION,
};
use metal3_capm3_api::consts::CLUSTER_NAME_LABEL;
use metal3_capm3_api::v1beta2::{self, Metal3Machine};

use crate::hostspec;
use crate::provider_id::ProviderId;

/// How the provider claims hosts in HostClaim mode.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HostClaimMode {
    /// Namespace of the hosts (`--hostclaim-host-namespace`), written as the claim's
    /// `hostSelector.inNamespace`; empty lets the operator choose among every namespace whose
    /// HostDeployPolicy admits the machine's namespace.
    pub host_namespace: String,
}

/// Operators a HostClaim's selector understands (compared in lower case).
const CLAIM_OPERATORS: [&str; 7] = ["in", "notin", "=", "==", "!=", "exists", "!"];

/// The HostClaim of `m3m` (same name and namespace, owned by it): the machine's host selector
/// and failure domain, and, once the machine's user data is known, its image or custom deploy
/// and data Secrets (all in the machine's namespace), powered on. `Err` says what in the
/// machine cannot be expressed as a claim.
pub fn claim_for(
    m3m: &Metal3Machine,
    cluster: &str,
    mode: &HostClaimMode,
) -> Result<HostClaim, String> {
    let selector = m3m.spec.host_selector.clone().unwrap_or_default();
    let mut expressions = Vec::new();
    for (i, e) in selector.match_expressions.iter().enumerate() {
        let op = e.operator.to_lowercase();
        if !CLAIM_OPERATORS.contains(&op.as_str()) {
            return Err(format!(
                "spec.hostSelector.matchExpressions[{i}]: operator {:?} cannot be used with \
                 HostClaims (only in, notin, =, ==, !=, exists, !)",
                e.operator
            ));
        }
        expressions.push(HostSelectorRequirement {
            key: e.key.clone(),
            operator: op,
            values: e.values.clone(),
        });
    }
    // What the provider would write on a host, worked out on a scratch host.
    let mut scratch = BareMetalHost::new("scratch", Default::default());
    hostspec::set_spec(&mut scratch, m3m)?;
    let spec = HostClaimSpec {
        powered_on: true,
        image: scratch.spec.image,
        user_data: scratch.spec.user_data,
        network_data: scratch.spec.network_data,
        meta_data: scratch.spec.meta_data,
        custom_deploy: scratch.spec.custom_deploy,
        host_selector: HostSelector {
            match_labels: selector.match_labels,
            match_expressions: expressions,
            in_namespace: mode.host_namespace.clone(),
        },
        consumer_ref: Some(ObjectReference {
            api_version: Some(v1beta2::API_VERSION.into()),
            kind: Some("Metal3Machine".into()),
            name: m3m.metadata.name.clone(),
            namespace: m3m.metadata.namespace.clone(),
            ..Default::default()
        }),
        failure_domain: m3m.spec.failure_domain.clone(),
    };
    let name = m3m.metadata.name.clone().unwrap_or_default();
    let mut claim = HostClaim::new(&name, spec);
    claim.metadata.namespace = m3m.metadata.namespace.clone();
    claim.metadata.labels = Some([(CLUSTER_NAME_LABEL.to_string(), cluster.to_string())].into());
    claim.metadata.owner_references =
        metal3_kube::meta::owner_reference(m3m, true).map(|o| vec![o]);
    Ok(claim)
}

/// Whether `claim` is the one of `m3m` (its controller owner reference names the machine's UID).
pub fn owned_by(claim: &HostClaim, m3m: &Metal3Machine) -> bool {
    let uid = m3m.metadata.uid.as_deref().unwrap_or_default();
    claim
        .metadata
        .owner_references
        .iter()
        .flatten()
        .any(|o| o.controller == Some(true) && o.uid == uid && o.kind == "Metal3Machine")
}

/// What a claim's status says about its host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Bound {
    /// Not bound (yet); the claim's `Associated` message, if any.
    Waiting(String),
    /// Bound to `namespace`/`name`; `provisioned` once the claim is synchronised (for its
    /// current generation) and reports the host powered on.
    Host {
        /// Namespace of the host.
        namespace: String,
        /// Name of the host.
        name: String,
        /// Whether the machine may take the host as provisioned.
        provisioned: bool,
    },
}

fn condition_true(claim: &HostClaim, kind: &str, current: bool) -> bool {
    claim.condition(kind).is_some_and(|c| {
        c.status == ConditionStatus::True
            && (!current || c.observed_generation == claim.metadata.generation)
    })
}

/// Reads the claim's status. The claim reports no provisioning state, so a host counts as
/// provisioned when the claim is associated, synchronised with its current spec (which has an
/// image or custom deploy) and reports the host powered on.
pub fn bound(claim: &HostClaim) -> Bound {
    let host = claim
        .bound_host()
        .filter(|_| condition_true(claim, ASSOCIATED_CONDITION, false));
    let Some(host) = host else {
        let message = claim
            .condition(ASSOCIATED_CONDITION)
            .map(|c| c.message.clone())
            .unwrap_or_default();
        return Bound::Waiting(message);
    };
    let deploys = claim.spec.image.is_some() || claim.spec.custom_deploy.is_some();
    let provisioned = deploys
        && condition_true(claim, SYNCHRONIZED_CONDITION, true)
        && claim.status.as_ref().is_some_and(|s| s.powered_on);
    Bound::Host {
        namespace: host.namespace.clone(),
        name: host.name.clone(),
        provisioned,
    }
}

/// The providerID of machine `machine` on the host a claim is bound to:
/// `metal3://<host namespace>/<host>/<machine>`.
pub fn provider_id(host_namespace: &str, host: &str, machine: &str) -> ProviderId {
    ProviderId::new(host_namespace, host, machine)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn machine(spec: serde_json::Value, status: serde_json::Value) -> Metal3Machine {
        serde_json::from_value(json!({
            "apiVersion": "infrastructure.cluster.x-k8s.io/v1beta2", "kind": "Metal3Machine",
            "metadata": {"name": "m0", "namespace": "tenant", "uid": "u-1"},
            "spec": spec, "status": status,
        }))
        .expect("machine")
    }

    fn mode() -> HostClaimMode {
        HostClaimMode {
            host_namespace: "hosts".into(),
        }
    }

    #[test]
    fn a_machine_with_user_data_claims_with_everything_to_deploy() {
        let m = machine(
            json!({
                "image": {"url": "http://x/os.img", "checksum": "abc", "checksumType": "sha256"},
                "hostSelector": {"matchLabels": {"tier": "gold"},
                                 "matchExpressions": [{"key": "rack", "operator": "In", "values": ["a"]}]},
                "failureDomain": "fd-a",
            }),
            json!({"userData": {"name": "m0-bootstrap", "namespace": "tenant"},
                   "metaData": {"name": "m0-metadata"}}),
        );
        let claim = claim_for(&m, "c1", &mode()).expect("claim");
        let value = serde_json::to_value(&claim).expect("encodes");
        assert_eq!(value["metadata"]["name"], "m0");
        assert_eq!(value["metadata"]["namespace"], "tenant");
        assert_eq!(
            value["metadata"]["labels"]["cluster.x-k8s.io/cluster-name"],
            "c1"
        );
        assert_eq!(value["metadata"]["ownerReferences"][0]["uid"], "u-1");
        assert_eq!(value["metadata"]["ownerReferences"][0]["controller"], true);
        assert_eq!(
            value["spec"],
            json!({
                "poweredOn": true,
                "image": {"url": "http://x/os.img", "checksum": "abc", "checksumType": "sha256"},
                "userData": {"name": "m0-bootstrap", "namespace": "tenant"},
                "metaData": {"name": "m0-metadata", "namespace": "tenant"},
                "hostSelector": {"matchLabels": {"tier": "gold"},
                                 "matchExpressions": [{"key": "rack", "operator": "in", "values": ["a"]}],
                                 "inNamespace": "hosts"},
                "consumerRef": {"apiVersion": "infrastructure.cluster.x-k8s.io/v1beta2",
                                "kind": "Metal3Machine", "name": "m0", "namespace": "tenant"},
                "failureDomain": "fd-a",
            })
        );
        assert!(owned_by(&claim, &m));
    }

    #[test]
    fn before_the_user_data_is_known_the_claim_deploys_nothing() {
        let m = machine(json!({"image": {"url": "http://x/os.img"}}), json!({}));
        let claim = claim_for(&m, "c1", &HostClaimMode::default()).expect("claim");
        assert!(claim.spec.image.is_none() && claim.spec.user_data.is_none());
        assert!(claim.spec.powered_on);
        assert_eq!(claim.spec.host_selector.in_namespace, "");
    }

    #[test]
    fn what_a_claim_cannot_express_is_refused() {
        let m = machine(
            json!({"image": {"url": "http://x/os.img"},
                   "hostSelector": {"matchExpressions": [{"key": "cpus", "operator": "gt", "values": ["4"]}]}}),
            json!({}),
        );
        let e = claim_for(&m, "c1", &mode()).expect_err("gt is not a claim operator");
        assert!(e.contains("matchExpressions[0]") && e.contains("gt"), "{e}");
        let foreign = machine(
            json!({"image": {"url": "http://x/os.img"}}),
            json!({"userData": {"name": "ud", "namespace": "elsewhere"}}),
        );
        let e = claim_for(&foreign, "c1", &mode()).expect_err("foreign Secret");
        assert!(e.contains("elsewhere"), "{e}");
        let nothing = machine(json!({}), json!({"userData": {"name": "ud"}}));
        assert!(claim_for(&nothing, "c1", &mode()).is_err(), "no image");
    }

    fn claim(status: serde_json::Value, generation: i64) -> HostClaim {
        serde_json::from_value(json!({
            "apiVersion": "metal3.io/v1alpha1", "kind": "HostClaim",
            "metadata": {"name": "m0", "namespace": "tenant", "generation": generation},
            "spec": {"poweredOn": true, "image": {"url": "http://x/os.img"}},
            "status": status,
        }))
        .expect("claim")
    }

    fn cond(kind: &str, status: &str, generation: i64) -> serde_json::Value {
        json!({"type": kind, "status": status, "reason": "R", "message": format!("{kind} says {status}"),
               "lastTransitionTime": "2026-01-01T00:00:00Z", "observedGeneration": generation})
    }

    #[test]
    fn the_claim_status_says_whether_and_where_the_host_is() {
        let waiting = claim(json!({"conditions": [cond("Associated", "False", 1)]}), 1);
        assert_eq!(
            bound(&waiting),
            Bound::Waiting("Associated says False".into())
        );
        let host = json!({"namespace": "hosts", "name": "h0"});
        let synced = |gen_synced: i64, on: bool| {
            claim(
                json!({"bareMetalHost": host, "poweredOn": on, "conditions": [
                    cond("Associated", "True", 1), cond("Synchronized", "True", gen_synced)]}),
                2,
            )
        };
        let at = |provisioned| Bound::Host {
            namespace: "hosts".into(),
            name: "h0".into(),
            provisioned,
        };
        assert_eq!(bound(&synced(2, true)), at(true));
        assert_eq!(bound(&synced(2, false)), at(false), "not powered on yet");
        assert_eq!(
            bound(&synced(1, true)),
            at(false),
            "an older spec synchronised"
        );
        assert_eq!(
            provider_id("hosts", "h0", "m0").to_string(),
            "metal3://hosts/h0/m0"
        );
    }
}
