//! Provisioning and deprovisioning: the deploy interface, `instance_info` and config drive
//! (built by the pure [`instance`]) for an image, a live ISO or a custom deploy step,
//! Ironic's validation, the deploy transition and its failures, and cleaning on the way back.

pub(crate) mod instance;

use metal3_api::v1alpha1::{AutomatedCleaningMode, BootMode, Image};
use metal3_ironic::PatchOp;
use metal3_ironic::types::{Node, ProvisionRequest, Step, state};
use metal3_provisioner::{HostData, Outcome, ProvResult, ProvisionData, ProvisionerError};
use serde_json::{Map, json};

use crate::IronicProvisioner;
use crate::errors::act;
use crate::node::{self, Hardware};
use instance::DeployKind;

/// What one provisioning call deploys.
struct Plan<'a> {
    /// How the node deploys.
    kind: DeployKind,
    /// The image to write or boot; `None` for a custom deploy without one.
    image: Option<&'a Image>,
    /// `bootMode: UEFISecureBoot`.
    secure_boot: bool,
}

/// Provisions the host: to available first, then deploys; a failed deployment of the same
/// image is the host's error, a new image is deployed again.
pub(crate) async fn provision(
    p: &IronicProvisioner,
    host: &HostData,
    data: &ProvisionData,
    force_reboot: bool,
) -> ProvResult<Outcome> {
    let node = p.node(host).await?;
    let kind = if data
        .custom_deploy
        .as_ref()
        .is_some_and(|c| !c.method.is_empty())
    {
        DeployKind::Custom
    } else if data.image.is_live_iso() {
        DeployKind::LiveIso
    } else {
        DeployKind::Image
    };
    if kind != DeployKind::Custom
        && let Err(e) = instance::validate_image(&data.image)
    {
        return Ok(Outcome::failed(format!("Validation failed: {e}")));
    }
    let plan = Plan {
        kind,
        image: (kind != DeployKind::Custom || !data.image.url.is_empty()).then_some(&data.image),
        secure_boot: data.boot_mode == BootMode::UefiSecureBoot,
    };
    match node.provision_state.as_str() {
        state::MANAGEABLE => {
            act!(p.set_state(&node, ProvisionRequest::to("provide")).await);
            Ok(p.short())
        }
        state::AVAILABLE => deploy(p, &node, host, data, &plan).await,
        state::DEPLOY_FAIL => {
            let same = match kind {
                DeployKind::LiveIso => {
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
                    p.reason(&node, "no reason given").await
                )))
            } else {
                deploy(p, &node, host, data, &plan).await
            }
        }
        state::CLEAN_FAIL => {
            if node.maintenance {
                act!(p.client.set_maintenance(&node.uuid, false, "").await);
            }
            act!(p.set_state(&node, ProvisionRequest::to("manage")).await);
            Ok(p.short())
        }
        state::DEPLOY_WAIT if force_reboot => {
            act!(p.set_state(&node, ProvisionRequest::to("deleted")).await);
            Ok(p.short())
        }
        state::ACTIVE => Ok(Outcome::Done),
        _ => Ok(p.long()),
    }
}

/// Brings an available node's instance fields and deploy interface to the plan, has Ironic
/// validate them, and starts the deployment with the config drive (or deploy step).
async fn deploy(
    p: &IronicProvisioner,
    node: &Node,
    host: &HostData,
    data: &ProvisionData,
    plan: &Plan<'_>,
) -> Result<Outcome, ProvisionerError> {
    let kind = plan.kind;
    let mut ops = Vec::new();
    if node.instance_uuid.as_deref() != Some(host.uid.as_str()) && !host.uid.is_empty() {
        ops.push(PatchOp::add("/instance_uuid", json!(host.uid)));
    }
    if p.config.hardware == Hardware::FromAddress {
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
    let (info, drop) = instance::instance_info(
        plan.image,
        kind,
        plan.secure_boot,
        data.root_device_hints.as_ref(),
    );
    ops.extend(node::map_patch(
        "/instance_info",
        &node.instance_info,
        &info,
        &drop,
    ));
    if !ops.is_empty() {
        act!(p.client.patch_node(&node.uuid, &ops).await);
    }
    let validation = act!(p.client.validate(&node.uuid).await);
    for (what, v) in [("boot", &validation.boot), ("deploy", &validation.deploy)] {
        if v.result == Some(false) {
            return Ok(Outcome::failed(format!(
                "host validation error: {what}: {}",
                v.reason.as_deref().unwrap_or("invalid")
            )));
        }
    }
    let mut request = ProvisionRequest::to("active");
    if kind != DeployKind::LiveIso {
        let drive = instance::config_drive(
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
    if kind == DeployKind::Custom
        && let Some(c) = &data.custom_deploy
    {
        request.deploy_steps = Some(vec![Step {
            interface: "deploy".into(),
            step: c.method.clone(),
            args: Map::new(),
            priority: Some(80),
        }]);
    }
    act!(p.set_state(node, request).await);
    Ok(p.long())
}

/// Deprovisions the host: Ironic's undeploy (with automated cleaning as the host asks) back
/// to available; a failed one is the host's error unless `restart`.
pub(crate) async fn deprovision(
    p: &IronicProvisioner,
    host: &HostData,
    restart: bool,
    cleaning_mode: AutomatedCleaningMode,
) -> ProvResult<Outcome> {
    let node = p.node(host).await?;
    match node.provision_state.as_str() {
        state::ERROR => {
            if restart {
                act!(p.set_state(&node, ProvisionRequest::to("deleted")).await);
                Ok(p.short())
            } else {
                Ok(Outcome::failed(
                    p.reason(&node, "Deprovisioning failed").await,
                ))
            }
        }
        state::CLEAN_FAIL => {
            if restart {
                if node.maintenance {
                    act!(p.client.set_maintenance(&node.uuid, false, "").await);
                }
                act!(p.set_state(&node, ProvisionRequest::to("manage")).await);
                Ok(p.short())
            } else {
                Ok(Outcome::failed(format!(
                    "Cleaning failed: {}",
                    p.reason(&node, "no reason given").await
                )))
            }
        }
        state::MANAGEABLE => {
            act!(p.set_state(&node, ProvisionRequest::to("provide")).await);
            Ok(p.short())
        }
        state::AVAILABLE => Ok(Outcome::Done),
        state::DELETING | state::CLEANING | state::CLEAN_WAIT | state::DEPLOYING => Ok(p.long()),
        state::ACTIVE | state::DEPLOY_FAIL | state::DEPLOY_WAIT => {
            let clean = cleaning_mode != AutomatedCleaningMode::Disabled;
            if node.automated_clean != Some(clean) {
                act!(
                    p.client
                        .patch_node(
                            &node.uuid,
                            &[PatchOp::add("/automated_clean", json!(clean))]
                        )
                        .await
                );
            }
            act!(p.set_state(&node, ProvisionRequest::to("deleted")).await);
            Ok(p.long())
        }
        _ => Ok(p.short()),
    }
}
