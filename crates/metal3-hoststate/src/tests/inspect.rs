//! Inspecting: failures, re-inspection and external inspection by annotation.

use std::collections::BTreeMap;

use metal3_api::consts::{HARDWARE_DETAILS_ANNOTATION, INSPECT_ANNOTATION};
use metal3_api::v1alpha1::{ErrorType, InspectionMode, ProvisioningState as S};
use metal3_fixture::{Behaviour, Failure, Operation};

use super::harness::*;
use crate::*;

#[test]
fn inspection_failure_is_retried() {
    rt(async {
        let mut sim = Sim::new("inspfail", spec_with_bmc());
        let mut failures = BTreeMap::new();
        failures.insert(
            Operation::Inspect,
            Failure {
                message: "ramdisk never called back".into(),
                times: 2,
            },
        );
        sim.behave(Behaviour {
            failures,
            ..Behaviour::default()
        });
        sim.until(20, |s| {
            s.host.status.as_ref().is_some_and(|st| st.error_count == 2)
        })
        .await;
        assert_eq!(sim.status().error_type, Some(ErrorType::Inspection));
        assert_eq!(sim.condition(conditions::READY).1, "Error");
        sim.until_state(S::Available).await;
    });
}

#[test]
fn reinspection_by_annotation() {
    rt(async {
        let mut sim = Sim::new("reinspect", spec_with_bmc());
        sim.reach_available().await;
        sim.annotate(INSPECT_ANNOTATION, "");
        sim.step().await;
        assert_eq!(sim.state(), S::Inspecting);
        assert!(!sim.has_annotation(INSPECT_ANNOTATION));
        sim.until_state(S::Available).await;
        assert_eq!(sim.calls().started(Operation::Inspect), 2);
    });
}

#[test]
fn external_inspection_by_annotation() {
    rt(async {
        let mut spec = spec_with_bmc();
        spec.inspection_mode = Some(InspectionMode::Disabled);
        let mut sim = Sim::new("extinsp", spec);
        let details =
            r#"{"cpu":{"arch":"aarch64","count":8},"ramMebibytes":4096,"hostname":"edge-1"}"#;
        sim.annotate(HARDWARE_DETAILS_ANNOTATION, details);
        let seen = sim.until_state(S::Available).await;
        assert_eq!(seen, [S::None, S::Registering, S::Preparing, S::Available]);
        assert_eq!(sim.calls().started(Operation::Inspect), 0);
        let hw = sim.status().hardware.clone().expect("hardware");
        assert_eq!(hw.cpu.arch, "aarch64");
        assert_eq!(hw.ram_mebibytes, 4096);
        assert_eq!(sim.hardware_data.as_ref(), Some(&hw));
        assert!(!sim.has_annotation(HARDWARE_DETAILS_ANNOTATION));
        assert!(sim.reasons().contains(&"InspectionSkipped"));
    });
}

#[test]
fn bad_hardware_details_annotation_is_reported_and_dropped() {
    rt(async {
        let mut spec = spec_with_bmc();
        spec.inspection_mode = Some(InspectionMode::Disabled);
        let mut sim = Sim::new("badhw", spec);
        sim.annotate(HARDWARE_DETAILS_ANNOTATION, r#"{"cpu": {"arch": 5}}"#);
        sim.step().await;
        assert!(!sim.has_annotation(HARDWARE_DETAILS_ANNOTATION));
        let e = sim
            .events
            .iter()
            .find(|e| e.reason == "InvalidAnnotationValue")
            .expect("event");
        assert!(e.message.contains(HARDWARE_DETAILS_ANNOTATION));
    });
}

#[test]
fn hardware_data_is_read_only_while_the_status_needs_it() {
    rt(async {
        let mut sim = Sim::new("hwdata-reads", spec_with_bmc());
        assert!(reads_hardware_data(&sim.host), "no status yet");
        sim.reach_available().await;
        assert!(sim.hardware_data.is_some());
        assert!(
            !reads_hardware_data(&sim.host),
            "the status has the details"
        );

        let mut disabled = sim.host.clone();
        disabled.spec.inspection_mode = Some(InspectionMode::Disabled);
        assert!(reads_hardware_data(&disabled), "details from outside");

        let mut by_annotation = sim.host.clone();
        by_annotation
            .metadata
            .annotations
            .get_or_insert_default()
            .insert(INSPECT_ANNOTATION.into(), "disabled".into());
        assert!(
            reads_hardware_data(&by_annotation),
            "inspection disabled by annotation"
        );

        let mut moved = sim.host.clone();
        moved
            .metadata
            .annotations
            .get_or_insert_default()
            .insert(metal3_api::consts::STATUS_ANNOTATION.into(), "{}".into());
        assert!(reads_hardware_data(&moved), "a saved status to restore");

        // A host that lost its status (moved without the annotation) gets the details back
        // from its HardwareData without inspecting again.
        let inspections = sim.calls().started(Operation::Inspect);
        if let Some(status) = sim.host.status.as_mut() {
            status.hardware = None;
        }
        assert!(reads_hardware_data(&sim.host));
        sim.step().await;
        assert_eq!(sim.status().hardware.as_ref(), sim.hardware_data.as_ref());
        assert_eq!(sim.calls().started(Operation::Inspect), inspections);
    });
}
