//! The CustomResourceDefinitions of every metal3.io kind, generated from the Rust types.
//!
//! `metal3 crds` prints them and `config/crd/` holds them committed; a test fails when the
//! committed files differ from what [`render_all`] produces.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    CustomResourceDefinition, JSONSchemaProps, JSONSchemaPropsOrArray, JSONSchemaPropsOrBool,
};
use kube::CustomResourceExt;

use crate::v1alpha1;

/// Errors while rendering CRDs.
#[derive(Debug, thiserror::Error)]
pub enum CrdError {
    /// The CRD could not be serialised to YAML.
    #[error("cannot render CRD {name} as YAML: {source}")]
    Yaml {
        /// CRD name.
        name: String,
        /// Underlying serialiser error.
        source: serde_saphyr::SerializeError,
    },
}

/// Fields whose `null` value the API server keeps, as `(kind, dotted path)`; array items are `[]`.
///
/// kube-derive marks every `Option` field `nullable`, but upstream marks only these, and a
/// non-nullable field has its `null` pruned by the API server. [`all`] keeps `nullable` only here.
pub const NULLABLE_FIELDS: &[(&str, &str)] = &[
    ("BareMetalHost", "spec.raid.hardwareRAIDVolumes"),
    ("BareMetalHost", "spec.raid.softwareRAIDVolumes"),
    (
        "BareMetalHost",
        "status.provisioning.raid.hardwareRAIDVolumes",
    ),
    (
        "BareMetalHost",
        "status.provisioning.raid.softwareRAIDVolumes",
    ),
    ("BareMetalHost", "status.operationHistory.deprovision.start"),
    ("BareMetalHost", "status.operationHistory.deprovision.end"),
    ("BareMetalHost", "status.operationHistory.inspect.start"),
    ("BareMetalHost", "status.operationHistory.inspect.end"),
    ("BareMetalHost", "status.operationHistory.provision.start"),
    ("BareMetalHost", "status.operationHistory.provision.end"),
    ("BareMetalHost", "status.operationHistory.register.start"),
    ("BareMetalHost", "status.operationHistory.register.end"),
];

/// Kinds whose upstream CRD declares an empty `subresources` (no status subresource).
const EMPTY_SUBRESOURCES: &[&str] = &["HardwareData"];

/// Kinds whose upstream CRD has a `status` field but no status subresource.
const STATUS_WITHOUT_SUBRESOURCE: &[&str] = &["HostUpdatePolicy"];

/// Every metal3.io CRD, in a stable order, normalised (see [`NULLABLE_FIELDS`]).
pub fn all() -> Vec<CustomResourceDefinition> {
    let mut crds = vec![
        v1alpha1::BareMetalHost::crd(),
        v1alpha1::BMCEventSubscription::crd(),
        v1alpha1::DataImage::crd(),
        v1alpha1::FirmwareSchema::crd(),
        v1alpha1::HardwareData::crd(),
        v1alpha1::HostFirmwareComponents::crd(),
        v1alpha1::HostFirmwareSettings::crd(),
        v1alpha1::HostUpdatePolicy::crd(),
        v1alpha1::PreprovisioningImage::crd(),
        v1alpha1::HostClaim::crd(),
        v1alpha1::HostDeployPolicy::crd(),
    ];
    crds.extend(switch_crds());
    for crd in &mut crds {
        let kind = crd.spec.names.kind.clone();
        for version in &mut crd.spec.versions {
            if EMPTY_SUBRESOURCES.contains(&kind.as_str()) && version.subresources.is_none() {
                version.subresources = Some(Default::default());
            }
            if STATUS_WITHOUT_SUBRESOURCE.contains(&kind.as_str()) {
                version.subresources = None;
            }
        }
        normalise(crd, NULLABLE_FIELDS);
    }
    crds
}

/// Brings a kube-derive CRD to upstream's shape: `listKind` set, `spec` not required at the top
/// level, `nullable` only on the `(kind, path)` pairs listed in `nullable`, and no `null` among
/// an optional enum's values. Shared by every API crate of the workspace.
pub fn normalise(crd: &mut CustomResourceDefinition, nullable: &[(&str, &str)]) {
    let kind = crd.spec.names.kind.clone();
    crd.spec.names.list_kind = Some(format!("{kind}List"));
    for version in &mut crd.spec.versions {
        if let Some(schema) = version
            .schema
            .as_mut()
            .and_then(|s| s.open_api_v3_schema.as_mut())
        {
            // Upstream does not require `spec` at the top level.
            schema.required = None;
            walk(schema, "", &mut |path, s| {
                let keep = nullable.contains(&(kind.as_str(), path));
                s.nullable = keep.then_some(true);
                // An optional enum lists `null` among its values; absence says it already.
                if let Some(values) = s.enum_.as_mut() {
                    values.retain(|v| !v.0.is_null());
                }
            });
        }
    }
}

/// File name of a CRD under `config/crd/`, as upstream names them: `<group>_<plural>.yaml`.
pub fn file_name(crd: &CustomResourceDefinition) -> String {
    format!("{}_{}.yaml", crd.spec.group, crd.spec.names.plural)
}

/// Renders one CRD as a YAML document (starting with `---`).
pub fn to_yaml(crd: &CustomResourceDefinition) -> Result<String, CrdError> {
    let body = serde_saphyr::to_string(crd).map_err(|source| CrdError::Yaml {
        name: crd.metadata.name.clone().unwrap_or_default(),
        source,
    })?;
    Ok(format!("---\n{body}"))
}

/// Every CRD as `(file name, YAML)`, in the order of [`all`].
pub fn render_all() -> Result<Vec<(String, String)>, CrdError> {
    all()
        .iter()
        .map(|crd| Ok((file_name(crd), to_yaml(crd)?)))
        .collect()
}

/// Calls `f` on every schema node with its dotted path (`spec.raid`, `status.conditions[]`).
pub fn walk(
    schema: &mut JSONSchemaProps,
    path: &str,
    f: &mut impl FnMut(&str, &mut JSONSchemaProps),
) {
    f(path, schema);
    let join = |name: &str| {
        if path.is_empty() {
            name.to_string()
        } else {
            format!("{path}.{name}")
        }
    };
    if let Some(props) = schema.properties.as_mut() {
        for (name, child) in props.iter_mut() {
            walk(child, &join(name), f);
        }
    }
    if let Some(JSONSchemaPropsOrArray::Schema(items)) = schema.items.as_mut() {
        walk(items, &format!("{path}[]"), f);
    }
    if let Some(JSONSchemaPropsOrBool::Schema(values)) = schema.additional_properties.as_mut() {
        walk(values, &format!("{path}{{}}"), f);
    }
}

/// The kinds of switch port configuration (BareMetalSwitch, HostNetworkAttachment). Upstream
/// serves a status subresource for HostNetworkAttachment although its schema has no `status`.
fn switch_crds() -> Vec<CustomResourceDefinition> {
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
        CustomResourceSubresourceStatus, CustomResourceSubresources,
    };
    let mut attachment = v1alpha1::HostNetworkAttachment::crd();
    for version in &mut attachment.spec.versions {
        version.subresources = Some(CustomResourceSubresources {
            status: Some(CustomResourceSubresourceStatus(serde_json::json!({}))),
            ..Default::default()
        });
    }
    vec![v1alpha1::BareMetalSwitch::crd(), attachment]
}
