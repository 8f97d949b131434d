//! Admission rules for HostDeployPolicy. Upstream has no webhook for this kind, so nothing is
//! refused; a policy that can never admit anything is reported as a warning.

use metal3_api::v1alpha1::HostDeployPolicy;

use crate::Findings;

/// Checks a HostDeployPolicy: warns when `nameMatches` is not a regular expression (the
/// controller then lets no claim through this policy) or when `hostClaimNamespaces` is unset
/// (the policy admits no namespace).
pub fn validate_hostdeploypolicy(
    new: &HostDeployPolicy,
    _old: Option<&HostDeployPolicy>,
) -> Findings {
    let mut findings = Findings::default();
    let Some(admitted) = &new.spec.host_claim_namespaces else {
        findings.warnings.push(
            "spec.hostClaimNamespaces is unset: this policy admits HostClaims of no namespace"
                .to_string(),
        );
        return findings;
    };
    if let Err(e) = regex::Regex::new(&admitted.name_matches) {
        findings.warnings.push(format!(
            "spec.hostClaimNamespaces.nameMatches is not a regular expression, so this policy \
             admits no HostClaim: {e}"
        ));
    }
    findings
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn policy(spec: serde_json::Value) -> HostDeployPolicy {
        serde_json::from_value(json!({
            "apiVersion": "metal3.io/v1alpha1", "kind": "HostDeployPolicy",
            "metadata": {"name": "p", "namespace": "hosts"}, "spec": spec,
        }))
        .expect("policy")
    }

    #[test]
    fn warnings_only() {
        let good =
            policy(json!({"hostClaimNamespaces": {"nameMatches": "^team-", "names": ["a"]}}));
        assert_eq!(validate_hostdeploypolicy(&good, None), Findings::default());
        let bad = validate_hostdeploypolicy(
            &policy(json!({"hostClaimNamespaces": {"nameMatches": "team-("}})),
            None,
        );
        assert!(bad.errors.is_empty());
        assert!(bad.warnings[0].contains("nameMatches"), "{bad:?}");
        let empty = validate_hostdeploypolicy(&policy(json!({})), None);
        assert!(empty.errors.is_empty());
        assert!(empty.warnings[0].contains("admits HostClaims of no namespace"));
    }
}
