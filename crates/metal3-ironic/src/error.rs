//! Errors of Ironic requests, carrying Ironic's own message (never a credential).

use serde_json::Value;

/// Why an Ironic request failed.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum Error {
    /// Ironic could not be reached (connection refused, timeout, TLS failure).
    #[error("cannot reach Ironic at {endpoint}: {reason}")]
    Unreachable { endpoint: String, reason: String },
    /// Ironic's API is older than we need.
    #[error("Ironic at {endpoint} offers API version up to {max}; at least {min} is needed")]
    TooOld {
        endpoint: String,
        max: String,
        min: String,
    },
    /// The node is locked by an operation in progress (HTTP 409), still after retries.
    #[error("node is busy in Ironic: {0}")]
    Locked(String),
    /// The resource does not exist (HTTP 404).
    #[error("not found in Ironic: {0}")]
    NotFound(String),
    /// Any other refusal, with the HTTP status and Ironic's message.
    #[error("Ironic refused the request (HTTP {status}): {message}")]
    Refused { status: u16, message: String },
    /// A reply we could not read.
    #[error("unexpected reply from Ironic: {0}")]
    Decode(String),
}

impl Error {
    /// Whether trying again later can help without any change on our side.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Unreachable { .. } | Self::Locked(_) => true,
            Self::Refused { status, .. } => *status >= 500,
            _ => false,
        }
    }

    /// Whether this is a conflict with an existing object (HTTP 409 that is not a lock).
    pub fn is_conflict(&self) -> bool {
        matches!(self, Self::Refused { status: 409, .. })
    }

    /// Ironic's message (or our description) without the HTTP framing.
    pub fn message(&self) -> String {
        match self {
            Self::Refused { message, .. } | Self::Locked(message) | Self::NotFound(message) => {
                message.clone()
            }
            other => other.to_string(),
        }
    }
}

/// Ironic's message from an error body: `{"error_message": "<JSON with faultstring>"}` (the
/// inner document is itself JSON text), or the body itself when it is not in that shape.
pub fn message_of(body: &str) -> String {
    let outer: Option<Value> = serde_json::from_str(body).ok();
    let inner = outer.as_ref().and_then(|v| v.get("error_message"));
    let text = match inner {
        Some(Value::String(s)) => match serde_json::from_str::<Value>(s) {
            Ok(v) => v
                .get("faultstring")
                .and_then(Value::as_str)
                .map(str::to_string)
                .unwrap_or_else(|| s.clone()),
            Err(_) => s.clone(),
        },
        Some(v) => v
            .get("faultstring")
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| v.to_string()),
        None => body.trim().to_string(),
    };
    let text = text.trim();
    if text.is_empty() {
        "(no message)".into()
    } else {
        text.chars().take(2000).collect()
    }
}

/// Whether a 409 says the node is locked (try again) rather than a real conflict.
pub fn is_lock_message(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.contains("locked") || m.contains("please retry")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_ironic_error_bodies() {
        let body = r#"{"error_message": "{\"faultstring\": \"Node abc could not be found.\", \"debuginfo\": null, \"faultcode\": \"Client\"}"}"#;
        assert_eq!(message_of(body), "Node abc could not be found.");
        let body = r#"{"error_message": {"faultstring": "bad", "faultcode": "Client"}}"#;
        assert_eq!(message_of(body), "bad");
        assert_eq!(message_of("plain text\n"), "plain text");
        assert_eq!(message_of(""), "(no message)");
        assert_eq!(message_of(r#"{"error_message": "not json"}"#), "not json");
    }

    #[test]
    fn tells_locks_from_conflicts() {
        assert!(is_lock_message(
            "Node 1be26c0b is locked by host localhost, please retry after the current operation is completed."
        ));
        assert!(!is_lock_message(
            "A port with MAC address 52:54:00:00:00:01 already exists."
        ));
    }

    #[test]
    fn transient_errors() {
        assert!(
            Error::Unreachable {
                endpoint: "x".into(),
                reason: "refused".into()
            }
            .is_transient()
        );
        assert!(Error::Locked("l".into()).is_transient());
        assert!(
            Error::Refused {
                status: 503,
                message: "m".into()
            }
            .is_transient()
        );
        assert!(
            !Error::Refused {
                status: 400,
                message: "m".into()
            }
            .is_transient()
        );
        assert!(
            Error::Refused {
                status: 409,
                message: "exists".into()
            }
            .is_conflict()
        );
    }
}
