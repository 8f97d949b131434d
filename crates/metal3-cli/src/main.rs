//! `metal3`: the one binary of Metal³ in Rust. One module per subcommand:
//!
//! - `agent_image_cmd`: `metal3 agent-image`, the agent's boot ISO.
//! - `up_cmd`: `metal3 up`, everything on this machine (control plane, simulated fleet, operator).
//! - `operator_cmd`: `metal3 operator`, the Bare Metal Operator against a cluster.
//! - `capm3_cmd`: `metal3 capm3`, the Cluster API provider against a cluster.
//! - `ipam_cmd`: `metal3 ipam`, the IP address manager against a cluster.
//! - `control_plane_cmd`: `metal3 control-plane`, a local kube-apiserver and etcd with our CRDs.
//! - `sim_cmd`: `metal3 sim`, a fleet of simulated Redfish BMCs.
//! - `crds_cmd`: `metal3 crds`, the CustomResourceDefinitions.
//! - `bmc_cmd`: `metal3 bmc`, BMC addresses parsed.
//! - `validate_cmd`: `metal3 validate`, manifests against the webhooks' admission rules.
//! - `webhook_cert`: the check that a webhook's serving certificate is there.
//! - `fleet_cmd`: `metal3 status`, `timeline`, `console` (also `kubectl metal3 …`).

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

mod agent_image_cmd;
mod bmc_cmd;
mod capm3_cmd;
mod control_plane_cmd;
mod crds_cmd;
mod fleet_cmd;
mod ipam_cmd;
mod kube_api;
mod metrics_serving;
mod operator_cmd;
mod sim_cmd;
mod up_cmd;
mod validate_cmd;
mod webhook_cert;

/// Kubernetes-native bare metal host management, wire-compatible with Metal³.
#[derive(Parser, Debug)]
#[command(name = "metal3", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Everything on this machine: a control plane, simulated BMCs as BareMetalHosts, the
    /// operator. Ctrl-C stops it.
    Up(up_cmd::Args),
    /// Print the CustomResourceDefinitions of every metal3.io, Cluster API provider and IP
    /// address manager kind.
    Crds(crds_cmd::Args),
    /// Inspect BMC addresses.
    #[command(subcommand)]
    Bmc(bmc_cmd::Command),
    /// Check manifests against the admission rules of the metal3.io webhooks.
    Validate(validate_cmd::Args),
    /// Run a local kube-apiserver and etcd with the metal3.io CRDs installed.
    ControlPlane(control_plane_cmd::Args),
    /// Run the Bare Metal Operator against a cluster.
    Operator(Box<operator_cmd::Args>),
    /// Run the Cluster API provider Metal3 (CAPM3) against a cluster.
    Capm3(capm3_cmd::Args),
    /// Run the IP address manager (ipam.metal3.io) against a cluster.
    Ipam(ipam_cmd::Args),
    /// Serve a fleet of simulated servers over Redfish.
    Sim(sim_cmd::Args),
    /// Build the agent's boot ISO (hybrid BIOS/UEFI) from a kernel and the agent binary.
    AgentImage(agent_image_cmd::Args),
    /// The fleet: hosts by state, errors, hosts stuck longest, what provisions, BMC health.
    Status(fleet_cmd::StatusArgs),
    /// A host's life: its operations, conditions and Events in time order, its last error.
    Timeline(fleet_cmd::TimelineArgs),
    /// A host's serial console, when its BMC is the simulator with a VM behind it.
    Console(fleet_cmd::ConsoleArgs),
}

fn main() -> ExitCode {
    // Installed as `kubectl-metal3`, the binary is the kubectl plugin: same commands, and
    // the help says `kubectl metal3`.
    let mut command = Cli::command();
    if fleet_cmd::invoked_as_kubectl_plugin(std::env::args_os().next().as_deref()) {
        command = command.bin_name("kubectl metal3");
    }
    let cli = Cli::from_arg_matches(&command.get_matches()).unwrap_or_else(|e| e.exit());
    let result = match cli.command {
        Command::Up(args) => up_cmd::run(&args),
        Command::Crds(args) => crds_cmd::run(&args),
        Command::Bmc(cmd) => bmc_cmd::run(&cmd),
        Command::Validate(args) => validate_cmd::run(&args),
        Command::ControlPlane(args) => control_plane_cmd::run(&args),
        Command::Operator(args) => operator_cmd::run(&args),
        Command::Capm3(args) => capm3_cmd::run(&args),
        Command::Ipam(args) => ipam_cmd::run(&args),
        Command::Sim(args) => sim_cmd::run(&args),
        Command::AgentImage(args) => agent_image_cmd::run(&args),
        Command::Status(args) => fleet_cmd::run_status(&args),
        Command::Timeline(args) => fleet_cmd::run_timeline(&args),
        Command::Console(args) => fleet_cmd::run_console(&args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("metal3: {e:#}");
            ExitCode::FAILURE
        }
    }
}
