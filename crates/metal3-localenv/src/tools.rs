//! Where the tools the local environment runs come from: the directories of the built
//! kube-apiserver, etcd and kubectl, and of the Ironic virtualenv, named by an environment
//! variable or printed by the workspace's install scripts (which build or reuse a cache).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, anyhow, bail};

pub(crate) fn workspace_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Directory holding `kube-apiserver` and `etcd`: `METAL3_CONTROL_PLANE_BIN`, else whatever
/// `hack/control-plane/build.sh` prints (it reuses its cache, or builds).
pub fn binaries() -> Result<PathBuf> {
    bin_dir("METAL3_CONTROL_PLANE_BIN", "hack/control-plane/build.sh")
}

/// A directory of tools: the variable `var` names it, else the install script `script`
/// (relative to the workspace) prints it as its last line, installing first when needed.
pub(crate) fn bin_dir(var: &str, script: &str) -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os(var) {
        return Ok(PathBuf::from(dir));
    }
    let script = workspace_dir().join(script);
    let out = Command::new("bash")
        .arg(&script)
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| format!("cannot run {}", script.display()))?;
    if !out.status.success() {
        bail!(
            "{} failed ({}); run it by hand to see why, or set {var}",
            script.display(),
            out.status
        );
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let dir = stdout
        .lines()
        .last()
        .ok_or_else(|| anyhow!("{} printed no bin directory", script.display()))?;
    Ok(PathBuf::from(dir.trim()))
}

/// A `kubectl` command: the one built with the control plane, else the one on `PATH`.
pub fn kubectl() -> Command {
    match binaries() {
        Ok(dir) if dir.join("kubectl").is_file() => Command::new(dir.join("kubectl")),
        _ => Command::new("kubectl"),
    }
}
