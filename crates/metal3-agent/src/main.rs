//! `metal3-agent`: as PID 1 of the agent's ramdisk it mounts what it needs, loads the image's
//! kernel modules, brings the network up and calls the operator's hub, and never exits (PID 1
//! exiting panics the kernel). Run as a normal process it skips the duties of PID 1 and
//! takes options, for tests and development.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use metal3_agent::client::power::{self, PowerAction};
use metal3_agent::console;
use metal3_agent::disks::{BlockDisks, Disks};
use metal3_agent::init::{self, reaper::Children, reaper::Reaper};
use metal3_agent::inventory::Sources;
use metal3_agent::net::NetOptions;
use metal3_agent::run::{self, Options};

/// The Metal³ agent, run as a normal process (as PID 1 it takes no options).
#[derive(Parser, Debug)]
#[command(name = "metal3-agent", version, about)]
struct Args {
    /// The boot configuration.
    #[arg(long, default_value = metal3_agent_api::CONFIG_PATH)]
    config: PathBuf,
    /// Where sysfs is (NICs, DMI, block devices).
    #[arg(long, default_value = "/sys")]
    sys_root: PathBuf,
    /// Where procfs is (CPUs, memory, host name).
    #[arg(long, default_value = "/proc")]
    proc_root: PathBuf,
    /// Where the device nodes are (the disks).
    #[arg(long, default_value = "/dev")]
    dev_root: PathBuf,
    /// Where custom deploy steps are.
    #[arg(long, default_value = metal3_agent::client::steps::STEPS_DIR)]
    steps_dir: PathBuf,
    /// Bring the network up from the configuration's network data (or DHCP), as PID 1 does.
    #[arg(long)]
    network: bool,
    /// Listen for LLDP; an inspection waits up to this many seconds for frames (0: do not
    /// listen).
    #[arg(long, default_value_t = 0)]
    lldp_seconds: u64,
}

/// The disks the agent works on.
fn disks(sys: &Path, dev: &Path, config: &Path) -> Arc<dyn Disks> {
    Arc::new(BlockDisks::new(sys, dev, config))
}

fn main() -> ExitCode {
    if init::is_pid1() {
        pid1();
    }
    let args = Args::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            console::error(format!("cannot start: {e}"));
            return ExitCode::FAILURE;
        }
    };
    let disks = disks(&args.sys_root, &args.dev_root, &args.config);
    let options = Options {
        config: args.config,
        sources: Sources {
            proc: args.proc_root,
            sys: args.sys_root.clone(),
        },
        steps_dir: args.steps_dir,
        network: args.network.then(|| NetOptions::new(&args.sys_root)),
        lldp_window: (args.lldp_seconds > 0).then(|| Duration::from_secs(args.lldp_seconds)),
        set_hostname: false,
        config_retry: Duration::from_secs(5),
    };

    let action = runtime.block_on(run::run(options, disks, Children::Own));
    console::say(format!(
        "the hub asked to {action}; not PID 1, so not doing it"
    ));
    ExitCode::SUCCESS
}

/// The life of PID 1: never returns.
fn pid1() -> ! {
    init::attach_console();
    init::mount_filesystems();
    init::attach_console();
    std::panic::set_hook(Box::new(|info| {
        console::error(format!("panic: {info}"));
    }));
    console::say(format!("{} starting as PID 1", metal3_agent::VERSION));
    let modules = init::load_modules(Path::new("/"));
    console::say(format!(
        "kernel modules: {} loaded, {} already there, {} failed",
        modules.loaded,
        modules.present,
        modules.failed.len()
    ));
    for failure in &modules.failed {
        console::error(format!("module {failure}"));
    }
    say_block_devices();
    loop {
        let result = std::panic::catch_unwind(|| {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            runtime.block_on(async {
                let reaper = Reaper::start().map_err(|e| e.to_string())?;
                let options = Options {
                    config: PathBuf::from(metal3_agent_api::CONFIG_PATH),
                    sources: Sources::default(),
                    steps_dir: PathBuf::from(metal3_agent::client::steps::STEPS_DIR),
                    network: Some(NetOptions::new("/sys")),
                    // As ironic-python-agent waits for LLDP by default.
                    lldp_window: Some(Duration::from_secs(30)),
                    set_hostname: true,
                    config_retry: Duration::from_secs(30),
                };
                let disks = disks(
                    Path::new("/sys"),
                    Path::new("/dev"),
                    Path::new(metal3_agent_api::CONFIG_PATH),
                );
                let action = run::run(options, disks, Children::Reaped(reaper)).await;
                Ok::<PowerAction, String>(action)
            })
        });
        match result {
            Ok(Ok(action)) => {
                console::say(format!("{action} now"));
                let e = power::perform(action);
                console::error(format!("cannot {action}: {e}"));
            }
            Ok(Err(e)) => console::error(e),
            Err(_) => console::error("the agent panicked; starting it again"),
        }
        std::thread::sleep(Duration::from_secs(10));
    }
}

/// Names the block devices the kernel found (after the modules loaded), for whoever watches
/// the console.
fn say_block_devices() {
    // Disk drivers probe asynchronously; give them a moment (bounded).
    let mut names = Vec::new();
    for _ in 0..20 {
        names = block_devices();
        if !names.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    console::say(format!("block devices: {}", names.join(" ")));
}

fn block_devices() -> Vec<String> {
    let Ok(entries) = std::fs::read_dir("/sys/block") else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| !n.starts_with("loop") && !n.starts_with("ram"))
        .map(|n| {
            let sectors = std::fs::read_to_string(format!("/sys/block/{n}/size"))
                .ok()
                .and_then(|s| s.trim().parse::<u64>().ok())
                .unwrap_or(0);
            format!("{n}({} MiB)", (sectors * 512) >> 20)
        })
        .collect();
    names.sort();
    names
}
