//! Switch port configuration is not something a BMC can do: it needs Ironic's networking
//! service. This says so, clearly, for a host whose `spec.networkInterfaces` ask for it (pure).

use metal3_api::v1alpha1::NetworkInterface;

/// The error for a host whose interfaces ask for switch port configuration (an attachment or a
/// switch port), naming them; `None` when none does.
pub fn unsupported(interfaces: &[NetworkInterface]) -> Option<String> {
    let asking: Vec<&str> = interfaces
        .iter()
        .filter(|i| !i.host_network_attachment.name.is_empty() || i.switch_port.is_some())
        .map(NetworkInterface::key)
        .collect();
    if asking.is_empty() {
        return None;
    }
    Some(format!(
        "spec.networkInterfaces asks for switch port configuration ({}), which needs Ironic's \
         networking service: the native Redfish backend cannot configure switches; run the \
         operator with the Ironic backend (--provisioner ironic) and IRONIC_NETWORKING_ENABLED=true, \
         or remove hostNetworkAttachment and switchPort from the interfaces",
        asking.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_interfaces_asking_for_switch_configuration_are_named() {
        let ifaces: Vec<NetworkInterface> = serde_json::from_value(json!([
            {"name": "eno1"},
            {"name": "eno2", "hostNetworkAttachment": {"name": "storage"}},
            {"macAddress": "aa:bb:cc:dd:ee:01",
             "switchPort": {"switchID": "aa:bb:cc:dd:ee:ff", "portID": "Ethernet1/1"}},
        ]))
        .expect("interfaces");
        let message = unsupported(&ifaces).expect("refused");
        assert!(message.contains("(eno2, aa:bb:cc:dd:ee:01)"), "{message}");
        assert!(message.contains("Ironic's networking service"), "{message}");
        assert_eq!(unsupported(&ifaces[..1]), None);
        assert_eq!(unsupported(&[]), None);
    }
}
