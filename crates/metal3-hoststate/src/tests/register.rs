//! Registering: new and unmanaged hosts, enrolling with the provisioner, registration failures,
//! the preprovisioning image; where registering leads.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::jiff::SignedDuration;
use metal3_api::consts::INSPECT_ANNOTATION;
use metal3_api::v1alpha1::{
    BareMetalHostSpec, ConditionStatus, ErrorType, InspectionMode, OperationalStatus,
    ProvisioningState as S,
};
use metal3_fixture::{Behaviour, Failure, Operation};

use super::harness::*;
use crate::*;

#[test]
fn unmanaged_until_bmc_details_are_added() {
    rt(async {
        let mut sim = Sim::new("bare", BareMetalHostSpec::default());
        sim.step().await;
        assert_eq!(sim.state(), S::Unmanaged);
        assert_eq!(
            sim.status().operational_status,
            OperationalStatus::Discovered
        );
        assert_eq!(sim.reasons(), ["Discovered"]);
        let d = sim.step().await;
        assert_eq!(d.requeue, Requeue::After(Duration::from_secs(600)));
        assert_eq!(sim.condition(conditions::MANAGEABLE).1, "NotManaged");

        sim.host.spec = spec_with_bmc();
        sim.credentials = valid_creds("1");
        let seen = sim.until_state(S::Available).await;
        assert_eq!(
            seen,
            [
                S::Unmanaged,
                S::Registering,
                S::Inspecting,
                S::Preparing,
                S::Available
            ]
        );
        assert_eq!(sim.status().operational_status, OperationalStatus::Ok);
    });
}

#[test]
fn registration_inspection_preparation_reach_available() {
    rt(async {
        let mut sim = Sim::new("worker-0", spec_with_bmc());
        sim.behave(Behaviour {
            polls: 2,
            poll_interval_ms: 500,
            ..Behaviour::default()
        });
        let seen = sim.until_state(S::Available).await;
        assert_eq!(
            seen,
            [
                S::None,
                S::Registering,
                S::Inspecting,
                S::Preparing,
                S::Available
            ]
        );
        sim.step().await;
        let status = sim.status();
        assert!(status.provisioning.id.starts_with("fixture-"));
        assert_eq!(
            status.good_credentials.credentials_version, "1",
            "good credentials recorded"
        );
        let hw = status.hardware.as_ref().expect("inventory in status");
        assert_eq!(hw.nics[0].mac, "52:54:00:00:00:01");
        assert_eq!(sim.hardware_data.as_ref(), Some(hw), "HardwareData written");
        let history = &status.operation_history;
        assert!(history.register.start.is_some() && history.register.end.is_some());
        assert!(history.inspect.start.is_some() && history.inspect.end.is_some());
        for reason in [
            "BMCAccessValidated",
            "Registered",
            "InspectionStarted",
            "InspectionComplete",
        ] {
            assert!(
                sim.reasons().contains(&reason),
                "{reason}: {:?}",
                sim.reasons()
            );
        }
        assert_eq!(
            sim.condition(conditions::AVAILABLE_FOR_PROVISIONING),
            (ConditionStatus::True, "Available".into())
        );
        assert_eq!(sim.condition(conditions::HEALTHY).1, "Healthy");
        // At rest: the host is powered on (online) and polled every minute.
        assert!(sim.status().powered_on);
        let d = sim.step().await;
        assert_eq!(d.requeue, Requeue::After(Duration::from_secs(60)));
        assert!(
            !d.status_changed(sim.host.status.as_ref()),
            "a quiet pass writes nothing"
        );
        assert_eq!(sim.calls().started(Operation::Register), 1);
        assert_eq!(sim.calls().started(Operation::Inspect), 1);
    });
}

#[test]
fn registration_failures_back_off_and_rotation_retries_at_once() {
    rt(async {
        let mut sim = Sim::new("flaky", spec_with_bmc());
        let mut failures = BTreeMap::new();
        failures.insert(
            Operation::Register,
            Failure {
                message: "BMC refused the password".into(),
                times: 2,
            },
        );
        sim.behave(Behaviour {
            failures,
            ..Behaviour::default()
        });
        sim.step().await; // -> registering
        let d = sim.step().await;
        assert_eq!(sim.status().error_type, Some(ErrorType::Registration));
        assert_eq!(sim.status().error_count, 1);
        let Requeue::After(wait) = d.requeue else {
            panic!("{:?}", d.requeue)
        };
        assert!(
            wait >= Duration::from_secs(60) && wait <= Duration::from_secs(120),
            "{wait:?}"
        );
        assert!(sim.reasons().contains(&"RegistrationError"));

        // A pass before the backoff elapsed does not call the BMC.
        sim.now = sim
            .now
            .checked_add(SignedDuration::from_secs(-50))
            .expect("time");
        let before = sim.calls().started(Operation::Register);
        sim.step().await;
        assert_eq!(sim.calls().started(Operation::Register), before);

        // New credentials are tried at once.
        sim.credentials = valid_creds("2");
        sim.step().await;
        assert_eq!(sim.calls().started(Operation::Register), before + 1);
        assert_eq!(sim.status().error_count, 2);
        assert_eq!(sim.status().tried_credentials.credentials_version, "2");
        sim.until_state(S::Available).await;
        assert_eq!(sim.status().good_credentials.credentials_version, "2");
    });
}

#[test]
fn registration_waits_for_the_preprovisioning_image() {
    rt(async {
        let mut sim = Sim::new("ppi", spec_with_bmc());
        sim.fixture
            .set_preprovisioning_formats(Some(vec!["iso".into()]));
        sim.preprovisioning = PreprovisioningInput::Waiting("building".into());
        sim.step().await;
        let d = sim.step().await;
        assert_eq!(sim.state(), S::Registering);
        assert_eq!(d.requeue, Requeue::After(Duration::from_secs(300)));
        assert_eq!(sim.calls().started(Operation::Register), 0);
        sim.preprovisioning =
            PreprovisioningInput::Ready(metal3_provisioner::PreprovisioningImage {
                image_url: "http://images/ipa.iso".into(),
                format: "iso".into(),
                ..Default::default()
            });
        sim.until_state(S::Available).await;
        assert_eq!(
            sim.fixture
                .node(NS, "ppi")
                .expect("node")
                .preprovisioning_image
                .as_deref(),
            Some("http://images/ipa.iso")
        );
    });
}

/// Tables: one row per case, each a host in a state, a change, and one pass.
#[test]
fn new_and_unmanaged_hosts_by_bmc_details() {
    fn no_bmc(s: &mut Sim) {
        s.host.spec = BareMetalHostSpec::default();
        s.credentials = CredentialsInput::NotNeeded;
    }
    // (row, operational status after the pass, events of the pass)
    let rows: [(Transition, OperationalStatus, &[&str]); 4] = [
        (
            Transition {
                name: "a new host without BMC details is unmanaged",
                from: S::None,
                change: no_bmc,
                next: S::Unmanaged,
                error: None,
                wait: Wait::Now,
            },
            OperationalStatus::Discovered,
            &["Discovered"],
        ),
        (
            Transition {
                name: "a new host with BMC details registers",
                from: S::None,
                change: unchanged,
                next: S::Registering,
                error: None,
                wait: Wait::Now,
            },
            OperationalStatus::Ok,
            &[],
        ),
        (
            Transition {
                name: "an unmanaged host waits for BMC details",
                from: S::Unmanaged,
                change: unchanged,
                next: S::Unmanaged,
                error: None,
                wait: Wait::secs(600),
            },
            OperationalStatus::Discovered,
            &[],
        ),
        (
            Transition {
                name: "an unmanaged host given BMC details registers",
                from: S::Unmanaged,
                change: |s| {
                    s.host.spec = spec_with_bmc();
                    s.credentials = valid_creds("1");
                },
                next: S::Registering,
                error: None,
                wait: Wait::Now,
            },
            OperationalStatus::Ok,
            &[],
        ),
    ];
    rt(async {
        for (row, status, events) in rows {
            let ran = row.run().await;
            let name = row.name;
            assert_eq!(ran.sim.status().operational_status, status, "{name}");
            assert_eq!(ran.reasons(), events, "{name}");
        }
    });
}

/// The rows of [`registering_leads_to_inspection_preparation_or_external_provisioning`].
fn registering_rows() -> [(Transition, bool); 7] {
    // (row, whether the pass says inspection was skipped)
    [
        (
            Transition {
                name: "a plain host is inspected",
                from: S::Registering,
                change: |s| s.behave(Behaviour::default()),
                next: S::Inspecting,
                error: None,
                wait: Wait::Now,
            },
            false,
        ),
        (
            Transition {
                name: "inspectionMode fast is inspected",
                from: S::Registering,
                change: |s| {
                    s.behave(Behaviour::default());
                    s.host.spec.inspection_mode = Some(InspectionMode::Fast);
                },
                next: S::Inspecting,
                error: None,
                wait: Wait::Now,
            },
            false,
        ),
        (
            Transition {
                name: "inspectionMode disabled goes on to preparing",
                from: S::Registering,
                change: |s| {
                    s.behave(Behaviour::default());
                    s.host.spec.inspection_mode = Some(InspectionMode::Disabled);
                },
                next: S::Preparing,
                error: None,
                wait: Wait::Now,
            },
            true,
        ),
        (
            Transition {
                name: "the legacy inspect annotation 'disabled' goes on to preparing",
                from: S::Registering,
                change: |s| {
                    s.behave(Behaviour::default());
                    s.annotate(INSPECT_ANNOTATION, "disabled");
                },
                next: S::Preparing,
                error: None,
                wait: Wait::Now,
            },
            true,
        ),
        (
            Transition {
                name: "an externally provisioned host skips inspection",
                from: S::Registering,
                change: |s| {
                    s.behave(Behaviour::default());
                    s.host.spec.externally_provisioned = true;
                },
                next: S::ExternallyProvisioned,
                error: None,
                wait: Wait::Now,
            },
            false,
        ),
        (
            Transition {
                name: "externally provisioned wins over disabled inspection",
                from: S::Registering,
                change: |s| {
                    s.behave(Behaviour::default());
                    s.host.spec.externally_provisioned = true;
                    s.host.spec.inspection_mode = Some(InspectionMode::Disabled);
                },
                next: S::ExternallyProvisioned,
                error: None,
                wait: Wait::Now,
            },
            false,
        ),
        (
            Transition {
                name: "registration in progress stays",
                from: S::Registering,
                change: unchanged,
                next: S::Registering,
                error: None,
                wait: Wait::After(Duration::ZERO),
            },
            false,
        ),
    ]
}

#[test]
fn registering_leads_to_inspection_preparation_or_external_provisioning() {
    let rows = registering_rows();
    rt(async {
        for (row, skipped) in rows {
            let ran = row.run().await;
            let reasons = ran.reasons();
            assert_eq!(
                reasons.contains(&"InspectionSkipped"),
                skipped,
                "{}: {reasons:?}",
                row.name
            );
            let registered = row.next != S::Registering;
            assert_eq!(
                reasons.contains(&"Registered"),
                registered,
                "{}: {reasons:?}",
                row.name
            );
            if registered {
                assert_eq!(
                    ran.d.state_change,
                    Some((S::Registering, row.next.clone())),
                    "{}",
                    row.name
                );
                assert_eq!(
                    ran.sim.status().good_credentials.credentials_version,
                    "1",
                    "{}",
                    row.name
                );
            }
        }
    });
}
