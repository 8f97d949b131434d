//! `metal3 control-plane`: a local etcd + kube-apiserver with our CRDs installed, for trying
//! things out and for `metal3 up`. Runs until interrupted, then stops both processes.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use metal3_localenv::ControlPlane;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Where to write the admin kubeconfig of the new control plane.
    #[arg(long, default_value = ".metal3/kubeconfig")]
    pub kubeconfig_out: PathBuf,
}

pub fn run(args: &Args) -> Result<ExitCode> {
    let runtime = tokio::runtime::Runtime::new().context("tokio runtime")?;
    runtime.block_on(async {
        let cp = ControlPlane::start().await?;
        let crds = metal3_api::crds::all();
        let client = metal3_kube::identity::client(cp.config().await?, metal3_kube::identity::CLI)?;
        let names = metal3_localenv::install_crd_objects(&client, &crds).await?;
        if let Some(parent) = args.kubeconfig_out.parent()
            && !parent.as_os_str().is_empty()
            && !parent.exists()
        {
            metal3_localenv::private::create_dir(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        metal3_localenv::private::copy(cp.kubeconfig(), &args.kubeconfig_out)
            .with_context(|| format!("cannot write {}", args.kubeconfig_out.display()))?;
        eprintln!(
            "control plane ready at {} with {} CRDs; kubeconfig: {}\nCtrl-C stops it.",
            cp.server(),
            names.len(),
            args.kubeconfig_out.display()
        );
        // The kubeconfig path on stdout, for scripts.
        println!("{}", args.kubeconfig_out.display());
        tokio::signal::ctrl_c()
            .await
            .context("waiting for Ctrl-C")?;
        eprintln!("stopping the control plane");
        drop(cp);
        Ok(ExitCode::SUCCESS)
    })
}
