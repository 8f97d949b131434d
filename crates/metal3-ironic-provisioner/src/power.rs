//! Power: the node's power state as the host's, powering on and off (soft first when asked,
//! rebooting instead where power off is disabled), Ironic's power failure fault and the
//! BMC's health.

use metal3_ironic::Error as IronicError;
use metal3_ironic::types::{Node, ProvisionRequest, power, state};
use metal3_provisioner::{HardwareState, Health, HostData, Outcome, ProvResult, RebootMode};
use tracing::info;

use crate::IronicProvisioner;
use crate::errors::{act, classify};

/// Whether the host is powered on, as Ironic last saw it.
pub(crate) async fn update_hardware_state(
    p: &IronicProvisioner,
    host: &HostData,
) -> ProvResult<HardwareState> {
    let Some(node) = p.find(host).await? else {
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

/// Powers the host on, unless it is on or a transition is under way.
pub(crate) async fn power_on(p: &IronicProvisioner, host: &HostData) -> ProvResult<Outcome> {
    let node = p.node(host).await?;
    if changing(&node) {
        return Ok(p.short());
    }
    if node.power_state.as_deref() == Some(power::ON) {
        return Ok(Outcome::Done);
    }
    act!(p.client.set_power_state(&node.uuid, power::ON, None).await);
    info!(node = %node.uuid, "powering on");
    Ok(p.short())
}

/// Powers the host off (softly first for [`RebootMode::Soft`]); an inspection waiting for
/// the agent is aborted instead.
pub(crate) async fn power_off(
    p: &IronicProvisioner,
    host: &HostData,
    mode: RebootMode,
) -> ProvResult<Outcome> {
    let node = p.node(host).await?;
    if node.provision_state == state::INSPECT_WAIT {
        act!(p.set_state(&node, ProvisionRequest::to("abort")).await);
        return Ok(p.short());
    }
    if changing(&node) {
        return Ok(p.short());
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
        match p
            .client
            .set_power_state(&node.uuid, soft, Some(p.config.soft_power_off_timeout))
            .await
        {
            Ok(()) => return Ok(p.short()),
            // The driver cannot power off softly: cut the power.
            Err(IronicError::Refused { status: 400, .. }) => {}
            Err(e) => return classify(e),
        }
    }
    act!(p.client.set_power_state(&node.uuid, hard, None).await);
    info!(node = %node.uuid, "powering off");
    Ok(p.short())
}

/// A provision or power state change of the node is under way.
fn changing(node: &Node) -> bool {
    node.in_transition()
        || node
            .target_power_state
            .as_deref()
            .is_some_and(|t| !t.is_empty())
}

/// Ironic marked the node with a power failure fault.
pub(crate) async fn has_power_failure(p: &IronicProvisioner, host: &HostData) -> ProvResult<bool> {
    Ok(p.find(host)
        .await?
        .is_some_and(|n| n.fault.as_deref() == Some("power failure")))
}

/// The BMC's health as Ironic reports it.
pub(crate) async fn health(p: &IronicProvisioner, host: &HostData) -> ProvResult<Health> {
    let Some(node) = p.find(host).await? else {
        return Ok(Health::Unknown);
    };
    Ok(match node.health.as_deref() {
        Some("OK") => Health::Ok,
        Some("Warning") => Health::Warning,
        Some("Critical") => Health::Critical,
        _ => Health::Unknown,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_provision_or_power_change_under_way_is_waited_for() {
        assert!(!changing(&Node::default()));
        let idle = Node {
            target_provision_state: Some(String::new()),
            target_power_state: Some(String::new()),
            ..Node::default()
        };
        assert!(!changing(&idle));
        let provisioning = Node {
            target_provision_state: Some("active".into()),
            ..Node::default()
        };
        assert!(changing(&provisioning));
        let powering = Node {
            target_power_state: Some(power::ON.into()),
            ..Node::default()
        };
        assert!(changing(&powering));
    }
}
