//! Deleting: where deletion starts from every state, the way out (power off, release), without
//! credentials, when power off fails, and detached hosts.

use std::collections::BTreeMap;

use metal3_api::consts::DETACHED_ANNOTATION;
use metal3_api::v1alpha1::{BareMetalHostSpec, ErrorType, ProvisioningState as S};
use metal3_fixture::{Behaviour, Failure, Operation};

use super::harness::*;
use crate::*;

#[test]
fn delete_from_every_state() {
    rt(async {
        // (state to reach, expected path after deletion)
        let cases: Vec<(S, Vec<S>)> = vec![
            (S::Unmanaged, vec![S::Unmanaged, S::Deleting]),
            (S::Registering, vec![S::Registering, S::Deleting]),
            (
                S::Inspecting,
                vec![S::Inspecting, S::PoweringOffBeforeDelete, S::Deleting],
            ),
            (
                S::Preparing,
                vec![S::Preparing, S::PoweringOffBeforeDelete, S::Deleting],
            ),
            (
                S::Available,
                vec![S::Available, S::PoweringOffBeforeDelete, S::Deleting],
            ),
            (
                S::Provisioning,
                vec![
                    S::Provisioning,
                    S::Deprovisioning,
                    S::PoweringOffBeforeDelete,
                    S::Deleting,
                ],
            ),
            (
                S::Provisioned,
                vec![
                    S::Provisioned,
                    S::Deprovisioning,
                    S::PoweringOffBeforeDelete,
                    S::Deleting,
                ],
            ),
            (
                S::ExternallyProvisioned,
                vec![
                    S::ExternallyProvisioned,
                    S::PoweringOffBeforeDelete,
                    S::Deleting,
                ],
            ),
        ];
        for (target, path) in cases {
            let name = format!("del-{}", target.as_str().replace(' ', "-"));
            let mut spec = spec_with_bmc();
            if target == S::Unmanaged {
                spec = BareMetalHostSpec::default();
            }
            if target == S::ExternallyProvisioned {
                spec.externally_provisioned = true;
            }
            if matches!(target, S::Provisioning | S::Provisioned) {
                spec.image = Some(image("http://images/os.qcow2"));
            }
            let mut sim = Sim::new(&name, spec);
            sim.behave(Behaviour {
                polls: 3,
                ..Behaviour::default()
            });
            sim.until(60, |s| s.state() == target).await;
            sim.delete();
            let seen = sim.until(60, |s| s.released).await;
            assert_eq!(seen, path, "deleting from {target:?}");
            if !matches!(target, S::Unmanaged) {
                assert!(
                    !sim.fixture.node(NS, &name).expect("node").registered,
                    "{target:?}"
                );
            }
        }
    });
}

#[test]
fn delete_without_credentials_skips_the_provisioner() {
    rt(async {
        let mut sim = Sim::new("del-nocreds", spec_with_bmc());
        sim.reach_provisioned("http://images/os.qcow2").await;
        sim.credentials = CredentialsInput::Missing {
            secret: "bmc-secret".into(),
        };
        sim.delete();
        let seen = sim.until(20, |s| s.released).await;
        assert_eq!(seen, [S::Provisioned, S::Deprovisioning, S::Deleting]);
    });
}

#[test]
fn powering_off_gives_up_after_repeated_failures() {
    rt(async {
        let mut sim = Sim::new("del-nopower", spec_with_bmc());
        sim.reach_available().await;
        let mut failures = BTreeMap::new();
        failures.insert(
            Operation::PowerOff,
            Failure {
                message: "BMC timeout".into(),
                times: 0,
            },
        );
        sim.behave(Behaviour {
            failures,
            ..Behaviour::default()
        });
        sim.delete();
        sim.until(60, |s| s.released).await;
        assert_eq!(sim.calls().started(Operation::PowerOff), 4);
    });
}

#[test]
fn deleting_a_detached_host() {
    rt(async {
        // deleteAction delay keeps the host; plain detach deletes it without deprovisioning.
        let mut sim = Sim::new("det-delay", spec_with_bmc());
        sim.reach_provisioned("http://images/os.qcow2").await;
        sim.annotate(DETACHED_ANNOTATION, r#"{"deleteAction": "delay"}"#);
        sim.step().await;
        sim.delete();
        for _ in 0..3 {
            sim.step().await;
        }
        assert_eq!(sim.state(), S::Provisioned);
        assert!(!sim.released);
        sim.annotate(DETACHED_ANNOTATION, r#"{"deleteAction": "delete"}"#);
        let seen = sim.until(10, |s| s.released).await;
        assert_eq!(seen, [S::Provisioned, S::Deleting]);
        assert_eq!(sim.calls().started(Operation::Deprovision), 0);
    });
}

#[test]
fn deletion_starts_from_every_state() {
    fn delete(s: &mut Sim) {
        s.delete();
    }
    let rows = [
        ("a new host", S::None, S::Deleting, Wait::Now),
        ("an unmanaged host", S::Unmanaged, S::Deleting, Wait::Now),
        ("a registering host", S::Registering, S::Deleting, Wait::Now),
        (
            "an inspecting host",
            S::Inspecting,
            S::PoweringOffBeforeDelete,
            Wait::Now,
        ),
        (
            "a preparing host",
            S::Preparing,
            S::PoweringOffBeforeDelete,
            Wait::Now,
        ),
        (
            "an available host",
            S::Available,
            S::PoweringOffBeforeDelete,
            Wait::Now,
        ),
        (
            "a provisioning host",
            S::Provisioning,
            S::Deprovisioning,
            Wait::Now,
        ),
        (
            "a provisioned host",
            S::Provisioned,
            S::Deprovisioning,
            Wait::Now,
        ),
        (
            "an externally provisioned host",
            S::ExternallyProvisioned,
            S::PoweringOffBeforeDelete,
            Wait::Now,
        ),
        (
            "a deprovisioning host goes on deprovisioning",
            S::Deprovisioning,
            S::Deprovisioning,
            Wait::After(std::time::Duration::ZERO),
        ),
    ]
    .map(|(name, from, next, wait)| Transition {
        name,
        from,
        change: delete,
        next,
        error: None,
        wait,
    });
    rt(async {
        for row in rows {
            let reasons = row.run().await.reasons();
            assert_eq!(
                reasons.contains(&"DeprovisioningStarted"),
                row.next == S::Deprovisioning && row.from != S::Deprovisioning,
                "{}: {reasons:?}",
                row.name
            );
        }
    });
}

/// The rows of [`the_way_out_after_deletion_started`].
fn way_out_rows() -> [(Transition, bool, u32); 9] {
    // (row, whether the host was released, power-offs asked of the provisioner in the pass)
    [
        (
            Transition {
                name: "a host that is on is powered off",
                from: S::PoweringOffBeforeDelete,
                change: unchanged,
                next: S::Deleting,
                error: None,
                wait: Wait::Now,
            },
            false,
            1,
        ),
        (
            Transition {
                name: "disablePowerOff skips the power off",
                from: S::PoweringOffBeforeDelete,
                change: |s| s.host.spec.disable_power_off = true,
                next: S::Deleting,
                error: None,
                wait: Wait::Now,
            },
            false,
            0,
        ),
        (
            Transition {
                name: "no credentials: no power off",
                from: S::PoweringOffBeforeDelete,
                change: |s| {
                    s.credentials = CredentialsInput::Missing {
                        secret: "bmc-secret".into(),
                    };
                },
                next: S::Deleting,
                error: None,
                wait: Wait::Now,
            },
            false,
            0,
        ),
        (
            Transition {
                name: "a failed power off is retried",
                from: S::PoweringOffBeforeDelete,
                change: |s| s.behave(failing(Operation::PowerOff, "BMC timeout", 0)),
                next: S::PoweringOffBeforeDelete,
                error: Some(ErrorType::PowerManagement),
                wait: Wait::Backoff,
            },
            false,
            1,
        ),
        (
            Transition {
                name: "a failed power off with three errors already goes on",
                from: S::PoweringOffBeforeDelete,
                change: |s| {
                    s.behave(failing(Operation::PowerOff, "BMC timeout", 0));
                    s.host.status.as_mut().expect("status").error_count = 3;
                },
                next: S::Deleting,
                error: Some(ErrorType::PowerManagement),
                wait: Wait::Now,
            },
            false,
            1,
        ),
        (
            Transition {
                name: "the provisioner forgets the host, which is released",
                from: S::Deleting,
                change: unchanged,
                next: S::Deleting,
                error: None,
                wait: Wait::Never,
            },
            true,
            0,
        ),
        (
            Transition {
                name: "no credentials: released without asking the provisioner",
                from: S::Deleting,
                change: |s| {
                    s.credentials = CredentialsInput::Invalid {
                        message: "spec.bmc.address is empty".into(),
                    };
                },
                next: S::Deleting,
                error: None,
                wait: Wait::Never,
            },
            true,
            0,
        ),
        (
            Transition {
                name: "a failed delete is retried",
                from: S::Deleting,
                change: |s| s.behave(failing(Operation::Delete, "node locked", 0)),
                next: S::Deleting,
                error: Some(ErrorType::Registration),
                wait: Wait::Backoff,
            },
            false,
            0,
        ),
        (
            Transition {
                name: "a detached host with deleteAction delay stays",
                from: S::Provisioned,
                change: |s| {
                    s.annotate(DETACHED_ANNOTATION, r#"{"deleteAction": "delay"}"#);
                    s.delete();
                },
                next: S::Provisioned,
                error: None,
                wait: Wait::secs(600),
            },
            false,
            0,
        ),
    ]
}

#[test]
fn the_way_out_after_deletion_started() {
    let rows = way_out_rows();
    rt(async {
        for (row, released, power_offs) in rows {
            let ran = row.run().await;
            let name = row.name;
            assert_eq!(ran.sim.released, released, "{name}: released");
            assert_eq!(
                ran.started_in_pass(Operation::PowerOff),
                power_offs,
                "{name}: power offs"
            );
            let with_credentials = matches!(ran.sim.credentials, CredentialsInput::Valid { .. });
            if released {
                assert_eq!(
                    ran.started_in_pass(Operation::Delete),
                    u32::from(with_credentials),
                    "{name}: the provisioner is asked only with credentials"
                );
            }
        }
    });
}
