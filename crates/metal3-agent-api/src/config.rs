//! The agent's boot configuration: where the hub is, how to trust it, who the agent is and how
//! to bring the network up. The hub writes it into the host's boot image; nothing of it is on
//! a kernel command line.

use serde::{Deserialize, Serialize};

/// Where the agent reads its configuration.
pub const CONFIG_PATH: &str = "/etc/metal3-agent/config.json";

/// A BareMetalHost, as the agent names itself.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HostRef {
    pub namespace: String,
    pub name: String,
    /// The BareMetalHost's UID: a host deleted and created again under the same name is
    /// another host.
    pub uid: String,
}

impl std::fmt::Display for HostRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// A value that must never be shown: `Debug` and `Display` print `<redacted>`.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(pub String);

impl Secret {
    /// The value itself, for the one place that sends or checks it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

impl std::fmt::Display for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// What the agent finds in its boot image.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AgentConfig {
    /// The hub's base URL as the host reaches it, e.g. `https://10.0.2.2:9443`.
    pub hub_url: String,
    /// PEM of the certificate authority that signed the hub's certificate: the agent trusts
    /// this and nothing else for the hub.
    pub hub_ca_pem: String,
    /// The host this agent runs on.
    pub host: HostRef,
    /// The host's token (see [`crate::token`]).
    pub token: Secret,
    /// `spec.bootMACAddress`: the NIC the agent must find on the host.
    pub boot_mac: String,
    /// The host's network configuration in OpenStack's `network_data.json` format
    /// (`spec.preprovisioningNetworkDataName`); none: DHCP on every NIC with a link.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_data: Option<serde_json::Value>,
    /// Extra PEM certificate authorities to trust for image downloads (besides the public
    /// web PKI roots the agent carries).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub image_ca_pem: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_never_shows_in_debug_output() {
        let config = AgentConfig {
            token: Secret("hunter2".into()),
            host: HostRef {
                namespace: "metal3".into(),
                name: "node-0".into(),
                uid: "u-1".into(),
            },
            ..AgentConfig::default()
        };
        let shown = format!("{config:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("node-0"));
        assert_eq!(config.host.to_string(), "metal3/node-0");
        let wire = serde_json::to_value(&config).expect("json");
        assert_eq!(
            wire["token"], "hunter2",
            "on the wire it is the plain value"
        );
        assert!(wire.get("networkData").is_none());
        let back: AgentConfig = serde_json::from_value(wire).expect("back");
        assert_eq!(back, config);
    }
}
