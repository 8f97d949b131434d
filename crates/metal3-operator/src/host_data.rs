//! The host as the provisioners see it: its identity, BMC and credentials as [`HostData`].

use kube::ResourceExt;
use metal3_api::v1alpha1::BareMetalHost;
use metal3_provisioner::{Credentials, HostData};

/// The host as a provisioner sees it, with the `credentials` read from its Secret.
pub(crate) fn of(host: &BareMetalHost, credentials: Credentials) -> HostData {
    HostData {
        namespace: host.namespace().unwrap_or_default(),
        name: host.name_any(),
        uid: host.metadata.uid.clone().unwrap_or_default(),
        annotations: host.annotations().clone(),
        bmc_address: host.spec.bmc.address.clone(),
        disable_certificate_verification: host.spec.bmc.disable_certificate_verification,
        credentials,
        boot_mac_address: host.spec.boot_mac_address.clone(),
        provisioner_id: host
            .status
            .as_ref()
            .map(|s| s.provisioning.id.clone())
            .unwrap_or_default(),
        network_interfaces: host.spec.network_interfaces.clone(),
    }
}
