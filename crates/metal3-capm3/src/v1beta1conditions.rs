//! The v1beta1 condition mirrors (`status.deprecated.v1beta1.conditions`) of Metal3Machines and
//! Metal3Clusters, derived from their v1beta2 conditions in the shape and vocabulary upstream
//! keeps for v1beta1 readers (clusterctl, older tools): upstream's v1beta1 condition types and
//! reasons, a severity on false conditions, no reason on true ones, and a `Ready` summary as
//! Cluster API's deprecated v1beta1 `SetSummary` computes it. Conversion to v1beta1 shows
//! them as `status.conditions`.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use metal3_api::v1alpha1::{Condition, ConditionStatus};
use metal3_capm3_api::common::V1Beta1Condition;
use metal3_capm3_api::consts::conditions as c;
use metal3_capm3_api::v1beta2::{
    ClusterDeprecatedStatus, MachineDeprecatedStatus, Metal3ClusterStatus, Metal3MachineStatus,
};

/// v1beta1 `AssociateBMH`: the machine's host association.
pub const ASSOCIATE_BMH: &str = "AssociateBMH";
/// v1beta1 `KubernetesNodeReady`: set (false) only when the metadata association or the
/// deletion fails or is under way, as upstream.
pub const KUBERNETES_NODE_READY: &str = "KubernetesNodeReady";
/// v1beta1 `Metal3DataReady`.
pub const METAL3_DATA_READY: &str = "Metal3DataReady";
/// v1beta1 `BaremetalInfrastructureReady` of a Metal3Cluster.
pub const BAREMETAL_INFRASTRUCTURE_READY: &str = "BaremetalInfrastructureReady";
/// v1beta1 `Ready`, the summary.
pub const READY: &str = "Ready";

/// Severities of false v1beta1 conditions.
const ERROR: &str = "Error";
const WARNING: &str = "Warning";
const INFO: &str = "Info";

/// Which object's conditions are mirrored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Object {
    Metal3Machine,
    Metal3Cluster,
}

/// How one v1beta2 condition appears in v1beta1, when it does.
struct Mapped {
    kind: &'static str,
    status: &'static str,
    reason: String,
    severity: &'static str,
    message: String,
}

fn status_text(s: &ConditionStatus) -> &'static str {
    match s {
        ConditionStatus::True => "True",
        ConditionStatus::False => "False",
        _ => "Unknown",
    }
}

/// The v1beta1 form of a Metal3Machine's v1beta2 condition `cond`, if it has one.
fn machine_condition(cond: &Condition) -> Option<Mapped> {
    let (kind, reason, severity): (&'static str, &str, &'static str) = match cond.r#type.as_str() {
        c::ASSOCIATE_BMH => match cond.reason.as_str() {
            c::WAITING_FOR_OWNER_REF => (ASSOCIATE_BMH, "WaitingForM3MachineOwnerRef", INFO),
            c::WAITING_FOR_CLUSTER_INFRASTRUCTURE => {
                (ASSOCIATE_BMH, "WaitingForClusterInfrastructure", INFO)
            }
            c::WAITING_FOR_METAL3_CLUSTER => (ASSOCIATE_BMH, "WaitingforMetal3Cluster", INFO),
            c::WAITING_FOR_BOOTSTRAP_DATA => (ASSOCIATE_BMH, "WaitingForBootstrapReady", INFO),
            c::ASSOCIATE_BMH_FAILED => (ASSOCIATE_BMH, "AssociateBMHFailed", ERROR),
            c::PAUSE_ANNOTATION_SET_FAILED => {
                (ASSOCIATE_BMH, "PauseAnnotationSetFailedReason", INFO)
            }
            c::PAUSE_ANNOTATION_REMOVE_FAILED => {
                (ASSOCIATE_BMH, "PauseAnnotationRemoveFailed", INFO)
            }
            c::PAUSED_REASON => (ASSOCIATE_BMH, "Metal3MachinePaused", INFO),
            other => (ASSOCIATE_BMH, other, INFO),
        },
        c::METAL3_DATA_READY => match cond.reason.as_str() {
            c::WAITING_FOR_METAL3_DATA => (METAL3_DATA_READY, c::WAITING_FOR_METAL3_DATA, INFO),
            other => (METAL3_DATA_READY, other, ERROR),
        },
        // Upstream never marks KubernetesNodeReady true: it appears only while the metadata
        // association fails or the machine is being deleted.
        c::ASSOCIATE_METADATA if cond.status == ConditionStatus::True => return None,
        c::ASSOCIATE_METADATA => match cond.reason.as_str() {
            c::DELETING_REASON => (KUBERNETES_NODE_READY, "Deleting", INFO),
            c::DELETION_FAILED_REASON => (KUBERNETES_NODE_READY, "DeletionFailed", WARNING),
            c::UPDATE_ERROR => (
                KUBERNETES_NODE_READY,
                "DisassociateM3MetaDataFailed",
                WARNING,
            ),
            _ => (KUBERNETES_NODE_READY, "AssociateM3MetaDataFailed", WARNING),
        },
        _ => return None,
    };
    Some(mapped(cond, kind, reason, severity))
}

/// The v1beta1 form of a Metal3Cluster's v1beta2 condition `cond`, if it has one.
fn cluster_condition(cond: &Condition) -> Option<Mapped> {
    match cond.r#type.as_str() {
        c::BAREMETAL_INFRASTRUCTURE_READY => Some(mapped(
            cond,
            BAREMETAL_INFRASTRUCTURE_READY,
            &cond.reason,
            ERROR,
        )),
        _ => None,
    }
}

/// `cond` as v1beta1 `kind`: true conditions carry no reason, severity or message (as
/// `MarkTrue` writes them); false ones the reason and severity given.
fn mapped(cond: &Condition, kind: &'static str, reason: &str, severity: &'static str) -> Mapped {
    let status = status_text(&cond.status);
    match cond.status {
        ConditionStatus::True => Mapped {
            kind,
            status,
            reason: String::new(),
            severity: "",
            message: String::new(),
        },
        ConditionStatus::False => Mapped {
            kind,
            status,
            reason: reason.to_string(),
            severity,
            message: cond.message.clone(),
        },
        _ => Mapped {
            kind,
            status,
            reason: reason.to_string(),
            severity: "",
            message: cond.message.clone(),
        },
    }
}

/// Merge priority of a condition in the `Ready` summary: false by severity (error first),
/// then true, then unknown.
fn priority(m: &Mapped) -> u8 {
    match (m.status, m.severity) {
        ("False", ERROR) => 0,
        ("False", WARNING) => 1,
        ("False", INFO) => 2,
        ("False", _) => 3,
        ("True", _) => 4,
        _ => 5,
    }
}

/// The `Ready` summary of `parts` (sorted by type): true when the first group by priority is
/// true, else that group's first condition's status, reason, severity and message. `None`
/// when there is no part.
fn summary(parts: &[Mapped]) -> Option<Mapped> {
    let top = parts.iter().min_by_key(|m| priority(m))?;
    Some(match top.status {
        "True" => Mapped {
            kind: READY,
            status: "True",
            reason: String::new(),
            severity: "",
            message: String::new(),
        },
        status => Mapped {
            kind: READY,
            status,
            reason: top.reason.clone(),
            severity: top.severity,
            message: top.message.clone(),
        },
    })
}

/// The v1beta1 conditions of an object of kind `object` whose v1beta2 conditions are
/// `conditions`, `previous` being the mirrors written before: `Ready` first, then by type; a
/// condition keeps its `lastTransitionTime` while its status, reason, severity and message
/// stay the same, else it is `now` (as Cluster API's v1beta1 `Set`).
pub fn mirror(
    object: Object,
    conditions: &[Condition],
    previous: &[V1Beta1Condition],
    now: &Time,
) -> Vec<V1Beta1Condition> {
    let map = match object {
        Object::Metal3Machine => machine_condition,
        Object::Metal3Cluster => cluster_condition,
    };
    let mut parts: Vec<Mapped> = conditions.iter().filter_map(map).collect();
    parts.sort_by(|a, b| a.kind.cmp(b.kind));
    parts.dedup_by(|a, b| a.kind == b.kind);
    let ready = summary(&parts);
    ready
        .into_iter()
        .chain(parts)
        .map(|m| {
            let same = previous.iter().find(|p| {
                p.r#type == m.kind
                    && p.status == m.status
                    && p.reason == m.reason
                    && p.severity == m.severity
                    && p.message == m.message
            });
            V1Beta1Condition {
                r#type: m.kind.to_string(),
                status: m.status.to_string(),
                severity: m.severity.to_string(),
                last_transition_time: same
                    .map(|p| p.last_transition_time.clone())
                    .unwrap_or_else(|| now.clone()),
                reason: m.reason,
                message: m.message.chars().take(10240).collect(),
            }
        })
        .collect()
}

/// Fills a Metal3Machine status's v1beta1 mirrors from its conditions; `previous` is the
/// status as read (whose mirrors keep their transition times).
pub fn set_machine(
    status: &mut Metal3MachineStatus,
    previous: Option<&Metal3MachineStatus>,
    now: &Time,
) {
    let before = previous
        .and_then(|p| p.deprecated.as_ref())
        .and_then(|d| d.v1beta1.as_ref())
        .map(|v| v.conditions.as_slice())
        .unwrap_or_default();
    let mirrors = mirror(Object::Metal3Machine, &status.conditions, before, now);
    if mirrors.is_empty() && status.deprecated.is_none() {
        return;
    }
    status
        .deprecated
        .get_or_insert_with(MachineDeprecatedStatus::default)
        .v1beta1
        .get_or_insert_with(Default::default)
        .conditions = mirrors;
}

/// Fills a Metal3Cluster status's v1beta1 mirrors from its conditions; `previous` is the
/// status as read.
pub fn set_cluster(
    status: &mut Metal3ClusterStatus,
    previous: Option<&Metal3ClusterStatus>,
    now: &Time,
) {
    let before = previous
        .and_then(|p| p.deprecated.as_ref())
        .and_then(|d| d.v1beta1.as_ref())
        .map(|v| v.conditions.as_slice())
        .unwrap_or_default();
    let mirrors = mirror(Object::Metal3Cluster, &status.conditions, before, now);
    if mirrors.is_empty() && status.deprecated.is_none() {
        return;
    }
    status
        .deprecated
        .get_or_insert_with(ClusterDeprecatedStatus::default)
        .v1beta1
        .get_or_insert_with(Default::default)
        .conditions = mirrors;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> Time {
        Time(k8s_openapi::jiff::Timestamp::from_second(seconds).expect("time"))
    }

    fn cond(kind: &str, status: ConditionStatus, reason: &str, message: &str) -> Condition {
        Condition {
            r#type: kind.into(),
            status,
            observed_generation: None,
            last_transition_time: at(1),
            reason: reason.into(),
            message: message.into(),
        }
    }

    fn brief(list: &[V1Beta1Condition]) -> Vec<(String, String, String, String)> {
        list.iter()
            .map(|c| {
                (
                    c.r#type.clone(),
                    c.status.clone(),
                    c.reason.clone(),
                    c.severity.clone(),
                )
            })
            .collect()
    }

    fn t(a: &str, b: &str, c: &str, d: &str) -> (String, String, String, String) {
        (a.into(), b.into(), c.into(), d.into())
    }

    #[test]
    fn a_provisioned_machine_is_ready_without_reasons() {
        use ConditionStatus::True;
        let v2 = [
            cond(c::READY, True, c::READY_REASON, ""),
            cond(c::ASSOCIATE_BMH, True, c::ASSOCIATE_BMH_SUCCESS, ""),
            cond(
                c::ASSOCIATE_METADATA,
                True,
                c::ASSOCIATE_METADATA_SUCCESS,
                "",
            ),
            cond(c::METAL3_DATA_READY, True, c::METAL3_DATA_SECRETS_READY, ""),
            cond(c::PAUSED, ConditionStatus::False, c::NOT_PAUSED_REASON, ""),
        ];
        let got = mirror(Object::Metal3Machine, &v2, &[], &at(5));
        assert_eq!(
            brief(&got),
            [
                t("Ready", "True", "", ""),
                t("AssociateBMH", "True", "", ""),
                t("Metal3DataReady", "True", "", ""),
            ]
        );
        assert!(got.iter().all(|c| c.last_transition_time == at(5)));
    }

    #[test]
    fn a_waiting_machine_speaks_upstreams_v1beta1_reasons_and_the_worst_part_leads() {
        use ConditionStatus::False;
        let v2 = [
            cond(c::ASSOCIATE_BMH, False, c::WAITING_FOR_BOOTSTRAP_DATA, ""),
            cond(c::METAL3_DATA_READY, False, c::WAITING_FOR_METAL3_DATA, "m"),
        ];
        let got = mirror(Object::Metal3Machine, &v2, &[], &at(5));
        assert_eq!(
            brief(&got),
            [
                t("Ready", "False", "WaitingForBootstrapReady", "Info"),
                t("AssociateBMH", "False", "WaitingForBootstrapReady", "Info"),
                t("Metal3DataReady", "False", "WaitingForMetal3Data", "Info"),
            ]
        );
        // A failure outranks a wait; a failed metadata association shows as KubernetesNodeReady.
        let v2 = [
            cond(c::ASSOCIATE_BMH, False, c::PAUSED_REASON, ""),
            cond(c::ASSOCIATE_METADATA, False, c::CREATE_ERROR, "no node"),
        ];
        let got = mirror(Object::Metal3Machine, &v2, &[], &at(5));
        assert_eq!(
            brief(&got),
            [
                t("Ready", "False", "AssociateM3MetaDataFailed", "Warning"),
                t("AssociateBMH", "False", "Metal3MachinePaused", "Info"),
                t(
                    "KubernetesNodeReady",
                    "False",
                    "AssociateM3MetaDataFailed",
                    "Warning"
                ),
            ]
        );
        assert_eq!(got[0].message, "no node");
        let failed = [cond(
            c::ASSOCIATE_BMH,
            False,
            c::ASSOCIATE_BMH_FAILED,
            "no host",
        )];
        let got = mirror(Object::Metal3Machine, &failed, &[], &at(5));
        assert_eq!(got[0].severity, "Error");
        assert_eq!(got[0].reason, "AssociateBMHFailed");
    }

    #[test]
    fn the_transition_time_moves_only_when_the_condition_changes() {
        use ConditionStatus::{False, True};
        let waiting = [cond(
            c::ASSOCIATE_BMH,
            False,
            c::WAITING_FOR_BOOTSTRAP_DATA,
            "",
        )];
        let first = mirror(Object::Metal3Machine, &waiting, &[], &at(5));
        let again = mirror(Object::Metal3Machine, &waiting, &first, &at(9));
        assert_eq!(first, again);
        let done = [cond(c::ASSOCIATE_BMH, True, c::ASSOCIATE_BMH_SUCCESS, "")];
        let changed = mirror(Object::Metal3Machine, &done, &again, &at(9));
        assert!(changed.iter().all(|c| c.last_transition_time == at(9)));
    }

    #[test]
    fn the_mirrors_sit_beside_the_v1beta1_failure_fields() {
        let mut status = Metal3MachineStatus {
            conditions: vec![cond(
                c::ASSOCIATE_BMH,
                ConditionStatus::False,
                c::ASSOCIATE_BMH_FAILED,
                "no host",
            )],
            ..Default::default()
        };
        status.deprecated = Some(MachineDeprecatedStatus {
            v1beta1: Some(metal3_capm3_api::v1beta2::MachineV1Beta1Status {
                failure_reason: Some("CreateError".into()),
                ..Default::default()
            }),
        });
        let previous = status.clone();
        set_machine(&mut status, Some(&previous), &at(3));
        let v1 = status.deprecated.and_then(|d| d.v1beta1).expect("v1beta1");
        assert_eq!(v1.failure_reason.as_deref(), Some("CreateError"));
        assert_eq!(v1.conditions.len(), 2);
        // No conditions, nothing deprecated: nothing added.
        let mut empty = Metal3ClusterStatus::default();
        set_cluster(&mut empty, None, &at(3));
        assert_eq!(empty.deprecated, None);
    }

    #[test]
    fn a_cluster_mirrors_its_infrastructure_condition() {
        let ok = [
            cond(c::READY, ConditionStatus::True, c::READY_REASON, ""),
            cond(
                c::BAREMETAL_INFRASTRUCTURE_READY,
                ConditionStatus::True,
                c::READY_REASON,
                "",
            ),
        ];
        assert_eq!(
            brief(&mirror(Object::Metal3Cluster, &ok, &[], &at(1))),
            [
                t("Ready", "True", "", ""),
                t("BaremetalInfrastructureReady", "True", "", "")
            ]
        );
        let bad = [cond(
            c::BAREMETAL_INFRASTRUCTURE_READY,
            ConditionStatus::False,
            c::CONTROL_PLANE_ENDPOINT_FAILED,
            "needs host and port",
        )];
        let got = mirror(Object::Metal3Cluster, &bad, &[], &at(1));
        assert_eq!(
            brief(&got),
            [
                t("Ready", "False", "ControlPlaneEndpointFailed", "Error"),
                t(
                    "BaremetalInfrastructureReady",
                    "False",
                    "ControlPlaneEndpointFailed",
                    "Error"
                )
            ]
        );
        assert_eq!(got[0].message, "needs host and port");
        assert!(mirror(Object::Metal3Cluster, &[], &[], &at(1)).is_empty());
    }
}
