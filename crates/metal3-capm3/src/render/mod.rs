//! Rendering a Metal3DataTemplate for one machine: the metadata (a flat map of strings) and the
//! network data (OpenStack `network_data.json` layout), both written as YAML into Secrets.
//! Pure: the objects and the addresses allocated from IP pools are inputs.
//!
//! This module holds what every part shares (the objects read, pool addresses, errors, the
//! YAML writer); [`pools`] finds the IP pools a template refers to, [`metadata`](mod@metadata)
//! renders the metadata and [`network`] the network data.

use std::collections::BTreeMap;

use kube::api::ObjectMeta;
use metal3_api::v1alpha1::BareMetalHost;
use metal3_capm3_api::common::DataObject;
use metal3_capm3_api::v1beta2::{
    FromPoolAnnotation, IpPoolReference, NetworkDataRoutev4, NetworkDataRoutev6,
};

use crate::provider_id::ProviderId;

pub mod metadata;
pub mod network;
pub mod pools;

#[cfg(test)]
mod tests;

pub use metadata::metadata;
pub use network::network_data;
pub use pools::referenced_pools;

/// Default API group of IP pools.
pub const IPAM_GROUP: &str = "ipam.metal3.io";
/// Default kind of IP pools.
pub const IPPOOL_KIND: &str = "IPPool";

/// An address allocated from a pool.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PoolAddress {
    /// The address.
    pub address: String,
    /// Prefix length of its network.
    pub prefix: i32,
    /// Gateway of its network.
    pub gateway: String,
    /// DNS servers of its network.
    pub dns_servers: Vec<String>,
}

/// A pool, by name, with the kind and group that serve it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PoolRef {
    /// Pool name.
    pub name: String,
    /// Pool kind (`IPPool` for Metal3 IPAM).
    pub kind: String,
    /// Pool API group (`ipam.metal3.io` for Metal3 IPAM).
    pub api_group: String,
}

impl PoolRef {
    /// Whether the pool is a Metal3 IPAM `IPPool` (claimed with an `IPClaim`); other pools are
    /// claimed with a Cluster API `IPAddressClaim`.
    pub fn is_metal3(&self) -> bool {
        self.kind == IPPOOL_KIND && self.api_group == IPAM_GROUP
    }
}

/// Why rendering failed; the message names what to fix.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct RenderError(pub String);

fn err<T>(message: impl Into<String>) -> Result<T, RenderError> {
    Err(RenderError(message.into()))
}

/// The objects a rendering reads.
#[derive(Clone, Debug)]
pub struct Objects<'a> {
    /// Index of the Metal3Data in its template.
    pub index: i32,
    /// Namespace of the Metal3Data.
    pub namespace: &'a str,
    /// The Cluster API Machine.
    pub machine: &'a ObjectMeta,
    /// The Metal3Machine.
    pub metal3machine: &'a ObjectMeta,
    /// The BareMetalHost.
    pub host: &'a BareMetalHost,
}

impl Objects<'_> {
    fn meta(&self, object: DataObject) -> &ObjectMeta {
        match object {
            DataObject::Machine => self.machine,
            DataObject::Metal3Machine => self.metal3machine,
            DataObject::BareMetalHost => &self.host.metadata,
        }
    }

    fn annotation(&self, object: DataObject, key: &str) -> String {
        self.meta(object)
            .annotations
            .as_ref()
            .and_then(|a| a.get(key))
            .cloned()
            .unwrap_or_default()
    }

    fn label(&self, object: DataObject, key: &str) -> String {
        self.meta(object)
            .labels
            .as_ref()
            .and_then(|a| a.get(key))
            .cloned()
            .unwrap_or_default()
    }

    fn host_mac(&self, nic: &str) -> Result<String, RenderError> {
        let nics = self
            .host
            .status
            .as_ref()
            .and_then(|s| s.hardware.as_ref())
            .map(|h| h.nics.as_slice())
            .unwrap_or_default();
        if nics.is_empty() {
            return err(format!(
                "BareMetalHost {} has no NICs in its inventory yet; wait for inspection",
                self.host.metadata.name.as_deref().unwrap_or_default()
            ));
        }
        nics.iter()
            .find(|n| n.name == nic)
            .map(|n| n.mac.clone())
            .ok_or_else(|| {
                RenderError(format!(
                    "BareMetalHost {} has no NIC named {nic:?}",
                    self.host.metadata.name.as_deref().unwrap_or_default()
                ))
            })
    }

    fn pool_from_annotation(&self, a: &FromPoolAnnotation) -> Result<String, RenderError> {
        let value = self.annotation(a.object, &a.annotation);
        if value.is_empty() {
            return err(format!(
                "annotation {} is missing or empty on the {}; it must name an IP pool",
                a.annotation,
                a.object.as_str()
            ));
        }
        Ok(value)
    }

    fn provider_id(&self) -> ProviderId {
        ProviderId::new(
            self.metal3machine.namespace.as_deref().unwrap_or_default(),
            self.host.metadata.name.as_deref().unwrap_or_default(),
            self.metal3machine.name.as_deref().unwrap_or_default(),
        )
    }
}

/// The address allocated from `pool`, or an error saying it is missing.
fn from_pool<'a>(
    pools: &'a BTreeMap<String, PoolAddress>,
    pool: &str,
) -> Result<&'a PoolAddress, RenderError> {
    pools.get(pool).ok_or_else(|| {
        RenderError(format!(
            "no address has been allocated from IP pool {pool:?} yet"
        ))
    })
}

/// A route of either family, seen through the fields rendering needs.
struct Route<'a> {
    network: &'a str,
    prefix: i32,
    gateway: Option<&'a str>,
    gateway_pool: &'a str,
    gateway_ref: &'a IpPoolReference,
    gateway_annotation: &'a FromPoolAnnotation,
    dns: &'a [String],
    dns_pool: &'a str,
}

/// The [`Route`] view of both families' routes.
macro_rules! route_view {
    ($route:ty) => {
        impl<'a> From<&'a $route> for Route<'a> {
            fn from(r: &'a $route) -> Self {
                Route {
                    network: &r.network,
                    prefix: r.prefix.unwrap_or(0),
                    gateway: r.gateway.string.as_deref(),
                    gateway_pool: &r.gateway.from_ip_pool,
                    gateway_ref: &r.gateway.from_pool_ref,
                    gateway_annotation: &r.gateway.from_pool_annotation,
                    dns: r
                        .services
                        .as_ref()
                        .map(|s| s.dns.as_slice())
                        .unwrap_or_default(),
                    dns_pool: r
                        .services
                        .as_ref()
                        .map(|s| s.dns_from_ip_pool.as_str())
                        .unwrap_or_default(),
                }
            }
        }
    };
}
route_view!(NetworkDataRoutev4);
route_view!(NetworkDataRoutev6);

/// YAML text of a rendered value (keys sorted, as upstream writes them).
pub fn to_yaml<T: serde::Serialize>(value: &T) -> Result<String, RenderError> {
    serde_saphyr::to_string(value).map_err(|e| RenderError(format!("cannot write YAML: {e}")))
}
