//! What can go wrong talking to a BMC, worded for the BareMetalHost's error message.

use std::time::Duration;

/// A Redfish call's failure.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum Error {
    /// The BMC address cannot be used.
    #[error("BMC address: {0}")]
    Address(String),
    /// No connection (refused, reset, TLS failure).
    #[error("cannot reach the BMC at {base}: {detail}")]
    Unreachable { base: String, detail: String },
    /// No answer in time.
    #[error("the BMC at {base} did not answer {method} {path} within {timeout:?}")]
    Timeout {
        base: String,
        method: String,
        path: String,
        timeout: Duration,
    },
    /// The credentials were refused.
    #[error("the BMC at {base} refused the credentials: {message}")]
    Unauthorized { base: String, message: String },
    /// Any other error status, with the BMC's own reason.
    #[error("the BMC answered {status} to {method} {path}: {message}")]
    Http {
        status: u16,
        method: String,
        path: String,
        message: String,
    },
    /// Too many failures in a row: calls are held back for a while.
    #[error(
        "the BMC at {base} failed {failures} times in a row; calls resume in {retry_in:?} ({last})"
    )]
    CircuitOpen {
        base: String,
        failures: u32,
        retry_in: Duration,
        last: String,
    },
    /// The answer was longer than the client reads (`Config::max_body`); reading stopped there.
    #[error(
        "the BMC at {base} answered {method} {path} with a body over {limit} bytes; reading stopped at the limit"
    )]
    TooLarge {
        base: String,
        method: String,
        path: String,
        limit: usize,
    },
    /// The BMC pointed elsewhere (`3xx`); redirects are not followed, so credentials never
    /// leave the BMC's address.
    #[error(
        "the BMC at {base} redirected {method} {path} to {location:?} ({status}); redirects are not followed, so credentials stay with the BMC's address: give the address it points to"
    )]
    Redirected {
        base: String,
        method: String,
        path: String,
        status: u16,
        location: String,
    },
    /// The answer was not what Redfish says it should be.
    #[error("unexpected answer from the BMC to {path}: {detail}")]
    Decode { path: String, detail: String },
}

impl Error {
    /// Whether trying again later may succeed without anyone changing anything.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Unreachable { .. } | Self::Timeout { .. } | Self::CircuitOpen { .. } => true,
            Self::Http { status, .. } => *status >= 500 || *status == 429,
            Self::Address(_)
            | Self::Unauthorized { .. }
            | Self::Decode { .. }
            | Self::TooLarge { .. }
            | Self::Redirected { .. } => false,
        }
    }

    /// Whether the answer was 404 Not Found.
    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::Http { status: 404, .. })
    }
}

/// The reason a Redfish error body gives (`@Message.ExtendedInfo` first, then `message`).
pub fn reason(body: &serde_json::Value) -> Option<String> {
    let error = body.get("error")?;
    let extended = error
        .get("@Message.ExtendedInfo")
        .and_then(|e| e.as_array())
        .and_then(|items| {
            let texts: Vec<&str> = items
                .iter()
                .filter_map(|i| i.get("Message").and_then(|m| m.as_str()))
                .collect();
            (!texts.is_empty()).then(|| texts.join("; "))
        });
    extended.or_else(|| {
        error
            .get("message")
            .and_then(|m| m.as_str())
            .map(str::to_string)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_bmcs_reason_is_read_from_either_place() {
        let body = json!({"error": {"code": "x", "message": "general",
            "@Message.ExtendedInfo": [{"Message": "disk missing"}, {"Message": "retry"}]}});
        assert_eq!(reason(&body).as_deref(), Some("disk missing; retry"));
        let body = json!({"error": {"message": "general"}});
        assert_eq!(reason(&body).as_deref(), Some("general"));
        assert_eq!(reason(&json!({"Id": "1"})), None);
    }

    #[test]
    fn transient_or_not() {
        let http = |status| Error::Http {
            status,
            method: "GET".into(),
            path: "/".into(),
            message: String::new(),
        };
        assert!(http(503).is_transient());
        assert!(http(429).is_transient());
        assert!(!http(400).is_transient());
        assert!(http(404).is_not_found());
        assert!(
            !Error::Unauthorized {
                base: "b".into(),
                message: "m".into()
            }
            .is_transient()
        );
    }
}
