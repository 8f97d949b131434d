//! Steady-state power: `online`, reboot annotations, power failures.

use std::collections::BTreeMap;

use metal3_api::consts::REBOOT_ANNOTATION;
use metal3_api::v1alpha1::ErrorType;
use metal3_fixture::{Behaviour, Failure, Operation};

use super::harness::*;

#[test]
fn reboot_annotation_power_cycles_once() {
    rt(async {
        let mut sim = Sim::new("reboot", spec_with_bmc());
        sim.reach_provisioned("http://images/os.qcow2").await;
        assert!(sim.status().powered_on);
        sim.annotate(REBOOT_ANNOTATION, "");
        sim.step().await;
        assert!(!sim.status().powered_on);
        sim.step().await;
        assert!(sim.status().powered_on);
        assert!(!sim.has_annotation(REBOOT_ANNOTATION));
        let r = sim.reasons();
        let off = r
            .iter()
            .position(|x| *x == "PowerOff")
            .expect("powered off");
        let removed = r
            .iter()
            .position(|x| *x == "RemoveAnnotation")
            .expect("annotation removed");
        let on = r.iter().rposition(|x| *x == "PowerOn").expect("powered on");
        assert!(off < removed && removed < on, "{r:?}");
    });
}

#[test]
fn suffixed_reboot_holds_the_host_off_until_removed() {
    rt(async {
        let mut sim = Sim::new("phased", spec_with_bmc());
        sim.reach_provisioned("http://images/os.qcow2").await;
        sim.annotate("reboot.metal3.io/remediation", r#"{"mode": "hard"}"#);
        for _ in 0..3 {
            sim.step().await;
            assert!(!sim.status().powered_on);
        }
        assert!(
            sim.has_annotation("reboot.metal3.io/remediation"),
            "owner removes it"
        );
        sim.host
            .metadata
            .annotations
            .as_mut()
            .expect("a")
            .remove("reboot.metal3.io/remediation");
        sim.step().await;
        assert!(sim.status().powered_on);
    });
}

#[test]
fn reboot_outside_provisioned_states_needs_force() {
    rt(async {
        let mut sim = Sim::new("reboot-avail", spec_with_bmc());
        sim.reach_available().await;
        sim.annotate("reboot.metal3.io/x", "");
        sim.step().await;
        assert!(sim.status().powered_on, "ignored in available");
        sim.annotate("reboot.metal3.io/x", r#"{"force": true}"#);
        sim.step().await;
        assert!(!sim.status().powered_on);
    });
}

#[test]
fn online_false_powers_off_and_power_failures_recover() {
    rt(async {
        let mut sim = Sim::new("power", spec_with_bmc());
        sim.reach_provisioned("http://images/os.qcow2").await;
        sim.host.spec.online = false;
        sim.step().await;
        assert!(!sim.status().powered_on);

        let mut failures = BTreeMap::new();
        failures.insert(
            Operation::PowerOn,
            Failure {
                message: "PSU fault".into(),
                times: 1,
            },
        );
        sim.behave(Behaviour {
            failures,
            ..Behaviour::default()
        });
        sim.host.spec.online = true;
        sim.step().await;
        assert_eq!(sim.status().error_type, Some(ErrorType::PowerManagement));
        assert!(sim.reasons().contains(&"PowerManagementError"));
        sim.until(10, |s| s.status().powered_on).await;
        assert_eq!(sim.status().error_type, None);
        assert_eq!(sim.status().error_count, 0);
    });
}

#[test]
fn soft_power_off_failure_says_it_will_go_hard() {
    rt(async {
        let mut sim = Sim::new("softfail", spec_with_bmc());
        sim.reach_provisioned("http://images/os.qcow2").await;
        let mut failures = BTreeMap::new();
        failures.insert(
            Operation::PowerOff,
            Failure {
                message: "ACPI ignored".into(),
                times: 1,
            },
        );
        sim.behave(Behaviour {
            failures,
            ..Behaviour::default()
        });
        sim.host.spec.online = false;
        sim.step().await;
        assert!(sim.status().error_message.starts_with(
            "Continuing with hard poweroff after soft poweroff fails. More details: ACPI ignored"
        ));
        sim.until(10, |s| !s.status().powered_on).await;
    });
}
