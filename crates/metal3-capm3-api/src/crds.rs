//! The CustomResourceDefinitions of the nine CAPM3 kinds, generated from the Rust types: one CRD
//! per kind serving v1beta1 (deprecated) and v1beta2 (storage), labelled with the Cluster API
//! contract versions so that Cluster API finds the version to use.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    CustomResourceConversion, CustomResourceDefinition, ServiceReference, WebhookClientConfig,
    WebhookConversion,
};
use kube::CustomResourceExt;
use kube::core::crd::merge_crds;

use crate::{v1beta1, v1beta2};

pub use metal3_api::crds::{CrdError, file_name, to_yaml};

/// The storage version.
pub const STORAGE_VERSION: &str = "v1beta2";
/// The Cluster API contract labels every CRD carries: contract → versions of that contract.
pub const CONTRACT_LABELS: &[(&str, &str)] = &[
    ("cluster.x-k8s.io/v1beta1", "v1beta1"),
    ("cluster.x-k8s.io/v1beta2", "v1beta2"),
];
/// Path of the conversion webhook, as upstream serves it.
pub const CONVERSION_PATH: &str = "/convert";

/// Kinds whose upstream v1beta2 schema requires `spec` at the top level.
const SPEC_REQUIRED: &[&str] = &["Metal3ClusterTemplate", "Metal3MachineTemplate"];

/// Kinds whose upstream CRD declares an empty `subresources` (no status subresource).
const EMPTY_SUBRESOURCES: &[&str] = &["Metal3MachineTemplate"];

/// Every CAPM3 CRD, in a stable order, with both versions.
pub fn all() -> Vec<CustomResourceDefinition> {
    let pairs = [
        (v1beta1::Metal3Cluster::crd(), v1beta2::Metal3Cluster::crd()),
        (
            v1beta1::Metal3ClusterTemplate::crd(),
            v1beta2::Metal3ClusterTemplate::crd(),
        ),
        (v1beta1::Metal3Data::crd(), v1beta2::Metal3Data::crd()),
        (
            v1beta1::Metal3DataClaim::crd(),
            v1beta2::Metal3DataClaim::crd(),
        ),
        (
            v1beta1::Metal3DataTemplate::crd(),
            v1beta2::Metal3DataTemplate::crd(),
        ),
        (v1beta1::Metal3Machine::crd(), v1beta2::Metal3Machine::crd()),
        (
            v1beta1::Metal3MachineTemplate::crd(),
            v1beta2::Metal3MachineTemplate::crd(),
        ),
        (
            v1beta1::Metal3Remediation::crd(),
            v1beta2::Metal3Remediation::crd(),
        ),
        (
            v1beta1::Metal3RemediationTemplate::crd(),
            v1beta2::Metal3RemediationTemplate::crd(),
        ),
    ];
    pairs
        .into_iter()
        .map(|(old, new)| {
            let mut crd = merge_crds(vec![old, new], STORAGE_VERSION)
                // Both halves come from this crate's types with the same group and kind.
                .unwrap_or_else(|e| panic!("the two versions of a CAPM3 kind must merge: {e}"));
            finish(&mut crd);
            crd
        })
        .collect()
}

fn finish(crd: &mut CustomResourceDefinition) {
    let kind = crd.spec.names.kind.clone();
    let labels = crd.metadata.labels.get_or_insert_with(Default::default);
    for (key, value) in CONTRACT_LABELS {
        labels.insert((*key).to_string(), (*value).to_string());
    }
    crd.spec.versions.sort_by(|a, b| a.name.cmp(&b.name));
    for version in &mut crd.spec.versions {
        version.deprecated = (version.name != STORAGE_VERSION).then_some(true);
        if EMPTY_SUBRESOURCES.contains(&kind.as_str()) && version.subresources.is_none() {
            version.subresources = Some(Default::default());
        }
    }
    metal3_api::crds::normalise(crd, &[]);
    if SPEC_REQUIRED.contains(&kind.as_str()) {
        for version in &mut crd.spec.versions {
            if let Some(schema) = version
                .schema
                .as_mut()
                .and_then(|s| s.open_api_v3_schema.as_mut())
                .filter(|_| version.name == STORAGE_VERSION)
            {
                schema.required = Some(vec!["spec".into()]);
            }
        }
    }
}

/// Points `crd` at a conversion webhook: the Service `namespace/name` (port 443) or, when
/// `url` is given, that URL (tests on loopback), trusting `ca_bundle` (PEM).
pub fn with_conversion_webhook(
    crd: &mut CustomResourceDefinition,
    service: Option<(&str, &str)>,
    url: Option<&str>,
    ca_bundle: &[u8],
) {
    crd.spec.conversion = Some(CustomResourceConversion {
        strategy: "Webhook".into(),
        webhook: Some(WebhookConversion {
            conversion_review_versions: vec!["v1".into()],
            client_config: Some(WebhookClientConfig {
                ca_bundle: Some(k8s_openapi::ByteString(ca_bundle.to_vec())),
                service: service.map(|(namespace, name)| ServiceReference {
                    namespace: namespace.into(),
                    name: name.into(),
                    path: Some(CONVERSION_PATH.into()),
                    port: Some(443),
                }),
                url: url.map(|u| format!("{}{CONVERSION_PATH}", u.trim_end_matches('/'))),
            }),
        }),
    });
}

/// Every CRD as `(file name, YAML)`, in the order of [`all`].
pub fn render_all() -> Result<Vec<(String, String)>, CrdError> {
    all()
        .iter()
        .map(|crd| Ok((file_name(crd), to_yaml(crd)?)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_crd_carries_both_versions_with_v1beta2_stored() {
        let crds = all();
        assert_eq!(crds.len(), 9);
        for crd in &crds {
            let names: Vec<_> = crd.spec.versions.iter().map(|v| v.name.as_str()).collect();
            assert_eq!(names, ["v1beta1", "v1beta2"], "{}", crd.spec.names.kind);
            let stored: Vec<_> = crd
                .spec
                .versions
                .iter()
                .filter(|v| v.storage)
                .map(|v| v.name.as_str())
                .collect();
            assert_eq!(stored, ["v1beta2"]);
            assert!(crd.spec.versions.iter().all(|v| v.served));
            assert_eq!(crd.spec.versions[0].deprecated, Some(true));
            let labels = crd.metadata.labels.clone().unwrap_or_default();
            for (k, v) in CONTRACT_LABELS {
                assert_eq!(labels.get(*k).map(String::as_str), Some(*v));
            }
        }
    }

    #[test]
    fn conversion_webhook_is_wired_to_the_convert_path() {
        let mut crd = v1beta2::Metal3Machine::crd();
        with_conversion_webhook(&mut crd, None, Some("https://127.0.0.1:9443/"), b"PEM");
        let conversion = crd.spec.conversion.expect("conversion set");
        assert_eq!(conversion.strategy, "Webhook");
        let config = conversion
            .webhook
            .and_then(|w| w.client_config)
            .expect("client config");
        assert_eq!(
            config.url.as_deref(),
            Some("https://127.0.0.1:9443/convert")
        );
    }
}
