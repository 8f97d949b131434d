//! Metal3Data and Metal3DataClaim.

use metal3_api::v1alpha1::ObjectReference;

use super::{ConversionError, Kind, narrow, non_empty, object_ref, object_reference};
use crate::{v1beta1 as old, v1beta2 as new};

pub(crate) struct Data;
pub(crate) struct DataClaim;

/// `None` for a reference that names nothing.
fn optional_ref(r: &ObjectReference) -> Option<new::Metal3ObjectRef> {
    let r = object_ref(r);
    (r != new::Metal3ObjectRef::default()).then_some(r)
}

fn required_ref(r: Option<&new::Metal3ObjectRef>) -> ObjectReference {
    r.map(object_reference).unwrap_or_default()
}

impl Kind for Data {
    const KIND: &'static str = "Metal3Data";
    type SpokeSpec = old::Metal3DataSpec;
    type HubSpec = new::Metal3DataSpec;
    type SpokeStatus = old::Metal3DataStatus;
    type HubStatus = new::Metal3DataStatus;

    fn spec_up(s: &Self::SpokeSpec) -> Result<Self::HubSpec, ConversionError> {
        Ok(new::Metal3DataSpec {
            // v1beta1 leaves index 0 out; it still is index 0.
            index: Some(narrow(s.index, "spec.index")?),
            meta_data: s.meta_data.clone(),
            network_data: s.network_data.clone(),
            claim: optional_ref(&s.claim),
            template: optional_ref(&s.template),
        })
    }

    fn spec_down(s: &Self::HubSpec) -> Self::SpokeSpec {
        old::Metal3DataSpec {
            index: s.index.unwrap_or(0).into(),
            template_reference: String::new(),
            meta_data: s.meta_data.clone(),
            network_data: s.network_data.clone(),
            claim: required_ref(s.claim.as_ref()),
            template: required_ref(s.template.as_ref()),
        }
    }

    fn status_up(s: &Self::SpokeStatus) -> Result<Self::HubStatus, ConversionError> {
        Ok(new::Metal3DataStatus {
            ready: s.ready.then_some(true),
            error_message: s.error_message.clone().unwrap_or_default(),
        })
    }

    fn status_down(s: &Self::HubStatus) -> Self::SpokeStatus {
        old::Metal3DataStatus {
            ready: s.ready == Some(true),
            error_message: non_empty(&s.error_message),
        }
    }
}

impl Kind for DataClaim {
    const KIND: &'static str = "Metal3DataClaim";
    type SpokeSpec = old::Metal3DataClaimSpec;
    type HubSpec = new::Metal3DataClaimSpec;
    type SpokeStatus = old::Metal3DataClaimStatus;
    type HubStatus = new::Metal3DataClaimStatus;

    fn spec_up(s: &Self::SpokeSpec) -> Result<Self::HubSpec, ConversionError> {
        Ok(new::Metal3DataClaimSpec {
            template: optional_ref(&s.template),
        })
    }

    fn spec_down(s: &Self::HubSpec) -> Self::SpokeSpec {
        old::Metal3DataClaimSpec {
            template: required_ref(s.template.as_ref()),
        }
    }

    fn status_up(s: &Self::SpokeStatus) -> Result<Self::HubStatus, ConversionError> {
        Ok(new::Metal3DataClaimStatus {
            rendered_data: s.rendered_data.as_ref().map(object_ref),
            error_message: s.error_message.clone().unwrap_or_default(),
        })
    }

    fn status_down(s: &Self::HubStatus) -> Self::SpokeStatus {
        old::Metal3DataClaimStatus {
            rendered_data: s.rendered_data.as_ref().map(object_reference),
            error_message: non_empty(&s.error_message),
        }
    }
}
