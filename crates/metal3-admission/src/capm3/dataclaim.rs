//! Metal3DataClaim: it names a template in its own namespace, and keeps it.

use metal3_capm3_api::v1beta2::Metal3DataClaim;

use super::immutable_ref;
use crate::verdict::{FieldError, Findings};

/// The rules of a Metal3DataClaim: a template name on create, the same template on update,
/// and a template in the claim's namespace.
pub fn metal3dataclaim(new: &Metal3DataClaim, old: Option<&Metal3DataClaim>) -> Findings {
    let mut out = Vec::new();
    let template = new.spec.template.clone().unwrap_or_default();
    let namespace = new.metadata.namespace.clone().unwrap_or_default();
    match old {
        None if template.name.is_empty() => out.push(FieldError::new(
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
        out.push(FieldError::new(
            "spec.template.namespace",
            format!("the template must be in the claim's namespace {namespace:?}"),
        ));
    }
    Findings::from_errors(out)
}
