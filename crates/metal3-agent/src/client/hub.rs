//! The HTTPS client of the operator's agent hub: trusts only the hub's CA from the boot
//! configuration, resolves names without glibc (hickory), and sends each report with the
//! host's bearer token. Errors say what went wrong, never the token.

use std::time::Duration;

use metal3_agent_api::{AgentConfig, REPORT_PATH, Reply, Report, Secret};

/// Why a report did not get an answer.
#[derive(Debug, thiserror::Error)]
pub enum HubError {
    #[error("the hub's CA certificate (hubCaPem) is not usable: {0}")]
    Ca(String),
    #[error("cannot reach the hub at {url}: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("the hub refused this host's token ({status}): {body}")]
    Refused { status: u16, body: String },
    #[error("the hub answered {status}: {body}")]
    Status { status: u16, body: String },
    #[error("the hub's answer is not a reply: {0}")]
    BadReply(String),
}

/// The way to the hub.
pub struct Hub {
    client: reqwest::Client,
    url: String,
    token: Secret,
}

/// The error's chain of causes on one line (reqwest's own message is terse).
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

fn shorten(body: &str) -> String {
    let body = body.trim();
    match body.char_indices().nth(300) {
        Some((i, _)) => format!("{}…", &body[..i]),
        None => body.to_string(),
    }
}

impl Hub {
    /// A client for the hub `config` names.
    pub fn new(config: &AgentConfig) -> Result<Self, HubError> {
        let certs = reqwest::Certificate::from_pem_bundle(config.hub_ca_pem.as_bytes())
            .map_err(|e| HubError::Ca(chain(&e)))?;
        if certs.is_empty() {
            return Err(HubError::Ca("no certificate in it".into()));
        }
        let mut builder = reqwest::Client::builder()
            .use_rustls_tls()
            .tls_built_in_root_certs(false)
            .hickory_dns(true)
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(30))
            .user_agent(concat!("metal3-agent/", env!("CARGO_PKG_VERSION")));
        for cert in certs {
            builder = builder.add_root_certificate(cert);
        }
        let client = builder.build().map_err(|e| HubError::Ca(chain(&e)))?;
        Ok(Self {
            client,
            url: format!("{}{REPORT_PATH}", config.hub_url.trim_end_matches('/')),
            token: config.token.clone(),
        })
    }

    /// Sends `report`; the hub's reply.
    pub async fn report(&self, report: &Report) -> Result<Reply, HubError> {
        let response = self
            .client
            .post(&self.url)
            .bearer_auth(self.token.expose())
            .json(report)
            .send()
            .await
            .map_err(|e| HubError::Unreachable {
                url: self.url.clone(),
                reason: chain(&e),
            })?;
        let status = response.status();
        let body = response.text().await.map_err(|e| HubError::Unreachable {
            url: self.url.clone(),
            reason: chain(&e),
        })?;
        if status == reqwest::StatusCode::UNAUTHORIZED || status == reqwest::StatusCode::FORBIDDEN {
            return Err(HubError::Refused {
                status: status.as_u16(),
                body: shorten(&body),
            });
        }
        if !status.is_success() {
            return Err(HubError::Status {
                status: status.as_u16(),
                body: shorten(&body),
            });
        }
        serde_json::from_str(&body).map_err(|e| HubError::BadReply(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_config_without_a_usable_ca_is_refused() {
        let config = AgentConfig {
            hub_url: "https://127.0.0.1:1".into(),
            hub_ca_pem: "not a certificate".into(),
            ..AgentConfig::default()
        };
        let err = Hub::new(&config).err().expect("refused");
        assert!(err.to_string().contains("hubCaPem"), "{err}");
    }

    #[test]
    fn long_bodies_are_shortened() {
        assert_eq!(shorten("  short \n"), "short");
        let long = "x".repeat(1000);
        assert_eq!(shorten(&long).chars().count(), 301);
    }
}
