//! The container image `hack/image.sh` builds, read back as users' tools read it: skopeo shows
//! its entrypoint, user, platform and labels; its one layer holds the static binary (which runs
//! without a dynamic loader or libc in the image), a non-root user and nothing else; and the
//! manifests in `config/` deploy exactly this name and tag.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

const NAME: &str = "ghcr.io/metal3-rs/metal3";
const VERSION: &str = env!("CARGO_PKG_VERSION");
const USER: &str = "65532:65532";

fn archive() -> PathBuf {
    metal3_testenv::hack::built("METAL3_IMAGE_ARCHIVE", "image.sh", &[])
}

/// The `oci-archive:` reference of the image, by tag.
fn reference(archive: &Path) -> String {
    format!("oci-archive:{}:{VERSION}", archive.display())
}

/// Runs a command, returning its standard output; panics with its error output on failure.
fn run(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn skopeo_json(args: &[&str]) -> Value {
    let out = run(Command::new("skopeo").args(args));
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("skopeo {args:?} gave no JSON: {e}"))
}

#[test]
fn the_image_runs_metal3_as_a_non_root_user_on_linux_amd64() {
    let archive = archive();
    let image = reference(&archive);
    let config = skopeo_json(&["inspect", "--config", &image]);
    assert_eq!(config["os"], "linux", "{config}");
    assert_eq!(config["architecture"], "amd64", "{config}");
    assert_eq!(
        config["config"]["Entrypoint"],
        serde_json::json!(["/metal3"])
    );
    assert_eq!(
        config["config"]["User"], USER,
        "runAsNonRoot needs a numeric user"
    );
    let labels = &config["config"]["Labels"];
    assert_eq!(labels["org.opencontainers.image.version"], VERSION);
    assert_eq!(labels["org.opencontainers.image.title"], "metal3");
    assert_eq!(labels["org.opencontainers.image.licenses"], "Apache-2.0");
    assert_eq!(
        labels["org.opencontainers.image.source"],
        "https://github.com/metal3-rs/metal3"
    );

    let manifest = skopeo_json(&["inspect", &image]);
    let layers = manifest["Layers"].as_array().expect("layers");
    assert_eq!(layers.len(), 1, "one layer on an empty base: {manifest}");
}

#[test]
fn the_layer_holds_the_static_binary_and_a_user_and_nothing_else() {
    let archive = archive();
    let dir = tempfile::tempdir().expect("temporary directory");
    let copy = dir.path().join("image");
    run(Command::new("skopeo").args([
        "copy",
        "--quiet",
        &reference(&archive),
        &format!("dir:{}", copy.display()),
    ]));
    let manifest: Value = serde_json::from_str(
        &std::fs::read_to_string(copy.join("manifest.json")).expect("manifest.json"),
    )
    .expect("manifest JSON");
    let digest = manifest["layers"][0]["digest"]
        .as_str()
        .expect("layer digest");
    let layer = copy.join(digest.trim_start_matches("sha256:"));

    // Every entry with its mode: the base is empty, so these are all there is.
    let listing = run(Command::new("tar").arg("-tvzf").arg(&layer));
    let mut entries: Vec<(String, String)> = listing
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let name = fields
                .last()?
                .trim_start_matches("./")
                .trim_end_matches('/');
            (!name.is_empty() && name != ".").then(|| (name.to_string(), fields[0].to_string()))
        })
        .collect();
    entries.sort();
    let names: Vec<&str> = entries.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        ["etc", "etc/group", "etc/passwd", "metal3", "tmp"],
        "{listing}"
    );
    let mode = |name: &str| {
        entries
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, m)| m.clone())
            .unwrap_or_default()
    };
    assert_eq!(mode("metal3"), "-rwxr-xr-x", "{listing}");
    assert_eq!(mode("tmp"), "drwxrwxrwt", "{listing}");

    let root = dir.path().join("rootfs");
    std::fs::create_dir(&root).expect("rootfs directory");
    run(Command::new("tar")
        .arg("-xzf")
        .arg(&layer)
        .arg("-C")
        .arg(&root));
    let passwd = std::fs::read_to_string(root.join("etc/passwd")).expect("etc/passwd");
    assert!(passwd.starts_with("nonroot:x:65532:65532:"), "{passwd}");

    // Static: it runs with no loader and no libc beside it, and is this version's metal3.
    let kind = run(Command::new("file").arg("-b").arg(root.join("metal3")));
    assert!(kind.contains("static"), "{kind}");
    let version = run(Command::new(root.join("metal3")).arg("--version"));
    assert_eq!(version.trim(), format!("metal3 {VERSION}"));
}

#[test]
fn config_deploys_this_image() {
    let config = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../config");
    let expected = format!("image: {NAME}:{VERSION}");
    for manifest in [
        "manager/manager.yaml",
        "capm3/manager.yaml",
        "ipam/manager.yaml",
    ] {
        let text = std::fs::read_to_string(config.join(manifest)).expect("manifest");
        let images: Vec<&str> = text
            .lines()
            .map(str::trim)
            .filter(|l| l.starts_with("image:"))
            .collect();
        assert_eq!(images, [expected.as_str()], "config/{manifest}");
    }
}
