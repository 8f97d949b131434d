//! The checks before the state handler: status restore, capacity delays, detach by state and
//! annotation.

use std::time::Duration;

use metal3_api::consts::{DETACHED_ANNOTATION, STATUS_ANNOTATION};
use metal3_api::v1alpha1::{ErrorType, OperationalStatus, ProvisioningState as S};
use metal3_fixture::{Behaviour, Fixture, Operation};

use super::harness::*;
use crate::*;

#[test]
fn status_annotation_restores_a_moved_host() {
    rt(async {
        let fixture = Fixture::new();
        let mut old = Sim::with_fixture("moved", spec_with_bmc(), fixture.clone());
        old.reach_provisioned("http://images/os.qcow2").await;
        let saved = serde_json::to_string(old.status()).expect("status json");

        let mut spec = spec_with_bmc();
        spec.image = Some(image("http://images/os.qcow2"));
        let mut new = Sim::with_fixture("moved", spec, fixture.clone());
        new.annotate(STATUS_ANNOTATION, &saved);
        let d = new.step().await;
        assert_eq!(d.requeue, Requeue::Now);
        assert_eq!(new.state(), S::Provisioned);
        assert!(!new.has_annotation(STATUS_ANNOTATION));
        for _ in 0..3 {
            new.step().await;
        }
        assert_eq!(new.state(), S::Provisioned);
        assert_eq!(fixture.calls(NS, "moved").started(Operation::Provision), 1);
    });
}

#[test]
fn capacity_delays_hosts_until_a_slot_frees() {
    rt(async {
        let fixture = Fixture::new();
        fixture.set_capacity(Some(1));
        let mut a = Sim::with_fixture("cap-a", spec_with_bmc(), fixture.clone());
        let mut b = Sim::with_fixture("cap-b", spec_with_bmc(), fixture.clone());
        a.behave(Behaviour {
            polls: 3,
            ..Behaviour::default()
        });
        a.until_state(S::Inspecting).await;
        a.step().await;
        b.until_state(S::Inspecting).await;
        assert_eq!(b.status().operational_status, OperationalStatus::Delayed);
        assert_eq!(b.condition(conditions::PROGRESSING).1, "Delayed");
        let d = b.step().await;
        assert!(matches!(d.requeue, Requeue::After(_)));
        assert_eq!(b.calls().started(Operation::Inspect), 0);
        a.until_state(S::Available).await;
        b.until_state(S::Available).await;
        assert_eq!(b.status().operational_status, OperationalStatus::Ok);
    });
}

#[test]
fn detach_keeps_the_host_and_reattach_adopts_it() {
    rt(async {
        let mut sim = Sim::new("det", spec_with_bmc());
        sim.reach_provisioned("http://images/os.qcow2").await;
        sim.annotate(DETACHED_ANNOTATION, "");
        let d = sim.step().await;
        assert_eq!(d.requeue, Requeue::After(Duration::from_secs(600)));
        assert_eq!(sim.status().operational_status, OperationalStatus::Detached);
        assert_eq!(sim.state(), S::Provisioned);
        assert_eq!(sim.condition(conditions::READY).1, "Detached");
        assert_eq!(sim.calls().started(Operation::Detach), 1);
        sim.step().await;
        assert_eq!(sim.calls().started(Operation::Detach), 1, "detached once");

        let adopts = sim.calls().started(Operation::Adopt);
        sim.host
            .metadata
            .annotations
            .as_mut()
            .expect("annotations")
            .remove(DETACHED_ANNOTATION);
        sim.step().await;
        assert_eq!(sim.status().operational_status, OperationalStatus::Ok);
        assert_eq!(sim.state(), S::Provisioned);
        assert_eq!(
            sim.calls().started(Operation::Register),
            2,
            "registered again"
        );
        assert_eq!(sim.calls().started(Operation::Adopt), adopts + 1);
        assert_eq!(
            sim.calls().started(Operation::Provision),
            1,
            "never reprovisioned"
        );
    });
}

#[test]
fn detach_needs_force_outside_safe_states() {
    rt(async {
        let mut sim = Sim::new("det-insp", spec_with_bmc());
        sim.behave(Behaviour {
            polls: 10,
            ..Behaviour::default()
        });
        sim.until_state(S::Inspecting).await;
        sim.annotate(DETACHED_ANNOTATION, "true");
        sim.step().await;
        assert_ne!(sim.status().operational_status, OperationalStatus::Detached);
        sim.annotate(DETACHED_ANNOTATION, r#"{"force": true}"#);
        sim.step().await;
        assert_eq!(sim.status().operational_status, OperationalStatus::Detached);
    });
}

/// The rows of [`detach_by_state_and_annotation`].
fn detach_rows() -> [(Transition, bool); 9] {
    fn plain(s: &mut Sim) {
        s.annotate(DETACHED_ANNOTATION, "");
    }
    fn forced(s: &mut Sim) {
        s.annotate(DETACHED_ANNOTATION, r#"{"force": true}"#);
    }
    // (row, detached after the pass)
    [
        (
            Transition {
                name: "available: detached",
                from: S::Available,
                change: plain,
                next: S::Available,
                error: None,
                wait: Wait::secs(600),
            },
            true,
        ),
        (
            Transition {
                name: "provisioned: detached",
                from: S::Provisioned,
                change: plain,
                next: S::Provisioned,
                error: None,
                wait: Wait::secs(600),
            },
            true,
        ),
        (
            Transition {
                name: "externally provisioned: detached",
                from: S::ExternallyProvisioned,
                change: plain,
                next: S::ExternallyProvisioned,
                error: None,
                wait: Wait::secs(600),
            },
            true,
        ),
        (
            Transition {
                name: "registering: not without force",
                from: S::Registering,
                change: plain,
                next: S::Registering,
                error: None,
                wait: Wait::After(Duration::ZERO),
            },
            false,
        ),
        (
            Transition {
                name: "inspecting: not without force",
                from: S::Inspecting,
                change: plain,
                next: S::Inspecting,
                error: None,
                wait: Wait::After(Duration::ZERO),
            },
            false,
        ),
        (
            Transition {
                name: "inspecting, forced: detached",
                from: S::Inspecting,
                change: forced,
                next: S::Inspecting,
                error: None,
                wait: Wait::secs(600),
            },
            true,
        ),
        (
            Transition {
                name: "provisioning, forced: detached",
                from: S::Provisioning,
                change: forced,
                next: S::Provisioning,
                error: None,
                wait: Wait::secs(600),
            },
            true,
        ),
        (
            Transition {
                name: "provisioned without credentials: the credentials error first",
                from: S::Provisioned,
                change: |s| {
                    plain(s);
                    s.credentials = CredentialsInput::Missing {
                        secret: "bmc-secret".into(),
                    };
                },
                next: S::Provisioned,
                error: Some(ErrorType::ProvisionedRegistration),
                wait: Wait::secs(10),
            },
            false,
        ),
        (
            Transition {
                name: "provisioned, with a detach already recorded: only polled",
                from: S::Provisioned,
                change: |s| {
                    plain(s);
                    s.host.status.as_mut().expect("status").operational_status =
                        OperationalStatus::Detached;
                },
                next: S::Provisioned,
                error: None,
                wait: Wait::secs(600),
            },
            true,
        ),
    ]
}

#[test]
fn detach_by_state_and_annotation() {
    let rows = detach_rows();
    rt(async {
        for (row, detached) in rows {
            let ran = row.run().await;
            let name = row.name;
            assert_eq!(
                ran.sim.status().operational_status == OperationalStatus::Detached,
                detached,
                "{name}: detached"
            );
            let asked = detached && !row.name.contains("already");
            assert_eq!(
                ran.started_in_pass(Operation::Detach),
                u32::from(asked),
                "{name}: the provisioner asked to detach"
            );
        }
    });
}

#[test]
fn capacity_delays_only_the_states_that_need_it() {
    /// Takes the last free slot (another host holds the other one).
    fn one_slot(s: &mut Sim) {
        s.fixture.set_capacity(Some(1));
    }
    // (row, delayed after the pass)
    let rows: [(Transition, bool); 4] = [
        (
            Transition {
                name: "inspection waits for a slot",
                from: S::Registering,
                change: |s| {
                    one_slot(s);
                    s.behave(Behaviour::default());
                },
                next: S::Inspecting,
                error: None,
                wait: Wait::Now,
            },
            true,
        ),
        (
            Transition {
                name: "provisioning waits for a slot",
                from: S::Available,
                change: |s| {
                    one_slot(s);
                    s.host.spec.image = Some(image("http://images/os.qcow2"));
                },
                next: S::Provisioning,
                error: None,
                wait: Wait::Now,
            },
            true,
        ),
        (
            Transition {
                name: "deprovisioning waits for a slot",
                from: S::Provisioned,
                change: |s| {
                    one_slot(s);
                    s.host.spec.image = None;
                },
                next: S::Deprovisioning,
                error: None,
                wait: Wait::Now,
            },
            true,
        ),
        (
            Transition {
                name: "preparation needs none",
                from: S::Preparing,
                change: |s| {
                    one_slot(s);
                    s.behave(Behaviour::default());
                },
                next: S::Available,
                error: None,
                wait: Wait::Now,
            },
            false,
        ),
    ];
    rt(async {
        for (row, delayed) in rows {
            // Another host holds a slot: it is inspecting.
            let fixture = Fixture::new();
            let mut busy = Sim::at_with("busy", S::Inspecting, fixture.clone()).await;
            busy.step().await;
            assert_eq!(busy.state(), S::Inspecting, "{}: busy host", row.name);
            let ran = row.run_with(fixture).await;
            assert_eq!(
                ran.sim.status().operational_status == OperationalStatus::Delayed,
                delayed,
                "{}: delayed",
                row.name
            );
        }
    });
}
