//! Label requirements of a Metal3Machine's `hostSelector`, parsed and matched as Kubernetes
//! label selectors are (`k8s.io/apimachinery/pkg/labels`), with the operator compared in lower
//! case as CAPM3 does: `in`, `notin`, `exists`, `!` (does not exist), `=`, `==`, `!=`, `gt`,
//! `lt`. (`DoesNotExist` written out is not an operator there, so it is not one here either.)

use std::collections::BTreeMap;
use std::fmt;

use metal3_capm3_api::v1beta2::HostSelector;

/// How a requirement compares a label.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operator {
    /// The label's value is one of the values.
    In,
    /// The label is absent or its value is none of the values.
    NotIn,
    /// The label is present.
    Exists,
    /// The label is absent.
    DoesNotExist,
    /// The label has exactly the value.
    Equals,
    /// The label is absent or has another value.
    NotEquals,
    /// The label's value is an integer greater than the value.
    GreaterThan,
    /// The label's value is an integer less than the value.
    LessThan,
}

impl Operator {
    fn parse(text: &str) -> Option<Self> {
        Some(match text.to_lowercase().as_str() {
            "in" => Self::In,
            "notin" => Self::NotIn,
            "exists" => Self::Exists,
            "!" => Self::DoesNotExist,
            "=" | "==" => Self::Equals,
            "!=" => Self::NotEquals,
            "gt" => Self::GreaterThan,
            "lt" => Self::LessThan,
            _ => return None,
        })
    }
}

/// One parsed requirement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Requirement {
    /// Label key.
    pub key: String,
    /// Comparison.
    pub operator: Operator,
    /// Values compared with.
    pub values: Vec<String>,
}

/// A requirement that cannot be used, with the field it came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SelectorError {
    /// Path of the offending field under `spec.hostSelector`.
    pub field: String,
    /// What is wrong and how to fix it.
    pub message: String,
}

impl fmt::Display for SelectorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

impl std::error::Error for SelectorError {}

/// A label key: an optional DNS subdomain prefix and `/`, then a name of at most 63
/// characters, alphanumeric at both ends, with `-`, `_`, `.` inside.
fn valid_key(key: &str) -> bool {
    let (prefix, name) = match key.split_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, key),
    };
    prefix.is_none_or(is_dns_subdomain) && !name.is_empty() && valid_value(name)
}

/// A DNS-1123 subdomain: at most 253 characters, dot-separated parts of lowercase letters,
/// digits and `-`, each non-empty and alphanumeric at both ends.
pub(crate) fn is_dns_subdomain(p: &str) -> bool {
    !p.is_empty()
        && p.len() <= 253
        && p.split('.').all(|part| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !part.starts_with('-')
                && !part.ends_with('-')
        })
}

/// A label value: empty, or at most 63 characters, alphanumeric at both ends, with `-`, `_`,
/// `.` inside.
fn valid_value(value: &str) -> bool {
    value.is_empty()
        || (value.len() <= 63
            && value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
            && value
                .as_bytes()
                .first()
                .is_some_and(u8::is_ascii_alphanumeric)
            && value
                .as_bytes()
                .last()
                .is_some_and(u8::is_ascii_alphanumeric))
}

impl Requirement {
    /// Parses one requirement, checking its key, operator and values as Kubernetes does.
    pub fn new(
        key: &str,
        operator: &str,
        values: &[String],
        field: &str,
    ) -> Result<Self, SelectorError> {
        let error = |what: &str, message: String| SelectorError {
            field: format!("{field}.{what}"),
            message,
        };
        if !valid_key(key) {
            return Err(error(
                "key",
                format!(
                    "{key:?} is not a label key: use an optional DNS prefix and '/', then at most \
                     63 letters, digits, '-', '_' or '.', starting and ending alphanumeric"
                ),
            ));
        }
        let op = Operator::parse(operator).ok_or_else(|| {
            error(
                "operator",
                format!(
                    "{operator:?} is not an operator; use In, NotIn, Exists, '!', '=', '==', \
                     '!=', Gt or Lt"
                ),
            )
        })?;
        let count_ok = match op {
            Operator::In | Operator::NotIn => !values.is_empty(),
            Operator::Exists | Operator::DoesNotExist => values.is_empty(),
            Operator::Equals | Operator::NotEquals => values.len() == 1,
            Operator::GreaterThan | Operator::LessThan => values.len() == 1,
        };
        if !count_ok {
            let want = match op {
                Operator::In | Operator::NotIn => "at least one value",
                Operator::Exists | Operator::DoesNotExist => "no values",
                _ => "exactly one value",
            };
            return Err(error(
                "values",
                format!("{operator} takes {want}, got {}", values.len()),
            ));
        }
        for value in values {
            if matches!(op, Operator::GreaterThan | Operator::LessThan) {
                if value.parse::<i64>().is_err() {
                    return Err(error(
                        "values",
                        format!("{operator} compares integers; {value:?} is not one"),
                    ));
                }
            } else if !valid_value(value) {
                return Err(error(
                    "values",
                    format!(
                        "{value:?} is not a label value: at most 63 letters, digits, '-', '_' or \
                         '.', starting and ending alphanumeric"
                    ),
                ));
            }
        }
        Ok(Self {
            key: key.to_string(),
            operator: op,
            values: values.to_vec(),
        })
    }

    /// Whether `labels` meet the requirement.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        let value = labels.get(&self.key);
        let has = |v: &String| self.values.iter().any(|x| x == v);
        let number = |v: &String| v.parse::<i64>().ok();
        let bound = self.values.first().and_then(|v| v.parse::<i64>().ok());
        match self.operator {
            Operator::In | Operator::Equals => value.is_some_and(has),
            Operator::NotIn | Operator::NotEquals => !value.is_some_and(has),
            Operator::Exists => value.is_some(),
            Operator::DoesNotExist => value.is_none(),
            Operator::GreaterThan => {
                matches!((value.and_then(number), bound), (Some(v), Some(b)) if v > b)
            }
            Operator::LessThan => {
                matches!((value.and_then(number), bound), (Some(v), Some(b)) if v < b)
            }
        }
    }
}

/// Every requirement of a host selector: `matchLabels` as equalities, then `matchExpressions`.
/// `None` selects every host.
pub fn requirements(selector: Option<&HostSelector>) -> Result<Vec<Requirement>, SelectorError> {
    let Some(selector) = selector else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for (key, value) in &selector.match_labels {
        out.push(Requirement::new(
            key,
            "=",
            std::slice::from_ref(value),
            &format!("spec.hostSelector.matchLabels[{key}]"),
        )?);
    }
    for (i, expr) in selector.match_expressions.iter().enumerate() {
        out.push(Requirement::new(
            &expr.key,
            &expr.operator,
            &expr.values,
            &format!("spec.hostSelector.matchExpressions[{i}]"),
        )?);
    }
    Ok(out)
}

/// Whether `labels` meet every requirement.
pub fn matches_all(requirements: &[Requirement], labels: &BTreeMap<String, String>) -> bool {
    requirements.iter().all(|r| r.matches(labels))
}

impl fmt::Display for Operator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::In => "in",
            Self::NotIn => "notin",
            Self::Exists => "exists",
            Self::DoesNotExist => "!",
            Self::Equals => "=",
            Self::NotEquals => "!=",
            Self::GreaterThan => "gt",
            Self::LessThan => "lt",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use metal3_capm3_api::v1beta2::HostSelectorRequirement;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn req(key: &str, op: &str, values: &[&str]) -> Result<Requirement, SelectorError> {
        let values: Vec<String> = values.iter().map(|v| v.to_string()).collect();
        Requirement::new(key, op, &values, "f")
    }

    #[test]
    fn operator_table() {
        let host = labels(&[("rack", "r1"), ("size", "10"), ("role", "worker")]);
        let cases: &[(&str, &str, &[&str], bool)] = &[
            ("rack", "In", &["r1", "r2"], true),
            ("rack", "in", &["r3"], false),
            ("zone", "In", &["a"], false),
            ("rack", "NotIn", &["r3"], true),
            ("rack", "notin", &["r1"], false),
            ("zone", "NotIn", &["a"], true),
            ("rack", "Exists", &[], true),
            ("zone", "EXISTS", &[], false),
            ("zone", "!", &[], true),
            ("rack", "!", &[], false),
            ("role", "=", &["worker"], true),
            ("role", "==", &["master"], false),
            ("role", "!=", &["master"], true),
            ("zone", "!=", &["x"], true),
            ("size", "Gt", &["9"], true),
            ("size", "gt", &["10"], false),
            ("size", "Lt", &["11"], true),
            ("rack", "Gt", &["1"], false),
            ("zone", "Lt", &["1"], false),
        ];
        for (key, op, values, want) in cases {
            let r = req(key, op, values).unwrap_or_else(|e| panic!("{key} {op}: {e}"));
            assert_eq!(r.matches(&host), *want, "{key} {op} {values:?}");
        }
    }

    #[test]
    fn bad_requirements_name_the_field() {
        let e = req("rack", "DoesNotExist", &[]).expect_err("not an operator upstream");
        assert_eq!(e.field, "f.operator");
        assert!(
            req("rack", "In", &[])
                .expect_err("needs values")
                .message
                .contains("at least one")
        );
        assert!(req("rack", "Exists", &["x"]).is_err());
        assert!(req("rack", "=", &["a", "b"]).is_err());
        assert!(
            req("size", "Gt", &["ten"])
                .expect_err("integer")
                .message
                .contains("integers")
        );
        assert_eq!(req("-bad", "Exists", &[]).expect_err("key").field, "f.key");
        assert_eq!(
            req("rack", "In", &["bad value"]).expect_err("value").field,
            "f.values"
        );
        assert!(req("example.com/rack", "Exists", &[]).is_ok());
        assert!(req("Example.com/rack", "Exists", &[]).is_err());
    }

    #[test]
    fn a_selector_combines_labels_and_expressions() {
        let selector = HostSelector {
            match_labels: labels(&[("role", "worker")]),
            match_expressions: vec![HostSelectorRequirement {
                key: "rack".into(),
                operator: "NotIn".into(),
                values: vec!["r9".into()],
            }],
        };
        let reqs = requirements(Some(&selector)).expect("valid");
        assert_eq!(reqs.len(), 2);
        assert!(matches_all(
            &reqs,
            &labels(&[("role", "worker"), ("rack", "r1")])
        ));
        assert!(!matches_all(
            &reqs,
            &labels(&[("role", "worker"), ("rack", "r9")])
        ));
        assert!(!matches_all(&reqs, &labels(&[("rack", "r1")])));
        assert!(requirements(None).expect("none").is_empty());
        let bad = HostSelector {
            match_expressions: vec![HostSelectorRequirement {
                key: "rack".into(),
                operator: "near".into(),
                values: vec![],
            }],
            ..Default::default()
        };
        let e = requirements(Some(&bad)).expect_err("bad operator");
        assert_eq!(e.field, "spec.hostSelector.matchExpressions[0].operator");
    }
}
