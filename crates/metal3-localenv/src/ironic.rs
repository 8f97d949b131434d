//! A real OpenStack Ironic on loopback, for tests, benchmarks and `metal3 up`: one all-in-one process (API and conductor,
//! no RPC bus, no Keystone) with SQLite, from the virtualenv `hack/python/ironic.sh` builds.
//!
//! `fake-hardware` and `redfish` hardware types are enabled, cleaning/deploy/inspection
//! timeouts and the conductor's periodic checks are shortened so state changes show within
//! seconds. The process group is killed when [`Ironic`] is dropped, and by a watchdog when the
//! process that started it dies.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::process::{Reap, free_port, kill_group, log_tail, signal_group, watchdog};
use crate::tools::bin_dir;

/// How long Ironic may take to answer with its drivers loaded.
const READY_TIMEOUT: Duration = Duration::from_secs(120);

/// Directory holding the Ironic virtualenv's executables: `METAL3_IRONIC_BIN`, else what
/// `hack/python/ironic.sh` prints (it reuses its cache, or installs from PyPI).
pub fn venv_bin() -> Result<PathBuf> {
    bin_dir("METAL3_IRONIC_BIN", "hack/python/ironic.sh", "ironic")
}

/// How to run Ironic.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// HTTP basic authentication with this user and password (else no authentication).
    pub basic_auth: Option<(String, String)>,
    /// Serve the API over HTTPS with this certificate and key (PEM), else plain HTTP.
    pub tls: Option<TlsFiles>,
    /// How often the conductor reads every node's power state from its BMC. Tests use 5 s
    /// (changes show at once); `Some(60)` is Ironic's own default, for benchmarks.
    pub power_sync_seconds: Option<u32>,
}

/// PEM files of a serving certificate and its key.
#[derive(Clone, Debug)]
pub struct TlsFiles {
    /// The certificate (PEM).
    pub cert: PathBuf,
    /// Its private key (PEM).
    pub key: PathBuf,
}

/// A running Ironic.
pub struct Ironic {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
    tls: bool,
    child: Option<Child>,
}

impl Ironic {
    /// Starts Ironic with an empty database and waits until it serves its drivers.
    pub async fn start(options: &Options) -> Result<Self> {
        let bin = venv_bin()?;
        let dir = tempfile::Builder::new()
            .prefix("metal3-ironic-")
            .tempdir()
            .context("cannot create a directory for Ironic")?;
        let port = free_port()?;
        write_config(dir.path(), port, options, &bin)?;
        let mut ironic = Self {
            dir,
            bin,
            port,
            tls: options.tls.is_some(),
            child: None,
        };
        ironic.create_schema()?;
        ironic.spawn().await?;
        Ok(ironic)
    }

    /// `http://127.0.0.1:<port>` (`https` when started with [`Options::tls`]).
    pub fn url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://127.0.0.1:{}", self.port)
    }

    /// The process id of the running Ironic (API and conductor in one process).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The user and password requests must send, when Ironic was started with basic auth.
    pub fn basic_auth(&self) -> Option<(String, String)> {
        read_auth(self.dir.path())
    }

    /// Ironic's log file.
    pub fn log(&self) -> PathBuf {
        self.dir.path().join("ironic.log")
    }

    /// Freezes the process (SIGSTOP): Ironic accepts connections but answers nothing, as a
    /// hung or overloaded Ironic does, until [`Ironic::resume`].
    pub fn pause(&self) {
        if let Some(child) = &self.child {
            signal_group(child, "STOP");
        }
    }

    /// Lets a paused Ironic go on (SIGCONT).
    pub fn resume(&self) {
        if let Some(child) = &self.child {
            signal_group(child, "CONT");
        }
    }

    /// Stops the process (the database stays).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            kill_group(&child);
            let _ = child.wait();
        }
    }

    /// Stops Ironic, and starts it again on the same port with the same database, or with an
    /// empty one (`wipe`), as after losing its state.
    pub async fn restart(&mut self, wipe: bool) -> Result<()> {
        self.stop();
        if wipe {
            let db = self.dir.path().join("ironic.sqlite");
            std::fs::remove_file(&db).with_context(|| format!("cannot remove {}", db.display()))?;
            self.create_schema()?;
        }
        self.spawn().await
    }

    fn config(&self) -> PathBuf {
        self.dir.path().join("ironic.conf")
    }

    fn create_schema(&self) -> Result<()> {
        let out = Command::new(self.bin.join("ironic-dbsync"))
            .args(["--config-file"])
            .arg(self.config())
            .arg("create_schema")
            .stdin(Stdio::null())
            .output()
            .context("cannot run ironic-dbsync")?;
        if !out.status.success() {
            bail!(
                "ironic-dbsync create_schema failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(())
    }

    async fn spawn(&mut self) -> Result<()> {
        let stdout = std::fs::File::create(self.dir.path().join("stdout.log"))?;
        let stderr = stdout.try_clone()?;
        let child = {
            use std::os::unix::process::CommandExt;
            Command::new(self.bin.join("ironic"))
                .arg("--config-file")
                .arg(self.config())
                .current_dir(self.dir.path())
                .stdin(Stdio::null())
                .stdout(stdout)
                .stderr(stderr)
                .process_group(0)
                .spawn()
                .context("cannot start ironic")?
        };
        watchdog(&child, Reap::Group)?;
        self.child = Some(child);
        let deadline = Instant::now() + READY_TIMEOUT;
        let drivers = format!("{}/v1/drivers", self.url());
        // Only to see that it is up: the tests check certificates with their own clients.
        let client = reqwest::Client::builder()
            .danger_accept_invalid_certs(true)
            .build()
            .context("cannot build an HTTP client")?;
        loop {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                bail!(
                    "ironic exited ({status}) while starting:\n{}\n{}",
                    log_tail(&self.dir.path().join("stdout.log")),
                    log_tail(&self.log())
                );
            }
            let reply = client
                .get(&drivers)
                .header("X-OpenStack-Ironic-API-Version", "1.89")
                .basic_auth_opt(self)
                .send()
                .await;
            if let Ok(r) = reply
                && r.status().is_success()
                && let Ok(body) = r.json::<serde_json::Value>().await
                && body["drivers"].as_array().is_some_and(|d| !d.is_empty())
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!(
                    "ironic did not serve its drivers within {READY_TIMEOUT:?}:\n{}",
                    log_tail(&self.log())
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

trait BasicAuthOpt {
    fn basic_auth_opt(self, ironic: &Ironic) -> Self;
}

impl BasicAuthOpt for reqwest::RequestBuilder {
    fn basic_auth_opt(self, ironic: &Ironic) -> Self {
        match read_auth(ironic.dir.path()) {
            Some((u, p)) => self.basic_auth(u, Some(p)),
            None => self,
        }
    }
}

fn read_auth(dir: &Path) -> Option<(String, String)> {
    let text = std::fs::read_to_string(dir.join("auth")).ok()?;
    let (u, p) = text.split_once('\n')?;
    Some((u.to_string(), p.trim_end().to_string()))
}

impl Drop for Ironic {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A bcrypt htpasswd line for `user` (Ironic accepts only bcrypt), made with the venv's
/// `bcrypt` module.
fn htpasswd_line(bin: &Path, user: &str, password: &str) -> Result<String> {
    let out = Command::new(bin.join("python"))
        .args([
            "-c",
            "import bcrypt,sys; print(sys.argv[1] + ':' + bcrypt.hashpw(sys.argv[2].encode(), bcrypt.gensalt()).decode())",
            user,
            password,
        ])
        .output()
        .context("cannot run the Ironic venv's python")?;
    if !out.status.success() {
        bail!(
            "cannot hash the password with bcrypt: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn write_config(dir: &Path, port: u16, options: &Options, bin: &Path) -> Result<()> {
    let d = dir.display();
    let auth = match &options.basic_auth {
        Some((user, password)) => {
            let line = htpasswd_line(bin, user, password)?;
            crate::private::write(&dir.join("htpasswd"), format!("{line}\n"))?;
            crate::private::write(&dir.join("auth"), format!("{user}\n{password}\n"))?;
            format!("auth_strategy = http_basic\nhttp_basic_auth_user_file = {d}/htpasswd")
        }
        None => "auth_strategy = noauth".to_string(),
    };
    let power_sync = options.power_sync_seconds.unwrap_or(5);
    let tls = match &options.tls {
        Some(files) => format!(
            "enable_ssl_api = true\ncert_file = {}\nkey_file = {}\nserver_tls_minimum_version = 1.2",
            files.cert.display(),
            files.key.display()
        ),
        None => String::new(),
    };
    for sub in [
        "tmp",
        "httpboot",
        "images",
        "master_images",
        "master_iso",
        "tftpboot",
        "files",
    ] {
        std::fs::create_dir_all(dir.join(sub))?;
    }
    let config = format!(
        r#"[DEFAULT]
{auth}
rpc_transport = none
host = localhost
debug = false
log_file = {d}/ironic.log
use_stderr = false
tempdir = {d}/tmp
enabled_hardware_types = fake-hardware,redfish
enabled_boot_interfaces = fake,pxe,redfish-virtual-media,redfish-https
enabled_deploy_interfaces = fake,ramdisk,direct,custom-agent
enabled_inspect_interfaces = fake,no-inspect,agent,redfish
enabled_power_interfaces = fake,redfish
enabled_management_interfaces = fake,noop,redfish
enabled_raid_interfaces = fake,no-raid,agent,redfish
enabled_bios_interfaces = fake,no-bios,redfish
enabled_firmware_interfaces = fake,no-firmware,redfish
enabled_vendor_interfaces = fake,no-vendor,redfish
enabled_network_interfaces = noop
default_network_interface = noop
[api]
host_ip = 127.0.0.1
port = {port}
{tls}
[database]
connection = sqlite:///{d}/ironic.sqlite
[dhcp]
dhcp_provider = none
[service_catalog]
endpoint_override = http://127.0.0.1:{port}
[deploy]
http_url = http://127.0.0.1:{port}/unused
http_root = {d}/httpboot
iso_master_path = {d}/master_iso
ramdisk_image_download_source = http
[pxe]
images_path = {d}/images
instance_master_path = {d}/master_images
tftp_root = {d}/tftpboot
tftp_master_path = {d}/tftpboot/master_images
tftp_server = 127.0.0.1
[conductor]
file_url_allowed_paths = {d}/files
automated_clean = true
sync_power_state_interval = {power_sync}
check_provision_state_interval = 2
deploy_callback_timeout = 60
clean_callback_timeout = 60
inspect_wait_timeout = 60
node_locked_retry_attempts = 1
power_failure_recovery_interval = 10
[redfish]
connection_attempts = 2
connection_retry_interval = 1
firmware_update_status_interval = 5
raid_config_status_interval = 5
[fake]
power_delay = 0
deploy_delay = 0
inspect_delay = 0
boot_delay = 0
management_delay = 0
[nova]
send_power_notifications = false
"#
    );
    std::fs::write(dir.join("ironic.conf"), config)?;
    Ok(())
}
