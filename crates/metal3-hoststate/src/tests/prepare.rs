//! Preparing and servicing: spec and firmware changes, failures and retries.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use metal3_api::consts::REBOOT_ANNOTATION;
use metal3_api::v1alpha1::{ErrorType, OperationalStatus, ProvisioningState as S, RootDeviceHints};
use metal3_fixture::{Behaviour, Failure, Operation};

use super::harness::*;
use crate::*;

#[test]
fn spec_changes_send_available_hosts_back_to_preparing() {
    rt(async {
        let mut sim = Sim::new("prep", spec_with_bmc());
        sim.reach_available().await;
        sim.host.spec.root_device_hints = Some(RootDeviceHints {
            device_name: "/dev/sdb".into(),
            ..RootDeviceHints::default()
        });
        sim.step().await;
        let seen = sim.until_state(S::Available).await;
        assert_eq!(seen, [S::Preparing, S::Available]);
        assert_eq!(
            sim.status()
                .provisioning
                .root_device_hints
                .as_ref()
                .map(|h| h.device_name.as_str()),
            Some("/dev/sdb")
        );
        assert_eq!(sim.calls().started(Operation::Prepare), 1);
    });
}

#[test]
fn preparation_failure_is_retried_after_backoff() {
    rt(async {
        let mut spec = spec_with_bmc();
        spec.root_device_hints = Some(RootDeviceHints {
            hctl: "0:0:0:0".into(),
            ..RootDeviceHints::default()
        });
        let mut sim = Sim::new("prepfail", spec);
        let mut failures = BTreeMap::new();
        failures.insert(
            Operation::Prepare,
            Failure {
                message: "RAID controller busy".into(),
                times: 1,
            },
        );
        sim.behave(Behaviour {
            failures,
            ..Behaviour::default()
        });
        sim.until(20, |s| {
            s.host
                .status
                .as_ref()
                .is_some_and(|st| st.error_type == Some(ErrorType::Preparation))
        })
        .await;
        assert!(sim.reasons().contains(&"PreparationError"));
        sim.until_state(S::Available).await;
        assert_eq!(sim.status().error_count, 0);
    });
}

#[test]
fn firmware_settings_send_an_available_host_through_preparing_once() {
    rt(async {
        let mut sim = Sim::new("bios", spec_with_bmc());
        sim.reach_available().await;
        sim.desired_firmware.insert(
            "ProcVirtualization".into(),
            IntOrString::String("Disabled".into()),
        );
        sim.step().await;
        assert_eq!(sim.state(), S::Preparing);
        let d = sim.step().await;
        assert_eq!(sim.state(), S::Available);
        assert!(d.effects.contains(&Effect::FirmwareApplied));
        for _ in 0..3 {
            sim.step().await;
        }
        assert_eq!(sim.state(), S::Available, "applied once, no loop");
        assert_eq!(sim.calls().started(Operation::Prepare), 1);
        let node = sim.fixture.node(NS, "bios").expect("node");
        assert_eq!(
            node.firmware_settings
                .expect("settings")
                .get("ProcVirtualization")
                .map(String::as_str),
            Some("Disabled")
        );
    });
}

#[test]
fn servicing_applies_firmware_settings_on_reboot_when_the_policy_allows() {
    rt(async {
        let mut sim = Sim::new("svc", spec_with_bmc());
        sim.reach_provisioned("http://images/os.qcow2").await;
        sim.behave(Behaviour {
            polls: 2,
            ..Behaviour::default()
        });
        sim.desired_firmware.insert(
            "SriovGlobalEnable".into(),
            IntOrString::String("Enabled".into()),
        );
        // Without a policy, a provisioned host is never serviced, even across a reboot.
        sim.annotate(REBOOT_ANNOTATION, "");
        sim.until(10, |s| {
            !s.has_annotation(REBOOT_ANNOTATION) && s.status().powered_on
        })
        .await;
        assert_eq!(sim.calls().started(Operation::Service), 0);
        assert_eq!(sim.state(), S::Provisioned, "no reprovisioning either");

        sim.settings_on_reboot = true;
        sim.annotate(REBOOT_ANNOTATION, "");
        sim.step().await; // powered off
        sim.step().await; // servicing starts
        assert_eq!(
            sim.status().operational_status,
            OperationalStatus::Servicing
        );
        assert_eq!(sim.condition(conditions::READY).1, "Servicing");
        assert!(!sim.status().powered_on, "stays off while servicing");
        sim.until(10, |s| s.status().powered_on).await;
        assert_eq!(sim.status().operational_status, OperationalStatus::Ok);
        assert_eq!(sim.calls().started(Operation::Service), 1);
        let node = sim.fixture.node(NS, "svc").expect("node");
        assert_eq!(
            node.firmware_settings
                .expect("settings")
                .get("SriovGlobalEnable")
                .map(String::as_str),
            Some("Enabled")
        );
        assert!(sim.reasons().contains(&"ServicingComplete"));
        assert_eq!(sim.state(), S::Provisioned);
    });
}

#[test]
fn servicing_failures_are_retried() {
    rt(async {
        let mut sim = Sim::new("svcfail", spec_with_bmc());
        sim.reach_provisioned("http://images/os.qcow2").await;
        let mut failures = BTreeMap::new();
        failures.insert(
            Operation::Service,
            Failure {
                message: "BIOS locked".into(),
                times: 1,
            },
        );
        sim.behave(Behaviour {
            failures,
            ..Behaviour::default()
        });
        sim.settings_on_reboot = true;
        sim.desired_firmware
            .insert("AssetTag".into(), IntOrString::String("rack7".into()));
        sim.annotate(REBOOT_ANNOTATION, "");
        sim.until(10, |s| s.status().error_type == Some(ErrorType::Servicing))
            .await;
        assert!(sim.reasons().contains(&"ServicingError"));
        sim.until(20, |s| s.status().powered_on).await;
        assert_eq!(sim.status().error_type, None);
        assert_eq!(sim.calls().completed(Operation::Service), 1);
    });
}
