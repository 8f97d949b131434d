//! The fixture provisioner: an in-memory backend that behaves like a well-run fleet, with every
//! delay and fault under the caller's control. It does no I/O and is fully deterministic.
//!
//! Long operations (registration, inspection, preparation, provisioning, deprovisioning,
//! servicing) answer "in progress" a configurable number of times before completing, so a test
//! can observe every intermediate state. Faults are scripted per operation: fail *n* times with
//! a message, then succeed; or fail transiently (backend unreachable).
//!
//! Behaviour is configured per host, by namespace/name, either through [`Fixture::configure`]
//! (in-process tests) or through the host annotation [`BEHAVIOUR_ANNOTATION`] holding a JSON
//! [`Behaviour`] (the local environment, the benchmark, out-of-process tests). The handle-based
//! setting wins.
//!
//! With a [`journal::Journal`] every operation is also appended to a file that several
//! operator processes share, so tests can check what replicas did to one host together.

pub mod journal;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use metal3_api::v1alpha1::{
    AutomatedCleaningMode, Bios, Cpu, FirmwareComponentStatus, HardwareDetails,
    HardwareSystemVendor, Nic, ProvisioningState, SettingSchema, Storage, setting_text,
};
use metal3_provisioner::{
    DataImageStatus, EventSubscription, FirmwareSettings, HardwareState, Health, HostConfig,
    HostData, InspectData, InspectOptions, InspectOutcome, ManagementAccessData, Outcome,
    PrepareData, PrepareOptions, PrepareOutcome, ProvResult, ProvisionData, Provisioner,
    ProvisionerError, RebootMode, RegisterOptions,
};
use serde::{Deserialize, Serialize};

/// Host annotation carrying a JSON [`Behaviour`].
pub const BEHAVIOUR_ANNOTATION: &str = "fixture.metal3.io/behaviour";

/// The operations whose outcome can be scripted.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[serde(rename_all = "camelCase")]
pub enum Operation {
    Register,
    Inspect,
    Adopt,
    Prepare,
    Service,
    Provision,
    Deprovision,
    Delete,
    Detach,
    PowerOn,
    PowerOff,
    /// Firmware settings read back (counted; not scriptable to fail).
    ReadFirmware,
}

impl Operation {
    /// Whether the operation counts against the provisioning capacity.
    fn needs_capacity(self) -> bool {
        matches!(self, Self::Inspect | Self::Provision | Self::Deprovision)
    }
}

/// A scripted failure: `times` failures (0 = every time) with `message`.
#[derive(Deserialize, Clone, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Failure {
    pub message: String,
    #[serde(default)]
    pub times: u32,
}

/// How one host behaves. Every field has a default, so `{}` is a healthy host.
#[derive(Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct Behaviour {
    /// "In progress" answers before a long operation completes (default 0: completes at once
    /// on its second call, the first one starting it).
    pub polls: u32,
    /// Delay the fixture asks for between polls, in milliseconds (default 0).
    pub poll_interval_ms: u64,
    /// Scripted failures by operation.
    pub failures: BTreeMap<Operation, Failure>,
    /// Every call fails transiently, as if the backend were unreachable.
    pub unreachable: bool,
    /// Every call answers that the backend is not ready yet (starting up).
    pub not_ready: bool,
    /// Power state before the first power change (default off).
    pub initially_powered_on: bool,
    /// Inventory reported by inspection; a generated one when absent.
    pub inventory: Option<HardwareDetails>,
    /// Firmware settings reported; a small default set when absent.
    pub firmware_settings: Option<BTreeMap<String, String>>,
    /// Health reported by the BMC (default OK).
    pub health: Option<String>,
}

/// Counters of what the fixture was asked to do for one host.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Calls {
    /// Operations *started* (a long operation counts once, however often it is polled).
    pub started: BTreeMap<Operation, u32>,
    /// Operations completed successfully.
    pub completed: BTreeMap<Operation, u32>,
}

impl Calls {
    /// How many times `op` was started.
    pub fn started(&self, op: Operation) -> u32 {
        self.started.get(&op).copied().unwrap_or(0)
    }

    /// How many times `op` completed.
    pub fn completed(&self, op: Operation) -> u32 {
        self.completed.get(&op).copied().unwrap_or(0)
    }
}

/// Simulated state of one node.
#[derive(Clone, Debug, Default)]
pub struct Node {
    pub id: String,
    pub registered: bool,
    pub powered_on: bool,
    pub provisioned_image: Option<String>,
    /// User data, network data and metadata the last provisioning was given (tests check that
    /// what a host got is what its consumer meant).
    pub provisioned_config: Option<HostConfig>,
    pub detached: bool,
    pub data_image: Option<String>,
    pub subscriptions: BTreeMap<String, EventSubscription>,
    /// URL of the preprovisioning image the last registration was given.
    pub preprovisioning_image: Option<String>,
    /// Preprovisioning network data the last registration was given (empty: none).
    pub preprovisioning_network_data: String,
    /// Firmware settings once changed by preparation or servicing (else the behaviour's).
    pub firmware_settings: Option<BTreeMap<String, String>>,
    /// The long operation under way and the polls it still needs.
    active: Option<(Operation, u32)>,
    failures_seen: BTreeMap<Operation, u32>,
    pub calls: Calls,
    power_initialised: bool,
}

#[derive(Default)]
struct State {
    nodes: HashMap<String, Node>,
    behaviours: HashMap<String, Behaviour>,
    next_id: u64,
    /// Hosts allowed at once in capacity-limited operations; `None` = unlimited.
    capacity: Option<usize>,
    /// Preprovisioning image formats the simulated backend boots; `None`: it needs none.
    preprovisioning_formats: Option<Vec<String>>,
}

/// The fixture backend. Cloning gives another handle on the same fleet.
#[derive(Clone, Default)]
pub struct Fixture {
    state: Arc<Mutex<State>>,
    journal: Option<Arc<journal::Journal>>,
}

impl Fixture {
    /// An empty fleet with unlimited capacity.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends every operation to `journal` from now on.
    pub fn with_journal(mut self, journal: journal::Journal) -> Self {
        self.journal = Some(Arc::new(journal));
        self
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves plain data behind; keep serving it.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sets the behaviour of host `namespace/name` (wins over its annotation).
    pub fn configure(&self, namespace: &str, name: &str, behaviour: Behaviour) {
        self.lock()
            .behaviours
            .insert(format!("{namespace}/{name}"), behaviour);
    }

    /// Limits how many hosts may inspect, provision or deprovision at once.
    pub fn set_capacity(&self, capacity: Option<usize>) {
        self.lock().capacity = capacity;
    }

    /// Makes the simulated backend boot a preprovisioning image in one of `formats` (`iso`,
    /// `initrd`), as an Ironic with a ramdisk does; `None` (the default) needs none.
    pub fn set_preprovisioning_formats(&self, formats: Option<Vec<String>>) {
        self.lock().preprovisioning_formats = formats;
    }

    /// A copy of the simulated node of `namespace/name`, if the fixture has seen it.
    pub fn node(&self, namespace: &str, name: &str) -> Option<Node> {
        self.lock()
            .nodes
            .get(&format!("{namespace}/{name}"))
            .cloned()
    }

    /// What the fixture was asked to do for `namespace/name`.
    pub fn calls(&self, namespace: &str, name: &str) -> Calls {
        self.node(namespace, name)
            .map(|n| n.calls)
            .unwrap_or_default()
    }

    /// Runs `f` on the host's node and behaviour, failing transiently when the host is
    /// configured unreachable.
    fn with_node<T>(
        &self,
        host: &HostData,
        f: impl FnOnce(&mut Node, &Behaviour, &mut Ctx) -> T,
    ) -> ProvResult<T> {
        let mut state = self.lock();
        let key = host.key();
        let behaviour = match state.behaviours.get(&key) {
            Some(b) => b.clone(),
            None => behaviour_from_annotations(host)?,
        };
        if behaviour.not_ready {
            return Err(ProvisionerError::NotReady);
        }
        if behaviour.unreachable {
            return Err(ProvisionerError::Transient(format!(
                "cannot reach the provisioner (fixture: the backend for {key} is unreachable)"
            )));
        }
        let busy = state
            .nodes
            .iter()
            .filter(|(k, n)| **k != key && n.active.is_some_and(|(op, _)| op.needs_capacity()))
            .count();
        let mut ctx = Ctx {
            capacity_left: state.capacity.map(|c| c.saturating_sub(busy)),
        };
        if !state.nodes.contains_key(&key) {
            state.next_id += 1;
        }
        let next_id = state.next_id;
        let node = state.nodes.entry(key.clone()).or_insert_with(|| Node {
            id: format!("fixture-{next_id:08}"),
            ..Node::default()
        });
        if !node.power_initialised {
            node.powered_on = behaviour.initially_powered_on;
            node.power_initialised = true;
        }
        let Some(journal) = &self.journal else {
            return Ok(f(node, &behaviour, &mut ctx));
        };
        let before = (node.calls.clone(), node.active.map(|(op, _)| op));
        let out = f(node, &behaviour, &mut ctx);
        let after = (node.calls.clone(), node.active.map(|(op, _)| op));
        let entries = journal.entries(&key, (&before.0, before.1), (&after.0, after.1));
        drop(state);
        journal.append(&entries);
        Ok(out)
    }
}

struct Ctx {
    capacity_left: Option<usize>,
}

fn behaviour_from_annotations(host: &HostData) -> ProvResult<Behaviour> {
    match host.annotations.get(BEHAVIOUR_ANNOTATION) {
        None => Ok(Behaviour::default()),
        Some(json) => serde_json::from_str(json).map_err(|e| {
            ProvisionerError::Transient(format!(
                "fixture: annotation {BEHAVIOUR_ANNOTATION} of {} is not a valid behaviour: {e}",
                host.key()
            ))
        }),
    }
}

impl Node {
    /// A scripted failure for `op`, if one is due (and counts it).
    fn scripted_failure(&mut self, op: Operation, behaviour: &Behaviour) -> Option<Outcome> {
        let failure = behaviour.failures.get(&op)?;
        let seen = self.failures_seen.entry(op).or_insert(0);
        if failure.times == 0 || *seen < failure.times {
            *seen += 1;
            Some(Outcome::failed(failure.message.clone()))
        } else {
            None
        }
    }

    /// Advances the long operation `op`: starts it when another (or none) is active, then
    /// counts down its polls. `restart` starts it afresh. Returns the outcome and whether this
    /// call started it.
    fn advance(
        &mut self,
        op: Operation,
        behaviour: &Behaviour,
        restart: bool,
        on_done: impl FnOnce(&mut Node),
    ) -> (Outcome, bool) {
        let mut started = false;
        if restart || self.active.map(|(a, _)| a) != Some(op) {
            *self.calls.started.entry(op).or_insert(0) += 1;
            self.active = Some((op, behaviour.polls));
            started = true;
        }
        if let Some(failed) = self.scripted_failure(op, behaviour) {
            self.active = None;
            return (failed, started);
        }
        match self.active {
            Some((_, left)) if left > 0 => {
                self.active = Some((op, left - 1));
                (
                    Outcome::wait(Duration::from_millis(behaviour.poll_interval_ms)),
                    started,
                )
            }
            _ => {
                self.active = None;
                *self.calls.completed.entry(op).or_insert(0) += 1;
                on_done(self);
                (Outcome::Done, started)
            }
        }
    }

    /// Preparation or servicing: nothing to do unless settings changed (`unprepared`) or the
    /// operation is already under way.
    fn settings_step(
        &mut self,
        op: Operation,
        behaviour: &Behaviour,
        data: &PrepareData,
        unprepared: bool,
        restart: bool,
    ) -> PrepareOutcome {
        if !unprepared && self.active.map(|(a, _)| a) != Some(op) {
            return PrepareOutcome {
                outcome: Outcome::Done,
                started: false,
            };
        }
        let target: Vec<(String, String)> = data
            .target_firmware_settings
            .iter()
            .map(|(k, v)| (k.clone(), setting_text(v)))
            .collect();
        let initial = behaviour
            .firmware_settings
            .clone()
            .unwrap_or_else(default_firmware_settings);
        let (outcome, started) = self.advance(op, behaviour, restart, |n| {
            if !target.is_empty() {
                let settings = n.firmware_settings.get_or_insert(initial);
                settings.extend(target);
            }
        });
        PrepareOutcome { outcome, started }
    }

    /// An operation that completes in one call (power, delete, detach).
    fn instant(
        &mut self,
        op: Operation,
        behaviour: &Behaviour,
        on_done: impl FnOnce(&mut Node),
    ) -> Outcome {
        *self.calls.started.entry(op).or_insert(0) += 1;
        if let Some(failed) = self.scripted_failure(op, behaviour) {
            return failed;
        }
        *self.calls.completed.entry(op).or_insert(0) += 1;
        on_done(self);
        Outcome::Done
    }
}

/// A plausible inventory derived from the host's name, stable across calls.
pub fn generated_inventory(host: &HostData) -> HardwareDetails {
    let seed = host.key().bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    let mac = |n: u64| {
        let v = seed.wrapping_add(n);
        format!(
            "52:54:00:{:02x}:{:02x}:{:02x}",
            (v >> 16) & 0xff,
            (v >> 8) & 0xff,
            v & 0xff
        )
    };
    let boot_mac = if host.boot_mac_address.is_empty() {
        mac(0)
    } else {
        host.boot_mac_address.to_lowercase()
    };
    HardwareDetails {
        system_vendor: HardwareSystemVendor {
            manufacturer: "Metal3 Fixture".into(),
            product_name: "Fixture Server 1U".into(),
            serial_number: format!("FX{:010}", seed % 10_000_000_000),
        },
        firmware: metal3_api::v1alpha1::Firmware {
            bios: Bios {
                date: "01/01/2026".into(),
                vendor: "Fixture".into(),
                version: "1.0.0".into(),
            },
        },
        ram_mebibytes: 65536,
        nics: vec![
            Nic {
                name: "eth0".into(),
                mac: boot_mac,
                model: "0x1af4 0x0001".into(),
                speed_gbps: 25,
                pxe: true,
                ..Nic::default()
            },
            Nic {
                name: "eth1".into(),
                mac: mac(1),
                model: "0x1af4 0x0001".into(),
                speed_gbps: 25,
                ..Nic::default()
            },
        ],
        storage: vec![Storage {
            name: "/dev/disk/by-path/pci-0000:00:1f.2-ata-1".into(),
            alternate_names: vec!["/dev/sda".into()],
            disk_type: Some(metal3_api::v1alpha1::DiskType::Ssd),
            size_bytes: 480_103_981_056,
            model: "Fixture SSD".into(),
            serial_number: format!("SSD{:08}", seed % 100_000_000),
            ..Storage::default()
        }],
        cpu: Cpu {
            arch: "x86_64".into(),
            model: "Fixture CPU @ 2.40GHz".into(),
            clock_megahertz: 2400.0,
            flags: vec!["avx2".into(), "vmx".into()],
            count: 32,
        },
        hostname: host.name.clone(),
    }
}

fn default_firmware_settings() -> BTreeMap<String, String> {
    [
        ("BootMode", "Uefi"),
        ("ProcVirtualization", "Enabled"),
        ("SriovGlobalEnable", "Disabled"),
        ("AssetTag", ""),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

#[async_trait]
impl Provisioner for Fixture {
    fn name(&self) -> &'static str {
        "fixture"
    }

    async fn register(
        &self,
        host: &HostData,
        data: &ManagementAccessData,
        options: RegisterOptions,
    ) -> ProvResult<(Outcome, String)> {
        let RegisterOptions {
            credentials_changed,
            restart,
        } = options;
        let needs_image = self.lock().preprovisioning_formats.is_some();
        let image = data
            .preprovisioning_image
            .as_ref()
            .map(|i| i.image_url.clone());
        let network_data = data.preprovisioning_network_data.clone();
        self.with_node(host, |node, b, _| {
            // Enrolling a node boots the ramdisk; a node already known needs none.
            if needs_image && image.is_none() && !node.registered {
                return (
                    Outcome::failed("fixture: this backend needs a preprovisioning image"),
                    node.id.clone(),
                );
            }
            if image.is_some() {
                node.preprovisioning_image = image;
            }
            node.preprovisioning_network_data = network_data;
            if node.registered && !credentials_changed && !restart && !node.detached {
                return (Outcome::Done, node.id.clone());
            }
            let (outcome, _) = node.advance(Operation::Register, b, restart, |n| {
                n.registered = true;
                n.detached = false;
            });
            (outcome, node.id.clone())
        })
    }

    async fn preprovisioning_image_formats(&self) -> ProvResult<Option<Vec<String>>> {
        Ok(self.lock().preprovisioning_formats.clone())
    }

    async fn inspect_hardware(
        &self,
        host: &HostData,
        _data: &InspectData,
        options: InspectOptions,
    ) -> ProvResult<InspectOutcome> {
        let InspectOptions {
            restart, refresh, ..
        } = options;
        self.with_node(host, |node, b, ctx| {
            let starting =
                restart || refresh || node.active.map(|(a, _)| a) != Some(Operation::Inspect);
            if starting && ctx.capacity_left == Some(0) {
                return InspectOutcome {
                    outcome: Outcome::wait(Duration::from_secs(1)),
                    started: false,
                    details: None,
                };
            }
            let (outcome, started) =
                node.advance(Operation::Inspect, b, restart || refresh, |_| {});
            let details = outcome.is_done().then(|| {
                b.inventory
                    .clone()
                    .unwrap_or_else(|| generated_inventory(host))
            });
            InspectOutcome {
                outcome,
                started,
                details,
            }
        })
    }

    async fn update_hardware_state(&self, host: &HostData) -> ProvResult<HardwareState> {
        self.with_node(host, |node, _, _| HardwareState {
            powered_on: Some(node.powered_on),
        })
    }

    async fn adopt(
        &self,
        host: &HostData,
        _state: &ProvisioningState,
        _restart: bool,
    ) -> ProvResult<Outcome> {
        self.with_node(host, |node, b, _| node.instant(Operation::Adopt, b, |_| {}))
    }

    async fn prepare(
        &self,
        host: &HostData,
        data: &PrepareData,
        options: PrepareOptions,
    ) -> ProvResult<PrepareOutcome> {
        let PrepareOptions {
            unprepared,
            restart,
        } = options;
        self.with_node(host, |node, b, _| {
            node.settings_step(Operation::Prepare, b, data, unprepared, restart)
        })
    }

    async fn service(
        &self,
        host: &HostData,
        data: &PrepareData,
        options: PrepareOptions,
    ) -> ProvResult<PrepareOutcome> {
        let PrepareOptions {
            unprepared,
            restart,
        } = options;
        self.with_node(host, |node, b, _| {
            node.settings_step(Operation::Service, b, data, unprepared, restart)
        })
    }

    async fn provision(
        &self,
        host: &HostData,
        data: &ProvisionData,
        _force_reboot: bool,
    ) -> ProvResult<Outcome> {
        let url = data.image.url.clone();
        let config = data.host_config.clone();
        self.with_node(host, |node, b, ctx| {
            let starting = node.active.map(|(a, _)| a) != Some(Operation::Provision);
            if starting && node.provisioned_image.as_deref() == Some(url.as_str()) {
                // Already deployed (e.g. the operator restarted mid-way): never deploy twice.
                return Outcome::Done;
            }
            if starting && ctx.capacity_left == Some(0) {
                return Outcome::wait(Duration::from_secs(1));
            }
            node.advance(Operation::Provision, b, false, |n| {
                n.provisioned_image = Some(url);
                n.provisioned_config = Some(config);
                n.powered_on = true;
            })
            .0
        })
    }

    async fn deprovision(
        &self,
        host: &HostData,
        restart: bool,
        _cleaning_mode: AutomatedCleaningMode,
    ) -> ProvResult<Outcome> {
        self.with_node(host, |node, b, ctx| {
            let starting = node.active.map(|(a, _)| a) != Some(Operation::Deprovision);
            if starting && !restart && node.provisioned_image.is_none() {
                return Outcome::Done;
            }
            if starting && ctx.capacity_left == Some(0) {
                return Outcome::wait(Duration::from_secs(1));
            }
            node.advance(Operation::Deprovision, b, restart, |n| {
                n.provisioned_image = None;
                n.provisioned_config = None;
                n.powered_on = false;
            })
            .0
        })
    }

    async fn delete(&self, host: &HostData) -> ProvResult<Outcome> {
        self.with_node(host, |node, b, _| {
            node.instant(Operation::Delete, b, |n| {
                n.registered = false;
                n.active = None;
            })
        })
    }

    async fn detach(&self, host: &HostData, _force: bool) -> ProvResult<Outcome> {
        self.with_node(host, |node, b, _| {
            node.instant(Operation::Detach, b, |n| {
                n.detached = true;
                n.registered = false;
                n.active = None;
            })
        })
    }

    async fn power_on(&self, host: &HostData, _force: bool) -> ProvResult<Outcome> {
        self.with_node(host, |node, b, _| {
            node.instant(Operation::PowerOn, b, |n| n.powered_on = true)
        })
    }

    async fn power_off(
        &self,
        host: &HostData,
        _mode: RebootMode,
        _force: bool,
        _cleaning_mode: AutomatedCleaningMode,
    ) -> ProvResult<Outcome> {
        self.with_node(host, |node, b, _| {
            node.instant(Operation::PowerOff, b, |n| n.powered_on = false)
        })
    }

    async fn has_capacity(&self, host: &HostData) -> ProvResult<bool> {
        self.with_node(host, |node, _, ctx| {
            node.active.is_some_and(|(op, _)| op.needs_capacity()) || ctx.capacity_left != Some(0)
        })
    }

    async fn firmware_settings(
        &self,
        host: &HostData,
        include_schema: bool,
    ) -> ProvResult<FirmwareSettings> {
        self.with_node(host, |node, b, _| {
            *node
                .calls
                .completed
                .entry(Operation::ReadFirmware)
                .or_insert(0) += 1;
            let settings = node.firmware_settings.clone().unwrap_or_else(|| {
                b.firmware_settings
                    .clone()
                    .unwrap_or_else(default_firmware_settings)
            });
            let schema = include_schema.then(|| {
                settings
                    .keys()
                    .map(|k| (k.clone(), SettingSchema::default()))
                    .collect()
            });
            FirmwareSettings { settings, schema }
        })
    }

    async fn firmware_components(
        &self,
        host: &HostData,
    ) -> ProvResult<Vec<FirmwareComponentStatus>> {
        self.with_node(host, |_, _, _| {
            ["bios", "bmc"]
                .into_iter()
                .map(|c| FirmwareComponentStatus {
                    component: c.to_string(),
                    initial_version: "1.0.0".into(),
                    current_version: Some("1.0.0".into()),
                    ..FirmwareComponentStatus::default()
                })
                .collect()
        })
    }

    async fn add_bmc_event_subscription(
        &self,
        host: &HostData,
        subscription: &EventSubscription,
    ) -> ProvResult<(Outcome, String)> {
        self.with_node(host, |node, _, _| {
            let id = format!("{}-sub-{}", node.id, node.subscriptions.len() + 1);
            node.subscriptions.insert(id.clone(), subscription.clone());
            (Outcome::Done, id)
        })
    }

    async fn remove_bmc_event_subscription(
        &self,
        host: &HostData,
        subscription_id: &str,
    ) -> ProvResult<Outcome> {
        self.with_node(host, |node, _, _| {
            node.subscriptions.remove(subscription_id);
            Outcome::Done
        })
    }

    async fn data_image_status(&self, host: &HostData) -> ProvResult<DataImageStatus> {
        self.with_node(host, |node, _, _| DataImageStatus {
            attached_url: node.data_image.clone(),
        })
    }

    async fn attach_data_image(&self, host: &HostData, url: &str) -> ProvResult<Outcome> {
        self.with_node(host, |node, _, _| {
            node.data_image = Some(url.to_string());
            Outcome::Done
        })
    }

    async fn detach_data_image(&self, host: &HostData) -> ProvResult<Outcome> {
        self.with_node(host, |node, _, _| {
            node.data_image = None;
            Outcome::Done
        })
    }

    async fn has_power_failure(&self, host: &HostData) -> ProvResult<bool> {
        self.with_node(host, |node, b, _| {
            let failing = |op| {
                b.failures.get(&op).is_some_and(|f| {
                    f.times == 0 || node.failures_seen.get(&op).copied().unwrap_or(0) < f.times
                })
            };
            failing(Operation::PowerOn) || failing(Operation::PowerOff)
        })
    }

    async fn health(&self, host: &HostData) -> ProvResult<Health> {
        self.with_node(host, |_, b, _| match b.health.as_deref() {
            None | Some("OK") => Health::Ok,
            Some("Warning") => Health::Warning,
            Some("Critical") => Health::Critical,
            Some(_) => Health::Unknown,
        })
    }
}

#[cfg(test)]
mod tests;
