//! Metal3Remediation and Metal3RemediationTemplate: the remediation strategy, and the
//! template's defaults.

use metal3_capm3_api::common::RemediationType;
use metal3_capm3_api::v1beta2::{
    Metal3Remediation, Metal3RemediationTemplate, RemediationStrategy,
};

use super::{DEFAULT_TIMEOUT_SECONDS, MIN_RETRY_LIMIT, MIN_TIMEOUT_SECONDS};
use crate::verdict::{FieldError, Findings};

fn strategy_errors(strategy: &RemediationStrategy, path: &str) -> Vec<FieldError> {
    let mut out = Vec::new();
    if strategy.timeout_seconds != 0 && strategy.timeout_seconds < MIN_TIMEOUT_SECONDS {
        out.push(FieldError::new(
            format!("{path}.timeoutSeconds"),
            format!(
                "{} is too short: at least {MIN_TIMEOUT_SECONDS} seconds",
                strategy.timeout_seconds
            ),
        ));
    }
    if strategy.r#type != Some(RemediationType::Reboot) {
        out.push(FieldError::new(
            format!("{path}.type"),
            "the only remediation strategy is Reboot",
        ));
    }
    if strategy.retry_limit < MIN_RETRY_LIMIT {
        out.push(FieldError::new(
            format!("{path}.retryLimit"),
            format!(
                "{} is too small: at least {MIN_RETRY_LIMIT}",
                strategy.retry_limit
            ),
        ));
    }
    out
}

/// The rules of a Metal3Remediation: its strategy, when it has one.
pub fn metal3remediation(new: &Metal3Remediation) -> Findings {
    Findings::from_errors(
        new.spec
            .strategy
            .as_ref()
            .map(|s| strategy_errors(s, "spec.strategy"))
            .unwrap_or_default(),
    )
}

/// The rules of a Metal3RemediationTemplate: its strategy (defaulted before it is judged).
pub fn metal3remediationtemplate(new: &Metal3RemediationTemplate) -> Findings {
    let strategy = new.spec.template.spec.strategy.clone().unwrap_or_default();
    Findings::from_errors(strategy_errors(&strategy, "spec.template.spec.strategy"))
}

/// Upstream's defaults of a Metal3RemediationTemplate's strategy: type Reboot, timeout 600 s,
/// retry limit 1.
pub fn apply_template_defaults(m3rt: &mut Metal3RemediationTemplate) {
    let strategy = m3rt
        .spec
        .template
        .spec
        .strategy
        .get_or_insert_with(Default::default);
    strategy.r#type.get_or_insert(RemediationType::Reboot);
    if strategy.timeout_seconds == 0 {
        strategy.timeout_seconds = DEFAULT_TIMEOUT_SECONDS;
    }
    if strategy.retry_limit < MIN_RETRY_LIMIT {
        strategy.retry_limit = MIN_RETRY_LIMIT;
    }
}
