//! Go's URL parsing (`net/url`), reproduced where Metal³ must accept and reject exactly what
//! upstream's Go code does: [`parse`] is `url.Parse` (BMC addresses), [`parse_request_uri`] is
//! `url.ParseRequestURI` (image, firmware and event-destination URLs in the admission rules).
//! Upstream's verdicts depend on Go's exact rules (opaque URLs, which characters a host may
//! hold, when a port is valid, percent escapes), so we reproduce those rules rather than use a
//! WHATWG URL parser, which accepts and normalises different inputs. Pure, no I/O.

/// A parsed URL, with the fields upstream reads.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GoUrl {
    /// Lower-cased scheme, empty when there is none.
    pub scheme: String,
    /// What follows `scheme:` when it does not start with `/` (`ipmi:10.0.0.1`).
    pub opaque: String,
    /// `host[:port]` as written, brackets included.
    pub host: String,
    /// Percent-decoded path.
    pub path: String,
    /// The query without `?`.
    pub raw_query: String,
}

impl GoUrl {
    /// Host without port and without IPv6 brackets (Go's `URL.Hostname`).
    pub fn hostname(&self) -> &str {
        let (host, _) = split_host_port(&self.host);
        host.strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host)
    }

    /// The port, empty when there is none (Go's `URL.Port`).
    pub fn port(&self) -> &str {
        split_host_port(&self.host).1
    }
}

/// Go's `url.splitHostPort`: splits off a trailing `:digits` (or a lone `:`).
fn split_host_port(host_port: &str) -> (&str, &str) {
    match host_port.rfind(':') {
        Some(colon) if valid_optional_port(&host_port[colon..]) => {
            (&host_port[..colon], &host_port[colon + 1..])
        }
        _ => (host_port, ""),
    }
}

fn valid_optional_port(port: &str) -> bool {
    match port.strip_prefix(':') {
        None => port.is_empty(),
        Some(digits) => digits.bytes().all(|b| b.is_ascii_digit()),
    }
}

/// Go's `url.Parse`: an absolute URL or a relative reference, with an optional `#fragment`.
/// The error text is what Go prints: `parse "<input>": <reason>`.
pub fn parse(raw: &str) -> Result<GoUrl, String> {
    parse_reference(raw).map_err(|reason| format!("parse {raw:?}: {reason}"))
}

/// Go's `url.ParseRequestURI`: `raw` must be an absolute URI (`scheme:…`) or an absolute path,
/// and has no fragment (a `#` is part of the path or host). The error text is what Go prints:
/// `parse "<input>": <reason>`.
pub fn parse_request_uri(raw: &str) -> Result<GoUrl, String> {
    parse_uri(raw, true).map_err(|reason| format!("parse {raw:?}: {reason}"))
}

/// Go's `url.Parse` without the error wrapping: the fragment is cut off first.
fn parse_reference(raw: &str) -> Result<GoUrl, String> {
    let (raw, fragment) = match raw.split_once('#') {
        Some((before, after)) => (before, Some(after)),
        None => (raw, None),
    };
    if let Some(fragment) = fragment {
        unescape(fragment, Mode::Fragment)?;
    }
    parse_uri(raw, false)
}

/// Go's `url.parse`: the common core of [`parse`] and [`parse_request_uri`], the latter with
/// `via_request` (no empty input, no relative references).
fn parse_uri(raw: &str, via_request: bool) -> Result<GoUrl, String> {
    if raw.bytes().any(|b| b < 0x20 || b == 0x7f) {
        return Err("net/url: invalid control character in URL".into());
    }
    if raw.is_empty() && via_request {
        return Err("empty url".into());
    }
    let mut url = GoUrl::default();
    if raw.is_empty() || raw == "*" {
        url.path = raw.to_string();
        return Ok(url);
    }
    let (scheme, rest) = scheme_of(raw)?;
    url.scheme = scheme.to_ascii_lowercase();
    let rest = if rest.ends_with('?') && rest.matches('?').count() == 1 {
        &rest[..rest.len() - 1]
    } else if let Some((before, query)) = rest.split_once('?') {
        url.raw_query = query.to_string();
        before
    } else {
        rest
    };
    if !rest.starts_with('/') {
        if !url.scheme.is_empty() {
            url.opaque = rest.to_string();
            return Ok(url);
        }
        if via_request {
            return Err("invalid URI for request".into());
        }
        let first_segment = rest.split('/').next().unwrap_or_default();
        if first_segment.contains(':') {
            return Err("first path segment in URL cannot contain colon".into());
        }
    }
    let mut rest = rest;
    let authority_allowed = !url.scheme.is_empty() || (!via_request && !rest.starts_with("///"));
    if authority_allowed && rest.starts_with("//") {
        let after = &rest[2..];
        let (authority, path) = match after.find('/') {
            Some(i) => (&after[..i], &after[i..]),
            None => (after, ""),
        };
        url.host = parse_authority(authority)?;
        rest = path;
    }
    url.path = unescape(rest, Mode::Path)?;
    Ok(url)
}

/// Go's `getScheme`: a scheme is a letter followed by letters, digits, `+`, `-` or `.`, then
/// `:`. Anything else means there is no scheme at all.
fn scheme_of(raw: &str) -> Result<(&str, &str), String> {
    for (i, c) in raw.char_indices() {
        match c {
            'a'..='z' | 'A'..='Z' => {}
            '0'..='9' | '+' | '-' | '.' if i > 0 => {}
            ':' if i == 0 => return Err("missing protocol scheme".into()),
            ':' => return Ok((&raw[..i], &raw[i + 1..])),
            _ => return Ok(("", raw)),
        }
    }
    Ok(("", raw))
}

fn parse_authority(authority: &str) -> Result<String, String> {
    let (userinfo, host) = match authority.rfind('@') {
        Some(at) => (Some(&authority[..at]), &authority[at + 1..]),
        None => (None, authority),
    };
    let host = parse_host(host)?;
    if let Some(userinfo) = userinfo {
        let valid = userinfo
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-._:~!$&'()*+,;=%@".contains(c));
        if !valid {
            return Err("net/url: invalid userinfo".into());
        }
        unescape(userinfo, Mode::UserInfo)?;
    }
    Ok(host)
}

fn parse_host(host: &str) -> Result<String, String> {
    if host.starts_with('[') {
        let Some(close) = host.rfind(']') else {
            return Err("missing ']' in host".into());
        };
        let after = &host[close + 1..];
        if !valid_optional_port(after) {
            return Err(format!("invalid port {after:?} after host"));
        }
        let literal = &host[1..close];
        let address = literal.split("%25").next().unwrap_or_default();
        if address.parse::<std::net::Ipv6Addr>().is_err() {
            return Err(format!("invalid host: {address:?} is not an IPv6 address"));
        }
    } else if let Some(colon) = host.rfind(':') {
        let port = &host[colon..];
        if !valid_optional_port(port) {
            return Err(format!("invalid port {port:?} after host"));
        }
    }
    unescape(host, Mode::Host)?;
    Ok(host.to_string())
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Host,
    Path,
    UserInfo,
    Fragment,
    Query,
}

/// Go's `unescape`: percent-decoding with Go's per-component rules and errors.
fn unescape(s: &str, mode: Mode) -> Result<String, String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let escape = || {
                    let end = (i + 3).min(bytes.len());
                    format!(
                        "invalid URL escape {:?}",
                        String::from_utf8_lossy(&bytes[i..end])
                    )
                };
                let (Some(hi), Some(lo)) = (
                    bytes.get(i + 1).and_then(|b| hex(*b)),
                    bytes.get(i + 2).and_then(|b| hex(*b)),
                ) else {
                    return Err(escape());
                };
                if mode == Mode::Host && hi < 8 && &bytes[i..i + 3] != b"%25" {
                    return Err(escape());
                }
                out.push(hi << 4 | lo);
                i += 3;
            }
            b'+' if mode == Mode::Query => {
                out.push(b' ');
                i += 1;
            }
            b if mode == Mode::Host && b < 0x80 && !host_char(b) => {
                return Err(format!(
                    "invalid character {:?} in host name",
                    char::from(b).to_string()
                ));
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// Characters Go lets stand unescaped in a host.
fn host_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-_.~!$&'()*+,;=:[]<>\"".contains(&b)
}

fn hex(b: u8) -> Option<u8> {
    char::from(b)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

/// Go's `url.ParseQuery`, returning the first value of `key`, or `None` when the key is absent
/// or the query does not parse.
pub(crate) fn query_value(raw_query: &str, key: &str) -> Option<String> {
    let mut found = None;
    for pair in raw_query.split('&').filter(|p| !p.is_empty()) {
        if pair.contains(';') {
            return None;
        }
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let k = unescape(k, Mode::Query).ok()?;
        let v = unescape(v, Mode::Query).ok()?;
        if k == key && found.is_none() {
            found = Some(v);
        }
    }
    found
}

/// Go's `net.SplitHostPort`, reduced to whether it succeeds.
pub(crate) fn is_host_port(host_port: &str) -> bool {
    let Some(last_colon) = host_port.rfind(':') else {
        return false;
    };
    let host = if let Some(inner) = host_port.strip_prefix('[') {
        let Some(close) = inner.find(']') else {
            return false;
        };
        // `]` (at `close + 1` in `host_port`) must be followed directly by the last colon.
        if last_colon != close + 2 {
            return false;
        }
        &inner[..close]
    } else {
        let host = &host_port[..last_colon];
        if host.contains(':') {
            return false;
        }
        host
    };
    !host.contains(['[', ']']) && !host_port[last_colon + 1..].contains(['[', ']'])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_like_go() {
        let u = parse("libvirt://192.168.122.1:6233/?abc=def").expect("parses");
        assert_eq!(u.scheme, "libvirt");
        assert_eq!(u.host, "192.168.122.1:6233");
        assert_eq!(u.hostname(), "192.168.122.1");
        assert_eq!(u.port(), "6233");
        assert_eq!(u.path, "/");
        assert_eq!(u.raw_query, "abc=def");

        let u = parse("ipmi:192.168.122.1").expect("parses");
        assert_eq!(
            (u.scheme.as_str(), u.opaque.as_str()),
            ("ipmi", "192.168.122.1")
        );

        let u = parse("REDFISH://[fe80::1]:8000/redfish/v1/Systems/1").expect("parses");
        assert_eq!(u.scheme, "redfish");
        assert_eq!(u.hostname(), "fe80::1");
        assert_eq!(u.port(), "8000");
        assert_eq!(u.path, "/redfish/v1/Systems/1");

        let u = parse("my.bmc.example.com").expect("parses");
        assert_eq!(
            (u.scheme.as_str(), u.path.as_str()),
            ("", "my.bmc.example.com")
        );

        let u = parse("redfish://h/a%20b").expect("parses");
        assert_eq!(u.path, "/a b");
    }

    #[test]
    fn errors_like_go() {
        let cases = [
            (
                "192.168.122.1:6233",
                "first path segment in URL cannot contain colon",
            ),
            (":6233", "missing protocol scheme"),
            ("ipmi://[@]host.example.com", "net/url: invalid userinfo"),
            ("ipmi://[fe80::1", "missing ']' in host"),
            ("ipmi://[fe80::1]x", "invalid port \"x\" after host"),
            ("ipmi://h:abc", "invalid port \":abc\" after host"),
            ("ipmi://[fe80::zz]:1", "is not an IPv6 address"),
            ("ipmi://a b", "invalid character \" \" in host name"),
            ("ipmi://h/%zz", "invalid URL escape \"%zz\""),
            ("ipmi://h\u{1}", "invalid control character in URL"),
        ];
        for (input, reason) in cases {
            let err = parse(input).expect_err(input);
            assert!(err.starts_with(&format!("parse {input:?}: ")), "{err}");
            assert!(err.ends_with(reason), "{input}: {err}");
        }
    }

    #[test]
    fn request_uris_as_go_parses_them() {
        for ok in [
            "http://images/os.img",
            "https://a.b:8080/x?y",
            "file:///var/img",
            "oci://quay.io/x:1",
            "/abs/path",
        ] {
            assert!(parse_request_uri(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "relative/path",
            "http://bad host/x",
            "1http://x",
            "http://x/\u{7}",
        ] {
            assert!(parse_request_uri(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn request_uri_paths() {
        let path = |s: &str| parse_request_uri(s).map(|u| u.path);
        assert_eq!(path("http://example.com"), Ok(String::new()));
        assert_eq!(path("http://example.com/"), Ok("/".into()));
        assert_eq!(
            path("https://example.com:8443/events?x=1"),
            Ok("/events".into())
        );
        assert_eq!(path("/only/path"), Ok("/only/path".into()));
    }

    #[test]
    fn request_uris_differ_from_references_as_in_go() {
        // No fragment in a request URI: `#` stays in the path, and is refused in a host.
        assert_eq!(
            parse_request_uri("http://h/a#b").map(|u| u.path),
            Ok("/a#b".into())
        );
        assert!(parse("http://h#b").is_ok());
        assert!(parse_request_uri("http://h#b").is_err());
        // Relative references and empty input parse as URLs, not as request URIs.
        assert!(parse("").is_ok());
        assert_eq!(
            parse_request_uri(""),
            Err("parse \"\": empty url".to_string())
        );
        assert_eq!(
            parse_request_uri("test1"),
            Err("parse \"test1\": invalid URI for request".to_string())
        );
        // `//host/path` without a scheme is a path for a request.
        assert_eq!(
            parse_request_uri("//h/p").map(|u| (u.host, u.path)),
            Ok((String::new(), "//h/p".into()))
        );
        assert_eq!(parse("//h/p").map(|u| u.host), Ok("h".into()));
    }

    #[test]
    fn host_port_split() {
        for yes in [
            "192.168.122.1:6233",
            "[fe80::1]:623",
            "host:",
            ":623",
            "h:p",
        ] {
            assert!(is_host_port(yes), "{yes}");
        }
        for no in [
            "host",
            "[fe80::1]",
            "fe80::1:623",
            "[fe80::1]x:623",
            "[fe80::1]:6:23",
            "a]:1",
        ] {
            assert!(!is_host_port(no), "{no}");
        }
    }

    #[test]
    fn queries() {
        assert_eq!(
            query_value("privilegelevel=OPERATOR", "privilegelevel").as_deref(),
            Some("OPERATOR")
        );
        assert_eq!(
            query_value("a=1&privilegelevel=USER&privilegelevel=X", "privilegelevel").as_deref(),
            Some("USER")
        );
        assert_eq!(
            query_value("privilegelevel=a+b%21", "privilegelevel").as_deref(),
            Some("a b!")
        );
        assert_eq!(query_value("privilegelevel=x;y", "privilegelevel"), None);
        assert_eq!(query_value("privilegelevel=%zz", "privilegelevel"), None);
        assert_eq!(query_value("other=1", "privilegelevel"), None);
    }
}
