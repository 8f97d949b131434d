//! Admission rules for BMCEventSubscription.

use metal3_api::v1alpha1::BMCEventSubscription;

use metal3_bmc::url::parse_request_uri;

use crate::FieldError;

/// Validates a BMCEventSubscription on create (`old` is `None`) or update. Subscriptions are
/// immutable: the BMC holds them, so a change means deleting and creating again.
pub fn validate_bmceventsubscription(
    new: &BMCEventSubscription,
    old: Option<&BMCEventSubscription>,
) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let spec = &new.spec;
    if spec.host_name.as_deref().unwrap_or("").is_empty() {
        errors.push(FieldError::new(
            "spec.hostName",
            "hostName cannot be empty: name the BareMetalHost whose BMC sends the events",
        ));
    }
    if let Some(headers) = &spec.http_headers_ref {
        let namespace = new.metadata.namespace.as_deref().unwrap_or("");
        if headers.namespace.as_deref().unwrap_or("") != namespace {
            errors.push(FieldError::new(
                "spec.httpHeadersRef.namespace",
                format!(
                    "httpHeadersRef secret must be in the same namespace as the \
                     BMCEventSubscription (set it to {namespace:?})"
                ),
            ));
        }
    }
    match spec.destination.as_deref().unwrap_or("") {
        "" => errors.push(FieldError::new(
            "spec.destination",
            "destination cannot be empty",
        )),
        destination => match parse_request_uri(destination) {
            Err(e) => errors.push(FieldError::new(
                "spec.destination",
                format!("destination is invalid: {e}"),
            )),
            Ok(url) if url.path.is_empty() => errors.push(FieldError::new(
                "spec.destination",
                format!("hostname-only destination must have a trailing slash ({destination}/)"),
            )),
            Ok(_) => {}
        },
    }
    if let Some(old) = old
        && old.spec != new.spec
    {
        errors.push(FieldError::new(
            "spec",
            "subscriptions cannot be updated, please recreate it",
        ));
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;
    use metal3_api::v1alpha1::{BMCEventSubscriptionSpec, SecretReference};

    fn subscription(destination: &str) -> BMCEventSubscription {
        let mut s = BMCEventSubscription::new(
            "events",
            BMCEventSubscriptionSpec {
                host_name: Some("worker-0".into()),
                destination: Some(destination.into()),
                context: Some("ctx".into()),
                http_headers_ref: None,
            },
        );
        s.metadata.namespace = Some("metal3".into());
        s
    }

    fn fields(errors: &[FieldError]) -> Vec<&str> {
        errors.iter().map(|e| e.field.as_str()).collect()
    }

    #[test]
    fn destinations() {
        for ok in [
            "https://events.example.com/",
            "http://10.0.0.1:8080/hooks/bmc",
            "https://[fd00::1]/",
        ] {
            assert!(
                validate_bmceventsubscription(&subscription(ok), None).is_empty(),
                "{ok}"
            );
        }
        let cases = [
            ("", "destination cannot be empty"),
            (
                "https://events.example.com",
                "hostname-only destination must have a trailing slash",
            ),
            ("not a url", "destination is invalid"),
            ("events.example.com/path", "destination is invalid"),
        ];
        for (destination, message) in cases {
            let errors = validate_bmceventsubscription(&subscription(destination), None);
            assert_eq!(fields(&errors), ["spec.destination"], "{destination}");
            assert!(
                errors[0].message.contains(message),
                "{destination}: {errors:?}"
            );
        }
    }

    #[test]
    fn host_name_is_required() {
        let mut s = subscription("https://e.example.com/");
        s.spec.host_name = None;
        let errors = validate_bmceventsubscription(&s, None);
        assert_eq!(fields(&errors), ["spec.hostName"]);
        assert!(errors[0].message.starts_with("hostName cannot be empty"));
    }

    #[test]
    fn headers_secret_must_be_in_the_same_namespace() {
        let mut s = subscription("https://e.example.com/");
        for (namespace, valid) in [
            (Some("metal3"), true),
            (Some("other"), false),
            (None, false),
        ] {
            s.spec.http_headers_ref = Some(SecretReference {
                name: Some("headers".into()),
                namespace: namespace.map(Into::into),
            });
            let errors = validate_bmceventsubscription(&s, None);
            assert_eq!(errors.is_empty(), valid, "{namespace:?}: {errors:?}");
            if !valid {
                assert!(errors[0].message.contains("must be in the same namespace"));
            }
        }
    }

    #[test]
    fn spec_is_immutable() {
        let old = subscription("https://e.example.com/");
        assert!(validate_bmceventsubscription(&old.clone(), Some(&old)).is_empty());
        let mut relabelled = old.clone();
        relabelled.metadata.labels = Some([("team".to_string(), "a".to_string())].into());
        assert!(validate_bmceventsubscription(&relabelled, Some(&old)).is_empty());
        let changed = subscription("https://other.example.com/");
        let errors = validate_bmceventsubscription(&changed, Some(&old));
        assert_eq!(fields(&errors), ["spec"]);
        assert_eq!(
            errors[0].message,
            "subscriptions cannot be updated, please recreate it"
        );
    }
}
