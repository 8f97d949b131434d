//! The native Redfish provisioner: manages hosts by talking to their BMCs directly, with no
//! Ironic and no database. Everything it needs to resume after a restart is on the BMC (power,
//! boot override, inserted media, pending settings) or in the BareMetalHost; what it keeps in
//! memory only saves BMC calls.
//!
//! - Registration reads the system once (reachability, credentials, the system path).
//! - Inspection is out of band, from Systems/Processors/EthernetInterfaces/Storage, while the
//!   host stays powered off ([`inventory`]).
//! - Provisioning boots live ISOs from virtual media: boot override first, then the medium,
//!   then one power on or restart; done when the override is used up with our medium in and
//!   the host on. Disk images need an in-band agent, which this backend does not have yet: such
//!   hosts get a clear provisioning error.
//! - Preparation and servicing stage BIOS settings (`@Redfish.Settings`), firmware updates
//!   (`SimpleUpdate`) and hardware RAID volumes (`OnReset`) together and apply them with a
//!   single reboot.
//! - An idle host costs one BMC call per power check interval (five minutes by default): the
//!   power state is remembered between checks, and every change we make updates it.

mod address;
pub mod inventory;
pub mod schema;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use metal3_api::v1alpha1::{
    AutomatedCleaningMode, BootMode, FirmwareComponentStatus, HardwareRaidLevel, ProvisioningState,
    SettingSchema,
};
use metal3_provisioner::{
    DataImageStatus, EventSubscription, FirmwareSettings, HardwareState, Health, HostData,
    InspectData, InspectOptions, InspectOutcome, ManagementAccessData, Outcome, PrepareData,
    PrepareOptions, PrepareOutcome, ProvResult, ProvisionData, Provisioner, ProvisionerError,
    RebootMode, RegisterOptions,
};
use metal3_redfish::types::{
    AttributeRegistry, Bios, Collection, ComputerSystem, Drive, EthernetInterface, Manager,
    Processor, RegistryFile, SecureBoot, Storage, VirtualMedia, Volume,
};
use metal3_redfish::{Connection, Pool, TaskProgress};
use serde_json::{Value, json};

/// Settings of the Redfish provisioner.
#[derive(Clone, Debug)]
pub struct Config {
    pub client: metal3_redfish::Config,
    /// An idle host's power state is read at most this often.
    pub power_check: Duration,
    /// Hosts provisioning at once (0 = unlimited), like Ironic's `PROVISIONING_LIMIT`.
    pub capacity: usize,
    /// How long a graceful shutdown may take before the power is cut.
    pub soft_power_off_timeout: Duration,
    /// Pause between checks while the BMC carries out a change.
    pub poll: Duration,
    /// How long a restart may take before we restart again.
    pub boot_timeout: Duration,
    /// Firmware settings and versions read from the BMC are answered from memory this long,
    /// unless the host was powered on, restarted or had changes staged since (settings and
    /// firmware change only then, or by someone at the console).
    pub firmware_refresh: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            client: metal3_redfish::Config::default(),
            power_check: Duration::from_secs(300),
            capacity: 0,
            soft_power_off_timeout: Duration::from_secs(180),
            poll: Duration::from_secs(2),
            boot_timeout: Duration::from_secs(600),
            firmware_refresh: Duration::from_secs(24 * 3600),
        }
    }
}

/// What we remember about a host between calls (lost on restart, by design harmless).
#[derive(Clone, Debug, Default)]
struct Known {
    /// The BMC address all of this was learnt from; a new address starts afresh.
    address: String,
    system: String,
    manager: Option<String>,
    cd: Option<String>,
    usb: Option<String>,
    power: Option<(bool, Instant)>,
    /// The BMC's health verdict, read with the power state.
    health: Option<(Health, Instant)>,
    /// When we last asked for a power change, and which.
    power_request: Option<(&'static str, Instant)>,
    soft_off_since: Option<Instant>,
    /// When we restarted the host to boot the live ISO.
    booted: Option<Instant>,
    provisioning: bool,
    /// The id registration returned; later registrations (every steady-state pass asks) are
    /// answered from memory until the credentials or the address change.
    registered: Option<String>,
    /// Task monitors of staged changes, and when we rebooted to apply them.
    staged: Option<Staged>,
    /// The BIOS settings last read, with the attribute registry they follow.
    bios: Option<(Instant, BTreeMap<String, String>, Option<String>)>,
    /// The firmware versions last read.
    components: Option<(Instant, Vec<FirmwareComponentStatus>)>,
}

#[derive(Clone, Debug, Default)]
struct Staged {
    monitors: Vec<String>,
    rebooted: Option<Instant>,
}

/// Why a call could not finish.
enum Fault {
    /// Needs someone to change something: reported on the host.
    Failed(String),
    /// May pass on its own: retried with backoff.
    Transient(String),
}

impl From<metal3_redfish::Error> for Fault {
    fn from(e: metal3_redfish::Error) -> Self {
        if e.is_transient() {
            Self::Transient(e.to_string())
        } else {
            Self::Failed(e.to_string())
        }
    }
}

type Step<T> = Result<T, Fault>;

fn settle(result: Step<Outcome>) -> ProvResult<Outcome> {
    match result {
        Ok(o) => Ok(o),
        Err(Fault::Failed(message)) => Ok(Outcome::Failed { message }),
        Err(Fault::Transient(m)) => Err(ProvisionerError::Transient(m)),
    }
}

fn transient<T>(result: Step<T>) -> ProvResult<T> {
    result.map_err(|f| match f {
        Fault::Failed(m) | Fault::Transient(m) => ProvisionerError::Transient(m),
    })
}

/// A prepare or service result: a failure is reported on the host, a transient fault retried.
fn prepared(result: Step<PrepareOutcome>) -> ProvResult<PrepareOutcome> {
    match result {
        Ok(o) => Ok(o),
        Err(Fault::Failed(message)) => Ok(PrepareOutcome {
            outcome: Outcome::Failed { message },
            started: false,
        }),
        Err(Fault::Transient(m)) => Err(ProvisionerError::Transient(m)),
    }
}

/// A result carrying an identifier (registration, event subscription).
fn with_id(result: Step<String>) -> ProvResult<(Outcome, String)> {
    match result {
        Ok(id) => Ok((Outcome::Done, id)),
        Err(Fault::Failed(message)) => Ok((Outcome::Failed { message }, String::new())),
        Err(Fault::Transient(m)) => Err(ProvisionerError::Transient(m)),
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Where a live-ISO boot stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum LiveIso {
    /// The host runs the ISO.
    Running,
    /// We restarted it into the ISO a moment ago; it is still coming up.
    Booting,
    /// It must be booted (or booted again) into the ISO.
    Boot,
}

/// Decides from the BMC's state alone, so a restarted operator neither boots a host twice nor
/// calls a host provisioned that never booted the ISO. `ours`: our ISO is what the override
/// points at (medium inserted or HTTP boot URI set); `pending`: the one-time override is not
/// used yet. The override is always set before the ISO, so "used + ours + on" can only follow
/// a boot that found the ISO.
fn live_iso(ours: bool, pending: bool, on: bool, restarted_recently: bool, force: bool) -> LiveIso {
    match (ours && on && !force, pending) {
        (true, false) => LiveIso::Running,
        (true, true) if restarted_recently => LiveIso::Booting,
        _ => LiveIso::Boot,
    }
}

fn is_on(system: &ComputerSystem) -> bool {
    matches!(system.power_state.as_deref(), Some("On" | "PoweringOn"))
}

/// The provisioner.
pub struct RedfishProvisioner {
    pool: Pool,
    config: Config,
    known: Mutex<HashMap<String, Known>>,
    schemas: Mutex<HashMap<String, Arc<BTreeMap<String, SettingSchema>>>>,
}

impl RedfishProvisioner {
    pub fn new(config: Config) -> Result<Self, metal3_redfish::Error> {
        Ok(Self {
            pool: Pool::new(config.client.clone())?,
            config,
            known: Mutex::new(HashMap::new()),
            schemas: Mutex::new(HashMap::new()),
        })
    }

    /// The connection pool (for call counts, idle logouts and logging out at shutdown).
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    fn key(host: &HostData) -> String {
        if host.uid.is_empty() {
            host.key()
        } else {
            host.uid.clone()
        }
    }

    fn known(&self, host: &HostData) -> Known {
        lock(&self.known)
            .get(&Self::key(host))
            .filter(|k| k.address == host.bmc_address)
            .cloned()
            .unwrap_or_default()
    }

    fn remember(&self, host: &HostData, f: impl FnOnce(&mut Known)) {
        let mut known = lock(&self.known);
        let entry = known.entry(Self::key(host)).or_default();
        if entry.address != host.bmc_address {
            *entry = Known {
                address: host.bmc_address.clone(),
                ..Known::default()
            };
        }
        f(entry);
    }

    /// A connection to the host's BMC and the system's path.
    async fn connect(&self, host: &HostData) -> Step<(Connection, String)> {
        let (endpoint, path) =
            address::endpoint(&host.bmc_address, host.disable_certificate_verification)
                .map_err(|e| Fault::Failed(e.to_string()))?;
        let known = self.known(host);
        let scope = if known.system.is_empty() {
            path.clone()
        } else {
            known.system.clone()
        };
        let conn = self.pool.connect(
            &endpoint,
            &scope,
            &host.credentials.username,
            &host.credentials.password,
        );
        if !known.system.is_empty() {
            return Ok((conn, known.system));
        }
        let system = if path.is_empty() {
            let systems: Collection = conn.get("/redfish/v1/Systems").await?;
            match systems.members.as_slice() {
                [one] => one.id.clone(),
                members => {
                    return Err(Fault::Failed(format!(
                        "the BMC at {} manages {} systems; name one in bmc.address \
                         (…/redfish/v1/Systems/<id>)",
                        endpoint.base,
                        members.len()
                    )));
                }
            }
        } else {
            path
        };
        self.remember(host, |k| k.system = system.clone());
        Ok((conn, system))
    }

    /// Reads the system; every read refreshes the remembered power state and health.
    async fn system(&self, host: &HostData, conn: &Connection, path: &str) -> Step<ComputerSystem> {
        let system: ComputerSystem = conn.get(path).await?;
        let on = is_on(&system);
        let health = health_of(&system);
        let now = Instant::now();
        self.remember(host, |k| {
            k.power = Some((on, now));
            k.health = Some((health, now));
        });
        Ok(system)
    }

    /// The virtual media device of the host's manager for `kind` (`CD` or `USB`).
    async fn media_path(
        &self,
        host: &HostData,
        conn: &Connection,
        system: &ComputerSystem,
        usb: bool,
    ) -> Step<String> {
        let known = self.known(host);
        if let Some(path) = if usb { known.usb } else { known.cd } {
            return Ok(path);
        }
        let manager_path = match known.manager {
            Some(m) => m,
            None => system
                .links
                .managed_by
                .first()
                .map(|l| l.id.clone())
                .ok_or_else(|| {
                    Fault::Failed("the system names no manager (Links.ManagedBy)".into())
                })?,
        };
        let manager: Manager = conn.get(&manager_path).await?;
        let collection = manager.virtual_media.ok_or_else(|| {
            Fault::Failed("the BMC has no virtual media; this backend boots through it".into())
        })?;
        let devices: Collection = conn.get(&collection.id).await?;
        let (mut cd, mut stick) = (None, None);
        for member in &devices.members {
            let media: VirtualMedia = conn.get(&member.id).await?;
            let types = media.media_types.join(",").to_ascii_uppercase();
            if cd.is_none() && (types.contains("CD") || types.contains("DVD")) {
                cd = Some(member.id.clone());
            } else if stick.is_none() && types.contains("USB") {
                stick = Some(member.id.clone());
            }
        }
        self.remember(host, |k| {
            k.manager = Some(manager_path.clone());
            k.cd = cd.clone();
            k.usb = stick.clone();
        });
        let wanted = if usb { stick } else { cd };
        wanted.ok_or_else(|| {
            Fault::Failed(format!(
                "the BMC has no virtual {} device",
                if usb { "USB" } else { "CD" }
            ))
        })
    }

    /// Reads the system (reachability, credentials) and remembers the host as registered;
    /// returns its identifier.
    async fn check_system(&self, host: &HostData) -> Step<String> {
        let (conn, path) = self.connect(host).await?;
        self.system(host, &conn, &path).await?;
        let id = format!("{}{path}", conn.base());
        self.remember(host, |k| k.registered = Some(id.clone()));
        Ok(id)
    }

    /// A connection and the virtual USB device, for data images.
    async fn usb(&self, host: &HostData) -> Step<(Connection, String)> {
        let (conn, path) = self.connect(host).await?;
        let system = self.system(host, &conn, &path).await?;
        let usb = self.media_path(host, &conn, &system, true).await?;
        Ok((conn, usb))
    }

    async fn reset(
        &self,
        host: &HostData,
        conn: &Connection,
        path: &str,
        kind: &'static str,
    ) -> Step<()> {
        conn.post(
            &format!("{path}/Actions/ComputerSystem.Reset"),
            &json!({"ResetType": kind}),
        )
        .await?;
        let now = Instant::now();
        self.remember(host, |k| {
            k.power_request = Some((kind, now));
            k.power = None;
            // Staged settings and firmware apply at boot: read them again afterwards.
            k.bios = None;
            k.components = None;
        });
        Ok(())
    }

    /// Powers on, or restarts a host that is on.
    async fn boot(&self, host: &HostData, conn: &Connection, path: &str, on: bool) -> Step<()> {
        self.reset(host, conn, path, if on { "ForceRestart" } else { "On" })
            .await
    }

    /// Inserts `url` into the device at `media`, whose state was just read as `current`.
    async fn insert(
        &self,
        conn: &Connection,
        media: &str,
        current: &VirtualMedia,
        url: &str,
    ) -> Step<()> {
        if current.inserted == Some(true) && current.image.as_deref() == Some(url) {
            return Ok(());
        }
        if current.inserted == Some(true) {
            conn.post(
                &format!("{media}/Actions/VirtualMedia.EjectMedia"),
                &json!({}),
            )
            .await?;
        }
        conn.post(
            &format!("{media}/Actions/VirtualMedia.InsertMedia"),
            &json!({"Image": url, "Inserted": true, "WriteProtected": true}),
        )
        .await?;
        Ok(())
    }

    async fn eject(&self, conn: &Connection, media: &str) -> Step<()> {
        let current: VirtualMedia = conn.get(media).await?;
        if current.inserted == Some(true) || current.image.is_some() {
            conn.post(
                &format!("{media}/Actions/VirtualMedia.EjectMedia"),
                &json!({}),
            )
            .await?;
        }
        Ok(())
    }

    /// Turns UEFI Secure Boot on or off for the next boot, when it is not already so.
    async fn set_secure_boot(
        &self,
        conn: &Connection,
        system: &ComputerSystem,
        on: bool,
    ) -> Step<()> {
        let Some(link) = &system.secure_boot else {
            return if on {
                Err(Fault::Failed(
                    "bootMode UEFISecureBoot needs Secure Boot, but the BMC has no SecureBoot \
                     resource"
                        .into(),
                ))
            } else {
                Ok(())
            };
        };
        let current: SecureBoot = conn.get(&link.id).await?;
        if current.secure_boot_enable.unwrap_or(false) != on {
            conn.patch(&link.id, &json!({"SecureBootEnable": on}), None)
                .await?;
        }
        Ok(())
    }

    /// Done or still booting, when the BMC's state says so; `None` when the host must be
    /// (re)booted into the ISO.
    fn live_iso_progress(
        &self,
        host: &HostData,
        ours: bool,
        pending: bool,
        system: &ComputerSystem,
        force: bool,
    ) -> Option<Outcome> {
        let restarted_recently = self
            .known(host)
            .booted
            .is_some_and(|t| t.elapsed() < self.config.boot_timeout);
        match live_iso(ours, pending, is_on(system), restarted_recently, force) {
            LiveIso::Running => {
                self.remember(host, |k| {
                    k.provisioning = false;
                    k.booted = None;
                });
                Some(Outcome::Done)
            }
            LiveIso::Booting => Some(Outcome::wait(self.config.poll)),
            LiveIso::Boot => None,
        }
    }

    /// Live ISO by UEFI HTTP boot: the firmware fetches the ISO itself, no virtual media.
    async fn provision_http(
        &self,
        host: &HostData,
        data: &ProvisionData,
        force: bool,
    ) -> Step<Outcome> {
        if data.boot_mode == BootMode::Legacy {
            return Err(Fault::Failed(
                "redfish-uefihttp boots over UEFI HTTP, which needs bootMode UEFI or \
                 UEFISecureBoot"
                    .into(),
            ));
        }
        let url = data.image.url.as_str();
        let (conn, path) = self.connect(host).await?;
        let system = self.system(host, &conn, &path).await?;
        let boot = &system.boot;
        let pending = boot.boot_source_override_target.as_deref() == Some("UefiHttp")
            && boot.boot_source_override_enabled.as_deref() == Some("Once");
        let ours = boot.http_boot_uri.as_deref() == Some(url);
        if let Some(outcome) = self.live_iso_progress(host, ours, pending, &system, force) {
            return Ok(outcome);
        }
        self.set_secure_boot(&conn, &system, data.boot_mode == BootMode::UefiSecureBoot)
            .await?;
        let patch = json!({"Boot": {
            "BootSourceOverrideTarget": "UefiHttp",
            "BootSourceOverrideEnabled": "Once",
            "BootSourceOverrideMode": "UEFI",
            "HttpBootUri": url,
        }});
        conn.patch(&path, &patch, None).await?;
        self.boot(host, &conn, &path, is_on(&system)).await?;
        self.remember(host, |k| {
            k.booted = Some(Instant::now());
            k.provisioning = true;
        });
        Ok(Outcome::wait(self.config.poll))
    }

    async fn do_provision(
        &self,
        host: &HostData,
        data: &ProvisionData,
        force: bool,
    ) -> Step<Outcome> {
        if data.custom_deploy.is_some() {
            return Err(Fault::Failed(
                "customDeploy needs the in-band agent, which the redfish provisioner does not \
                 have yet; use --provisioner ironic for custom deploy steps"
                    .into(),
            ));
        }
        if !data.image.is_live_iso() {
            return Err(Fault::Failed(format!(
                "the redfish provisioner boots live ISOs (image.format: live-iso) from virtual \
                 media; writing a {} image to disk needs the in-band agent, which it does not \
                 have yet — use a live ISO or --provisioner ironic",
                data.image
                    .disk_format
                    .map_or_else(|| "disk".to_string(), |f| f.to_string())
            )));
        }
        if address::uefi_http(&host.bmc_address) {
            return self.provision_http(host, data, force).await;
        }
        let url = data.image.url.as_str();
        let (conn, path) = self.connect(host).await?;
        let system = self.system(host, &conn, &path).await?;
        let cd = self.media_path(host, &conn, &system, false).await?;
        let media: VirtualMedia = conn.get(&cd).await?;
        let ours = media.inserted == Some(true) && media.image.as_deref() == Some(url);
        let boot = &system.boot;
        let pending = boot.boot_source_override_target.as_deref() == Some("Cd")
            && boot.boot_source_override_enabled.as_deref() == Some("Once");
        if let Some(outcome) = self.live_iso_progress(host, ours, pending, &system, force) {
            return Ok(outcome);
        }
        self.set_secure_boot(&conn, &system, data.boot_mode == BootMode::UefiSecureBoot)
            .await?;
        // Boot override first, then the medium, then one power on or restart.
        let mode = if data.boot_mode == BootMode::Legacy {
            "Legacy"
        } else {
            "UEFI"
        };
        if !pending || boot.boot_source_override_mode.as_deref() != Some(mode) {
            let patch = json!({"Boot": {
                "BootSourceOverrideTarget": "Cd",
                "BootSourceOverrideEnabled": "Once",
                "BootSourceOverrideMode": mode,
            }});
            conn.patch(&path, &patch, None).await?;
        }
        self.insert(&conn, &cd, &media, url).await?;
        self.boot(host, &conn, &path, is_on(&system)).await?;
        self.remember(host, |k| {
            k.booted = Some(Instant::now());
            k.provisioning = true;
        });
        Ok(Outcome::wait(self.config.poll))
    }

    async fn do_deprovision(&self, host: &HostData) -> Step<Outcome> {
        let (conn, path) = self.connect(host).await?;
        let system = self.system(host, &conn, &path).await?;
        if let Ok(cd) = self.media_path(host, &conn, &system, false).await {
            self.eject(&conn, &cd).await?;
        }
        self.set_secure_boot(&conn, &system, false).await?;
        let boot = &system.boot;
        if boot
            .boot_source_override_enabled
            .as_deref()
            .is_some_and(|e| e != "Disabled")
        {
            conn.patch(
                &path,
                &json!({"Boot": {"BootSourceOverrideEnabled": "Disabled", "BootSourceOverrideTarget": "None"}}),
                None,
            )
            .await?;
        }
        if is_on(&system) {
            self.reset(host, &conn, &path, "ForceOff").await?;
            return Ok(Outcome::wait(self.config.poll));
        }
        self.remember(host, |k| {
            k.provisioning = false;
            k.booted = None;
        });
        Ok(Outcome::Done)
    }

    async fn do_power(&self, host: &HostData, on: bool, mode: RebootMode) -> Step<Outcome> {
        let (conn, path) = self.connect(host).await?;
        let system = self.system(host, &conn, &path).await?;
        if is_on(&system) == on {
            self.remember(host, |k| {
                k.power_request = None;
                k.soft_off_since = None;
            });
            return Ok(Outcome::Done);
        }
        let known = self.known(host);
        let now = Instant::now();
        if on {
            let asked = known
                .power_request
                .is_some_and(|(kind, at)| kind == "On" && now - at < self.config.boot_timeout);
            if !asked {
                self.reset(host, &conn, &path, "On").await?;
            }
            return Ok(Outcome::wait(self.config.poll));
        }
        match (mode, known.soft_off_since) {
            (RebootMode::Soft, None) => {
                self.reset(host, &conn, &path, "GracefulShutdown").await?;
                self.remember(host, |k| k.soft_off_since = Some(now));
            }
            (RebootMode::Soft, Some(since)) if now - since < self.config.soft_power_off_timeout => {
            }
            _ => {
                let asked = known.power_request.is_some_and(|(kind, at)| {
                    kind == "ForceOff" && now - at < self.config.poll * 5
                });
                if !asked {
                    self.reset(host, &conn, &path, "ForceOff").await?;
                }
            }
        }
        Ok(Outcome::wait(self.config.poll))
    }

    async fn do_inspect(&self, host: &HostData) -> Step<metal3_api::v1alpha1::HardwareDetails> {
        let (conn, path) = self.connect(host).await?;
        let system = self.system(host, &conn, &path).await?;
        let mut observed = inventory::Observed::default();
        // Collections come expanded (one request each) when the BMC offers `$expand`.
        if let Some(link) = &system.processors {
            observed.processors = conn.members::<Processor>(&link.id).await?;
        }
        if let Some(link) = &system.ethernet_interfaces {
            observed.nics = conn.members::<EthernetInterface>(&link.id).await?;
        }
        if let Some(link) = &system.storage {
            let body = match conn.expanded(&link.id, 2).await? {
                Some(body) => body,
                None => conn.get_reply(&link.id).await?.body,
            };
            let members = body
                .get("Members")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            for item in &members {
                let storage: Value = conn.resolve(item).await?;
                let drives = storage
                    .get("Drives")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                for d in &drives {
                    observed.drives.push(conn.resolve::<Drive>(d).await?);
                }
            }
        }
        if observed.drives.is_empty()
            && let Some(link) = &system.simple_storage
        {
            let list: Collection = conn.get(&link.id).await?;
            for m in &list.members {
                let simple: Value = conn.get(&m.id).await?;
                for d in simple
                    .get("Devices")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    let name = d.get("Name").and_then(Value::as_str).unwrap_or("disk");
                    let bytes = d.get("CapacityBytes").and_then(Value::as_u64).unwrap_or(0);
                    observed.simple_disks.push((name.to_string(), bytes));
                }
            }
        }
        observed.system = system;
        Ok(inventory::details(&observed, &host.boot_mac_address))
    }

    async fn registry_schema(
        &self,
        conn: &Connection,
        registry: &str,
    ) -> Step<Arc<BTreeMap<String, SettingSchema>>> {
        if let Some(s) = lock(&self.schemas).get(registry) {
            return Ok(s.clone());
        }
        let files: Collection = conn.get("/redfish/v1/Registries").await?;
        let mut found = None;
        for m in &files.members {
            let tail = m.id.trim_end_matches('/').rsplit('/').next().unwrap_or("");
            if tail != registry && !registry.starts_with(tail) {
                continue;
            }
            let file: RegistryFile = conn.get(&m.id).await?;
            let uri = file
                .location
                .iter()
                .find(|l| {
                    l.language
                        .as_deref()
                        .is_none_or(|lang| lang.starts_with("en"))
                })
                .and_then(|l| l.uri.clone());
            if let Some(uri) = uri {
                found = Some(conn.get::<AttributeRegistry>(&uri).await?);
                break;
            }
        }
        let registry_doc = found.ok_or_else(|| {
            Fault::Failed(format!(
                "the BMC does not serve the attribute registry {registry}"
            ))
        })?;
        let schema = Arc::new(schema::schema(&registry_doc));
        lock(&self.schemas).insert(registry.to_string(), schema.clone());
        Ok(schema)
    }

    /// Stages what `data` asks for and applies it with one reboot; done when every staged
    /// change has taken effect (the host is then left powered off).
    async fn do_prepare(
        &self,
        host: &HostData,
        data: &PrepareData,
        raid: bool,
    ) -> Step<PrepareOutcome> {
        let known = self.known(host);
        let (conn, path) = self.connect(host).await?;
        if let Some(staged) = known.staged {
            let mut running = false;
            for monitor in &staged.monitors {
                match conn.task(monitor).await? {
                    TaskProgress::Running(_) => running = true,
                    TaskProgress::Done(Some(task)) if task.failed() => {
                        self.remember(host, |k| k.staged = None);
                        let why = task
                            .messages
                            .iter()
                            .filter_map(|m| m.message.clone())
                            .collect::<Vec<_>>()
                            .join("; ");
                        return Err(Fault::Failed(format!(
                            "a staged change failed on the BMC: {why}"
                        )));
                    }
                    TaskProgress::Done(_) => {}
                }
            }
            if running {
                let timed_out = staged
                    .rebooted
                    .is_some_and(|t| t.elapsed() > self.config.boot_timeout);
                if timed_out {
                    self.remember(host, |k| k.staged = None);
                    return Err(Fault::Failed(
                        "the staged changes did not complete within the boot timeout".into(),
                    ));
                }
                return Ok(PrepareOutcome {
                    outcome: Outcome::wait(self.config.poll),
                    started: false,
                });
            }
            let system = self.system(host, &conn, &path).await?;
            if is_on(&system) {
                self.reset(host, &conn, &path, "ForceOff").await?;
                return Ok(PrepareOutcome {
                    outcome: Outcome::wait(self.config.poll),
                    started: false,
                });
            }
            self.remember(host, |k| k.staged = None);
            return Ok(PrepareOutcome {
                outcome: Outcome::Done,
                started: false,
            });
        }

        let system = self.system(host, &conn, &path).await?;
        let mut monitors = Vec::new();
        let mut staged_any = false;

        // BIOS settings that differ from what the BMC has now.
        if !data.target_firmware_settings.is_empty() {
            let bios_link = system
                .bios
                .clone()
                .ok_or_else(|| Fault::Failed("the system has no Bios resource".into()))?;
            let bios: Bios = conn.get(&bios_link.id).await?;
            let schema = match &bios.attribute_registry {
                Some(r) => self.registry_schema(&conn, r).await.ok(),
                None => None,
            };
            let mut changes = serde_json::Map::new();
            for (name, wanted) in &data.target_firmware_settings {
                let wanted = metal3_api::v1alpha1::setting_text(wanted);
                let current = bios.attributes.get(name);
                if current.map(schema::text).as_deref() == Some(wanted.as_str()) {
                    continue;
                }
                let kind = schema
                    .as_ref()
                    .and_then(|s| s.get(name))
                    .and_then(|s| s.attribute_type);
                changes.insert(name.clone(), schema::typed(&wanted, current, kind));
            }
            if !changes.is_empty() {
                let settings = bios
                    .settings
                    .and_then(|s| s.settings_object)
                    .map_or_else(|| format!("{}/Settings", bios_link.id), |l| l.id);
                conn.patch(&settings, &json!({"Attributes": changes}), None)
                    .await?;
                staged_any = true;
            }
        }

        // Firmware updates, one SimpleUpdate each.
        for update in &data.target_firmware_components {
            let reply = conn
                .post(
                    "/redfish/v1/UpdateService/Actions/UpdateService.SimpleUpdate",
                    &json!({"ImageURI": update.url, "TransferProtocol": transfer(&update.url), "Targets": [path]}),
                )
                .await?;
            if let Some(monitor) = reply.location {
                monitors.push(monitor);
            }
            staged_any = true;
        }

        // Hardware RAID: replace the volumes when the request differs from what is there.
        if raid
            && let Some(volumes) = data
                .target_raid
                .as_ref()
                .and_then(|r| r.hardware_raid_volumes.clone())
            && data.target_raid != data.actual_raid
        {
            monitors.extend(self.stage_raid(&conn, &system, &volumes).await?);
            staged_any = true;
        }

        if !staged_any {
            return Ok(PrepareOutcome {
                outcome: Outcome::Done,
                started: true,
            });
        }
        self.boot(host, &conn, &path, is_on(&system)).await?;
        self.remember(host, |k| {
            k.staged = Some(Staged {
                monitors,
                rebooted: Some(Instant::now()),
            })
        });
        Ok(PrepareOutcome {
            outcome: Outcome::wait(self.config.poll),
            started: true,
        })
    }

    async fn stage_raid(
        &self,
        conn: &Connection,
        system: &ComputerSystem,
        volumes: &[metal3_api::v1alpha1::HardwareRaidVolume],
    ) -> Step<Vec<String>> {
        let link = system.storage.clone().ok_or_else(|| {
            Fault::Failed("hardware RAID was requested but the system has no Storage".into())
        })?;
        let list: Collection = conn.get(&link.id).await?;
        let storage_path = list.members.first().map(|m| m.id.clone()).ok_or_else(|| {
            Fault::Failed(
                "hardware RAID was requested but the system has no RAID controller".into(),
            )
        })?;
        let storage: Storage = conn.get(&storage_path).await?;
        let volumes_path = storage
            .volumes
            .map(|v| v.id)
            .unwrap_or_else(|| format!("{storage_path}/Volumes"));
        let existing: Collection = conn.get(&volumes_path).await?;
        let on_reset = json!({"@Redfish.OperationApplyTime": "OnReset"});
        let mut monitors = Vec::new();
        for v in &existing.members {
            let _: Volume = conn.get(&v.id).await?;
            let reply = conn.delete_with(&v.id, &on_reset).await?;
            monitors.extend(reply.location);
        }
        for wanted in volumes {
            let raid = match wanted.level {
                HardwareRaidLevel::Raid0 => "RAID0",
                HardwareRaidLevel::Raid1 => "RAID1",
                HardwareRaidLevel::Raid5 => "RAID5",
                HardwareRaidLevel::Raid6 => "RAID6",
                HardwareRaidLevel::Raid10 => "RAID10",
                other => {
                    return Err(Fault::Failed(format!(
                        "hardware RAID level {other} is not supported through Redfish"
                    )));
                }
            };
            let mut body = json!({"RAIDType": raid, "@Redfish.OperationApplyTime": "OnReset"});
            if !wanted.name.is_empty() {
                body["Name"] = Value::from(wanted.name.as_str());
            }
            if let Some(gib) = wanted.size_gibibytes.filter(|g| *g > 0) {
                body["CapacityBytes"] = Value::from(gib as u64 * 1024 * 1024 * 1024);
            }
            let reply = conn.post(&volumes_path, &body).await?;
            if reply.status == 202 {
                monitors.extend(reply.location);
            }
        }
        Ok(monitors)
    }
}

/// `TransferProtocol` for an image URL.
fn transfer(url: &str) -> &'static str {
    if url.starts_with("https://") {
        "HTTPS"
    } else {
        "HTTP"
    }
}

#[async_trait]
impl Provisioner for RedfishProvisioner {
    fn name(&self) -> &'static str {
        "redfish"
    }

    async fn register(
        &self,
        host: &HostData,
        _data: &ManagementAccessData,
        options: RegisterOptions,
    ) -> ProvResult<(Outcome, String)> {
        let RegisterOptions {
            credentials_changed,
            ..
        } = options;
        if credentials_changed {
            self.remember(host, |k| {
                *k = Known {
                    address: k.address.clone(),
                    ..Known::default()
                }
            });
        } else if let Some(id) = self.known(host).registered {
            return Ok((Outcome::Done, id));
        }
        with_id(self.check_system(host).await)
    }

    async fn preprovisioning_image_formats(&self) -> ProvResult<Option<Vec<String>>> {
        Ok(None)
    }

    async fn inspect_hardware(
        &self,
        host: &HostData,
        _data: &InspectData,
        _options: InspectOptions,
    ) -> ProvResult<InspectOutcome> {
        match self.do_inspect(host).await {
            Ok(details) => Ok(InspectOutcome {
                outcome: Outcome::Done,
                started: true,
                details: Some(details),
            }),
            Err(Fault::Failed(message)) => Ok(InspectOutcome {
                outcome: Outcome::Failed { message },
                started: true,
                details: None,
            }),
            Err(Fault::Transient(m)) => Err(ProvisionerError::Transient(m)),
        }
    }

    async fn update_hardware_state(&self, host: &HostData) -> ProvResult<HardwareState> {
        let known = self.known(host);
        if let Some((on, at)) = known.power
            && at.elapsed() < self.config.power_check
        {
            return Ok(HardwareState {
                powered_on: Some(on),
            });
        }
        let result = async {
            let (conn, path) = self.connect(host).await?;
            self.system(host, &conn, &path).await
        }
        .await;
        match result {
            Ok(system) => Ok(HardwareState {
                powered_on: Some(is_on(&system)),
            }),
            Err(_) => Ok(HardwareState { powered_on: None }),
        }
    }

    async fn adopt(
        &self,
        host: &HostData,
        _state: &ProvisioningState,
        restart: bool,
    ) -> ProvResult<Outcome> {
        // Nothing to take over: the state is on the BMC. A host we already know costs nothing
        // (every pass of a provisioned host asks); otherwise check that the BMC answers.
        if !restart && self.known(host).registered.is_some() {
            return Ok(Outcome::Done);
        }
        settle(self.check_system(host).await.map(|_| Outcome::Done))
    }

    async fn prepare(
        &self,
        host: &HostData,
        data: &PrepareData,
        _options: PrepareOptions,
    ) -> ProvResult<PrepareOutcome> {
        prepared(self.do_prepare(host, data, true).await)
    }

    async fn service(
        &self,
        host: &HostData,
        data: &PrepareData,
        _options: PrepareOptions,
    ) -> ProvResult<PrepareOutcome> {
        prepared(self.do_prepare(host, data, false).await)
    }

    async fn provision(
        &self,
        host: &HostData,
        data: &ProvisionData,
        force_reboot: bool,
    ) -> ProvResult<Outcome> {
        let result = self.do_provision(host, data, force_reboot).await;
        if matches!(result, Ok(Outcome::Done) | Err(Fault::Failed(_))) {
            self.remember(host, |k| k.provisioning = false);
        }
        settle(result)
    }

    async fn deprovision(
        &self,
        host: &HostData,
        _restart: bool,
        _cleaning_mode: AutomatedCleaningMode,
    ) -> ProvResult<Outcome> {
        // Live ISOs never touch the disks, so there is nothing to clean.
        settle(self.do_deprovision(host).await)
    }

    async fn delete(&self, host: &HostData) -> ProvResult<Outcome> {
        lock(&self.known).remove(&Self::key(host));
        Ok(Outcome::Done)
    }

    async fn detach(&self, host: &HostData, _force: bool) -> ProvResult<Outcome> {
        lock(&self.known).remove(&Self::key(host));
        Ok(Outcome::Done)
    }

    async fn power_on(&self, host: &HostData, _force: bool) -> ProvResult<Outcome> {
        settle(self.do_power(host, true, RebootMode::Hard).await)
    }

    async fn power_off(
        &self,
        host: &HostData,
        mode: RebootMode,
        _force: bool,
        _cleaning_mode: AutomatedCleaningMode,
    ) -> ProvResult<Outcome> {
        settle(self.do_power(host, false, mode).await)
    }

    async fn has_capacity(&self, host: &HostData) -> ProvResult<bool> {
        if self.config.capacity == 0 {
            return Ok(true);
        }
        let me = Self::key(host);
        let busy = lock(&self.known)
            .iter()
            .filter(|(k, v)| **k != me && v.provisioning)
            .count();
        Ok(busy < self.config.capacity)
    }

    async fn firmware_settings(
        &self,
        host: &HostData,
        include_schema: bool,
    ) -> ProvResult<FirmwareSettings> {
        transient(
            async {
                let (conn, path) = self.connect(host).await?;
                let fresh = |t: &Instant| t.elapsed() < self.config.firmware_refresh;
                let (settings, registry) = match self.known(host).bios {
                    Some((at, settings, registry)) if fresh(&at) => (settings, registry),
                    _ => {
                        let system = self.system(host, &conn, &path).await?;
                        let link = system.bios.ok_or_else(|| {
                            Fault::Failed("the system has no Bios resource".into())
                        })?;
                        let bios: Bios = conn.get(&link.id).await?;
                        let settings: BTreeMap<String, String> = bios
                            .attributes
                            .iter()
                            .map(|(k, v)| (k.clone(), schema::text(v)))
                            .collect();
                        let registry = bios.attribute_registry.clone();
                        let now = Instant::now();
                        self.remember(host, |k| {
                            k.bios = Some((now, settings.clone(), registry.clone()))
                        });
                        (settings, registry)
                    }
                };
                let schema = match (&registry, include_schema) {
                    (Some(r), true) => Some((*self.registry_schema(&conn, r).await?).clone()),
                    _ => None,
                };
                Ok(FirmwareSettings { settings, schema })
            }
            .await,
        )
    }

    async fn firmware_components(
        &self,
        host: &HostData,
    ) -> ProvResult<Vec<FirmwareComponentStatus>> {
        transient(
            async {
                if let Some((at, components)) = self.known(host).components
                    && at.elapsed() < self.config.firmware_refresh
                {
                    return Ok(components);
                }
                let (conn, path) = self.connect(host).await?;
                let system = self.system(host, &conn, &path).await?;
                let mut out = Vec::new();
                if let Some(v) = &system.bios_version {
                    out.push(component("bios", v));
                }
                if let Some(m) = system.links.managed_by.first() {
                    let manager: Manager = conn.get(&m.id).await?;
                    if let Some(v) = &manager.firmware_version {
                        out.push(component("bmc", v));
                    }
                }
                let now = Instant::now();
                self.remember(host, |k| k.components = Some((now, out.clone())));
                Ok(out)
            }
            .await,
        )
    }

    async fn add_bmc_event_subscription(
        &self,
        host: &HostData,
        subscription: &EventSubscription,
    ) -> ProvResult<(Outcome, String)> {
        let result = async {
            let (conn, path) = self.connect(host).await?;
            let headers: Vec<Value> = subscription
                .http_headers
                .iter()
                .map(|(k, v)| json!({k: v}))
                .collect();
            let reply = conn
                .post(
                    "/redfish/v1/EventService/Subscriptions",
                    &json!({
                        "Destination": subscription.destination,
                        "Context": subscription.context,
                        "Protocol": "Redfish",
                        "HttpHeaders": headers,
                        "OriginResources": [{"@odata.id": path}],
                    }),
                )
                .await?;
            let id = reply
                .location
                .or_else(|| {
                    reply
                        .body
                        .get("@odata.id")
                        .and_then(Value::as_str)
                        .map(str::to_string)
                })
                .ok_or_else(|| {
                    Fault::Failed("the BMC did not say where the subscription is".into())
                })?;
            Ok(id)
        }
        .await;
        with_id(result)
    }

    async fn remove_bmc_event_subscription(
        &self,
        host: &HostData,
        subscription_id: &str,
    ) -> ProvResult<Outcome> {
        settle(
            async {
                let (conn, _) = self.connect(host).await?;
                let path = if subscription_id.starts_with('/') {
                    subscription_id.to_string()
                } else {
                    format!("/redfish/v1/EventService/Subscriptions/{subscription_id}")
                };
                match conn.delete(&path).await {
                    Ok(_) => Ok(Outcome::Done),
                    Err(e) if e.is_not_found() => Ok(Outcome::Done),
                    Err(e) => Err(e.into()),
                }
            }
            .await,
        )
    }

    async fn data_image_status(&self, host: &HostData) -> ProvResult<DataImageStatus> {
        transient(
            async {
                let (conn, usb) = self.usb(host).await?;
                let media: VirtualMedia = conn.get(&usb).await?;
                Ok(DataImageStatus {
                    attached_url: media.image.filter(|_| media.inserted == Some(true)),
                })
            }
            .await,
        )
    }

    async fn attach_data_image(&self, host: &HostData, url: &str) -> ProvResult<Outcome> {
        settle(
            async {
                let (conn, usb) = self.usb(host).await?;
                let current: VirtualMedia = conn.get(&usb).await?;
                self.insert(&conn, &usb, &current, url).await?;
                Ok(Outcome::Done)
            }
            .await,
        )
    }

    async fn detach_data_image(&self, host: &HostData) -> ProvResult<Outcome> {
        settle(
            async {
                let (conn, usb) = self.usb(host).await?;
                self.eject(&conn, &usb).await?;
                Ok(Outcome::Done)
            }
            .await,
        )
    }

    async fn has_power_failure(&self, _host: &HostData) -> ProvResult<bool> {
        Ok(false)
    }

    async fn health(&self, host: &HostData) -> ProvResult<Health> {
        if let Some((health, at)) = self.known(host).health
            && at.elapsed() < self.config.power_check
        {
            return Ok(health);
        }
        let result = async {
            let (conn, path) = self.connect(host).await?;
            self.system(host, &conn, &path).await
        }
        .await;
        Ok(result.map_or(Health::Unknown, |s| health_of(&s)))
    }
}

fn health_of(system: &ComputerSystem) -> Health {
    match system.status.health.as_deref() {
        Some("OK") => Health::Ok,
        Some("Warning") => Health::Warning,
        Some("Critical") => Health::Critical,
        _ => Health::Unknown,
    }
}

fn component(name: &str, version: &str) -> FirmwareComponentStatus {
    FirmwareComponentStatus {
        component: name.into(),
        initial_version: version.into(),
        current_version: Some(version.into()),
        ..FirmwareComponentStatus::default()
    }
}

#[cfg(test)]
mod tests {
    use super::{LiveIso, live_iso};

    #[test]
    fn live_iso_decisions() {
        // (ours, pending, on, restarted recently, force) → decision
        let cases = [
            ((true, false, true, false, false), LiveIso::Running),
            ((true, false, true, true, false), LiveIso::Running),
            ((true, true, true, true, false), LiveIso::Booting),
            ((true, true, true, false, false), LiveIso::Boot),
            ((true, false, false, false, false), LiveIso::Boot),
            ((false, false, true, false, false), LiveIso::Boot),
            ((true, false, true, false, true), LiveIso::Boot),
            ((false, true, true, true, false), LiveIso::Boot),
        ];
        for ((ours, pending, on, recent, force), expected) in cases {
            assert_eq!(
                live_iso(ours, pending, on, recent, force),
                expected,
                "ours={ours} pending={pending} on={on} recent={recent} force={force}"
            );
        }
    }
}
