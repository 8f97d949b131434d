//! What the provisioner remembers between calls, only to save BMC calls: per host the paths
//! found on its BMC, the last power and health readings, the live-ISO boot and staged changes
//! in progress, the last firmware readings, the agent's boot and how far its work got; per BMC
//! attribute registry its schema. All of it may be lost (a restart starts afresh from the BMC
//! and from what the agent reports).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use internment::ArcIntern;

use metal3_api::v1alpha1::{
    AutomatedCleaningMode, BootMode, FirmwareComponentStatus, SettingSchema,
};
use metal3_provisioner::{Health, HostData};

/// What we remember about a host between calls (lost on restart, by design harmless).
#[derive(Clone, Debug, Default)]
pub(crate) struct Known {
    /// The BMC address all of this was learnt from; a new address starts afresh.
    pub(crate) address: String,
    /// The system's path on the BMC.
    pub(crate) system: String,
    /// The path of the manager (the BMC) that manages the system.
    pub(crate) manager: Option<String>,
    /// The path of the virtual CD device.
    pub(crate) cd: Option<String>,
    /// The path of the virtual USB device.
    pub(crate) usb: Option<String>,
    /// Whether the host was on, and when that was read.
    pub(crate) power: Option<(bool, Instant)>,
    /// The BMC's health verdict, read with the power state.
    pub(crate) health: Option<(Health, Instant)>,
    /// When we last asked for a power change, and which.
    pub(crate) power_request: Option<(&'static str, Instant)>,
    /// When a graceful shutdown was asked for and not yet seen through.
    pub(crate) soft_off_since: Option<Instant>,
    /// When we restarted the host to boot the live ISO.
    pub(crate) booted: Option<Instant>,
    /// Whether the host is provisioning (counts against the capacity).
    pub(crate) provisioning: bool,
    /// The id registration returned; later registrations (every steady-state pass asks) are
    /// answered from memory until the credentials or the address change.
    pub(crate) registered: Option<String>,
    /// Task monitors of staged changes, and when we rebooted to apply them.
    pub(crate) staged: Option<Staged>,
    /// The BIOS settings last read, with the attribute registry they follow. Interned: the
    /// servers of a fleet mostly share their settings, so one copy serves them all.
    pub(crate) bios: Option<(Instant, Settings, Option<String>)>,
    /// The firmware versions last read.
    pub(crate) components: Option<(Instant, Vec<FirmwareComponentStatus>)>,
    /// What registration said about the host that the agent flows need later.
    pub(crate) facts: Option<HostFacts>,
    /// A boot into the agent we started, not yet answered by the agent.
    pub(crate) agent_boot: Option<AgentBoot>,
    /// Since when we wait for an agent that may already run (we did not boot it: the operator
    /// restarted) before booting the host anew.
    pub(crate) agent_wait: Option<Instant>,
    /// How far the agent's part of an operation got, where the BMC cannot tell.
    pub(crate) agent_phase: Option<(Operation, Phase)>,
    /// What the host shows of the operation's progress, and since when.
    pub(crate) progress: Option<(Instant, String)>,
}

impl Known {
    /// Forgets the firmware settings and versions read: changes we staged are applying.
    pub(crate) fn forget_firmware(&mut self) {
        self.bios = None;
        self.components = None;
    }
}

/// BIOS settings by attribute name, one copy per distinct set in the whole fleet.
pub(crate) type Settings = ArcIntern<BTreeMap<String, String>>;

/// What registration said about the host, for the agent flows.
#[derive(Clone, Debug, Default)]
pub(crate) struct HostFacts {
    /// `spec.bootMode`: the mode the agent and the written disk boot in.
    pub(crate) boot_mode: BootMode,
    /// `spec.automatedCleaningMode`.
    pub(crate) cleaning: AutomatedCleaningMode,
    /// The preprovisioning network data (YAML or JSON), for the agent; empty: DHCP.
    pub(crate) network_data: String,
}

/// A boot into the agent we started.
#[derive(Clone, Debug)]
pub(crate) struct AgentBoot {
    /// When we powered the host on or restarted it.
    pub(crate) at: Instant,
    /// The boot id of the agent that ran before (its reports are not this boot's).
    pub(crate) before: Option<String>,
}

/// The operations the agent takes part in whose progress the BMC does not show.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Operation {
    Inspect,
    Prepare,
    Deprovision,
}

/// Where an operation stands after the agent did its work.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    /// The agent's work is done; it is told to stand by or to power the host off.
    Resting,
    /// The agent rests; the operation goes on without it.
    Rested,
}

/// Changes staged on the BMC to apply at the next boot.
#[derive(Clone, Debug, Default)]
pub(crate) struct Staged {
    /// Task monitors the BMC returned for them.
    pub(crate) monitors: Vec<String>,
    /// When we rebooted to apply them.
    pub(crate) rebooted: Option<Instant>,
}

/// A registry's schema, shared by every host whose BIOS follows it.
pub(crate) type Schema = Arc<BTreeMap<String, SettingSchema>>;

/// The in-memory cache of one provisioner.
#[derive(Default)]
pub(crate) struct Cache {
    /// Boxed: a `Known` is about half a KiB, and a table holds up to twice as many slots as
    /// hosts; an empty slot then costs a pointer, not a `Known`.
    hosts: Mutex<HashMap<String, Box<Known>>>,
    schemas: Mutex<HashMap<String, Schema>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The host's entry: its uid, or its namespace and name when it has none.
fn key(host: &HostData) -> String {
    if host.uid.is_empty() {
        host.key()
    } else {
        host.uid.clone()
    }
}

impl Cache {
    /// What we know about the host, or nothing when it was learnt from another address.
    pub(crate) fn known(&self, host: &HostData) -> Known {
        lock(&self.hosts)
            .get(&key(host))
            .filter(|k| k.address == host.bmc_address)
            .map(|k| Known::clone(k))
            .unwrap_or_default()
    }

    /// Updates what we know about the host (starting afresh when its address changed).
    pub(crate) fn remember(&self, host: &HostData, f: impl FnOnce(&mut Known)) {
        let mut hosts = lock(&self.hosts);
        let entry = hosts.entry(key(host)).or_default();
        if entry.address != host.bmc_address {
            **entry = Known {
                address: host.bmc_address.clone(),
                ..Known::default()
            };
        }
        f(entry);
    }

    /// Forgets the host.
    pub(crate) fn forget(&self, host: &HostData) {
        lock(&self.hosts).remove(&key(host));
    }

    /// How many hosts other than this one are provisioning.
    pub(crate) fn provisioning_besides(&self, host: &HostData) -> usize {
        let me = key(host);
        lock(&self.hosts)
            .iter()
            .filter(|(k, v)| **k != me && v.provisioning)
            .count()
    }

    /// The schema of an attribute registry, when read before.
    pub(crate) fn schema(&self, registry: &str) -> Option<Schema> {
        lock(&self.schemas).get(registry).cloned()
    }

    /// Keeps the schema of an attribute registry.
    pub(crate) fn keep_schema(&self, registry: &str, schema: Schema) {
        lock(&self.schemas).insert(registry.to_string(), schema);
    }
}
