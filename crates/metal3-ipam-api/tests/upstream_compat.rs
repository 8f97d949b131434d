//! Wire compatibility of the generated IPAM CRDs with upstream's (`ip-address-manager`): every
//! upstream field path of IPPool, IPClaim and IPAddress exists in ours with the same type,
//! format, enum, bounds, pattern, default, required set and list/map markers (see
//! `metal3_api::compat`), names, scope, versions, subresources and printer columns match, and
//! every description is our own.

use std::path::Path;

use metal3_api::compat;
use metal3_ipam_api::crds;

/// Deliberate deviations from upstream: `(kind, path, attribute, why)`.
const ALLOWED: &[compat::Deviation<'static>] = &[];

#[test]
fn every_kind_matches_upstream_crd() {
    let shared = compat::shared_dir(Path::new(env!("CARGO_MANIFEST_DIR")));
    let mut problems = compat::unexplained(ALLOWED);
    let ours = crds::all();
    assert_eq!(ours.len(), 3, "IPPool, IPClaim and IPAddress");
    for crd in ours {
        let value = serde_json::to_value(&crd).expect("CRD serialises to JSON");
        match compat::read_upstream(&shared, "ip-address-manager", &crds::file_name(&crd)) {
            Ok(theirs) => problems.extend(compat::compare_crd(&value, &theirs, ALLOWED)),
            Err(e) => problems.push(e),
        }
    }
    assert!(
        problems.is_empty(),
        "{} differences from upstream:\n{}",
        problems.len(),
        problems.join("\n")
    );
}
