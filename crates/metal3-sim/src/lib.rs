//! A fleet of simulated servers behind Redfish BMCs, on loopback: for tests, benchmarks and
//! the local environment. The servers' state and rules ([`fleet`], [`bios`], [`storage`],
//! [`firmware`], [`sessions`], [`tasks`]) are plain data with the clock passed in; the Redfish
//! service ([`redfish`]) exposes them with DMTF resource shapes, so real clients (OpenStack's
//! sushy, hence Ironic; our own Redfish provisioner) drive them as they would real BMCs;
//! [`events`] delivers EventService events and [`server`] runs the listeners.

pub mod bios;
pub mod events;
pub mod faults;
pub mod firmware;
pub mod fleet;
pub mod redfish;
pub mod server;
pub mod sessions;
pub mod storage;
pub mod tasks;
pub mod vm;

use std::net::SocketAddr;

pub use redfish::{Fleet, host_router, router};
use serde_json::json;
pub use server::{TlsMaterial, self_signed, serve, serve_per_host, serve_router};

/// Where the fleet's BMCs answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Addressing {
    /// The listener serving every server.
    pub listen: SocketAddr,
    /// With per-server listeners: the port of server 0 (server `i` is at `base + i`).
    pub per_host_base: Option<u16>,
    /// Whether the listeners speak HTTPS (with a self-signed certificate).
    pub tls: bool,
}

impl Addressing {
    /// The BareMetalHost `bmc.address` of server `index` with system `id`.
    pub fn bmc_address(&self, index: usize, id: &str) -> String {
        let addr = match self.per_host_base {
            Some(base) => SocketAddr::new(self.listen.ip(), base.saturating_add(index as u16)),
            None => self.listen,
        };
        let scheme = if self.tls { "https" } else { "http" };
        format!("redfish-virtualmedia+{scheme}://{addr}/redfish/v1/Systems/{id}")
    }
}

/// Serves every server of `fleet` on `addr` (port 0 picks a free one) in a background task;
/// returns the address it listens on.
pub async fn start(fleet: std::sync::Arc<Fleet>, addr: SocketAddr) -> std::io::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    tokio::spawn(serve(listener, fleet));
    Ok(bound)
}

/// A Secret and a BareMetalHost per server of `fleet`, each Secret with that BMC's own
/// credentials, in server order (Secret first).
pub fn manifest_objects(fleet: &Fleet, addressing: &Addressing) -> Vec<serde_json::Value> {
    let mut out = Vec::with_capacity(fleet.len() * 2);
    for index in 0..fleet.len() {
        let Some(host) = fleet.host(index) else {
            continue;
        };
        let secret = format!("{}-bmc-secret", host.name);
        let mut bmc = json!({
            "address": addressing.bmc_address(index, &host.id),
            "credentialsName": secret,
        });
        if addressing.tls
            && let Some(map) = bmc.as_object_mut()
        {
            // The simulator's certificate is self-signed, as most BMCs' are.
            map.insert("disableCertificateVerification".into(), true.into());
        }
        out.push(json!({
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": secret},
            "type": "Opaque",
            "stringData": {"username": host.username, "password": host.password},
        }));
        out.push(json!({
            "apiVersion": "metal3.io/v1alpha1",
            "kind": "BareMetalHost",
            "metadata": {"name": host.name},
            "spec": {
                "online": true,
                "bootMACAddress": host.macs[0],
                "bmc": bmc,
            },
        }));
    }
    out
}

/// Objects as multi-document YAML, ready for `kubectl apply -f -`.
pub fn to_yaml(objects: &[serde_json::Value]) -> String {
    let mut out = String::new();
    for doc in objects {
        out.push_str("---\n");
        // JSON is YAML: one document per object, readable by kubectl and any YAML parser.
        out.push_str(&serde_json::to_string_pretty(doc).unwrap_or_default());
        out.push('\n');
    }
    out
}

/// [`manifest_objects`] as multi-document YAML.
pub fn manifests(fleet: &Fleet, addressing: &Addressing) -> String {
    to_yaml(&manifest_objects(fleet, addressing))
}
