//! Wire compatibility of our generated CRDs with upstream Metal³'s.
//!
//! The upstream CRDs live in the read-only `shared/reference/crds/` beside the checkout (CI has
//! them there too; `METAL3_SHARED_DIR` overrides the location). They are data for comparison
//! only: this test walks both schemas and requires every upstream field path to exist in ours
//! with the same type, format, enum, bounds, pattern, default, required set and list/map
//! markers, and no field of ours that upstream lacks. Descriptions must exist and be our own.

use std::path::Path;

use metal3_api::{compat, crds};

/// Deliberate deviations from upstream: `(kind, path, attribute, why)`.
const ALLOWED: &[compat::Deviation<'static>] = &[(
    "BareMetalHost",
    "status.errorType",
    "enum",
    "upstream's controller writes `detach error` but its CRD enum lacks it, so such status \
     writes fail there; we accept it",
)];

#[test]
fn every_kind_matches_upstream_crd() {
    let shared = compat::shared_dir(Path::new(env!("CARGO_MANIFEST_DIR")));
    let mut problems = Vec::new();
    for crd in crds::all() {
        let ours = serde_json::to_value(&crd).expect("CRD serialises to JSON");
        match compat::read_upstream(&shared, "baremetal-operator", &crds::file_name(&crd)) {
            Ok(theirs) => problems.extend(compat::compare_crd(&ours, &theirs, ALLOWED)),
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

#[test]
fn allowed_deviations_are_explained() {
    let unexplained = compat::unexplained(ALLOWED);
    assert!(unexplained.is_empty(), "{}", unexplained.join("\n"));
}
