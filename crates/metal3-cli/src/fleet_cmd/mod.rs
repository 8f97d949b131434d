//! `metal3 status`, `metal3 timeline HOST`, `metal3 console HOST`: the fleet and one host seen
//! from the terminal, with read access to the cluster only (get/list on hosts, Events,
//! Leases). The same binary installed as `kubectl-metal3` is a kubectl plugin
//! (`kubectl metal3 status`). Flags follow kubectl: `--kubeconfig` (else `KUBECONFIG`,
//! `~/.kube/config`, in-cluster), `-n`, `-A`, `-o json`.
//!
//! What they say comes from `metal3_fleet` (the summaries, the timeline and their text, also
//! behind the operator's fleet page); here:
//! - `console`: the simulator's serial console behind a host's BMC;
//! - `kube_io`: the reads of hosts from the cluster.

mod console;
mod kube_io;

use metal3_fleet::{read, status, timeline};

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use k8s_openapi::jiff::Timestamp;
use kube::{Client, ResourceExt};

/// The file name kubectl looks for to run `kubectl metal3 …`.
pub const PLUGIN_NAME: &str = "kubectl-metal3";

/// Whether the binary was started as the kubectl plugin (argv\[0\]'s file name, with or
/// without `.exe`).
pub fn invoked_as_kubectl_plugin(argv0: Option<&OsStr>) -> bool {
    argv0
        .map(Path::new)
        .and_then(Path::file_stem)
        .is_some_and(|stem| stem == PLUGIN_NAME)
}

/// Which cluster and namespace, as kubectl takes them.
#[derive(clap::Args, Debug)]
pub struct Cluster {
    /// Kubeconfig to use (default: $KUBECONFIG, ~/.kube/config, or the in-cluster account).
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,
    /// Namespace (default: the kubeconfig context's, else `default`).
    #[arg(short = 'n', long)]
    pub namespace: Option<String>,
    /// Every namespace (a host named alone must then be unique).
    #[arg(short = 'A', long, conflicts_with = "namespace")]
    pub all_namespaces: bool,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Output {
    /// Aligned plain text.
    Text,
    /// One JSON document, for scripts.
    Json,
}

#[derive(clap::Args, Debug)]
pub struct StatusArgs {
    #[command(flatten)]
    pub cluster: Cluster,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value = "text")]
    pub output: Output,
}

#[derive(clap::Args, Debug)]
pub struct TimelineArgs {
    /// The BareMetalHost.
    pub host: String,
    #[command(flatten)]
    pub cluster: Cluster,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value = "text")]
    pub output: Output,
}

#[derive(clap::Args, Debug)]
pub struct ConsoleArgs {
    /// The BareMetalHost.
    pub host: String,
    #[command(flatten)]
    pub cluster: Cluster,
    /// Keep printing what the console writes until interrupted.
    #[arg(short = 'f', long)]
    pub follow: bool,
}

/// Runs `body` with a client and the namespace to look in (`None`: all of them).
fn with_client<T>(
    cluster: &Cluster,
    body: impl AsyncFnOnce(Client, Option<String>) -> Result<T>,
) -> Result<T> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("tokio runtime")?;
    runtime.block_on(async {
        let client =
            crate::operator_cmd::client(cluster.kubeconfig.as_ref(), metal3_kube::identity::CLI)
                .await?;
        let namespace = if cluster.all_namespaces {
            None
        } else {
            Some(
                cluster
                    .namespace
                    .clone()
                    .unwrap_or_else(|| client.default_namespace().to_string()),
            )
        };
        body(client, namespace).await
    })
}

fn print_json(value: &impl serde::Serialize) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

pub fn run_status(args: &StatusArgs) -> Result<ExitCode> {
    with_client(&args.cluster, async |client, namespace| {
        let hosts = kube_io::hosts(&client, namespace.as_deref()).await?;
        let leases = read::operator_leases(&client, namespace.as_deref()).await;
        let now = Timestamp::now();
        let summary = status::summarise(namespace.as_deref(), &hosts, &leases, now);
        match args.output {
            Output::Json => print_json(&summary)?,
            Output::Text => print!("{}", status::render(&summary, now)),
        }
        Ok(ExitCode::SUCCESS)
    })
}

pub fn run_timeline(args: &TimelineArgs) -> Result<ExitCode> {
    with_client(&args.cluster, async |client, namespace| {
        let host = kube_io::host(&client, namespace.as_deref(), &args.host).await?;
        let events = read::events(&client, &host)
            .await
            .with_context(|| format!("listing the Events of BareMetalHost {}", host.name_any()))?;
        let now = Timestamp::now();
        let steps = read::steps(&client, &host).await;
        let tl = timeline::build(&host, &events, now).with_steps(&steps, now);
        match args.output {
            Output::Json => print_json(&tl)?,
            Output::Text => print!("{}", timeline::render(&tl, now)),
        }
        Ok(ExitCode::SUCCESS)
    })
}

pub fn run_console(args: &ConsoleArgs) -> Result<ExitCode> {
    with_client(&args.cluster, async |client, namespace| {
        let host = kube_io::host(&client, namespace.as_deref(), &args.host).await?;
        let bmc = &host.spec.bmc;
        let target = console::target(
            &bmc.address,
            bmc.disable_certificate_verification,
            args.follow,
        )
        .map_err(anyhow::Error::msg)?;
        let bmc_type = metal3_bmc::parse(&bmc.address)
            .map(|b| b.bmc_type().to_string())
            .unwrap_or_default();
        console::read(&target, &bmc_type, &mut std::io::stdout().lock()).await?;
        Ok(ExitCode::SUCCESS)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plugin_is_recognised_by_its_file_name() {
        for (argv0, plugin) in [
            ("kubectl-metal3", true),
            ("/usr/local/bin/kubectl-metal3", true),
            ("C:/bin/kubectl-metal3.exe", true),
            ("metal3", false),
            ("/tmp/kubectl-metal3x", false),
        ] {
            assert_eq!(
                invoked_as_kubectl_plugin(Some(OsStr::new(argv0))),
                plugin,
                "{argv0}"
            );
        }
        assert!(!invoked_as_kubectl_plugin(None));
    }
}
