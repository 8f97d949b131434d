//! The host's conditions, recomputed from its state on every reconcile. A condition keeps its
//! `lastTransitionTime` while its status stays the same, so it tells since when a host is (not)
//! ready, provisioned, progressing.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use metal3_api::v1alpha1::{
    BareMetalHostStatus, Condition, ConditionStatus, ErrorType, OperationalStatus,
    ProvisioningState,
};
use metal3_provisioner::Health;

pub const MANAGEABLE: &str = "Manageable";
pub const AVAILABLE_FOR_PROVISIONING: &str = "AvailableForProvisioning";
pub const PROVISIONED: &str = "Provisioned";
pub const READY: &str = "Ready";
pub const PROGRESSING: &str = "Progressing";
pub const HEALTHY: &str = "Healthy";

/// A condition before it gets its times.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Want {
    pub r#type: &'static str,
    pub status: ConditionStatus,
    pub reason: &'static str,
    pub message: String,
}

fn want(
    r#type: &'static str,
    status: bool,
    reason: &'static str,
    message: impl Into<String>,
) -> Want {
    Want {
        r#type,
        status: if status {
            ConditionStatus::True
        } else {
            ConditionStatus::False
        },
        reason,
        message: message.into(),
    }
}

/// The five lifecycle conditions for `status`, in a fixed order.
pub fn lifecycle(status: &BareMetalHostStatus) -> Vec<Want> {
    let mut out = by_state(status);
    apply_operational_status(&mut out, status);
    out
}

/// The conditions the provisioning state alone implies.
fn by_state(status: &BareMetalHostStatus) -> Vec<Want> {
    use ProvisioningState as S;
    let state = &status.provisioning.state;
    match state {
        S::None | S::Unmanaged => vec![
            want(
                MANAGEABLE,
                false,
                "NotManaged",
                "the host has no BMC address or credentials",
            ),
            want(
                AVAILABLE_FOR_PROVISIONING,
                false,
                "NotAvailable",
                "the host is not managed",
            ),
            want(
                PROVISIONED,
                false,
                "NotProvisioned",
                "no image is provisioned",
            ),
            want(READY, false, "NotProvisioned", "no image is provisioned"),
            want(PROGRESSING, false, "NotProgressing", "nothing is under way"),
        ],
        S::Registering => registering(status),
        S::Available | S::Ready => vec![
            want(MANAGEABLE, true, "Manageable", "the BMC is reachable"),
            want(
                AVAILABLE_FOR_PROVISIONING,
                true,
                "Available",
                "ready to be provisioned",
            ),
            want(
                PROVISIONED,
                false,
                "NotProvisioned",
                "no image is provisioned",
            ),
            want(READY, false, "NotProvisioned", "no image is provisioned"),
            want(PROGRESSING, false, "NotProgressing", "nothing is under way"),
        ],
        S::Provisioned | S::ExternallyProvisioned => vec![
            want(MANAGEABLE, true, "Manageable", "the BMC is reachable"),
            want(
                AVAILABLE_FOR_PROVISIONING,
                false,
                "NotAvailable",
                "the host is provisioned",
            ),
            want(
                PROVISIONED,
                true,
                "Provisioned",
                provisioned_message(status),
            ),
            want(READY, true, "Provisioned", provisioned_message(status)),
            want(PROGRESSING, false, "NotProgressing", "nothing is under way"),
        ],
        S::Preparing
        | S::MatchProfile
        | S::Inspecting
        | S::Provisioning
        | S::Deprovisioning
        | S::PoweringOffBeforeDelete
        | S::Deleting
        | S::Other(_) => {
            let (reason, message) = match state {
                S::Inspecting => ("Inspecting", "inspecting the hardware"),
                S::Provisioning => ("Provisioning", "writing the image"),
                S::Deprovisioning => ("Deprovisioning", "removing the image"),
                S::PoweringOffBeforeDelete => {
                    ("PoweringOffBeforeDelete", "powering off before deletion")
                }
                S::Deleting => ("Deleting", "removing the host from the provisioner"),
                _ => ("Preparing", "applying RAID, firmware and disk settings"),
            };
            vec![
                want(MANAGEABLE, true, "Manageable", "the BMC is reachable"),
                want(AVAILABLE_FOR_PROVISIONING, false, "NotAvailable", message),
                want(
                    PROVISIONED,
                    false,
                    "NotProvisioned",
                    "no image is provisioned",
                ),
                want(READY, false, "NotProvisioned", "no image is provisioned"),
                want(PROGRESSING, true, reason, message),
            ]
        }
    }
}

/// Puts the backend's word on an operation's progress (e.g. how much of the image is written)
/// into the `Progressing` condition, while it is true.
pub fn show_progress(wants: &mut [Want], progress: Option<String>) {
    let Some(message) = progress.filter(|m| !m.is_empty()) else {
        return;
    };
    if let Some(w) = wants
        .iter_mut()
        .find(|w| w.r#type == PROGRESSING && w.status == ConditionStatus::True)
    {
        w.message = message;
    }
}

/// The conditions of a registering host (whose registration may have failed).
fn registering(status: &BareMetalHostStatus) -> Vec<Want> {
    let failed = status.error_type == Some(ErrorType::Registration);
    vec![
        if failed {
            want(
                MANAGEABLE,
                false,
                "RegistrationFailed",
                status.error_message.clone(),
            )
        } else {
            want(
                MANAGEABLE,
                false,
                "Registering",
                "checking access to the BMC",
            )
        },
        want(
            AVAILABLE_FOR_PROVISIONING,
            false,
            "NotAvailable",
            "registration is not finished",
        ),
        want(
            PROVISIONED,
            false,
            "NotProvisioned",
            "no image is provisioned",
        ),
        want(READY, false, "NotProvisioned", "no image is provisioned"),
        want(
            PROGRESSING,
            true,
            "Registering",
            "checking access to the BMC",
        ),
    ]
}

/// Overrides the conditions an operational status other than OK changes (error, servicing,
/// detached, delayed).
fn apply_operational_status(out: &mut Vec<Want>, status: &BareMetalHostStatus) {
    let set = |out: &mut Vec<Want>, w: Want| {
        if let Some(slot) = out.iter_mut().find(|c| c.r#type == w.r#type) {
            *slot = w;
        }
    };
    match status.operational_status {
        OperationalStatus::Error => {
            let kind = status.error_type.map(|t| t.as_str()).unwrap_or("error");
            set(
                out,
                want(
                    READY,
                    false,
                    "Error",
                    format!("{kind}: {}", status.error_message),
                ),
            );
        }
        OperationalStatus::Servicing => {
            set(
                out,
                want(READY, false, "Servicing", "applying firmware changes"),
            );
        }
        OperationalStatus::Detached => {
            let msg = "the host is detached from the provisioner";
            set(out, want(READY, false, "Detached", msg));
            set(out, want(PROGRESSING, false, "Detached", msg));
        }
        OperationalStatus::Delayed => {
            set(
                out,
                want(
                    PROGRESSING,
                    false,
                    "Delayed",
                    "waiting for provisioner capacity",
                ),
            );
        }
        _ => {}
    }
}

fn provisioned_message(status: &BareMetalHostStatus) -> String {
    if let Some(cd) = &status.provisioning.custom_deploy {
        format!("deployed with custom method {}", cd.method)
    } else if !status.provisioning.image.url.is_empty() {
        format!("running image {}", status.provisioning.image.url)
    } else {
        "provisioned outside of Metal3".to_string()
    }
}

/// The Healthy condition for a health reading.
pub fn healthy(health: Health) -> Want {
    match health {
        Health::Ok => want(
            HEALTHY,
            true,
            "Healthy",
            "the BMC reports the system healthy",
        ),
        Health::Warning => want(HEALTHY, false, "Warning", "the BMC reports a warning"),
        Health::Critical => want(
            HEALTHY,
            false,
            "CriticalError",
            "the BMC reports a critical fault",
        ),
        Health::Unknown => Want {
            r#type: HEALTHY,
            status: ConditionStatus::Unknown,
            reason: "Unknown",
            message: "the BMC does not report health".into(),
        },
    }
}

/// Merges `wants` into `conditions`: the transition time changes only with the status; other
/// conditions (of other controllers) are kept.
pub fn merge(conditions: &mut Vec<Condition>, wants: &[Want], generation: Option<i64>, now: &Time) {
    for w in wants {
        match conditions.iter_mut().find(|c| c.r#type == w.r#type) {
            Some(c) => {
                if c.status != w.status {
                    c.last_transition_time = now.clone();
                }
                c.status = w.status;
                c.reason = w.reason.to_string();
                c.message = w.message.clone();
                c.observed_generation = generation;
            }
            None => conditions.push(Condition {
                r#type: w.r#type.to_string(),
                status: w.status,
                observed_generation: generation,
                last_transition_time: now.clone(),
                reason: w.reason.to_string(),
                message: w.message.clone(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(state: ProvisioningState, op: OperationalStatus) -> BareMetalHostStatus {
        let mut s = BareMetalHostStatus::default();
        s.provisioning.state = state;
        s.operational_status = op;
        s
    }

    fn table(s: &BareMetalHostStatus) -> Vec<(&'static str, ConditionStatus, &'static str)> {
        lifecycle(s)
            .into_iter()
            .map(|w| (w.r#type, w.status, w.reason))
            .collect()
    }

    use ConditionStatus::{False as F, True as T};

    #[test]
    fn a_backends_progress_shows_while_progressing_only() {
        let progress = || Some("writing the image: 1.0 GiB of 2.0 GiB (50%)".to_string());
        let mut provisioning = lifecycle(&status(
            ProvisioningState::Provisioning,
            OperationalStatus::Ok,
        ));
        show_progress(&mut provisioning, progress());
        let shown = provisioning
            .iter()
            .find(|w| w.r#type == PROGRESSING)
            .map(|w| w.message.as_str());
        assert_eq!(shown, Some("writing the image: 1.0 GiB of 2.0 GiB (50%)"));
        let mut unchanged = lifecycle(&status(
            ProvisioningState::Provisioning,
            OperationalStatus::Ok,
        ));
        show_progress(&mut unchanged, None);
        assert_eq!(
            unchanged,
            lifecycle(&status(
                ProvisioningState::Provisioning,
                OperationalStatus::Ok
            ))
        );
        let mut available = lifecycle(&status(ProvisioningState::Available, OperationalStatus::Ok));
        show_progress(&mut available, progress());
        assert_eq!(
            available,
            lifecycle(&status(ProvisioningState::Available, OperationalStatus::Ok)),
            "not progressing: not shown"
        );
    }

    #[test]
    fn every_state_has_the_five_conditions() {
        for state in ProvisioningState::KNOWN {
            for op in OperationalStatus::ALL {
                let got = table(&status(state.clone(), *op));
                let types: Vec<_> = got.iter().map(|c| c.0).collect();
                assert_eq!(
                    types,
                    [
                        MANAGEABLE,
                        AVAILABLE_FOR_PROVISIONING,
                        PROVISIONED,
                        READY,
                        PROGRESSING
                    ],
                    "{state:?} {op:?}"
                );
            }
        }
    }

    #[test]
    fn state_table() {
        use OperationalStatus as O;
        use ProvisioningState as S;
        type Row = (S, O, Vec<(&'static str, ConditionStatus, &'static str)>);
        let cases: Vec<Row> = vec![
            (
                S::Unmanaged,
                O::Discovered,
                vec![
                    (MANAGEABLE, F, "NotManaged"),
                    (AVAILABLE_FOR_PROVISIONING, F, "NotAvailable"),
                    (PROVISIONED, F, "NotProvisioned"),
                    (READY, F, "NotProvisioned"),
                    (PROGRESSING, F, "NotProgressing"),
                ],
            ),
            (
                S::Registering,
                O::Ok,
                vec![
                    (MANAGEABLE, F, "Registering"),
                    (AVAILABLE_FOR_PROVISIONING, F, "NotAvailable"),
                    (PROVISIONED, F, "NotProvisioned"),
                    (READY, F, "NotProvisioned"),
                    (PROGRESSING, T, "Registering"),
                ],
            ),
            (
                S::Inspecting,
                O::Ok,
                vec![
                    (MANAGEABLE, T, "Manageable"),
                    (AVAILABLE_FOR_PROVISIONING, F, "NotAvailable"),
                    (PROVISIONED, F, "NotProvisioned"),
                    (READY, F, "NotProvisioned"),
                    (PROGRESSING, T, "Inspecting"),
                ],
            ),
            (
                S::Available,
                O::Ok,
                vec![
                    (MANAGEABLE, T, "Manageable"),
                    (AVAILABLE_FOR_PROVISIONING, T, "Available"),
                    (PROVISIONED, F, "NotProvisioned"),
                    (READY, F, "NotProvisioned"),
                    (PROGRESSING, F, "NotProgressing"),
                ],
            ),
            (
                S::Provisioned,
                O::Ok,
                vec![
                    (MANAGEABLE, T, "Manageable"),
                    (AVAILABLE_FOR_PROVISIONING, F, "NotAvailable"),
                    (PROVISIONED, T, "Provisioned"),
                    (READY, T, "Provisioned"),
                    (PROGRESSING, F, "NotProgressing"),
                ],
            ),
            (
                S::Provisioned,
                O::Detached,
                vec![
                    (MANAGEABLE, T, "Manageable"),
                    (AVAILABLE_FOR_PROVISIONING, F, "NotAvailable"),
                    (PROVISIONED, T, "Provisioned"),
                    (READY, F, "Detached"),
                    (PROGRESSING, F, "Detached"),
                ],
            ),
            (
                S::Provisioned,
                O::Servicing,
                vec![
                    (MANAGEABLE, T, "Manageable"),
                    (AVAILABLE_FOR_PROVISIONING, F, "NotAvailable"),
                    (PROVISIONED, T, "Provisioned"),
                    (READY, F, "Servicing"),
                    (PROGRESSING, F, "NotProgressing"),
                ],
            ),
            (
                S::Provisioning,
                O::Delayed,
                vec![
                    (MANAGEABLE, T, "Manageable"),
                    (AVAILABLE_FOR_PROVISIONING, F, "NotAvailable"),
                    (PROVISIONED, F, "NotProvisioned"),
                    (READY, F, "NotProvisioned"),
                    (PROGRESSING, F, "Delayed"),
                ],
            ),
            (
                S::PoweringOffBeforeDelete,
                O::Ok,
                vec![
                    (MANAGEABLE, T, "Manageable"),
                    (AVAILABLE_FOR_PROVISIONING, F, "NotAvailable"),
                    (PROVISIONED, F, "NotProvisioned"),
                    (READY, F, "NotProvisioned"),
                    (PROGRESSING, T, "PoweringOffBeforeDelete"),
                ],
            ),
        ];
        for (state, op, want) in cases {
            assert_eq!(table(&status(state.clone(), op)), want, "{state:?} {op:?}");
        }
    }

    #[test]
    fn errors_show_in_ready_and_registration() {
        let mut s = status(ProvisioningState::Registering, OperationalStatus::Error);
        s.error_type = Some(ErrorType::Registration);
        s.error_message = "Failed to get BMC credentials".into();
        let got = lifecycle(&s);
        assert_eq!(got[0].reason, "RegistrationFailed");
        assert_eq!(got[0].message, "Failed to get BMC credentials");
        assert_eq!(got[3].reason, "Error");
        assert_eq!(
            got[3].message,
            "registration error: Failed to get BMC credentials"
        );
    }

    #[test]
    fn merge_keeps_transition_time_while_status_holds() {
        let t0 = Time(k8s_openapi::jiff::Timestamp::from_second(1_000).expect("ts"));
        let t1 = Time(k8s_openapi::jiff::Timestamp::from_second(2_000).expect("ts"));
        let mut conditions = vec![Condition {
            r#type: "Other".into(),
            status: ConditionStatus::True,
            observed_generation: None,
            last_transition_time: t0.clone(),
            reason: "Mine".into(),
            message: String::new(),
        }];
        let first = lifecycle(&status(
            ProvisioningState::Inspecting,
            OperationalStatus::Ok,
        ));
        merge(&mut conditions, &first, Some(1), &t0);
        let second = lifecycle(&status(ProvisioningState::Preparing, OperationalStatus::Ok));
        merge(&mut conditions, &second, Some(2), &t1);
        fn get<'c>(conditions: &'c [Condition], t: &str) -> &'c Condition {
            conditions
                .iter()
                .find(|c| c.r#type == t)
                .expect("condition present")
        }
        // Progressing stayed True: time kept, reason updated.
        assert_eq!(get(&conditions, PROGRESSING).last_transition_time, t0);
        assert_eq!(get(&conditions, PROGRESSING).reason, "Preparing");
        assert_eq!(get(&conditions, PROGRESSING).observed_generation, Some(2));
        let third = lifecycle(&status(ProvisioningState::Available, OperationalStatus::Ok));
        merge(&mut conditions, &third, Some(2), &t1);
        assert_eq!(get(&conditions, PROGRESSING).last_transition_time, t1);
        assert_eq!(
            get(&conditions, AVAILABLE_FOR_PROVISIONING).status,
            ConditionStatus::True
        );
        // Foreign conditions survive.
        assert_eq!(get(&conditions, "Other").reason, "Mine");
        assert_eq!(conditions.len(), 6);
    }

    #[test]
    fn health_reasons() {
        assert_eq!(healthy(Health::Ok).reason, "Healthy");
        assert_eq!(healthy(Health::Warning).reason, "Warning");
        assert_eq!(healthy(Health::Critical).reason, "CriticalError");
        assert_eq!(healthy(Health::Unknown).status, ConditionStatus::Unknown);
    }
}
