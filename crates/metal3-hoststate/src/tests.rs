//! The lifecycle driven end to end against the in-memory fixture backend, with a simulated
//! clock and a simulated controller that applies each decision the way the real one does.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use metal3_api::consts::{
    DETACHED_ANNOTATION, HARDWARE_DETAILS_ANNOTATION, INSPECT_ANNOTATION, REBOOT_ANNOTATION,
    STATUS_ANNOTATION,
};
use metal3_api::v1alpha1::{
    BareMetalHost, BareMetalHostSpec, BmcDetails, ConditionStatus, CustomDeploy, ErrorType,
    HardwareDetails, Image, InspectionMode, OperationalStatus, ProvisioningState as S,
    RootDeviceHints, SecretReference,
};
use metal3_fixture::{Behaviour, Failure, Fixture, Operation};
use metal3_provisioner::{Credentials, HostData, Provisioner};

use super::*;

const NS: &str = "fleet";

struct Sim {
    fixture: Fixture,
    host: BareMetalHost,
    now: Timestamp,
    config: Config,
    credentials: CredentialsInput,
    hardware_data: Option<HardwareDetails>,
    events: Vec<Event>,
    released: bool,
    last: Option<Decision>,
    /// The HostFirmwareSettings spec.
    desired_firmware: BTreeMap<String, IntOrString>,
    /// The DataImage, as the controller would read it.
    data_image: Option<DataImageInput>,
    /// HostUpdatePolicy `firmwareSettings: onReboot`.
    settings_on_reboot: bool,
    /// The preprovisioning image, as the controller would read it.
    preprovisioning: PreprovisioningInput,
}

fn spec_with_bmc() -> BareMetalHostSpec {
    BareMetalHostSpec {
        bmc: BmcDetails {
            address: "redfish-virtualmedia://192.0.2.10/redfish/v1/Systems/1".into(),
            credentials_name: "bmc-secret".into(),
            disable_certificate_verification: false,
        },
        boot_mac_address: "52:54:00:00:00:01".into(),
        online: true,
        ..BareMetalHostSpec::default()
    }
}

fn valid_creds(version: &str) -> CredentialsInput {
    CredentialsInput::Valid {
        secret: SecretReference {
            name: Some("bmc-secret".into()),
            namespace: Some(NS.into()),
        },
        version: version.into(),
    }
}

fn image(url: &str) -> Image {
    Image {
        url: url.into(),
        checksum: format!("{url}.sha256sum"),
        ..Image::default()
    }
}

impl Sim {
    fn new(name: &str, spec: BareMetalHostSpec) -> Self {
        Self::with_fixture(name, spec, Fixture::new())
    }

    fn with_fixture(name: &str, spec: BareMetalHostSpec, fixture: Fixture) -> Self {
        let mut host = BareMetalHost::new(name, spec);
        host.metadata.namespace = Some(NS.into());
        host.metadata.uid = Some(format!("uid-{name}"));
        host.metadata.generation = Some(1);
        let credentials = if host.spec.has_bmc_details() {
            valid_creds("1")
        } else {
            CredentialsInput::NotNeeded
        };
        Self {
            fixture,
            host,
            now: Timestamp::from_second(1_800_000_000).expect("timestamp"),
            config: Config {
                backoff_unit: Duration::from_secs(60),
                ..Config::default()
            },
            credentials,
            hardware_data: None,
            events: Vec::new(),
            released: false,
            last: None,
            desired_firmware: BTreeMap::new(),
            data_image: None,
            settings_on_reboot: false,
            preprovisioning: PreprovisioningInput::NotUsed,
        }
    }

    fn name(&self) -> String {
        self.host.metadata.name.clone().unwrap_or_default()
    }

    fn behave(&self, b: Behaviour) {
        self.fixture.configure(NS, &self.name(), b);
    }

    fn calls(&self) -> metal3_fixture::Calls {
        self.fixture.calls(NS, &self.name())
    }

    fn state(&self) -> S {
        self.host.provisioning_state()
    }

    fn status(&self) -> &metal3_api::v1alpha1::BareMetalHostStatus {
        self.host.status.as_ref().expect("status")
    }

    fn annotate(&mut self, key: &str, value: &str) {
        self.host
            .metadata
            .annotations
            .get_or_insert_with(BTreeMap::new)
            .insert(key.into(), value.into());
    }

    fn has_annotation(&self, key: &str) -> bool {
        self.host
            .metadata
            .annotations
            .as_ref()
            .is_some_and(|a| a.contains_key(key))
    }

    fn delete(&mut self) {
        self.host.metadata.deletion_timestamp = Some(Time(self.now));
    }

    fn inputs(&self) -> Inputs {
        let creds = match &self.credentials {
            CredentialsInput::Valid { .. } => Credentials {
                username: "admin".into(),
                password: "password".into(),
            },
            _ => Credentials::default(),
        };
        Inputs {
            now: self.now,
            host_data: HostData {
                namespace: NS.into(),
                name: self.name(),
                uid: self.host.metadata.uid.clone().unwrap_or_default(),
                annotations: self.host.metadata.annotations.clone().unwrap_or_default(),
                bmc_address: self.host.spec.bmc.address.clone(),
                disable_certificate_verification: false,
                credentials: creds,
                boot_mac_address: self.host.spec.boot_mac_address.clone(),
                provisioner_id: self
                    .host
                    .status
                    .as_ref()
                    .map(|s| s.provisioning.id.clone())
                    .unwrap_or_default(),
            },
            credentials: self.credentials.clone(),
            host_config: Default::default(),
            hardware_data: self.hardware_data.clone(),
            firmware: FirmwareInputs::default(),
            data_image: self.data_image.clone(),
            preprovisioning: self.preprovisioning.clone(),
            preprovisioning_network_data: String::new(),
        }
    }

    /// One reconcile pass, applied like the controller applies it; the clock then moves to
    /// the requested requeue time.
    async fn step(&mut self) -> Decision {
        assert!(!self.released, "reconciling a released host");
        let mut inputs = self.inputs();
        if !self.desired_firmware.is_empty() {
            // What the controller reads from the HostFirmwareSettings.
            let current = self
                .fixture
                .firmware_settings(&inputs.host_data, false)
                .await
                .expect("settings")
                .settings;
            inputs.firmware = FirmwareInputs {
                pending: firmware::changes(&self.desired_firmware, &current),
                current,
                settings_on_reboot: self.settings_on_reboot,
                ..FirmwareInputs::default()
            };
        }
        let d = reconcile(&self.host, &inputs, &self.config, &self.fixture).await;
        if d.transient.is_none() && d.status_changed(self.host.status.as_ref()) {
            let mut status = d.status.clone();
            status.last_updated = Some(Time(self.now));
            self.host.status = Some(status);
        }
        for effect in &d.effects {
            match effect {
                Effect::RemoveAnnotation(key) => {
                    if let Some(a) = self.host.metadata.annotations.as_mut() {
                        a.remove(key);
                    }
                }
                Effect::SaveHardwareData(details) => self.hardware_data = Some((**details).clone()),
                Effect::Released => self.released = true,
                Effect::FirmwareApplied | Effect::DataImageFailed(_) => {}
                Effect::DataImageAttached(url) => {
                    if let Some(di) = self.data_image.as_mut() {
                        di.attached = url.clone();
                    }
                }
            }
        }
        self.events.extend(d.events.iter().cloned());
        let advance = match d.requeue {
            Requeue::Now => Duration::from_millis(1),
            Requeue::After(after) => after.max(Duration::from_millis(1)),
            Requeue::Never => Duration::from_secs(1),
        };
        self.now = self
            .now
            .checked_add(SignedDuration::try_from(advance).expect("duration"))
            .expect("time");
        self.last = Some(d.clone());
        d
    }

    /// Steps until `done` holds, at most `max` passes; returns the states seen.
    async fn until(&mut self, max: usize, done: impl Fn(&Sim) -> bool) -> Vec<S> {
        let mut seen = vec![self.state()];
        for _ in 0..max {
            if done(self) {
                return seen;
            }
            self.step().await;
            if seen.last() != Some(&self.state()) {
                seen.push(self.state());
            }
        }
        assert!(
            done(self),
            "not reached after {max} passes; states {seen:?}, last {:?}",
            self.last
        );
        seen
    }

    async fn until_state(&mut self, state: S) -> Vec<S> {
        self.until(40, |s| s.state() == state).await
    }

    fn reasons(&self) -> Vec<&'static str> {
        self.events.iter().map(|e| e.reason).collect()
    }

    fn condition(&self, t: &str) -> (ConditionStatus, String) {
        let c = self
            .status()
            .conditions
            .iter()
            .find(|c| c.r#type == t)
            .unwrap_or_else(|| panic!("condition {t}"));
        (c.status, c.reason.clone())
    }

    /// Reaches `available` and lets the host settle (powered as `online` says).
    async fn reach_available(&mut self) {
        self.until_state(S::Available).await;
        self.step().await;
    }

    /// Reaches `provisioned` with `url` and lets the host settle.
    async fn reach_provisioned(&mut self, url: &str) {
        self.reach_available().await;
        self.host.spec.image = Some(image(url));
        self.until_state(S::Provisioned).await;
        self.step().await;
    }
}

fn rt<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime")
        .block_on(f)
}

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
fn an_unreachable_backend_is_reported_backed_off_and_recovered_from() {
    rt(async {
        let mut sim = Sim::new("down", spec_with_bmc());
        sim.reach_available().await;
        sim.behave(Behaviour {
            unreachable: true,
            ..Behaviour::default()
        });
        let d = sim.step().await;
        assert!(
            d.transient.is_none(),
            "reported on the host, not as a silent retry"
        );
        let status = sim.status().clone();
        assert_eq!(status.operational_status, OperationalStatus::Error);
        assert_eq!(status.error_type, Some(ErrorType::PowerManagement));
        assert!(
            status
                .error_message
                .starts_with("cannot reach the provisioner"),
            "{}",
            status.error_message
        );
        assert!(sim.reasons().contains(&"PowerManagementError"));
        let Requeue::After(wait) = d.requeue else {
            panic!("{:?}", d.requeue)
        };
        assert!(wait >= Duration::from_secs(60), "{wait:?}");
        assert_eq!(sim.state(), S::Available);

        sim.behave(Behaviour::default());
        sim.until(5, |s| s.status().error_type.is_none()).await;
        assert_eq!(sim.status().operational_status, OperationalStatus::Ok);
        assert_eq!(sim.status().error_count, 0);
    });
}

#[test]
fn a_backend_that_is_not_ready_is_only_retried() {
    rt(async {
        let mut sim = Sim::new("notready", spec_with_bmc());
        sim.reach_available().await;
        let before = sim.status().clone();
        sim.behave(Behaviour {
            not_ready: true,
            ..Behaviour::default()
        });
        let d = sim.step().await;
        assert_eq!(
            d.transient,
            Some(metal3_provisioner::ProvisionerError::NotReady)
        );
        assert_eq!(sim.status(), &before, "nothing recorded for a routine wait");
    });
}

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
fn an_unknown_state_is_reported_not_guessed() {
    rt(async {
        let mut sim = Sim::new("odd", spec_with_bmc());
        sim.reach_available().await;
        if let Some(s) = sim.host.status.as_mut() {
            s.provisioning.state = S::Other("teleporting".into());
        }
        let d = sim.step().await;
        assert_eq!(d.requeue, Requeue::Never);
        let msg = &sim.status().error_message;
        assert!(msg.contains("\"teleporting\""), "{msg}");
        assert_eq!(sim.state(), S::Other("teleporting".into()), "not guessed");
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
fn data_images_change_only_while_the_host_is_off() {
    rt(async {
        let mut sim = Sim::new("di", spec_with_bmc());
        sim.reach_provisioned("http://images/os.qcow2").await;
        sim.data_image = Some(DataImageInput {
            wanted: Some("http://images/config.iso".into()),
            attached: None,
        });
        sim.step().await;
        assert_eq!(
            sim.fixture.node(NS, "di").expect("node").data_image,
            None,
            "not while running"
        );
        sim.annotate(REBOOT_ANNOTATION, "");
        sim.step().await; // off
        sim.step().await; // attach, then on
        assert!(sim.status().powered_on);
        assert_eq!(
            sim.fixture
                .node(NS, "di")
                .expect("node")
                .data_image
                .as_deref(),
            Some("http://images/config.iso")
        );
        assert_eq!(
            sim.data_image.as_ref().and_then(|d| d.attached.as_deref()),
            Some("http://images/config.iso")
        );
        // Deleting the DataImage detaches it at the next power cycle.
        if let Some(di) = sim.data_image.as_mut() {
            di.wanted = None;
        }
        sim.annotate(REBOOT_ANNOTATION, "");
        sim.step().await;
        sim.step().await;
        assert_eq!(sim.fixture.node(NS, "di").expect("node").data_image, None);
        assert_eq!(
            sim.data_image.as_ref().and_then(|d| d.attached.clone()),
            None
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
