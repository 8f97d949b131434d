//! `metal3 status` (pure): the fleet summed up from its hosts and the operator's Lease — hosts
//! by state and operational status, errors grouped, the hosts stuck longest in a transient
//! state, what is provisioning now, and the BMC/backend health the conditions show.

use std::collections::BTreeMap;

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::ResourceExt;
use metal3_api::v1alpha1::{BareMetalHost, ConditionStatus, ProvisioningState};
use serde::Serialize;

use crate::facts::{self, Since};
use crate::text::{self, short, table};

/// Hosts named per error group, at most.
const EXAMPLES: usize = 3;
/// Stuck hosts listed, at most.
const STUCK: usize = 10;
/// Conditions whose counts show the BMC's and the backend's health.
const HEALTH_CONDITIONS: &[&str] = &["Manageable", "Healthy"];

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FleetStatus {
    /// The namespace looked at; `None` for all of them.
    pub namespace: Option<String>,
    pub hosts: usize,
    pub by_state: BTreeMap<String, usize>,
    pub by_operational_status: BTreeMap<String, usize>,
    pub errors: Vec<ErrorGroup>,
    pub stuck: Vec<Stuck>,
    pub provisioning: Vec<Provisioning>,
    /// Per health condition type, hosts per condition status (`True`, `False`, `Unknown`,
    /// `unset`).
    pub health: BTreeMap<String, BTreeMap<String, usize>>,
    /// Hosts whose `Manageable` or `Healthy` condition is not true, with the reason.
    pub unhealthy: Vec<Unhealthy>,
    pub operator: Vec<OperatorLease>,
}

#[derive(Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ErrorGroup {
    pub error_type: String,
    pub message: String,
    pub count: usize,
    pub examples: Vec<String>,
}

#[derive(Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Stuck {
    pub host: String,
    pub state: String,
    pub since: Option<Since>,
    pub for_seconds: Option<i64>,
}

#[derive(Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Provisioning {
    pub host: String,
    pub image: String,
    pub since: Option<Since>,
    pub progress: String,
}

#[derive(Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Unhealthy {
    pub host: String,
    pub condition: String,
    pub status: String,
    pub reason: String,
    pub message: String,
}

#[derive(Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct OperatorLease {
    pub namespace: String,
    pub name: String,
    pub holder: String,
    pub renewed: Option<Timestamp>,
    /// Whether the holder renewed it within its duration.
    pub held: bool,
}

/// The fleet's status at `now`.
pub fn summarise(
    namespace: Option<&str>,
    hosts: &[BareMetalHost],
    leases: &[Lease],
    now: Timestamp,
) -> FleetStatus {
    let mut by_state = BTreeMap::new();
    let mut by_operational_status = BTreeMap::new();
    for h in hosts {
        *by_state
            .entry(facts::state_name(&h.provisioning_state()))
            .or_insert(0) += 1;
        let op = match h.operational_status().as_str() {
            "" => "(none)".to_string(),
            s => s.to_string(),
        };
        *by_operational_status.entry(op).or_insert(0) += 1;
    }
    let (health, unhealthy) = health(hosts);
    FleetStatus {
        namespace: namespace.map(str::to_string),
        hosts: hosts.len(),
        by_state,
        by_operational_status,
        errors: errors(hosts),
        stuck: stuck(hosts, now),
        provisioning: provisioning(hosts),
        health,
        unhealthy,
        operator: leases.iter().map(|l| lease(l, now)).collect(),
    }
}

/// Hosts with an error, grouped by type and message, largest group first.
fn errors(hosts: &[BareMetalHost]) -> Vec<ErrorGroup> {
    let mut groups: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    for h in hosts {
        if let Some(e) = facts::last_error(h) {
            groups
                .entry((e.error_type, e.message))
                .or_default()
                .push(facts::key(h));
        }
    }
    let mut out: Vec<ErrorGroup> = groups
        .into_iter()
        .map(|((error_type, message), mut names)| {
            names.sort();
            ErrorGroup {
                error_type,
                message,
                count: names.len(),
                examples: names.into_iter().take(EXAMPLES).collect(),
            }
        })
        .collect();
    out.sort_by_key(|g| std::cmp::Reverse(g.count));
    out
}

/// Hosts in a transient state, longest first (those without a known start last).
fn stuck(hosts: &[BareMetalHost], now: Timestamp) -> Vec<Stuck> {
    let mut out: Vec<Stuck> = hosts
        .iter()
        .filter(|h| facts::is_transient(&h.provisioning_state()))
        .map(|h| {
            let since = facts::state_since(h);
            Stuck {
                host: facts::key(h),
                state: facts::state_name(&h.provisioning_state()),
                for_seconds: since.as_ref().map(|s| now.duration_since(s.time).as_secs()),
                since,
            }
        })
        .collect();
    out.sort_by(|a, b| {
        b.for_seconds
            .unwrap_or(i64::MIN)
            .cmp(&a.for_seconds.unwrap_or(i64::MIN))
            .then_with(|| a.host.cmp(&b.host))
    });
    out.truncate(STUCK);
    out
}

fn provisioning(hosts: &[BareMetalHost]) -> Vec<Provisioning> {
    let mut out: Vec<Provisioning> = hosts
        .iter()
        .filter(|h| h.provisioning_state() == ProvisioningState::Provisioning)
        .map(|h| Provisioning {
            host: facts::key(h),
            image: h
                .spec
                .image
                .as_ref()
                .map(|i| i.url.clone())
                .unwrap_or_default(),
            since: facts::state_since(h),
            progress: facts::condition(h, "Progressing")
                .map(|c| c.message.clone())
                .unwrap_or_default(),
        })
        .collect();
    out.sort_by(|a, b| a.host.cmp(&b.host));
    out
}

fn condition_status(s: ConditionStatus) -> &'static str {
    match s {
        ConditionStatus::True => "True",
        ConditionStatus::False => "False",
        ConditionStatus::Unknown => "Unknown",
    }
}

type HealthCounts = BTreeMap<String, BTreeMap<String, usize>>;

fn health(hosts: &[BareMetalHost]) -> (HealthCounts, Vec<Unhealthy>) {
    let mut counts: HealthCounts = BTreeMap::new();
    let mut unhealthy = Vec::new();
    for kind in HEALTH_CONDITIONS {
        let per = counts.entry(kind.to_string()).or_default();
        for h in hosts {
            let Some(c) = facts::condition(h, kind) else {
                *per.entry("unset".into()).or_insert(0) += 1;
                continue;
            };
            *per.entry(condition_status(c.status).into()).or_insert(0) += 1;
            // A host still registering is not yet known to be unmanageable.
            let registering = c.reason == "Registering";
            if c.status != ConditionStatus::True && !registering {
                unhealthy.push(Unhealthy {
                    host: facts::key(h),
                    condition: kind.to_string(),
                    status: condition_status(c.status).into(),
                    reason: c.reason.clone(),
                    message: c.message.clone(),
                });
            }
        }
    }
    unhealthy.sort_by(|a, b| (&a.host, &a.condition).cmp(&(&b.host, &b.condition)));
    (counts, unhealthy)
}

fn lease(l: &Lease, now: Timestamp) -> OperatorLease {
    let spec = l.spec.clone().unwrap_or_default();
    let renewed = spec.renew_time.map(|t| t.0);
    let duration = SignedDuration::from_secs(i64::from(spec.lease_duration_seconds.unwrap_or(0)));
    OperatorLease {
        namespace: l.namespace().unwrap_or_default(),
        name: l.name_any(),
        holder: spec.holder_identity.unwrap_or_default(),
        held: renewed.is_some_and(|r| now.duration_since(r) <= duration),
        renewed,
    }
}

/// The status as aligned plain text.
pub fn render(s: &FleetStatus, now: Timestamp) -> String {
    let mut out = String::new();
    let scope = s
        .namespace
        .as_deref()
        .map(|n| format!("namespace {n}"))
        .unwrap_or_else(|| "all namespaces".into());
    out.push_str(&format!("{} hosts in {scope}\n\n", s.hosts));
    let counts = |m: &BTreeMap<String, usize>| -> Vec<Vec<String>> {
        m.iter()
            .map(|(k, v)| vec![k.clone(), v.to_string()])
            .collect()
    };
    out.push_str(&table(&["STATE", "HOSTS"], &counts(&s.by_state)));
    out.push('\n');
    out.push_str(&table(
        &["OPERATIONAL STATUS", "HOSTS"],
        &counts(&s.by_operational_status),
    ));
    out.push('\n');
    if s.errors.is_empty() {
        out.push_str("Errors: none\n");
    } else {
        let rows: Vec<Vec<String>> = s
            .errors
            .iter()
            .map(|e| {
                let mut hosts = e
                    .examples
                    .iter()
                    .map(|h| shown(s, h))
                    .collect::<Vec<_>>()
                    .join(", ");
                if e.count > e.examples.len() {
                    hosts.push_str(&format!(", +{} more", e.count - e.examples.len()));
                }
                vec![
                    e.count.to_string(),
                    e.error_type.clone(),
                    text::one_line(&e.message, 60),
                    hosts,
                ]
            })
            .collect();
        out.push_str(&table(&["ERRORS", "TYPE", "MESSAGE", "HOSTS"], &rows));
    }
    out.push('\n');
    render_stuck(&mut out, s, now);
    render_health(&mut out, s, now);
    out
}

/// A host as the text shows it: its name alone within one namespace (as kubectl does),
/// `namespace/name` across all.
fn shown(s: &FleetStatus, host: &str) -> String {
    s.namespace
        .as_deref()
        .and_then(|ns| host.strip_prefix(ns)?.strip_prefix('/'))
        .unwrap_or(host)
        .to_string()
}

fn since_text(since: &Option<Since>, now: Timestamp) -> (String, String) {
    match since {
        Some(s) => (short(now.duration_since(s.time)), text::at(s.time)),
        None => ("?".into(), "unknown".into()),
    }
}

fn render_stuck(out: &mut String, s: &FleetStatus, now: Timestamp) {
    if s.stuck.is_empty() {
        out.push_str("In a transient state: none\n");
    } else {
        let rows: Vec<Vec<String>> = s
            .stuck
            .iter()
            .map(|h| {
                let (age, at) = since_text(&h.since, now);
                vec![shown(s, &h.host), h.state.clone(), age, at]
            })
            .collect();
        out.push_str(&table(
            &["LONGEST IN A TRANSIENT STATE", "STATE", "FOR", "SINCE"],
            &rows,
        ));
    }
    out.push('\n');
    if s.provisioning.is_empty() {
        out.push_str("Provisioning now: none\n");
    } else {
        let rows: Vec<Vec<String>> = s
            .provisioning
            .iter()
            .map(|p| {
                let (age, _) = since_text(&p.since, now);
                vec![
                    shown(s, &p.host),
                    age,
                    text::one_line(&p.image, 50),
                    text::one_line(&p.progress, 50),
                ]
            })
            .collect();
        out.push_str(&table(
            &["PROVISIONING NOW", "FOR", "IMAGE", "PROGRESS"],
            &rows,
        ));
    }
    out.push('\n');
}

fn render_health(out: &mut String, s: &FleetStatus, now: Timestamp) {
    let rows: Vec<Vec<String>> = s
        .health
        .iter()
        .map(|(kind, per)| {
            let n = |k: &str| per.get(k).copied().unwrap_or(0).to_string();
            vec![
                kind.clone(),
                n("True"),
                n("False"),
                n("Unknown"),
                n("unset"),
            ]
        })
        .collect();
    out.push_str(&table(
        &["BMC/BACKEND", "TRUE", "FALSE", "UNKNOWN", "UNSET"],
        &rows,
    ));
    if !s.unhealthy.is_empty() {
        let rows: Vec<Vec<String>> = s
            .unhealthy
            .iter()
            .map(|u| {
                vec![
                    shown(s, &u.host),
                    format!("{}={}", u.condition, u.status),
                    u.reason.clone(),
                    text::one_line(&u.message, 60),
                ]
            })
            .collect();
        out.push('\n');
        out.push_str(&table(
            &["NOT HEALTHY", "CONDITION", "REASON", "MESSAGE"],
            &rows,
        ));
    }
    out.push('\n');
    if s.operator.is_empty() {
        out.push_str(
            "Operator: no baremetal-operator Lease found (leader election off, or not readable)\n",
        );
    }
    for l in &s.operator {
        let renewed = l
            .renewed
            .map(|r| text::at_ago(r, now))
            .unwrap_or_else(|| "never".into());
        let state = if l.held { "held" } else { "EXPIRED" };
        out.push_str(&format!(
            "Operator: Lease {}/{} {state} by {} (renewed {renewed})\n",
            l.namespace,
            l.name,
            if l.holder.is_empty() {
                "nobody"
            } else {
                &l.holder
            },
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::fixtures::*;
    use k8s_openapi::api::coordination::v1::LeaseSpec;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
    use metal3_api::v1alpha1::{ErrorType, OperationalStatus};

    const NOW: &str = "2026-12-06T10:00:00Z";

    fn failed(name: &str, message: &str) -> BareMetalHost {
        let mut h = host("ns", name, "registering");
        let s = status(&mut h);
        s.operational_status = OperationalStatus::Error;
        s.error_type = Some(ErrorType::Registration);
        s.error_message = message.into();
        s.conditions = vec![cond(
            "Manageable",
            false,
            "RegistrationFailed",
            message,
            "2026-12-06T09:00:00Z",
        )];
        h
    }

    fn fleet() -> Vec<BareMetalHost> {
        let mut inspecting = host("ns", "c", "inspecting");
        status(&mut inspecting).operation_history.inspect = op(Some("2026-12-06T09:50:00Z"), None);
        let mut provisioning = host("ns", "d", "provisioning");
        status(&mut provisioning).operation_history.provision =
            op(Some("2026-12-06T09:30:00Z"), None);
        status(&mut provisioning).conditions = vec![
            cond(
                "Progressing",
                true,
                "Provisioning",
                "writing 40%",
                "2026-12-06T09:30:00Z",
            ),
            cond("Manageable", true, "Manageable", "", "2026-12-06T09:00:00Z"),
            cond("Healthy", true, "Healthy", "", "2026-12-06T09:00:00Z"),
        ];
        provisioning.spec.image = Some(metal3_api::v1alpha1::Image {
            url: "http://images/os.qcow2".into(),
            ..Default::default()
        });
        vec![
            failed("a", "401 Unauthorized"),
            failed("b", "401 Unauthorized"),
            failed("e", "connection refused"),
            inspecting,
            provisioning,
            host("ns", "f", "available"),
        ]
    }

    #[test]
    fn counts_states_and_groups_errors() {
        let s = summarise(Some("ns"), &fleet(), &[], t(NOW));
        assert_eq!(s.hosts, 6);
        assert_eq!(s.by_state.get("registering"), Some(&3));
        assert_eq!(s.by_state.get("available"), Some(&1));
        assert_eq!(s.by_operational_status.get("error"), Some(&3));
        assert_eq!(s.by_operational_status.get("(none)"), Some(&3));
        assert_eq!(
            s.errors[0],
            ErrorGroup {
                error_type: "registration error".into(),
                message: "401 Unauthorized".into(),
                count: 2,
                examples: vec!["ns/a".into(), "ns/b".into()],
            }
        );
        assert_eq!(s.errors[1].count, 1);
    }

    #[test]
    fn the_longest_stuck_come_first_and_unknown_starts_last() {
        let s = summarise(Some("ns"), &fleet(), &[], t(NOW));
        let order: Vec<(&str, Option<i64>)> = s
            .stuck
            .iter()
            .map(|h| (h.host.as_str(), h.for_seconds))
            .collect();
        assert_eq!(
            order,
            vec![
                ("ns/d", Some(1800)),
                ("ns/c", Some(600)),
                ("ns/a", None),
                ("ns/b", None),
                ("ns/e", None),
            ]
        );
        assert_eq!(s.provisioning.len(), 1);
        assert_eq!(s.provisioning[0].progress, "writing 40%");
        assert_eq!(s.provisioning[0].image, "http://images/os.qcow2");
    }

    #[test]
    fn health_counts_and_the_unmanageable_hosts() {
        let s = summarise(Some("ns"), &fleet(), &[], t(NOW));
        let manageable = s.health.get("Manageable").expect("Manageable");
        assert_eq!(manageable.get("False"), Some(&3));
        assert_eq!(manageable.get("True"), Some(&1));
        assert_eq!(manageable.get("unset"), Some(&2));
        assert_eq!(s.unhealthy.len(), 3);
        assert_eq!(s.unhealthy[0].reason, "RegistrationFailed");
    }

    #[test]
    fn a_lease_not_renewed_in_time_is_expired() {
        let lease = |renewed: &str| Lease {
            metadata: kube::api::ObjectMeta {
                name: Some("baremetal-operator".into()),
                namespace: Some("sys".into()),
                ..Default::default()
            },
            spec: Some(LeaseSpec {
                holder_identity: Some("pod-1".into()),
                lease_duration_seconds: Some(15),
                renew_time: Some(MicroTime(t(renewed))),
                ..Default::default()
            }),
        };
        let s = summarise(
            None,
            &[],
            &[lease("2026-12-06T09:59:50Z"), lease("2026-12-06T09:59:00Z")],
            t(NOW),
        );
        assert!(s.operator[0].held);
        assert!(!s.operator[1].held);
        let text = render(&s, t(NOW));
        assert!(text.contains("0 hosts in all namespaces"), "{text}");
        assert!(
            text.contains("Lease sys/baremetal-operator held by pod-1"),
            "{text}"
        );
        assert!(text.contains("EXPIRED"), "{text}");
    }

    #[test]
    fn the_text_shows_every_section() {
        let s = summarise(Some("ns"), &fleet(), &[], t(NOW));
        let text = render(&s, t(NOW));
        for want in [
            "6 hosts in namespace ns",
            "registering   3",
            "2       registration error  401 Unauthorized",
            "d                             provisioning  30m0s",
            "PROVISIONING NOW",
            "writing 40%",
            "Manageable   1     3",
            "No baremetal-operator Lease".to_lowercase().as_str(),
        ] {
            assert!(
                text.to_lowercase().contains(&want.to_lowercase()),
                "{want:?} in\n{text}"
            );
        }
    }
}
