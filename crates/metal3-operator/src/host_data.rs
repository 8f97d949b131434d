//! The host as the provisioners see it: its identity, BMC, credentials and network interfaces
//! (with the attachments they name) as [`HostData`].

use std::collections::BTreeMap;

use kube::ResourceExt;
use metal3_api::v1alpha1::{BareMetalHost, HostNetworkAttachment, HostNetworkAttachmentSpec};
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
        network_attachments: Default::default(),
    }
}

/// The specs of the HostNetworkAttachments the host's interfaces name, by `namespace/name`;
/// read only for hosts that name some (one GET each), missing ones left out.
pub(crate) async fn network_attachments(
    client: &kube::Client,
    host: &BareMetalHost,
) -> Result<BTreeMap<String, HostNetworkAttachmentSpec>, kube::Error> {
    let host_ns = host.namespace().unwrap_or_default();
    let mut out = BTreeMap::new();
    for iface in &host.spec.network_interfaces {
        let reference = &iface.host_network_attachment;
        if reference.name.is_empty() {
            continue;
        }
        let ns = match reference.namespace.as_str() {
            "" => host_ns.as_str(),
            ns => ns,
        };
        let key = format!("{ns}/{}", reference.name);
        if out.contains_key(&key) {
            continue;
        }
        let api: kube::Api<HostNetworkAttachment> = kube::Api::namespaced(client.clone(), ns);
        if let Some(attachment) = api.get_opt(&reference.name).await? {
            out.insert(key, attachment.spec);
        }
    }
    Ok(out)
}
