//! The native Redfish provisioner: manages hosts by talking to their BMCs directly, with no
//! Ironic and no database. Everything it needs to resume after a restart is on the BMC (power,
//! boot override, inserted media, pending settings) or in the BareMetalHost; what it keeps in
//! memory only saves BMC calls.
//!
//! - Registration reads the system once (reachability, credentials, the system path).
//! - Inspection is out of band, from Systems/Processors/EthernetInterfaces/Storage, while the
//!   host stays powered off ([`inventory`]); with the agent (`inspectionMode: agent`) the host
//!   boots it and its inventory, completed by the BMC's, is the host's.
//! - Provisioning boots live ISOs from virtual media: boot override first, then the medium,
//!   then one power on or restart; done when the override is used up with our medium in and
//!   the host on. Disk images and custom deploy steps need the in-band agent ([`Config`]'s
//!   `agent`, the operator's hub): it writes the image and config drive, then the host boots
//!   its disk. Without the agent such hosts get a clear provisioning error.
//! - With the agent, `automatedCleaningMode: metadata` cleans the disks before a host becomes
//!   available and after deprovisioning; with fast track the agent stands by on available
//!   hosts, so provisioning boots the host once.
//! - Preparation and servicing stage BIOS settings (`@Redfish.Settings`), firmware updates
//!   (`SimpleUpdate`) and hardware RAID volumes (`OnReset`) together and apply them with a
//!   single reboot.
//! - An idle host costs one BMC call per power check interval (five minutes by default): the
//!   power state is remembered between checks, and every change we make updates it.
//!
//! Modules, one job each (the phases have the same file names in `metal3-hoststate` and the
//! Ironic backend):
//!
//! - `config`: the settings ([`Config`]) and their defaults.
//! - `errors`: client failures mapped to a reported [`Outcome::Failed`] or a transient error.
//! - `address`: a BareMetalHost `bmc.address` as a Redfish endpoint and system path (pure).
//! - `cache`: what is remembered between calls (paths, power and health readings, boots and
//!   staged changes in progress, firmware readings, registry schemas).
//! - `register`: finding the system, checking the BMC answers and takes the credentials,
//!   adopting.
//! - `inspect`: out-of-band inspection; [`inventory`] maps what it reads (pure).
//! - `prepare`: staging BIOS settings, firmware updates and RAID volumes for preparing and
//!   servicing, applied with one reboot.
//! - `agent`: the in-band agent brought up on a host (booted from its image in the virtual CD,
//!   or found standing by), its commands and their results, the progress a host shows.
//! - `deploy`: provisioning live ISOs (virtual media or UEFI HTTP boot, Secure Boot), disk
//!   images through the agent (`deploy/image`, the command built in the pure
//!   `deploy/instance`), and deprovisioning; the provisioning capacity.
//! - `power`: power on/off and resets, power state and health readings.
//! - `firmware`: reading BIOS settings, the attribute registry and component versions;
//!   [`schema`] maps the registry and typed values (pure).
//! - `events`: BMC event subscriptions.
//! - [`switchports`] (pure): the error for a host asking for switch port configuration, which
//!   needs Ironic's networking service.
//! - `media`: the virtual CD and USB devices, inserting and ejecting, data images.

mod address;
mod agent;
mod cache;
mod config;
mod deploy;
mod errors;
mod events;
mod firmware;
mod inspect;
pub mod inventory;
mod media;
mod power;
mod prepare;
mod register;
pub mod schema;
pub mod switchports;

use async_trait::async_trait;
use metal3_api::v1alpha1::{AutomatedCleaningMode, FirmwareComponentStatus, ProvisioningState};
use metal3_provisioner::{
    DataImageStatus, EventSubscription, FirmwareSettings, HardwareState, Health, HostData,
    InspectData, InspectOptions, InspectOutcome, ManagementAccessData, Outcome, PrepareData,
    PrepareOptions, PrepareOutcome, ProvResult, ProvisionData, Provisioner, RebootMode,
    RegisterOptions,
};
use metal3_redfish::Pool;

pub use config::{AgentSettings, Config};
use errors::{inspected, prepared, settle, transient, with_id};

/// The provisioner.
pub struct RedfishProvisioner {
    pool: Pool,
    config: Config,
    cache: cache::Cache,
}

impl RedfishProvisioner {
    /// A provisioner with its own connection pool.
    pub fn new(config: Config) -> Result<Self, metal3_redfish::Error> {
        Ok(Self {
            pool: Pool::new(config.client.clone())?,
            config,
            cache: cache::Cache::default(),
        })
    }

    /// The connection pool (for call counts, idle logouts and logging out at shutdown).
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// Forgets the host (and the agent hub forgets it too).
    fn forget(&self, host: &HostData) {
        self.cache.forget(host);
        if let Some(agent) = self.agent() {
            agent.hub.forget(&agent::host_ref(host));
        }
    }
}

#[async_trait]
impl Provisioner for RedfishProvisioner {
    fn name(&self) -> &'static str {
        "redfish"
    }

    fn backend_requests(&self) -> Option<u64> {
        Some(self.pool.calls())
    }

    fn host_requests(&self, host: &HostData) -> Option<u64> {
        let (endpoint, path) =
            address::endpoint(&host.bmc_address, host.disable_certificate_verification).ok()?;
        let known = self.cache.known(host);
        let scope = if known.system.is_empty() {
            path
        } else {
            known.system
        };
        Some(self.pool.calls_to(&endpoint.base, &scope).unwrap_or(0))
    }

    async fn register(
        &self,
        host: &HostData,
        data: &ManagementAccessData,
        options: RegisterOptions,
    ) -> ProvResult<(Outcome, String)> {
        self.do_register(host, data, options).await
    }

    async fn preprovisioning_image_formats(&self) -> ProvResult<Option<Vec<String>>> {
        Ok(None)
    }

    async fn inspect_hardware(
        &self,
        host: &HostData,
        data: &InspectData,
        options: InspectOptions,
    ) -> ProvResult<InspectOutcome> {
        inspected(self.do_inspect(host, data, options).await)
    }

    async fn update_hardware_state(&self, host: &HostData) -> ProvResult<HardwareState> {
        Ok(self.hardware_state(host).await)
    }

    async fn adopt(
        &self,
        host: &HostData,
        _state: &ProvisioningState,
        restart: bool,
    ) -> ProvResult<Outcome> {
        self.do_adopt(host, restart).await
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
        settle(self.do_provision(host, data, force_reboot).await)
    }

    async fn deprovision(
        &self,
        host: &HostData,
        _restart: bool,
        cleaning_mode: AutomatedCleaningMode,
    ) -> ProvResult<Outcome> {
        settle(self.do_deprovision(host, cleaning_mode).await)
    }

    async fn delete(&self, host: &HostData) -> ProvResult<Outcome> {
        self.forget(host);
        Ok(Outcome::Done)
    }

    async fn detach(&self, host: &HostData, _force: bool) -> ProvResult<Outcome> {
        self.forget(host);
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
        Ok(self.has_room(host))
    }

    async fn firmware_settings(
        &self,
        host: &HostData,
        include_schema: bool,
    ) -> ProvResult<FirmwareSettings> {
        transient(self.do_firmware_settings(host, include_schema).await)
    }

    async fn firmware_components(
        &self,
        host: &HostData,
    ) -> ProvResult<Vec<FirmwareComponentStatus>> {
        transient(self.do_firmware_components(host).await)
    }

    async fn add_bmc_event_subscription(
        &self,
        host: &HostData,
        subscription: &EventSubscription,
    ) -> ProvResult<(Outcome, String)> {
        with_id(self.subscribe(host, subscription).await)
    }

    async fn remove_bmc_event_subscription(
        &self,
        host: &HostData,
        subscription_id: &str,
    ) -> ProvResult<Outcome> {
        settle(self.unsubscribe(host, subscription_id).await)
    }

    async fn data_image_status(&self, host: &HostData) -> ProvResult<DataImageStatus> {
        transient(self.do_data_image_status(host).await)
    }

    async fn attach_data_image(&self, host: &HostData, url: &str) -> ProvResult<Outcome> {
        settle(self.do_attach_data_image(host, url).await)
    }

    async fn detach_data_image(&self, host: &HostData) -> ProvResult<Outcome> {
        settle(self.do_detach_data_image(host).await)
    }

    async fn has_power_failure(&self, _host: &HostData) -> ProvResult<bool> {
        Ok(false)
    }

    async fn health(&self, host: &HostData) -> ProvResult<Health> {
        Ok(self.do_health(host).await)
    }

    fn progress(&self, host: &HostData) -> Option<String> {
        self.progress_of(host)
    }
}
