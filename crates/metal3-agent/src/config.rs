//! The agent's boot configuration (`metal3_agent_api::CONFIG_PATH`, written into the boot
//! image by the hub): read, parsed and checked, with errors that say on the console what is
//! wrong without showing the token.

use std::path::{Path, PathBuf};

use metal3_agent_api::AgentConfig;

use crate::console::redact_literals;

/// Why the configuration cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(
        "no configuration at {0}: this is the generic agent image; the operator's hub writes a \
         host's configuration into the image when it serves it to that host's BMC"
    )]
    Missing(PathBuf),
    #[error("cannot read {path}: {source}")]
    Unreadable {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a valid agent configuration: {message}")]
    Invalid { path: PathBuf, message: String },
}

/// Reads and checks the configuration at `path`.
pub fn load(path: &Path) -> Result<AgentConfig, ConfigError> {
    let text = match std::fs::read(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(ConfigError::Missing(path.to_path_buf()));
        }
        Err(source) => {
            return Err(ConfigError::Unreadable {
                path: path.to_path_buf(),
                source,
            });
        }
    };
    let invalid = |message: String| ConfigError::Invalid {
        path: path.to_path_buf(),
        message,
    };
    let config: AgentConfig =
        serde_json::from_slice(&text).map_err(|e| invalid(redact_literals(&e.to_string())))?;
    check(&config).map_err(invalid)?;
    Ok(config)
}

/// What is missing or wrong in `config`, naming the field.
pub fn check(config: &AgentConfig) -> Result<(), String> {
    if !config.hub_url.starts_with("https://") {
        return Err(format!(
            "hubUrl must be an https:// URL, not {:?}",
            config.hub_url
        ));
    }
    if !config.hub_ca_pem.contains("-----BEGIN CERTIFICATE-----") {
        return Err("hubCaPem must hold the PEM certificate of the hub's CA".into());
    }
    if config.token.expose().is_empty() {
        return Err("token is empty".into());
    }
    if config.host.uid.is_empty() || config.host.name.is_empty() {
        return Err("host must name the BareMetalHost (namespace, name, uid)".into());
    }
    if parse_mac(&config.boot_mac).is_none() {
        return Err(format!(
            "bootMac {:?} is not a MAC address",
            config.boot_mac
        ));
    }
    if let Some(data) = &config.network_data
        && !data.is_object()
    {
        return Err("networkData must be an object (OpenStack network_data.json)".into());
    }
    Ok(())
}

/// The six bytes of a MAC address written `aa:bb:cc:dd:ee:ff` (any case; `-` also separates).
pub fn parse_mac(text: &str) -> Option<[u8; 6]> {
    let mut mac = [0u8; 6];
    let mut parts = text.split([':', '-']);
    for byte in &mut mac {
        let part = parts.next()?;
        if part.len() != 2 {
            return None;
        }
        *byte = u8::from_str_radix(part, 16).ok()?;
    }
    parts.next().is_none().then_some(mac)
}

/// A MAC address as the kernel writes it: lower case, colons.
pub fn format_mac(mac: &[u8]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

#[cfg(test)]
mod tests {
    use metal3_agent_api::{HostRef, Secret};

    use super::*;

    fn valid() -> AgentConfig {
        AgentConfig {
            hub_url: "https://10.0.2.2:9443".into(),
            hub_ca_pem: "-----BEGIN CERTIFICATE-----\nMII\n-----END CERTIFICATE-----\n".into(),
            host: HostRef {
                namespace: "metal3".into(),
                name: "node-0".into(),
                uid: "u-1".into(),
            },
            token: Secret("t0k3n-value".into()),
            boot_mac: "52:54:00:AB:cd:01".into(),
            network_data: None,
            image_ca_pem: String::new(),
        }
    }

    #[test]
    fn every_required_field_is_checked() {
        assert_eq!(check(&valid()), Ok(()));
        type Breaks = fn(&mut AgentConfig);
        let cases: [(&str, Breaks); 6] = [
            ("hubUrl", |c| c.hub_url = "http://10.0.2.2:9443".into()),
            ("hubCaPem", |c| c.hub_ca_pem.clear()),
            ("token", |c| c.token = Secret::default()),
            ("host", |c| c.host.uid.clear()),
            ("bootMac", |c| c.boot_mac = "52:54:00:ab:cd".into()),
            ("networkData", |c| {
                c.network_data = Some(serde_json::json!(["links"]))
            }),
        ];
        for (field, breaks) in cases {
            let mut config = valid();
            breaks(&mut config);
            let err = check(&config).expect_err(field);
            assert!(err.starts_with(field), "{field}: {err}");
        }
    }

    #[test]
    fn load_says_what_is_wrong_and_never_shows_the_token() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("config.json");
        let missing = load(&path).expect_err("missing");
        assert!(matches!(missing, ConfigError::Missing(_)));
        assert!(missing.to_string().contains("generic agent image"));

        std::fs::write(&path, "{ not json").expect("write");
        assert!(matches!(
            load(&path).expect_err("syntax"),
            ConfigError::Invalid { .. }
        ));

        // A token of the wrong type: the parser's message quotes it; the error must not.
        let mut wire = serde_json::to_value(valid()).expect("json");
        wire["token"] = serde_json::json!(918273645);
        std::fs::write(&path, wire.to_string()).expect("write");
        let shown = load(&path).expect_err("type").to_string();
        assert!(shown.contains("expected a string"), "{shown}");
        assert!(!shown.contains("918273645"), "{shown}");

        std::fs::write(&path, serde_json::to_vec(&valid()).expect("json")).expect("write");
        let config = load(&path).expect("valid");
        assert_eq!(config.host.name, "node-0");
    }

    #[test]
    fn macs_parse_and_format() {
        assert_eq!(
            parse_mac("52:54:00:AB:cd:01"),
            Some([0x52, 0x54, 0, 0xab, 0xcd, 1])
        );
        assert_eq!(
            parse_mac("52-54-00-ab-cd-01"),
            Some([0x52, 0x54, 0, 0xab, 0xcd, 1])
        );
        for bad in [
            "",
            "52:54:00:ab:cd",
            "52:54:00:ab:cd:01:02",
            "5:54:00:ab:cd:01",
            "zz:54:00:ab:cd:01",
        ] {
            assert_eq!(parse_mac(bad), None, "{bad}");
        }
        assert_eq!(
            format_mac(&[0x52, 0x54, 0, 0xab, 0xcd, 1]),
            "52:54:00:ab:cd:01"
        );
    }
}
