//! IPAddress: an address, its pool and its claim, none of which change once made.

use metal3_admission::{FieldError, Findings};
use metal3_ipam_api::v1alpha1::IPAddress;

use super::{address_field, requested_address, unchanged_ref};

/// The rules of an IPAddress: on create, a pool, a claim and a valid address; on update, the
/// same address, pool and claim.
pub fn validate(new: &IPAddress, old: Option<&IPAddress>) -> Findings {
    let mut out = Vec::new();
    let spec = &new.spec;
    match old {
        None => {
            if spec.pool.name.is_empty() {
                out.push(FieldError::new(
                    "spec.pool.name",
                    "required: the IPPool the address comes from",
                ));
            }
            if spec.claim.name.is_empty() {
                out.push(FieldError::new(
                    "spec.claim.name",
                    "required: the IPClaim holding the address",
                ));
            }
            if spec.address.as_str().is_empty() {
                out.push(FieldError::new("spec.address", "required: the address"));
            } else {
                out.extend(address_field(Some(spec.address.as_str()), "spec.address"));
            }
            out.extend(requested_address(new.metadata.annotations.as_ref()));
        }
        Some(old) => {
            if spec.address != old.spec.address {
                out.push(FieldError::new("spec.address", "cannot be changed"));
            }
            out.extend(unchanged_ref(&spec.pool, &old.spec.pool, "spec.pool"));
            out.extend(unchanged_ref(&spec.claim, &old.spec.claim, "spec.claim"));
        }
    }
    Findings::from_errors(out)
}
