//! `metal3 control-plane`: a local etcd + kube-apiserver with our CRDs installed (the metal3.io
//! kinds, and on request the Cluster API provider's and the IP address manager's), for trying
//! things out and for `metal3 up`. Runs until interrupted, then stops both processes.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use metal3_localenv::ControlPlane;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Where to write the admin kubeconfig of the new control plane.
    #[arg(long, default_value = ".metal3/kubeconfig")]
    pub kubeconfig_out: PathBuf,
    /// Which CRDs to install, comma-separated: `metal3` (the metal3.io kinds of the
    /// BareMetalHost operator), `capm3` (the Cluster API provider's
    /// infrastructure.cluster.x-k8s.io kinds), `ipam` (the IP address manager's
    /// ipam.metal3.io kinds).
    #[arg(long, value_enum, value_delimiter = ',', default_value = "metal3")]
    pub crds: Vec<CrdSet>,
}

/// A set of CRDs the control plane can install.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum CrdSet {
    /// The metal3.io kinds (BareMetalHost and its companions).
    Metal3,
    /// The Cluster API provider's kinds (Metal3Cluster, Metal3Machine, …).
    Capm3,
    /// The IP address manager's kinds (IPPool, IPClaim, IPAddress).
    Ipam,
}

/// The CRDs of `sets`, each set once, in the order given.
fn crds_of(sets: &[CrdSet]) -> Vec<CustomResourceDefinition> {
    let mut seen = Vec::new();
    let mut out = Vec::new();
    for set in sets {
        if seen.contains(set) {
            continue;
        }
        seen.push(*set);
        out.extend(match set {
            CrdSet::Metal3 => metal3_api::crds::all(),
            CrdSet::Capm3 => metal3_capm3_api::crds::all(),
            CrdSet::Ipam => metal3_ipam_api::crds::all(),
        });
    }
    out
}

pub fn run(args: &Args) -> Result<ExitCode> {
    let runtime = tokio::runtime::Runtime::new().context("tokio runtime")?;
    runtime.block_on(async {
        let cp = ControlPlane::start().await?;
        let crds = crds_of(&args.crds);
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

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: Args,
    }

    fn sets(argv: &[&str]) -> Result<Vec<CrdSet>, clap::Error> {
        let cli =
            Cli::try_parse_from(std::iter::once("control-plane").chain(argv.iter().copied()))?;
        Ok(cli.args.crds)
    }

    fn names(sets: &[CrdSet]) -> Vec<String> {
        crds_of(sets)
            .into_iter()
            .filter_map(|c| c.metadata.name)
            .collect()
    }

    #[test]
    fn only_the_metal3_crds_by_default() {
        let default = sets(&[]).expect("parses");
        assert_eq!(default, [CrdSet::Metal3]);
        assert_eq!(crds_of(&default), metal3_api::crds::all());
    }

    #[test]
    fn the_provider_and_ipam_crds_on_request_each_once() {
        let all = sets(&["--crds", "metal3,capm3,ipam,capm3"]).expect("parses");
        let got = names(&all);
        let want = metal3_api::crds::all().len()
            + metal3_capm3_api::crds::all().len()
            + metal3_ipam_api::crds::all().len();
        assert_eq!(got.len(), want);
        let unique: std::collections::BTreeSet<_> = got.iter().collect();
        assert_eq!(unique.len(), got.len(), "no CRD twice: {got:?}");
        assert!(got.contains(&"metal3machines.infrastructure.cluster.x-k8s.io".to_string()));
        assert!(got.contains(&"ippools.ipam.metal3.io".to_string()));
        let provider_only = names(&sets(&["--crds", "capm3"]).expect("parses"));
        assert!(
            provider_only
                .iter()
                .all(|n| n.ends_with(".infrastructure.cluster.x-k8s.io")),
            "{provider_only:?}"
        );
        assert!(
            sets(&["--crds", "capi"]).is_err(),
            "an unknown set is refused"
        );
    }
}
