//! The webhook serving certificate both `metal3 operator` and `metal3 capm3` need.

use std::path::Path;

use anyhow::{Result, bail};

/// With the webhooks on (`port` not 0), `dir` must hold `tls.crt` and `tls.key`: say so
/// before anything starts, naming the flags that fix it.
pub fn check(port: u16, dir: &Path) -> Result<()> {
    if port == 0 {
        return Ok(());
    }
    for file in ["tls.crt", "tls.key"] {
        let path = dir.join(file);
        if !path.is_file() {
            bail!(
                "--webhook-port {port}: {} does not exist; mount the webhook certificate Secret at \
                 --webhook-cert-dir (keys tls.crt and tls.key), or pass --webhook-port 0",
                path.display()
            );
        }
    }
    Ok(())
}
