//! Steady-state power: `online` and the reboot annotations by state, power failures.

use std::collections::BTreeMap;

use metal3_api::consts::REBOOT_ANNOTATION;
use metal3_api::v1alpha1::{ErrorType, ProvisioningState as S};
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

/// The rows of [`power_and_reboot_requests_by_state`].
fn power_rows() -> [(Transition, bool, Option<&'static str>); 10] {
    // (row, powered on after the pass, the power event of the pass)
    [
        (
            Transition {
                name: "provisioned and online: nothing to do",
                from: S::Provisioned,
                change: unchanged,
                next: S::Provisioned,
                error: None,
                wait: Wait::secs(60),
            },
            true,
            None,
        ),
        (
            Transition {
                name: "provisioned, online false: powered off",
                from: S::Provisioned,
                change: |s| s.host.spec.online = false,
                next: S::Provisioned,
                error: None,
                wait: Wait::Now,
            },
            false,
            Some("PowerOff"),
        ),
        (
            Transition {
                name: "provisioned, reboot annotation: powered off",
                from: S::Provisioned,
                change: |s| s.annotate(REBOOT_ANNOTATION, ""),
                next: S::Provisioned,
                error: None,
                wait: Wait::Now,
            },
            false,
            Some("PowerOff"),
        ),
        (
            Transition {
                name: "provisioned, an owner's hard reboot: powered off",
                from: S::Provisioned,
                change: |s| s.annotate("reboot.metal3.io/owner", r#"{"mode": "hard"}"#),
                next: S::Provisioned,
                error: None,
                wait: Wait::Now,
            },
            false,
            Some("PowerOff"),
        ),
        (
            Transition {
                name: "provisioned, a reboot value that is not JSON: a soft reboot",
                from: S::Provisioned,
                change: |s| s.annotate("reboot.metal3.io/owner", "now please"),
                next: S::Provisioned,
                error: None,
                wait: Wait::Now,
            },
            false,
            Some("PowerOff"),
        ),
        (
            Transition {
                name: "externally provisioned, reboot annotation: powered off",
                from: S::ExternallyProvisioned,
                change: |s| s.annotate(REBOOT_ANNOTATION, ""),
                next: S::ExternallyProvisioned,
                error: None,
                wait: Wait::Now,
            },
            false,
            Some("PowerOff"),
        ),
        (
            Transition {
                name: "available and online: nothing to do",
                from: S::Available,
                change: unchanged,
                next: S::Available,
                error: None,
                wait: Wait::secs(60),
            },
            true,
            None,
        ),
        (
            Transition {
                name: "available, online false: powered off",
                from: S::Available,
                change: |s| s.host.spec.online = false,
                next: S::Available,
                error: None,
                wait: Wait::Now,
            },
            false,
            Some("PowerOff"),
        ),
        (
            Transition {
                name: "available, reboot annotation: ignored",
                from: S::Available,
                change: |s| s.annotate(REBOOT_ANNOTATION, ""),
                next: S::Available,
                error: None,
                wait: Wait::secs(60),
            },
            true,
            None,
        ),
        (
            Transition {
                name: "available, forced reboot: powered off",
                from: S::Available,
                change: |s| s.annotate("reboot.metal3.io/owner", r#"{"force": true}"#),
                next: S::Available,
                error: None,
                wait: Wait::Now,
            },
            false,
            Some("PowerOff"),
        ),
    ]
}

#[test]
fn power_and_reboot_requests_by_state() {
    let rows = power_rows();
    rt(async {
        for (row, powered_on, event) in rows {
            let ran = row.run().await;
            let name = row.name;
            assert_eq!(ran.sim.status().powered_on, powered_on, "{name}: power");
            let reasons = ran.reasons();
            let power: Vec<_> = reasons
                .iter()
                .copied()
                .filter(|r| r.starts_with("Power"))
                .collect();
            assert_eq!(power, Vec::from_iter(event), "{name}: {reasons:?}");
            let invalid = ran
                .sim
                .host
                .metadata
                .annotations
                .as_ref()
                .is_some_and(|a| a.values().any(|v| v == "now please"));
            assert_eq!(
                reasons.contains(&"InvalidAnnotationValue"),
                invalid,
                "{name}: {reasons:?}"
            );
        }
    });
}
