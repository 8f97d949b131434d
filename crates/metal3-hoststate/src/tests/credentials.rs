//! The BMC credentials: a missing or invalid Secret in every state, rotation, and no password
//! ever in status or events.

use std::collections::BTreeMap;
use std::time::Duration;

use metal3_api::v1alpha1::{ErrorType, OperationalStatus, ProvisioningState as S};
use metal3_fixture::{Behaviour, Failure, Operation};

use super::harness::*;
use crate::*;

#[test]
fn missing_secret_is_a_registration_error_until_created() {
    rt(async {
        let mut sim = Sim::new("nosecret", spec_with_bmc());
        sim.credentials = CredentialsInput::Missing {
            secret: "bmc-secret".into(),
        };
        sim.step().await;
        let d = sim.step().await;
        assert_eq!(sim.state(), S::Registering);
        assert_eq!(d.requeue, Requeue::After(Duration::from_secs(10)));
        let status = sim.status().clone();
        assert_eq!(status.error_type, Some(ErrorType::Registration));
        assert!(
            status.error_message.contains("\"bmc-secret\""),
            "{}",
            status.error_message
        );
        assert!(status.error_message.contains("username"));
        // Seen again: no new error, no status write.
        let d = sim.step().await;
        assert!(!d.status_changed(Some(&status)));
        assert_eq!(sim.status().error_count, 1);
        assert_eq!(
            sim.condition(conditions::MANAGEABLE).1,
            "RegistrationFailed"
        );

        sim.credentials = valid_creds("7");
        sim.until_state(S::Available).await;
        assert_eq!(sim.status().error_count, 0);
        assert_eq!(sim.status().operational_status, OperationalStatus::Ok);
    });
}

#[test]
fn invalid_credentials_wait_for_a_fix() {
    rt(async {
        let mut sim = Sim::new("badcreds", spec_with_bmc());
        sim.credentials = CredentialsInput::Invalid {
            message: "Secret bmc-secret has no \"password\" key".into(),
        };
        sim.step().await;
        let d = sim.step().await;
        assert_eq!(d.requeue, Requeue::Never);
        assert!(sim.reasons().contains(&"BMCCredentialError"));
        assert_eq!(
            sim.status().error_message,
            "Secret bmc-secret has no \"password\" key"
        );
    });
}

#[test]
fn credentials_rotation_on_a_provisioned_host() {
    rt(async {
        let mut sim = Sim::new("rotate", spec_with_bmc());
        sim.reach_provisioned("http://images/os.qcow2").await;
        let validated = sim
            .reasons()
            .iter()
            .filter(|r| **r == "BMCAccessValidated")
            .count();
        sim.credentials = valid_creds("99");
        sim.step().await;
        assert_eq!(sim.status().good_credentials.credentials_version, "99");
        assert_eq!(sim.state(), S::Provisioned);
        let now = sim
            .reasons()
            .iter()
            .filter(|r| **r == "BMCAccessValidated")
            .count();
        assert_eq!(now, validated + 1);
    });
}

#[test]
fn credentials_never_reach_status_or_events() {
    rt(async {
        let mut sim = Sim::new("secret-safety", spec_with_bmc());
        let mut failures = BTreeMap::new();
        failures.insert(
            Operation::Register,
            Failure {
                message: "login refused".into(),
                times: 1,
            },
        );
        sim.behave(Behaviour {
            failures,
            ..Behaviour::default()
        });
        sim.reach_provisioned("http://images/os.qcow2").await;
        let status = serde_json::to_string(sim.status()).expect("json");
        assert!(!status.contains("password"), "{status}");
        for e in &sim.events {
            assert!(!e.message.contains("password"), "{e:?}");
        }
    });
}

#[test]
fn credential_problems_by_state() {
    fn missing(s: &mut Sim) {
        s.credentials = CredentialsInput::Missing {
            secret: "bmc-secret".into(),
        };
    }
    fn invalid(s: &mut Sim) {
        s.credentials = CredentialsInput::Invalid {
            message: "spec.bmc.address is empty".into(),
        };
    }
    let rows = [
        Transition {
            name: "a missing Secret while registering",
            from: S::Registering,
            change: missing,
            next: S::Registering,
            error: Some(ErrorType::Registration),
            wait: Wait::secs(10),
        },
        Transition {
            name: "an invalid Secret while registering",
            from: S::Registering,
            change: invalid,
            next: S::Registering,
            error: Some(ErrorType::Registration),
            wait: Wait::Never,
        },
        Transition {
            name: "an invalid Secret while inspecting",
            from: S::Inspecting,
            change: invalid,
            next: S::Inspecting,
            error: Some(ErrorType::Registration),
            wait: Wait::Never,
        },
        Transition {
            name: "a missing Secret of an available host",
            from: S::Available,
            change: missing,
            next: S::Available,
            error: Some(ErrorType::Registration),
            wait: Wait::secs(10),
        },
        Transition {
            name: "a missing Secret of a provisioned host",
            from: S::Provisioned,
            change: missing,
            next: S::Provisioned,
            error: Some(ErrorType::ProvisionedRegistration),
            wait: Wait::secs(10),
        },
        Transition {
            name: "an invalid Secret of an externally provisioned host",
            from: S::ExternallyProvisioned,
            change: invalid,
            next: S::ExternallyProvisioned,
            error: Some(ErrorType::ProvisionedRegistration),
            wait: Wait::Never,
        },
        Transition {
            name: "an unmanaged host needs no credentials",
            from: S::Unmanaged,
            change: invalid,
            next: S::Unmanaged,
            error: None,
            wait: Wait::secs(600),
        },
        Transition {
            name: "a new host is not checked before it registers",
            from: S::None,
            change: missing,
            next: S::Registering,
            error: None,
            wait: Wait::Now,
        },
    ];
    rt(async {
        for row in rows {
            let Ran { sim, d, .. } = row.run().await;
            let reasons: Vec<_> = d.events.iter().map(|e| e.reason).collect();
            let invalid = matches!(sim.credentials, CredentialsInput::Invalid { .. });
            assert_eq!(
                reasons.contains(&"BMCCredentialError"),
                invalid && row.error.is_some(),
                "{}: {reasons:?}",
                row.name
            );
            if row.error.is_some() {
                assert_eq!(sim.status().error_count, 1, "{}", row.name);
                assert_eq!(
                    sim.status().operational_status,
                    OperationalStatus::Error,
                    "{}",
                    row.name
                );
            }
        }
    });
}
