//! Which BareMetalHost a Metal3Machine gets, as a pure function of the hosts in its namespace.
//!
//! A host already claimed by the machine is returned at once. Otherwise a host is a candidate
//! when it matches the selector, is not being deleted, has no error, is not paused or marked
//! unhealthy, and either is unclaimed and `available` (or `ready`) or carries the node-reuse
//! label reserving it for the machine's MachineDeployment or control plane. Reserved hosts win:
//! while one is reserved for the machine but not available yet, the machine waits for it
//! rather than taking another. Among candidates, hosts in the machine's failure domain are
//! preferred; the pick among equals is random, so concurrent machines rarely race for one host
//! (and when they do, the claim's optimistic concurrency lets only one win).

use metal3_api::consts::PAUSED_ANNOTATION;
use metal3_api::v1alpha1::{BareMetalHost, ObjectReference, ProvisioningState};
use metal3_capm3_api::GROUP;
use metal3_capm3_api::consts::{
    FAILURE_DOMAIN_LABEL, NODE_REUSE_LABEL, UNHEALTHY_ANNOTATION, UNHEALTHY_ANNOTATION_DEPRECATED,
    conditions,
};

use crate::selector::{Requirement, matches_all};

/// The machine looking for a host.
#[derive(Clone, Debug, Default)]
pub struct Claimant<'a> {
    /// Name of the Metal3Machine.
    pub name: &'a str,
    /// Its namespace.
    pub namespace: &'a str,
    /// Its failure domain (`spec.failureDomain`), empty for none.
    pub failure_domain: &'a str,
    /// The node-reuse label value that reserves a host for this machine's owner
    /// (`md-<MachineDeployment>` or `cp-<control plane>`), when it has one.
    pub reuse_label: Option<&'a str>,
}

/// The outcome of choosing.
#[derive(Debug, PartialEq)]
pub enum Choice<'a> {
    /// The host already names this machine as its consumer.
    Existing(&'a BareMetalHost),
    /// A host to claim, and the reason for the `AssociateBareMetalHost` condition.
    Chosen {
        /// The host.
        host: &'a BareMetalHost,
        /// `AssociateBareMetalHostSuccess`, or `…ViaNodeReuseSuccess` for a reserved host.
        reason: &'static str,
    },
    /// Hosts are reserved for this machine's owner but none is available yet.
    WaitForReserved {
        /// Names of the reserved hosts.
        hosts: Vec<String>,
    },
    /// No host can be used now.
    NoneAvailable,
}

/// Whether `consumer` refers to the Metal3Machine `name` in `namespace` (any version of the
/// group).
pub fn consumer_is(consumer: Option<&ObjectReference>, name: &str, namespace: &str) -> bool {
    let Some(c) = consumer else {
        return false;
    };
    let group = c
        .api_version
        .as_deref()
        .map(|v| v.split_once('/').map_or("", |(g, _)| g));
    c.name.as_deref() == Some(name)
        && c.namespace.as_deref() == Some(namespace)
        && c.kind.as_deref() == Some("Metal3Machine")
        && group == Some(GROUP)
}

fn usable(host: &BareMetalHost) -> bool {
    let annotations = host.metadata.annotations.clone().unwrap_or_default();
    host.metadata.deletion_timestamp.is_none()
        && host
            .status
            .as_ref()
            .is_none_or(|s| s.error_message.is_empty())
        && !annotations.contains_key(PAUSED_ANNOTATION)
        && !annotations.contains_key(UNHEALTHY_ANNOTATION)
        && !annotations.contains_key(UNHEALTHY_ANNOTATION_DEPRECATED)
}

fn available(host: &BareMetalHost) -> bool {
    matches!(
        host.provisioning_state(),
        ProvisioningState::Available | ProvisioningState::Ready
    )
}

/// The failure domain `host` is in (its failure-domain label), as a machine on it reports it in
/// `status.failureDomain`; `None` without one.
pub fn failure_domain(host: &BareMetalHost) -> Option<String> {
    host.metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(FAILURE_DOMAIN_LABEL))
        .filter(|fd| !fd.is_empty())
        .cloned()
}

/// Prefers hosts in `failure_domain`, then picks one with `pick(len)` (an index below `len`).
fn pick_in_domain<'a>(
    candidates: &[&'a BareMetalHost],
    failure_domain: &str,
    pick: &mut dyn FnMut(usize) -> usize,
) -> Option<&'a BareMetalHost> {
    let in_domain: Vec<&BareMetalHost> = if failure_domain.is_empty() {
        Vec::new()
    } else {
        candidates
            .iter()
            .copied()
            .filter(|h| {
                h.metadata
                    .labels
                    .as_ref()
                    .and_then(|l| l.get(FAILURE_DOMAIN_LABEL))
                    .is_some_and(|fd| fd == failure_domain)
            })
            .collect()
    };
    let pool = if in_domain.is_empty() {
        candidates
    } else {
        &in_domain
    };
    if pool.is_empty() {
        return None;
    }
    pool.get(pick(pool.len()).min(pool.len() - 1)).copied()
}

/// Chooses a host for `claimant` among `hosts` (all in its namespace) that meet
/// `requirements`; `pick(n)` returns a random index below `n`.
pub fn choose<'a>(
    hosts: &'a [BareMetalHost],
    requirements: &[Requirement],
    claimant: &Claimant<'_>,
    pick: &mut dyn FnMut(usize) -> usize,
) -> Choice<'a> {
    let mut free = Vec::new();
    let mut reserved = Vec::new();
    for host in hosts {
        let labels = host.metadata.labels.clone().unwrap_or_default();
        if !matches_all(requirements, &labels) {
            continue;
        }
        if consumer_is(
            host.spec.consumer_ref.as_ref(),
            claimant.name,
            claimant.namespace,
        ) {
            return Choice::Existing(host);
        }
        let reuse = labels.get(NODE_REUSE_LABEL);
        match reuse {
            // Reserved for someone: only for us if the reservation is ours.
            Some(value) if claimant.reuse_label != Some(value.as_str()) => continue,
            None if host.spec.consumer_ref.is_some() => continue,
            _ => {}
        }
        if !usable(host) {
            continue;
        }
        if reuse.is_some() {
            reserved.push(host);
        } else if available(host) {
            free.push(host);
        }
    }
    if !reserved.is_empty() {
        let ready: Vec<&BareMetalHost> =
            reserved.iter().copied().filter(|h| available(h)).collect();
        return match pick_in_domain(&ready, claimant.failure_domain, pick) {
            Some(host) => Choice::Chosen {
                host,
                reason: conditions::ASSOCIATE_BMH_VIA_NODE_REUSE_SUCCESS,
            },
            None => Choice::WaitForReserved {
                hosts: reserved
                    .iter()
                    .map(|h| h.metadata.name.clone().unwrap_or_default())
                    .collect(),
            },
        };
    }
    match pick_in_domain(&free, claimant.failure_domain, pick) {
        Some(host) => Choice::Chosen {
            host,
            reason: conditions::ASSOCIATE_BMH_SUCCESS,
        },
        None => Choice::NoneAvailable,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::selector::Requirement;
    use metal3_api::v1alpha1::{BareMetalHostSpec, BareMetalHostStatus};
    use serde_json::json;

    fn host(name: &str, state: &str, labels: serde_json::Value) -> BareMetalHost {
        let mut h = BareMetalHost::new(name, BareMetalHostSpec::default());
        h.metadata.namespace = Some("ns".into());
        h.metadata.labels = serde_json::from_value(labels).expect("labels");
        let mut status = BareMetalHostStatus::default();
        status.provisioning.state = ProvisioningState::from(state);
        h.status = Some(status);
        h
    }

    fn me<'a>() -> Claimant<'a> {
        Claimant {
            name: "m3m",
            namespace: "ns",
            ..Default::default()
        }
    }

    fn names(choice: &Choice<'_>) -> String {
        match choice {
            Choice::Existing(h) | Choice::Chosen { host: h, .. } => {
                h.metadata.name.clone().unwrap_or_default()
            }
            Choice::WaitForReserved { hosts } => format!("wait:{}", hosts.join(",")),
            Choice::NoneAvailable => "none".into(),
        }
    }

    fn consumer(name: &str) -> Option<ObjectReference> {
        Some(ObjectReference {
            api_version: Some("infrastructure.cluster.x-k8s.io/v1beta1".into()),
            kind: Some("Metal3Machine".into()),
            name: Some(name.into()),
            namespace: Some("ns".into()),
            ..Default::default()
        })
    }

    #[test]
    fn only_available_unclaimed_healthy_hosts_are_chosen() {
        let mut claimed = host("claimed", "available", json!({}));
        claimed.spec.consumer_ref = consumer("other");
        let mut paused = host("paused", "available", json!({}));
        paused.metadata.annotations = Some([(PAUSED_ANNOTATION.to_string(), String::new())].into());
        let mut unhealthy = host("unhealthy", "available", json!({}));
        unhealthy.metadata.annotations =
            Some([(UNHEALTHY_ANNOTATION_DEPRECATED.to_string(), String::new())].into());
        let mut failed = host("failed", "available", json!({}));
        if let Some(s) = failed.status.as_mut() {
            s.error_message = "boom".into();
        }
        let mut deleting = host("deleting", "available", json!({}));
        deleting.metadata.deletion_timestamp =
            Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                k8s_openapi::jiff::Timestamp::UNIX_EPOCH,
            ));
        let hosts = vec![
            claimed,
            paused,
            unhealthy,
            failed,
            deleting,
            host("inspecting", "inspecting", json!({})),
            host("provisioned", "provisioned", json!({})),
            host("good", "available", json!({})),
        ];
        let choice = choose(&hosts, &[], &me(), &mut |_| 0);
        assert_eq!(names(&choice), "good");
        assert!(
            matches!(choice, Choice::Chosen { reason, .. } if reason == conditions::ASSOCIATE_BMH_SUCCESS)
        );
        let ready = vec![host("old", "ready", json!({}))];
        assert_eq!(names(&choose(&ready, &[], &me(), &mut |_| 0)), "old");
        assert_eq!(
            choose(&hosts[..7], &[], &me(), &mut |_| 0),
            Choice::NoneAvailable
        );
    }

    #[test]
    fn a_host_already_ours_is_returned_whatever_its_state() {
        let mut mine = host("mine", "provisioning", json!({}));
        mine.spec.consumer_ref = consumer("m3m");
        let hosts = vec![host("free", "available", json!({})), mine];
        assert!(
            matches!(choose(&hosts, &[], &me(), &mut |_| 0), Choice::Existing(h) if h.metadata.name.as_deref() == Some("mine"))
        );
    }

    #[test]
    fn the_selector_filters_hosts() {
        let hosts = vec![
            host("a", "available", json!({"role": "storage"})),
            host("b", "available", json!({"role": "worker"})),
        ];
        let reqs = vec![Requirement::new("role", "In", &["worker".into()], "f").expect("valid")];
        assert_eq!(names(&choose(&hosts, &reqs, &me(), &mut |_| 0)), "b");
        let reqs = vec![Requirement::new("role", "In", &["gpu".into()], "f").expect("valid")];
        assert_eq!(
            choose(&hosts, &reqs, &me(), &mut |_| 0),
            Choice::NoneAvailable
        );
    }

    #[test]
    fn hosts_in_the_failure_domain_are_preferred() {
        let hosts = vec![
            host("a1", "available", json!({FAILURE_DOMAIN_LABEL: "a"})),
            host("b1", "available", json!({FAILURE_DOMAIN_LABEL: "b"})),
            host("b2", "available", json!({FAILURE_DOMAIN_LABEL: "b"})),
            host("none", "available", json!({})),
        ];
        let claimant = Claimant {
            failure_domain: "b",
            ..me()
        };
        let mut seen = std::collections::BTreeSet::new();
        for i in 0..4 {
            seen.insert(names(&choose(&hosts, &[], &claimant, &mut |n| i % n)));
        }
        assert_eq!(seen.into_iter().collect::<Vec<_>>(), ["b1", "b2"]);
        // No free host in the domain: any host will do.
        let claimant = Claimant {
            failure_domain: "c",
            ..me()
        };
        let mut seen = std::collections::BTreeSet::new();
        for i in 0..4 {
            seen.insert(names(&choose(&hosts, &[], &claimant, &mut |n| i % n)));
        }
        assert_eq!(seen.len(), 4);
    }

    #[test]
    fn a_host_reports_the_failure_domain_of_its_label() {
        let in_b = host("b1", "available", json!({FAILURE_DOMAIN_LABEL: "b"}));
        assert_eq!(failure_domain(&in_b).as_deref(), Some("b"));
        let blank = host("x", "available", json!({FAILURE_DOMAIN_LABEL: ""}));
        assert_eq!(failure_domain(&blank), None);
        assert_eq!(failure_domain(&host("n", "available", json!({}))), None);
    }

    #[test]
    fn reserved_hosts_win_and_are_waited_for() {
        let mut reserved = host(
            "reserved",
            "deprovisioning",
            json!({NODE_REUSE_LABEL: "md-workers"}),
        );
        reserved.spec.consumer_ref = Some(ObjectReference {
            kind: Some("Cluster".into()),
            name: Some("c".into()),
            ..Default::default()
        });
        let other = host(
            "other-md",
            "available",
            json!({NODE_REUSE_LABEL: "md-other"}),
        );
        let free = host("free", "available", json!({}));
        let claimant = Claimant {
            reuse_label: Some("md-workers"),
            ..me()
        };
        let hosts = vec![reserved.clone(), other.clone(), free.clone()];
        assert_eq!(
            names(&choose(&hosts, &[], &claimant, &mut |_| 0)),
            "wait:reserved"
        );
        // A machine of another deployment takes only the free host.
        let stranger = Claimant {
            reuse_label: Some("md-elsewhere"),
            ..me()
        };
        assert_eq!(names(&choose(&hosts, &[], &stranger, &mut |_| 0)), "free");
        // Once available, the reserved host is taken, with the node-reuse reason.
        let mut ready = reserved;
        if let Some(s) = ready.status.as_mut() {
            s.provisioning.state = ProvisioningState::Available;
        }
        let hosts = vec![ready, other, free];
        let choice = choose(&hosts, &[], &claimant, &mut |_| 0);
        assert_eq!(names(&choice), "reserved");
        assert!(
            matches!(choice, Choice::Chosen { reason, .. } if reason == conditions::ASSOCIATE_BMH_VIA_NODE_REUSE_SUCCESS)
        );
    }

    #[test]
    fn consumer_matching_ignores_the_version_but_not_the_group() {
        assert!(consumer_is(consumer("m3m").as_ref(), "m3m", "ns"));
        assert!(!consumer_is(consumer("m3m").as_ref(), "m3m", "other"));
        let mut wrong_group = consumer("m3m");
        if let Some(c) = wrong_group.as_mut() {
            c.api_version = Some("example.com/v1".into());
        }
        assert!(!consumer_is(wrong_group.as_ref(), "m3m", "ns"));
        assert!(!consumer_is(None, "m3m", "ns"));
    }
}
