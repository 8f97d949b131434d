//! What the fleet commands read off one BareMetalHost (pure): since when it is in its state,
//! its last error and when the operator will retry, its conditions.

use std::time::Duration;

use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::ResourceExt;
use metal3_api::v1alpha1::{BareMetalHost, Condition, OperationMetric, ProvisioningState};
use serde::Serialize;

/// The states a host passes through on its way somewhere; a host should not stay in one long.
pub const TRANSIENT: &[ProvisioningState] = &[
    ProvisioningState::Registering,
    ProvisioningState::Inspecting,
    ProvisioningState::Preparing,
    ProvisioningState::Provisioning,
    ProvisioningState::Deprovisioning,
    ProvisioningState::PoweringOffBeforeDelete,
    ProvisioningState::Deleting,
];

/// The operator's retry unit in production (`--error-backoff-seconds` default).
pub const BACKOFF_UNIT: Duration = Duration::from_secs(60);

/// A point in time and the status field it was read from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Since {
    pub time: Timestamp,
    pub source: &'static str,
}

/// The host's last error, as its status keeps it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LastError {
    pub error_type: String,
    pub message: String,
    /// When the failure was saved (the operator's back-off counts from it).
    pub since: Option<Since>,
    pub error_count: i64,
    /// When the operator retries, with the production back-off unit; past when it is due.
    pub next_retry: Option<Timestamp>,
}

/// `namespace/name`.
pub fn key(host: &BareMetalHost) -> String {
    format!(
        "{}/{}",
        host.namespace().unwrap_or_default(),
        host.name_any()
    )
}

/// The state as shown: the wire value, `(none)` before the operator wrote one.
pub fn state_name(state: &ProvisioningState) -> String {
    match state.as_str() {
        "" => "(none)".into(),
        s => s.into(),
    }
}

pub fn is_transient(state: &ProvisioningState) -> bool {
    TRANSIENT.contains(state)
}

/// The condition of type `kind`, if the operator set it.
pub fn condition<'a>(host: &'a BareMetalHost, kind: &str) -> Option<&'a Condition> {
    host.status
        .as_ref()
        .and_then(|s| s.conditions.iter().find(|c| c.r#type == kind))
}

/// The operation-history record the state belongs to, with its field name.
pub fn operation_of<'a>(
    host: &'a BareMetalHost,
    state: &ProvisioningState,
) -> Option<(&'static str, &'a OperationMetric)> {
    let history = &host.status.as_ref()?.operation_history;
    match state {
        ProvisioningState::Registering => Some(("register", &history.register)),
        ProvisioningState::Inspecting => Some(("inspect", &history.inspect)),
        ProvisioningState::Provisioning => Some(("provision", &history.provision)),
        ProvisioningState::Deprovisioning => Some(("deprovision", &history.deprovision)),
        _ => None,
    }
}

/// Since when the host is in its current state: the start of the matching operation in
/// `status.operationHistory` while that operation runs; else when `Progressing` last changed
/// (for a transient state) or `Ready`/`Provisioned`/`AvailableForProvisioning` did (for a
/// resting one); else unknown.
pub fn state_since(host: &BareMetalHost) -> Option<Since> {
    let state = host.provisioning_state();
    if let Some((_, op)) = operation_of(host, &state)
        && let Some(start) = &op.start
        && op.end.as_ref().is_none_or(|end| end.0 < start.0)
    {
        let source = match state {
            ProvisioningState::Registering => "operationHistory.register.start",
            ProvisioningState::Inspecting => "operationHistory.inspect.start",
            ProvisioningState::Provisioning => "operationHistory.provision.start",
            _ => "operationHistory.deprovision.start",
        };
        return Some(Since {
            time: start.0,
            source,
        });
    }
    let by = |kind: &'static str, source: &'static str| {
        condition(host, kind).map(|c| Since {
            time: c.last_transition_time.0,
            source,
        })
    };
    match state {
        s if is_transient(&s) => by("Progressing", "conditions[Progressing].lastTransitionTime"),
        ProvisioningState::Provisioned | ProvisioningState::ExternallyProvisioned => {
            by("Provisioned", "conditions[Provisioned].lastTransitionTime")
        }
        ProvisioningState::Available | ProvisioningState::Ready => by(
            "AvailableForProvisioning",
            "conditions[AvailableForProvisioning].lastTransitionTime",
        ),
        _ => None,
    }
}

/// The host's last error, if its status holds one.
pub fn last_error(host: &BareMetalHost) -> Option<LastError> {
    let status = host.status.as_ref()?;
    if status.error_message.is_empty() && status.error_type.is_none() {
        return None;
    }
    let since = status.last_updated.as_ref().map(|t| Since {
        time: t.0,
        source: "status.lastUpdated",
    });
    let next_retry = since.as_ref().and_then(|s| {
        let uid = host.uid().unwrap_or_default();
        let jitter = metal3_hoststate::backoff::stable_jitter(&uid, status.error_count);
        let delay = metal3_hoststate::backoff::backoff(status.error_count, jitter, BACKOFF_UNIT);
        let delay = SignedDuration::try_from(delay).ok()?;
        s.time.checked_add(delay).ok()
    });
    Some(LastError {
        error_type: status
            .error_type
            .map(|t| t.as_str().to_string())
            .unwrap_or_default(),
        message: status.error_message.clone(),
        since,
        error_count: status.error_count,
        next_retry,
    })
}

#[cfg(test)]
pub mod fixtures {
    //! Hosts for the pure functions' tests.

    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
    use metal3_api::v1alpha1::{
        BareMetalHost, BareMetalHostStatus, Condition, ConditionStatus, OperationMetric,
    };

    pub fn t(s: &str) -> k8s_openapi::jiff::Timestamp {
        s.parse().expect("timestamp")
    }

    pub fn time(s: &str) -> Time {
        Time(t(s))
    }

    pub fn host(ns: &str, name: &str, state: &str) -> BareMetalHost {
        let mut h = BareMetalHost::new(name, Default::default());
        h.metadata.namespace = Some(ns.into());
        h.metadata.uid = Some(format!("uid-{name}"));
        let mut status = BareMetalHostStatus::default();
        status.provisioning.state = state.into();
        h.status = Some(status);
        h
    }

    pub fn op(start: Option<&str>, end: Option<&str>) -> OperationMetric {
        OperationMetric {
            start: start.map(time),
            end: end.map(time),
        }
    }

    pub fn cond(kind: &str, status: bool, reason: &str, message: &str, at: &str) -> Condition {
        Condition {
            r#type: kind.into(),
            status: if status {
                ConditionStatus::True
            } else {
                ConditionStatus::False
            },
            observed_generation: None,
            last_transition_time: time(at),
            reason: reason.into(),
            message: message.into(),
        }
    }

    pub fn status(h: &mut BareMetalHost) -> &mut BareMetalHostStatus {
        h.status.as_mut().expect("fixture has a status")
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::*;
    use super::*;
    use metal3_api::v1alpha1::ErrorType;

    #[test]
    fn a_running_operation_dates_its_state() {
        let mut h = host("ns", "a", "inspecting");
        status(&mut h).operation_history.inspect = op(Some("2026-12-06T09:00:00Z"), None);
        status(&mut h).conditions = vec![cond(
            "Progressing",
            true,
            "Registering",
            "",
            "2026-12-06T08:59:00Z",
        )];
        let since = state_since(&h).expect("since");
        assert_eq!(since.time, t("2026-12-06T09:00:00Z"));
        assert_eq!(since.source, "operationHistory.inspect.start");
    }

    #[test]
    fn a_finished_operation_falls_back_to_the_conditions() {
        let mut h = host("ns", "a", "provisioning");
        status(&mut h).operation_history.provision =
            op(Some("2026-12-06T08:00:00Z"), Some("2026-12-06T08:05:00Z"));
        assert_eq!(state_since(&h), None);
        status(&mut h).conditions = vec![cond(
            "Progressing",
            true,
            "Provisioning",
            "",
            "2026-12-06T09:10:00Z",
        )];
        let since = state_since(&h).expect("since");
        assert_eq!(since.time, t("2026-12-06T09:10:00Z"));
        assert!(since.source.contains("Progressing"), "{}", since.source);
    }

    #[test]
    fn preparing_is_transient_available_is_not() {
        assert!(is_transient(&"preparing".into()));
        assert!(is_transient(&"powering off before delete".into()));
        assert!(!is_transient(&"available".into()));
        assert!(!is_transient(&"provisioned".into()));
    }

    #[test]
    fn the_last_error_dates_from_the_failed_save_and_retries_after_the_backoff() {
        let mut h = host("ns", "a", "provisioning");
        assert_eq!(last_error(&h), None);
        let s = status(&mut h);
        s.error_type = Some(ErrorType::Provisioning);
        s.error_message = "image checksum mismatch".into();
        s.error_count = 2;
        s.last_updated = Some(time("2026-12-06T09:00:00Z"));
        let e = last_error(&h).expect("error");
        assert_eq!(e.error_type, "provisioning error");
        assert_eq!(e.since.expect("since").time, t("2026-12-06T09:00:00Z"));
        // Two failures: 4 minutes less a jitter of at most half.
        let wait = e
            .next_retry
            .expect("retry")
            .duration_since(t("2026-12-06T09:00:00Z"));
        assert!(
            wait >= SignedDuration::from_secs(120) && wait <= SignedDuration::from_secs(240),
            "{wait:?}"
        );
    }

    #[test]
    fn keys_and_state_names() {
        let h = host("ns", "a", "");
        assert_eq!(key(&h), "ns/a");
        assert_eq!(state_name(&h.provisioning_state()), "(none)");
    }
}
