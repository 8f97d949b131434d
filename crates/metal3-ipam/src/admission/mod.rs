//! The admission rules of the `ipam.metal3.io` webhooks, as pure functions: IPPool's default
//! (`allocationStrategy: sequential`) and the validation of all three kinds, each returning
//! every problem with the field it concerns. The webhook server ([`crate::webhook`]) serves
//! them at upstream's paths.
//!
//! One file per kind: [`ippool`], [`ipclaim`], [`ipaddress`].

use metal3_admission::{FieldError, Verdict, check, decode};
use metal3_ipam_api::consts::REQUESTED_ADDRESS_ANNOTATION;
use metal3_ipam_api::v1alpha1::{IPAddress, IPClaim, IPPool, ObjectReference};
use serde_json::Value;

pub mod ipaddress;
pub mod ipclaim;
pub mod ippool;

#[cfg(test)]
mod tests;

/// Judges an object of `kind` (create when `old` is `None`, else update).
pub fn validate(kind: &str, new: &Value, old: Option<&Value>) -> Verdict {
    let findings = match kind {
        "IPPool" => check(new, old, |n: &IPPool, o: Option<&IPPool>| {
            ippool::validate(n, o)
        }),
        "IPClaim" => check(new, old, |n: &IPClaim, o: Option<&IPClaim>| {
            ipclaim::validate(n, o)
        }),
        "IPAddress" => check(new, old, |n: &IPAddress, o: Option<&IPAddress>| {
            ipaddress::validate(n, o)
        }),
        _ => return Verdict::NotOurs,
    };
    Verdict::Checked(findings)
}

/// Applies upstream's defaults (an IPPool's `allocationStrategy`). Returns the defaulted
/// object, or `None` when the kind has no defaults or nothing changed.
pub fn default(kind: &str, object: &Value) -> Result<Option<Value>, FieldError> {
    if kind != "IPPool" {
        return Ok(None);
    }
    let mut pool: IPPool = decode(object)?;
    if pool.spec.allocation_strategy.is_some() {
        return Ok(None);
    }
    pool.spec.allocation_strategy = Some(pool.spec.strategy());
    let strategy = serde_json::to_value(pool.spec.allocation_strategy)
        .map_err(|e| FieldError::new("spec.allocationStrategy", e.to_string()))?;
    let mut defaulted = object.clone();
    json_patch::merge(
        &mut defaulted,
        &serde_json::json!({"spec": {"allocationStrategy": strategy}}),
    );
    Ok(Some(defaulted))
}

/// The `ipAddress` annotation, when set, must be an address.
fn requested_address(
    annotations: Option<&std::collections::BTreeMap<String, String>>,
) -> Option<FieldError> {
    let value = annotations?.get(REQUESTED_ADDRESS_ANNOTATION)?;
    (!value.is_empty() && crate::range::parse_ip(value).is_none()).then(|| {
        FieldError::new(
            format!("metadata.annotations.{REQUESTED_ADDRESS_ANNOTATION}"),
            format!("{value:?} is not an IP address"),
        )
    })
}

/// A reference whose name, namespace and kind cannot change.
fn unchanged_ref(new: &ObjectReference, old: &ObjectReference, path: &str) -> Option<FieldError> {
    let key = |r: &ObjectReference| (r.name.clone(), r.namespace.clone(), r.kind.clone());
    (key(new) != key(old)).then(|| FieldError::new(path, "cannot be changed"))
}

/// An optional address field, which must be an address when set.
fn address_field(value: Option<&str>, path: &str) -> Option<FieldError> {
    let value = value?;
    crate::range::parse_ip(value)
        .is_none()
        .then(|| FieldError::new(path, format!("{value:?} is not an IP address")))
}
