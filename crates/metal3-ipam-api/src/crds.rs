//! The CustomResourceDefinitions of the three `ipam.metal3.io` kinds, generated from the Rust
//! types and brought to upstream's shape (`metal3 crds` writes them into `config/crd/ipam/`).

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;

use crate::v1alpha1;

pub use metal3_api::crds::{CrdError, file_name, to_yaml};

/// Kinds whose upstream CRD declares an empty `subresources` (no status subresource).
const EMPTY_SUBRESOURCES: &[&str] = &["IPAddress"];

/// Every IPAM CRD, in a stable order (by file name).
pub fn all() -> Vec<CustomResourceDefinition> {
    let mut crds = vec![
        v1alpha1::IPAddress::crd(),
        v1alpha1::IPClaim::crd(),
        v1alpha1::IPPool::crd(),
    ];
    for crd in &mut crds {
        let kind = crd.spec.names.kind.clone();
        for version in &mut crd.spec.versions {
            if EMPTY_SUBRESOURCES.contains(&kind.as_str()) && version.subresources.is_none() {
                version.subresources = Some(Default::default());
            }
        }
        metal3_api::crds::normalise(crd, &[]);
    }
    crds
}

/// Every CRD as `(file name, YAML)`, in the order of [`all`].
pub fn render_all() -> Result<Vec<(String, String)>, CrdError> {
    all()
        .iter()
        .map(|crd| Ok((file_name(crd), to_yaml(crd)?)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_three_kinds_are_served_and_stored_as_v1alpha1() {
        let crds = all();
        let names: Vec<_> = crds.iter().map(file_name).collect();
        assert_eq!(
            names,
            [
                "ipam.metal3.io_ipaddresses.yaml",
                "ipam.metal3.io_ipclaims.yaml",
                "ipam.metal3.io_ippools.yaml"
            ]
        );
        for crd in &crds {
            assert_eq!(crd.spec.versions.len(), 1);
            let version = &crd.spec.versions[0];
            assert_eq!(version.name, "v1alpha1");
            assert!(version.served && version.storage);
        }
    }
}
