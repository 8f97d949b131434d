//! The Ironic the operator child talks to with `--provisioner ironic`: a real one on loopback,
//! with a production Ironic's power sync.

use anyhow::Result;
use metal3_localenv::ironic::{Ironic, Options};

use crate::Backend;

/// Starts Ironic when the backend is Ironic; `None` otherwise.
pub(crate) async fn start(backend: Backend) -> Result<Option<Ironic>> {
    if backend != Backend::Ironic {
        return Ok(None);
    }
    eprintln!("starting Ironic");
    // Ironic's default power sync (every 60 s), as a production Ironic runs.
    let options = Options {
        power_sync_seconds: Some(60),
        ..Default::default()
    };
    Ok(Some(Ironic::start(&options).await?))
}
