//! Properties of the Go URL rules on any input: nothing panics, errors name the input as Go
//! does, what parses is consistent, and well-formed URLs come back part for part.

use proptest::prelude::*;

use crate::url::{is_host_port, parse, parse_request_uri, query_value};

/// Strings rich in the characters URL parsing splits on, around any other character.
fn url_soup() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            3 => "[:/@\\[\\]%?#&;=+.\\-]",
            2 => "[a-zA-Z0-9]{1,4}",
            1 => "%[0-9a-fA-FgG]{0,2}",
            1 => any::<char>().prop_map(String::from),
        ],
        0..40,
    )
    .prop_map(|parts| parts.concat())
}

/// What holds of every parsed URL, whatever the input.
fn consistent(raw: &str, result: &Result<crate::url::GoUrl, String>) -> Result<(), TestCaseError> {
    match result {
        Ok(url) => {
            prop_assert_eq!(url.scheme.to_ascii_lowercase(), url.scheme.clone());
            let port = url.port();
            prop_assert!(port.bytes().all(|b| b.is_ascii_digit()), "port {port:?}");
            if !port.is_empty() {
                prop_assert!(url.host.ends_with(&format!(":{port}")), "{url:?}");
            }
            prop_assert!(url.host.contains(url.hostname()), "{url:?}");
        }
        Err(message) => {
            let prefix = format!("parse {raw:?}: ");
            prop_assert!(message.starts_with(&prefix), "{message}");
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn any_string_parses_or_is_refused_by_name(raw in prop_oneof![url_soup(), ".*"]) {
        consistent(&raw, &parse(&raw))?;
        consistent(&raw, &parse_request_uri(&raw))?;
    }

    #[test]
    fn queries_and_host_ports_never_panic(raw in url_soup(), key in "[a-z%+]{0,4}") {
        let _ = query_value(&raw, &key);
        let _ = is_host_port(&raw);
    }

    #[test]
    fn well_formed_urls_come_back_part_for_part(
        scheme in "[a-zA-Z][a-zA-Z0-9+.\\-]{0,8}",
        host in "[a-z0-9][a-z0-9.\\-]{0,20}",
        port in proptest::option::of(0u32..=65535),
        segments in proptest::collection::vec("[a-zA-Z0-9._~\\-]{0,8}", 0..4),
        query in "[a-z0-9=&]{0,12}",
    ) {
        let authority = match port {
            Some(p) => format!("{host}:{p}"),
            None => host.clone(),
        };
        let path: String = segments.iter().map(|s| format!("/{s}")).collect();
        let raw = if query.is_empty() {
            format!("{scheme}://{authority}{path}")
        } else {
            format!("{scheme}://{authority}{path}?{query}")
        };
        for url in [parse(&raw), parse_request_uri(&raw)] {
            let url = url.map_err(TestCaseError::fail)?;
            prop_assert_eq!(&url.scheme, &scheme.to_ascii_lowercase());
            prop_assert_eq!(url.hostname(), host.as_str());
            prop_assert_eq!(url.port(), port.map(|p| p.to_string()).unwrap_or_default());
            prop_assert_eq!(&url.path, &path);
            prop_assert_eq!(&url.raw_query, &query);
            prop_assert!(url.opaque.is_empty());
        }
    }
}
