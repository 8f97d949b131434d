//! IPClaim: it names a pool, keeps it, and asks only for an address that is one.

use metal3_admission::{FieldError, Findings};
use metal3_ipam_api::v1alpha1::IPClaim;

use super::{requested_address, unchanged_ref};

/// The rules of an IPClaim: a pool name on create, the same pool on update, and an
/// `ipAddress` annotation that is an address.
pub fn validate(new: &IPClaim, old: Option<&IPClaim>) -> Findings {
    let mut out = Vec::new();
    match old {
        None if new.spec.pool.name.is_empty() => out.push(FieldError::new(
            "spec.pool.name",
            "required: the IPPool to take the address from",
        )),
        None => {}
        Some(old) => out.extend(unchanged_ref(&new.spec.pool, &old.spec.pool, "spec.pool")),
    }
    out.extend(requested_address(new.metadata.annotations.as_ref()));
    Findings::from_errors(out)
}
