//! The simulated controller: a host driven pass after pass against the in-memory fixture
//! backend, with a simulated clock, applying each decision the way the real controller does.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use metal3_api::v1alpha1::{
    BareMetalHost, BareMetalHostSpec, BmcDetails, ConditionStatus, ErrorType, HardwareDetails,
    Image, ProvisioningState as S, RootDeviceHints, SecretReference,
};
use metal3_fixture::{Behaviour, Calls, Failure, Fixture, Operation};
use metal3_provisioner::{Credentials, HostData, Provisioner};

use crate::*;

pub(super) const NS: &str = "fleet";

pub(super) struct Sim {
    pub(super) fixture: Fixture,
    pub(super) host: BareMetalHost,
    pub(super) now: Timestamp,
    pub(super) config: Config,
    pub(super) credentials: CredentialsInput,
    pub(super) hardware_data: Option<HardwareDetails>,
    pub(super) events: Vec<Event>,
    pub(super) released: bool,
    pub(super) last: Option<Decision>,
    /// The HostFirmwareSettings spec.
    pub(super) desired_firmware: BTreeMap<String, IntOrString>,
    /// The DataImage, as the controller would read it.
    pub(super) data_image: Option<DataImageInput>,
    /// HostUpdatePolicy `firmwareSettings: onReboot`.
    pub(super) settings_on_reboot: bool,
    /// The preprovisioning image, as the controller would read it.
    pub(super) preprovisioning: PreprovisioningInput,
}

pub(super) fn spec_with_bmc() -> BareMetalHostSpec {
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

pub(super) fn valid_creds(version: &str) -> CredentialsInput {
    CredentialsInput::Valid {
        secret: SecretReference {
            name: Some("bmc-secret".into()),
            namespace: Some(NS.into()),
        },
        version: version.into(),
    }
}

pub(super) fn image(url: &str) -> Image {
    Image {
        url: url.into(),
        checksum: format!("{url}.sha256sum"),
        ..Image::default()
    }
}

impl Sim {
    pub(super) fn new(name: &str, spec: BareMetalHostSpec) -> Self {
        Self::with_fixture(name, spec, Fixture::new())
    }

    pub(super) fn with_fixture(name: &str, spec: BareMetalHostSpec, fixture: Fixture) -> Self {
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

    pub(super) fn name(&self) -> String {
        self.host.metadata.name.clone().unwrap_or_default()
    }

    pub(super) fn behave(&self, b: Behaviour) {
        self.fixture.configure(NS, &self.name(), b);
    }

    pub(super) fn calls(&self) -> metal3_fixture::Calls {
        self.fixture.calls(NS, &self.name())
    }

    pub(super) fn state(&self) -> S {
        self.host.provisioning_state()
    }

    pub(super) fn status(&self) -> &metal3_api::v1alpha1::BareMetalHostStatus {
        self.host.status.as_ref().expect("status")
    }

    pub(super) fn annotate(&mut self, key: &str, value: &str) {
        self.host
            .metadata
            .annotations
            .get_or_insert_with(BTreeMap::new)
            .insert(key.into(), value.into());
    }

    pub(super) fn has_annotation(&self, key: &str) -> bool {
        self.host
            .metadata
            .annotations
            .as_ref()
            .is_some_and(|a| a.contains_key(key))
    }

    pub(super) fn delete(&mut self) {
        self.host.metadata.deletion_timestamp = Some(Time(self.now));
    }

    pub(super) fn inputs(&self) -> Inputs {
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
                network_interfaces: self.host.spec.network_interfaces.clone(),
                network_attachments: Default::default(),
            },
            credentials: self.credentials.clone(),
            host_config: Default::default(),
            // As the controller reads it: only when the pass needs it.
            hardware_data: self
                .hardware_data
                .clone()
                .filter(|_| crate::reads_hardware_data(&self.host)),
            firmware: FirmwareInputs::default(),
            data_image: self.data_image.clone(),
            preprovisioning: self.preprovisioning.clone(),
            preprovisioning_network_data: String::new(),
        }
    }

    /// One reconcile pass, applied like the controller applies it; the clock then moves to
    /// the requested requeue time.
    pub(super) async fn step(&mut self) -> Decision {
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
    pub(super) async fn until(&mut self, max: usize, done: impl Fn(&Sim) -> bool) -> Vec<S> {
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

    pub(super) async fn until_state(&mut self, state: S) -> Vec<S> {
        self.until(40, |s| s.state() == state).await
    }

    pub(super) fn reasons(&self) -> Vec<&'static str> {
        self.events.iter().map(|e| e.reason).collect()
    }

    pub(super) fn condition(&self, t: &str) -> (ConditionStatus, String) {
        let c = self
            .status()
            .conditions
            .iter()
            .find(|c| c.r#type == t)
            .unwrap_or_else(|| panic!("condition {t}"));
        (c.status, c.reason.clone())
    }

    /// Reaches `available` and lets the host settle (powered as `online` says).
    pub(super) async fn reach_available(&mut self) {
        self.until_state(S::Available).await;
        self.step().await;
    }

    /// Reaches `provisioned` with `url` and lets the host settle.
    pub(super) async fn reach_provisioned(&mut self, url: &str) {
        self.reach_available().await;
        self.host.spec.image = Some(image(url));
        self.until_state(S::Provisioned).await;
        self.step().await;
    }

    /// A host named `name` brought to `state` against a fixture whose long operations answer
    /// "in progress" three times, so that the state holds for the next pass. The spec is what
    /// the state needs (no BMC for `unmanaged`, root device hints for `preparing`, an image
    /// for the deployment states, `externallyProvisioned`); hosts at rest are let settle.
    pub(super) async fn at(name: &str, state: S) -> Sim {
        Self::at_with(name, state, Fixture::new()).await
    }

    /// [`Sim::at`] on a given fixture (shared with other hosts). `poweringOffBeforeDelete` and
    /// `deleting` are reached by deleting an available host.
    pub(super) async fn at_with(name: &str, state: S, fixture: Fixture) -> Sim {
        let mut spec = spec_with_bmc();
        match state {
            S::Unmanaged => spec = BareMetalHostSpec::default(),
            S::Preparing => {
                spec.root_device_hints = Some(RootDeviceHints {
                    device_name: "/dev/sdb".into(),
                    ..RootDeviceHints::default()
                });
            }
            S::ExternallyProvisioned => spec.externally_provisioned = true,
            S::Provisioning | S::Provisioned | S::Deprovisioning => {
                spec.image = Some(image("http://images/os.qcow2"));
            }
            _ => {}
        }
        let mut sim = Sim::with_fixture(name, spec, fixture);
        sim.behave(Behaviour {
            polls: 3,
            ..Behaviour::default()
        });
        if state == S::Deprovisioning {
            sim.until(60, |s| s.state() == S::Provisioned).await;
            sim.host.spec.image = None;
        }
        if matches!(state, S::PoweringOffBeforeDelete | S::Deleting) {
            sim.until(60, |s| s.state() == S::Available).await;
            sim.step().await;
            sim.delete();
        }
        sim.until(60, |s| s.state() == state).await;
        if matches!(
            state,
            S::Available | S::Provisioned | S::ExternallyProvisioned
        ) {
            sim.step().await;
        }
        assert_eq!(sim.state(), state, "{name}: settled in {state:?}");
        sim
    }

    /// How many times `op` was started for this host.
    pub(super) fn started(&self, op: Operation) -> u32 {
        self.calls().started(op)
    }
}

pub(super) fn rt<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime")
        .block_on(f)
}

/// A fixture behaviour that fails `op` with `message` (`times` times, 0 = always).
pub(super) fn failing(op: Operation, message: &str, times: u32) -> Behaviour {
    Behaviour {
        failures: [(
            op,
            Failure {
                message: message.into(),
                times,
            },
        )]
        .into(),
        ..Behaviour::default()
    }
}

/// The requeue a pass should ask for.
#[derive(Clone, Copy, Debug)]
pub(super) enum Wait {
    /// `Requeue::Now`.
    Now,
    /// `Requeue::After` exactly this long.
    After(Duration),
    /// The backoff after a first error: more than one minute, at most two.
    Backoff,
    /// `Requeue::Never`.
    Never,
}

impl Wait {
    /// `Requeue::After` this many seconds.
    pub(super) const fn secs(secs: u64) -> Self {
        Self::After(Duration::from_secs(secs))
    }

    /// Panics, naming `row`, when `got` is not this wait.
    pub(super) fn check(self, got: Requeue, row: &str) {
        let ok = match (self, got) {
            (Wait::Now, Requeue::Now) | (Wait::Never, Requeue::Never) => true,
            (Wait::After(want), Requeue::After(got)) => want == got,
            (Wait::Backoff, Requeue::After(got)) => {
                got > Duration::from_secs(60) && got <= Duration::from_secs(120)
            }
            _ => false,
        };
        assert!(ok, "{row}: requeue {got:?}, expected {self:?}");
    }
}

/// One row of a transition table: a host brought to `from` (see [`Sim::at`]), changed by
/// `change`, then one pass, which must leave it in `next` with error type `error` and ask to
/// come back as `wait` says.
pub(super) struct Transition {
    /// What the row checks; every failure message starts with it.
    pub(super) name: &'static str,
    pub(super) from: S,
    pub(super) change: fn(&mut Sim),
    pub(super) next: S,
    pub(super) error: Option<ErrorType>,
    pub(super) wait: Wait,
}

/// What one row's pass left: the host, the decision, and the provisioner calls before it.
pub(super) struct Ran {
    pub(super) sim: Sim,
    pub(super) d: Decision,
    before: Calls,
}

impl Ran {
    /// How many times the pass started `op`.
    pub(super) fn started_in_pass(&self, op: Operation) -> u32 {
        self.sim.started(op) - self.before.started(op)
    }

    /// The reasons of the events of the pass.
    pub(super) fn reasons(&self) -> Vec<&'static str> {
        self.d.events.iter().map(|e| e.reason).collect()
    }
}

impl Transition {
    /// Runs the row and checks it; returns what the pass left for checks of the table's own
    /// columns.
    pub(super) async fn run(&self) -> Ran {
        self.run_with(Fixture::new()).await
    }

    /// [`Transition::run`] on a given fixture.
    pub(super) async fn run_with(&self, fixture: Fixture) -> Ran {
        let mut sim = Sim::at_with(self.name, self.from.clone(), fixture).await;
        (self.change)(&mut sim);
        let before = sim.calls();
        let d = sim.step().await;
        let name = self.name;
        assert_eq!(sim.state(), self.next, "{name}: state");
        assert_eq!(
            sim.status().error_type,
            self.error,
            "{name}: error type (message {:?})",
            sim.status().error_message
        );
        self.wait.check(d.requeue, name);
        Ran { sim, d, before }
    }
}

/// A change that leaves the host as it is.
pub(super) fn unchanged(_: &mut Sim) {}
