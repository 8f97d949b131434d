//! `metal3 timeline HOST` (pure): one host's life from its status and its Events — each
//! operation with when it began and how long it took, the conditions' transitions, the Events
//! in time order with their counts, retries and the last error, what `Progressing` says.

use k8s_openapi::api::events::v1::Event;
use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;
use metal3_api::v1alpha1::{BareMetalHost, ConditionStatus};
use serde::Serialize;

use crate::facts::{self, LastError, Since};
use crate::steps::{self, StateSpan, Step};
use crate::text::{self, short, table};

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Timeline {
    pub namespace: String,
    pub name: String,
    pub state: String,
    pub since: Option<Since>,
    pub operational_status: String,
    pub powered_on: bool,
    pub online: bool,
    pub error_count: i64,
    pub provisioning_fail_count: i64,
    pub last_error: Option<LastError>,
    pub progressing: Option<ConditionLine>,
    /// The operations of `status.operationHistory` (the last run of each), oldest first.
    pub operations: Vec<Operation>,
    /// Every state the step log recorded, with its start and length, oldest first (empty
    /// without a step log).
    pub states: Vec<StateSpan>,
    pub conditions: Vec<ConditionLine>,
    /// The host's Events, oldest first.
    pub events: Vec<EventLine>,
    /// Operations, condition transitions and Events merged, oldest first.
    pub entries: Vec<Entry>,
}

#[derive(Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Operation {
    /// The state the operation is: registering, inspecting, provisioning, deprovisioning.
    pub state: String,
    pub began: Timestamp,
    pub ended: Option<Timestamp>,
    /// How long it took, or has taken so far while it runs.
    pub took_seconds: i64,
    pub running: bool,
}

#[derive(Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ConditionLine {
    #[serde(rename = "type")]
    pub kind: String,
    pub status: String,
    pub reason: String,
    pub message: String,
    pub since: Timestamp,
}

#[derive(Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct EventLine {
    /// When it was first seen.
    pub time: Option<Timestamp>,
    /// When it was last seen (the series' last observation).
    pub last_seen: Option<Timestamp>,
    #[serde(rename = "type")]
    pub kind: String,
    pub reason: String,
    pub message: String,
    pub count: i32,
    pub reporter: String,
}

#[derive(Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Entry {
    pub time: Timestamp,
    /// `operation`, `condition` or `event`.
    pub kind: &'static str,
    pub text: String,
}

/// Whether `ev` is about `host` (same kind and name; same UID when the Event names one, so a
/// deleted host's Events do not show under its successor).
pub fn is_about(ev: &Event, host: &BareMetalHost) -> bool {
    let Some(r) = &ev.regarding else {
        return false;
    };
    let uid_matches = match (r.uid.as_deref(), host.uid()) {
        (Some(a), Some(b)) if !a.is_empty() => a == b,
        _ => true,
    };
    r.kind.as_deref() == Some("BareMetalHost")
        && r.name.as_deref() == Some(host.name_any().as_str())
        && uid_matches
}

/// One Event as a line, whichever API wrote it (events.k8s.io's fields, else the core/v1
/// ones it keeps as `deprecated*`).
pub fn event_line(ev: &Event) -> EventLine {
    let time = ev
        .event_time
        .as_ref()
        .map(|t| t.0)
        .or_else(|| ev.deprecated_first_timestamp.as_ref().map(|t| t.0))
        .or_else(|| ev.metadata.creation_timestamp.as_ref().map(|t| t.0));
    let last_seen = ev
        .series
        .as_ref()
        .map(|s| s.last_observed_time.0)
        .or_else(|| ev.deprecated_last_timestamp.as_ref().map(|t| t.0))
        .or(time);
    let count = ev
        .series
        .as_ref()
        .map(|s| s.count)
        .or(ev.deprecated_count)
        .unwrap_or(1)
        .max(1);
    let reporter = ev
        .reporting_controller
        .clone()
        .filter(|r| !r.is_empty())
        .or_else(|| {
            ev.deprecated_source
                .as_ref()
                .and_then(|s| s.component.clone())
        })
        .unwrap_or_default();
    EventLine {
        time,
        last_seen,
        kind: ev.type_.clone().unwrap_or_default(),
        reason: ev.reason.clone().unwrap_or_default(),
        message: ev.note.clone().unwrap_or_default(),
        count,
        reporter,
    }
}

fn status_word(s: ConditionStatus) -> &'static str {
    match s {
        ConditionStatus::True => "True",
        ConditionStatus::False => "False",
        ConditionStatus::Unknown => "Unknown",
    }
}

fn operations(host: &BareMetalHost, now: Timestamp) -> Vec<Operation> {
    let Some(status) = &host.status else {
        return Vec::new();
    };
    let h = &status.operation_history;
    let mut out: Vec<Operation> = [
        ("registering", &h.register),
        ("inspecting", &h.inspect),
        ("provisioning", &h.provision),
        ("deprovisioning", &h.deprovision),
    ]
    .into_iter()
    .filter_map(|(state, op)| {
        let began = op.start.as_ref()?.0;
        let ended = op.end.as_ref().map(|t| t.0).filter(|e| *e >= began);
        Some(Operation {
            state: state.into(),
            began,
            ended,
            took_seconds: ended.unwrap_or(now).duration_since(began).as_secs(),
            running: ended.is_none(),
        })
    })
    .collect();
    out.sort_by_key(|o| o.began);
    out
}

/// The host's timeline at `now`, from the host and the Events listed for it.
pub fn build(host: &BareMetalHost, events: &[Event], now: Timestamp) -> Timeline {
    let status = host.status.clone().unwrap_or_default();
    let conditions: Vec<ConditionLine> = status
        .conditions
        .iter()
        .map(|c| ConditionLine {
            kind: c.r#type.clone(),
            status: status_word(c.status).into(),
            reason: c.reason.clone(),
            message: c.message.clone(),
            since: c.last_transition_time.0,
        })
        .collect();
    let mut lines: Vec<EventLine> = events
        .iter()
        .filter(|e| is_about(e, host))
        .map(event_line)
        .collect();
    lines.sort_by_key(|e| (e.time, e.last_seen));
    let operations = operations(host, now);
    let entries = entries(&operations, &conditions, &lines, now);
    Timeline {
        namespace: host.namespace().unwrap_or_default(),
        name: host.name_any(),
        state: facts::state_name(&status.provisioning.state),
        since: facts::state_since(host),
        operational_status: status.operational_status.as_str().to_string(),
        powered_on: status.powered_on,
        online: host.spec.online,
        error_count: status.error_count,
        provisioning_fail_count: status.provisioning_fail_count,
        last_error: facts::last_error(host),
        progressing: conditions
            .iter()
            .find(|c| c.kind == "Progressing")
            .map(|c| ConditionLine {
                kind: c.kind.clone(),
                status: c.status.clone(),
                reason: c.reason.clone(),
                message: c.message.clone(),
                since: c.since,
            }),
        operations,
        states: Vec::new(),
        conditions,
        events: lines,
        entries,
    }
}

impl Timeline {
    /// The timeline with the host's step log: each state with when it began and how long it
    /// took, and the states entered and errors recorded among the entries.
    pub fn with_steps(mut self, steps: &[Step], now: Timestamp) -> Self {
        self.states = steps::spans(steps, now);
        for step in steps {
            let (kind, text) = if !step.progress.is_empty() {
                ("progress", step.progress.clone())
            } else if step.error.is_empty() {
                ("state", format!("entered {}", step.state))
            } else {
                ("error", format!("{} (while {})", step.error, step.state))
            };
            self.entries.push(Entry {
                time: step.at,
                kind,
                text,
            });
        }
        self.entries.sort_by_key(|e| e.time);
        self
    }
}

fn entries(
    operations: &[Operation],
    conditions: &[ConditionLine],
    events: &[EventLine],
    now: Timestamp,
) -> Vec<Entry> {
    let mut out = Vec::new();
    for o in operations {
        let took = if o.running {
            format!("running for {}", short(now.duration_since(o.began)))
        } else {
            format!(
                "took {}",
                short(o.ended.unwrap_or(now).duration_since(o.began))
            )
        };
        out.push(Entry {
            time: o.began,
            kind: "operation",
            text: format!("{} began ({took})", o.state),
        });
        if let Some(end) = o.ended {
            out.push(Entry {
                time: end,
                kind: "operation",
                text: format!("{} ended", o.state),
            });
        }
    }
    for c in conditions {
        let mut text = format!("{}={} {}", c.kind, c.status, c.reason);
        if !c.message.is_empty() {
            text.push_str(&format!(": {}", c.message));
        }
        out.push(Entry {
            time: c.since,
            kind: "condition",
            text,
        });
    }
    for e in events {
        let Some(time) = e.time else { continue };
        let mut text = format!("{} {}: {}", e.kind, e.reason, e.message);
        if e.count > 1 {
            let last = e.last_seen.map(|l| format!(", last {}", text::at(l)));
            text.push_str(&format!(" (x{}{})", e.count, last.unwrap_or_default()));
        }
        out.push(Entry {
            time,
            kind: "event",
            text,
        });
    }
    // Stable: at equal times operations come before conditions before Events.
    out.sort_by_key(|e| e.time);
    out
}

/// The timeline as plain text.
pub fn render(t: &Timeline, now: Timestamp) -> String {
    let mut out = String::new();
    let since = t
        .since
        .as_ref()
        .map(|s| {
            let ago = text::short(now.duration_since(s.time));
            format!(" since {} ({ago} ago, from {})", text::at(s.time), s.source)
        })
        .unwrap_or_default();
    let op = if t.operational_status.is_empty() {
        "(none)"
    } else {
        &t.operational_status
    };
    let mut head = vec![
        ("Host", format!("{}/{}", t.namespace, t.name)),
        ("State", format!("{}{since}", t.state)),
        (
            "Status",
            format!(
                "operational status {op}, powered {}, online {}",
                if t.powered_on { "on" } else { "off" },
                t.online
            ),
        ),
        (
            "Retries",
            format!(
                "errorCount {}, provisioningFailCount {}",
                t.error_count, t.provisioning_fail_count
            ),
        ),
    ];
    if let Some(e) = &t.last_error {
        let since = e
            .since
            .as_ref()
            .map(|s| format!(" since {}", text::at_ago(s.time, now)))
            .unwrap_or_default();
        let retry = match e.next_retry {
            Some(r) if r > now => format!("; next retry in about {}", short(r.duration_since(now))),
            Some(_) => "; retry due".into(),
            None => String::new(),
        };
        head.push((
            "Last error",
            format!("{}: {}{since}{retry}", e.error_type, e.message),
        ));
    }
    if let Some(p) = &t.progressing {
        head.push((
            "Progressing",
            format!(
                "{} {}: {} (since {})",
                p.status,
                p.reason,
                p.message,
                text::at(p.since)
            ),
        ));
    }
    for (k, v) in head {
        out.push_str(&format!("{:<12} {v}\n", format!("{k}:")));
    }
    out.push('\n');
    if t.operations.is_empty() {
        out.push_str("Operations: none recorded\n");
    } else {
        let rows: Vec<Vec<String>> = t
            .operations
            .iter()
            .map(|o| {
                vec![
                    o.state.clone(),
                    text::at(o.began),
                    o.ended.map(text::at).unwrap_or_else(|| "-".into()),
                    format!(
                        "{}{}",
                        short(k8s_openapi::jiff::SignedDuration::from_secs(o.took_seconds)),
                        if o.running { " so far" } else { "" }
                    ),
                ]
            })
            .collect();
        out.push_str(&table(&["OPERATION", "BEGAN", "ENDED", "TOOK"], &rows));
    }
    if !t.states.is_empty() {
        out.push('\n');
        let rows: Vec<Vec<String>> = t
            .states
            .iter()
            .map(|s| {
                vec![
                    s.state.clone(),
                    text::at(s.began),
                    format!(
                        "{}{}",
                        short(k8s_openapi::jiff::SignedDuration::from_secs(s.took_seconds)),
                        if s.ended.is_none() { " so far" } else { "" }
                    ),
                    s.errors.to_string(),
                    s.requests
                        .map(|r| r.to_string())
                        .unwrap_or_else(|| "-".into()),
                ]
            })
            .collect();
        out.push_str(&table(
            &["STATE", "BEGAN", "TOOK", "ERRORS", "BMC REQUESTS"],
            &rows,
        ));
    }
    out.push('\n');
    let rows: Vec<Vec<String>> = t
        .entries
        .iter()
        .map(|e| {
            vec![
                text::at(e.time),
                e.kind.into(),
                text::one_line(&e.text, 120),
            ]
        })
        .collect();
    out.push_str(&table(&["TIME", "KIND", "WHAT"], &rows));
    let undated = t.events.iter().filter(|e| e.time.is_none()).count();
    if undated > 0 {
        out.push_str(&format!("({undated} Events without a time are left out)\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::fixtures::*;
    use k8s_openapi::api::core::v1::{EventSource, ObjectReference};
    use k8s_openapi::api::events::v1::EventSeries;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;

    #[test]
    fn the_step_log_adds_each_state_with_its_length_and_the_errors() {
        let now = t("2026-12-06T10:10:00Z");
        let h = host("ns", "h", "deprovisioning");
        let step = |at: &str, state: &str, error: &str| Step {
            at: t(at),
            state: state.into(),
            error: error.into(),
            progress: String::new(),
            requests: None,
        };
        let tl = build(&h, &[], now).with_steps(
            &[
                step("2026-12-06T10:00:00Z", "provisioning", ""),
                step(
                    "2026-12-06T10:03:00Z",
                    "provisioning",
                    "provisioning error: 404",
                ),
                step("2026-12-06T10:04:00Z", "deprovisioning", ""),
            ],
            now,
        );
        let states: Vec<(&str, i64, usize)> = tl
            .states
            .iter()
            .map(|s| (s.state.as_str(), s.took_seconds, s.errors))
            .collect();
        assert_eq!(
            states,
            [("provisioning", 240, 1), ("deprovisioning", 360, 0)]
        );
        let kinds: Vec<&str> = tl.entries.iter().map(|e| e.kind).collect();
        assert_eq!(kinds, ["state", "error", "state"]);
        assert_eq!(
            tl.entries[1].text,
            "provisioning error: 404 (while provisioning)"
        );
        let text = render(&tl, now);
        assert!(text.contains("STATE"), "{text}");
        assert!(
            text.contains("deprovisioning  2026-12-06T10:04:00Z  6m0s so far  0"),
            "{text}"
        );
    }

    const NOW: &str = "2026-12-06T10:00:00Z";

    fn regarding(name: &str, uid: &str) -> Option<ObjectReference> {
        Some(ObjectReference {
            kind: Some("BareMetalHost".into()),
            name: Some(name.into()),
            uid: Some(uid.into()),
            ..Default::default()
        })
    }

    fn event(reason: &str, at: &str, uid: &str) -> Event {
        Event {
            event_time: Some(MicroTime(t(at))),
            reason: Some(reason.into()),
            note: Some(format!("{reason} happened")),
            type_: Some("Normal".into()),
            regarding: regarding("node-0", uid),
            reporting_controller: Some("metal3-baremetal-controller".into()),
            ..Default::default()
        }
    }

    fn the_host() -> BareMetalHost {
        let mut h = host("ns", "node-0", "provisioning");
        let s = status(&mut h);
        s.operation_history.register =
            op(Some("2026-12-06T09:00:00Z"), Some("2026-12-06T09:00:12Z"));
        s.operation_history.inspect =
            op(Some("2026-12-06T09:00:12Z"), Some("2026-12-06T09:01:15Z"));
        s.operation_history.provision = op(Some("2026-12-06T09:50:00Z"), None);
        s.error_count = 3;
        s.provisioning_fail_count = 1;
        s.error_type = Some(metal3_api::v1alpha1::ErrorType::Provisioning);
        s.error_message = "image checksum mismatch".into();
        s.last_updated = Some(time("2026-12-06T09:58:00Z"));
        s.conditions = vec![cond(
            "Progressing",
            true,
            "Provisioning",
            "agent: writing image 45%",
            "2026-12-06T09:50:00Z",
        )];
        h
    }

    #[test]
    fn operations_are_dated_and_timed() {
        let tl = build(&the_host(), &[], t(NOW));
        let ops: Vec<(&str, i64, bool)> = tl
            .operations
            .iter()
            .map(|o| (o.state.as_str(), o.took_seconds, o.running))
            .collect();
        assert_eq!(
            ops,
            vec![
                ("registering", 12, false),
                ("inspecting", 63, false),
                ("provisioning", 600, true),
            ]
        );
        assert_eq!(
            tl.since.as_ref().map(|s| s.time),
            Some(t("2026-12-06T09:50:00Z"))
        );
        assert_eq!(
            tl.progressing.as_ref().map(|p| p.message.as_str()),
            Some("agent: writing image 45%")
        );
    }

    #[test]
    fn events_of_this_host_only_sorted_with_counts_from_either_api() {
        let mut repeated = event("PowerOn", "2026-12-06T09:00:05Z", "uid-node-0");
        repeated.series = Some(EventSeries {
            count: 4,
            last_observed_time: MicroTime(t("2026-12-06T09:02:00Z")),
        });
        // A core/v1 Event as the events.k8s.io API shows it: deprecated* fields.
        let core = Event {
            deprecated_first_timestamp: Some(time("2026-12-06T09:00:01Z")),
            deprecated_last_timestamp: Some(time("2026-12-06T09:00:30Z")),
            deprecated_count: Some(2),
            deprecated_source: Some(EventSource {
                component: Some("old-bmo".into()),
                ..Default::default()
            }),
            reason: Some("Registered".into()),
            note: Some("registered".into()),
            type_: Some("Normal".into()),
            regarding: regarding("node-0", ""),
            ..Default::default()
        };
        let events = vec![
            repeated,
            core,
            event("Other", "2026-12-06T09:00:00Z", "uid-of-an-earlier-node-0"),
        ];
        let tl = build(&the_host(), &events, t(NOW));
        let got: Vec<(&str, i32, &str)> = tl
            .events
            .iter()
            .map(|e| (e.reason.as_str(), e.count, e.reporter.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("Registered", 2, "old-bmo"),
                ("PowerOn", 4, "metal3-baremetal-controller"),
            ]
        );
        assert_eq!(tl.events[1].last_seen, Some(t("2026-12-06T09:02:00Z")));
    }

    #[test]
    fn entries_merge_in_time_order_and_render() {
        let events = vec![event(
            "ProvisioningStarted",
            "2026-12-06T09:50:01Z",
            "uid-node-0",
        )];
        let tl = build(&the_host(), &events, t(NOW));
        let kinds: Vec<&str> = tl.entries.iter().map(|e| e.kind).collect();
        assert_eq!(
            kinds,
            vec![
                "operation",
                "operation",
                "operation",
                "operation",
                "operation",
                "condition",
                "event"
            ]
        );
        let text = render(&tl, t(NOW));
        for want in [
            "Host:        ns/node-0",
            "State:       provisioning since 2026-12-06T09:50:00Z (10m0s ago, from operationHistory.provision.start)",
            "Retries:     errorCount 3, provisioningFailCount 1",
            "Last error:  provisioning error: image checksum mismatch since 2026-12-06T09:58:00Z (2m0s ago); next retry in about",
            "Progressing: True Provisioning: agent: writing image 45%",
            "inspecting    2026-12-06T09:00:12Z  2026-12-06T09:01:15Z  1m3s",
            "provisioning  2026-12-06T09:50:00Z  -                     10m0s so far",
            "2026-12-06T09:50:01Z  event      Normal ProvisioningStarted: ProvisioningStarted happened",
        ] {
            assert!(text.contains(want), "{want:?} in\n{text}");
        }
    }
}
