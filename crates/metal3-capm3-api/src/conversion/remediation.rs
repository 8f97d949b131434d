//! Metal3Remediation and Metal3RemediationTemplate: `timeout` (a Go duration) becomes
//! `timeoutSeconds`.

use super::{ConversionError, Kind, narrow};
use crate::common::{RemediationPhase, RemediationType};
use crate::{v1beta1 as old, v1beta2 as new};

pub(crate) struct Remediation;
pub(crate) struct RemediationTemplate;

/// Whole seconds of a Go duration (`10m`, `1h30m`, `90s`, `1.5h`); fractions of a second are
/// dropped.
pub fn parse_go_duration(text: &str) -> Result<i64, String> {
    let parsed: kube::core::Duration = text
        .parse()
        .map_err(|e| format!("{text:?} is not a duration ({e}); write e.g. 10m or 600s"))?;
    if parsed.is_negative() {
        return Err(format!("{text:?} is negative; a timeout must be positive"));
    }
    let duration: std::time::Duration = parsed.into();
    i64::try_from(duration.as_secs()).map_err(|_| format!("{text:?} is too long"))
}

/// Seconds written as Go writes a `time.Duration`: `10m0s`, `1h0m0s`, `1m40s`, `0s`.
pub fn format_go_duration(seconds: i64) -> String {
    let (hours, rest) = (seconds / 3600, seconds % 3600);
    let (minutes, secs) = (rest / 60, rest % 60);
    match (hours, minutes) {
        (0, 0) => format!("{secs}s"),
        (0, m) => format!("{m}m{secs}s"),
        (h, m) => format!("{h}h{m}m{secs}s"),
    }
}

fn strategy_up(
    s: &old::RemediationStrategy,
    field: &str,
) -> Result<new::RemediationStrategy, ConversionError> {
    let r#type = match s.r#type.as_str() {
        "" => None,
        other => {
            Some(
                RemediationType::from_wire(other).ok_or_else(|| ConversionError::Invalid {
                    field: format!("{field}.type"),
                    message: format!("unknown remediation type {other:?}; the only one is Reboot"),
                })?,
            )
        }
    };
    let timeout_seconds = match &s.timeout {
        None => 0,
        Some(text) => {
            let seconds = parse_go_duration(text).map_err(|message| ConversionError::Invalid {
                field: format!("{field}.timeout"),
                message,
            })?;
            narrow(seconds, &format!("{field}.timeout"))?
        }
    };
    Ok(new::RemediationStrategy {
        r#type,
        retry_limit: narrow(s.retry_limit, &format!("{field}.retryLimit"))?,
        timeout_seconds,
    })
}

fn strategy_down(s: &new::RemediationStrategy) -> old::RemediationStrategy {
    old::RemediationStrategy {
        r#type: s.r#type.map(|t| t.as_str().to_string()).unwrap_or_default(),
        retry_limit: s.retry_limit.into(),
        timeout: (s.timeout_seconds != 0).then(|| format_go_duration(s.timeout_seconds.into())),
    }
}

fn spec_up(
    s: &old::Metal3RemediationSpec,
    field: &str,
) -> Result<new::Metal3RemediationSpec, ConversionError> {
    Ok(new::Metal3RemediationSpec {
        strategy: s
            .strategy
            .as_ref()
            .map(|st| strategy_up(st, &format!("{field}.strategy")))
            .transpose()?,
    })
}

fn spec_down(s: &new::Metal3RemediationSpec) -> old::Metal3RemediationSpec {
    old::Metal3RemediationSpec {
        strategy: s.strategy.as_ref().map(strategy_down),
    }
}

fn status_up(
    s: &old::Metal3RemediationStatus,
    field: &str,
) -> Result<new::Metal3RemediationStatus, ConversionError> {
    Ok(new::Metal3RemediationStatus {
        // A phase this version does not know is dropped; the controller writes it again.
        phase: RemediationPhase::from_wire(&s.phase),
        retry_count: narrow(s.retry_count, &format!("{field}.retryCount"))?,
        last_remediated: s.last_remediated.clone(),
    })
}

fn status_down(s: &new::Metal3RemediationStatus) -> old::Metal3RemediationStatus {
    old::Metal3RemediationStatus {
        phase: s.phase.map(|p| p.as_str().to_string()).unwrap_or_default(),
        retry_count: s.retry_count.into(),
        last_remediated: s.last_remediated.clone(),
    }
}

impl Kind for Remediation {
    const KIND: &'static str = "Metal3Remediation";
    type SpokeSpec = old::Metal3RemediationSpec;
    type HubSpec = new::Metal3RemediationSpec;
    type SpokeStatus = old::Metal3RemediationStatus;
    type HubStatus = new::Metal3RemediationStatus;

    fn spec_up(s: &Self::SpokeSpec) -> Result<Self::HubSpec, ConversionError> {
        spec_up(s, "spec")
    }

    fn spec_down(s: &Self::HubSpec) -> Self::SpokeSpec {
        spec_down(s)
    }

    fn status_up(s: &Self::SpokeStatus) -> Result<Self::HubStatus, ConversionError> {
        status_up(s, "status")
    }

    fn status_down(s: &Self::HubStatus) -> Self::SpokeStatus {
        status_down(s)
    }
}

impl Kind for RemediationTemplate {
    const KIND: &'static str = "Metal3RemediationTemplate";
    type SpokeSpec = old::Metal3RemediationTemplateSpec;
    type HubSpec = new::Metal3RemediationTemplateSpec;
    type SpokeStatus = old::Metal3RemediationTemplateStatus;
    type HubStatus = new::Metal3RemediationTemplateStatus;

    fn spec_up(s: &Self::SpokeSpec) -> Result<Self::HubSpec, ConversionError> {
        Ok(new::Metal3RemediationTemplateSpec {
            template: new::Metal3RemediationTemplateResource {
                spec: spec_up(&s.template.spec, "spec.template.spec")?,
            },
        })
    }

    fn spec_down(s: &Self::HubSpec) -> Self::SpokeSpec {
        old::Metal3RemediationTemplateSpec {
            template: old::Metal3RemediationTemplateResource {
                spec: spec_down(&s.template.spec),
            },
        }
    }

    fn status_up(s: &Self::SpokeStatus) -> Result<Self::HubStatus, ConversionError> {
        Ok(new::Metal3RemediationTemplateStatus {
            status: status_up(&s.status, "status.status")?,
        })
    }

    fn status_down(s: &Self::HubStatus) -> Self::SpokeStatus {
        old::Metal3RemediationTemplateStatus {
            status: status_down(&s.status),
        }
    }
}
