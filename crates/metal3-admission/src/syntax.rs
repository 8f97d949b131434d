//! Small syntax checks the upstream webhooks get from Go's standard library, reproduced so that
//! the same inputs are accepted and rejected: URLs of images (`url.ParseRequestURI`, whose one
//! copy is [`metal3_bmc::url`]), MAC addresses (`net.ParseMAC`) and UUIDs (`uuid.Parse`).

use metal3_bmc::url::parse_request_uri;

/// URL schemes accepted for images and data images.
pub const ALLOWED_URL_SCHEMES: &[&str] = &["http", "https", "ftp", "gopher", "oci"];

/// Checks `input` the way upstream's `validateURL` does: it must parse as an absolute request
/// URI (Go's `url.ParseRequestURI`, [`metal3_bmc::url::parse_request_uri`]) and use one of
/// [`ALLOWED_URL_SCHEMES`]. The error says what is wrong.
pub fn check_url(input: &str) -> Result<(), String> {
    let scheme = parse_request_uri(input)?.scheme;
    if !ALLOWED_URL_SCHEMES.contains(&scheme.as_str()) {
        return Err(format!("invalid scheme in URL, \"{scheme}\" not allowed"));
    }
    Ok(())
}

/// Checks a hardware address the way Go's `net.ParseMAC` does: 6, 8 or 20 octets written as
/// `xx:xx:…`, `xx-xx-…` or `xxxx.xxxx.…`.
pub fn check_mac(input: &str) -> Result<(), String> {
    let invalid = || Err(format!("address {input}: invalid MAC address"));
    let groups: Vec<&str> = if input.contains(':') {
        input.split(':').collect()
    } else if input.contains('-') {
        input.split('-').collect()
    } else if input.contains('.') {
        input.split('.').collect()
    } else {
        return invalid();
    };
    let dotted = !input.contains(':') && !input.contains('-');
    let width = if dotted { 4 } else { 2 };
    let octets = groups.len() * width / 2;
    if !matches!(octets, 6 | 8 | 20)
        || !groups
            .iter()
            .all(|g| g.len() == width && g.chars().all(|c| c.is_ascii_hexdigit()))
    {
        return invalid();
    }
    Ok(())
}

/// Whether `input` is six colon-separated pairs of hex digits (the CRD schemas' pattern for switch
/// MACs; stricter than [`check_mac`]).
pub fn is_colon_mac(input: &str) -> bool {
    let parts: Vec<&str> = input.split(':').collect();
    parts.len() == 6
        && parts
            .iter()
            .all(|p| p.len() == 2 && p.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// True when `input` is a UUID in any form Go's `uuid.Parse` accepts: dashed, 32 hex digits,
/// in braces, or with a `urn:uuid:` prefix.
pub fn is_uuid(input: &str) -> bool {
    let dashed = |s: &str| {
        s.len() == 36
            && s.char_indices().all(|(i, c)| {
                if matches!(i, 8 | 13 | 18 | 23) {
                    c == '-'
                } else {
                    c.is_ascii_hexdigit()
                }
            })
    };
    let lower = input.to_ascii_lowercase();
    if let Some(rest) = lower.strip_prefix("urn:uuid:") {
        return dashed(rest);
    }
    if let Some(inner) = input.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
        return dashed(inner);
    }
    dashed(input) || (input.len() == 32 && input.chars().all(|c| c.is_ascii_hexdigit()))
}

/// Checks a label key as Kubernetes' `IsQualifiedName` does: an optional DNS-1123 subdomain
/// prefix and `/`, then a name of at most 63 letters, digits, `-`, `_` or `.`, alphanumeric at
/// both ends.
pub fn check_qualified_name(key: &str) -> Result<(), String> {
    let (prefix, name) = match key.split_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, key),
    };
    if let Some(prefix) = prefix {
        let part_ok = |p: &str| {
            !p.is_empty()
                && p.len() <= 63
                && p.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !p.starts_with('-')
                && !p.ends_with('-')
        };
        if prefix.is_empty() || prefix.len() > 253 || !prefix.split('.').all(part_ok) {
            return Err(format!(
                "prefix part of {key:?} must be a DNS subdomain: lowercase letters, digits, '-' \
                 and '.', at most 253 characters"
            ));
        }
    }
    if name.is_empty() {
        return Err(format!("name part of {key:?} must not be empty"));
    }
    check_label_value(name).map_err(|_| {
        format!(
            "name part of {key:?} must be at most 63 letters, digits, '-', '_' or '.', starting \
             and ending with a letter or digit"
        )
    })
}

/// Checks a label value as Kubernetes' `IsValidLabelValue` does: empty, or at most 63
/// letters, digits, `-`, `_` or `.`, alphanumeric at both ends.
pub fn check_label_value(value: &str) -> Result<(), String> {
    let ends = |b: Option<&u8>| b.is_some_and(u8::is_ascii_alphanumeric);
    if value.is_empty()
        || (value.len() <= 63
            && value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
            && ends(value.as_bytes().first())
            && ends(value.as_bytes().last()))
    {
        return Ok(());
    }
    Err(format!(
        "label value {value:?} must be empty or at most 63 letters, digits, '-', '_' or '.', \
         starting and ending with a letter or digit"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        for ok in [
            "http://example.com/os.qcow2",
            "https://user:pass@example.com:8080/a/b?x=1",
            "ftp://example.com/file",
            "oci://quay.io/org/image:tag",
            "HTTP://EXAMPLE.COM/",
            "http://[fd00::1]:8080/img",
            "http://192.168.0.1/img",
        ] {
            assert_eq!(check_url(ok), Ok(()), "{ok}");
        }
        let cases = [
            ("", "parse \"\": empty url"),
            ("test1", "parse \"test1\": invalid URI for request"),
            ("abc", "invalid URI for request"),
            (
                "unix://example.com",
                "invalid scheme in URL, \"unix\" not allowed",
            ),
            (
                "file:///etc/passwd",
                "invalid scheme in URL, \"file\" not allowed",
            ),
            ("/just/a/path", "invalid scheme in URL, \"\" not allowed"),
            (":foo", "missing protocol scheme"),
            (
                "mailto:someone@example.com",
                "invalid scheme in URL, \"mailto\" not allowed",
            ),
            ("1http://example.com", "invalid URI for request"),
            ("http://exa mple.com/", "invalid character"),
            ("http://example.com:80a/", "invalid port"),
            ("http://[fe80::1/", "missing ']'"),
            ("http://[fe80::zz]/", "not an IPv6 address"),
            ("http://ex\u{7f}ample/", "invalid control character"),
            ("http://a b@example.com/", "invalid userinfo"),
        ];
        for (input, message) in cases {
            let err = check_url(input).expect_err(input);
            assert!(err.contains(message), "{input}: {err}");
        }
    }

    #[test]
    fn macs() {
        for ok in [
            "00:11:22:33:44:55",
            "AA-BB-CC-DD-EE-FF",
            "0011.2233.4455",
            "00:11:22:33:44:55:66:77",
            "00:00:00:00:fe:80:00:00:00:00:00:00:02:00:5e:10:00:00:00:01",
        ] {
            assert_eq!(check_mac(ok), Ok(()), "{ok}");
        }
        for bad in [
            "",
            "00:00:00:00:00",
            "00:11:22:33:44:5g",
            "001122334455",
            "0:1:2:3:4:5",
            "00:11-22:33:44:55",
        ] {
            assert_eq!(
                check_mac(bad),
                Err(format!("address {bad}: invalid MAC address")),
                "{bad}"
            );
        }
    }

    #[test]
    fn uuids() {
        for yes in [
            "0f3c7c5c-9d1e-4bd6-bb59-7d1c3a4d2f10",
            "0F3C7C5C-9D1E-4BD6-BB59-7D1C3A4D2F10",
            "0f3c7c5c9d1e4bd6bb597d1c3a4d2f10",
            "{0f3c7c5c-9d1e-4bd6-bb59-7d1c3a4d2f10}",
            "urn:uuid:0f3c7c5c-9d1e-4bd6-bb59-7d1c3a4d2f10",
        ] {
            assert!(is_uuid(yes), "{yes}");
        }
        for no in [
            "worker-0",
            "0f3c7c5c-9d1e-4bd6-bb59-7d1c3a4d2f1",
            "0f3c7c5c_9d1e_4bd6_bb59_7d1c3a4d2f10",
            "",
        ] {
            assert!(!is_uuid(no), "{no}");
        }
    }

    #[test]
    fn label_keys_and_values() {
        for ok in ["app", "metal3.io/tier", "a-b_c.d", "x/Y9"] {
            assert!(check_qualified_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", "-a", "a/", "/a", "Upper.io/a", "a/b/c", &"k".repeat(64)] {
            assert!(check_qualified_name(bad).is_err(), "{bad}");
        }
        for ok in ["", "gold", "a.b-c_d", &"v".repeat(63)] {
            assert!(check_label_value(ok).is_ok(), "{ok}");
        }
        for bad in ["-a", "a-", "a b", &"v".repeat(64)] {
            assert!(check_label_value(bad).is_err(), "{bad}");
        }
    }
}
