//! The Ironic provisioner: every [`Provisioner`] call becomes the OpenStack Ironic requests
//! upstream Metal³ makes, so an operator pointed at an existing Ironic (ironic-image, the
//! ironic-standalone-operator) manages its nodes the same way.
//!
//! - Nodes are named `<namespace>~<name>` and found by the stored UUID, then by name, then by
//!   the boot MAC's port (a port on a node of another name is a registration error).
//! - Driver, interfaces and `driver_info` come from the BMC address (`metal3-bmc`);
//!   [`node`] holds the pure translations (capabilities, root device hints, instance_info,
//!   config drive, clean steps) and [`inventory`] the inspection data mapping.
//! - Each call reads the node once and acts on its `provision_state`: start the next
//!   transition, report progress, or report Ironic's `last_error` as the host's error.
//! - Manual cleaning (preparing) and servicing record what they started in the node's
//!   `extra`, so a finished run is told apart from one still to do, across operator restarts.

pub mod inventory;
pub mod node;

use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use metal3_api::v1alpha1::{
    AutomatedCleaningMode, BootMode, FirmwareComponentStatus, InspectionMode, ProvisioningState,
    SettingSchema,
};
use metal3_bmc::BmcAddress;
use metal3_ironic::types::{Node, ProvisionRequest, Step, power, state};
use metal3_ironic::{Client, Error as IronicError, PatchOp, version};
use metal3_provisioner::{
    DataImageStatus, EventSubscription, FirmwareSettings, HardwareState, Health, HostData,
    InspectData, InspectOptions, InspectOutcome, ManagementAccessData, Outcome, PrepareData,
    PrepareOptions, PrepareOutcome, ProvResult, ProvisionData, Provisioner, ProvisionerError,
    RebootMode, RegisterOptions,
};
use serde_json::{Map, Value, json};
use tracing::{debug, info};

pub use node::Hardware;

/// Settings of the Ironic provisioner (upstream's environment variables).
#[derive(Clone, Debug)]
pub struct Config {
    /// `DEPLOY_KERNEL_URL`: the agent's kernel, for drivers that PXE or iPXE boot it.
    pub deploy_kernel_url: Option<String>,
    /// `DEPLOY_RAMDISK_URL`: the agent's initramfs.
    pub deploy_ramdisk_url: Option<String>,
    /// `DEPLOY_ISO_URL`: the agent as an ISO, for virtual-media drivers.
    pub deploy_iso_url: Option<String>,
    /// `PROVISIONING_LIMIT`: hosts inspecting, cleaning or deploying at once through network
    /// boot (virtual-media drivers are not limited), 20 by default.
    pub provisioning_limit: usize,
    /// Which driver and interfaces nodes get.
    pub hardware: Hardware,
    /// How long a successful readiness check holds.
    pub ready_ttl: Duration,
    /// Wait after quick transitions (manage, provide, power, abort, locked node).
    pub short_wait: Duration,
    /// Wait after long ones (inspect, clean, deploy, service).
    pub long_wait: Duration,
    /// Seconds a soft power off may take before Ironic gives up.
    pub soft_power_off_timeout: u64,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            deploy_kernel_url: None,
            deploy_ramdisk_url: None,
            deploy_iso_url: None,
            provisioning_limit: 20,
            hardware: Hardware::FromAddress,
            ready_ttl: Duration::from_secs(5),
            short_wait: Duration::from_secs(3),
            long_wait: Duration::from_secs(10),
            soft_power_off_timeout: 180,
        }
    }
}

impl Config {
    /// Reads the deploy image variables; `DEPLOY_KERNEL_URL` and `DEPLOY_RAMDISK_URL` go
    /// together.
    pub fn from_env(env: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        let var = |n: &str| {
            env(n)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let mut c = Self {
            deploy_kernel_url: var("DEPLOY_KERNEL_URL"),
            deploy_ramdisk_url: var("DEPLOY_RAMDISK_URL"),
            deploy_iso_url: var("DEPLOY_ISO_URL"),
            ..Self::default()
        };
        if c.deploy_kernel_url.is_some() != c.deploy_ramdisk_url.is_some() {
            return Err("DEPLOY_KERNEL_URL and DEPLOY_RAMDISK_URL must be set together (the agent's kernel and initramfs)".into());
        }
        if let Some(limit) = var("PROVISIONING_LIMIT") {
            c.provisioning_limit = limit.parse().map_err(|_| {
                format!("PROVISIONING_LIMIT={limit:?} is not a number of hosts, e.g. 20")
            })?;
        }
        Ok(c)
    }
}

/// The Ironic backend.
pub struct IronicProvisioner {
    client: Client,
    config: Config,
    ready_at: Mutex<Option<Instant>>,
}

/// Reason Ironic records for our maintenance mode before a forced delete.
const FORCED_DELETE: &str = "forcing deletion in baremetal-operator";
/// Ironic's virtual media device type for data images (`boot_devices.CDROM`).
const VMEDIA_CD: &str = "cdrom";
/// `extra` key recording the manual clean steps started for preparing.
const PREPARED: &str = "metal3_prepared";
/// `extra` key recording the service steps started for servicing.
const SERVICED: &str = "metal3_serviced";

fn fingerprint(steps: &[Step]) -> String {
    // FNV-1a over the steps' JSON: a stable short marker, not a security hash.
    let text = serde_json::to_string(steps).unwrap_or_default();
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

fn last_error(node: &Node) -> Option<&str> {
    node.last_error.as_deref().filter(|e| !e.trim().is_empty())
}

/// A request error as the operator sees it: transient faults are retried, everything else
/// becomes the host's error.
fn classify(e: IronicError) -> Result<Outcome, ProvisionerError> {
    match e {
        IronicError::Locked(_) => Err(ProvisionerError::NodeIsBusy),
        IronicError::NotFound(_) => Err(ProvisionerError::NeedsRegistration),
        e if e.is_transient() => Err(ProvisionerError::Transient(format!(
            "cannot reach the provisioner: {e}"
        ))),
        e => Ok(Outcome::failed(e.message())),
    }
}

fn transient(e: IronicError) -> ProvisionerError {
    match classify(e) {
        Err(p) => p,
        Ok(Outcome::Failed { message }) => ProvisionerError::Transient(message),
        Ok(_) => ProvisionerError::Transient("unexpected Ironic answer".into()),
    }
}

macro_rules! act {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(e) => return classify(e),
        }
    };
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

    fn short(&self) -> Outcome {
        Outcome::wait(self.config.short_wait)
    }

    fn long(&self) -> Outcome {
        Outcome::wait(self.config.long_wait)
    }

    /// Ironic answers, offers a recent enough API and has drivers (cached briefly).
    async fn ready(&self) -> ProvResult<()> {
        {
            let at = self.ready_at.lock().unwrap_or_else(|e| e.into_inner());
            if at.is_some_and(|t| t.elapsed() < self.config.ready_ttl) {
                return Ok(());
            }
        }
        let drivers = match self.client.negotiate().await {
            Ok(_) => self.client.drivers().await,
            Err(e) => Err(e),
        };
        match drivers {
            Ok(d) if !d.is_empty() => {
                *self.ready_at.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
                Ok(())
            }
            Ok(_) => Err(ProvisionerError::Transient(format!(
                "cannot use the provisioner: Ironic at {} has no drivers enabled yet (is its conductor running?)",
                self.client.root()
            ))),
            Err(e) => {
                self.client.forget_version();
                Err(ProvisionerError::Transient(format!(
                    "cannot reach the provisioner: {e}"
                )))
            }
        }
    }

    /// The host's node, if Ironic knows it.
    async fn find(&self, host: &HostData) -> ProvResult<Option<Node>> {
        self.ready().await?;
        if !host.provisioner_id.is_empty()
            && let Some(n) = self
                .client
                .node(&host.provisioner_id)
                .await
                .map_err(transient)?
        {
            return Ok(Some(n));
        }
        let name = node::node_name(&host.namespace, &host.name);
        if let Some(n) = self.client.node(&name).await.map_err(transient)? {
            return Ok(Some(n));
        }
        // Nodes registered by old operators are named after the host alone; registration
        // renames them.
        self.client.node(&host.name).await.map_err(transient)
    }

    /// The host's node; a missing one must be registered again.
    async fn node(&self, host: &HostData) -> ProvResult<Node> {
        self.find(host)
            .await?
            .ok_or(ProvisionerError::NeedsRegistration)
    }

    async fn set_state(&self, node: &Node, request: ProvisionRequest) -> Result<(), IronicError> {
        info!(node = %node.uuid, from = %node.provision_state, target = %request.target, "changing provision state");
        self.client.set_provision_state(&node.uuid, &request).await
    }

    fn bmc(&self, host: &HostData) -> Result<BmcAddress, String> {
        metal3_bmc::parse(&host.bmc_address)
            .map_err(|e| format!("failed to parse BMC address information: {e}"))
    }

    /// The deploy image fields of `driver_info` (agent kernel/ramdisk or ISO).
    fn deploy_image(&self, bmc: &BmcAddress, data: &ManagementAccessData) -> Map<String, Value> {
        let mut info = Map::new();
        if let Some(ppi) = &data.preprovisioning_image {
            if ppi.format == "iso" && bmc.supports_iso() {
                info.insert("deploy_iso".into(), json!(ppi.image_url));
            } else if ppi.format == "initrd" {
                info.insert("deploy_ramdisk".into(), json!(ppi.image_url));
                let kernel = if ppi.kernel_url.is_empty() {
                    self.config.deploy_kernel_url.clone().unwrap_or_default()
                } else {
                    ppi.kernel_url.clone()
                };
                info.insert("deploy_kernel".into(), json!(kernel));
                if !ppi.extra_kernel_params.is_empty() {
                    info.insert(
                        "kernel_append_params".into(),
                        json!(format!("%default% {}", ppi.extra_kernel_params)),
                    );
                }
            }
            return info;
        }
        if bmc.supports_iso()
            && let Some(iso) = &self.config.deploy_iso_url
        {
            info.insert("deploy_iso".into(), json!(iso));
        } else if let (Some(k), Some(r)) = (
            &self.config.deploy_kernel_url,
            &self.config.deploy_ramdisk_url,
        ) {
            info.insert("deploy_kernel".into(), json!(k));
            info.insert("deploy_ramdisk".into(), json!(r));
        }
        info
    }

    fn deploy_kind(data: &ManagementAccessData) -> node::DeployKind {
        if data.has_custom_deploy {
            node::DeployKind::Custom
        } else if data.current_image.as_ref().is_some_and(|i| i.is_live_iso()) {
            node::DeployKind::LiveIso
        } else {
            node::DeployKind::Image
        }
    }

    /// Makes sure the boot MAC (PXE enabled) and the NICs inspection found have ports on
    /// `node`, in the states Ironic allows it; one read of the node's ports.
    async fn ensure_ports(
        &self,
        node: &Node,
        boot_mac: &str,
        details: Option<&metal3_api::v1alpha1::HardwareDetails>,
    ) -> Result<(), IronicError> {
        let allowed = matches!(
            node.provision_state.as_str(),
            state::ENROLL
                | state::MANAGEABLE
                | state::AVAILABLE
                | state::ACTIVE
                | state::INSPECT_FAIL
                | state::CLEAN_FAIL
                | state::DEPLOY_FAIL
                | state::ERROR
        );
        let wanted = node::wanted_ports(boot_mac, details);
        if wanted.is_empty() || !allowed {
            return Ok(());
        }
        let existing = self.client.ports_of(&node.uuid).await?;
        for (mac, pxe) in wanted {
            if existing
                .iter()
                .any(|p| p.address.eq_ignore_ascii_case(&mac))
            {
                continue;
            }
            match self.client.create_port(&node.uuid, &mac, pxe).await {
                Ok(_) => {}
                // On another node already: the boot MAC's owner was checked at lookup.
                Err(e) if e.is_conflict() => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// New node for the host.
    async fn create(
        &self,
        host: &HostData,
        bmc: &BmcAddress,
        data: &ManagementAccessData,
    ) -> Result<Node, IronicError> {
        let fast = data.inspection_mode == InspectionMode::Fast;
        let mut body = node::interfaces(bmc, &self.config.hardware, fast);
        body.insert(
            "name".into(),
            json!(node::node_name(&host.namespace, &host.name)),
        );
        body.insert(
            "driver".into(),
            json!(node::driver(bmc, &self.config.hardware)),
        );
        if self.config.hardware == Hardware::FromAddress
            && let Some(d) = Self::deploy_kind(data).interface()
        {
            body.insert("deploy_interface".into(), json!(d));
        }
        let mut info = bmc.driver_info_with_credentials(
            &host.credentials.username,
            &host.credentials.password,
            host.disable_certificate_verification,
        );
        info.extend(self.deploy_image(bmc, data));
        body.insert("driver_info".into(), Value::Object(info));
        let mut properties = Map::new();
        properties.insert(
            "capabilities".into(),
            json!(node::capabilities(None, data.boot_mode)),
        );
        if !data.cpu_architecture.is_empty() {
            properties.insert("cpu_arch".into(), json!(data.cpu_architecture));
        }
        body.insert("properties".into(), Value::Object(properties));
        body.insert(
            "automated_clean".into(),
            json!(data.automated_cleaning_mode != AutomatedCleaningMode::Disabled),
        );
        if data.disable_power_off {
            body.insert("disable_power_off".into(), json!(true));
        }
        if let Ok(Some(network_data)) = node::ramdisk_network_data(
            &data.preprovisioning_network_data,
            data.preprovisioning_image.is_some(),
        ) {
            body.insert("network_data".into(), network_data);
        }
        // A host that already runs an image (adopted after Ironic lost its database) keeps
        // what it runs, so adoption can validate the deploy interface.
        if let Some(image) = data.current_image.as_ref().filter(|i| !i.url.is_empty()) {
            let (info, _) = node::instance_info(Some(image), Self::deploy_kind(data), false, None);
            body.insert("instance_info".into(), Value::Object(info));
        }
        let created = self.client.create_node(&Value::Object(body)).await?;
        info!(node = %created.uuid, host = %host.key(), "registered the host with Ironic");
        Ok(created)
    }

    /// Brings an existing node's registration data up to date.
    async fn update(
        &self,
        node: &Node,
        host: &HostData,
        bmc: &BmcAddress,
        data: &ManagementAccessData,
        credentials_changed: bool,
    ) -> Result<Node, IronicError> {
        let mut ops = Vec::new();
        let name = node::node_name(&host.namespace, &host.name);
        if node.name.as_deref() != Some(name.as_str()) {
            ops.push(PatchOp::add("/name", json!(name)));
        }
        let wanted = bmc.driver_info(host.disable_certificate_verification);
        let address_changed = wanted
            .iter()
            .any(|(k, v)| node.driver_info.get(k) != Some(v));
        if credentials_changed || address_changed {
            let mut info = bmc.driver_info_with_credentials(
                &host.credentials.username,
                &host.credentials.password,
                host.disable_certificate_verification,
            );
            info.extend(self.deploy_image(bmc, data));
            ops.push(PatchOp::add("/driver_info", Value::Object(info)));
        }
        if node.disable_power_off.unwrap_or(false) != data.disable_power_off {
            ops.push(PatchOp::add(
                "/disable_power_off",
                json!(data.disable_power_off),
            ));
        }
        if let Ok(Some(network_data)) = node::ramdisk_network_data(
            &data.preprovisioning_network_data,
            data.preprovisioning_image.is_some(),
        ) && node.network_data != network_data
        {
            ops.push(PatchOp::add("/network_data", network_data));
        }
        if !data.cpu_architecture.is_empty()
            && node.properties.get("cpu_arch") != Some(&json!(data.cpu_architecture))
        {
            ops.push(PatchOp::add(
                "/properties/cpu_arch",
                json!(data.cpu_architecture),
            ));
        }
        if ops.is_empty() {
            return Ok(node.clone());
        }
        debug!(node = %node.uuid, changes = ops.len(), "updating the node");
        self.client.patch_node(&node.uuid, &ops).await
    }

    /// Deploy image, cleaning and boot mode, once the node is manageable or beyond.
    async fn configure(
        &self,
        node: &Node,
        bmc: &BmcAddress,
        data: &ManagementAccessData,
    ) -> Result<(), IronicError> {
        let mut wanted = self.deploy_image(bmc, data);
        wanted.retain(|k, v| node.driver_info.get(k) != Some(v));
        let mut ops: Vec<PatchOp> = wanted
            .into_iter()
            .map(|(k, v)| PatchOp::add(format!("/driver_info/{k}"), v))
            .collect();
        let clean = data.automated_cleaning_mode != AutomatedCleaningMode::Disabled;
        if node.automated_clean != Some(clean) {
            ops.push(PatchOp::add("/automated_clean", json!(clean)));
        }
        let existing = node.properties.get("capabilities").and_then(Value::as_str);
        let caps = node::capabilities(existing, data.boot_mode);
        if existing != Some(caps.as_str()) {
            ops.push(PatchOp::add("/properties/capabilities", json!(caps)));
        }
        if !ops.is_empty() {
            self.client.patch_node(&node.uuid, &ops).await?;
        }
        Ok(())
    }

    /// Manual clean (preparing) or service steps: start them unless the same ones already
    /// ran to completion.
    fn steps_for(&self, data: &PrepareData, with_raid: bool) -> (Vec<Step>, Option<(Value, bool)>) {
        let mut steps = Vec::new();
        let mut raid = None;
        if with_raid
            && let Some(target) = &data.target_raid
            && data.actual_raid.as_ref() != Some(target)
            && let Some((disks, raid_steps, software)) =
                node::raid(target, data.root_device_hints.is_some())
        {
            steps.extend(raid_steps);
            raid = Some((disks, software));
        }
        if let Some(s) = node::bios_step(
            &data.target_firmware_settings,
            &data.actual_firmware_settings,
        ) {
            steps.push(s);
        }
        if let Some(s) = node::firmware_step(&data.target_firmware_components) {
            steps.push(s);
        }
        (steps, raid)
    }

    fn ran(node: &Node, key: &str, steps: &[Step]) -> bool {
        node_extra(node, key) == Some(fingerprint(steps))
    }

    async fn mark(&self, node: &Node, key: &str, steps: &[Step]) -> Result<(), IronicError> {
        self.client
            .patch_node(
                &node.uuid,
                &[PatchOp::add(
                    format!("/extra/{key}"),
                    json!(fingerprint(steps)),
                )],
            )
            .await
            .map(|_| ())
    }

    /// Why the node failed: `last_error`, or (Ironic clears `last_error` of failed nodes on
    /// its power sync, and some failures never set it) the newest error in its history.
    async fn reason(&self, node: &Node, default: &str) -> String {
        if let Some(e) = last_error(node) {
            return e.to_string();
        }
        match self.client.history(&node.uuid).await {
            Ok(events) => events
                .iter()
                .rev()
                .find(|e| e.severity.eq_ignore_ascii_case("error") && !e.event.is_empty())
                .map(|e| e.event.clone())
                .unwrap_or_else(|| default.to_string()),
            Err(_) => default.to_string(),
        }
    }

    /// Removes the node: maintenance first when Ironic would not delete it otherwise.
    async fn remove(&self, node: &Node) -> Result<Outcome, ProvisionerError> {
        use state::*;
        match node.provision_state.as_str() {
            VERIFYING => return Ok(self.short()),
            ENROLL => {}
            AVAILABLE | MANAGEABLE => {
                if node.instance_uuid.is_some() {
                    act!(
                        self.client
                            .patch_node(&node.uuid, &[PatchOp::remove("/instance_uuid")])
                            .await
                    );
                }
            }
            DEPLOYING | CLEANING | INSPECTING | SERVICING | DELETING | ADOPTING => {
                return Ok(self.short());
            }
            _ => {
                if !node.maintenance {
                    act!(
                        self.client
                            .set_maintenance(&node.uuid, true, FORCED_DELETE)
                            .await
                    );
                }
            }
        }
        act!(self.client.delete_node(&node.uuid).await);
        info!(node = %node.uuid, "removed the node from Ironic");
        Ok(Outcome::Done)
    }
}

fn node_extra(node: &Node, key: &str) -> Option<String> {
    // `extra` is not in our typed node; read it from properties' sibling via the raw map.
    node.extra
        .get(key)
        .and_then(Value::as_str)
        .map(str::to_string)
}

fn is_wait_state(s: &str) -> bool {
    matches!(
        s,
        state::CLEAN_WAIT | state::INSPECT_WAIT | state::DEPLOY_WAIT | state::SERVICE_WAIT
    )
}

#[async_trait]
impl Provisioner for IronicProvisioner {
    fn name(&self) -> &'static str {
        "ironic"
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
        let bmc = match self.bmc(host) {
            Ok(b) => b,
            Err(m) => return Ok((Outcome::failed(m), String::new())),
        };
        let fake = self.config.hardware == Hardware::Fake;
        let fail = |m: String| Ok((Outcome::failed(m), String::new()));
        if data.inspection_mode == InspectionMode::Fast && !fake && !bmc.supports_fast_inspection()
        {
            return fail(format!(
                "BMC driver {} does not support fast (out-of-band) inspection; use inspectionMode: agent",
                bmc.bmc_type()
            ));
        }
        if data.boot_mode == BootMode::UefiSecureBoot && !fake && !bmc.supports_secure_boot() {
            return fail(format!(
                "BMC driver {} does not support secure boot; use bootMode: UEFI or a Redfish address",
                bmc.bmc_type()
            ));
        }
        if let Err(e) = node::ramdisk_network_data(
            &data.preprovisioning_network_data,
            data.preprovisioning_image.is_some(),
        ) {
            return fail(format!(
                "{e}; fix the Secret spec.preprovisioningNetworkDataName names"
            ));
        }
        let inspection_off = data.inspection_mode == InspectionMode::Disabled;
        if (bmc.needs_boot_mac() || inspection_off) && host.boot_mac_address.is_empty() {
            return fail(format!(
                "BMC driver {} requires a BootMACAddress value",
                bmc.bmc_type()
            ));
        }
        let mut found = self.find(host).await?;
        let name = node::node_name(&host.namespace, &host.name);
        if found.is_none() && !host.boot_mac_address.is_empty() {
            let ports = self
                .client
                .ports_by_address(&host.boot_mac_address)
                .await
                .map_err(transient)?;
            if let Some(port) = ports.first() {
                let owner = self.client.node(&port.node_uuid).await.map_err(transient)?;
                if let Some(owner) = owner {
                    let owner_name = owner.name.clone().unwrap_or_else(|| owner.uuid.clone());
                    if owner_name != name {
                        return fail(format!(
                            "MAC address {} conflicts with existing node {owner_name}",
                            host.boot_mac_address
                        ));
                    }
                    found = Some(owner);
                }
            }
        }
        if data.disable_power_off
            && self.client.version().await.map_err(transient)? < version::DISABLE_POWER_OFF
        {
            return fail(
                "disablePowerOff needs Ironic API 1.95 or newer; upgrade Ironic or unset disablePowerOff"
                    .into(),
            );
        }
        let node = match found {
            None => match self.create(host, &bmc, data).await {
                Ok(n) => n,
                Err(e) => {
                    return classify(e).map(|o| (o, String::new()));
                }
            },
            Some(n) => match self.update(&n, host, &bmc, data, credentials_changed).await {
                Ok(n) => n,
                Err(e) => return classify(e).map(|o| (o, n.uuid.clone())),
            },
        };
        let id = node.uuid.clone();
        if let Err(e) = self
            .ensure_ports(
                &node,
                &host.boot_mac_address,
                data.hardware_details.as_ref(),
            )
            .await
        {
            return classify(e).map(|o| (o, id));
        }
        let outcome = match node.provision_state.as_str() {
            state::ENROLL => {
                if let Some(err) = last_error(&node)
                    && !credentials_changed
                    && !restart
                {
                    Outcome::failed(err)
                } else {
                    match self.set_state(&node, ProvisionRequest::to("manage")).await {
                        Ok(()) => self.short(),
                        Err(e) => match classify(e) {
                            Ok(o) => o,
                            Err(e) => return Err(e),
                        },
                    }
                }
            }
            state::VERIFYING => self.short(),
            state::CLEANING
            | state::CLEAN_WAIT
            | state::DEPLOYING
            | state::DEPLOY_WAIT
            | state::INSPECTING
            | state::INSPECT_WAIT => Outcome::Done,
            _ => match self.configure(&node, &bmc, data).await {
                Ok(()) => Outcome::Done,
                Err(e) => match classify(e) {
                    Ok(o) => o,
                    Err(e) => return Err(e),
                },
            },
        };
        Ok((outcome, id))
    }

    async fn preprovisioning_image_formats(&self) -> ProvResult<Option<Vec<String>>> {
        let configured =
            self.config.deploy_iso_url.is_some() || self.config.deploy_kernel_url.is_some();
        Ok((!configured).then(|| vec!["iso".to_string(), "initrd".to_string()]))
    }

    async fn inspect_hardware(
        &self,
        host: &HostData,
        data: &InspectData,
        options: InspectOptions,
    ) -> ProvResult<InspectOutcome> {
        let InspectOptions {
            restart,
            refresh,
            force_reboot,
        } = options;
        let node = self.node(host).await?;
        let fast = data.inspection_mode == InspectionMode::Fast;
        let wait = if fast { self.short() } else { self.long() };
        let progress = |outcome| InspectOutcome {
            outcome,
            started: false,
            details: None,
        };
        let outcome = |r: Result<Outcome, ProvisionerError>| r.map(progress);
        let start = async {
            let mut ops = Vec::new();
            let existing = node.properties.get("capabilities").and_then(Value::as_str);
            let caps = node::capabilities(existing, data.boot_mode);
            if existing != Some(caps.as_str()) {
                ops.push(PatchOp::add("/properties/capabilities", json!(caps)));
            }
            if self.config.hardware == Hardware::FromAddress
                && let Ok(bmc) = self.bmc(host)
            {
                let inspect = if fast {
                    bmc.interfaces().inspect.unwrap_or("agent")
                } else {
                    "agent"
                };
                if node.inspect_interface.as_deref() != Some(inspect) {
                    ops.push(PatchOp::add("/inspect_interface", json!(inspect)));
                }
            }
            if !ops.is_empty() {
                self.client.patch_node(&node.uuid, &ops).await?;
            }
            self.set_state(&node, ProvisionRequest::to("inspect")).await
        };
        match node.provision_state.as_str() {
            state::AVAILABLE => outcome(
                self.set_state(&node, ProvisionRequest::to("manage"))
                    .await
                    .map_or_else(classify, |()| Ok(self.short())),
            ),
            state::INSPECT_WAIT if force_reboot => outcome(
                self.set_state(&node, ProvisionRequest::to("abort"))
                    .await
                    .map_or_else(classify, |()| Ok(self.short())),
            ),
            state::INSPECTING | state::INSPECT_WAIT => Ok(progress(wait)),
            state::INSPECT_FAIL => {
                let aborted = self.reason(&node, "").await.contains("aborted");
                if restart || aborted {
                    match start.await {
                        Ok(()) => Ok(InspectOutcome {
                            outcome: wait,
                            started: true,
                            details: None,
                        }),
                        Err(e) => outcome(classify(e)),
                    }
                } else {
                    Ok(progress(Outcome::failed(
                        self.reason(&node, "Inspection failed").await,
                    )))
                }
            }
            state::MANAGEABLE => {
                let data_now = if refresh {
                    None
                } else {
                    self.client.inventory(&node.uuid).await.map_err(transient)?
                };
                match data_now {
                    Some(d) => Ok(InspectOutcome {
                        outcome: Outcome::Done,
                        started: false,
                        details: Some(inventory::details(&d.inventory, &d.plugin_data)),
                    }),
                    None if !refresh && node.inspection_finished_at.is_some() => {
                        // Inspected, but the interface keeps no inventory (e.g. `fake`).
                        Ok(InspectOutcome {
                            outcome: Outcome::Done,
                            started: false,
                            details: Some(Default::default()),
                        })
                    }
                    None => match start.await {
                        Ok(()) => Ok(InspectOutcome {
                            outcome: wait,
                            started: true,
                            details: None,
                        }),
                        Err(e) => outcome(classify(e)),
                    },
                }
            }
            _ => Ok(progress(self.short())),
        }
    }

    async fn update_hardware_state(&self, host: &HostData) -> ProvResult<HardwareState> {
        let Some(node) = self.find(host).await? else {
            return Ok(HardwareState::default());
        };
        Ok(HardwareState {
            powered_on: match node.power_state.as_deref() {
                Some(power::ON) => Some(true),
                Some(power::OFF) => Some(false),
                _ => None,
            },
        })
    }

    async fn adopt(
        &self,
        host: &HostData,
        current: &ProvisioningState,
        restart: bool,
    ) -> ProvResult<Outcome> {
        let node = self.node(host).await?;
        match node.provision_state.as_str() {
            state::ENROLL | state::VERIFYING => Err(ProvisionerError::Transient(format!(
                "cannot adopt the host while its Ironic node is in {:?}; waiting for registration",
                node.provision_state
            ))),
            state::MANAGEABLE => {
                if *current == ProvisioningState::Deprovisioning {
                    return Ok(Outcome::Done);
                }
                act!(self.set_state(&node, ProvisionRequest::to("adopt")).await);
                Ok(self.short())
            }
            state::ADOPTING => Ok(self.short()),
            state::ADOPT_FAIL => {
                if restart {
                    act!(self.set_state(&node, ProvisionRequest::to("adopt")).await);
                    Ok(self.short())
                } else {
                    Ok(Outcome::failed(format!(
                        "Host adoption failed: {}",
                        self.reason(&node, "no reason given").await
                    )))
                }
            }
            state::ACTIVE => {
                if node.maintenance && node.maintenance_reason.as_deref() == Some(FORCED_DELETE) {
                    act!(self.client.set_maintenance(&node.uuid, false, "").await);
                }
                Ok(Outcome::Done)
            }
            _ => Ok(Outcome::Done),
        }
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
        let node = self.node(host).await?;
        let (steps, raid) = self.steps_for(data, true);
        let pending = unprepared && !steps.is_empty() && !Self::ran(&node, PREPARED, &steps);
        match node.provision_state.as_str() {
            state::AVAILABLE if pending => {
                match self.set_state(&node, ProvisionRequest::to("manage")).await {
                    Ok(()) => not_started(self.short()),
                    Err(e) => not_started(classify(e)?),
                }
            }
            state::MANAGEABLE if pending => {
                let start = async {
                    if let Some((disks, software)) = &raid {
                        if *software {
                            self.client
                                .patch_node(
                                    &node.uuid,
                                    &[PatchOp::add("/raid_interface", json!("agent"))],
                                )
                                .await?;
                        }
                        self.client.set_raid(&node.uuid, disks).await?;
                    }
                    self.mark(&node, PREPARED, &steps).await?;
                    self.set_state(
                        &node,
                        ProvisionRequest {
                            clean_steps: Some(steps.clone()),
                            ..ProvisionRequest::to("clean")
                        },
                    )
                    .await
                };
                match start.await {
                    Ok(()) => started(self.long()),
                    Err(e) => not_started(classify(e)?),
                }
            }
            state::CLEAN_FAIL => {
                if restart {
                    if node.maintenance {
                        act_prepare(self.client.set_maintenance(&node.uuid, false, "").await)?;
                    }
                    match self.set_state(&node, ProvisionRequest::to("manage")).await {
                        Ok(()) => started(self.short()),
                        Err(e) => not_started(classify(e)?),
                    }
                } else {
                    not_started(Outcome::failed(format!(
                        "Cleaning failed: {}",
                        self.reason(&node, "no reason given").await
                    )))
                }
            }
            state::CLEANING | state::CLEAN_WAIT => not_started(self.long()),
            _ => not_started(Outcome::Done),
        }
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
        let node = self.node(host).await?;
        let (steps, _) = self.steps_for(data, false);
        let pending = unprepared && !steps.is_empty() && !Self::ran(&node, SERVICED, &steps);
        match node.provision_state.as_str() {
            state::ACTIVE if pending => {
                let start = async {
                    self.mark(&node, SERVICED, &steps).await?;
                    self.set_state(
                        &node,
                        ProvisionRequest {
                            service_steps: Some(steps.clone()),
                            ..ProvisionRequest::to("service")
                        },
                    )
                    .await
                };
                match start.await {
                    Ok(()) => started(self.long()),
                    Err(e) => not_started(classify(e)?),
                }
            }
            state::SERVICING => not_started(self.long()),
            state::SERVICE_WAIT if !data.has_firmware_spec && steps.is_empty() => {
                match self.set_state(&node, ProvisionRequest::to("abort")).await {
                    Ok(()) => not_started(self.short()),
                    Err(e) => not_started(classify(e)?),
                }
            }
            state::SERVICE_WAIT => not_started(self.long()),
            state::SERVICE_FAIL => {
                if restart {
                    if node.maintenance {
                        act_prepare(self.client.set_maintenance(&node.uuid, false, "").await)?;
                    }
                    match self.set_state(&node, ProvisionRequest::to("abort")).await {
                        Ok(()) => started(self.short()),
                        Err(e) => not_started(classify(e)?),
                    }
                } else {
                    not_started(Outcome::failed(format!(
                        "Servicing failed: {}",
                        self.reason(&node, "no reason given").await
                    )))
                }
            }
            _ => not_started(Outcome::Done),
        }
    }

    async fn provision(
        &self,
        host: &HostData,
        data: &ProvisionData,
        force_reboot: bool,
    ) -> ProvResult<Outcome> {
        let node = self.node(host).await?;
        let kind = if data
            .custom_deploy
            .as_ref()
            .is_some_and(|c| !c.method.is_empty())
        {
            node::DeployKind::Custom
        } else if data.image.is_live_iso() {
            node::DeployKind::LiveIso
        } else {
            node::DeployKind::Image
        };
        if kind != node::DeployKind::Custom
            && let Err(e) = node::validate_image(&data.image)
        {
            return Ok(Outcome::failed(format!("Validation failed: {e}")));
        }
        let image =
            (kind != node::DeployKind::Custom || !data.image.url.is_empty()).then_some(&data.image);
        let secure = data.boot_mode == BootMode::UefiSecureBoot;
        let deploy = async |node: &Node| -> Result<Outcome, ProvisionerError> {
            let mut ops = Vec::new();
            if node.instance_uuid.as_deref() != Some(host.uid.as_str()) && !host.uid.is_empty() {
                ops.push(PatchOp::add("/instance_uuid", json!(host.uid)));
            }
            if self.config.hardware == Hardware::FromAddress {
                match kind.interface() {
                    Some(i) if node.deploy_interface.as_deref() != Some(i) => {
                        ops.push(PatchOp::add("/deploy_interface", json!(i)));
                    }
                    None if matches!(
                        node.deploy_interface.as_deref(),
                        Some("ramdisk" | "custom-agent")
                    ) =>
                    {
                        ops.push(PatchOp::remove("/deploy_interface"));
                    }
                    _ => {}
                }
            }
            let (info, drop) =
                node::instance_info(image, kind, secure, data.root_device_hints.as_ref());
            ops.extend(node::map_patch(
                "/instance_info",
                &node.instance_info,
                &info,
                &drop,
            ));
            if !ops.is_empty() {
                act!(self.client.patch_node(&node.uuid, &ops).await);
            }
            let validation = act!(self.client.validate(&node.uuid).await);
            for (what, v) in [("boot", &validation.boot), ("deploy", &validation.deploy)] {
                if v.result == Some(false) {
                    return Ok(Outcome::failed(format!(
                        "host validation error: {what}: {}",
                        v.reason.as_deref().unwrap_or("invalid")
                    )));
                }
            }
            let mut request = ProvisionRequest::to("active");
            if kind != node::DeployKind::LiveIso {
                let drive = node::config_drive(
                    &host.uid,
                    &host.namespace,
                    &host.name,
                    data.host_config.user_data.as_deref(),
                    data.host_config.meta_data.as_deref(),
                    data.host_config.network_data.as_deref(),
                );
                match drive {
                    Ok(d) => request.configdrive = Some(d),
                    Err(e) => return Ok(Outcome::failed(format!("Validation failed: {e}"))),
                }
            }
            if kind == node::DeployKind::Custom
                && let Some(c) = &data.custom_deploy
            {
                request.deploy_steps = Some(vec![Step {
                    interface: "deploy".into(),
                    step: c.method.clone(),
                    args: Map::new(),
                    priority: Some(80),
                }]);
            }
            act!(self.set_state(node, request).await);
            Ok(self.long())
        };
        match node.provision_state.as_str() {
            state::MANAGEABLE => {
                act!(self.set_state(&node, ProvisionRequest::to("provide")).await);
                Ok(self.short())
            }
            state::AVAILABLE => deploy(&node).await,
            state::DEPLOY_FAIL => {
                let same = match kind {
                    node::DeployKind::LiveIso => {
                        node.instance_info.get("boot_iso") == Some(&json!(data.image.url))
                    }
                    _ => node.instance_info.get("image_source") == Some(&json!(data.image.url)),
                };
                if same {
                    let checksum = if data.image.checksum.is_empty() {
                        String::new()
                    } else {
                        format!(", checksum: {}", data.image.checksum)
                    };
                    Ok(Outcome::failed(format!(
                        "Image provisioning failed (url: {}{checksum}): {}",
                        data.image.url,
                        self.reason(&node, "no reason given").await
                    )))
                } else {
                    deploy(&node).await
                }
            }
            state::CLEAN_FAIL => {
                if node.maintenance {
                    act!(self.client.set_maintenance(&node.uuid, false, "").await);
                }
                act!(self.set_state(&node, ProvisionRequest::to("manage")).await);
                Ok(self.short())
            }
            state::DEPLOY_WAIT if force_reboot => {
                act!(self.set_state(&node, ProvisionRequest::to("deleted")).await);
                Ok(self.short())
            }
            state::ACTIVE => Ok(Outcome::Done),
            _ => Ok(self.long()),
        }
    }

    async fn deprovision(
        &self,
        host: &HostData,
        restart: bool,
        cleaning_mode: AutomatedCleaningMode,
    ) -> ProvResult<Outcome> {
        let node = self.node(host).await?;
        match node.provision_state.as_str() {
            state::ERROR => {
                if restart {
                    act!(self.set_state(&node, ProvisionRequest::to("deleted")).await);
                    Ok(self.short())
                } else {
                    Ok(Outcome::failed(
                        self.reason(&node, "Deprovisioning failed").await,
                    ))
                }
            }
            state::CLEAN_FAIL => {
                if restart {
                    if node.maintenance {
                        act!(self.client.set_maintenance(&node.uuid, false, "").await);
                    }
                    act!(self.set_state(&node, ProvisionRequest::to("manage")).await);
                    Ok(self.short())
                } else {
                    Ok(Outcome::failed(format!(
                        "Cleaning failed: {}",
                        self.reason(&node, "no reason given").await
                    )))
                }
            }
            state::MANAGEABLE => {
                act!(self.set_state(&node, ProvisionRequest::to("provide")).await);
                Ok(self.short())
            }
            state::AVAILABLE => Ok(Outcome::Done),
            state::DELETING | state::CLEANING | state::CLEAN_WAIT | state::DEPLOYING => {
                Ok(self.long())
            }
            state::ACTIVE | state::DEPLOY_FAIL | state::DEPLOY_WAIT => {
                let clean = cleaning_mode != AutomatedCleaningMode::Disabled;
                if node.automated_clean != Some(clean) {
                    act!(
                        self.client
                            .patch_node(
                                &node.uuid,
                                &[PatchOp::add("/automated_clean", json!(clean))]
                            )
                            .await
                    );
                }
                act!(self.set_state(&node, ProvisionRequest::to("deleted")).await);
                Ok(self.long())
            }
            _ => Ok(self.short()),
        }
    }

    async fn delete(&self, host: &HostData) -> ProvResult<Outcome> {
        match self.find(host).await? {
            None => Ok(Outcome::Done),
            Some(node) if is_wait_state(&node.provision_state) => Ok(self.short()),
            Some(node) => self.remove(&node).await,
        }
    }

    async fn detach(&self, host: &HostData, force: bool) -> ProvResult<Outcome> {
        let Some(node) = self.find(host).await? else {
            return Ok(Outcome::Done);
        };
        if is_wait_state(&node.provision_state) {
            if !force {
                return Ok(self.short());
            }
            let abortable = node.provision_state != state::DEPLOY_WAIT
                || self.client.version().await.map_err(transient)? >= version::DEPLOY_ABORT;
            let target = if abortable { "abort" } else { "deleted" };
            act!(self.set_state(&node, ProvisionRequest::to(target)).await);
            return Ok(self.short());
        }
        self.remove(&node).await
    }

    async fn power_on(&self, host: &HostData, _force: bool) -> ProvResult<Outcome> {
        let node = self.node(host).await?;
        if node.in_transition()
            || node
                .target_power_state
                .as_deref()
                .is_some_and(|t| !t.is_empty())
        {
            return Ok(self.short());
        }
        if node.power_state.as_deref() == Some(power::ON) {
            return Ok(Outcome::Done);
        }
        act!(
            self.client
                .set_power_state(&node.uuid, power::ON, None)
                .await
        );
        info!(node = %node.uuid, "powering on");
        Ok(self.short())
    }

    async fn power_off(
        &self,
        host: &HostData,
        mode: RebootMode,
        _force: bool,
        _cleaning_mode: AutomatedCleaningMode,
    ) -> ProvResult<Outcome> {
        let node = self.node(host).await?;
        if node.provision_state == state::INSPECT_WAIT {
            act!(self.set_state(&node, ProvisionRequest::to("abort")).await);
            return Ok(self.short());
        }
        if node.in_transition()
            || node
                .target_power_state
                .as_deref()
                .is_some_and(|t| !t.is_empty())
        {
            return Ok(self.short());
        }
        if node.power_state.as_deref() == Some(power::OFF) {
            return Ok(Outcome::Done);
        }
        let no_off = node.disable_power_off.unwrap_or(false);
        let (soft, hard) = if no_off {
            (power::SOFT_REBOOT, power::REBOOT)
        } else {
            (power::SOFT_OFF, power::OFF)
        };
        if mode == RebootMode::Soft {
            match self
                .client
                .set_power_state(&node.uuid, soft, Some(self.config.soft_power_off_timeout))
                .await
            {
                Ok(()) => return Ok(self.short()),
                // The driver cannot power off softly: cut the power.
                Err(IronicError::Refused { status: 400, .. }) => {}
                Err(e) => return classify(e),
            }
        }
        act!(self.client.set_power_state(&node.uuid, hard, None).await);
        info!(node = %node.uuid, "powering off");
        Ok(self.short())
    }

    async fn has_capacity(&self, host: &HostData) -> ProvResult<bool> {
        if self.config.provisioning_limit == 0 {
            return Ok(true);
        }
        if let Ok(bmc) = self.bmc(host)
            && bmc.supports_iso()
        {
            return Ok(true);
        }
        self.ready().await?;
        let nodes = self
            .client
            .nodes(&["uuid", "name", "provision_state", "boot_interface"])
            .await
            .map_err(transient)?;
        let busy = nodes
            .iter()
            .filter(|n| {
                matches!(
                    n.provision_state.as_str(),
                    state::CLEANING
                        | state::CLEAN_WAIT
                        | state::INSPECTING
                        | state::INSPECT_WAIT
                        | state::DEPLOYING
                        | state::DEPLOY_WAIT
                ) && !matches!(
                    n.boot_interface.as_deref(),
                    Some("redfish-virtual-media" | "idrac-redfish-virtual-media" | "redfish-https")
                )
            })
            .count();
        Ok(busy < self.config.provisioning_limit)
    }

    async fn firmware_settings(
        &self,
        host: &HostData,
        include_schema: bool,
    ) -> ProvResult<FirmwareSettings> {
        let node = self.node(host).await?;
        let settings = self
            .client
            .bios(&node.uuid, include_schema)
            .await
            .map_err(transient)?;
        let mut out = FirmwareSettings::default();
        let mut schema = std::collections::BTreeMap::new();
        for s in settings {
            let value = match &s.value {
                Some(Value::String(v)) => v.clone(),
                Some(Value::Null) | None => String::new(),
                Some(v) => v.to_string(),
            };
            if include_schema {
                schema.insert(s.name.clone(), setting_schema(&s));
            }
            out.settings.insert(s.name, value);
        }
        if include_schema {
            out.schema = Some(schema);
        }
        Ok(out)
    }

    async fn firmware_components(
        &self,
        host: &HostData,
    ) -> ProvResult<Vec<FirmwareComponentStatus>> {
        let node = self.node(host).await?;
        let components = match self.client.firmware(&node.uuid).await {
            Ok(c) => c,
            // No firmware interface on this node: nothing to report.
            Err(IronicError::Refused {
                status: 400 | 406, ..
            }) => return Ok(Vec::new()),
            Err(e) => return Err(transient(e)),
        };
        Ok(components
            .into_iter()
            .filter(|c| {
                c.component == "bios" || c.component == "bmc" || c.component.starts_with("nic:")
            })
            .map(|c| FirmwareComponentStatus {
                component: c.component,
                initial_version: c.initial_version.unwrap_or_default(),
                current_version: c.current_version,
                last_version_flashed: c.last_version_flashed,
                updated_at: None,
            })
            .collect())
    }

    async fn add_bmc_event_subscription(
        &self,
        host: &HostData,
        subscription: &EventSubscription,
    ) -> ProvResult<(Outcome, String)> {
        let node = self.node(host).await?;
        let headers: Vec<Value> = subscription
            .http_headers
            .iter()
            .map(|(k, v)| json!({k: v}))
            .collect();
        let body = json!({
            "Destination": subscription.destination,
            "Context": subscription.context,
            "Protocol": "Redfish",
            "HttpHeaders": headers,
        });
        match self
            .client
            .vendor_passthru(&node.uuid, "create_subscription", reqwest_post(), &body)
            .await
        {
            Ok(reply) => {
                let id = reply
                    .as_ref()
                    .and_then(|r| r.get("Id").or_else(|| r.get("id")))
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string();
                Ok((Outcome::Done, id))
            }
            Err(e) => classify(e).map(|o| (o, String::new())),
        }
    }

    async fn remove_bmc_event_subscription(
        &self,
        host: &HostData,
        subscription_id: &str,
    ) -> ProvResult<Outcome> {
        let node = self.node(host).await?;
        let body = json!({"id": subscription_id});
        act!(
            self.client
                .vendor_passthru(&node.uuid, "delete_subscription", reqwest_delete(), &body)
                .await
        );
        Ok(Outcome::Done)
    }

    async fn data_image_status(&self, host: &HostData) -> ProvResult<DataImageStatus> {
        let node = self.node(host).await?;
        let media = self.client.vmedia(&node.uuid).await.map_err(transient)?;
        Ok(DataImageStatus {
            attached_url: node::inserted_cd(&media),
        })
    }

    async fn attach_data_image(&self, host: &HostData, url: &str) -> ProvResult<Outcome> {
        let node = self.node(host).await?;
        if node.reservation.is_some() {
            return Err(ProvisionerError::NodeIsBusy);
        }
        act!(self.client.attach_vmedia(&node.uuid, VMEDIA_CD, url).await);
        Ok(Outcome::Done)
    }

    async fn detach_data_image(&self, host: &HostData) -> ProvResult<Outcome> {
        let node = self.node(host).await?;
        if node.reservation.is_some() {
            return Err(ProvisionerError::NodeIsBusy);
        }
        act!(self.client.detach_vmedia(&node.uuid, VMEDIA_CD).await);
        Ok(Outcome::Done)
    }

    async fn has_power_failure(&self, host: &HostData) -> ProvResult<bool> {
        Ok(self
            .find(host)
            .await?
            .is_some_and(|n| n.fault.as_deref() == Some("power failure")))
    }

    async fn health(&self, host: &HostData) -> ProvResult<Health> {
        let Some(node) = self.find(host).await? else {
            return Ok(Health::Unknown);
        };
        Ok(match node.health.as_deref() {
            Some("OK") => Health::Ok,
            Some("Warning") => Health::Warning,
            Some("Critical") => Health::Critical,
            _ => Health::Unknown,
        })
    }
}

/// A prepare/service answer for a call that started nothing.
fn not_started(outcome: Outcome) -> ProvResult<PrepareOutcome> {
    Ok(PrepareOutcome {
        outcome,
        started: false,
    })
}

/// A prepare/service answer for a call that started the operation.
fn started(outcome: Outcome) -> ProvResult<PrepareOutcome> {
    Ok(PrepareOutcome {
        outcome,
        started: true,
    })
}

fn act_prepare(r: Result<(), IronicError>) -> ProvResult<()> {
    match r {
        Ok(()) => Ok(()),
        Err(e) => match classify(e) {
            Err(p) => Err(p),
            Ok(_) => Ok(()),
        },
    }
}

fn reqwest_post() -> metal3_ironic::Method {
    metal3_ironic::Method::POST
}

fn reqwest_delete() -> metal3_ironic::Method {
    metal3_ironic::Method::DELETE
}

fn setting_schema(s: &metal3_ironic::types::BiosSetting) -> SettingSchema {
    use metal3_api::v1alpha1::AttributeType;
    let attribute_type = s.attribute_type.as_deref().and_then(|t| match t {
        "Enumeration" => Some(AttributeType::Enumeration),
        "String" => Some(AttributeType::String),
        "Integer" => Some(AttributeType::Integer),
        "Boolean" => Some(AttributeType::Boolean),
        "Password" => Some(AttributeType::Password),
        _ => None,
    });
    SettingSchema {
        allowable_values: s.allowable_values.clone().unwrap_or_default(),
        attribute_type,
        lower_bound: s.lower_bound,
        max_length: s.max_length,
        min_length: s.min_length,
        read_only: s.read_only,
        unique: s.unique,
        upper_bound: s.upper_bound,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configuration_from_the_environment() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        let c = Config::from_env(env(&[
            ("DEPLOY_KERNEL_URL", "http://i/ipa.kernel"),
            ("DEPLOY_RAMDISK_URL", "http://i/ipa.initramfs"),
            ("PROVISIONING_LIMIT", "5"),
        ]))
        .expect("config");
        assert_eq!(c.provisioning_limit, 5);
        assert_eq!(c.deploy_kernel_url.as_deref(), Some("http://i/ipa.kernel"));
        let e = Config::from_env(env(&[("DEPLOY_KERNEL_URL", "http://i/k")])).expect_err("half");
        assert!(e.contains("DEPLOY_RAMDISK_URL"), "{e}");
        let e = Config::from_env(env(&[("PROVISIONING_LIMIT", "many")])).expect_err("nan");
        assert!(e.contains("PROVISIONING_LIMIT"), "{e}");
    }

    #[test]
    fn step_fingerprints_are_stable_and_distinct() {
        let a = node::firmware_step(&[metal3_api::v1alpha1::FirmwareUpdate {
            component: "bmc".into(),
            url: "http://fw/1".into(),
        }])
        .into_iter()
        .collect::<Vec<_>>();
        let b = node::firmware_step(&[metal3_api::v1alpha1::FirmwareUpdate {
            component: "bmc".into(),
            url: "http://fw/2".into(),
        }])
        .into_iter()
        .collect::<Vec<_>>();
        assert_eq!(fingerprint(&a), fingerprint(&a.clone()));
        assert_ne!(fingerprint(&a), fingerprint(&b));
        assert_eq!(fingerprint(&a).len(), 16);
    }

    #[test]
    fn request_errors_become_host_errors_or_retries() {
        assert_eq!(
            classify(IronicError::Locked("l".into())),
            Err(ProvisionerError::NodeIsBusy)
        );
        assert_eq!(
            classify(IronicError::NotFound("n".into())),
            Err(ProvisionerError::NeedsRegistration)
        );
        assert!(matches!(
            classify(IronicError::Unreachable {
                endpoint: "http://ironic".into(),
                reason: "refused".into()
            }),
            Err(ProvisionerError::Transient(m)) if m.starts_with("cannot reach the provisioner")
        ));
        assert_eq!(
            classify(IronicError::Refused {
                status: 400,
                message: "The requested action \"deploy\" can not be performed".into()
            }),
            Ok(Outcome::failed(
                "The requested action \"deploy\" can not be performed"
            ))
        );
    }
}
