//! A fleet of simulated servers behind Redfish BMCs, on loopback: for tests, benchmarks and
//! the local environment. The servers' state and rules ([`fleet`]) are plain data; the Redfish
//! service ([`redfish`]) exposes them with DMTF resource shapes, so real clients (OpenStack's
//! sushy, hence Ironic; our own Redfish provisioner) drive them as they would real BMCs.

pub mod faults;
pub mod fleet;
pub mod redfish;

use std::net::SocketAddr;

pub use redfish::{Fleet, router, serve};
use serde_json::json;

/// BareMetalHost and Secret manifests (multi-document YAML) for every server of `fleet`,
/// served at `addr`, ready for `kubectl apply -f -`.
pub fn manifests(fleet: &Fleet, addr: SocketAddr, username: &str, password: &str) -> String {
    let mut out = String::new();
    for index in 0..fleet.len() {
        let Some(host) = fleet.host(index) else {
            continue;
        };
        let secret = format!("{}-bmc-secret", host.name);
        let docs = [
            json!({
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": secret},
                "type": "Opaque",
                "stringData": {"username": username, "password": password},
            }),
            json!({
                "apiVersion": "metal3.io/v1alpha1",
                "kind": "BareMetalHost",
                "metadata": {"name": host.name},
                "spec": {
                    "online": true,
                    "bootMACAddress": host.macs[0],
                    "bmc": {
                        "address": format!("redfish-virtualmedia+http://{addr}/redfish/v1/Systems/{}", host.id),
                        "credentialsName": secret,
                    },
                },
            }),
        ];
        for doc in docs {
            out.push_str("---\n");
            // JSON is YAML: one document per object, readable by kubectl and any YAML parser.
            out.push_str(&serde_json::to_string_pretty(&doc).unwrap_or_default());
            out.push('\n');
        }
    }
    out
}
