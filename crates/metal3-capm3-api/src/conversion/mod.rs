//! Conversion between v1beta1 and v1beta2, as pure functions on JSON objects: what the
//! conversion webhook runs for every `ConversionReview` the API server sends.
//!
//! v1beta2 is the hub (the storage version). Going down to v1beta1 loses what v1beta1 cannot
//! say (a `false` that v1beta1 writes as absent, template metadata, a list order); when it
//! does, the v1beta2 spec and status are kept in the annotation
//! [`CONVERSION_DATA_ANNOTATION`], and the next conversion up takes a section (spec or status)
//! from there when the v1beta1 client did not change it. So v1beta2 → v1beta1 → v1beta2 is
//! lossless, and v1beta1 → v1beta2 → v1beta1 loses only the fields v1beta2 removed
//! (`status.phase`, `templateReference`, the extra fields of object references).

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::consts::CONVERSION_DATA_ANNOTATION;
use crate::{v1beta1, v1beta2};

mod cluster;
mod data;
mod datatemplate;
mod machine;
mod remediation;

pub use remediation::{format_go_duration, parse_go_duration};

/// Why an object could not be converted.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConversionError {
    /// The object has no `kind` or `apiVersion`.
    #[error("the object has no {0}")]
    Missing(&'static str),
    /// The kind is not one of the nine CAPM3 kinds.
    #[error("kind {0} is not converted by this webhook (only the nine CAPM3 kinds are)")]
    UnknownKind(String),
    /// The version is neither v1beta1 nor v1beta2 of the group.
    #[error("cannot convert to or from {0}: only {v1} and {v2} are served", v1 = v1beta1::API_VERSION, v2 = v1beta2::API_VERSION)]
    UnknownVersion(String),
    /// The object does not decode as its kind and version.
    #[error("{kind} {version}: {message}")]
    Decode {
        /// Kind of the object.
        kind: String,
        /// Its API version.
        version: String,
        /// The decoder's words, naming the field.
        message: String,
    },
    /// A field holds a value the other version cannot represent.
    #[error("{field}: {message}")]
    Invalid {
        /// Dotted path of the field.
        field: String,
        /// What is wrong and how to fix it.
        message: String,
    },
}

/// A kind's two forms and the conversion of its sections.
pub(crate) trait Kind {
    /// Name of the kind.
    const KIND: &'static str;
    /// v1beta1 spec.
    type SpokeSpec: Serialize + DeserializeOwned + PartialEq + Default;
    /// v1beta2 spec.
    type HubSpec: Serialize + DeserializeOwned + PartialEq + Default + Clone;
    /// v1beta1 status ([`NoStatus`] for kinds without one).
    type SpokeStatus: Serialize + DeserializeOwned + PartialEq + Default;
    /// v1beta2 status.
    type HubStatus: Serialize + DeserializeOwned + PartialEq + Default + Clone;

    fn spec_up(spec: &Self::SpokeSpec) -> Result<Self::HubSpec, ConversionError>;
    fn spec_down(spec: &Self::HubSpec) -> Self::SpokeSpec;
    /// By default a kind has no status to carry.
    fn status_up(_status: &Self::SpokeStatus) -> Result<Self::HubStatus, ConversionError> {
        Ok(Self::HubStatus::default())
    }
    /// See [`Kind::status_up`].
    fn status_down(_status: &Self::HubStatus) -> Self::SpokeStatus {
        Self::SpokeStatus::default()
    }
    /// Restores what v1beta1 cannot express at all (so no v1beta1 edit can have changed it).
    fn keep(_spec: &mut Self::HubSpec, _restored: &Self::HubSpec) {}
}

/// The status of kinds that have none.
#[derive(Serialize, serde::Deserialize, Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct NoStatus {}

/// Converts one object to `desired_api_version` (`infrastructure.cluster.x-k8s.io/v1beta1` or
/// `/v1beta2`). An object already in that version is returned unchanged.
pub fn convert(object: &Value, desired_api_version: &str) -> Result<Value, ConversionError> {
    let kind = object
        .get("kind")
        .and_then(Value::as_str)
        .ok_or(ConversionError::Missing("kind"))?;
    let from = object
        .get("apiVersion")
        .and_then(Value::as_str)
        .ok_or(ConversionError::Missing("apiVersion"))?;
    for version in [from, desired_api_version] {
        if version != v1beta1::API_VERSION && version != v1beta2::API_VERSION {
            return Err(ConversionError::UnknownVersion(version.to_string()));
        }
    }
    if from == desired_api_version {
        return Ok(object.clone());
    }
    let up = desired_api_version == v1beta2::API_VERSION;
    match kind {
        "Metal3Cluster" => run::<cluster::Cluster>(object, up),
        "Metal3ClusterTemplate" => run::<cluster::ClusterTemplate>(object, up),
        "Metal3Machine" => run::<machine::Machine>(object, up),
        "Metal3MachineTemplate" => run::<machine::MachineTemplate>(object, up),
        "Metal3DataTemplate" => run::<datatemplate::DataTemplate>(object, up),
        "Metal3Data" => run::<data::Data>(object, up),
        "Metal3DataClaim" => run::<data::DataClaim>(object, up),
        "Metal3Remediation" => run::<remediation::Remediation>(object, up),
        "Metal3RemediationTemplate" => run::<remediation::RemediationTemplate>(object, up),
        other => Err(ConversionError::UnknownKind(other.to_string())),
    }
}

fn section<T: DeserializeOwned + Default>(
    object: &Value,
    name: &str,
    kind: &str,
    version: &str,
) -> Result<T, ConversionError> {
    match object.get(name) {
        None | Some(Value::Null) => Ok(T::default()),
        Some(value) => {
            serde_path_to_error::deserialize(value).map_err(|e| ConversionError::Decode {
                kind: kind.to_string(),
                version: version.to_string(),
                message: format!("{name}.{}: {}", e.path(), e.inner()),
            })
        }
    }
}

fn to_value<T: Serialize>(value: &T) -> Value {
    // Our own types serialise to JSON without fail (string keys, no non-finite floats).
    serde_json::to_value(value).unwrap_or(Value::Null)
}

/// The hub sections kept in [`CONVERSION_DATA_ANNOTATION`].
#[derive(Serialize, serde::Deserialize)]
struct Kept<S, T> {
    #[serde(default)]
    spec: S,
    #[serde(default)]
    status: T,
}

fn run<K: Kind>(object: &Value, up: bool) -> Result<Value, ConversionError> {
    let mut out = object.clone();
    let annotations = |o: &mut Value| -> Option<Map<String, Value>> {
        o.get_mut("metadata")?
            .get_mut("annotations")?
            .as_object_mut()
            .cloned()
    };
    let mut kept_annotations = annotations(&mut out).unwrap_or_default();
    // A default status is left out unless the object had a status of its own.
    let had_status = object.get("status").is_some_and(|s| s.is_object());
    let (spec, status, api_version, status_is_default) = if up {
        let version = v1beta1::API_VERSION;
        let spoke_spec: K::SpokeSpec = section(object, "spec", K::KIND, version)?;
        let spoke_status: K::SpokeStatus = section(object, "status", K::KIND, version)?;
        let restored: Option<Kept<K::HubSpec, K::HubStatus>> = kept_annotations
            .remove(CONVERSION_DATA_ANNOTATION)
            .and_then(|v| v.as_str().and_then(|s| serde_json::from_str(s).ok()));
        let mut spec = K::spec_up(&spoke_spec)?;
        let mut status = K::status_up(&spoke_status)?;
        if let Some(kept) = restored {
            if K::spec_down(&kept.spec) == spoke_spec {
                spec = kept.spec.clone();
            }
            K::keep(&mut spec, &kept.spec);
            if K::status_down(&kept.status) == spoke_status {
                status = kept.status;
            }
        }
        let omit = status == K::HubStatus::default();
        (
            to_value(&spec),
            to_value(&status),
            v1beta2::API_VERSION,
            omit,
        )
    } else {
        let version = v1beta2::API_VERSION;
        let hub_spec: K::HubSpec = section(object, "spec", K::KIND, version)?;
        let hub_status: K::HubStatus = section(object, "status", K::KIND, version)?;
        let spec = K::spec_down(&hub_spec);
        let status = K::status_down(&hub_status);
        kept_annotations.remove(CONVERSION_DATA_ANNOTATION);
        // Keep the v1beta2 form only when going back up would not give it exactly.
        let lossless = K::spec_up(&spec).is_ok_and(|s| s == hub_spec)
            && K::status_up(&status).is_ok_and(|s| s == hub_status);
        if !lossless {
            let kept = Kept {
                spec: hub_spec,
                status: hub_status,
            };
            kept_annotations.insert(
                CONVERSION_DATA_ANNOTATION.to_string(),
                Value::String(to_value(&kept).to_string()),
            );
        }
        let omit = status == K::SpokeStatus::default();
        (
            to_value(&spec),
            to_value(&status),
            v1beta1::API_VERSION,
            omit,
        )
    };
    out["apiVersion"] = Value::String(api_version.to_string());
    let Some(fields) = out.as_object_mut() else {
        return Err(ConversionError::Missing("object"));
    };
    fields.insert("spec".into(), spec);
    if status_is_default && !had_status {
        fields.remove("status");
    } else {
        fields.insert("status".into(), status);
    }
    if let Some(metadata) = fields.get_mut("metadata").and_then(Value::as_object_mut) {
        if kept_annotations.is_empty() {
            metadata.remove("annotations");
        } else {
            metadata.insert("annotations".into(), Value::Object(kept_annotations));
        }
    }
    Ok(out)
}

/// An `i64` of v1beta1 as the `i32` of v1beta2, or an error naming the field.
pub(crate) fn narrow(value: i64, field: &str) -> Result<i32, ConversionError> {
    i32::try_from(value).map_err(|_| ConversionError::Invalid {
        field: field.to_string(),
        message: format!("{value} does not fit in 32 bits; use a smaller value"),
    })
}

/// `Some(s)` unless `s` is empty.
pub(crate) fn non_empty(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_string())
}

/// A v1beta1 object reference as the name/namespace reference of v1beta2.
pub(crate) fn object_ref(r: &metal3_api::v1alpha1::ObjectReference) -> v1beta2::Metal3ObjectRef {
    v1beta2::Metal3ObjectRef {
        name: r.name.clone().unwrap_or_default(),
        namespace: r.namespace.clone().unwrap_or_default(),
    }
}

/// A v1beta2 name/namespace reference as a v1beta1 object reference.
pub(crate) fn object_reference(
    r: &v1beta2::Metal3ObjectRef,
) -> metal3_api::v1alpha1::ObjectReference {
    metal3_api::v1alpha1::ObjectReference {
        name: non_empty(&r.name),
        namespace: non_empty(&r.namespace),
        ..Default::default()
    }
}
