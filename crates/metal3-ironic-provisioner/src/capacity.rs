//! Capacity: upstream's provisioning limit, the number of hosts that may inspect, clean or
//! deploy at once through network boot (virtual-media hosts are not counted).

use metal3_ironic::types::{Node, state};
use metal3_provisioner::{HostData, ProvResult};

use crate::IronicProvisioner;
use crate::errors::transient;

/// Whether the host may start inspecting, cleaning or deploying now.
pub(crate) async fn has_capacity(p: &IronicProvisioner, host: &HostData) -> ProvResult<bool> {
    if p.config.provisioning_limit == 0 {
        return Ok(true);
    }
    if let Ok(bmc) = p.bmc(host)
        && bmc.supports_iso()
    {
        return Ok(true);
    }
    p.ready().await?;
    let nodes = p
        .client
        .nodes(&["uuid", "name", "provision_state", "boot_interface"])
        .await
        .map_err(transient)?;
    let busy = nodes.iter().filter(|n| counts(n)).count();
    Ok(busy < p.config.provisioning_limit)
}

/// The node is inspecting, cleaning or deploying through network boot.
fn counts(n: &Node) -> bool {
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
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(provision_state: &str, boot_interface: Option<&str>) -> Node {
        Node {
            provision_state: provision_state.into(),
            boot_interface: boot_interface.map(str::to_string),
            ..Node::default()
        }
    }

    #[test]
    fn network_boot_hosts_under_way_count_against_the_limit() {
        for s in [
            state::CLEANING,
            state::CLEAN_WAIT,
            state::INSPECTING,
            state::INSPECT_WAIT,
            state::DEPLOYING,
            state::DEPLOY_WAIT,
        ] {
            assert!(counts(&node(s, Some("ipxe"))), "{s}");
            assert!(counts(&node(s, None)), "{s}");
            assert!(!counts(&node(s, Some("redfish-virtual-media"))), "{s}");
            assert!(!counts(&node(s, Some("redfish-https"))), "{s}");
        }
        for s in [state::AVAILABLE, state::ACTIVE, state::MANAGEABLE] {
            assert!(!counts(&node(s, Some("ipxe"))), "{s}");
        }
    }
}
