//! Inspection: starting Ironic's inspect transition with the interface the inspection mode
//! asks for (agent or out-of-band), following it, and mapping the inventory it stored.

use metal3_api::v1alpha1::InspectionMode;
use metal3_ironic::Error as IronicError;
use metal3_ironic::PatchOp;
use metal3_ironic::types::{Node, ProvisionRequest, state};
use metal3_provisioner::{
    HostData, InspectData, InspectOptions, InspectOutcome, Outcome, ProvResult, ProvisionerError,
};
use serde_json::{Value, json};

use crate::errors::{classify, transient};
use crate::node::{self, Hardware};
use crate::{IronicProvisioner, inventory};

/// Inspects the host: starts (or restarts) an inspection, follows one under way, or hands
/// back the inventory of a finished one.
pub(crate) async fn inspect_hardware(
    p: &IronicProvisioner,
    host: &HostData,
    data: &InspectData,
    options: InspectOptions,
) -> ProvResult<InspectOutcome> {
    let InspectOptions {
        restart,
        refresh,
        force_reboot,
    } = options;
    let node = p.node(host).await?;
    let fast = data.inspection_mode == InspectionMode::Fast;
    let wait = if fast { p.short() } else { p.long() };
    let progress = |outcome| InspectOutcome {
        outcome,
        started: false,
        details: None,
    };
    let outcome = |r: Result<Outcome, ProvisionerError>| r.map(progress);
    let start = || start_inspection(p, &node, host, data, fast);
    match node.provision_state.as_str() {
        state::AVAILABLE => outcome(
            p.set_state(&node, ProvisionRequest::to("manage"))
                .await
                .map_or_else(classify, |()| Ok(p.short())),
        ),
        state::INSPECT_WAIT if force_reboot => outcome(
            p.set_state(&node, ProvisionRequest::to("abort"))
                .await
                .map_or_else(classify, |()| Ok(p.short())),
        ),
        state::INSPECTING | state::INSPECT_WAIT => Ok(progress(wait)),
        state::INSPECT_FAIL => {
            let aborted = p.reason(&node, "").await.contains("aborted");
            if restart || aborted {
                match start().await {
                    Ok(()) => Ok(InspectOutcome {
                        outcome: wait,
                        started: true,
                        details: None,
                    }),
                    Err(e) => outcome(classify(e)),
                }
            } else {
                Ok(progress(Outcome::failed(
                    p.reason(&node, "Inspection failed").await,
                )))
            }
        }
        state::MANAGEABLE => {
            let data_now = if refresh {
                None
            } else {
                p.client.inventory(&node.uuid).await.map_err(transient)?
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
                None => match start().await {
                    Ok(()) => Ok(InspectOutcome {
                        outcome: wait,
                        started: true,
                        details: None,
                    }),
                    Err(e) => outcome(classify(e)),
                },
            }
        }
        _ => Ok(progress(p.short())),
    }
}

/// Sets the boot mode and the inspect interface the mode asks for, then starts inspecting.
async fn start_inspection(
    p: &IronicProvisioner,
    node: &Node,
    host: &HostData,
    data: &InspectData,
    fast: bool,
) -> Result<(), IronicError> {
    let mut ops = Vec::new();
    let existing = node.properties.get("capabilities").and_then(Value::as_str);
    let caps = node::capabilities(existing, data.boot_mode);
    if existing != Some(caps.as_str()) {
        ops.push(PatchOp::add("/properties/capabilities", json!(caps)));
    }
    if p.config.hardware == Hardware::FromAddress
        && let Ok(bmc) = p.bmc(host)
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
        p.client.patch_node(&node.uuid, &ops).await?;
    }
    p.set_state(node, ProvisionRequest::to("inspect")).await
}
