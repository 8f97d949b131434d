//! Deleting hosts from every state, without credentials, when power off fails, and detached.

use std::collections::BTreeMap;

use metal3_api::consts::DETACHED_ANNOTATION;
use metal3_api::v1alpha1::{BareMetalHostSpec, ProvisioningState as S};
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
