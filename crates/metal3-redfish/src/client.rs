//! The connection pool: one entry per BMC and set of credentials, holding its session (logged
//! out when idle or at shutdown), a limit on concurrent requests, and a circuit breaker.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use base64::Engine;
use reqwest::header::{HeaderMap, HeaderValue};
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde_json::Value;
use sha2::Digest;

use crate::breaker::{Breaker, Rules};
use crate::error::{Error, reason};
use crate::limits::{self, ReadError};
use crate::types::{ServiceRoot, Task};

/// Client settings.
#[derive(Clone, Debug)]
pub struct Config {
    /// Time allowed for one request, from connecting until the last byte of the answer: a
    /// total deadline that a BMC answering slowly cannot stretch.
    pub timeout: Duration,
    /// Longest answer read from a BMC, in bytes; reading stops there with an error.
    pub max_body: usize,
    /// Requests one BMC gets at once from us.
    pub per_bmc_concurrency: usize,
    /// Tries of an idempotent request (or one the BMC refused as busy) before giving up.
    pub attempts: u32,
    /// Pause before the second try; it grows fourfold each time.
    pub backoff: Duration,
    /// Failures in a row that open a BMC's circuit breaker (0 = never).
    pub breaker_threshold: u32,
    /// How long an open breaker holds calls back.
    pub breaker_cooldown: Duration,
    /// A session unused this long is logged out by [`Pool::logout_idle`].
    pub session_idle: Duration,
    /// Certificate authorities (PEM, one or more) trusted for BMCs besides the usual public
    /// roots: a fleet's BMC certificates are mostly signed by a private CA. Verification is
    /// skipped only for a host with `disableCertificateVerification`.
    pub trusted_ca_pem: Option<Vec<u8>>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(30),
            // Far above any resource the provisioner reads (an attribute registry is a few MB,
            // a collection of 10,000 systems under 1 MB), far below what would hurt the replica.
            max_body: 16 << 20,
            per_bmc_concurrency: 2,
            attempts: 3,
            backoff: Duration::from_millis(250),
            breaker_threshold: 5,
            breaker_cooldown: Duration::from_secs(30),
            session_idle: Duration::from_secs(300),
            trusted_ca_pem: None,
        }
    }
}

/// Where a BMC's Redfish service is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    /// `scheme://host[:port]`.
    pub base: String,
    /// Skip TLS certificate verification (`disableCertificateVerification`).
    pub insecure: bool,
}

impl Endpoint {
    /// The service at `base` (`scheme://host[:port]`); `insecure` skips TLS certificate
    /// verification.
    pub fn new(base: impl Into<String>, insecure: bool) -> Self {
        Self {
            base: base.into(),
            insecure,
        }
    }
}

/// What the BMC answered to a successful request.
#[derive(Clone, Debug, PartialEq)]
pub struct Reply {
    pub status: u16,
    pub location: Option<String>,
    pub etag: Option<String>,
    /// The body as JSON (`null` when empty or not JSON).
    pub body: Value,
    /// Why a body that was sent is not JSON (a success need not carry one, so this is an
    /// error only for whoever decodes it).
    pub not_json: Option<String>,
}

impl Reply {
    /// Decodes the body; an error names the member that did not fit (`Boot.BootSourceOverrideTarget`),
    /// or says that the body was not JSON at all.
    pub fn decode<T: DeserializeOwned>(&self, path: &str) -> Result<T, Error> {
        if let (Value::Null, Some(why)) = (&self.body, &self.not_json) {
            return Err(Error::Decode {
                path: path.into(),
                detail: format!("the answer is not JSON: {why}"),
            });
        }
        decode(&self.body).map_err(|detail| Error::Decode {
            path: path.into(),
            detail,
        })
    }
}

/// Decodes `value` as a `T`; an error names the member that did not fit, as a path from the
/// top (`Members[3].@odata.id: invalid type: …`).
pub fn decode<T: DeserializeOwned>(value: &Value) -> Result<T, String> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let at = e.path().to_string();
        if at == "." {
            e.inner().to_string()
        } else {
            format!("{at}: {}", e.inner())
        }
    })
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Auth {
    /// Not logged in yet.
    None,
    Session {
        token: String,
        location: String,
    },
    /// The BMC has no usable session service.
    Basic,
}

/// One BMC service seen with one set of credentials: the session is shared by every system
/// it manages.
struct Bmc {
    endpoint: Endpoint,
    username: String,
    password: String,
    /// Serialises logins; holds the current authentication.
    auth: tokio::sync::Mutex<Auth>,
    last_used: Mutex<Instant>,
    /// Levels of `$expand` the service offers (0 = none), read once from the service root.
    expand: tokio::sync::OnceCell<u8>,
}

/// One managed system (or a whole service when the address names none): its own limit on
/// concurrent requests and its own breaker, so one failing server behind a many-server
/// service does not hold back the others.
struct Target {
    permits: tokio::sync::Semaphore,
    breaker: Mutex<Breaker>,
    last_error: Mutex<String>,
    calls: AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

struct Inner {
    config: Config,
    verifying: reqwest::Client,
    insecure: reqwest::Client,
    bmcs: Mutex<HashMap<String, Arc<Bmc>>>,
    targets: Mutex<HashMap<String, Arc<Target>>>,
    logouts: AtomicU64,
}

/// Redfish connections to many BMCs, shared by every host.
#[derive(Clone)]
pub struct Pool {
    inner: Arc<Inner>,
}

impl Pool {
    pub fn new(config: Config) -> Result<Self, Error> {
        let roots = match &config.trusted_ca_pem {
            Some(pem) => match reqwest::Certificate::from_pem_bundle(pem) {
                Ok(roots) if !roots.is_empty() => roots,
                Ok(_) => {
                    return Err(Error::Address(
                        "the trusted BMC CAs hold no PEM certificate".to_string(),
                    ));
                }
                Err(e) => {
                    return Err(Error::Address(format!(
                        "the trusted BMC CAs are not PEM certificates: {e}"
                    )));
                }
            },
            None => Vec::new(),
        };
        let build = |insecure: bool| {
            let mut builder = reqwest::Client::builder()
                .timeout(config.timeout)
                .redirect(limits::redirects())
                .danger_accept_invalid_certs(insecure)
                .pool_idle_timeout(Duration::from_secs(30));
            for root in &roots {
                builder = builder.add_root_certificate(root.clone());
            }
            builder
                .build()
                .map_err(|e| Error::Address(format!("cannot build the HTTP client: {e}")))
        };
        Ok(Self {
            inner: Arc::new(Inner {
                verifying: build(false)?,
                insecure: build(true)?,
                config,
                bmcs: Mutex::new(HashMap::new()),
                targets: Mutex::new(HashMap::new()),
                logouts: AtomicU64::new(0),
            }),
        })
    }

    /// A connection to the system at `scope` (its path, e.g. `/redfish/v1/Systems/1`) of
    /// `endpoint`, with these credentials; cheap. Connections with the same credentials to the
    /// same service share its session; each system has its own request limit and breaker.
    pub fn connect(
        &self,
        endpoint: &Endpoint,
        scope: &str,
        username: &str,
        password: &str,
    ) -> Connection {
        let fingerprint = sha2::Sha256::digest(password.as_bytes());
        let key = format!(
            "{}|{}|{}|{:x}",
            endpoint.base, endpoint.insecure, username, fingerprint
        );
        let bmc = lock(&self.inner.bmcs)
            .entry(key)
            .or_insert_with(|| {
                Arc::new(Bmc {
                    endpoint: endpoint.clone(),
                    username: username.into(),
                    password: password.into(),
                    auth: tokio::sync::Mutex::new(Auth::None),
                    last_used: Mutex::new(Instant::now()),
                    expand: tokio::sync::OnceCell::new(),
                })
            })
            .clone();
        let config = &self.inner.config;
        let target = lock(&self.inner.targets)
            .entry(format!("{}{scope}", endpoint.base))
            .or_insert_with(|| {
                Arc::new(Target {
                    permits: tokio::sync::Semaphore::new(config.per_bmc_concurrency.max(1)),
                    breaker: Mutex::new(Breaker::new(Rules {
                        threshold: config.breaker_threshold,
                        cooldown: config.breaker_cooldown,
                    })),
                    last_error: Mutex::new(String::new()),
                    calls: AtomicU64::new(0),
                })
            })
            .clone();
        Connection {
            inner: self.inner.clone(),
            bmc,
            target,
        }
    }

    /// Requests sent so far to the system at `scope` of the service at `base` (its
    /// [`Endpoint::base`]), logins included; `None` before the first connection to it.
    pub fn calls_to(&self, base: &str, scope: &str) -> Option<u64> {
        lock(&self.inner.targets)
            .get(&format!("{base}{scope}"))
            .map(|t| t.calls.load(Ordering::Relaxed))
    }

    /// Requests sent so far, to every BMC (logins and logouts included).
    pub fn calls(&self) -> u64 {
        let targets: u64 = lock(&self.inner.targets)
            .values()
            .map(|t| t.calls.load(Ordering::Relaxed))
            .sum();
        targets + self.inner.logouts.load(Ordering::Relaxed)
    }

    /// Sessions currently held.
    pub async fn open_sessions(&self) -> usize {
        let bmcs: Vec<Arc<Bmc>> = lock(&self.inner.bmcs).values().cloned().collect();
        let mut open = 0;
        for bmc in bmcs {
            if matches!(*bmc.auth.lock().await, Auth::Session { .. }) {
                open += 1;
            }
        }
        open
    }

    /// Logs out of sessions unused for `Config::session_idle` and forgets those BMCs.
    pub async fn logout_idle(&self) {
        let idle = self.inner.config.session_idle;
        let stale: Vec<Arc<Bmc>> = {
            let mut bmcs = lock(&self.inner.bmcs);
            let keys: Vec<String> = bmcs
                .iter()
                .filter(|(_, b)| lock(&b.last_used).elapsed() >= idle)
                .map(|(k, _)| k.clone())
                .collect();
            keys.iter().filter_map(|k| bmcs.remove(k)).collect()
        };
        for bmc in stale {
            logout(&self.inner, &bmc).await;
        }
    }

    /// Logs out of every session (at shutdown).
    pub async fn logout_all(&self) {
        let all: Vec<Arc<Bmc>> = lock(&self.inner.bmcs).drain().map(|(_, b)| b).collect();
        for bmc in all {
            logout(&self.inner, &bmc).await;
        }
    }
}

async fn logout(inner: &Inner, bmc: &Bmc) {
    let mut auth = bmc.auth.lock().await;
    if let Auth::Session { token, location } = &*auth {
        let url = absolute(&bmc.endpoint.base, location);
        inner.logouts.fetch_add(1, Ordering::Relaxed);
        let client = if bmc.endpoint.insecure {
            &inner.insecure
        } else {
            &inner.verifying
        };
        if let Err(e) = client
            .delete(url)
            .header("X-Auth-Token", token)
            .send()
            .await
        {
            tracing::debug!(bmc = %bmc.endpoint.base, error = %e, "logout failed; the session will time out");
        }
    }
    *auth = Auth::None;
}

fn absolute(base: &str, path: &str) -> String {
    if path.starts_with("http://") || path.starts_with("https://") {
        path.to_string()
    } else {
        format!("{base}{path}")
    }
}

/// Requests to one BMC.
#[derive(Clone)]
pub struct Connection {
    inner: Arc<Inner>,
    bmc: Arc<Bmc>,
    target: Arc<Target>,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("base", &self.bmc.endpoint.base)
            .field("username", &self.bmc.username)
            .finish_non_exhaustive()
    }
}

/// What a task monitor says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TaskProgress {
    Running(Option<Task>),
    Done(Option<Task>),
}

impl Connection {
    fn http(&self) -> &reqwest::Client {
        if self.bmc.endpoint.insecure {
            &self.inner.insecure
        } else {
            &self.inner.verifying
        }
    }

    /// The service's base URL.
    pub fn base(&self) -> &str {
        &self.bmc.endpoint.base
    }

    /// Requests this connection's system has cost so far (its share of logins included).
    pub fn calls(&self) -> u64 {
        self.target.calls.load(Ordering::Relaxed)
    }

    /// GETs and decodes a resource.
    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, Error> {
        self.request(Method::GET, path, None, None)
            .await?
            .decode(path)
    }

    /// GETs a resource as it came, with its ETag.
    pub async fn get_reply(&self, path: &str) -> Result<Reply, Error> {
        self.request(Method::GET, path, None, None).await
    }

    /// PATCHes a resource, with `If-Match` when an ETag is given.
    pub async fn patch(
        &self,
        path: &str,
        body: &Value,
        etag: Option<&str>,
    ) -> Result<Reply, Error> {
        self.request(Method::PATCH, path, Some(body), etag).await
    }

    /// POSTs (an action, or a new member of a collection).
    pub async fn post(&self, path: &str, body: &Value) -> Result<Reply, Error> {
        self.request(Method::POST, path, Some(body), None).await
    }

    /// DELETEs a resource.
    pub async fn delete(&self, path: &str) -> Result<Reply, Error> {
        self.request(Method::DELETE, path, None, None).await
    }

    /// DELETEs a resource with a body (e.g. `@Redfish.OperationApplyTime`).
    pub async fn delete_with(&self, path: &str, body: &Value) -> Result<Reply, Error> {
        self.request(Method::DELETE, path, Some(body), None).await
    }

    /// Levels of `$expand` the service offers (0 = none); asked once per service.
    pub async fn expand_levels(&self) -> Result<u8, Error> {
        self.bmc
            .expand
            .get_or_try_init(|| async {
                let root: ServiceRoot = self.get("/redfish/v1/").await?;
                let levels = root
                    .protocol_features_supported
                    .and_then(|f| f.expand_query)
                    .filter(|q| q.expand_all || q.no_links || q.links)
                    .map_or(0, |q| {
                        if q.levels {
                            q.max_levels.unwrap_or(1).clamp(1, 6) as u8
                        } else {
                            1
                        }
                    });
                Ok(levels)
            })
            .await
            .copied()
    }

    /// A collection with its members written out to `levels` (when the service can), as
    /// JSON; `None` when the service does not expand.
    pub async fn expanded(&self, path: &str, levels: u8) -> Result<Option<Value>, Error> {
        if levels == 0 || self.expand_levels().await? < levels {
            return Ok(None);
        }
        let reply = self
            .get_reply(&format!("{path}?$expand=.($levels={levels})"))
            .await?;
        Ok(Some(reply.body))
    }

    /// A member as given (written out in full by `$expand`) or, when only linked, fetched.
    pub async fn resolve<T: DeserializeOwned>(&self, item: &Value) -> Result<T, Error> {
        let link = item.get("@odata.id").and_then(Value::as_str).unwrap_or("");
        let inline = item.as_object().is_some_and(|o| o.len() > 1);
        if inline || link.is_empty() {
            return decode(item).map_err(|detail| Error::Decode {
                path: link.into(),
                detail,
            });
        }
        self.get(link).await
    }

    /// Every member of a collection: one request when the service expands collections,
    /// otherwise the collection and then each member.
    pub async fn members<T: DeserializeOwned>(&self, path: &str) -> Result<Vec<T>, Error> {
        let body = match self.expanded(path, 1).await? {
            Some(body) => body,
            None => self.get_reply(path).await?.body,
        };
        let items = body
            .get("Members")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let mut out = Vec::with_capacity(items.len());
        for item in &items {
            out.push(self.resolve(item).await?);
        }
        Ok(out)
    }

    /// Reads a task monitor: running while it answers 202.
    pub async fn task(&self, monitor: &str) -> Result<TaskProgress, Error> {
        let reply = self.request(Method::GET, monitor, None, None).await?;
        let task = serde_json::from_value::<Task>(reply.body.clone())
            .ok()
            .filter(|t| t.task_state.is_some());
        Ok(if reply.status == 202 {
            TaskProgress::Running(task)
        } else {
            TaskProgress::Done(task)
        })
    }

    async fn request(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        etag: Option<&str>,
    ) -> Result<Reply, Error> {
        let config = &self.inner.config;
        let idempotent = matches!(method, Method::GET | Method::DELETE);
        let mut attempt = 0;
        loop {
            let result = self.once(&method, path, body, etag).await;
            let retry = match &result {
                Err(Error::Http { status: 503, .. }) => true,
                Err(Error::Unreachable { .. } | Error::Timeout { .. }) => idempotent,
                Err(Error::Http { status, .. }) => idempotent && *status >= 500,
                _ => false,
            };
            attempt += 1;
            if !retry || attempt >= config.attempts {
                return result;
            }
            let pause = config.backoff * 4u32.saturating_pow(attempt - 1);
            tokio::time::sleep(pause).await;
        }
    }

    /// The session token to use, logging in when there is none.
    async fn authenticate(&self) -> Result<Auth, Error> {
        let mut auth = self.bmc.auth.lock().await;
        if *auth == Auth::None {
            *auth = self.login().await?;
        }
        Ok(auth.clone())
    }

    /// Drops `stale` (refused by the BMC) and logs in again, unless another request already did.
    async fn reauthenticate(&self, stale: &Auth) -> Result<Auth, Error> {
        let mut auth = self.bmc.auth.lock().await;
        if *auth == *stale {
            *auth = self.login().await?;
        }
        Ok(auth.clone())
    }

    async fn login(&self) -> Result<Auth, Error> {
        let base = &self.bmc.endpoint.base;
        let url = format!("{base}/redfish/v1/SessionService/Sessions");
        let body =
            serde_json::json!({"UserName": self.bmc.username, "Password": self.bmc.password});
        self.target.calls.fetch_add(1, Ordering::Relaxed);
        let response = self
            .http()
            .post(&url)
            .json(&body)
            .send()
            .await
            .map_err(|e| {
                self.transport_error(&Method::POST, "/redfish/v1/SessionService/Sessions", &e)
            })?;
        let status = response.status();
        let token = header(response.headers(), "x-auth-token");
        let location = header(response.headers(), "location");
        if status.is_redirection() {
            return Err(self.redirected(
                &Method::POST,
                "/redfish/v1/SessionService/Sessions",
                status,
                location.as_deref(),
            ));
        }
        let limit = self.inner.config.max_body;
        match (status, token) {
            (s, Some(token)) if s.is_success() => Ok(Auth::Session {
                token,
                location: location.unwrap_or_default(),
            }),
            (StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN, _) => {
                let body = json_or_null(response, limit).await;
                Err(Error::Unauthorized {
                    base: base.clone(),
                    message: reason(&body).unwrap_or_else(|| status.to_string()),
                })
            }
            (s, _) if s.is_server_error() => {
                let body = json_or_null(response, limit).await;
                Err(Error::Http {
                    status: s.as_u16(),
                    method: "POST".into(),
                    path: "/redfish/v1/SessionService/Sessions".into(),
                    message: reason(&body).unwrap_or_else(|| s.to_string()),
                })
            }
            // No session service (or one we cannot use): basic authentication on every request.
            _ => Ok(Auth::Basic),
        }
    }

    fn transport_error(&self, method: &Method, path: &str, e: &reqwest::Error) -> Error {
        let base = self.bmc.endpoint.base.clone();
        if e.is_timeout() {
            Error::Timeout {
                base,
                method: method.to_string(),
                path: path.into(),
                timeout: self.inner.config.timeout,
            }
        } else {
            let mut detail = e.to_string();
            let mut source = std::error::Error::source(e);
            while let Some(s) = source {
                detail = format!("{detail}: {s}");
                source = s.source();
            }
            Error::Unreachable { base, detail }
        }
    }

    /// A `3xx` answer: not followed (see `limits`).
    fn redirected(
        &self,
        method: &Method,
        path: &str,
        status: StatusCode,
        location: Option<&str>,
    ) -> Error {
        Error::Redirected {
            base: self.bmc.endpoint.base.clone(),
            method: method.to_string(),
            path: path.into(),
            status: status.as_u16(),
            location: limits::clip(location.unwrap_or("nowhere"), 200),
        }
    }

    fn breaker_failure(&self, error: &Error) {
        lock(&self.target.breaker).failure(Instant::now());
        *lock(&self.target.last_error) = error.to_string();
    }

    async fn once(
        &self,
        method: &Method,
        path: &str,
        body: Option<&Value>,
        etag: Option<&str>,
    ) -> Result<Reply, Error> {
        let base = &self.bmc.endpoint.base;
        let allowed = lock(&self.target.breaker).allow(Instant::now());
        if let Err(until) = allowed {
            return Err(Error::CircuitOpen {
                base: base.clone(),
                failures: lock(&self.target.breaker).failures(),
                retry_in: until.saturating_duration_since(Instant::now()),
                last: lock(&self.target.last_error).clone(),
            });
        }
        let _permit = self
            .target
            .permits
            .acquire()
            .await
            .map_err(|_| Error::Address("the connection pool is closed".into()))?;
        *lock(&self.bmc.last_used) = Instant::now();
        let mut auth = match self.authenticate().await {
            Ok(a) => a,
            Err(e) => {
                if e.is_transient() {
                    self.breaker_failure(&e);
                }
                return Err(e);
            }
        };
        let mut relogged = false;
        loop {
            let url = absolute(base, path);
            let mut request = self.http().request(method.clone(), &url);
            request = match &auth {
                Auth::Session { token, .. } => request.header("X-Auth-Token", token),
                _ => {
                    let basic = base64::engine::general_purpose::STANDARD
                        .encode(format!("{}:{}", self.bmc.username, self.bmc.password));
                    request.header("Authorization", format!("Basic {basic}"))
                }
            };
            if let Some(tag) = etag {
                request = request.header("If-Match", tag);
            }
            if let Some(body) = body {
                request = request.json(body);
            }
            self.target.calls.fetch_add(1, Ordering::Relaxed);
            let response = match request.send().await {
                Ok(r) => r,
                Err(e) => {
                    let error = self.transport_error(method, path, &e);
                    self.breaker_failure(&error);
                    return Err(error);
                }
            };
            let status = response.status();
            if status == StatusCode::UNAUTHORIZED
                && matches!(auth, Auth::Session { .. })
                && !relogged
            {
                // The session ended on the BMC's side (timeout, reboot): log in again once.
                relogged = true;
                auth = self.reauthenticate(&auth).await?;
                continue;
            }
            let headers = response.headers().clone();
            if status.is_redirection() {
                let location = header(&headers, "location");
                let error = self.redirected(method, path, status, location.as_deref());
                lock(&self.target.breaker).success();
                return Err(error);
            }
            let limit = self.inner.config.max_body;
            let bytes = match limits::read_body(response, limit).await {
                Ok(b) => b,
                Err(failure) => {
                    let error = match failure {
                        ReadError::TooLarge => Error::TooLarge {
                            base: base.clone(),
                            method: method.to_string(),
                            path: path.into(),
                            limit,
                        },
                        ReadError::Transport(e) => self.transport_error(method, path, &e),
                    };
                    self.breaker_failure(&error);
                    return Err(error);
                }
            };
            let (value, not_json) = if bytes.is_empty() {
                (Value::Null, None)
            } else {
                match serde_json::from_slice(&bytes) {
                    Ok(value) => (value, None),
                    Err(e) => (Value::Null, Some(e.to_string())),
                }
            };
            if status.is_success() {
                lock(&self.target.breaker).success();
                return Ok(Reply {
                    status: status.as_u16(),
                    location: header(&headers, "location"),
                    etag: header(&headers, "etag"),
                    body: value,
                    not_json,
                });
            }
            let message = reason(&value).unwrap_or_else(|| status.to_string());
            if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
                lock(&self.target.breaker).success();
                return Err(Error::Unauthorized {
                    base: base.clone(),
                    message,
                });
            }
            let error = Error::Http {
                status: status.as_u16(),
                method: method.to_string(),
                path: path.into(),
                message,
            };
            if status.is_server_error() {
                self.breaker_failure(&error);
            } else {
                lock(&self.target.breaker).success();
            }
            return Err(error);
        }
    }
}

/// The body as JSON, or `null` when it is not JSON, cannot be read or is over `limit`.
async fn json_or_null(response: reqwest::Response, limit: usize) -> Value {
    match limits::read_body(response, limit).await {
        Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        Err(_) => Value::Null,
    }
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v: &HeaderValue| v.to_str().ok())
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_show() {
        let pool = Pool::new(Config::default()).expect("pool");
        let e = Endpoint::new("https://10.0.0.1", false);
        let c = pool.connect(&e, "/redfish/v1/Systems/1", "admin", "hunter2");
        let shown = format!("{c:?}");
        assert!(
            shown.contains("admin") && !shown.contains("hunter2"),
            "{shown}"
        );
    }
}
