//! Admission rules for HostClaim: the host selector's labels and operators, the reboot
//! annotations and the image, as upstream's webhook checks them (on create and update alike).

use metal3_api::consts::{REBOOT_ANNOTATION, REBOOT_ANNOTATION_PREFIX};
use metal3_api::v1alpha1::HostClaim;

use crate::FieldError;
use crate::baremetalhost::{image_rules, reboot_annotation};
use crate::syntax::{check_label_value, check_qualified_name};

/// Operators a `matchExpressions` entry may use, written as upstream's webhook wants them.
pub const OPERATORS: &[&str] = &["=", "==", "!=", "in", "notin", "exists", "!"];

/// Validates a HostClaim on create (`old` is `None`) or update; the rules are the same.
pub fn validate_hostclaim(new: &HostClaim, _old: Option<&HostClaim>) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let selector = &new.spec.host_selector;
    for (key, value) in &selector.match_labels {
        let field = format!("spec.hostSelector.matchLabels[{key}]");
        for result in [check_qualified_name(key), check_label_value(value)] {
            if let Err(message) = result {
                errors.push(FieldError::new(&field, message));
            }
        }
    }
    for (i, req) in selector.match_expressions.iter().enumerate() {
        let field = format!("spec.hostSelector.matchExpressions[{i}]");
        if let Err(message) = check_qualified_name(&req.key) {
            errors.push(FieldError::new(format!("{field}.key"), message));
        }
        let op = req.operator.as_str();
        let count = req.values.len();
        let wrong_count = match op {
            "=" | "==" | "!=" => (count != 1).then_some("exactly one value"),
            "in" | "notin" => (count == 0).then_some("at least one value"),
            "exists" | "!" => (count != 0).then_some("no values"),
            _ => {
                errors.push(FieldError::new(
                    format!("{field}.operator"),
                    format!(
                        "invalid operator {op:?} on label key {:?}; use one of {}",
                        req.key,
                        OPERATORS.join(", ")
                    ),
                ));
                continue;
            }
        };
        if let Some(want) = wrong_count {
            errors.push(FieldError::new(
                format!("{field}.values"),
                format!(
                    "operator {op:?} on label key {:?} takes {want}, got {count}",
                    req.key
                ),
            ));
        }
        for value in &req.values {
            if let Err(message) = check_label_value(value) {
                errors.push(FieldError::new(format!("{field}.values"), message));
            }
        }
    }
    for (key, value) in new.metadata.annotations.iter().flatten() {
        if (key == REBOOT_ANNOTATION || key.starts_with(REBOOT_ANNOTATION_PREFIX))
            && let Err(message) = reboot_annotation(value)
        {
            errors.push(FieldError::new(
                format!("metadata.annotations[{key}]"),
                message,
            ));
        }
    }
    if let Some(image) = &new.spec.image {
        errors.extend(image_rules(image, "spec.image"));
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claim(spec: serde_json::Value, annotations: serde_json::Value) -> HostClaim {
        serde_json::from_value(json!({
            "apiVersion": "metal3.io/v1alpha1", "kind": "HostClaim",
            "metadata": {"name": "c", "namespace": "t", "annotations": annotations},
            "spec": spec,
        }))
        .expect("claim")
    }

    #[test]
    fn a_good_claim_passes() {
        let c = claim(
            json!({
                "poweredOn": true,
                "image": {"url": "https://x/os.qcow2", "checksum": "abc"},
                "hostSelector": {
                    "matchLabels": {"metal3.io/tier": "gold"},
                    "matchExpressions": [
                        {"key": "rack", "operator": "in", "values": ["a", "b"]},
                        {"key": "gpu", "operator": "exists", "values": []},
                        {"key": "zone", "operator": "!=", "values": ["z"]},
                    ]
                }
            }),
            json!({"reboot.metal3.io/x": "{\"mode\": \"soft\"}"}),
        );
        assert_eq!(validate_hostclaim(&c, None), Vec::new());
    }

    #[test]
    fn every_problem_names_its_field() {
        let c = claim(
            json!({
                "poweredOn": false,
                "image": {"url": "not a url"},
                "hostSelector": {
                    "matchLabels": {"bad key!": "-bad-"},
                    "matchExpressions": [
                        {"key": "a", "operator": "In", "values": ["x"]},
                        {"key": "b", "operator": "=", "values": ["x", "y"]},
                        {"key": "c", "operator": "in", "values": []},
                        {"key": "d", "operator": "!", "values": ["x"]},
                        {"key": "e", "operator": "notin", "values": ["bad value"]},
                    ]
                }
            }),
            json!({"reboot.metal3.io": "{\"mode\": \"kick\"}"}),
        );
        let fields: Vec<String> = validate_hostclaim(&c, None)
            .into_iter()
            .map(|e| e.field)
            .collect();
        assert_eq!(
            fields,
            [
                "spec.hostSelector.matchLabels[bad key!]",
                "spec.hostSelector.matchLabels[bad key!]",
                "spec.hostSelector.matchExpressions[0].operator",
                "spec.hostSelector.matchExpressions[1].values",
                "spec.hostSelector.matchExpressions[2].values",
                "spec.hostSelector.matchExpressions[3].values",
                "spec.hostSelector.matchExpressions[4].values",
                "metadata.annotations[reboot.metal3.io]",
                "spec.image.url",
                "spec.image.checksum",
            ]
        );
    }

    /// Upstream's own samples of both kinds (`config/samples/`), with their empty `spec`
    /// filled as Go decodes it (a `null` or absent `spec` is the shared decoder's business:
    /// today it refuses one for every kind).
    #[test]
    fn upstream_samples_validate() {
        use crate::{Findings, Verdict, validate_value};
        let labels = json!({
            "app.kubernetes.io/name": "x", "app.kubernetes.io/part-of": "baremetal-operator",
            "app.kubernetes.io/managed-by": "kustomize",
        });
        for (kind, spec) in [
            ("HostClaim", json!({"poweredOn": false})),
            ("HostDeployPolicy", json!({})),
        ] {
            let sample = json!({
                "apiVersion": "metal3.io/v1alpha1", "kind": kind,
                "metadata": {"name": "sample", "labels": labels}, "spec": spec,
            });
            let verdict = validate_value(&sample, None);
            let Verdict::Checked(Findings { errors, .. }) = verdict else {
                panic!("{kind} is ours");
            };
            assert_eq!(errors, Vec::new(), "{kind}");
        }
        let broken = json!({
            "apiVersion": "metal3.io/v1alpha1", "kind": "HostClaim",
            "metadata": {"name": "c"},
            "spec": {"poweredOn": "yes", "hostSelector": {"inNamespace": "hosts"}},
        });
        let Verdict::Checked(Findings { errors, .. }) = validate_value(&broken, None) else {
            panic!("ours");
        };
        assert_eq!(errors[0].field, "spec.poweredOn", "{errors:?}");
        let broken = json!({
            "apiVersion": "metal3.io/v1alpha1", "kind": "HostDeployPolicy",
            "metadata": {"name": "p"},
            "spec": {"hostClaimNamespaces": {"hasLabels": [{"value": "x"}]}},
        });
        // A missing required field is the API server's to refuse (Go's decoding takes its
        // zero value), so it is a schema error, not a rule's.
        let Verdict::Checked(Findings { schema_errors, .. }) = validate_value(&broken, None) else {
            panic!("ours");
        };
        assert!(
            schema_errors
                .iter()
                .any(|e| e.field.starts_with("spec.hostClaimNamespaces.hasLabels[0]")),
            "{schema_errors:?}"
        );
    }
}
