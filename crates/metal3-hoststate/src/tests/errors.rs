//! How failures show: the error type of each failed action and of an unreachable backend,
//! which retries wait for their backoff, a backend not ready yet, states without a handler.

use std::time::Duration;

use k8s_openapi::jiff::SignedDuration;

use metal3_api::consts::DETACHED_ANNOTATION;
use metal3_api::v1alpha1::{ErrorType, OperationalStatus, ProvisioningState as S};
use metal3_fixture::{Behaviour, Operation};

use super::harness::*;
use crate::*;

#[test]
fn an_unreachable_backend_is_reported_backed_off_and_recovered_from() {
    rt(async {
        let mut sim = Sim::new("down", spec_with_bmc());
        sim.reach_available().await;
        sim.behave(Behaviour {
            unreachable: true,
            ..Behaviour::default()
        });
        let d = sim.step().await;
        assert!(
            d.transient.is_none(),
            "reported on the host, not as a silent retry"
        );
        let status = sim.status().clone();
        assert_eq!(status.operational_status, OperationalStatus::Error);
        assert_eq!(status.error_type, Some(ErrorType::PowerManagement));
        assert!(
            status
                .error_message
                .starts_with("cannot reach the provisioner"),
            "{}",
            status.error_message
        );
        assert!(sim.reasons().contains(&"PowerManagementError"));
        let Requeue::After(wait) = d.requeue else {
            panic!("{:?}", d.requeue)
        };
        assert!(wait >= Duration::from_secs(60), "{wait:?}");
        assert_eq!(sim.state(), S::Available);

        sim.behave(Behaviour::default());
        sim.until(5, |s| s.status().error_type.is_none()).await;
        assert_eq!(sim.status().operational_status, OperationalStatus::Ok);
        assert_eq!(sim.status().error_count, 0);
    });
}

#[test]
fn a_backend_that_is_not_ready_is_only_retried() {
    rt(async {
        let mut sim = Sim::new("notready", spec_with_bmc());
        sim.reach_available().await;
        let before = sim.status().clone();
        sim.behave(Behaviour {
            not_ready: true,
            ..Behaviour::default()
        });
        let d = sim.step().await;
        assert_eq!(
            d.transient,
            Some(metal3_provisioner::ProvisionerError::NotReady)
        );
        assert_eq!(sim.status(), &before, "nothing recorded for a routine wait");
    });
}

#[test]
fn an_unknown_state_is_reported_not_guessed() {
    rt(async {
        let mut sim = Sim::new("odd", spec_with_bmc());
        sim.reach_available().await;
        if let Some(s) = sim.host.status.as_mut() {
            s.provisioning.state = S::Other("teleporting".into());
        }
        let d = sim.step().await;
        assert_eq!(d.requeue, Requeue::Never);
        let msg = &sim.status().error_message;
        assert!(msg.contains("\"teleporting\""), "{msg}");
        assert_eq!(sim.state(), S::Other("teleporting".into()), "not guessed");
    });
}

#[test]
fn an_unreachable_backend_is_an_error_of_the_current_state() {
    fn unreachable(s: &mut Sim) {
        s.behave(Behaviour {
            unreachable: true,
            ..Behaviour::default()
        });
    }
    let rows = [
        ("registering", S::Registering, ErrorType::Registration),
        ("inspecting", S::Inspecting, ErrorType::Inspection),
        ("preparing", S::Preparing, ErrorType::Preparation),
        ("available", S::Available, ErrorType::PowerManagement),
        ("provisioning", S::Provisioning, ErrorType::Provisioning),
        (
            "provisioned",
            S::Provisioned,
            ErrorType::ProvisionedRegistration,
        ),
        (
            "externally provisioned",
            S::ExternallyProvisioned,
            ErrorType::ProvisionedRegistration,
        ),
        ("deprovisioning", S::Deprovisioning, ErrorType::Provisioning),
        (
            "powering off before delete",
            S::PoweringOffBeforeDelete,
            ErrorType::PowerManagement,
        ),
    ]
    .map(|(name, state, error)| Transition {
        name,
        from: state.clone(),
        change: unreachable,
        next: state,
        error: Some(error),
        wait: Wait::Backoff,
    });
    rt(async {
        for row in rows {
            let Ran { sim, d, .. } = row.run().await;
            let name = row.name;
            assert!(d.transient.is_none(), "{name}: reported, not retried");
            assert!(
                sim.status()
                    .error_message
                    .starts_with("cannot reach the provisioner"),
                "{name}: {}",
                sim.status().error_message
            );
            let reasons: Vec<_> = d.events.iter().map(|e| e.reason).collect();
            let error = row.error.expect("an error row");
            assert_eq!(reasons, [error_reason(error)], "{name}");
        }
    });
}

/// The rows of [`failed_actions_record_their_error_type`].
fn failed_action_rows() -> [(Transition, &'static str); 10] {
    // (row, failure message the status must start with)
    [
        (
            Transition {
                name: "registration fails",
                from: S::Registering,
                change: |s| s.behave(failing(Operation::Register, "no BMC", 0)),
                next: S::Registering,
                error: Some(ErrorType::Registration),
                wait: Wait::Backoff,
            },
            "no BMC",
        ),
        (
            Transition {
                name: "inspection fails",
                from: S::Inspecting,
                change: |s| s.behave(failing(Operation::Inspect, "no ramdisk", 0)),
                next: S::Inspecting,
                error: Some(ErrorType::Inspection),
                wait: Wait::Backoff,
            },
            "no ramdisk",
        ),
        (
            Transition {
                name: "preparation fails",
                from: S::Preparing,
                change: |s| s.behave(failing(Operation::Prepare, "RAID busy", 0)),
                next: S::Preparing,
                error: Some(ErrorType::Preparation),
                wait: Wait::Backoff,
            },
            "RAID busy",
        ),
        (
            Transition {
                name: "provisioning fails and cleans up",
                from: S::Provisioning,
                change: |s| s.behave(failing(Operation::Provision, "bad checksum", 0)),
                next: S::Deprovisioning,
                error: Some(ErrorType::Provisioning),
                wait: Wait::Backoff,
            },
            "bad checksum",
        ),
        (
            Transition {
                name: "deprovisioning fails",
                from: S::Deprovisioning,
                change: |s| s.behave(failing(Operation::Deprovision, "disk locked", 0)),
                next: S::Deprovisioning,
                error: Some(ErrorType::Provisioning),
                wait: Wait::Backoff,
            },
            "disk locked",
        ),
        (
            Transition {
                name: "adopting a provisioned host fails",
                from: S::Provisioned,
                change: |s| s.behave(failing(Operation::Adopt, "node lost", 0)),
                next: S::Provisioned,
                error: Some(ErrorType::ProvisionedRegistration),
                wait: Wait::Backoff,
            },
            "node lost",
        ),
        (
            Transition {
                name: "adopting an externally provisioned host fails",
                from: S::ExternallyProvisioned,
                change: |s| s.behave(failing(Operation::Adopt, "node lost", 0)),
                next: S::ExternallyProvisioned,
                error: Some(ErrorType::ProvisionedRegistration),
                wait: Wait::Backoff,
            },
            "node lost",
        ),
        (
            Transition {
                name: "a soft power off fails",
                from: S::Available,
                change: |s| {
                    s.behave(failing(Operation::PowerOff, "ACPI ignored", 0));
                    s.host.spec.online = false;
                },
                next: S::Available,
                error: Some(ErrorType::PowerManagement),
                wait: Wait::Backoff,
            },
            "Continuing with hard poweroff after soft poweroff fails. More details: ACPI ignored",
        ),
        (
            Transition {
                name: "powering off before delete fails",
                from: S::PoweringOffBeforeDelete,
                change: |s| s.behave(failing(Operation::PowerOff, "BMC timeout", 0)),
                next: S::PoweringOffBeforeDelete,
                error: Some(ErrorType::PowerManagement),
                wait: Wait::Backoff,
            },
            "BMC timeout",
        ),
        (
            Transition {
                name: "detaching fails",
                from: S::Provisioned,
                change: |s| {
                    s.behave(failing(Operation::Detach, "node busy", 0));
                    s.annotate(DETACHED_ANNOTATION, "");
                },
                next: S::Provisioned,
                error: Some(ErrorType::Detach),
                wait: Wait::Backoff,
            },
            "node busy",
        ),
    ]
}

#[test]
fn failed_actions_record_their_error_type() {
    let rows = failed_action_rows();
    rt(async {
        for (row, message) in rows {
            let Ran { sim, d, .. } = row.run().await;
            let name = row.name;
            let status = sim.status();
            assert!(
                status.error_message.starts_with(message),
                "{name}: {}",
                status.error_message
            );
            assert_eq!(status.error_count, 1, "{name}");
            assert_eq!(
                status.operational_status,
                OperationalStatus::Error,
                "{name}"
            );
            let error = row.error.expect("an error row");
            assert!(
                d.events.iter().any(|e| e.reason == error_reason(error)),
                "{name}: {:?}",
                d.events
            );
        }
    });
}

#[test]
fn states_without_a_handler_of_their_own() {
    let rows = [
        Transition {
            name: "the legacy ready state is available",
            from: S::Available,
            change: |s| s.host.status.as_mut().expect("status").provisioning.state = S::Ready,
            next: S::Available,
            error: None,
            wait: Wait::secs(60),
        },
        Transition {
            name: "match profile goes on to preparing",
            from: S::Available,
            change: |s| {
                s.host.status.as_mut().expect("status").provisioning.state = S::MatchProfile;
            },
            next: S::Preparing,
            error: None,
            wait: Wait::Now,
        },
        Transition {
            name: "an unknown state is an error, not a guess",
            from: S::Available,
            change: |s| {
                s.host.status.as_mut().expect("status").provisioning.state =
                    S::Other("teleporting".into());
            },
            next: S::Other("teleporting".into()),
            error: Some(ErrorType::Registration),
            wait: Wait::Never,
        },
    ];
    rt(async {
        for row in rows {
            row.run().await;
        }
    });
}

#[test]
fn failed_actions_wait_for_their_backoff_or_not() {
    struct Row {
        name: &'static str,
        from: S,
        change: fn(&mut Sim),
        /// The operation that fails once.
        op: Operation,
        /// Whether a pass before the backoff elapsed leaves the operation alone.
        waits: bool,
    }
    let rows = [
        Row {
            name: "registration",
            from: S::Registering,
            change: unchanged,
            op: Operation::Register,
            waits: true,
        },
        Row {
            name: "inspection",
            from: S::Inspecting,
            change: unchanged,
            op: Operation::Inspect,
            waits: true,
        },
        Row {
            name: "preparation",
            from: S::Preparing,
            change: unchanged,
            op: Operation::Prepare,
            waits: true,
        },
        Row {
            name: "adopting a provisioned host",
            from: S::Provisioned,
            change: unchanged,
            op: Operation::Adopt,
            waits: true,
        },
        Row {
            name: "powering off an available host",
            from: S::Available,
            change: |s| s.host.spec.online = false,
            op: Operation::PowerOff,
            waits: true,
        },
        Row {
            name: "deprovisioning is retried at once",
            from: S::Deprovisioning,
            change: unchanged,
            op: Operation::Deprovision,
            waits: false,
        },
        Row {
            name: "powering off before delete is retried at once",
            from: S::PoweringOffBeforeDelete,
            change: unchanged,
            op: Operation::PowerOff,
            waits: false,
        },
        Row {
            name: "deleting is retried at once",
            from: S::Deleting,
            change: unchanged,
            op: Operation::Delete,
            waits: false,
        },
        Row {
            name: "detaching is retried at once",
            from: S::Provisioned,
            change: |s| s.annotate(DETACHED_ANNOTATION, ""),
            op: Operation::Detach,
            waits: false,
        },
    ];
    rt(async {
        for row in rows {
            let name = row.name;
            let mut sim = Sim::at(name, row.from.clone()).await;
            (row.change)(&mut sim);
            sim.behave(failing(row.op, "once", 1));
            let failed_at = sim.now;
            let d = sim.step().await;
            assert!(sim.status().error_type.is_some(), "{name}: failed");
            let Requeue::After(wait) = d.requeue else {
                panic!("{name}: {:?}", d.requeue)
            };
            let started = sim.started(row.op);

            let early = SignedDuration::from_secs(50);
            sim.now = failed_at.checked_add(early).expect("time");
            let d = sim.step().await;
            if !row.waits {
                assert_eq!(sim.started(row.op), started + 1, "{name}: retried");
                continue;
            }
            assert_eq!(sim.started(row.op), started, "{name}: not retried early");
            assert_eq!(
                d.requeue,
                Requeue::After(wait - Duration::from_secs(50)),
                "{name}: the rest of the backoff"
            );

            let due = SignedDuration::try_from(wait).expect("duration");
            sim.now = failed_at.checked_add(due).expect("time");
            sim.step().await;
            assert_eq!(sim.started(row.op), started + 1, "{name}: retried when due");
            assert_eq!(sim.status().error_type, None, "{name}: recovered");
        }
    });
}
