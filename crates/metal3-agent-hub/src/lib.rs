//! The operator's side of the Metal³ agent: the HTTPS endpoint agents call home to, the token
//! check, what each host's agent is doing, and each host's copy of the agent's boot image.
//!
//! The backend that boots agents (the native Redfish provisioner) holds a [`Hub`], cheap to
//! clone: it registers a host ([`Hub::register`]: identity, boot MAC, network data), gets the
//! URL of the host's boot image for each boot ([`Hub::new_boot`]), queues the next command
//! ([`Hub::queue`]) and reads what the agent last said ([`Hub::agent`]). Everything is in
//! memory: what a restarted operator needs comes back with the agent's next report (it keeps
//! reporting its last command's status) or from the BMC. Only the key material survives a
//! restart, in two Secrets ([`Keys::load_or_create`]).
//!
//! Modules, one job each:
//! - `registry`: the hosts expected, a report checked, recorded and answered (pure);
//! - `image`: the generic boot image, its slot, byte ranges of a host's copy;
//! - `pki`: the hub's CA and serving certificate;
//! - `secrets`: the key material kept in Kubernetes Secrets;
//! - `server`: the HTTPS routes;
//! - `stand_in` (feature `stand-in`): a stand-in for the agent, for tests.
//!
//! See `docs/agent.md` for the design.

mod image;
pub mod pki;
mod registry;
mod secrets;
mod server;
#[cfg(feature = "stand-in")]
pub mod stand_in;

use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use metal3_agent_api::{AgentConfig, Command, HostRef, Reply, Report, Secret, token};

pub use image::BootImage;
pub use registry::{AgentView, HostIdentity, Polls, Rejection};
pub use secrets::{KEY_SECRET, Keys, TLS_SECRET};

use registry::Registry;

/// Why the hub cannot start.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The hub's URL cannot be used.
    #[error("the hub URL {url:?}: {why}")]
    Url { url: String, why: String },
    /// The generic boot image cannot be used.
    #[error("the agent image {}: {why}", path.display())]
    Image { path: PathBuf, why: String },
    /// Certificates could not be made.
    #[error("cannot make the hub's certificates: {0}")]
    Certificate(String),
    /// The API server refused or could not be reached.
    #[error("Secret {secret}: {why}")]
    Kube { secret: String, why: String },
    /// A kept Secret lacks what the hub needs.
    #[error("Secret {secret} cannot be used: {why}")]
    BadSecret { secret: String, why: String },
    /// The operating system gives no random numbers.
    #[error("no random numbers from the operating system: {0}")]
    Random(String),
}

/// How the hub runs.
#[derive(Clone, Debug)]
pub struct HubConfig {
    /// The hub's base URL as hosts reach it, e.g. `https://10.0.2.2:9443`.
    pub url: String,
    /// How soon agents call again while a command is queued or runs (2 s).
    pub poll_busy: Duration,
    /// How soon agents call again otherwise (10 s).
    pub poll_idle: Duration,
    /// Extra certificate authorities (PEM) agents trust for image downloads.
    pub image_ca_pem: String,
    /// The base URL BMCs fetch boot images from, when they reach the hub otherwise than hosts
    /// do (a BMC network apart from the provisioning network); `None`: [`HubConfig::url`].
    pub media_url: Option<String>,
}

impl HubConfig {
    /// A hub at `url`, with the default poll intervals.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into().trim_end_matches('/').to_string(),
            poll_busy: Duration::from_secs(2),
            poll_idle: Duration::from_secs(10),
            image_ca_pem: String::new(),
            media_url: None,
        }
    }

    /// The base URL of boot images, as BMCs fetch them.
    pub fn media_base(&self) -> &str {
        self.media_url.as_deref().unwrap_or(&self.url)
    }
}

/// The hub: a handle the backend and the HTTPS routes share.
#[derive(Clone)]
pub struct Hub {
    inner: Arc<Inner>,
}

struct Inner {
    config: HubConfig,
    keys: Keys,
    image: BootImage,
    registry: Mutex<Registry>,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub")
            .field("url", &self.inner.config.url)
            .finish_non_exhaustive()
    }
}

/// A fresh nonce: 128 random bits, hex.
fn nonce() -> String {
    let bytes = secrets::random(16).unwrap_or_else(|_| {
        // No randomness from the OS: fall back to the clock (a URL is then merely unusual).
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        t.to_le_bytes().to_vec()
    });
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Hub {
    /// A hub with `keys`, serving copies of `image` (the generic agent boot image, see
    /// [`BootImage::open`]).
    pub fn new(config: HubConfig, keys: Keys, image: BootImage) -> Result<Self, Error> {
        pki::names(&config.url)?;
        if let Some(media) = &config.media_url {
            pki::names(media)?;
        }
        Ok(Self {
            inner: Arc::new(Inner {
                config,
                keys,
                image,
                registry: Mutex::new(Registry::default()),
            }),
        })
    }

    fn registry(&self) -> MutexGuard<'_, Registry> {
        self.inner
            .registry
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// Serves the hub over HTTPS on `listener` until `shutdown` completes.
    pub async fn serve(
        &self,
        listener: std::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        server::serve(self.clone(), listener, shutdown).await
    }

    /// The hub's base URL as hosts reach it.
    pub fn url(&self) -> &str {
        &self.inner.config.url
    }

    /// The CA agents trust for the hub (PEM).
    pub fn ca_pem(&self) -> &str {
        self.inner.keys.ca_pem()
    }

    fn iso_url(&self, host: &HostRef, nonce: &str) -> String {
        format!(
            "{}/agent/{}/{}/{nonce}.iso",
            self.inner.config.media_base().trim_end_matches('/'),
            host.namespace,
            host.name
        )
    }

    /// Registers the host (or updates what the hub knows of it) and returns the URL of its
    /// boot image as it stands (see [`Hub::new_boot`] for a fresh one). Fails when the host's
    /// configuration does not fit the boot image.
    pub fn register(&self, identity: HostIdentity) -> Result<String, Error> {
        let host = identity.host.clone();
        let (nonce, changed) = self.registry().register(identity.clone(), nonce());
        if changed {
            let config = self.config_of(&identity);
            metal3_agent_api::bootimage::host_archive(&config).map_err(|e| Error::Image {
                path: self.inner.image.path().to_path_buf(),
                why: format!("host {host}: {e}"),
            })?;
        }
        Ok(self.iso_url(&host, &nonce))
    }

    /// A new URL of the host's boot image, for a new boot: only it is served from now on.
    /// `None` when the host is not registered.
    pub fn new_boot(&self, host: &HostRef) -> Option<String> {
        let n = nonce();
        self.registry()
            .renew(host, n.clone())
            .then(|| self.iso_url(host, &n))
    }

    /// Whether `url` is a boot image URL of this hub for `host` (of any boot).
    pub fn is_boot_image(&self, host: &HostRef, url: &str) -> bool {
        let prefix = format!(
            "{}/agent/{}/{}/",
            self.inner.config.media_base().trim_end_matches('/'),
            host.namespace,
            host.name
        );
        url.strip_prefix(&prefix)
            .is_some_and(|rest| rest.ends_with(".iso") && !rest.contains('/'))
    }

    /// Sets the command the host's agent gets next (it is resent until the agent reports on
    /// it); false when the host is not registered.
    pub fn queue(&self, host: &HostRef, command: Command) -> bool {
        self.registry().queue(host, command)
    }

    /// What the host's agent said last, if it reported since the host was registered.
    pub fn agent(&self, host: &HostRef) -> Option<AgentView> {
        self.registry().view(host, Instant::now())
    }

    /// Forgets the host: its agent's reports are refused and its boot image is not served.
    pub fn forget(&self, host: &HostRef) {
        self.registry().forget(host);
    }

    /// What the agent of `identity` finds in its boot image.
    fn config_of(&self, identity: &HostIdentity) -> AgentConfig {
        let key = &self.inner.keys.token_key;
        AgentConfig {
            hub_url: self.url().to_string(),
            hub_ca_pem: self.ca_pem().to_string(),
            host: identity.host.clone(),
            token: Secret(token::token(key, &identity.host.uid, &identity.boot_mac)),
            boot_mac: identity.boot_mac.clone(),
            network_data: identity.network_data.clone(),
            image_ca_pem: self.inner.config.image_ca_pem.clone(),
        }
    }

    /// The configuration for the boot image URL with `nonce`, if it is the host's current one.
    fn agent_config(&self, namespace: &str, name: &str, nonce: &str) -> Option<AgentConfig> {
        let identity = self.registry().by_nonce(namespace, name, nonce).cloned()?;
        Some(self.config_of(&identity))
    }

    /// Checks, records and answers a report.
    fn report(
        &self,
        bearer: Option<&str>,
        report: Report,
        now: Instant,
    ) -> Result<Reply, Rejection> {
        let key = &self.inner.keys.token_key;
        let polls = Polls {
            busy: self.inner.config.poll_busy,
            idle: self.inner.config.poll_idle,
        };
        self.registry().report(
            bearer,
            report,
            |uid, mac, presented| token::verify(key, uid, mac, presented),
            now,
            polls,
        )
    }
}
