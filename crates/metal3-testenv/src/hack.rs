//! What the project's `hack/` scripts build for tests (VM images, the agent and its ISO): the
//! path a variable names, else the last line the script prints (the scripts build once and
//! answer from their cache after that).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The path in `$var`, else the last line of `hack/<script> <args>`'s output. Panics (tests
/// only) with the script's error output when it fails.
pub fn built(var: &str, script: &str, args: &[&str]) -> PathBuf {
    if let Some(path) = std::env::var_os(var) {
        return PathBuf::from(path);
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../hack")
        .join(script);
    let out = Command::new("bash")
        .arg(&script)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("run {}: {e}", script.display()));
    assert!(
        out.status.success(),
        "{}: {}",
        script.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    PathBuf::from(stdout.lines().last().unwrap_or_default().trim())
}
