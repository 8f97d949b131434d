//! Metal3DataTemplate: where each host interface and address comes from; immutable once made.

use metal3_capm3_api::v1beta2::{MetaData, Metal3DataTemplate, NetworkDataNetwork};

use crate::verdict::{FieldError, Findings};

const DEPRECATED_CLUSTER_NAME: &str = "spec.clusterName is deprecated and ignored: the cluster comes from the cluster.x-k8s.io/cluster-name label";

/// The rules of a Metal3DataTemplate: on update, metadata and network data stay as they were;
/// on create, every host interface is named (or taken from the boot MAC, not both) and every
/// static address says where it comes from. `spec.clusterName` draws a warning.
pub fn metal3datatemplate(new: &Metal3DataTemplate, old: Option<&Metal3DataTemplate>) -> Findings {
    let mut findings = Findings::default();
    if !new.spec.cluster_name.is_empty() {
        findings.warnings.push(DEPRECATED_CLUSTER_NAME.into());
    }
    if let Some(old) = old {
        if new.spec.meta_data != old.spec.meta_data {
            findings.errors.push(FieldError::new(
                "spec.metaData",
                "cannot be changed; create a new template",
            ));
        }
        if new.spec.network_data != old.spec.network_data {
            findings.errors.push(FieldError::new(
                "spec.networkData",
                "cannot be changed; create a new template",
            ));
        }
        return findings;
    }
    if let Some(meta) = &new.spec.meta_data {
        findings.errors.extend(host_interface_errors(meta));
    }
    if let Some(networks) = new
        .spec
        .network_data
        .as_ref()
        .and_then(|n| n.networks.as_ref())
    {
        findings.errors.extend(address_source_errors(networks));
    }
    findings
}

/// Each `fromHostInterfaces` entry names a NIC or takes the boot MAC, exactly one of the two.
fn host_interface_errors(meta: &MetaData) -> Vec<FieldError> {
    let mut errors = Vec::new();
    for (i, h) in meta.from_host_interfaces.iter().enumerate() {
        let boot = h.from_boot_mac == Some(true);
        let path = format!("spec.metaData.fromHostInterfaces[{i}].interface");
        if !boot && h.interface.is_empty() {
            errors.push(FieldError::new(
                &path,
                "required unless fromBootMAC is true: the NIC whose MAC address to use",
            ));
        }
        if boot && !h.interface.is_empty() {
            errors.push(FieldError::new(
                &path,
                "must be empty when fromBootMAC is true",
            ));
        }
    }
    errors
}

/// Each static IPv4 and IPv6 network says where its address comes from.
fn address_source_errors(networks: &NetworkDataNetwork) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let sources = networks
        .ipv4
        .iter()
        .map(|n| {
            (
                &n.from_pool_ref.name,
                &n.ip_address_from_ip_pool,
                n.from_pool_annotation == Default::default(),
            )
        })
        .map(|s| ("ipv4", s))
        .chain(networks.ipv6.iter().map(|n| {
            (
                "ipv6",
                (
                    &n.from_pool_ref.name,
                    &n.ip_address_from_ip_pool,
                    n.from_pool_annotation == Default::default(),
                ),
            )
        }));
    let mut counters = [0usize; 2];
    for (family, (pool_ref, pool_name, no_annotation)) in sources {
        let i = if family == "ipv4" {
            &mut counters[0]
        } else {
            &mut counters[1]
        };
        if pool_ref.is_empty() && pool_name.is_empty() && no_annotation {
            errors.push(FieldError::new(
                format!("spec.networkData.networks.{family}[{i}].fromPoolRef.name"),
                "required: where the address comes from (fromPoolRef, ipAddressFromIPPool or fromPoolAnnotation)",
            ));
        }
        *i += 1;
    }
    errors
}
