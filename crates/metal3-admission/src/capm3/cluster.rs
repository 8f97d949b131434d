//! Metal3Cluster and Metal3ClusterTemplate: the control-plane endpoint, and its defaults.

use metal3_capm3_api::v1beta2::{Metal3Cluster, Metal3ClusterSpec, Metal3ClusterTemplate};

use super::DEFAULT_API_PORT;
use crate::verdict::{FieldError, Findings};

fn cluster_spec_errors(spec: &Metal3ClusterSpec, path: &str, need_port: bool) -> Vec<FieldError> {
    let mut out = Vec::new();
    if spec.control_plane_endpoint.host.is_empty() {
        out.push(FieldError::new(
            format!("{path}.controlPlaneEndpoint.host"),
            "required: the host name or address of the cluster's API server",
        ));
    }
    if need_port && spec.control_plane_endpoint.port == 0 {
        out.push(FieldError::new(
            format!("{path}.controlPlaneEndpoint.port"),
            "required: the port of the cluster's API server",
        ));
    }
    out
}

/// The rules of a Metal3Cluster: an endpoint host (the port is defaulted).
pub fn metal3cluster(new: &Metal3Cluster) -> Findings {
    Findings::from_errors(cluster_spec_errors(&new.spec, "spec", false))
}

/// The rules of a Metal3ClusterTemplate: an endpoint host and port.
pub fn metal3clustertemplate(new: &Metal3ClusterTemplate) -> Findings {
    Findings::from_errors(cluster_spec_errors(
        &new.spec.template.spec,
        "spec.template.spec",
        true,
    ))
}

/// Upstream's defaults of a Metal3Cluster: endpoint port 6443, `cloudProviderEnabled` false.
pub fn apply_defaults(m3c: &mut Metal3Cluster) {
    if m3c.spec.control_plane_endpoint.port == 0 {
        m3c.spec.control_plane_endpoint.port = DEFAULT_API_PORT;
    }
    m3c.spec.cloud_provider_enabled.get_or_insert(false);
}
