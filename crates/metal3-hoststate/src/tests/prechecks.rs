//! The checks before the state handler: status restore, capacity delay, detach.

use std::time::Duration;

use metal3_api::consts::{DETACHED_ANNOTATION, STATUS_ANNOTATION};
use metal3_api::v1alpha1::{OperationalStatus, ProvisioningState as S};
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
