//! The BareMetalHost → Node label sync, decided: the prefixes a Metal3Cluster's
//! `metal3.io/metal3-label-sync-prefixes` annotation lists, and the change of a workload Node's
//! labels that makes those under the prefixes mirror its host's (added, updated, removed),
//! leaving every other label alone.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value, json};

/// A prefix in the annotation is not a DNS subdomain.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("label sync prefix {prefix:?} in annotation {annotation} is not a DNS subdomain")]
pub struct PrefixError {
    /// The offending prefix.
    pub prefix: String,
    /// The annotation it was read from.
    pub annotation: &'static str,
}

/// The prefixes of an annotation value: comma-separated, blanks around them ignored, empty
/// entries skipped; each must be a DNS subdomain (as label key prefixes are).
pub fn parse_prefixes(value: &str) -> Result<BTreeSet<String>, PrefixError> {
    value
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| {
            if crate::selector::is_dns_subdomain(p) {
                Ok(p.to_string())
            } else {
                Err(PrefixError {
                    prefix: p.to_string(),
                    annotation: metal3_capm3_api::consts::LABEL_SYNC_PREFIXES_ANNOTATION,
                })
            }
        })
        .collect()
}

/// The prefix of a label key (the part before `/`), `None` for a key without one.
pub fn key_prefix(key: &str) -> Option<&str> {
    key.split_once('/').map(|(prefix, _)| prefix)
}

/// Whether `key` is one the sync owns: its prefix is one of `prefixes`.
pub fn synced(prefixes: &BTreeSet<String>, key: &str) -> bool {
    key_prefix(key).is_some_and(|p| prefixes.contains(p))
}

/// The change of a Node's labels that makes its synced labels equal its host's: `Some(value)`
/// for a label to set, `None` for one to remove. Empty when the Node is in sync.
pub fn node_label_changes(
    prefixes: &BTreeSet<String>,
    host: &BTreeMap<String, String>,
    node: &BTreeMap<String, String>,
) -> BTreeMap<String, Option<String>> {
    let set = host
        .iter()
        .filter(|(k, v)| synced(prefixes, k) && node.get(*k) != Some(*v))
        .map(|(k, v)| (k.clone(), Some(v.clone())));
    let removed = node
        .keys()
        .filter(|k| synced(prefixes, k) && !host.contains_key(*k))
        .map(|k| (k.clone(), None));
    set.chain(removed).collect()
}

/// The JSON merge patch (RFC 7386) of a Node applying `changes` (`null` removes a label);
/// `None` when there is nothing to change.
pub fn merge_patch(changes: &BTreeMap<String, Option<String>>) -> Option<Value> {
    if changes.is_empty() {
        return None;
    }
    let labels: Map<String, Value> = changes
        .iter()
        .map(|(k, v)| (k.clone(), v.clone().map_or(Value::Null, Value::String)))
        .collect();
    Some(json!({"metadata": {"labels": labels}}))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(items: &[&str]) -> BTreeSet<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    fn map(items: &[(&str, &str)]) -> BTreeMap<String, String> {
        items
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn parses_comma_separated_prefixes() {
        assert_eq!(
            parse_prefixes("a.io,b.example.com").expect("valid"),
            set(&["a.io", "b.example.com"])
        );
        assert_eq!(
            parse_prefixes(" a.io , ,b-1.io,a.io,").expect("valid"),
            set(&["a.io", "b-1.io"])
        );
        assert_eq!(parse_prefixes("").expect("empty"), set(&[]));
        assert_eq!(parse_prefixes(" , ").expect("blank"), set(&[]));
        assert_eq!(parse_prefixes("single").expect("valid"), set(&["single"]));
    }

    #[test]
    fn rejects_prefixes_that_are_not_dns_subdomains() {
        for bad in [
            "A.io",
            "a_b.io",
            "-a.io",
            "a-.io",
            "a..io",
            ".a.io",
            "a.io.",
            "a.io/x",
            "a io",
            &"a".repeat(254),
        ] {
            let err = parse_prefixes(&format!("ok.io,{bad}")).expect_err(bad);
            assert_eq!(err.prefix, bad.trim());
            assert!(
                err.to_string()
                    .contains("metal3.io/metal3-label-sync-prefixes")
            );
        }
        assert!(parse_prefixes(&"a".repeat(253)).is_ok());
    }

    #[test]
    fn prefixes_of_keys() {
        assert_eq!(key_prefix("a.io/zone"), Some("a.io"));
        assert_eq!(key_prefix("zone"), None);
        assert_eq!(key_prefix("a.io/b/c"), Some("a.io"));
        let p = set(&["a.io"]);
        assert!(synced(&p, "a.io/zone"));
        assert!(
            !synced(&p, "zone"),
            "keys without a prefix are never synced"
        );
        assert!(!synced(&p, "x.a.io/zone"), "prefixes match exactly");
        assert!(!synced(&p, "a.io.x/zone"));
        assert!(!synced(&set(&[]), "a.io/zone"));
    }

    #[test]
    fn adds_updates_and_removes_only_synced_labels() {
        let prefixes = set(&["a.io", "b.io"]);
        let host = map(&[
            ("a.io/zone", "z1"),
            ("a.io/rack", "r2"),
            ("b.io/new", "n"),
            ("c.io/other", "ignored"),
            ("plain", "ignored"),
        ]);
        let node = map(&[
            ("a.io/zone", "z1"),
            ("a.io/rack", "r1"),
            ("b.io/stale", "s"),
            ("c.io/other", "node's own"),
            ("kubernetes.io/hostname", "n1"),
            ("plain", "node's own"),
        ]);
        let changes = node_label_changes(&prefixes, &host, &node);
        assert_eq!(
            changes,
            BTreeMap::from([
                ("a.io/rack".to_string(), Some("r2".to_string())),
                ("b.io/new".to_string(), Some("n".to_string())),
                ("b.io/stale".to_string(), None),
            ])
        );
        assert_eq!(
            merge_patch(&changes),
            Some(json!({"metadata": {"labels": {
                "a.io/rack": "r2", "b.io/new": "n", "b.io/stale": null,
            }}}))
        );
        // Applied, the Node is in sync and its other labels are as they were.
        let mut after = node.clone();
        for (k, v) in &changes {
            match v {
                Some(v) => after.insert(k.clone(), v.clone()),
                None => after.remove(k),
            };
        }
        assert!(node_label_changes(&prefixes, &host, &after).is_empty());
        assert_eq!(after["c.io/other"], "node's own");
        assert_eq!(after["plain"], "node's own");
        assert_eq!(after["kubernetes.io/hostname"], "n1");
    }

    #[test]
    fn nothing_to_do() {
        let prefixes = set(&["a.io"]);
        let host = map(&[("a.io/zone", "z1"), ("b.io/x", "1")]);
        let node = map(&[("a.io/zone", "z1"), ("c.io/y", "2")]);
        assert!(node_label_changes(&prefixes, &host, &node).is_empty());
        assert_eq!(merge_patch(&BTreeMap::new()), None);
        // No prefixes: nothing is ever touched.
        assert!(node_label_changes(&set(&[]), &host, &map(&[("a.io/old", "1")])).is_empty());
        // Empty values are values too.
        let changes = node_label_changes(&prefixes, &map(&[("a.io/e", "")]), &map(&[]));
        assert_eq!(
            changes,
            BTreeMap::from([("a.io/e".to_string(), Some(String::new()))])
        );
    }

    #[test]
    fn host_without_synced_labels_clears_them_from_the_node() {
        let prefixes = set(&["a.io"]);
        let changes = node_label_changes(
            &prefixes,
            &map(&[]),
            &map(&[("a.io/zone", "z1"), ("a.io/rack", "r1"), ("d.io/k", "v")]),
        );
        assert_eq!(
            changes,
            BTreeMap::from([
                ("a.io/rack".to_string(), None),
                ("a.io/zone".to_string(), None)
            ])
        );
    }
}
