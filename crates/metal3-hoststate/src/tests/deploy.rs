//! Deploying and removing images: what available, provisioning, provisioned and externally
//! provisioned hosts do next; failures and the retry limit, cancellation, custom deploy, an
//! operator restart mid-way.

use std::collections::BTreeMap;
use std::time::Duration;

use metal3_api::consts::INSPECT_ANNOTATION;
use metal3_api::v1alpha1::{
    ConditionStatus, CustomDeploy, ErrorType, FirmwareConfig, ProvisioningState as S, RaidConfig,
    RootDeviceHints,
};
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

#[test]
fn what_an_available_host_does_next() {
    let rows = [
        Transition {
            name: "nothing asked: it stays, polled every minute",
            from: S::Available,
            change: unchanged,
            next: S::Available,
            error: None,
            wait: Wait::secs(60),
        },
        Transition {
            name: "marked externally provisioned",
            from: S::Available,
            change: |s| s.host.spec.externally_provisioned = true,
            next: S::ExternallyProvisioned,
            error: None,
            wait: Wait::Now,
        },
        Transition {
            name: "the inspect annotation asks for re-inspection",
            from: S::Available,
            change: |s| s.annotate(INSPECT_ANNOTATION, ""),
            next: S::Inspecting,
            error: None,
            wait: Wait::Now,
        },
        Transition {
            name: "the inspect annotation 'disabled' is no re-inspection",
            from: S::Available,
            change: |s| s.annotate(INSPECT_ANNOTATION, "disabled"),
            next: S::Available,
            error: None,
            wait: Wait::secs(60),
        },
        Transition {
            name: "new root device hints need preparing",
            from: S::Available,
            change: |s| {
                s.host.spec.root_device_hints = Some(RootDeviceHints {
                    device_name: "/dev/sdb".into(),
                    ..RootDeviceHints::default()
                });
            },
            next: S::Preparing,
            error: None,
            wait: Wait::Now,
        },
        Transition {
            name: "a firmware config needs preparing",
            from: S::Available,
            change: |s| {
                s.host.spec.firmware = Some(FirmwareConfig {
                    virtualization_enabled: Some(true),
                    ..FirmwareConfig::default()
                });
            },
            next: S::Preparing,
            error: None,
            wait: Wait::Now,
        },
        Transition {
            name: "an empty RAID section is no change",
            from: S::Available,
            change: |s| s.host.spec.raid = Some(RaidConfig::default()),
            next: S::Available,
            error: None,
            wait: Wait::secs(60),
        },
        Transition {
            name: "an image starts provisioning",
            from: S::Available,
            change: |s| s.host.spec.image = Some(image("http://images/os.qcow2")),
            next: S::Provisioning,
            error: None,
            wait: Wait::Now,
        },
        Transition {
            name: "a custom deploy starts provisioning",
            from: S::Available,
            change: |s| {
                s.host.spec.custom_deploy = Some(CustomDeploy {
                    method: "install_coreos".into(),
                });
            },
            next: S::Provisioning,
            error: None,
            wait: Wait::Now,
        },
        Transition {
            name: "an image URL that is empty is no deployment",
            from: S::Available,
            change: |s| s.host.spec.image = Some(image("")),
            next: S::Available,
            error: None,
            wait: Wait::secs(60),
        },
        Transition {
            name: "an image for a host that is to be off is not deployed; it is powered off",
            from: S::Available,
            change: |s| {
                s.host.spec.image = Some(image("http://images/os.qcow2"));
                s.host.spec.online = false;
            },
            next: S::Available,
            error: None,
            wait: Wait::Now,
        },
    ];
    rt(async {
        for row in rows {
            let reasons = row.run().await.reasons();
            assert_eq!(
                reasons.contains(&"ProvisioningStarted"),
                row.next == S::Provisioning,
                "{}: {reasons:?}",
                row.name
            );
        }
    });
}

#[test]
fn what_a_provisioning_host_does_next() {
    let rows = [
        Transition {
            name: "the deployment is under way",
            from: S::Provisioning,
            change: unchanged,
            next: S::Provisioning,
            error: None,
            wait: Wait::After(Duration::ZERO),
        },
        Transition {
            name: "the deployment completes",
            from: S::Provisioning,
            change: |s| s.behave(Behaviour::default()),
            next: S::Provisioned,
            error: None,
            wait: Wait::Now,
        },
        Transition {
            name: "removing the image cancels it",
            from: S::Provisioning,
            change: |s| s.host.spec.image = None,
            next: S::Deprovisioning,
            error: None,
            wait: Wait::Now,
        },
        Transition {
            name: "another image URL cancels it",
            from: S::Provisioning,
            change: |s| s.host.spec.image = Some(image("http://images/other.qcow2")),
            next: S::Deprovisioning,
            error: None,
            wait: Wait::Now,
        },
        Transition {
            name: "another checksum of the same URL does not",
            from: S::Provisioning,
            change: |s| {
                if let Some(image) = s.host.spec.image.as_mut() {
                    image.checksum = "other".into();
                }
            },
            next: S::Provisioning,
            error: None,
            wait: Wait::After(Duration::ZERO),
        },
    ];
    rt(async {
        for row in rows {
            let ran = row.run().await;
            let reasons = ran.reasons();
            let cancelled = row.next == S::Deprovisioning;
            assert_eq!(
                reasons.contains(&"DeprovisioningStarted"),
                cancelled,
                "{}: {reasons:?}",
                row.name
            );
            assert_eq!(
                reasons.contains(&"ProvisioningComplete"),
                row.next == S::Provisioned,
                "{}: {reasons:?}",
                row.name
            );
        }
    });
}

#[test]
fn what_a_provisioned_host_does_next() {
    let rows = [
        Transition {
            name: "nothing changed: it stays, polled every minute",
            from: S::Provisioned,
            change: unchanged,
            next: S::Provisioned,
            error: None,
            wait: Wait::secs(60),
        },
        Transition {
            name: "removing the image deprovisions",
            from: S::Provisioned,
            change: |s| s.host.spec.image = None,
            next: S::Deprovisioning,
            error: None,
            wait: Wait::Now,
        },
        Transition {
            name: "another image URL deprovisions first",
            from: S::Provisioned,
            change: |s| s.host.spec.image = Some(image("http://images/other.qcow2")),
            next: S::Deprovisioning,
            error: None,
            wait: Wait::Now,
        },
        Transition {
            name: "another checksum of the same URL changes nothing",
            from: S::Provisioned,
            change: |s| {
                if let Some(image) = s.host.spec.image.as_mut() {
                    image.checksum = "other".into();
                }
            },
            next: S::Provisioned,
            error: None,
            wait: Wait::secs(60),
        },
        Transition {
            name: "adding a custom deploy deprovisions first",
            from: S::Provisioned,
            change: |s| {
                s.host.spec.custom_deploy = Some(CustomDeploy {
                    method: "install_coreos".into(),
                });
            },
            next: S::Deprovisioning,
            error: None,
            wait: Wait::Now,
        },
        Transition {
            name: "marking it externally provisioned changes nothing",
            from: S::Provisioned,
            change: |s| s.host.spec.externally_provisioned = true,
            next: S::Provisioned,
            error: None,
            wait: Wait::secs(60),
        },
    ];
    rt(async {
        for row in rows {
            let ran = row.run().await;
            let reasons = ran.reasons();
            assert_eq!(
                reasons.contains(&"DeprovisioningStarted"),
                row.next == S::Deprovisioning,
                "{}: {reasons:?}",
                row.name
            );
            assert_eq!(
                ran.started_in_pass(Operation::Adopt),
                u32::from(row.next == S::Provisioned),
                "{}: adopted while it stays",
                row.name
            );
        }
    });
}

#[test]
fn what_an_externally_provisioned_host_does_next() {
    // (row, image URL recorded as deployed)
    let rows: [(Transition, &str); 3] = [
        (
            Transition {
                name: "still externally provisioned: it stays",
                from: S::ExternallyProvisioned,
                change: unchanged,
                next: S::ExternallyProvisioned,
                error: None,
                wait: Wait::secs(60),
            },
            "",
        ),
        (
            Transition {
                name: "handed over with an image: that image counts as deployed",
                from: S::ExternallyProvisioned,
                change: |s| {
                    s.host.spec.externally_provisioned = false;
                    s.host.spec.image = Some(image("http://images/os.qcow2"));
                },
                next: S::Provisioned,
                error: None,
                wait: Wait::Now,
            },
            "http://images/os.qcow2",
        ),
        (
            Transition {
                name: "handed over without an image",
                from: S::ExternallyProvisioned,
                change: |s| s.host.spec.externally_provisioned = false,
                next: S::Provisioned,
                error: None,
                wait: Wait::Now,
            },
            "",
        ),
    ];
    rt(async {
        for (row, url) in rows {
            let ran = row.run().await;
            assert_eq!(ran.sim.status().provisioning.image.url, url, "{}", row.name);
            assert_eq!(
                ran.started_in_pass(Operation::Provision),
                0,
                "{}: never deployed",
                row.name
            );
        }
    });
}
