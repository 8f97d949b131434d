//! Registration: Ironic's readiness, finding the host's node (by UUID, `namespace~name`, the
//! boot MAC's port), creating or updating it with the BMC's driver, interfaces, `driver_info`
//! and deploy image, its ports, management access, adoption, and removing it again (delete,
//! detach).

use std::time::Instant;

use metal3_api::v1alpha1::{
    AutomatedCleaningMode, BootMode, HardwareDetails, InspectionMode, ProvisioningState,
};
use metal3_bmc::BmcAddress;
use metal3_ironic::types::{Node, ProvisionRequest, state};
use metal3_ironic::{Error as IronicError, PatchOp, version};
use metal3_provisioner::{
    HostData, ManagementAccessData, Outcome, ProvResult, ProvisionerError, RegisterOptions,
};
use serde_json::{Map, Value, json};
use tracing::{debug, info};

use crate::IronicProvisioner;
use crate::config::Config;
use crate::deploy::instance::{self, DeployKind};
use crate::errors::{act, classify, last_error, transient};
use crate::node::{self, Hardware};
use crate::switchport;

/// Reason Ironic records for our maintenance mode before a forced delete.
const FORCED_DELETE: &str = "forcing deletion in baremetal-operator";

impl IronicProvisioner {
    /// Ironic answers, offers a recent enough API and has drivers (cached briefly).
    pub(crate) async fn ready(&self) -> ProvResult<()> {
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
    pub(crate) async fn find(&self, host: &HostData) -> ProvResult<Option<Node>> {
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
    pub(crate) async fn node(&self, host: &HostData) -> ProvResult<Node> {
        self.find(host)
            .await?
            .ok_or(ProvisionerError::NeedsRegistration)
    }

    /// The host's BMC address, parsed.
    pub(crate) fn bmc(&self, host: &HostData) -> Result<BmcAddress, String> {
        metal3_bmc::parse(&host.bmc_address)
            .map_err(|e| format!("failed to parse BMC address information: {e}"))
    }
}

/// Registers the host (creating or updating its node) and brings the node to manageable,
/// configured for the host; the node's UUID comes back with the outcome.
pub(crate) async fn register(
    p: &IronicProvisioner,
    host: &HostData,
    data: &ManagementAccessData,
    options: RegisterOptions,
) -> ProvResult<(Outcome, String)> {
    let RegisterOptions {
        credentials_changed,
        restart,
    } = options;
    let bmc = match p.bmc(host) {
        Ok(b) => b,
        Err(m) => return Ok((Outcome::failed(m), String::new())),
    };
    let fail = |m: String| Ok((Outcome::failed(m), String::new()));
    if let Some(m) = unsupported(&p.config, host, &bmc, data) {
        return fail(m);
    }
    let found = match lookup(p, host).await? {
        Ok(found) => found,
        Err(m) => return fail(m),
    };
    if data.disable_power_off
        && p.client.version().await.map_err(transient)? < version::DISABLE_POWER_OFF
    {
        return fail(
            "disablePowerOff needs Ironic API 1.95 or newer; upgrade Ironic or unset disablePowerOff"
                .into(),
        );
    }
    let node = match found {
        None => match create(p, host, &bmc, data).await {
            Ok(n) => n,
            Err(e) => {
                return classify(e).map(|o| (o, String::new()));
            }
        },
        Some(n) => match update(p, &n, host, &bmc, data, credentials_changed).await {
            Ok(n) => n,
            Err(e) => return classify(e).map(|o| (o, n.uuid.clone())),
        },
    };
    let id = node.uuid.clone();
    if let Err(e) = ensure_ports(
        p,
        &node,
        &host.boot_mac_address,
        data.hardware_details.as_ref(),
    )
    .await
    {
        return classify(e).map(|o| (o, id));
    }
    match switch_ports(p, &node, host, data.hardware_details.as_ref()).await {
        Ok(None) => {}
        Ok(Some(message)) => return Ok((Outcome::Failed { message }, id)),
        Err(e) => return classify(e).map(|o| (o, id)),
    }
    let outcome = match node.provision_state.as_str() {
        state::ENROLL => {
            if let Some(err) = last_error(&node)
                && !credentials_changed
                && !restart
            {
                Outcome::failed(err)
            } else {
                match p.set_state(&node, ProvisionRequest::to("manage")).await {
                    Ok(()) => p.short(),
                    Err(e) => match classify(e) {
                        Ok(o) => o,
                        Err(e) => return Err(e),
                    },
                }
            }
        }
        state::VERIFYING => p.short(),
        state::CLEANING
        | state::CLEAN_WAIT
        | state::DEPLOYING
        | state::DEPLOY_WAIT
        | state::INSPECTING
        | state::INSPECT_WAIT => Outcome::Done,
        _ => match configure(p, &node, &bmc, data).await {
            Ok(()) => Outcome::Done,
            Err(e) => match classify(e) {
                Ok(o) => o,
                Err(e) => return Err(e),
            },
        },
    };
    Ok((outcome, id))
}

/// Why the host cannot be registered as asked, before Ironic is asked anything: a driver
/// without fast inspection or Secure Boot, invalid preprovisioning network data, a missing
/// boot MAC.
fn unsupported(
    config: &Config,
    host: &HostData,
    bmc: &BmcAddress,
    data: &ManagementAccessData,
) -> Option<String> {
    let fake = config.hardware == Hardware::Fake;
    if data.inspection_mode == InspectionMode::Fast && !fake && !bmc.supports_fast_inspection() {
        return Some(format!(
            "BMC driver {} does not support fast (out-of-band) inspection; use inspectionMode: agent",
            bmc.bmc_type()
        ));
    }
    if data.boot_mode == BootMode::UefiSecureBoot && !fake && !bmc.supports_secure_boot() {
        return Some(format!(
            "BMC driver {} does not support secure boot; use bootMode: UEFI or a Redfish address",
            bmc.bmc_type()
        ));
    }
    if let Err(e) = node::ramdisk_network_data(
        &data.preprovisioning_network_data,
        data.preprovisioning_image.is_some(),
    ) {
        return Some(format!(
            "{e}; fix the Secret spec.preprovisioningNetworkDataName names"
        ));
    }
    let inspection_off = data.inspection_mode == InspectionMode::Disabled;
    if (bmc.needs_boot_mac() || inspection_off) && host.boot_mac_address.is_empty() {
        return Some(format!(
            "BMC driver {} requires a BootMACAddress value",
            bmc.bmc_type()
        ));
    }
    None
}

/// The host's node for registration: found by UUID or name, else the owner of the boot MAC's
/// port. `Err` (the host's error) when that port belongs to a node of another name.
async fn lookup(
    p: &IronicProvisioner,
    host: &HostData,
) -> ProvResult<Result<Option<Node>, String>> {
    let mut found = p.find(host).await?;
    let name = node::node_name(&host.namespace, &host.name);
    if found.is_none() && !host.boot_mac_address.is_empty() {
        let ports = p
            .client
            .ports_by_address(&host.boot_mac_address)
            .await
            .map_err(transient)?;
        if let Some(port) = ports.first() {
            let owner = p.client.node(&port.node_uuid).await.map_err(transient)?;
            if let Some(owner) = owner {
                let owner_name = owner.name.clone().unwrap_or_else(|| owner.uuid.clone());
                if owner_name != name {
                    return Ok(Err(format!(
                        "MAC address {} conflicts with existing node {owner_name}",
                        host.boot_mac_address
                    )));
                }
                found = Some(owner);
            }
        }
    }
    Ok(Ok(found))
}

/// The deploy image fields of `driver_info` (agent kernel/ramdisk or ISO).
fn deploy_image(
    config: &Config,
    bmc: &BmcAddress,
    data: &ManagementAccessData,
) -> Map<String, Value> {
    let mut info = Map::new();
    if let Some(ppi) = &data.preprovisioning_image {
        if ppi.format == "iso" && bmc.supports_iso() {
            info.insert("deploy_iso".into(), json!(ppi.image_url));
        } else if ppi.format == "initrd" {
            info.insert("deploy_ramdisk".into(), json!(ppi.image_url));
            let kernel = if ppi.kernel_url.is_empty() {
                config.deploy_kernel_url.clone().unwrap_or_default()
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
        && let Some(iso) = &config.deploy_iso_url
    {
        info.insert("deploy_iso".into(), json!(iso));
    } else if let (Some(k), Some(r)) = (&config.deploy_kernel_url, &config.deploy_ramdisk_url) {
        info.insert("deploy_kernel".into(), json!(k));
        info.insert("deploy_ramdisk".into(), json!(r));
    }
    info
}

/// How a registered host deploys, from what it runs or is to run.
fn deploy_kind(data: &ManagementAccessData) -> DeployKind {
    if data.has_custom_deploy {
        DeployKind::Custom
    } else if data.current_image.as_ref().is_some_and(|i| i.is_live_iso()) {
        DeployKind::LiveIso
    } else {
        DeployKind::Image
    }
}

/// Makes sure the boot MAC (PXE enabled) and the NICs inspection found have ports on
/// `node`, in the states Ironic allows it; one read of the node's ports.
async fn ensure_ports(
    p: &IronicProvisioner,
    node: &Node,
    boot_mac: &str,
    details: Option<&HardwareDetails>,
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
    let existing = p.client.ports_of(&node.uuid).await?;
    for (mac, pxe) in wanted {
        if existing
            .iter()
            .any(|port| port.address.eq_ignore_ascii_case(&mac))
        {
            continue;
        }
        match p.client.create_port(&node.uuid, &mac, pxe).await {
            Ok(_) => {}
            // On another node already: the boot MAC's owner was checked at lookup.
            Err(e) if e.is_conflict() => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Writes each interface's switch port (`spec.networkInterfaces[].switchPort`) to its port's
/// `local_link_connection` and its attachment's configuration to `extra.switchport`, only
/// where they differ. `Ok(Some(message))`: an attachment Ironic cannot take (a host error).
async fn switch_ports(
    p: &IronicProvisioner,
    node: &Node,
    host: &HostData,
    details: Option<&HardwareDetails>,
) -> Result<Option<String>, IronicError> {
    let wanted: Vec<_> = host
        .network_interfaces
        .iter()
        .map(|i| (i, host.attachment_of(i)))
        .filter(|(i, attachment)| i.switch_port.is_some() || attachment.is_some())
        .collect();
    if wanted.is_empty() {
        return Ok(None);
    }
    let nics: Vec<(String, String)> = details
        .map(|d| {
            d.nics
                .iter()
                .map(|n| (n.name.clone(), n.mac.clone()))
                .collect()
        })
        .unwrap_or_default();
    let ports = p.client.ports_of(&node.uuid).await?;
    for (iface, attachment) in wanted {
        let Some(mac) = switchport::interface_mac(iface, &nics) else {
            continue;
        };
        let Some(port) = ports
            .iter()
            .find(|port| port.address.eq_ignore_ascii_case(&mac))
        else {
            continue;
        };
        let fields = match switchport::port_fields(iface, attachment) {
            Ok(fields) => fields,
            Err(e) => {
                let name = &iface.host_network_attachment.name;
                return Ok(Some(format!(
                    "network interface {}: HostNetworkAttachment {name}: {e}",
                    iface.key()
                )));
            }
        };
        let current = serde_json::json!({
            "local_link_connection": port.local_link_connection,
            "extra": port.extra,
        });
        let ops: Vec<PatchOp> = switchport::port_patch(&current, &fields)
            .into_iter()
            .map(|(path, value)| PatchOp::add(path, value))
            .collect();
        if !ops.is_empty() {
            p.client.patch_port(&port.uuid, &ops).await?;
        }
    }
    Ok(None)
}

/// New node for the host.
async fn create(
    p: &IronicProvisioner,
    host: &HostData,
    bmc: &BmcAddress,
    data: &ManagementAccessData,
) -> Result<Node, IronicError> {
    let fast = data.inspection_mode == InspectionMode::Fast;
    let mut body = node::interfaces(bmc, &p.config.hardware, fast);
    body.insert(
        "name".into(),
        json!(node::node_name(&host.namespace, &host.name)),
    );
    body.insert(
        "driver".into(),
        json!(node::driver(bmc, &p.config.hardware)),
    );
    if p.config.hardware == Hardware::FromAddress
        && let Some(d) = deploy_kind(data).interface()
    {
        body.insert("deploy_interface".into(), json!(d));
    }
    let mut info = bmc.driver_info_with_credentials(
        &host.credentials.username,
        &host.credentials.password,
        host.disable_certificate_verification,
    );
    info.extend(deploy_image(&p.config, bmc, data));
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
        let (info, _) = instance::instance_info(Some(image), deploy_kind(data), false, None);
        body.insert("instance_info".into(), Value::Object(info));
    }
    let created = p.client.create_node(&Value::Object(body)).await?;
    info!(node = %created.uuid, host = %host.key(), "registered the host with Ironic");
    Ok(created)
}

/// Brings an existing node's registration data up to date.
async fn update(
    p: &IronicProvisioner,
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
        info.extend(deploy_image(&p.config, bmc, data));
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
    p.client.patch_node(&node.uuid, &ops).await
}

/// Deploy image, cleaning and boot mode, once the node is manageable or beyond.
async fn configure(
    p: &IronicProvisioner,
    node: &Node,
    bmc: &BmcAddress,
    data: &ManagementAccessData,
) -> Result<(), IronicError> {
    let mut wanted = deploy_image(&p.config, bmc, data);
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
        p.client.patch_node(&node.uuid, &ops).await?;
    }
    Ok(())
}

/// Takes over a host that already runs what it was provisioned with: the node goes to
/// active through Ironic's adopt transition.
pub(crate) async fn adopt(
    p: &IronicProvisioner,
    host: &HostData,
    current: &ProvisioningState,
    restart: bool,
) -> ProvResult<Outcome> {
    let node = p.node(host).await?;
    match node.provision_state.as_str() {
        state::ENROLL | state::VERIFYING => Err(ProvisionerError::Transient(format!(
            "cannot adopt the host while its Ironic node is in {:?}; waiting for registration",
            node.provision_state
        ))),
        state::MANAGEABLE => {
            if *current == ProvisioningState::Deprovisioning {
                return Ok(Outcome::Done);
            }
            act!(p.set_state(&node, ProvisionRequest::to("adopt")).await);
            Ok(p.short())
        }
        state::ADOPTING => Ok(p.short()),
        state::ADOPT_FAIL => {
            if restart {
                act!(p.set_state(&node, ProvisionRequest::to("adopt")).await);
                Ok(p.short())
            } else {
                Ok(Outcome::failed(format!(
                    "Host adoption failed: {}",
                    p.reason(&node, "no reason given").await
                )))
            }
        }
        state::ACTIVE => {
            if node.maintenance && node.maintenance_reason.as_deref() == Some(FORCED_DELETE) {
                act!(p.client.set_maintenance(&node.uuid, false, "").await);
            }
            Ok(Outcome::Done)
        }
        _ => Ok(Outcome::Done),
    }
}

/// Removes the host's node, once no agent is waiting on it.
pub(crate) async fn delete(p: &IronicProvisioner, host: &HostData) -> ProvResult<Outcome> {
    match p.find(host).await? {
        None => Ok(Outcome::Done),
        Some(node) if is_wait_state(&node.provision_state) => Ok(p.short()),
        Some(node) => remove(p, &node).await,
    }
}

/// Removes the host's node but leaves the machine as it is; `force` aborts a wait for the
/// agent first.
pub(crate) async fn detach(
    p: &IronicProvisioner,
    host: &HostData,
    force: bool,
) -> ProvResult<Outcome> {
    let Some(node) = p.find(host).await? else {
        return Ok(Outcome::Done);
    };
    if is_wait_state(&node.provision_state) {
        if !force {
            return Ok(p.short());
        }
        let abortable = node.provision_state != state::DEPLOY_WAIT
            || p.client.version().await.map_err(transient)? >= version::DEPLOY_ABORT;
        let target = if abortable { "abort" } else { "deleted" };
        act!(p.set_state(&node, ProvisionRequest::to(target)).await);
        return Ok(p.short());
    }
    remove(p, &node).await
}

/// Ironic waits for the agent to call back.
fn is_wait_state(s: &str) -> bool {
    matches!(
        s,
        state::CLEAN_WAIT | state::INSPECT_WAIT | state::DEPLOY_WAIT | state::SERVICE_WAIT
    )
}

/// Removes the node: maintenance first when Ironic would not delete it otherwise.
async fn remove(p: &IronicProvisioner, node: &Node) -> Result<Outcome, ProvisionerError> {
    use state::*;
    match node.provision_state.as_str() {
        VERIFYING => return Ok(p.short()),
        ENROLL => {}
        AVAILABLE | MANAGEABLE => {
            if node.instance_uuid.is_some() {
                act!(
                    p.client
                        .patch_node(&node.uuid, &[PatchOp::remove("/instance_uuid")])
                        .await
                );
            }
        }
        DEPLOYING | CLEANING | INSPECTING | SERVICING | DELETING | ADOPTING => {
            return Ok(p.short());
        }
        _ => {
            if !node.maintenance {
                act!(
                    p.client
                        .set_maintenance(&node.uuid, true, FORCED_DELETE)
                        .await
                );
            }
        }
    }
    act!(p.client.delete_node(&node.uuid).await);
    info!(node = %node.uuid, "removed the node from Ironic");
    Ok(Outcome::Done)
}
