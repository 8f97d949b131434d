//! The vocabulary every rule set shares: one problem with one field ([`FieldError`]), what
//! judging one object found ([`Findings`]), whether the object was ours to judge at all
//! ([`Verdict`]), and decoding an untyped JSON object into its kind so that a value that does
//! not fit is reported as a problem with the field it sits in ([`decode`], [`check`]).
//!
//! [`check`] judges an object twice over: as upstream's webhook does (decoded as Go decodes,
//! [`crate::decoding::decode_like_go`], then the rules), and as the API server decodes a
//! manifest before any webhook is asked ([`Findings::schema_errors`],
//! [`Findings::unknown_fields`]). The webhooks answer with the first only — the API server has
//! already refused or pruned what the second finds — and `metal3 validate` reports both.

use std::fmt;

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::constraints::violations;
use crate::decoding::{
    as_api_server_stores, decode_like_api_server, decode_like_go, schema_of_object,
    status_is_subresource,
};

/// One admission problem: which field, and what is wrong with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    /// JSON path of the offending field, e.g. `spec.bmc.address` or `metadata.annotations`.
    pub field: String,
    /// What is wrong and, where it helps, how to fix it.
    pub message: String,
}

impl FieldError {
    /// A problem with `field`.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// What judging one object found: it is refused when there is any error; warnings go back to
/// the client of an accepted object.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Findings {
    /// Every problem found (not just the first); empty when the object is accepted.
    pub errors: Vec<FieldError>,
    /// Warnings returned to the client; they never refuse the object.
    pub warnings: Vec<String>,
    /// What the API server refuses before any webhook is asked: a required field missing, a
    /// value of the wrong type or an unknown enum value, a value outside the schema's bounds,
    /// lengths or pattern. A webhook never sees such an object
    /// and never answers with these; `metal3 validate` reports them (and then nothing else,
    /// as the webhook is not reached).
    pub schema_errors: Vec<FieldError>,
    /// Fields the kind's schema does not know. `kubectl apply` asks for strict field
    /// validation, so the API server refuses them; with pruning it drops them silently, and
    /// a webhook never sees them. `metal3 validate` reports them.
    pub unknown_fields: Vec<FieldError>,
}

impl Findings {
    /// Findings of `errors` and no warnings.
    pub fn from_errors(errors: Vec<FieldError>) -> Self {
        Self {
            errors,
            ..Self::default()
        }
    }

    /// Every error in one line, each naming its field: `field: message; field: message`.
    pub fn message(&self) -> String {
        self.errors
            .iter()
            .map(FieldError::to_string)
            .collect::<Vec<_>>()
            .join("; ")
    }
}

impl From<Vec<FieldError>> for Findings {
    fn from(errors: Vec<FieldError>) -> Self {
        Self::from_errors(errors)
    }
}

/// The verdict on one object offered to a rule set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Not a kind this rule set judges: nothing to say about it.
    NotOurs,
    /// One of its kinds, with what was found (no errors when it is valid).
    Checked(Findings),
}

impl Verdict {
    /// What a webhook answers: the warnings, and why the object is refused when it has errors
    /// (nothing for a kind that is not ours).
    pub fn outcome(self) -> (Vec<String>, Option<String>) {
        match self {
            Verdict::NotOurs => (Vec::new(), None),
            Verdict::Checked(findings) => {
                let denial = (!findings.errors.is_empty()).then(|| findings.message());
                (findings.warnings, denial)
            }
        }
    }
}

/// Decodes a JSON object into `T`, naming the field that does not fit (`(object)` when the
/// object as a whole does not, e.g. a required field is missing).
pub fn decode<T: DeserializeOwned>(value: &Value) -> Result<T, FieldError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." {
            "(object)".to_string()
        } else {
            path
        };
        FieldError::new(field, e.into_inner().to_string())
    })
}

/// Judges `new` (and, on update, against `old`) as `T` with `rules`, as upstream's webhook
/// does: both are decoded as Go decodes them (an absent field is its zero value; see
/// [`decode_like_go`]), guided by the schema of their `apiVersion` and `kind`. An object that
/// still does not decode (a wrong JSON type) is refused with the field that does not fit; for
/// the old object the field is prefixed with `(old object)`.
///
/// Beside that, `new` is decoded as the API server decodes a manifest (nulls pruned, defaults
/// applied, then strictly; a status subresource is ignored but for its unknown fields), filling
/// [`Findings::schema_errors`] and [`Findings::unknown_fields`]; the rules see the object as
/// the API server would store it.
pub fn check<T, R>(
    new: &Value,
    old: Option<&Value>,
    rules: impl Fn(&T, Option<&T>) -> R,
) -> Findings
where
    T: DeserializeOwned,
    R: Into<Findings>,
{
    let schema = schema_of_object(new);
    let stored = as_api_server_stores(new, schema);
    let (strict, mut unknown_fields) = decode_like_api_server::<T>(&stored);
    // Every kind's type fields, which kube's types read without a field of their own.
    unknown_fields.retain(|e| !matches!(e.field.as_str(), "apiVersion" | "kind"));
    // A write to the object itself ignores a status subresource: only its unknown fields count.
    let mut checked = stored.clone();
    if status_is_subresource(new)
        && let Some(object) = checked.as_object_mut()
    {
        object.remove("status");
    }
    let strict = match checked == stored {
        true => strict.map(|_| ()),
        false => decode_like_api_server::<T>(&checked).0.map(|_| ()),
    };
    // Our types always have a `spec`; the schemas, like upstream's, do not require one, so the
    // API server takes an object without it (upstream's samples have an empty `spec:`).
    let spec_optional = schema.is_none_or(|s| {
        !s["required"]
            .as_array()
            .is_some_and(|r| r.iter().any(|f| f == "spec"))
    });
    let strict = strict.or_else(|e| match spec_optional && is_missing_spec(&e) {
        true => Ok(()),
        false => Err(e),
    });
    let server = |mut findings: Findings| {
        findings.schema_errors = strict.as_ref().err().cloned().into_iter().collect();
        if let Some(schema) = schema {
            findings.schema_errors.extend(violations(&checked, schema));
        }
        findings.unknown_fields = unknown_fields.clone();
        findings
    };
    // A status the API server would ignore does not keep the rules from judging the rest.
    let decoded = decode_like_go::<T>(&stored, schema).or_else(|e| match checked == stored {
        true => Err(e),
        false => decode_like_go::<T>(&checked, schema),
    });
    let new = match decoded {
        Ok(v) => v,
        Err(e) => return server(Findings::from_errors(vec![e])),
    };
    let old = match old
        .map(|o| decode_like_go::<T>(o, schema_of_object(o).or(schema)))
        .transpose()
    {
        Ok(v) => v,
        Err(e) => {
            return server(Findings::from_errors(vec![FieldError::new(
                format!("(old object) {}", e.field),
                e.message,
            )]));
        }
    };
    server(rules(&new, old.as_ref()).into())
}

/// Whether `e` is the decoding error of an object without `spec`.
fn is_missing_spec(e: &FieldError) -> bool {
    e.field == "(object)" && e.message == "missing field `spec`"
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use serde_json::json;

    #[derive(Debug, Deserialize)]
    struct Thing {
        size: u32,
    }

    fn no_zero(new: &Thing, _old: Option<&Thing>) -> Vec<FieldError> {
        match new.size {
            0 => vec![FieldError::new("size", "must not be zero")],
            _ => Vec::new(),
        }
    }

    #[test]
    fn decoding_problems_name_the_field_of_the_object_they_are_in() {
        let wrong_type = check(&json!({"size": "big"}), None, no_zero);
        assert_eq!(wrong_type.errors.len(), 1);
        assert_eq!(wrong_type.errors[0].field, "size");
        let missing = check(&json!({}), None, no_zero);
        assert_eq!(missing.errors[0].field, "(object)");
        assert!(missing.errors[0].message.contains("size"));
        let old = check(&json!({"size": 1}), Some(&json!({"size": -1})), no_zero);
        assert_eq!(old.errors[0].field, "(old object) size");
        let updated = check(&json!({"size": 1}), Some(&json!({"size": 2})), no_zero);
        assert_eq!(updated, Findings::default());
        let refused = check(&json!({"size": 0}), None, no_zero);
        assert_eq!(refused.message(), "size: must not be zero");
    }

    #[test]
    fn the_message_names_every_field() {
        let findings = Findings::from_errors(vec![
            FieldError::new("spec.a", "is wrong"),
            FieldError::new("spec.b", "is missing"),
        ]);
        assert_eq!(findings.message(), "spec.a: is wrong; spec.b: is missing");
        assert_eq!(Findings::default().message(), "");
    }
}
