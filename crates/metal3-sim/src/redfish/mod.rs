//! The Redfish service of the fleet: DMTF resource shapes over HTTP (axum).
//!
//! One [`Fleet`] holds every server. A router serves either all of them, like one service
//! managing many systems ([`router`]), or one, like that server's own BMC on its own port
//! ([`host_router`]). Each router is a *service* with its own sessions, tasks and event
//! subscriptions; the servers' state is shared.

// Helpers here fail with the HTTP answer itself, which the handler returns as is; boxing it
// would only add an allocation to every refused request.
#![allow(clippy::result_large_err)]

mod admin;
mod manager;
mod service;
mod storage;
mod system;

use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use axum::Router;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::{Value, json};

use crate::events::Subscriptions;
use crate::faults::{Dice, Faults};
use crate::fleet::{Host, Power};
use crate::sessions::{Rules, Session, Sessions};
use crate::tasks::Tasks;

/// Which servers a service manages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    All,
    One(usize),
}

impl Scope {
    fn contains(self, index: usize) -> bool {
        match self {
            Self::All => true,
            Self::One(i) => i == index,
        }
    }
}

/// One Redfish service: its sessions, tasks and event subscriptions.
pub struct Service {
    scope: Scope,
    sessions: Mutex<Sessions>,
    tasks: Mutex<Tasks>,
    subscriptions: Mutex<Subscriptions>,
    /// Service-level requests of a many-server service, by "METHOD route".
    calls: Mutex<BTreeMap<String, u64>>,
    /// Whether any login ever failed here: until then, right credentials skip the lockout
    /// bookkeeping (and its lock).
    failures_seen: AtomicBool,
}

/// The shared state of one simulator.
pub struct Fleet {
    hosts: Vec<Mutex<Host>>,
    faults: Mutex<Faults>,
    host_faults: Mutex<HashMap<usize, Faults>>,
    dice: Dice,
    in_flight: Vec<AtomicUsize>,
    /// Wakes requests queued for a busy BMC when one of its requests ends.
    slot_freed: Vec<tokio::sync::Notify>,
    services: Mutex<Vec<Arc<Service>>>,
    started: Instant,
    /// The servers that are real VMs, once attached.
    vms: OnceLock<crate::vm::Vms>,
}

impl Fleet {
    /// `count` powered-off servers whose BMCs all accept `username`/`password`.
    pub fn new(count: usize, username: &str, password: &str) -> Arc<Self> {
        Self::with_credentials(count, username, password, false)
    }

    /// Like [`Fleet::new`]; with `per_host`, server `i`'s password is `<password>-<i>`, so a
    /// client must use the right credentials for each BMC.
    pub fn with_credentials(
        count: usize,
        username: &str,
        password: &str,
        per_host: bool,
    ) -> Arc<Self> {
        Arc::new(Self {
            hosts: (0..count)
                .map(|i| {
                    let password = if per_host {
                        format!("{password}-{i}")
                    } else {
                        password.to_string()
                    };
                    Mutex::new(Host::new(i, username, &password))
                })
                .collect(),
            faults: Mutex::new(Faults::default()),
            host_faults: Mutex::new(HashMap::new()),
            dice: Dice::new(0x5eed),
            in_flight: (0..count).map(|_| AtomicUsize::new(0)).collect(),
            slot_freed: (0..count).map(|_| tokio::sync::Notify::new()).collect(),
            services: Mutex::new(Vec::new()),
            started: Instant::now(),
            vms: OnceLock::new(),
        })
    }

    /// Puts a qemu VM behind the BMC of each server `specs` names (by index); see
    /// [`crate::vm`]. Once per fleet; needs a tokio runtime.
    pub fn attach_vms(
        self: &Arc<Self>,
        options: &crate::vm::VmOptions,
        specs: Vec<(usize, crate::vm::VmSpec)>,
    ) -> Result<(), String> {
        if self.vms.get().is_some() {
            return Err("VMs are already attached to this fleet".into());
        }
        let vms = crate::vm::attach(self, options, specs)?;
        self.vms
            .set(vms)
            .map_err(|_| "VMs are already attached to this fleet".to_string())
    }

    /// Stops every VM of the fleet (qemu ends; the servers are off).
    pub async fn stop_vms(&self) {
        if let Some(vms) = self.vms.get() {
            vms.stop_all().await;
        }
    }

    /// How many servers are VM-backed.
    pub fn vms(&self) -> usize {
        self.vms.get().map_or(0, crate::vm::Vms::len)
    }

    /// The VM behind server `index`, if it is VM-backed.
    pub fn vm(&self, index: usize) -> Option<&crate::vm::Vm> {
        self.vms.get()?.get(index)
    }

    /// Runs `f` on server `index`'s state.
    pub(crate) fn with_host_mut<R>(
        &self,
        index: usize,
        f: impl FnOnce(&mut Host) -> R,
    ) -> Option<R> {
        self.hosts.get(index).map(|h| f(&mut lock(h)))
    }

    /// Tells event subscribers that server `index` (`id`) changed power state.
    pub(crate) fn power_changed(&self, index: usize, id: &str, power: Power) {
        let event = crate::events::Event::power(index, id, power.as_str(), &timestamp());
        self.emit(index, &event);
    }

    /// Number of servers.
    pub fn len(&self) -> usize {
        self.hosts.len()
    }

    /// Whether the fleet is empty.
    pub fn is_empty(&self) -> bool {
        self.hosts.is_empty()
    }

    /// Replaces the fleet-wide knobs.
    pub fn set_faults(&self, faults: Faults) -> Result<(), String> {
        faults.validate()?;
        *lock(&self.faults) = faults;
        Ok(())
    }

    /// The fleet-wide knobs.
    pub fn faults(&self) -> Faults {
        lock(&self.faults).clone()
    }

    /// Sets (or with `None` clears) the knobs of server `index`, which then override the
    /// fleet-wide ones for it.
    pub fn set_host_faults(&self, index: usize, faults: Option<Faults>) -> Result<(), String> {
        let mut map = lock(&self.host_faults);
        match faults {
            Some(f) => {
                f.validate()?;
                map.insert(index, f);
            }
            None => {
                map.remove(&index);
            }
        }
        Ok(())
    }

    /// The knobs in force for server `index`.
    pub fn faults_for(&self, index: usize) -> Faults {
        lock(&self.host_faults)
            .get(&index)
            .cloned()
            .unwrap_or_else(|| self.faults())
    }

    /// A snapshot of server `index`, brought up to now.
    pub fn host(&self, index: usize) -> Option<Host> {
        self.hosts.get(index).map(|h| {
            let mut h = lock(h);
            h.settle(Instant::now());
            h.clone()
        })
    }

    /// Changes the credentials server `index`'s BMC accepts (a rotated password, or a wrong
    /// Secret as the client sees it).
    pub fn set_credentials(&self, index: usize, username: &str, password: &str) -> bool {
        let Some(h) = self.hosts.get(index) else {
            return false;
        };
        let mut h = lock(h);
        h.username = username.into();
        h.password = password.into();
        true
    }

    /// Sessions open on every service of the fleet.
    pub fn open_sessions(&self) -> usize {
        let now = Instant::now();
        let services = lock(&self.services).clone();
        services
            .iter()
            .map(|s| {
                let rules = self.rules(s.scope);
                lock(&s.sessions).list(now, rules).len()
            })
            .sum()
    }

    /// Sessions still open on every service of the fleet that were opened at `since` or later
    /// (those of one client run, when clients before it could not log out).
    pub fn sessions_opened_since(&self, since: Instant) -> usize {
        let now = Instant::now();
        let services = lock(&self.services).clone();
        services
            .iter()
            .map(|s| {
                let rules = self.rules(s.scope);
                let open = lock(&s.sessions).list(now, rules);
                open.iter().filter(|x| x.opened >= since).count()
            })
            .sum()
    }

    /// The index of the server with this id (`…-<index in hex>`) or name (`sim-<index>`).
    pub fn index_of(&self, id_or_name: &str) -> Option<usize> {
        let index = match id_or_name.strip_prefix("sim-") {
            Some(n) => n.parse().ok()?,
            None => usize::from_str_radix(id_or_name.rsplit('-').next()?, 16).ok()?,
        };
        let host = lock(self.hosts.get(index)?);
        (host.id == id_or_name || host.name == id_or_name).then_some(index)
    }

    fn session_salt(&self, services: usize) -> u64 {
        (self.started.elapsed().as_nanos() as u64) ^ ((services as u64) << 48) ^ 0x5e55
    }

    fn register(&self, scope: Scope) -> Arc<Service> {
        let mut services = lock(&self.services);
        let service = Arc::new(Service {
            scope,
            sessions: Mutex::new(Sessions::new(self.session_salt(services.len()))),
            tasks: Mutex::new(Tasks::default()),
            subscriptions: Mutex::new(Subscriptions::default()),
            calls: Mutex::new(BTreeMap::new()),
            failures_seen: AtomicBool::new(false),
        });
        services.push(service.clone());
        service
    }

    /// Session rules of a service: its server's knobs, or the fleet-wide ones.
    fn rules(&self, scope: Scope) -> Rules {
        match scope {
            Scope::All => self.faults().session_rules(),
            Scope::One(i) => self.faults_for(i).session_rules(),
        }
    }

    /// Sends an event about server `index` to every matching subscription.
    fn emit(&self, index: usize, event: &crate::events::Event) {
        let services = lock(&self.services).clone();
        for service in services.iter().filter(|s| s.scope.contains(index)) {
            lock(&service.subscriptions).publish(event);
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// What a request handler works with: the fleet and the service it came to.
#[derive(Clone)]
struct Ctx {
    fleet: Arc<Fleet>,
    service: Arc<Service>,
}

impl axum::extract::FromRequestParts<Arc<Fleet>> for Ctx {
    type Rejection = Response;

    /// The service a request came to travels as a request extension, so one route table
    /// serves every listener.
    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        fleet: &Arc<Fleet>,
    ) -> Result<Self, Self::Rejection> {
        let service = parts
            .extensions
            .get::<Arc<Service>>()
            .cloned()
            .ok_or_else(|| error(StatusCode::INTERNAL_SERVER_ERROR, "no Redfish service"))?;
        Ok(Self {
            fleet: fleet.clone(),
            service,
        })
    }
}

/// Who a request says it is.
enum Identity {
    Session(Session),
    Basic { username: String, password: String },
}

impl Identity {
    fn credentials(&self) -> (&str, &str) {
        match self {
            Self::Session(s) => (&s.username, &s.password),
            Self::Basic { username, password } => (username, password),
        }
    }
}

fn credentials_match(host: &Host, (username, password): (&str, &str)) -> bool {
    host.username == username && host.password == password
}

impl Ctx {
    fn rules(&self) -> Rules {
        self.fleet.rules(self.service.scope)
    }

    /// The knobs of this service: its server's on a one-server BMC, else the fleet's.
    fn knobs(&self) -> Faults {
        match self.service.scope {
            Scope::All => self.fleet.faults(),
            Scope::One(i) => self.fleet.faults_for(i),
        }
    }

    /// Reads the X-Auth-Token or basic credentials; a token must name an open session.
    fn identity(&self, headers: &HeaderMap) -> Result<Identity, Response> {
        if let Some(token) = headers.get("X-Auth-Token").and_then(|v| v.to_str().ok()) {
            let rules = self.rules();
            return lock(&self.service.sessions)
                .touch(token, Instant::now(), rules)
                .map(Identity::Session)
                .ok_or_else(|| unauthorised("the session token is unknown or expired"));
        }
        let decoded = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Basic "))
            .and_then(|b| {
                base64::engine::general_purpose::STANDARD
                    .decode(b.trim())
                    .ok()
            })
            .and_then(|b| String::from_utf8(b).ok());
        let Some((username, password)) = decoded.as_deref().and_then(|d| d.split_once(':')) else {
            return Err(unauthorised("authentication required"));
        };
        Ok(Identity::Basic {
            username: username.into(),
            password: password.into(),
        })
    }

    /// Whether `credentials` open any server this service manages.
    fn valid_for_service(&self, credentials: (&str, &str)) -> bool {
        match self.service.scope {
            Scope::One(i) => self
                .fleet
                .hosts
                .get(i)
                .is_some_and(|h| credentials_match(&lock(h), credentials)),
            Scope::All => self
                .fleet
                .hosts
                .iter()
                .any(|h| credentials_match(&lock(h), credentials)),
        }
    }

    /// Basic credentials count towards the lockout; a session was checked at login.
    fn admit(&self, identity: &Identity, valid: bool) -> Result<(), Response> {
        let Identity::Basic { username, .. } = identity else {
            return if valid {
                Ok(())
            } else {
                Err(unauthorised("this session has no access to that resource"))
            };
        };
        if valid && !self.service.failures_seen.load(Ordering::Acquire) {
            return Ok(());
        }
        if !valid {
            self.service.failures_seen.store(true, Ordering::Release);
        }
        let rules = self.rules();
        let now = Instant::now();
        let mut sessions = lock(&self.service.sessions);
        if sessions.attempt(username, valid, now, rules) {
            Ok(())
        } else if sessions.locked(username, now) {
            Err(unauthorised(crate::sessions::Refusal::Locked.message()))
        } else {
            Err(unauthorised(
                crate::sessions::Refusal::BadCredentials.message(),
            ))
        }
    }

    /// Checks the request's credentials for a service-level resource, counting the call.
    fn authorise(&self, headers: &HeaderMap, call: &str) -> Result<(), Response> {
        self.count(call);
        let identity = self.identity(headers)?;
        let valid = self.valid_for_service(identity.credentials());
        self.admit(&identity, valid)
    }

    /// Counts a service-level call: on the server for a one-server BMC, else on the service.
    fn count(&self, call: &str) {
        match self.service.scope {
            Scope::One(i) => {
                if let Some(h) = self.fleet.hosts.get(i) {
                    *lock(h).calls.entry(call.to_string()).or_insert(0) += 1;
                }
            }
            Scope::All => {
                *lock(&self.service.calls)
                    .entry(call.to_string())
                    .or_insert(0) += 1
            }
        }
    }

    /// The index of server `id` if this service manages it.
    fn index(&self, id: &str) -> Option<usize> {
        let index = usize::from_str_radix(id.rsplit('-').next()?, 16).ok()?;
        let host = lock(self.fleet.hosts.get(index)?);
        (host.id == id && self.service.scope.contains(index)).then_some(index)
    }

    /// Runs `f` on server `id` after checking credentials, counting the call.
    fn with_host(
        &self,
        headers: &HeaderMap,
        id: &str,
        call: &str,
        f: impl FnOnce(&mut Host, Instant) -> Response,
    ) -> Response {
        let identity = match self.identity(headers) {
            Ok(i) => i,
            Err(r) => return r,
        };
        let Some(index) = self.index(id) else {
            return not_found(&format!("System {id}"));
        };
        let now = Instant::now();
        let mut host = lock(&self.fleet.hosts[index]);
        *host.calls.entry(call.to_string()).or_insert(0) += 1;
        let valid = credentials_match(&host, identity.credentials());
        if let Err(r) = self.admit(&identity, valid) {
            return r;
        }
        host.settle(now);
        f(&mut host, now)
    }

    /// Members of a per-server collection: `<prefix>/<server id>` for every managed server.
    fn members(&self, prefix: &str) -> Vec<String> {
        let ids = |h: &Mutex<Host>| format!("{prefix}/{}", lock(h).id);
        match self.service.scope {
            Scope::All => self.fleet.hosts.iter().map(ids).collect(),
            Scope::One(i) => self.fleet.hosts.get(i).map(ids).into_iter().collect(),
        }
    }

    /// Tells subscribers that server `index` changed power state.
    fn power_changed(&self, index: usize, id: &str, power: Power) {
        self.fleet.power_changed(index, id, power);
    }
}

/// Now, as Redfish writes times.
fn timestamp() -> String {
    jiff::Timestamp::now()
        .round(jiff::Unit::Second)
        .map_or_else(|_| jiff::Timestamp::now().to_string(), |t| t.to_string())
}

fn error_with(status: StatusCode, id: &str, message: &str) -> Response {
    let body = json!({"error": {
        "code": id,
        "message": message,
        "@Message.ExtendedInfo": [{"MessageId": id, "Message": message}],
    }});
    (status, axum::Json(body)).into_response()
}

fn error(status: StatusCode, message: &str) -> Response {
    error_with(status, "Base.1.8.GeneralError", message)
}

fn unauthorised(message: &str) -> Response {
    let mut r = error_with(StatusCode::UNAUTHORIZED, "Base.1.8.NoValidSession", message);
    r.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Basic realm=\"metal3-sim\""),
    );
    r
}

fn not_found(what: &str) -> Response {
    error_with(
        StatusCode::NOT_FOUND,
        "Base.1.8.ResourceMissingAtURI",
        &format!("{what} not found"),
    )
}

/// The entity tag of serialised resource bytes.
fn etag_of_bytes(bytes: &[u8]) -> String {
    let mut hasher = std::hash::DefaultHasher::new();
    bytes.hash(&mut hasher);
    format!("W/\"{:016x}\"", hasher.finish())
}

/// The entity tag of a resource body (without its own `@odata.etag`).
fn etag_of(body: &Value) -> String {
    etag_of_bytes(&serde_json::to_vec(body).unwrap_or_default())
}

/// A resource: 200 with its body, carrying `@odata.etag` and the `ETag` header. The body is
/// serialised once: the tag is spliced in front of its first member.
fn ok(body: Value) -> Response {
    let bytes = serde_json::to_vec(&body).unwrap_or_default();
    let tag = etag_of_bytes(&bytes);
    let body = match bytes.split_first() {
        Some((b'{', rest)) => {
            let mut out = Vec::with_capacity(bytes.len() + 48);
            out.extend_from_slice(b"{\"@odata.etag\":");
            out.extend_from_slice(&serde_json::to_vec(&tag).unwrap_or_default());
            if rest != b"}" {
                out.push(b',');
            }
            out.extend_from_slice(rest);
            out
        }
        _ => bytes,
    };
    let mut r = Response::new(axum::body::Body::from(body));
    let headers = r.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Ok(v) = HeaderValue::from_str(&tag) {
        headers.insert(header::ETAG, v);
    }
    r
}

/// Refuses a change whose `If-Match` names another version of the resource (412).
fn precondition(headers: &HeaderMap, current: &Value) -> Result<(), Response> {
    let Some(wanted) = headers.get(header::IF_MATCH).and_then(|v| v.to_str().ok()) else {
        return Ok(());
    };
    let current = etag_of(current);
    let strip = |t: &str| t.trim().trim_start_matches("W/").to_string();
    let matches = wanted
        .split(',')
        .any(|t| t.trim() == "*" || strip(t) == strip(&current));
    if matches {
        Ok(())
    } else {
        Err(error_with(
            StatusCode::PRECONDITION_FAILED,
            "Base.1.8.PreconditionFailed",
            &format!(
                "If-Match {wanted} does not match the current version {current}; read the resource again"
            ),
        ))
    }
}

fn no_content() -> Response {
    StatusCode::NO_CONTENT.into_response()
}

fn collection(odata_id: &str, odata_type: &str, name: &str, members: Vec<String>) -> Value {
    json!({
        "@odata.id": odata_id,
        "@odata.type": odata_type,
        "Name": name,
        "Members@odata.count": members.len(),
        "Members": members.into_iter().map(|m| json!({"@odata.id": m})).collect::<Vec<_>>(),
    })
}

/// A task as its monitor shows it: without `@odata.id`, which clients such as sushy would
/// follow instead of the monitor (the Task resource answers 200 even while running).
fn monitor_body(task: &crate::tasks::Task, boots: u64) -> Value {
    let mut body = task.body(boots);
    if let Some(map) = body.as_object_mut() {
        map.remove("@odata.id");
    }
    body
}

/// 202 Accepted with a task monitor, as for an operation that finishes later.
fn accepted(task: &crate::tasks::Task, boots: u64) -> Response {
    let mut r = (StatusCode::ACCEPTED, axum::Json(monitor_body(task, boots))).into_response();
    if let Ok(v) = HeaderValue::from_str(&crate::tasks::monitor(task.id)) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    r
}

/// The POST time of server `index` from its knobs.
fn post_time(fleet: &Fleet, index: usize) -> Duration {
    Duration::from_millis(fleet.faults_for(index).post_ms)
}

/// The routes of a service managing every server, plus the simulator's own endpoints under
/// `/metal3-sim/`.
pub fn router(fleet: Arc<Fleet>) -> Router {
    let service = fleet.register(Scope::All);
    redfish_routes(&fleet)
        .merge(admin::routes(fleet))
        .layer(axum::Extension(service))
}

/// The routes of server `index`'s own BMC (no simulator endpoints).
pub fn host_router(fleet: Arc<Fleet>, index: usize) -> Router {
    bmc_router(&redfish_routes(&fleet), &fleet, index)
}

/// Server `index`'s own BMC over a shared route table: a fallback-only router, so a thousand
/// BMCs cost a thousand small wrappers, not a thousand route tables.
pub(crate) fn bmc_router(shared: &Router, fleet: &Arc<Fleet>, index: usize) -> Router {
    let service = fleet.register(Scope::One(index));
    Router::new().fallback_service(tower_layer::Layer::layer(
        &axum::Extension(service),
        shared.clone(),
    ))
}

/// The Redfish routes, with the knobs applied; the service comes with each request.
pub(crate) fn redfish_routes(fleet: &Arc<Fleet>) -> Router {
    service::routes()
        .merge(system::routes())
        .merge(storage::routes())
        .merge(manager::routes())
        .layer(axum::middleware::from_fn_with_state(
            fleet.clone(),
            admin::fault_layer,
        ))
        .with_state(fleet.clone())
}
