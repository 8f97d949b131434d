//! `metal3 sim`: a fleet of simulated Redfish BMCs, on one listener and optionally one per
//! server.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Number of simulated servers.
    #[arg(long, default_value_t = 10)]
    pub hosts: usize,
    /// Address to serve Redfish on (loopback only is wise).
    #[arg(long, default_value = "127.0.0.1:8000")]
    pub listen: SocketAddr,
    /// Also serve server `i` as its own BMC on port `BASE + i` (same IP as --listen).
    #[arg(long, value_name = "BASE")]
    pub per_host_ports: Option<u16>,
    /// Serve HTTPS with a self-signed certificate (manifests then set
    /// disableCertificateVerification).
    #[arg(long)]
    pub tls: bool,
    /// With --tls: write the certificate (PEM) here, for clients that verify it.
    #[arg(long, requires = "tls")]
    pub tls_cert_out: Option<PathBuf>,
    /// BMC user name of every server.
    #[arg(long, default_value = "admin")]
    pub username: String,
    /// BMC password of every server.
    #[arg(long, default_value = "password")]
    pub password: String,
    /// Give server `i` the password `<password>-<i>` (each Secret in the manifests matches).
    #[arg(long)]
    pub per_host_credentials: bool,
    /// Write BareMetalHost + Secret manifests for the fleet here instead of standard output.
    #[arg(long)]
    pub manifests: Option<PathBuf>,
    /// Added latency per request in milliseconds: `MS` or `MIN-MAX`.
    #[arg(long, value_parser = parse_latency)]
    pub latency_ms: Option<[u64; 2]>,
    /// Share of requests answered 500 (0–1).
    #[arg(long, default_value_t = 0.0)]
    pub error_rate: f64,
    /// Share of requests that never answer (0–1).
    #[arg(long, default_value_t = 0.0)]
    pub hang_rate: f64,
    /// Share of requests whose connection is dropped (0–1).
    #[arg(long, default_value_t = 0.0)]
    pub reset_rate: f64,
    /// Requests one BMC serves at once; more get 503 (0 = unlimited).
    #[arg(long, default_value_t = 0)]
    pub concurrency_limit: usize,
    /// With --concurrency-limit: queue extra requests instead of answering 503.
    #[arg(long, requires = "concurrency_limit")]
    pub queue_when_busy: bool,
    /// Power-on self test time in milliseconds.
    #[arg(long, default_value_t = 0)]
    pub post_ms: u64,
    /// Sessions one BMC keeps open at once (0 = unlimited).
    #[arg(long, default_value_t = 0)]
    pub session_limit: usize,
    /// Failed logins in a row that lock a BMC account for a minute (0 = never).
    #[arg(long, default_value_t = 0)]
    pub lockout_threshold: u32,
    /// Put a real qemu VM behind the first N servers' BMCs (`all`: every server). Power,
    /// boot override and virtual media then act on the VM; see the README.
    #[arg(long, value_name = "N|all", value_parser = parse_vms)]
    pub vms: Option<VmCount>,
    /// Where the VMs keep their disks, UEFI variables, consoles and fetched media.
    #[arg(long, default_value = ".metal3-sim")]
    pub vm_state_dir: PathBuf,
    /// vCPUs of each VM.
    #[arg(long, default_value_t = 1)]
    pub vm_cpus: u32,
    /// Memory of each VM in MiB.
    #[arg(long, default_value_t = 512)]
    pub vm_memory_mib: u32,
    /// Disk sizes of each VM, comma-separated, with K, M or G (e.g. `8G,2G`).
    #[arg(long, default_value = "4G", value_delimiter = ',', value_parser = parse_size)]
    pub vm_disks: Vec<u64>,
    /// Firmware of each VM until a client sets a boot mode: `uefi` (OVMF) or `bios` (SeaBIOS).
    #[arg(long, default_value = "uefi", value_parser = parse_firmware)]
    pub vm_firmware: metal3_sim::vm::Firmware,
    /// qemu accelerator: `tcg` works everywhere; `kvm` only where /dev/kvm really works.
    #[arg(long, default_value = "tcg", value_parser = parse_accel)]
    pub vm_accel: metal3_sim::vm::Accel,
    /// Also join every VM to a shared Ethernet segment (UDP multicast `ADDRESS:PORT` on
    /// loopback) so VMs see each other.
    #[arg(long, value_name = "ADDRESS:PORT")]
    pub vm_shared_network: Option<String>,
}

/// How many servers are VMs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VmCount {
    First(usize),
    All,
}

fn parse_vms(value: &str) -> Result<VmCount, String> {
    if value == "all" {
        return Ok(VmCount::All);
    }
    value
        .parse()
        .map(VmCount::First)
        .map_err(|_| format!("{value:?} is not a number of servers or `all`"))
}

/// A size with an optional K, M or G suffix (powers of 1024), in bytes.
fn parse_size(value: &str) -> Result<u64, String> {
    let value = value.trim();
    let (number, unit) = match value.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => (&value[..i], c.to_ascii_uppercase()),
        _ => (value, 'B'),
    };
    let shift = match unit {
        'B' => 0,
        'K' => 10,
        'M' => 20,
        'G' => 30,
        _ => return Err(format!("{value:?}: use a number with K, M or G, e.g. 8G")),
    };
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{value:?}: use a number with K, M or G, e.g. 8G"))?;
    n.checked_shl(shift)
        .filter(|b| b >> shift == n)
        .ok_or_else(|| format!("{value:?} is too large"))
}

fn parse_firmware(value: &str) -> Result<metal3_sim::vm::Firmware, String> {
    match value {
        "uefi" => Ok(metal3_sim::vm::Firmware::Uefi),
        "bios" => Ok(metal3_sim::vm::Firmware::Bios),
        other => Err(format!("{other:?}: use uefi or bios")),
    }
}

fn parse_accel(value: &str) -> Result<metal3_sim::vm::Accel, String> {
    match value {
        "tcg" => Ok(metal3_sim::vm::Accel::Tcg),
        "kvm" => Ok(metal3_sim::vm::Accel::Kvm),
        other => Err(format!("{other:?}: use tcg or kvm")),
    }
}

/// The VM specs `--vms` and the `--vm-*` options ask for, by server index.
fn vm_specs(args: &Args) -> Vec<(usize, metal3_sim::vm::VmSpec)> {
    let count = match args.vms {
        None => 0,
        Some(VmCount::All) => args.hosts,
        Some(VmCount::First(n)) => n.min(args.hosts),
    };
    (0..count)
        .map(|i| {
            let mut spec = metal3_sim::vm::VmSpec::small(&format!("sim-{i}"), &args.vm_disks);
            spec.cpus = args.vm_cpus;
            spec.memory_mib = args.vm_memory_mib;
            spec.firmware = args.vm_firmware;
            if let Some(group) = &args.vm_shared_network {
                spec.network = metal3_sim::vm::Network::Shared {
                    group: group.clone(),
                };
            }
            (i, spec)
        })
        .collect()
}

fn parse_latency(value: &str) -> Result<[u64; 2], String> {
    let number = |v: &str| {
        v.trim()
            .parse::<u64>()
            .map_err(|_| format!("{v:?} is not a number of milliseconds (use MS or MIN-MAX)"))
    };
    match value.split_once('-') {
        Some((min, max)) => Ok([number(min)?, number(max)?]),
        None => {
            let ms = number(value)?;
            Ok([ms, ms])
        }
    }
}

pub fn run(args: &Args) -> Result<ExitCode> {
    let runtime = tokio::runtime::Runtime::new().context("tokio runtime")?;
    runtime.block_on(async {
        let fleet = metal3_sim::Fleet::with_credentials(
            args.hosts,
            &args.username,
            &args.password,
            args.per_host_credentials,
        );
        fleet
            .set_faults(metal3_sim::faults::Faults {
                latency_ms: args.latency_ms.unwrap_or([0, 0]),
                error_rate: args.error_rate,
                hang_rate: args.hang_rate,
                reset_rate: args.reset_rate,
                concurrency_limit: args.concurrency_limit,
                queue_when_busy: args.queue_when_busy,
                post_ms: args.post_ms,
                session_limit: args.session_limit,
                lockout_threshold: args.lockout_threshold,
                ..metal3_sim::faults::Faults::default()
            })
            .map_err(|e| anyhow::anyhow!("--latency-ms/--error-rate/--hang-rate/--reset-rate: {e}"))?;
        let specs = vm_specs(args);
        if !specs.is_empty() {
            let mut options = metal3_sim::vm::VmOptions::new(&args.vm_state_dir);
            options.accel = args.vm_accel;
            fleet
                .attach_vms(&options, specs)
                .map_err(|e| anyhow::anyhow!("--vms: {e}"))?;
        }
        let tls = if args.tls {
            let names = vec![
                "localhost".to_string(),
                args.listen.ip().to_string(),
            ];
            let material = metal3_sim::self_signed(&names).map_err(anyhow::Error::msg)?;
            if let Some(path) = &args.tls_cert_out {
                std::fs::write(path, &material.cert_pem)
                    .with_context(|| format!("--tls-cert-out: cannot write {}", path.display()))?;
            }
            Some(material)
        } else {
            None
        };
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("--listen {}", args.listen))?;
        let addr = listener.local_addr()?;
        if let Some(base) = args.per_host_ports {
            metal3_sim::serve_per_host(fleet.clone(), addr.ip(), base, tls.clone())
                .await
                .context("--per-host-ports")?;
        }
        let addressing = metal3_sim::Addressing {
            listen: addr,
            per_host_base: args.per_host_ports,
            tls: args.tls,
        };
        let manifests = metal3_sim::manifests(&fleet, &addressing);
        match &args.manifests {
            // The manifests' Secrets hold every BMC's password.
            Some(path) => metal3_localenv::private::write(path, manifests)
                .with_context(|| format!("cannot write {}", path.display()))?,
            None => print!("{manifests}"),
        }
        let scheme = if args.tls { "https" } else { "http" };
        let per_host = match args.per_host_ports {
            Some(base) => format!(
                " and each on its own port from {base}"
            ),
            None => String::new(),
        };
        let vms = match fleet.vms() {
            0 => String::new(),
            n => format!(" ({n} of them qemu VMs, state in {})", args.vm_state_dir.display()),
        };
        eprintln!(
            "serving {} simulated servers{vms} at {scheme}://{addr}/redfish/v1{per_host}; Ctrl-C stops",
            fleet.len()
        );
        let router = metal3_sim::router(fleet.clone());
        let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .context("cannot watch for SIGTERM")?;
        let served = tokio::select! {
            served = metal3_sim::serve_router(listener, router, tls.as_ref()) => served.context("the Redfish server stopped"),
            _ = tokio::signal::ctrl_c() => Ok(()),
            _ = terminate.recv() => Ok(()),
        };
        // The VMs end with the simulator (their disks stay in --vm-state-dir).
        fleet.stop_vms().await;
        served?;
        Ok(ExitCode::SUCCESS)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_counts_parse_with_clear_errors() {
        assert_eq!(parse_size("8G"), Ok(8 << 30));
        assert_eq!(parse_size("512m"), Ok(512 << 20));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert!(parse_size("8T").expect_err("unit").contains("K, M or G"));
        assert!(parse_size("G").is_err());
        assert!(
            parse_size("99999999999G")
                .expect_err("big")
                .contains("too large")
        );
        assert_eq!(parse_vms("all"), Ok(VmCount::All));
        assert_eq!(parse_vms("2"), Ok(VmCount::First(2)));
        assert!(parse_vms("some").is_err());
        assert!(
            parse_firmware("efi")
                .expect_err("firmware")
                .contains("uefi or bios")
        );
        assert!(parse_accel("hvf").is_err());
    }
}
