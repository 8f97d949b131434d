//! Wire compatibility of the generated CAPM3 CRDs with upstream's, for both served versions:
//! every upstream field path of v1beta1 and v1beta2 exists in ours with the same type, format,
//! enum, bounds, pattern, default, required set and list/map markers (see
//! `metal3_api::compat`), names, versions, printer columns and labels match, and every
//! description is our own.

use std::path::Path;

use metal3_api::compat;
use metal3_capm3_api::crds;

/// Deliberate deviations from upstream: `(kind, path, attribute, why)`.
const ALLOWED: &[compat::Deviation<'static>] = &[(
    "Metal3Machine",
    "status.failureDomain",
    "field",
    "the v1beta2 contract's optional field where an infrastructure machine reports its actual \
     failure domain; upstream's v1beta2 Metal3Machine lacks it, so Cluster API leaves \
     Machine.status.failureDomain empty. Same bounds as Machine.status.failureDomain",
)];

#[test]
fn every_kind_matches_upstream_crd() {
    let shared = compat::shared_dir(Path::new(env!("CARGO_MANIFEST_DIR")));
    // Any deviation allowed some day must say why.
    let mut problems = compat::unexplained(ALLOWED);
    for crd in crds::all() {
        let ours = serde_json::to_value(&crd).expect("CRD serialises to JSON");
        match compat::read_upstream(
            &shared,
            "cluster-api-provider-metal3",
            &crds::file_name(&crd),
        ) {
            Ok(theirs) => {
                problems.extend(compat::compare_crd(&ours, &theirs, ALLOWED));
                // Upstream's own labels (the `clusterctl move` label) are ours too.
                if let Some(labels) = theirs["metadata"]["labels"].as_object() {
                    for (key, value) in labels {
                        if ours["metadata"]["labels"][key] != *value {
                            problems
                                .push(format!("{}: label {key} missing", crds::file_name(&crd)));
                        }
                    }
                }
            }
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
