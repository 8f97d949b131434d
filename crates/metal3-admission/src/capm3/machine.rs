//! Metal3Machine and Metal3MachineTemplate: the image to deploy (unless a custom deploy is
//! given), and Secrets in the machine's own namespace.

use metal3_api::v1alpha1::SecretReference;
use metal3_bmc::url::parse_request_uri;
use metal3_capm3_api::v1beta2::{Image, Metal3Machine, Metal3MachineTemplate};

use crate::verdict::{FieldError, Findings};

/// The image rules (when no custom deploy is given): a URL Go's `url.ParseRequestURI` accepts;
/// `oci://` images without checksum; other images, except live ISOs, with a checksum, whose
/// URL form must parse.
pub fn validate_image(image: &Image, path: &str) -> Vec<FieldError> {
    let mut out = Vec::new();
    if image.url.is_empty() && image.checksum.is_none() {
        out.push(FieldError::new(
            path,
            "set image (url and checksum) or customDeploy: the host needs something to deploy",
        ));
        return out;
    }
    if image.url.is_empty() {
        out.push(FieldError::new(
            format!("{path}.url"),
            "required: where to download the image",
        ));
    } else if parse_request_uri(&image.url).is_err() {
        out.push(FieldError::new(
            format!("{path}.url"),
            format!(
                "{:?} is not a valid URL; write e.g. http://images.example/os.qcow2",
                image.url
            ),
        ));
    }
    if image.is_oci() {
        if image.checksum.as_deref().is_some_and(|c| !c.is_empty()) {
            out.push(FieldError::new(
                format!("{path}.checksum"),
                "must be empty for oci:// images (the registry digest is used)",
            ));
        }
        if image.checksum_type.is_some() {
            out.push(FieldError::new(
                format!("{path}.checksumType"),
                "must be empty for oci:// images",
            ));
        }
        return out;
    }
    if image.disk_format.map(|f| f.as_str()) != Some("live-iso") {
        match image.checksum.as_deref() {
            None | Some("") => out.push(FieldError::new(
                format!("{path}.checksum"),
                "required: the image checksum, or the URL of a checksum file (only live-iso and \
                 oci:// images go without)",
            )),
            Some(c)
                if (c.starts_with("http://") || c.starts_with("https://"))
                    && parse_request_uri(c).is_err() =>
            {
                out.push(FieldError::new(
                    format!("{path}.checksum"),
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
        FieldError::new(
            format!("{path}.namespace"),
            format!(
                "the Secret must be in the Metal3Machine's namespace {namespace:?}, not {ns:?}; \
                 leave the namespace out"
            ),
        )
    })
}

/// The rules of a Metal3Machine: the image unless a custom deploy is given, and user data,
/// metadata and network data Secrets in the machine's namespace.
pub fn metal3machine(new: &Metal3Machine) -> Findings {
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
    Findings::from_errors(out)
}

/// The rules of a Metal3MachineTemplate: the image unless a custom deploy is given.
pub fn metal3machinetemplate(new: &Metal3MachineTemplate) -> Findings {
    let spec = &new.spec.template.spec;
    if spec.custom_deploy.method.is_empty() {
        Findings::from_errors(validate_image(&spec.image, "spec.template.spec.image"))
    } else {
        Findings::default()
    }
}
