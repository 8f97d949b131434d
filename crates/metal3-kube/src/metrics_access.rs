//! `/metrics` as upstream's controllers serve it: over HTTPS, to a caller the API server
//! vouches for. The caller's bearer token is checked with a `TokenReview` and its right to
//! `get` the non-resource URL `/metrics` with a `SubjectAccessReview`, so who may scrape is
//! ordinary RBAC (`nonResourceURLs: ["/metrics"]`). Answers are cached briefly, keyed by a
//! digest of the token (the token itself is never kept, logged or echoed).

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use k8s_openapi::api::authentication::v1::{TokenReview, TokenReviewSpec};
use k8s_openapi::api::authorization::v1::{
    NonResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec,
};
use kube::Client;
use kube::api::{Api, PostParams};
use prometheus_client::registry::Registry;
use sha2::{Digest, Sha256};

/// How long an allowed caller is remembered.
const ALLOWED_FOR: Duration = Duration::from_secs(60);
/// How long a refused caller is remembered (short: a role may be granted meanwhile).
const REFUSED_FOR: Duration = Duration::from_secs(10);
/// Callers remembered at most; past it the memory starts over.
const REMEMBERED: usize = 1024;

/// What the API server said about a caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Authenticated and allowed to get `/metrics`.
    Allowed,
    /// No token, or one the API server does not accept.
    Unauthenticated,
    /// Authenticated as this user, who may not get `/metrics`.
    Forbidden(String),
}

/// The bearer token of an `Authorization` header, if it carries one.
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// Verdicts by digest of the token, with when they were given.
type Remembered = HashMap<[u8; 32], (Instant, Verdict)>;

/// Checks callers through the API server and remembers the answers for a while.
#[derive(Clone)]
pub struct Guard {
    client: Client,
    path: String,
    remembered: Arc<Mutex<Remembered>>,
}

impl Guard {
    /// A guard for the non-resource URL `path` (`/metrics`).
    pub fn new(client: Client, path: &str) -> Self {
        Self {
            client,
            path: path.to_string(),
            remembered: Arc::default(),
        }
    }

    /// What the API server says about the caller holding `token` (`None`: no token).
    pub async fn judge(&self, token: Option<&str>) -> Result<Verdict, kube::Error> {
        let Some(token) = token else {
            return Ok(Verdict::Unauthenticated);
        };
        let key: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        if let Some(verdict) = self.recall(&key) {
            return Ok(verdict);
        }
        let verdict = self.ask(token).await?;
        self.remember(key, verdict.clone());
        Ok(verdict)
    }

    fn recall(&self, key: &[u8; 32]) -> Option<Verdict> {
        let remembered = self.remembered.lock().ok()?;
        let (at, verdict) = remembered.get(key)?;
        let lasts = if *verdict == Verdict::Allowed {
            ALLOWED_FOR
        } else {
            REFUSED_FOR
        };
        (at.elapsed() < lasts).then(|| verdict.clone())
    }

    fn remember(&self, key: [u8; 32], verdict: Verdict) {
        if let Ok(mut remembered) = self.remembered.lock() {
            if remembered.len() >= REMEMBERED {
                remembered.clear();
            }
            remembered.insert(key, (Instant::now(), verdict));
        }
    }

    async fn ask(&self, token: &str) -> Result<Verdict, kube::Error> {
        let review = TokenReview {
            spec: TokenReviewSpec {
                token: Some(token.to_string()),
                ..Default::default()
            },
            ..Default::default()
        };
        let reviewed = Api::<TokenReview>::all(self.client.clone())
            .create(&PostParams::default(), &review)
            .await?;
        let status = reviewed.status.unwrap_or_default();
        let Some(user) = status.user.filter(|_| status.authenticated == Some(true)) else {
            return Ok(Verdict::Unauthenticated);
        };
        let access = SubjectAccessReview {
            spec: SubjectAccessReviewSpec {
                user: user.username.clone(),
                groups: user.groups,
                uid: user.uid,
                extra: user.extra,
                non_resource_attributes: Some(NonResourceAttributes {
                    path: Some(self.path.clone()),
                    verb: Some("get".to_string()),
                }),
                ..Default::default()
            },
            ..Default::default()
        };
        let answered = Api::<SubjectAccessReview>::all(self.client.clone())
            .create(&PostParams::default(), &access)
            .await?;
        Ok(if answered.status.is_some_and(|s| s.allowed) {
            Verdict::Allowed
        } else {
            Verdict::Forbidden(user.username.unwrap_or_default())
        })
    }
}

async fn guarded(State(guard): State<Guard>, request: Request, next: Next) -> Response {
    match guard.judge(bearer_token(request.headers())).await {
        Ok(Verdict::Allowed) => next.run(request).await,
        Ok(Verdict::Unauthenticated) => {
            let mut response = (StatusCode::UNAUTHORIZED, "Unauthorized\n").into_response();
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            response
        }
        Ok(Verdict::Forbidden(user)) => (
            StatusCode::FORBIDDEN,
            format!("Forbidden: user {user:?} may not get {}\n", guard.path),
        )
            .into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "cannot check a metrics caller with the API server");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "cannot check the caller with the API server\n",
            )
                .into_response()
        }
    }
}

/// The metrics router of [`crate::http::router`], each request checked by `guard`.
pub fn router(registry: Arc<Registry>, guard: Guard) -> Router {
    crate::http::router(registry).layer(middleware::from_fn_with_state(guard, guarded))
}

/// The serving certificate and key (PEM): `tls.crt` and `tls.key` from `cert_dir`, or, without
/// one, a self-signed certificate made now for `localhost`, `127.0.0.1` and `::1` (scrapers
/// then skip verification, as they do for controller-runtime's own self-signed metrics).
pub fn certificate(cert_dir: Option<&Path>) -> std::io::Result<(Vec<u8>, Vec<u8>)> {
    match cert_dir {
        Some(dir) => Ok((
            std::fs::read(dir.join("tls.crt"))?,
            std::fs::read(dir.join("tls.key"))?,
        )),
        None => {
            let names = ["localhost", "127.0.0.1", "::1"].map(String::from).to_vec();
            let made = rcgen::generate_simple_self_signed(names).map_err(std::io::Error::other)?;
            Ok((
                made.cert.pem().into_bytes(),
                made.signing_key.serialize_pem().into_bytes(),
            ))
        }
    }
}

/// Serves `/metrics` (and the probes) over TLS with `certificate` (PEM certificate and key, see
/// [`certificate`]) on `listener`, each request checked by the API server through `client`,
/// until the process ends.
pub async fn serve(
    listener: std::net::TcpListener,
    registry: Arc<Registry>,
    client: Client,
    certificate: (Vec<u8>, Vec<u8>),
) -> std::io::Result<()> {
    let (cert, key) = certificate;
    let guard = Guard::new(client, "/metrics");
    crate::webhook::serve_router_on(listener, cert, key, router(registry, guard)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(value).expect("header"),
        );
        headers
    }

    #[test]
    fn a_bearer_token_is_read_from_the_authorization_header() {
        assert_eq!(bearer_token(&headers("Bearer abc.def")), Some("abc.def"));
        assert_eq!(bearer_token(&headers("bearer  abc ")), Some("abc"));
    }

    #[test]
    fn other_schemes_and_empty_tokens_are_no_token() {
        assert_eq!(bearer_token(&HeaderMap::new()), None);
        assert_eq!(bearer_token(&headers("Basic dXNlcjpwYXNz")), None);
        assert_eq!(bearer_token(&headers("Bearer ")), None);
        assert_eq!(bearer_token(&headers("Bearer")), None);
    }

    #[test]
    fn a_self_signed_certificate_is_made_without_a_directory() {
        let (cert, key) = certificate(None).expect("made");
        assert!(String::from_utf8_lossy(&cert).starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(String::from_utf8_lossy(&key).contains("PRIVATE KEY"));
    }

    #[test]
    fn a_missing_certificate_directory_is_an_error() {
        let missing = Path::new("/nonexistent/metal3-metrics-certs");
        assert!(certificate(Some(missing)).is_err());
    }
}
