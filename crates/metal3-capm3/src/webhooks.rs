//! The admission rules of the CAPM3 webhooks, as pure functions over v1beta2 objects: defaults
//! (Metal3Cluster, Metal3RemediationTemplate) and validation (all nine kinds), returning every
//! problem with the field it concerns. The webhook server in [`crate::admission`] serves them
//! at upstream's paths; v1beta1 requests reach them converted (`matchPolicy: Equivalent`).

use metal3_api::v1alpha1::SecretReference;
use metal3_capm3_api::common::RemediationType;
use metal3_capm3_api::v1beta2::{
    Image, Metal3Cluster, Metal3ClusterSpec, Metal3Data, Metal3DataClaim, Metal3DataTemplate,
    Metal3Machine, Metal3MachineTemplate, Metal3ObjectRef, Metal3Remediation,
    Metal3RemediationTemplate, RemediationStrategy,
};
use serde::de::DeserializeOwned;
use serde_json::Value;

/// Shortest remediation timeout, in seconds.
pub const MIN_TIMEOUT_SECONDS: i32 = 100;
/// Remediation timeout when none is given, in seconds.
pub const DEFAULT_TIMEOUT_SECONDS: i32 = 600;
/// Smallest remediation retry limit.
pub const MIN_RETRY_LIMIT: i32 = 1;
/// Port of a control-plane endpoint when none is given.
pub const DEFAULT_API_PORT: i32 = 6443;

/// One problem, with the dotted path of its field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    /// Dotted path, e.g. `spec.image.url`.
    pub field: String,
    /// What is wrong and how to fix it.
    pub message: String,
}

fn problem(field: &str, message: impl Into<String>) -> FieldError {
    FieldError {
        field: field.to_string(),
        message: message.into(),
    }
}

/// The verdict on one object.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Verdict {
    /// Problems; the object is refused when there is any.
    pub errors: Vec<FieldError>,
    /// Warnings returned to the client (the object is still accepted).
    pub warnings: Vec<String>,
}

impl Verdict {
    fn errors(errors: Vec<FieldError>) -> Self {
        Self {
            errors,
            warnings: Vec::new(),
        }
    }
}

/// Whether Go's `url.ParseRequestURI` would accept `text`: an absolute URI with a scheme, or
/// an absolute path, without control characters or spaces in the authority.
pub fn request_uri_ok(text: &str) -> bool {
    if text.is_empty() || text.chars().any(|c| c.is_control()) {
        return false;
    }
    if text.starts_with('/') {
        return true;
    }
    let Some((scheme, rest)) = text.split_once(':') else {
        return false;
    };
    let scheme_ok = scheme
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
    let authority_ok = match rest.strip_prefix("//") {
        Some(after) => !after
            .split(['/', '?', '#'])
            .next()
            .unwrap_or_default()
            .contains(' '),
        None => true,
    };
    scheme_ok && authority_ok
}

/// The image rules (when no custom deploy is given): a parseable URL; `oci://` images without
/// checksum; other images, except live ISOs, with a checksum, whose URL form must parse.
pub fn validate_image(image: &Image, path: &str) -> Vec<FieldError> {
    let mut out = Vec::new();
    if image.url.is_empty() && image.checksum.is_none() {
        out.push(problem(
            path,
            "set image (url and checksum) or customDeploy: the host needs something to deploy",
        ));
        return out;
    }
    if image.url.is_empty() {
        out.push(problem(
            &format!("{path}.url"),
            "required: where to download the image",
        ));
    } else if !request_uri_ok(&image.url) {
        out.push(problem(
            &format!("{path}.url"),
            format!(
                "{:?} is not a valid URL; write e.g. http://images.example/os.qcow2",
                image.url
            ),
        ));
    }
    if image.is_oci() {
        if image.checksum.as_deref().is_some_and(|c| !c.is_empty()) {
            out.push(problem(
                &format!("{path}.checksum"),
                "must be empty for oci:// images (the registry digest is used)",
            ));
        }
        if image.checksum_type.is_some() {
            out.push(problem(
                &format!("{path}.checksumType"),
                "must be empty for oci:// images",
            ));
        }
        return out;
    }
    if image.disk_format.map(|f| f.as_str()) != Some("live-iso") {
        match image.checksum.as_deref() {
            None | Some("") => out.push(problem(
                &format!("{path}.checksum"),
                "required: the image checksum, or the URL of a checksum file (only live-iso and \
                 oci:// images go without)",
            )),
            Some(c)
                if (c.starts_with("http://") || c.starts_with("https://"))
                    && !request_uri_ok(c) =>
            {
                out.push(problem(
                    &format!("{path}.checksum"),
                    format!("{c:?} is not a valid URL"),
                ))
            }
            Some(_) => {}
        }
    }
    out
}

fn same_namespace(
    reference: Option<&SecretReference>,
    namespace: &str,
    path: &str,
) -> Option<FieldError> {
    let ns = reference?
        .namespace
        .as_deref()
        .filter(|ns| !ns.is_empty())?;
    (ns != namespace).then(|| {
        problem(
            &format!("{path}.namespace"),
            format!(
                "the Secret must be in the Metal3Machine's namespace {namespace:?}, not {ns:?}; \
                 leave the namespace out"
            ),
        )
    })
}

fn cluster_spec_errors(spec: &Metal3ClusterSpec, path: &str, need_port: bool) -> Vec<FieldError> {
    let mut out = Vec::new();
    if spec.control_plane_endpoint.host.is_empty() {
        out.push(problem(
            &format!("{path}.controlPlaneEndpoint.host"),
            "required: the host name or address of the cluster's API server",
        ));
    }
    if need_port && spec.control_plane_endpoint.port == 0 {
        out.push(problem(
            &format!("{path}.controlPlaneEndpoint.port"),
            "required: the port of the cluster's API server",
        ));
    }
    out
}

fn strategy_errors(strategy: &RemediationStrategy, path: &str) -> Vec<FieldError> {
    let mut out = Vec::new();
    if strategy.timeout_seconds != 0 && strategy.timeout_seconds < MIN_TIMEOUT_SECONDS {
        out.push(problem(
            &format!("{path}.timeoutSeconds"),
            format!(
                "{} is too short: at least {MIN_TIMEOUT_SECONDS} seconds",
                strategy.timeout_seconds
            ),
        ));
    }
    if strategy.r#type != Some(RemediationType::Reboot) {
        out.push(problem(
            &format!("{path}.type"),
            "the only remediation strategy is Reboot",
        ));
    }
    if strategy.retry_limit < MIN_RETRY_LIMIT {
        out.push(problem(
            &format!("{path}.retryLimit"),
            format!(
                "{} is too small: at least {MIN_RETRY_LIMIT}",
                strategy.retry_limit
            ),
        ));
    }
    out
}

fn immutable_ref(
    new: Option<&Metal3ObjectRef>,
    old: Option<&Metal3ObjectRef>,
    path: &str,
) -> Option<FieldError> {
    let key = |r: Option<&Metal3ObjectRef>| {
        r.map(|r| (r.name.clone(), r.namespace.clone()))
            .unwrap_or_default()
    };
    (key(new) != key(old)).then(|| problem(path, "cannot be changed"))
}

const DEPRECATED_CLUSTER_NAME: &str = "spec.clusterName is deprecated and ignored: the cluster comes from the cluster.x-k8s.io/cluster-name label";

fn metal3cluster(new: &Metal3Cluster) -> Verdict {
    Verdict::errors(cluster_spec_errors(&new.spec, "spec", false))
}

fn metal3clustertemplate(new: &Metal3ClusterTemplate_) -> Verdict {
    Verdict::errors(cluster_spec_errors(
        &new.spec.template.spec,
        "spec.template.spec",
        true,
    ))
}

type Metal3ClusterTemplate_ = metal3_capm3_api::v1beta2::Metal3ClusterTemplate;

fn metal3data(new: &Metal3Data, old: Option<&Metal3Data>) -> Verdict {
    let mut out = Vec::new();
    match old {
        None => {
            if let (Some(index), Some(template)) = (new.spec.index, &new.spec.template) {
                let want = format!("{}-{index}", template.name);
                if new.metadata.name.as_deref() != Some(want.as_str()) {
                    out.push(problem(
                        "metadata.name",
                        format!("must be {want:?}: the template name and the index"),
                    ));
                }
            }
            if new.spec.index.is_some_and(|i| i < 0) {
                out.push(problem("spec.index", "must not be negative"));
            }
        }
        Some(old) => {
            if new.spec.index.unwrap_or(0) != old.spec.index.unwrap_or(0) {
                out.push(problem("spec.index", "cannot be changed"));
            }
            out.extend(immutable_ref(
                new.spec.template.as_ref(),
                old.spec.template.as_ref(),
                "spec.template",
            ));
            out.extend(immutable_ref(
                new.spec.claim.as_ref(),
                old.spec.claim.as_ref(),
                "spec.claim",
            ));
        }
    }
    Verdict::errors(out)
}

fn metal3dataclaim(new: &Metal3DataClaim, old: Option<&Metal3DataClaim>) -> Verdict {
    let mut out = Vec::new();
    let template = new.spec.template.clone().unwrap_or_default();
    let namespace = new.metadata.namespace.clone().unwrap_or_default();
    match old {
        None if template.name.is_empty() => out.push(problem(
            "spec.template.name",
            "required: the Metal3DataTemplate to render",
        )),
        None => {}
        Some(old) => out.extend(immutable_ref(
            new.spec.template.as_ref(),
            old.spec.template.as_ref(),
            "spec.template",
        )),
    }
    if !template.namespace.is_empty() && template.namespace != namespace {
        out.push(problem(
            "spec.template.namespace",
            format!("the template must be in the claim's namespace {namespace:?}"),
        ));
    }
    Verdict::errors(out)
}

fn metal3datatemplate(new: &Metal3DataTemplate, old: Option<&Metal3DataTemplate>) -> Verdict {
    let mut verdict = Verdict::default();
    if !new.spec.cluster_name.is_empty() {
        verdict.warnings.push(DEPRECATED_CLUSTER_NAME.into());
    }
    if let Some(old) = old {
        if new.spec.meta_data != old.spec.meta_data {
            verdict.errors.push(problem(
                "spec.metaData",
                "cannot be changed; create a new template",
            ));
        }
        if new.spec.network_data != old.spec.network_data {
            verdict.errors.push(problem(
                "spec.networkData",
                "cannot be changed; create a new template",
            ));
        }
        return verdict;
    }
    if let Some(meta) = &new.spec.meta_data {
        for (i, h) in meta.from_host_interfaces.iter().enumerate() {
            let boot = h.from_boot_mac == Some(true);
            let path = format!("spec.metaData.fromHostInterfaces[{i}].interface");
            if !boot && h.interface.is_empty() {
                verdict.errors.push(problem(
                    &path,
                    "required unless fromBootMAC is true: the NIC whose MAC address to use",
                ));
            }
            if boot && !h.interface.is_empty() {
                verdict
                    .errors
                    .push(problem(&path, "must be empty when fromBootMAC is true"));
            }
        }
    }
    if let Some(networks) = new
        .spec
        .network_data
        .as_ref()
        .and_then(|n| n.networks.as_ref())
    {
        let sources = networks
            .ipv4
            .iter()
            .map(|n| {
                (
                    &n.from_pool_ref.name,
                    &n.ip_address_from_ip_pool,
                    n.from_pool_annotation == Default::default(),
                )
            })
            .map(|s| ("ipv4", s))
            .chain(networks.ipv6.iter().map(|n| {
                (
                    "ipv6",
                    (
                        &n.from_pool_ref.name,
                        &n.ip_address_from_ip_pool,
                        n.from_pool_annotation == Default::default(),
                    ),
                )
            }));
        let mut counters = [0usize; 2];
        for (family, (pool_ref, pool_name, no_annotation)) in sources {
            let i = if family == "ipv4" {
                &mut counters[0]
            } else {
                &mut counters[1]
            };
            if pool_ref.is_empty() && pool_name.is_empty() && no_annotation {
                verdict.errors.push(problem(
                    &format!("spec.networkData.networks.{family}[{i}].fromPoolRef.name"),
                    "required: where the address comes from (fromPoolRef, ipAddressFromIPPool or fromPoolAnnotation)",
                ));
            }
            *i += 1;
        }
    }
    verdict
}

fn metal3machine(new: &Metal3Machine) -> Verdict {
    let mut out = Vec::new();
    if new.spec.custom_deploy.method.is_empty() {
        out.extend(validate_image(&new.spec.image, "spec.image"));
    }
    let ns = new.metadata.namespace.clone().unwrap_or_default();
    out.extend(same_namespace(
        new.spec.user_data.as_ref(),
        &ns,
        "spec.userData",
    ));
    out.extend(same_namespace(
        new.spec.meta_data.as_ref(),
        &ns,
        "spec.metaData",
    ));
    out.extend(same_namespace(
        new.spec.network_data.as_ref(),
        &ns,
        "spec.networkData",
    ));
    Verdict::errors(out)
}

fn metal3machinetemplate(new: &Metal3MachineTemplate) -> Verdict {
    let spec = &new.spec.template.spec;
    if spec.custom_deploy.method.is_empty() {
        Verdict::errors(validate_image(&spec.image, "spec.template.spec.image"))
    } else {
        Verdict::default()
    }
}

fn metal3remediation(new: &Metal3Remediation) -> Verdict {
    Verdict::errors(
        new.spec
            .strategy
            .as_ref()
            .map(|s| strategy_errors(s, "spec.strategy"))
            .unwrap_or_default(),
    )
}

fn metal3remediationtemplate(new: &Metal3RemediationTemplate) -> Verdict {
    let strategy = new.spec.template.spec.strategy.clone().unwrap_or_default();
    Verdict::errors(strategy_errors(&strategy, "spec.template.spec.strategy"))
}

/// The outcome of judging an object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Not a kind these webhooks judge.
    NotOurs,
    /// The verdict.
    Checked(Verdict),
}

fn decode<K: DeserializeOwned>(value: &Value) -> Result<K, FieldError> {
    serde_path_to_error::deserialize(value)
        .map_err(|e| problem(&e.path().to_string(), e.inner().to_string()))
}

fn judged<K: DeserializeOwned>(
    new: &Value,
    old: Option<&Value>,
    rule: impl Fn(&K, Option<&K>) -> Verdict,
) -> Outcome {
    let new: K = match decode(new) {
        Ok(k) => k,
        Err(e) => return Outcome::Checked(Verdict::errors(vec![e])),
    };
    let old: Option<K> = match old.map(decode).transpose() {
        Ok(k) => k,
        Err(e) => return Outcome::Checked(Verdict::errors(vec![e])),
    };
    Outcome::Checked(rule(&new, old.as_ref()))
}

/// Judges a v1beta2 object of `kind` (create when `old` is `None`, else update).
pub fn validate(kind: &str, new: &Value, old: Option<&Value>) -> Outcome {
    match kind {
        "Metal3Cluster" => judged(new, old, |n: &Metal3Cluster, _| metal3cluster(n)),
        "Metal3ClusterTemplate" => judged(new, old, |n: &Metal3ClusterTemplate_, o| {
            // Upstream also refuses an update whose old object is already invalid.
            let mut v = metal3clustertemplate(n);
            if let Some(o) = o {
                v.errors.extend(metal3clustertemplate(o).errors);
            }
            v
        }),
        "Metal3Data" => judged(new, old, metal3data),
        "Metal3DataClaim" => judged(new, old, metal3dataclaim),
        "Metal3DataTemplate" => judged(new, old, metal3datatemplate),
        "Metal3Machine" => judged(new, old, |n: &Metal3Machine, _| metal3machine(n)),
        "Metal3MachineTemplate" => judged(new, old, |n: &Metal3MachineTemplate, _| {
            metal3machinetemplate(n)
        }),
        "Metal3Remediation" => judged(new, old, |n: &Metal3Remediation, _| metal3remediation(n)),
        "Metal3RemediationTemplate" => judged(new, old, |n: &Metal3RemediationTemplate, _| {
            metal3remediationtemplate(n)
        }),
        _ => Outcome::NotOurs,
    }
}

/// Applies upstream's defaults: a Metal3Cluster's endpoint port (6443) and
/// `cloudProviderEnabled` (false); a Metal3RemediationTemplate's strategy type (Reboot),
/// timeout (600 s) and retry limit (1). Returns the defaulted object, or `None` when the kind
/// has no defaults or nothing changed.
pub fn default(kind: &str, object: &Value) -> Result<Option<Value>, FieldError> {
    let defaulted = match kind {
        "Metal3Cluster" => {
            let mut m3c: Metal3Cluster = decode(object)?;
            if m3c.spec.control_plane_endpoint.port == 0 {
                m3c.spec.control_plane_endpoint.port = DEFAULT_API_PORT;
            }
            m3c.spec.cloud_provider_enabled.get_or_insert(false);
            serde_json::to_value(&m3c)
        }
        "Metal3RemediationTemplate" => {
            let mut m3rt: Metal3RemediationTemplate = decode(object)?;
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
            serde_json::to_value(&m3rt)
        }
        _ => return Ok(None),
    }
    .map_err(|e| problem("", format!("cannot encode the defaulted object: {e}")))?;
    // Only the fields defaulted differ; everything the API server sent stays as it was.
    let mut merged = object.clone();
    json_patch::merge(&mut merged, &defaulted);
    Ok((merged != *object).then_some(merged))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(kind: &str, spec: Value) -> Value {
        json!({"apiVersion": "infrastructure.cluster.x-k8s.io/v1beta2", "kind": kind,
               "metadata": {"name": "x", "namespace": "ns"}, "spec": spec})
    }

    fn errors(kind: &str, new: &Value, old: Option<&Value>) -> Vec<String> {
        match validate(kind, new, old) {
            Outcome::Checked(v) => v
                .errors
                .into_iter()
                .map(|e| format!("{}: {}", e.field, e.message))
                .collect(),
            Outcome::NotOurs => panic!("{kind} should be ours"),
        }
    }

    fn fields(kind: &str, new: &Value, old: Option<&Value>) -> Vec<String> {
        errors(kind, new, old)
            .into_iter()
            .map(|e| e.split(": ").next().unwrap_or_default().to_string())
            .collect()
    }

    #[test]
    fn urls_as_go_parses_them() {
        for ok in [
            "http://images/os.img",
            "https://a.b:8080/x?y",
            "file:///var/img",
            "oci://quay.io/x:1",
            "/abs/path",
        ] {
            assert!(request_uri_ok(ok), "{ok}");
        }
        for bad in [
            "",
            "relative/path",
            "http://bad host/x",
            "1http://x",
            "http://x/\u{7}",
        ] {
            assert!(!request_uri_ok(bad), "{bad:?}");
        }
    }

    #[test]
    fn machine_image_rules() {
        let m = |image: Value| obj("Metal3Machine", json!({"image": image}));
        assert!(
            errors(
                "Metal3Machine",
                &m(json!({"url": "http://i/os.img", "checksum": "abc"})),
                None
            )
            .is_empty()
        );
        assert!(
            errors(
                "Metal3Machine",
                &m(json!({"url": "http://i/os.iso", "diskFormat": "live-iso"})),
                None
            )
            .is_empty()
        );
        assert_eq!(
            fields("Metal3Machine", &m(json!({"url": "http://i/os.img"})), None),
            ["spec.image.checksum"]
        );
        assert_eq!(
            fields(
                "Metal3Machine",
                &m(json!({"url": "not a url", "checksum": "c"})),
                None
            ),
            ["spec.image.url"]
        );
        assert_eq!(
            fields(
                "Metal3Machine",
                &m(json!({"url": "oci://r/i", "checksum": "c", "checksumType": "md5"})),
                None
            ),
            ["spec.image.checksum", "spec.image.checksumType"]
        );
        assert!(errors("Metal3Machine", &m(json!({"url": "oci://r/i"})), None).is_empty());
        assert_eq!(
            fields(
                "Metal3Machine",
                &m(json!({"url": "http://i/x", "checksum": "http://bad host/sum"})),
                None
            ),
            ["spec.image.checksum"]
        );
        // Neither image nor custom deploy.
        assert_eq!(
            fields("Metal3Machine", &obj("Metal3Machine", json!({})), None),
            ["spec.image"]
        );
        // A custom deploy needs no image.
        assert!(
            errors(
                "Metal3Machine",
                &obj("Metal3Machine", json!({"customDeploy": {"method": "m"}})),
                None
            )
            .is_empty()
        );
        // Secrets in the machine's namespace only.
        let foreign = obj(
            "Metal3Machine",
            json!({"customDeploy": {"method": "m"}, "userData": {"name": "u", "namespace": "other"}, "metaData": {"name": "m", "namespace": "ns"}}),
        );
        assert_eq!(
            fields("Metal3Machine", &foreign, None),
            ["spec.userData.namespace"]
        );
        let template = obj(
            "Metal3MachineTemplate",
            json!({"template": {"spec": {"image": {"url": "http://i/os.img"}}}}),
        );
        assert_eq!(
            fields("Metal3MachineTemplate", &template, None),
            ["spec.template.spec.image.checksum"]
        );
    }

    #[test]
    fn cluster_defaults_and_rules() {
        let c = obj(
            "Metal3Cluster",
            json!({"controlPlaneEndpoint": {"host": "10.0.0.1"}}),
        );
        let d = default("Metal3Cluster", &c)
            .expect("decodes")
            .expect("changed");
        assert_eq!(d["spec"]["controlPlaneEndpoint"]["port"], 6443);
        assert_eq!(d["spec"]["cloudProviderEnabled"], false);
        assert_eq!(d["metadata"], c["metadata"]);
        assert_eq!(
            default("Metal3Cluster", &d).expect("decodes"),
            None,
            "defaults are idempotent"
        );
        assert!(errors("Metal3Cluster", &d, None).is_empty());
        assert_eq!(
            fields("Metal3Cluster", &obj("Metal3Cluster", json!({})), None),
            ["spec.controlPlaneEndpoint.host"]
        );
        let t = obj(
            "Metal3ClusterTemplate",
            json!({"template": {"spec": {"controlPlaneEndpoint": {"host": "h"}}}}),
        );
        assert_eq!(
            fields("Metal3ClusterTemplate", &t, None),
            ["spec.template.spec.controlPlaneEndpoint.port"]
        );
    }

    #[test]
    fn remediation_defaults_and_rules() {
        let t = obj(
            "Metal3RemediationTemplate",
            json!({"template": {"spec": {}}}),
        );
        let d = default("Metal3RemediationTemplate", &t)
            .expect("decodes")
            .expect("changed");
        assert_eq!(
            d["spec"]["template"]["spec"]["strategy"],
            json!({"type": "Reboot", "retryLimit": 1, "timeoutSeconds": 600})
        );
        assert!(errors("Metal3RemediationTemplate", &d, None).is_empty());
        let r = |s: Value| obj("Metal3Remediation", json!({"strategy": s}));
        assert!(
            errors(
                "Metal3Remediation",
                &r(json!({"type": "Reboot", "retryLimit": 2, "timeoutSeconds": 100})),
                None
            )
            .is_empty()
        );
        assert!(
            errors(
                "Metal3Remediation",
                &r(json!({"type": "Reboot", "retryLimit": 1})),
                None
            )
            .is_empty(),
            "0 means the default"
        );
        assert_eq!(
            fields(
                "Metal3Remediation",
                &r(json!({"type": "Reboot", "retryLimit": 1, "timeoutSeconds": 99})),
                None
            ),
            ["spec.strategy.timeoutSeconds"]
        );
        assert_eq!(
            fields("Metal3Remediation", &r(json!({"retryLimit": 0})), None),
            ["spec.strategy.type", "spec.strategy.retryLimit"]
        );
        assert!(
            errors(
                "Metal3Remediation",
                &obj("Metal3Remediation", json!({})),
                None
            )
            .is_empty(),
            "no strategy, nothing to check"
        );
        assert_eq!(
            default("Metal3Remediation", &r(json!({}))).expect("no defaults"),
            None
        );
    }

    #[test]
    fn data_name_index_and_immutability() {
        let d = |name: &str, spec: Value| {
            let mut o = obj("Metal3Data", spec);
            o["metadata"]["name"] = json!(name);
            o
        };
        let good = d(
            "tmpl-3",
            json!({"index": 3, "template": {"name": "tmpl"}, "claim": {"name": "c"}}),
        );
        assert!(errors("Metal3Data", &good, None).is_empty());
        assert_eq!(
            fields(
                "Metal3Data",
                &d("wrong", json!({"index": 3, "template": {"name": "tmpl"}})),
                None
            ),
            ["metadata.name"]
        );
        let moved = d(
            "tmpl-3",
            json!({"index": 4, "template": {"name": "other"}, "claim": {"name": "c", "namespace": "x"}}),
        );
        assert_eq!(
            fields("Metal3Data", &moved, Some(&good)),
            ["spec.index", "spec.template", "spec.claim"]
        );
        let claim = obj("Metal3DataClaim", json!({"template": {"name": "tmpl"}}));
        assert!(errors("Metal3DataClaim", &claim, None).is_empty());
        assert_eq!(
            fields("Metal3DataClaim", &obj("Metal3DataClaim", json!({})), None),
            ["spec.template.name"]
        );
        let elsewhere = obj(
            "Metal3DataClaim",
            json!({"template": {"name": "tmpl", "namespace": "other"}}),
        );
        assert_eq!(
            fields("Metal3DataClaim", &elsewhere, Some(&claim)),
            ["spec.template", "spec.template.namespace"]
        );
    }

    #[test]
    fn data_template_rules() {
        let t = obj(
            "Metal3DataTemplate",
            json!({
                "clusterName": "c",
                "metaData": {"fromHostInterfaces": [{"key": "a"}, {"key": "b", "interface": "eth0", "fromBootMAC": true}, {"key": "c", "fromBootMAC": true}]},
                "networkData": {"networks": {"ipv4": [{"id": "n", "link": "l"}, {"id": "m", "link": "l", "ipAddressFromIPPool": "p"}], "ipv6": [{"id": "v", "link": "l"}]}},
            }),
        );
        let Outcome::Checked(v) = validate("Metal3DataTemplate", &t, None) else {
            panic!("ours")
        };
        let f: Vec<_> = v.errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            f,
            [
                "spec.metaData.fromHostInterfaces[0].interface",
                "spec.metaData.fromHostInterfaces[1].interface",
                "spec.networkData.networks.ipv4[0].fromPoolRef.name",
                "spec.networkData.networks.ipv6[0].fromPoolRef.name",
            ]
        );
        assert_eq!(v.warnings.len(), 1, "clusterName is deprecated");
        let old = obj(
            "Metal3DataTemplate",
            json!({"metaData": {"strings": [{"key": "a", "value": "b"}]}}),
        );
        let new = obj(
            "Metal3DataTemplate",
            json!({"metaData": {"strings": [{"key": "a", "value": "c"}]}}),
        );
        assert_eq!(
            fields("Metal3DataTemplate", &new, Some(&old)),
            ["spec.metaData"]
        );
    }

    #[test]
    fn undecodable_objects_name_the_field_and_other_kinds_are_not_ours() {
        let bad = obj("Metal3Machine", json!({"image": {"url": 5}}));
        assert_eq!(fields("Metal3Machine", &bad, None), ["spec.image.url"]);
        assert_eq!(validate("Pod", &json!({}), None), Outcome::NotOurs);
    }
}
