//! Helpers shared by the simulator's test binaries.
#![allow(dead_code)] // each test binary uses some of them

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The path in `$var`, else the last line `hack/<script>` prints (the scripts build what the
/// tests need, or find it in the cache).
pub fn from_env_or_hack(var: &str, script: &str) -> PathBuf {
    if let Some(path) = std::env::var_os(var) {
        return PathBuf::from(path);
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../hack")
        .join(script);
    let out = Command::new("bash")
        .arg(&script)
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

/// The Python of the virtualenv with OpenStack's sushy.
pub fn sushy_python() -> PathBuf {
    from_env_or_hack("METAL3_SUSHY_PYTHON", "python/sushy.sh")
}

/// The directory of VM images `hack/vm/build.sh` builds.
pub fn vm_images() -> PathBuf {
    from_env_or_hack("METAL3_VM_IMAGES", "vm/build.sh")
}
