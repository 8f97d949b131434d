//! Setting `metav1.Condition`s as Kubernetes does (`meta.SetStatusCondition`): the transition
//! time moves only when the status changes.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use metal3_api::v1alpha1::{Condition, ConditionStatus};
use metal3_capm3_api::consts::conditions as c;

/// Sets condition `kind` in `list`.
pub fn set(
    list: &mut Vec<Condition>,
    kind: &str,
    status: ConditionStatus,
    reason: &str,
    message: &str,
    generation: Option<i64>,
) {
    let now = Time(k8s_openapi::jiff::Timestamp::now());
    // A message is at most 32768 characters in the schema.
    let message: String = message.chars().take(32768).collect();
    match list.iter_mut().find(|x| x.r#type == kind) {
        Some(existing) => {
            if existing.status != status {
                existing.last_transition_time = now;
            }
            existing.status = status;
            existing.reason = reason.to_string();
            existing.message = message;
            existing.observed_generation = generation;
        }
        None => list.push(Condition {
            r#type: kind.to_string(),
            status,
            observed_generation: generation,
            last_transition_time: now,
            reason: reason.to_string(),
            message,
        }),
    }
}

/// Whether condition `kind` is true.
pub fn is_true(list: &[Condition], kind: &str) -> bool {
    list.iter()
        .any(|x| x.r#type == kind && x.status == ConditionStatus::True)
}

/// Sets the `Ready` summary: true when every condition of `parts` is true, else false with the
/// first one that is not (missing counts as not true).
pub fn summarize(list: &mut Vec<Condition>, parts: &[&str], generation: Option<i64>) {
    let failing = parts.iter().find(|p| !is_true(list, p)).map(|p| {
        let message = list
            .iter()
            .find(|x| x.r#type == **p)
            .map(|x| x.message.clone())
            .unwrap_or_default();
        (p.to_string(), message)
    });
    match failing {
        None => set(
            list,
            c::READY,
            ConditionStatus::True,
            c::READY_REASON,
            "",
            generation,
        ),
        Some((part, message)) => {
            let text = if message.is_empty() {
                format!("{part} is not true")
            } else {
                format!("{part}: {message}")
            };
            set(
                list,
                c::READY,
                ConditionStatus::False,
                c::NOT_READY_REASON,
                &text,
                generation,
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transition_time_moves_only_on_a_status_change() {
        let mut list = Vec::new();
        set(
            &mut list,
            "A",
            ConditionStatus::False,
            "Waiting",
            "m",
            Some(1),
        );
        let first = Time(k8s_openapi::jiff::Timestamp::UNIX_EPOCH);
        list[0].last_transition_time = first.clone();
        set(
            &mut list,
            "A",
            ConditionStatus::False,
            "StillWaiting",
            "m2",
            Some(2),
        );
        assert_eq!(list[0].last_transition_time, first);
        assert_eq!(list[0].reason, "StillWaiting");
        set(&mut list, "A", ConditionStatus::True, "Done", "", Some(2));
        assert_ne!(list[0].last_transition_time, first);
        assert!(is_true(&list, "A"));
    }

    #[test]
    fn ready_summarizes_its_parts() {
        let mut list = Vec::new();
        set(&mut list, "A", ConditionStatus::True, "Ok", "", None);
        summarize(&mut list, &["A", "B"], None);
        let ready = list.iter().find(|x| x.r#type == "Ready").expect("ready");
        assert_eq!(ready.status, ConditionStatus::False);
        assert_eq!(ready.message, "B is not true");
        set(&mut list, "B", ConditionStatus::True, "Ok", "", None);
        summarize(&mut list, &["A", "B"], None);
        assert!(is_true(&list, "Ready"));
    }
}
