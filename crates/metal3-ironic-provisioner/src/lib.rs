//! The Ironic provisioner: every [`Provisioner`] call becomes the OpenStack Ironic requests
//! upstream Metal³ makes, so an operator pointed at an existing Ironic (ironic-image, the
//! ironic-standalone-operator) manages its nodes the same way.
//!
//! - Nodes are named `<namespace>~<name>` and found by the stored UUID, then by name, then by
//!   the boot MAC's port (a port on a node of another name is a registration error).
//! - Driver, interfaces and `driver_info` come from the BMC address (`metal3-bmc`).
//! - Each call reads the node once and acts on its `provision_state`: start the next
//!   transition, report progress, or report Ironic's `last_error` as the host's error.
//! - Manual cleaning (preparing) and servicing record what they started in the node's
//!   `extra`, so a finished run is told apart from one still to do, across operator restarts.
//!
//! This file keeps the [`IronicProvisioner`] and its [`Provisioner`] impl, each method handing
//! over to the module of its phase (the same names as in `metal3-hoststate` and the Redfish
//! backend):
//!
//! - `config`: the settings ([`Config`]: upstream's variables, deploy images, limit, waits).
//! - `errors`: Ironic's errors as retries or host errors; why a node failed.
//! - `register`: readiness, node lookup, registration, ports, management access, adoption,
//!   delete and detach.
//! - `inspect`: inspection, and the inventory it found.
//! - `prepare`: manual cleaning and servicing with their `extra` marks; the pure
//!   `prepare::steps` builds the RAID, BIOS and firmware steps.
//! - `deploy`: provisioning and deprovisioning; the pure `deploy::instance` builds the
//!   deploy kind, `instance_info` and the config drive.
//! - `power`: power state, on and off, power failure, health.
//! - `capacity`: the provisioning limit.
//! - `firmware`: BIOS settings with their schema, firmware components.
//! - `events`: BMC event subscriptions.
//! - `media`: data images in the virtual CD.
//! - [`node`] (pure): node names, interfaces, capabilities, root device hints, ports, network
//!   data, JSON patches, the inserted CD.
//! - [`inventory`] (pure): the agent's inventory as the host's hardware details.
//! - [`switchport`] (pure): a port's `local_link_connection` and `extra.switchport` for Ironic's
//!   networking service, from the host's network interfaces and their attachments.

mod capacity;
mod config;
mod deploy;
mod errors;
mod events;
mod firmware;
mod inspect;
pub mod switchport;
pub use metal3_inventory::ipa as inventory;
mod media;
pub mod node;
mod power;
mod prepare;
mod register;

use std::sync::Mutex;
use std::time::Instant;

use async_trait::async_trait;
use metal3_api::v1alpha1::{AutomatedCleaningMode, FirmwareComponentStatus, ProvisioningState};
use metal3_ironic::types::{Node, ProvisionRequest};
use metal3_ironic::{Client, Error as IronicError};
use metal3_provisioner::{
    DataImageStatus, EventSubscription, FirmwareSettings, HardwareState, Health, HostData,
    InspectData, InspectOptions, InspectOutcome, ManagementAccessData, Outcome, PrepareData,
    PrepareOptions, PrepareOutcome, ProvResult, ProvisionData, Provisioner, RebootMode,
    RegisterOptions,
};
use tracing::info;

pub use config::Config;
pub use node::Hardware;

/// The Ironic backend.
pub struct IronicProvisioner {
    client: Client,
    config: Config,
    ready_at: Mutex<Option<Instant>>,
}

impl IronicProvisioner {
    /// A provisioner talking to Ironic through `client`.
    pub fn new(client: Client, config: Config) -> Self {
        Self {
            client,
            config,
            ready_at: Mutex::new(None),
        }
    }

    /// Call again after a quick transition.
    fn short(&self) -> Outcome {
        Outcome::wait(self.config.short_wait)
    }

    /// Call again after a long transition.
    fn long(&self) -> Outcome {
        Outcome::wait(self.config.long_wait)
    }

    /// Asks Ironic for the node's next provision state.
    async fn set_state(&self, node: &Node, request: ProvisionRequest) -> Result<(), IronicError> {
        info!(node = %node.uuid, from = %node.provision_state, target = %request.target, "changing provision state");
        self.client.set_provision_state(&node.uuid, &request).await
    }
}

#[async_trait]
impl Provisioner for IronicProvisioner {
    fn name(&self) -> &'static str {
        "ironic"
    }

    fn backend_requests(&self) -> Option<u64> {
        Some(self.client.requests())
    }

    async fn register(
        &self,
        host: &HostData,
        data: &ManagementAccessData,
        options: RegisterOptions,
    ) -> ProvResult<(Outcome, String)> {
        register::register(self, host, data, options).await
    }

    async fn preprovisioning_image_formats(&self) -> ProvResult<Option<Vec<String>>> {
        Ok(self.config.preprovisioning_image_formats())
    }

    async fn inspect_hardware(
        &self,
        host: &HostData,
        data: &InspectData,
        options: InspectOptions,
    ) -> ProvResult<InspectOutcome> {
        inspect::inspect_hardware(self, host, data, options).await
    }

    async fn update_hardware_state(&self, host: &HostData) -> ProvResult<HardwareState> {
        power::update_hardware_state(self, host).await
    }

    async fn adopt(
        &self,
        host: &HostData,
        current: &ProvisioningState,
        restart: bool,
    ) -> ProvResult<Outcome> {
        register::adopt(self, host, current, restart).await
    }

    async fn prepare(
        &self,
        host: &HostData,
        data: &PrepareData,
        options: PrepareOptions,
    ) -> ProvResult<PrepareOutcome> {
        prepare::prepare(self, host, data, options).await
    }

    async fn service(
        &self,
        host: &HostData,
        data: &PrepareData,
        options: PrepareOptions,
    ) -> ProvResult<PrepareOutcome> {
        prepare::service(self, host, data, options).await
    }

    async fn provision(
        &self,
        host: &HostData,
        data: &ProvisionData,
        force_reboot: bool,
    ) -> ProvResult<Outcome> {
        deploy::provision(self, host, data, force_reboot).await
    }

    async fn deprovision(
        &self,
        host: &HostData,
        restart: bool,
        cleaning_mode: AutomatedCleaningMode,
    ) -> ProvResult<Outcome> {
        deploy::deprovision(self, host, restart, cleaning_mode).await
    }

    async fn delete(&self, host: &HostData) -> ProvResult<Outcome> {
        register::delete(self, host).await
    }

    async fn detach(&self, host: &HostData, force: bool) -> ProvResult<Outcome> {
        register::detach(self, host, force).await
    }

    async fn power_on(&self, host: &HostData, _force: bool) -> ProvResult<Outcome> {
        power::power_on(self, host).await
    }

    async fn power_off(
        &self,
        host: &HostData,
        mode: RebootMode,
        _force: bool,
        _cleaning_mode: AutomatedCleaningMode,
    ) -> ProvResult<Outcome> {
        power::power_off(self, host, mode).await
    }

    async fn has_capacity(&self, host: &HostData) -> ProvResult<bool> {
        capacity::has_capacity(self, host).await
    }

    async fn firmware_settings(
        &self,
        host: &HostData,
        include_schema: bool,
    ) -> ProvResult<FirmwareSettings> {
        firmware::firmware_settings(self, host, include_schema).await
    }

    async fn firmware_components(
        &self,
        host: &HostData,
    ) -> ProvResult<Vec<FirmwareComponentStatus>> {
        firmware::firmware_components(self, host).await
    }

    async fn add_bmc_event_subscription(
        &self,
        host: &HostData,
        subscription: &EventSubscription,
    ) -> ProvResult<(Outcome, String)> {
        events::add_bmc_event_subscription(self, host, subscription).await
    }

    async fn remove_bmc_event_subscription(
        &self,
        host: &HostData,
        subscription_id: &str,
    ) -> ProvResult<Outcome> {
        events::remove_bmc_event_subscription(self, host, subscription_id).await
    }

    async fn data_image_status(&self, host: &HostData) -> ProvResult<DataImageStatus> {
        media::data_image_status(self, host).await
    }

    async fn attach_data_image(&self, host: &HostData, url: &str) -> ProvResult<Outcome> {
        media::attach_data_image(self, host, url).await
    }

    async fn detach_data_image(&self, host: &HostData) -> ProvResult<Outcome> {
        media::detach_data_image(self, host).await
    }

    async fn has_power_failure(&self, host: &HostData) -> ProvResult<bool> {
        power::has_power_failure(self, host).await
    }

    async fn health(&self, host: &HostData) -> ProvResult<Health> {
        power::health(self, host).await
    }
}
