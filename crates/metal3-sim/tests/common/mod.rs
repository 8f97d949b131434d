//! Helpers shared by the simulator's test binaries.
#![allow(dead_code)] // each test binary uses some of them

use std::path::PathBuf;

/// The path in `$var`, else the last line `hack/<script>` prints (the scripts build what the
/// tests need, or find it in the cache).
pub fn from_env_or_hack(var: &str, script: &str) -> PathBuf {
    metal3_testenv::hack::built(var, script, &[])
}

/// The Python of the virtualenv with OpenStack's sushy.
pub fn sushy_python() -> PathBuf {
    from_env_or_hack("METAL3_SUSHY_PYTHON", "python/sushy.sh")
}

/// The directory of VM images `hack/vm/build.sh` builds.
pub fn vm_images() -> PathBuf {
    from_env_or_hack("METAL3_VM_IMAGES", "vm/build.sh")
}
