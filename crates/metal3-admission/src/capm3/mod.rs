//! Admission rules of the Cluster API provider's webhooks (`infrastructure.cluster.x-k8s.io`),
//! as pure functions over v1beta2 objects: defaults (Metal3Cluster, Metal3RemediationTemplate)
//! and validation (all nine kinds), returning every problem with the field it concerns. The
//! provider's webhook server (`metal3_capm3::webhook`) serves them at upstream's paths; v1beta1
//! requests reach them converted (`matchPolicy: Equivalent`).
//!
//! One file per kind, a kind and its template together since they share their rules:
//! [`cluster`], [`machine`], [`data`], [`dataclaim`], [`datatemplate`], [`remediation`].

use metal3_capm3_api::v1beta2::{
    Metal3Cluster, Metal3ClusterTemplate, Metal3Machine, Metal3MachineTemplate, Metal3ObjectRef,
    Metal3Remediation, Metal3RemediationTemplate,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::verdict::{FieldError, Verdict, check, decode};

pub mod cluster;
pub mod data;
pub mod dataclaim;
pub mod datatemplate;
pub mod machine;
pub mod remediation;

#[cfg(test)]
mod tests;

pub use machine::validate_image;

/// Shortest remediation timeout, in seconds.
pub const MIN_TIMEOUT_SECONDS: i32 = 100;
/// Remediation timeout when none is given, in seconds.
pub const DEFAULT_TIMEOUT_SECONDS: i32 = 600;
/// Smallest remediation retry limit.
pub const MIN_RETRY_LIMIT: i32 = 1;
/// Port of a control-plane endpoint when none is given.
pub const DEFAULT_API_PORT: i32 = 6443;

/// Judges a v1beta2 object of `kind` (create when `old` is `None`, else update).
pub fn validate(kind: &str, new: &Value, old: Option<&Value>) -> Verdict {
    let findings = match kind {
        "Metal3Cluster" => check(new, old, |n: &Metal3Cluster, _| cluster::metal3cluster(n)),
        "Metal3ClusterTemplate" => check(new, old, |n: &Metal3ClusterTemplate, o| {
            // Upstream also refuses an update whose old object is already invalid.
            let mut v = cluster::metal3clustertemplate(n);
            if let Some(o) = o {
                v.errors.extend(cluster::metal3clustertemplate(o).errors);
            }
            v
        }),
        "Metal3Data" => check(new, old, data::metal3data),
        "Metal3DataClaim" => check(new, old, dataclaim::metal3dataclaim),
        "Metal3DataTemplate" => check(new, old, datatemplate::metal3datatemplate),
        "Metal3Machine" => check(new, old, |n: &Metal3Machine, _| machine::metal3machine(n)),
        "Metal3MachineTemplate" => check(new, old, |n: &Metal3MachineTemplate, _| {
            machine::metal3machinetemplate(n)
        }),
        "Metal3Remediation" => check(new, old, |n: &Metal3Remediation, _| {
            remediation::metal3remediation(n)
        }),
        "Metal3RemediationTemplate" => check(new, old, |n: &Metal3RemediationTemplate, _| {
            remediation::metal3remediationtemplate(n)
        }),
        _ => return Verdict::NotOurs,
    };
    Verdict::Checked(findings)
}

/// Applies upstream's defaults: a Metal3Cluster's endpoint port (6443) and
/// `cloudProviderEnabled` (false); a Metal3RemediationTemplate's strategy type (Reboot),
/// timeout (600 s) and retry limit (1). Returns the defaulted object, or `None` when the kind
/// has no defaults or nothing changed.
pub fn default(kind: &str, object: &Value) -> Result<Option<Value>, FieldError> {
    let defaulted = match kind {
        "Metal3Cluster" => defaulted(object, cluster::apply_defaults)?,
        "Metal3RemediationTemplate" => defaulted(object, remediation::apply_template_defaults)?,
        _ => return Ok(None),
    };
    // Only the fields defaulted differ; everything the API server sent stays as it was.
    let mut merged = object.clone();
    json_patch::merge(&mut merged, &defaulted);
    Ok((merged != *object).then_some(merged))
}

/// `object` decoded as `K`, defaulted by `apply` and encoded again.
fn defaulted<K: DeserializeOwned + Serialize>(
    object: &Value,
    apply: fn(&mut K),
) -> Result<Value, FieldError> {
    let mut typed: K = decode(object)?;
    apply(&mut typed);
    serde_json::to_value(&typed)
        .map_err(|e| FieldError::new("", format!("cannot encode the defaulted object: {e}")))
}

/// A reference that cannot change on update: an error at `path` when `new` and `old` differ.
fn immutable_ref(
    new: Option<&Metal3ObjectRef>,
    old: Option<&Metal3ObjectRef>,
    path: &str,
) -> Option<FieldError> {
    let key = |r: Option<&Metal3ObjectRef>| {
        r.map(|r| (r.name.clone(), r.namespace.clone()))
            .unwrap_or_default()
    };
    (key(new) != key(old)).then(|| FieldError::new(path, "cannot be changed"))
}
