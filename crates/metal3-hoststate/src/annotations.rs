//! The host annotations users and other controllers drive the operator with.

use std::collections::BTreeMap;

use metal3_api::consts::{
    DETACHED_ANNOTATION, INSPECT_ANNOTATION, REBOOT_ANNOTATION, REBOOT_ANNOTATION_PREFIX,
};
use metal3_provisioner::RebootMode;
use serde::Deserialize;

/// What to do when a detached host is deleted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum DeleteAction {
    /// Delete it (the default).
    #[default]
    Delete,
    /// Keep the host object until the annotation is removed.
    Delay,
}

/// The `baremetalhost.metal3.io/detached` annotation.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Detached {
    pub delete_action: DeleteAction,
    /// Detach even outside the states where it is safe (available, provisioned).
    pub force: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DetachedJson {
    #[serde(default)]
    delete_action: Option<String>,
    #[serde(default)]
    force: bool,
}

/// Parses the detached annotation. A value that is not a JSON object is a plain detach.
pub fn detached(annotations: &BTreeMap<String, String>) -> Option<Detached> {
    let value = annotations.get(DETACHED_ANNOTATION)?;
    let parsed = serde_json::from_str::<DetachedJson>(value).ok();
    Some(match parsed {
        Some(j) => Detached {
            delete_action: match j.delete_action.as_deref() {
                Some("delay") => DeleteAction::Delay,
                _ => DeleteAction::Delete,
            },
            force: j.force,
        },
        None => Detached::default(),
    })
}

/// One reboot request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RebootRequest {
    /// The annotation key (`reboot.metal3.io` or `reboot.metal3.io/<owner>`).
    pub key: String,
    pub mode: RebootMode,
    /// Reboot even outside provisioned states, aborting inspection or deployment.
    pub force: bool,
    /// The value was not valid JSON; treated as a soft reboot.
    pub invalid: bool,
}

impl RebootRequest {
    /// Whether this is the one-shot, suffix-less annotation.
    pub fn is_one_shot(&self) -> bool {
        self.key == REBOOT_ANNOTATION
    }
}

#[derive(Deserialize)]
struct RebootJson {
    #[serde(default)]
    mode: Option<String>,
    #[serde(default)]
    force: bool,
}

/// Every reboot request on the host, sorted by key.
pub fn reboot_requests(annotations: &BTreeMap<String, String>) -> Vec<RebootRequest> {
    annotations
        .iter()
        .filter(|(k, _)| *k == REBOOT_ANNOTATION || k.starts_with(REBOOT_ANNOTATION_PREFIX))
        .map(|(k, v)| {
            let parsed = if v.trim().is_empty() {
                Ok(None)
            } else {
                serde_json::from_str::<RebootJson>(v).map(Some)
            };
            match parsed {
                Ok(Some(j)) => RebootRequest {
                    key: k.clone(),
                    mode: if j.mode.as_deref() == Some("hard") {
                        RebootMode::Hard
                    } else {
                        RebootMode::Soft
                    },
                    force: j.force,
                    invalid: j
                        .mode
                        .as_deref()
                        .is_some_and(|m| m != "hard" && m != "soft"),
                },
                Ok(None) => RebootRequest {
                    key: k.clone(),
                    mode: RebootMode::Soft,
                    force: false,
                    invalid: false,
                },
                Err(_) => RebootRequest {
                    key: k.clone(),
                    mode: RebootMode::Soft,
                    force: false,
                    invalid: true,
                },
            }
        })
        .collect()
}

/// The `inspect.metal3.io` annotation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InspectRequest {
    /// Inspect again (any value but `disabled`).
    Reinspect,
    /// Legacy way of disabling inspection.
    Disabled,
}

/// Parses the inspect annotation.
pub fn inspect_request(annotations: &BTreeMap<String, String>) -> Option<InspectRequest> {
    annotations.get(INSPECT_ANNOTATION).map(|v| {
        if v == "disabled" {
            InspectRequest::Disabled
        } else {
            InspectRequest::Reinspect
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ann(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn detached_values() {
        assert_eq!(detached(&ann(&[])), None);
        let cases = [
            ("", Detached::default()),
            ("true", Detached::default()),
            ("yes please", Detached::default()),
            ("{}", Detached::default()),
            (
                r#"{"deleteAction":"delay"}"#,
                Detached {
                    delete_action: DeleteAction::Delay,
                    force: false,
                },
            ),
            (
                r#"{"deleteAction":"delete","force":true}"#,
                Detached {
                    delete_action: DeleteAction::Delete,
                    force: true,
                },
            ),
        ];
        for (value, want) in cases {
            assert_eq!(
                detached(&ann(&[(DETACHED_ANNOTATION, value)])),
                Some(want),
                "{value}"
            );
        }
    }

    #[test]
    fn reboot_values() {
        let got = reboot_requests(&ann(&[
            ("reboot.metal3.io", ""),
            ("reboot.metal3.io/capm3", r#"{"mode":"hard"}"#),
            ("reboot.metal3.io/forced", r#"{"mode":"soft","force":true}"#),
            ("reboot.metal3.io/bad", "not json"),
            ("reboot.metal3.io/odd", r#"{"mode":"sideways"}"#),
            ("rebootx.metal3.io", ""),
            ("other", ""),
        ]));
        let summary: Vec<(&str, RebootMode, bool, bool)> = got
            .iter()
            .map(|r| (r.key.as_str(), r.mode, r.force, r.invalid))
            .collect();
        assert_eq!(
            summary,
            vec![
                ("reboot.metal3.io", RebootMode::Soft, false, false),
                ("reboot.metal3.io/bad", RebootMode::Soft, false, true),
                ("reboot.metal3.io/capm3", RebootMode::Hard, false, false),
                ("reboot.metal3.io/forced", RebootMode::Soft, true, false),
                ("reboot.metal3.io/odd", RebootMode::Soft, false, true),
            ]
        );
        assert!(got[0].is_one_shot());
        assert!(!got[2].is_one_shot());
    }

    #[test]
    fn inspect_values() {
        assert_eq!(inspect_request(&ann(&[])), None);
        assert_eq!(
            inspect_request(&ann(&[(INSPECT_ANNOTATION, "")])),
            Some(InspectRequest::Reinspect)
        );
        assert_eq!(
            inspect_request(&ann(&[(INSPECT_ANNOTATION, "disabled")])),
            Some(InspectRequest::Disabled)
        );
    }
}
