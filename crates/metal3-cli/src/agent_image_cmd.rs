//! `metal3 agent-image`: builds the agent's boot ISO (hybrid BIOS/UEFI, GRUB) from a kernel
//! directory as `hack/vm/build.sh` lays it out and the static `metal3-agent` binary
//! (`hack/agent/build.sh`). The operator's hub serves it to each host with that host's
//! configuration in the per-host slot.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

/// Arguments of `metal3 agent-image`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// A directory with `vmlinuz`, `modules/` and `modules.load` (what `hack/vm/build.sh`
    /// prints last).
    #[arg(long)]
    kernel_dir: PathBuf,
    /// The static agent binary (what `hack/agent/build.sh` prints last).
    #[arg(long)]
    agent: PathBuf,
    /// Executables to ship as custom deploy steps (run by name by `customDeploy`).
    #[arg(long)]
    steps: Option<PathBuf>,
    /// Where to write the ISO.
    #[arg(long)]
    out: PathBuf,
}

pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let built = metal3_agent_image::build(
        &metal3_agent_image::Inputs {
            kernel_dir: args.kernel_dir.clone(),
            agent: args.agent.clone(),
            steps: args.steps.clone(),
        },
        &args.out,
    )
    .with_context(|| format!("building {}", args.out.display()))?;
    println!(
        "{}: {} bytes (initramfs {} bytes, per-host slot at byte {})",
        built.iso.display(),
        built.iso_bytes,
        built.initramfs_bytes,
        built.slot_offset
    );
    Ok(ExitCode::SUCCESS)
}
