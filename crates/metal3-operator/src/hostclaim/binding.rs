//! The HostClaim controller's decisions, free of I/O: which namespaces a HostDeployPolicy admits
//! a claim to, which hosts a claim's selector may take, which one it takes, what the host must
//! look like for the claim, and the claim's conditions.

use std::collections::{BTreeMap, BTreeSet};
use std::hash::{DefaultHasher, Hash, Hasher};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::ResourceExt;
use metal3_api::consts::PAUSED_ANNOTATION;
use metal3_api::v1alpha1::{
    BareMetalHost, Condition, ConditionStatus, CustomDeploy, FAILURE_DOMAIN_LABEL, GROUP,
    HOSTCLAIM_KIND, HostClaim, HostClaimNamespaces, HostDeployPolicy, HostSelector, Image,
    ObjectReference, ProvisioningState, SecretReference, VERSION,
};

/// Whether the policy `admitted` (a HostDeployPolicy's `hostClaimNamespaces`) admits claims of
/// namespace `ns`, whose labels are `labels`. Every condition set must hold; a policy without
/// conditions admits nothing, and one whose `nameMatches` is not a regular expression admits
/// nothing either.
pub fn admits(
    admitted: Option<&HostClaimNamespaces>,
    ns: &str,
    labels: &BTreeMap<String, String>,
) -> bool {
    let Some(admitted) = admitted else {
        return false;
    };
    if let Some(names) = &admitted.names
        && !names.iter().any(|n| n == ns)
    {
        return false;
    }
    if !admitted.name_matches.is_empty() {
        match regex::Regex::new(&admitted.name_matches) {
            Ok(re) if re.is_match(ns) => {}
            _ => return false,
        }
    }
    admitted
        .has_labels
        .iter()
        .all(|pair| match labels.get(&pair.name) {
            Some(value) => pair.value.is_empty() || *value == pair.value,
            None => false,
        })
}

/// The namespaces whose hosts a claim of namespace `ns` (with `labels`) may be bound to: those
/// of the policies admitting it, restricted to `in_namespace` when that is set.
pub fn admitted_namespaces(
    policies: &[HostDeployPolicy],
    ns: &str,
    labels: &BTreeMap<String, String>,
    in_namespace: &str,
) -> BTreeSet<String> {
    policies
        .iter()
        .filter_map(|p| {
            let policy_ns = p.namespace()?;
            let wanted = in_namespace.is_empty() || policy_ns == in_namespace;
            (wanted && admits(p.spec.host_claim_namespaces.as_ref(), ns, labels))
                .then_some(policy_ns)
        })
        .collect()
}

/// How a selector requirement compares a label.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    In,
    NotIn,
    Exists,
    DoesNotExist,
}

/// A claim's host selector, parsed: label requirements that must all hold.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Selector(Vec<(String, Op, Vec<String>)>);

impl Selector {
    /// Parses `matchLabels` (equalities) and `matchExpressions` (operators compared in lower
    /// case, as upstream's controller does). The error names the offending expression.
    pub fn parse(selector: &HostSelector) -> Result<Self, String> {
        let mut reqs: Vec<_> = selector
            .match_labels
            .iter()
            .map(|(k, v)| (k.clone(), Op::In, vec![v.clone()]))
            .collect();
        for (i, req) in selector.match_expressions.iter().enumerate() {
            let n = req.values.len();
            let op = match (req.operator.to_lowercase().as_str(), n) {
                ("in", 1..) => Op::In,
                ("=" | "==", 1) => Op::In,
                ("notin", 1..) => Op::NotIn,
                ("!=", 1) => Op::NotIn,
                ("exists", 0) => Op::Exists,
                ("!", 0) => Op::DoesNotExist,
                (op, _) => {
                    return Err(format!(
                        "matchExpressions[{i}]: operator {op:?} with {n} values cannot select \
                         hosts"
                    ));
                }
            };
            reqs.push((req.key.clone(), op, req.values.clone()));
        }
        Ok(Self(reqs))
    }

    /// Whether a host with `labels` meets every requirement.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.0.iter().all(|(key, op, values)| {
            let has = labels.get(key).is_some_and(|v| values.contains(v));
            match op {
                Op::In => has,
                Op::NotIn => !has,
                Op::Exists => labels.contains_key(key),
                Op::DoesNotExist => !labels.contains_key(key),
            }
        })
    }
}

/// The `consumerRef` a host bound to `claim` carries.
pub fn consumer_ref(claim: &HostClaim) -> ObjectReference {
    ObjectReference {
        api_version: Some(format!("{GROUP}/{VERSION}")),
        kind: Some(HOSTCLAIM_KIND.to_string()),
        name: Some(claim.name_any()),
        namespace: claim.namespace(),
        ..ObjectReference::default()
    }
}

/// Whether `host`'s `consumerRef` names the claim `ns`/`name` (kind HostClaim of metal3.io).
pub fn claimed_by(host: &BareMetalHost, ns: &str, name: &str) -> bool {
    host.spec.consumer_ref.as_ref().is_some_and(|r| {
        r.kind.as_deref() == Some(HOSTCLAIM_KIND)
            && r.name.as_deref() == Some(name)
            && r.namespace.as_deref() == Some(ns)
            && r.api_version
                .as_deref()
                .and_then(|v| v.split('/').next())
                .is_some_and(|g| g == GROUP)
    })
}

/// The claim (namespace, name) a host's `consumerRef` names, if it names a HostClaim.
pub fn claim_of(host: &BareMetalHost) -> Option<(String, String)> {
    let r = host.spec.consumer_ref.as_ref()?;
    let group = r.api_version.as_deref()?.split('/').next()?;
    if r.kind.as_deref() != Some(HOSTCLAIM_KIND) || group != GROUP {
        return None;
    }
    Some((r.namespace.clone()?, r.name.clone()?))
}

/// The hosts a claim may take.
#[derive(Debug, PartialEq)]
pub enum Candidates<'a> {
    /// A host already names the claim as its consumer (a binding whose status write was lost).
    Bound(&'a BareMetalHost),
    /// Free hosts matching the selector, in the admitted namespaces.
    Free(Vec<&'a BareMetalHost>),
}

/// The hosts of `hosts` claim `ns`/`name` may take: in an `admitted` namespace, matching
/// `selector`, not consumed, not being deleted, not paused, `ready` or `available` and without
/// an error. A host already bound to the claim wins.
pub fn candidates<'a>(
    hosts: &'a [BareMetalHost],
    admitted: &BTreeSet<String>,
    selector: &Selector,
    ns: &str,
    name: &str,
) -> Candidates<'a> {
    let mut free = Vec::new();
    for host in hosts {
        if !host.namespace().is_some_and(|n| admitted.contains(&n)) {
            continue;
        }
        if claimed_by(host, ns, name) {
            return Candidates::Bound(host);
        }
        let usable = host.spec.consumer_ref.is_none()
            && host.metadata.deletion_timestamp.is_none()
            && !host.annotations().contains_key(PAUSED_ANNOTATION)
            && matches!(
                host.provisioning_state(),
                ProvisioningState::Ready | ProvisioningState::Available
            )
            && host
                .status
                .as_ref()
                .is_none_or(|s| s.error_message.is_empty())
            && selector.matches(host.labels());
        if usable {
            free.push(host);
        }
    }
    Candidates::Free(free)
}

/// Picks one of `free`: among those in `failure_domain` when it is set and any are, else among
/// all. The pick is spread by `seed` (the claim's uid), so claims racing for a pool mostly
/// choose different hosts; it is stable for a given seed and pool.
pub fn choose<'a>(
    free: &[&'a BareMetalHost],
    failure_domain: &str,
    seed: &str,
) -> Option<&'a BareMetalHost> {
    let mut pool: Vec<&BareMetalHost> = free
        .iter()
        .copied()
        .filter(|h| {
            !failure_domain.is_empty()
                && h.labels().get(FAILURE_DOMAIN_LABEL).map(String::as_str) == Some(failure_domain)
        })
        .collect();
    if pool.is_empty() {
        pool = free.to_vec();
    }
    pool.sort_by_key(|h| (h.namespace(), h.name_any()));
    let mut hasher = DefaultHasher::new();
    seed.hash(&mut hasher);
    let len = u64::try_from(pool.len()).ok().filter(|l| *l > 0)?;
    let index = usize::try_from(hasher.finish() % len).ok()?;
    pool.get(index).copied()
}

/// What the claim's Secrets are called next to the host: the copies the controller makes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DataRole {
    /// `userData`.
    UserData,
    /// `networkData`.
    NetworkData,
    /// `metaData`.
    MetaData,
}

impl DataRole {
    /// Every role, in the order they are synchronised.
    pub const ALL: [Self; 3] = [Self::UserData, Self::NetworkData, Self::MetaData];

    /// Name of the copy of this role's Secret beside `host`.
    pub fn copy_name(self, host: &str) -> String {
        let role = match self {
            Self::UserData => "userdata",
            Self::NetworkData => "networkdata",
            Self::MetaData => "metadata",
        };
        format!("{host}-hostclaim-{role}")
    }

    /// The claim's reference for this role.
    pub fn of(self, claim: &HostClaim) -> Option<&SecretReference> {
        match self {
            Self::UserData => claim.spec.user_data.as_ref(),
            Self::NetworkData => claim.spec.network_data.as_ref(),
            Self::MetaData => claim.spec.meta_data.as_ref(),
        }
    }

    /// The host's reference for this role.
    pub fn of_host(self, host: &BareMetalHost) -> Option<&SecretReference> {
        match self {
            Self::UserData => host.spec.user_data.as_ref(),
            Self::NetworkData => host.spec.network_data.as_ref(),
            Self::MetaData => host.spec.meta_data.as_ref(),
        }
    }

    /// The claim's condition reason when this role's Secret cannot be copied.
    pub fn failure_reason(self) -> &'static str {
        use metal3_api::v1alpha1::{
            META_DATA_SYNC_FAILURE_REASON, NETWORK_DATA_SYNC_FAILURE_REASON,
            USER_DATA_SYNC_FAILURE_REASON,
        };
        match self {
            Self::UserData => USER_DATA_SYNC_FAILURE_REASON,
            Self::NetworkData => NETWORK_DATA_SYNC_FAILURE_REASON,
            Self::MetaData => META_DATA_SYNC_FAILURE_REASON,
        }
    }
}

/// The Secret a claim's reference names, which must be in the claim's own namespace `ns`
/// (a tenant cannot have the operator read Secrets elsewhere).
pub fn source_secret(reference: &SecretReference, ns: &str) -> Result<String, String> {
    let name = reference.name.clone().unwrap_or_default();
    if name.is_empty() {
        return Err("the Secret reference has no name".into());
    }
    match reference.namespace.as_deref() {
        None | Some("") => Ok(name),
        Some(other) if other == ns => Ok(name),
        Some(other) => Err(format!(
            "Secret {name:?} is in namespace {other:?}; a HostClaim may only use Secrets of its \
             own namespace {ns:?}"
        )),
    }
}

/// The deployment fields of a host, as a claim wants them.
#[derive(Clone, Debug, PartialEq)]
pub struct Deployment {
    /// `spec.online`.
    pub online: bool,
    /// `spec.image`.
    pub image: Option<Image>,
    /// `spec.customDeploy`.
    pub custom_deploy: Option<CustomDeploy>,
    /// `spec.userData`, `spec.networkData`, `spec.metaData`.
    pub data: [Option<SecretReference>; 3],
}

impl Deployment {
    /// What `claim` wants on `host` (in namespace `host_ns`): its power, image and custom
    /// deploy, and the copies of its Secrets.
    pub fn wanted(claim: &HostClaim, host: &str, host_ns: &str) -> Self {
        Self {
            online: claim.spec.powered_on,
            image: claim.spec.image.clone(),
            custom_deploy: claim.spec.custom_deploy.clone(),
            data: DataRole::ALL.map(|role| {
                role.of(claim).map(|_| SecretReference {
                    name: Some(role.copy_name(host)),
                    namespace: Some(host_ns.to_string()),
                })
            }),
        }
    }

    /// What a released host keeps: nothing deployed, powered off.
    pub fn released() -> Self {
        Self {
            online: false,
            image: None,
            custom_deploy: None,
            data: [None, None, None],
        }
    }

    /// What `host` has now.
    pub fn of(host: &BareMetalHost) -> Self {
        Self {
            online: host.spec.online,
            image: host.spec.image.clone(),
            custom_deploy: host.spec.custom_deploy.clone(),
            data: DataRole::ALL.map(|role| role.of_host(host).cloned()),
        }
    }

    /// The merge patch of a host's `spec` giving it this deployment (`null` removes a field).
    pub fn spec_patch(&self) -> serde_json::Value {
        serde_json::json!({
            "online": self.online,
            "image": self.image,
            "customDeploy": self.custom_deploy,
            "userData": self.data[0],
            "networkData": self.data[1],
            "metaData": self.data[2],
        })
    }
}

/// Whether a host is still busy deploying or undeploying, so it cannot be given back yet.
pub fn busy(host: &BareMetalHost) -> bool {
    matches!(
        host.provisioning_state(),
        ProvisioningState::Preparing
            | ProvisioningState::Provisioning
            | ProvisioningState::Provisioned
            | ProvisioningState::Deprovisioning
    )
}

/// Sets the condition `kind` in `conditions`, keeping its transition time when its status
/// does not change.
pub fn set_condition(
    conditions: &mut Vec<Condition>,
    kind: &str,
    holds: bool,
    reason: &str,
    message: &str,
    now: &Time,
    generation: Option<i64>,
) {
    let status = if holds {
        ConditionStatus::True
    } else {
        ConditionStatus::False
    };
    let previous = conditions.iter().position(|c| c.r#type == kind);
    let last_transition_time = match previous.map(|i| &conditions[i]) {
        Some(old) if old.status == status => old.last_transition_time.clone(),
        _ => now.clone(),
    };
    let condition = Condition {
        r#type: kind.to_string(),
        status,
        observed_generation: generation,
        last_transition_time,
        reason: reason.to_string(),
        message: message.to_string(),
    };
    match previous {
        Some(i) => conditions[i] = condition,
        None => conditions.push(condition),
    }
}

#[cfg(test)]
mod tests;
