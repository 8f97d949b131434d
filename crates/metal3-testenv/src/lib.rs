//! Test helpers on a real Kubernetes control plane: one control plane per test binary
//! ([`shared`], started by `metal3-localenv` with the CRDs from `config/crd/` installed), a
//! namespace per test ([`ControlPlane::namespace`]), a loopback file server ([`files`]) and a
//! throwaway serving certificate ([`tls`]). Only tests use this crate (as a dev-dependency);
//! what the local environment itself runs lives in `metal3-localenv`, re-exported here
//! ([`ironic`], [`kubectl`], [`install_crd_objects`], …) so tests keep one import path.
//!
//! Modules:
//! - [`files`]: a tiny HTTP file server on loopback, for BMCs and Ironic that download images.
//! - [`hack`]: what the `hack/` scripts build for tests (VM images, the agent's ISO).
//! - [`tls`]: a throwaway CA and a serving certificate for `127.0.0.1`.
//! - [`ironic`]: Ironic and the sushy-tools emulator, from `metal3-localenv`.

pub mod files;
pub mod hack;
pub mod tls;

/// A real OpenStack Ironic and the sushy-tools Redfish emulator (from `metal3-localenv`).
pub mod ironic {
    pub use metal3_localenv::ironic::*;
    pub use metal3_localenv::sushy::{FakeSystem, SushyEmulator};
}

pub use metal3_localenv::{binaries, install_crd_objects, is_established, kubectl};

use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use anyhow::{Context, Result, anyhow};
use k8s_openapi::api::core::v1::Namespace;
use kube::Client;
use kube::api::{Api, PostParams};

/// A control plane for tests: a [`metal3_localenv::ControlPlane`] (everything it offers is
/// reached through it) that also makes a namespace per test.
pub struct ControlPlane(metal3_localenv::ControlPlane);

impl Deref for ControlPlane {
    type Target = metal3_localenv::ControlPlane;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl ControlPlane {
    /// Creates a namespace with a unique name starting with `prefix`, for one test.
    pub async fn namespace(&self, client: &Client, prefix: &str) -> Result<String> {
        let api: Api<Namespace> = Api::all(client.clone());
        let mut ns = Namespace::default();
        ns.metadata.generate_name = Some(format!("{prefix}-"));
        let created = api.create(&PostParams::default(), &ns).await?;
        created
            .metadata
            .name
            .ok_or_else(|| anyhow!("the API server returned a namespace without a name"))
    }
}

/// The control plane shared by every test of this test binary, started on first use with the
/// CRDs from `config/crd/` installed. Panics with the reason (e.g. the exact build command to
/// run) when it cannot start.
pub fn shared() -> &'static ControlPlane {
    static SHARED: OnceLock<ControlPlane> = OnceLock::new();
    SHARED.get_or_init(|| {
        // Start on a runtime of its own: each `#[tokio::test]` has a runtime that dies with it.
        std::thread::spawn(|| {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .context("tokio runtime")?;
            runtime.block_on(async {
                let cp = metal3_localenv::ControlPlane::start().await?;
                cp.install_crds(&crd_dir()).await?;
                Ok::<_, anyhow::Error>(ControlPlane(cp))
            })
        })
        .join()
        .unwrap_or_else(|_| Err(anyhow!("control plane start-up panicked")))
        .unwrap_or_else(|e| panic!("cannot start the test control plane: {e:#}"))
    })
}

/// Directory of the CRDs to install: `METAL3_CRD_DIR`, or `config/crd/` of this workspace.
pub fn crd_dir() -> PathBuf {
    std::env::var_os("METAL3_CRD_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_dir().join("config/crd"))
}

fn workspace_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}
