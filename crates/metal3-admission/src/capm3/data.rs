//! Metal3Data: its name follows its template and index, which never change.

use metal3_capm3_api::v1beta2::Metal3Data;

use super::immutable_ref;
use crate::verdict::{FieldError, Findings};

/// The rules of a Metal3Data: on create the name `<template>-<index>` and a non-negative
/// index; on update the index, the template and the claim stay as they were.
pub fn metal3data(new: &Metal3Data, old: Option<&Metal3Data>) -> Findings {
    let mut out = Vec::new();
    match old {
        None => {
            if let (Some(index), Some(template)) = (new.spec.index, &new.spec.template) {
                let want = format!("{}-{index}", template.name);
                if new.metadata.name.as_deref() != Some(want.as_str()) {
                    out.push(FieldError::new(
                        "metadata.name",
                        format!("must be {want:?}: the template name and the index"),
                    ));
                }
            }
            if new.spec.index.is_some_and(|i| i < 0) {
                out.push(FieldError::new("spec.index", "must not be negative"));
            }
        }
        Some(old) => {
            if new.spec.index.unwrap_or(0) != old.spec.index.unwrap_or(0) {
                out.push(FieldError::new("spec.index", "cannot be changed"));
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
    Findings::from_errors(out)
}
