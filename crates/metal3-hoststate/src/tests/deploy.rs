//! Deploying and removing images: provisioning, failures and the retry limit, cancellation, custom deploy, externally provisioned hosts, an operator restart mid-way.

use std::collections::BTreeMap;

use metal3_api::v1alpha1::{ConditionStatus, CustomDeploy, ErrorType, ProvisioningState as S};
use metal3_fixture::{Behaviour, Failure, Operation};

use super::harness::*;
use crate::*;

#[test]
fn provision_then_deprovision() {
    rt(async {
        let mut sim = Sim::new("p1", spec_with_bmc());
        sim.reach_available().await;
        sim.host.spec.image = Some(image("http://images/os.qcow2"));
        let seen = sim.until_state(S::Provisioned).await;
        assert_eq!(seen, [S::Available, S::Provisioning, S::Provisioned]);
        sim.step().await;
        let status = sim.status();
        assert_eq!(status.provisioning.image.url, "http://images/os.qcow2");
        assert_eq!(
            status.last_attempted_image,
            Some(image("http://images/os.qcow2"))
        );
        assert!(status.powered_on);
        assert_eq!(
            sim.condition(conditions::PROVISIONED).0,
            ConditionStatus::True
        );
        assert_eq!(sim.condition(conditions::READY).0, ConditionStatus::True);
        assert!(sim.reasons().contains(&"ProvisioningStarted"));
        assert!(sim.reasons().contains(&"ProvisioningComplete"));

        sim.host.spec.image = None;
        let seen = sim.until_state(S::Available).await;
        assert_eq!(seen, [S::Provisioned, S::Deprovisioning, S::Available]);
        assert!(sim.status().provisioning.image.url.is_empty());
        assert!(sim.reasons().contains(&"DeprovisioningComplete"));
        assert_eq!(sim.calls().started(Operation::Provision), 1);
        assert_eq!(sim.calls().started(Operation::Deprovision), 1);
    });
}

#[test]
fn changing_the_image_reprovisions_checksum_alone_does_not() {
    rt(async {
        let mut sim = Sim::new("p2", spec_with_bmc());
        sim.reach_provisioned("http://images/a.qcow2").await;
        let mut same_url = image("http://images/a.qcow2");
        same_url.checksum = "other".into();
        sim.host.spec.image = Some(same_url);
        for _ in 0..3 {
            sim.step().await;
        }
        assert_eq!(sim.state(), S::Provisioned);

        sim.host.spec.image = Some(image("http://images/b.qcow2"));
        sim.until(40, |s| {
            s.state() == S::Provisioned && s.status().provisioning.image.url.ends_with("b.qcow2")
        })
        .await;
        assert_eq!(sim.calls().started(Operation::Provision), 2);
    });
}

#[test]
fn custom_deploy_provisions_without_an_image() {
    rt(async {
        let mut sim = Sim::new("cd", spec_with_bmc());
        sim.reach_available().await;
        sim.host.spec.custom_deploy = Some(CustomDeploy {
            method: "install_coreos".into(),
        });
        sim.until_state(S::Provisioned).await;
        assert_eq!(
            sim.status()
                .provisioning
                .custom_deploy
                .as_ref()
                .map(|c| c.method.as_str()),
            Some("install_coreos")
        );
        sim.host.spec.custom_deploy = None;
        sim.until_state(S::Available).await;
    });
}

#[test]
fn provisioning_failure_deprovisions_backs_off_and_retries() {
    rt(async {
        let mut sim = Sim::new("pf", spec_with_bmc());
        let mut failures = BTreeMap::new();
        failures.insert(
            Operation::Provision,
            Failure {
                message: "image checksum mismatch".into(),
                times: 1,
            },
        );
        sim.behave(Behaviour {
            failures,
            ..Behaviour::default()
        });
        sim.reach_available().await;
        sim.host.spec.image = Some(image("http://images/os.qcow2"));
        sim.until(10, |s| {
            s.status().error_type == Some(ErrorType::Provisioning)
        })
        .await;
        assert_eq!(sim.state(), S::Deprovisioning);
        assert_eq!(sim.status().provisioning_fail_count, 1);
        assert_eq!(sim.status().error_message, "image checksum mismatch");
        sim.until_state(S::Available).await;
        assert_eq!(
            sim.status().error_type,
            Some(ErrorType::Provisioning),
            "the failure stays visible while backing off"
        );
        assert_eq!(sim.condition(conditions::READY).1, "Error");
        let seen = sim.until_state(S::Provisioned).await;
        assert_eq!(seen, [S::Available, S::Provisioning, S::Provisioned]);
        assert_eq!(sim.status().provisioning_fail_count, 0);
        assert_eq!(sim.status().error_count, 0);
        assert_eq!(sim.calls().started(Operation::Provision), 2);
    });
}

#[test]
fn provisioning_retry_limit_and_reset_by_a_new_image() {
    rt(async {
        let mut sim = Sim::new("limit", spec_with_bmc());
        sim.config.max_provisioning_retries = 2;
        let mut failures = BTreeMap::new();
        failures.insert(
            Operation::Provision,
            Failure {
                message: "deploy failed".into(),
                times: 0,
            },
        );
        sim.behave(Behaviour {
            failures,
            ..Behaviour::default()
        });
        sim.reach_available().await;
        sim.host.spec.image = Some(image("http://images/bad.qcow2"));
        sim.until(60, |s| {
            s.last.as_ref().is_some_and(|d| d.requeue == Requeue::Never)
        })
        .await;
        assert_eq!(sim.state(), S::Available);
        assert_eq!(sim.status().provisioning_fail_count, 2);
        assert!(
            sim.status()
                .error_message
                .contains("--max-provisioning-retries")
        );
        assert!(
            sim.status().error_message.contains("deploy failed"),
            "{}",
            sim.status().error_message
        );
        assert_eq!(sim.calls().started(Operation::Provision), 2);

        // Limit 0 would retry forever; a new image resets the count.
        sim.behave(Behaviour::default());
        sim.host.spec.image = Some(image("http://images/good.qcow2"));
        sim.until_state(S::Provisioned).await;
        assert_eq!(sim.status().provisioning_fail_count, 0);
    });
}

#[test]
fn changing_the_image_during_provisioning_cancels_it() {
    rt(async {
        let mut sim = Sim::new("cancel", spec_with_bmc());
        sim.reach_available().await;
        sim.behave(Behaviour {
            polls: 5,
            ..Behaviour::default()
        });
        sim.host.spec.image = Some(image("http://images/a.qcow2"));
        sim.until_state(S::Provisioning).await;
        sim.step().await;
        sim.host.spec.image = Some(image("http://images/b.qcow2"));
        sim.step().await;
        assert_eq!(sim.state(), S::Deprovisioning);
        assert_eq!(
            sim.status().error_type,
            None,
            "a cancellation is not an error"
        );
    });
}

#[test]
fn externally_provisioned_hosts_skip_inspection_and_can_be_handed_over() {
    rt(async {
        let mut spec = spec_with_bmc();
        spec.externally_provisioned = true;
        let mut sim = Sim::new("ext", spec);
        let seen = sim.until_state(S::ExternallyProvisioned).await;
        assert_eq!(seen, [S::None, S::Registering, S::ExternallyProvisioned]);
        assert_eq!(sim.calls().started(Operation::Inspect), 0);
        sim.step().await;
        assert!(sim.calls().started(Operation::Adopt) >= 1);
        assert_eq!(
            sim.condition(conditions::PROVISIONED).0,
            ConditionStatus::True
        );

        sim.host.spec.externally_provisioned = false;
        sim.host.spec.image = Some(image("http://images/os.qcow2"));
        sim.step().await;
        assert_eq!(sim.state(), S::Provisioned);
        assert_eq!(
            sim.status().provisioning.image.url,
            "http://images/os.qcow2"
        );
        sim.step().await;
        assert_eq!(
            sim.state(),
            S::Provisioned,
            "no redeploy of the adopted image"
        );

        // Without an image, a handed-over host is deprovisioned.
        let mut spec = spec_with_bmc();
        spec.externally_provisioned = true;
        let mut bare = Sim::new("ext-noimage", spec);
        bare.until_state(S::ExternallyProvisioned).await;
        bare.host.spec.externally_provisioned = false;
        let seen = bare.until_state(S::Available).await;
        assert_eq!(
            seen,
            [
                S::ExternallyProvisioned,
                S::Provisioned,
                S::Deprovisioning,
                S::Available
            ]
        );
    });
}

#[test]
fn available_hosts_become_externally_provisioned() {
    rt(async {
        let mut sim = Sim::new("to-ext", spec_with_bmc());
        sim.reach_available().await;
        sim.host.spec.externally_provisioned = true;
        sim.step().await;
        assert_eq!(sim.state(), S::ExternallyProvisioned);
    });
}

#[test]
fn a_restarted_operator_resumes_provisioning_without_starting_again() {
    rt(async {
        let mut sim = Sim::new("restart", spec_with_bmc());
        sim.reach_available().await;
        sim.behave(Behaviour {
            polls: 4,
            ..Behaviour::default()
        });
        sim.host.spec.image = Some(image("http://images/os.qcow2"));
        sim.until_state(S::Provisioning).await;
        sim.step().await;
        // A new operator process: same cluster state (the host object), same backend.
        let saved = sim.host.clone();
        let mut again = Sim::with_fixture("restart", saved.spec.clone(), sim.fixture.clone());
        again.host = saved;
        again.until_state(S::Provisioned).await;
        assert_eq!(again.calls().started(Operation::Provision), 1);
    });
}

#[test]
fn legacy_ready_state_becomes_available() {
    rt(async {
        let mut sim = Sim::new("legacy", spec_with_bmc());
        sim.reach_available().await;
        if let Some(s) = sim.host.status.as_mut() {
            s.provisioning.state = S::Ready;
        }
        sim.step().await;
        assert_eq!(sim.state(), S::Available);
    });
}
