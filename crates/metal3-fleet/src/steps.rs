//! A host's step log (pure): every provisioning state it entered, every step the backend
//! reported (the agent's: booted, inspecting, writing the image, …) and every new error, with
//! when, kept by the operator in a ConfigMap beside the host so that `metal3 timeline` and the
//! fleet page can tell each state's start and length — the status keeps only the last run of
//! four operations. Bounded to the last [`MAX_STEPS`] steps; no credentials (states and the
//! error messages the status shows anyway).
//!
//! The ConfigMap is `<host>.steps` in the host's namespace, owned by the host (so it goes with
//! it), labelled [`HOST_LABEL`] with the host's name, its steps as JSON under [`DATA_KEY`].

use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// Steps kept per host; older ones are dropped.
pub const MAX_STEPS: usize = 64;
/// The ConfigMap's data key holding the steps.
pub const DATA_KEY: &str = "steps.json";
/// Label on the ConfigMap naming its host.
pub const HOST_LABEL: &str = "metal3.io/step-log-of";
const SUFFIX: &str = ".steps";
/// The longest object name Kubernetes accepts.
const MAX_NAME: usize = 253;

/// One step.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Step {
    pub at: Timestamp,
    /// The state entered, as the status names it; for an error, the state it happened in.
    pub state: String,
    /// `type: message` of a new error; empty for a state entered.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub error: String,
    /// What the backend reported it was doing (the agent's or Ironic's step, as the host's
    /// `Progressing` condition said it, without counts and rates); empty for other steps.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub progress: String,
    /// The requests the operator had sent to the host's BMC by then (counted from the
    /// operator's start), when the backend counts them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests: Option<u64>,
}

/// A state the host was in, from the steps.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StateSpan {
    pub state: String,
    pub began: Timestamp,
    /// When the next state began; `None` for the current one.
    pub ended: Option<Timestamp>,
    /// How long it lasted, or has lasted so far.
    pub took_seconds: i64,
    /// Errors recorded while in it.
    pub errors: usize,
    /// Requests sent to the BMC while in it, when both ends were counted by one run of the
    /// operator (a restart starts the count again).
    pub requests: Option<u64>,
}

/// The ConfigMap of host `host`'s steps; `None` for a name too long to suffix.
pub fn config_map_name(host: &str) -> Option<String> {
    (host.len() + SUFFIX.len() <= MAX_NAME).then(|| format!("{host}{SUFFIX}"))
}

/// The steps stored as `data`; what cannot be read counts as none (a log, not a record).
pub fn parse(data: &str) -> Vec<Step> {
    serde_json::from_str(data).unwrap_or_default()
}

/// The steps a step-log ConfigMap holds (none when it holds none that can be read).
pub fn of_config_map(cm: &ConfigMap) -> Vec<Step> {
    cm.data
        .as_ref()
        .and_then(|d| d.get(DATA_KEY))
        .map(|s| parse(s))
        .unwrap_or_default()
}

/// `steps` as stored.
pub fn render(steps: &[Step]) -> String {
    serde_json::to_string(steps).unwrap_or_else(|_| "[]".into())
}

/// Appends `step`, keeping the last [`MAX_STEPS`]. A step equal to the last one but for its
/// time (a pass retried after a conflicting write) is not repeated.
pub fn push(steps: &mut Vec<Step>, step: Step) {
    if steps.last().is_some_and(|last| {
        last.state == step.state && last.error == step.error && last.progress == step.progress
    }) {
        return;
    }
    steps.push(step);
    if steps.len() > MAX_STEPS {
        let extra = steps.len() - MAX_STEPS;
        steps.drain(..extra);
    }
}

/// The step a `Progressing` message names, without what changes while it runs: the text before
/// the first comma ("writing the image: writing" of "writing the image: writing, 1.5 GiB of
/// 4.0 GiB (37%) at 85.0 MiB/s"). Empty for nothing.
pub fn progress_step(message: &str) -> String {
    message.split(',').next().unwrap_or("").trim().to_string()
}

/// The states the steps went through, each with its start and length, oldest first.
pub fn spans(steps: &[Step], now: Timestamp) -> Vec<StateSpan> {
    let mut spans: Vec<StateSpan> = Vec::new();
    let mut begun_with: Option<u64> = None;
    for step in steps {
        if !step.progress.is_empty() {
            continue;
        }
        if !step.error.is_empty() {
            if let Some(current) = spans.last_mut() {
                current.errors += 1;
            }
            continue;
        }
        if let Some(current) = spans.last_mut() {
            current.ended = Some(step.at);
            current.took_seconds = step.at.duration_since(current.began).as_secs().max(0);
            current.requests = match (begun_with, step.requests) {
                (Some(from), Some(to)) if to >= from => Some(to - from),
                _ => None,
            };
        }
        begun_with = step.requests;
        spans.push(StateSpan {
            state: step.state.clone(),
            began: step.at,
            ended: None,
            took_seconds: now.duration_since(step.at).as_secs().max(0),
            errors: 0,
            requests: None,
        });
    }
    spans
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + s).expect("time")
    }

    fn entered(s: i64, state: &str) -> Step {
        Step {
            at: at(s),
            state: state.into(),
            error: String::new(),
            progress: String::new(),
            requests: None,
        }
    }

    fn counted(s: i64, state: &str, requests: u64) -> Step {
        Step {
            requests: Some(requests),
            ..entered(s, state)
        }
    }

    #[test]
    fn states_have_their_start_and_length_and_count_their_errors() {
        let steps = vec![
            entered(0, "registering"),
            entered(5, "inspecting"),
            entered(65, "available"),
            entered(100, "provisioning"),
            Step {
                at: at(110),
                state: "provisioning".into(),
                error: "provisioning error: 404".into(),
                progress: String::new(),
                requests: None,
            },
            Step {
                progress: "writing the image: writing".into(),
                ..entered(108, "provisioning")
            },
            entered(111, "deprovisioning"),
        ];
        let spans = spans(&steps, at(131));
        let view: Vec<(&str, i64, Option<Timestamp>, usize)> = spans
            .iter()
            .map(|s| (s.state.as_str(), s.took_seconds, s.ended, s.errors))
            .collect();
        assert_eq!(
            view,
            [
                ("registering", 5, Some(at(5)), 0),
                ("inspecting", 60, Some(at(65)), 0),
                ("available", 35, Some(at(100)), 0),
                ("provisioning", 11, Some(at(111)), 1),
                ("deprovisioning", 20, None, 0),
            ]
        );
    }

    #[test]
    fn requests_per_state_come_from_the_counts_at_its_ends_within_one_run() {
        let steps = vec![
            counted(0, "registering", 0),
            counted(5, "inspecting", 4),
            counted(65, "available", 30),
            // The operator restarted: its count began again.
            counted(100, "provisioning", 2),
            entered(120, "provisioned"),
        ];
        let requests: Vec<Option<u64>> =
            spans(&steps, at(130)).iter().map(|s| s.requests).collect();
        assert_eq!(requests, [Some(4), Some(26), None, None, None]);
    }

    #[test]
    fn a_progress_step_is_its_message_before_the_counts() {
        assert_eq!(
            progress_step("writing the image: writing, 1.5 GiB of 4.0 GiB (37%) at 85.0 MiB/s"),
            "writing the image: writing"
        );
        assert_eq!(progress_step("cleaning"), "cleaning");
        assert_eq!(progress_step(""), "");
    }

    #[test]
    fn the_log_is_bounded_and_does_not_repeat_a_step() {
        let mut steps = Vec::new();
        for i in 0..100 {
            push(&mut steps, entered(i, if i % 2 == 0 { "a" } else { "b" }));
            push(&mut steps, entered(i, if i % 2 == 0 { "a" } else { "b" }));
        }
        assert_eq!(steps.len(), MAX_STEPS);
        assert_eq!(steps.last().map(|s| s.at), Some(at(99)));
        assert_eq!(
            steps.first().map(|s| s.at),
            Some(at(100 - MAX_STEPS as i64))
        );
    }

    #[test]
    fn stored_steps_round_trip_and_garbage_reads_as_none() {
        let steps = vec![entered(0, "registering")];
        let text = render(&steps);
        assert!(!text.contains("error"), "{text}");
        assert_eq!(parse(&text), steps);
        assert_eq!(parse("not json"), Vec::<Step>::new());
    }

    #[test]
    fn the_config_map_is_named_after_the_host_when_it_fits() {
        assert_eq!(config_map_name("sim-0").as_deref(), Some("sim-0.steps"));
        assert_eq!(
            config_map_name(&"x".repeat(247)).map(|n| n.len()),
            Some(253)
        );
        assert_eq!(config_map_name(&"x".repeat(248)), None);
    }
}
