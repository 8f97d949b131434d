//! The client against hostile BMCs on loopback: a body without end, one declared at 1 GiB, a
//! byte every 100 ms without end, and redirects to another server that records whether
//! credentials reached it. Each is cut off by a limit, quickly, with an error saying why.

use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use axum::routing::{get, post};
use metal3_redfish::{Config, Connection, Endpoint, Error, Pool};

const PASSWORD: &str = "hostile-test-pw";
/// Bound on every call here: the limits under test must act well before it.
const GUARD: Duration = Duration::from_secs(20);

async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("local address");
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    format!("http://{addr}")
}

fn connect(base: &str, config: Config) -> Connection {
    let pool = Pool::new(config).expect("pool");
    pool.connect(
        &Endpoint::new(base, false),
        "/redfish/v1/Systems/1",
        "admin",
        PASSWORD,
    )
}

/// Settings for these tests: one attempt (the limits act on each), small limits.
fn config() -> Config {
    Config {
        timeout: Duration::from_secs(1),
        max_body: 1 << 20,
        attempts: 1,
        ..Config::default()
    }
}

async fn guarded<T>(what: &str, call: impl Future<Output = T>) -> (T, Duration) {
    let started = Instant::now();
    let result = tokio::time::timeout(GUARD, call)
        .await
        .unwrap_or_else(|_| panic!("{what} was not cut off within {GUARD:?}"));
    (result, started.elapsed())
}

fn no_sessions() -> Router {
    Router::new().route(
        "/redfish/v1/SessionService/Sessions",
        post(|| async { StatusCode::NOT_FOUND }),
    )
}

fn endless(chunk: usize) -> Body {
    let bytes = Bytes::from(vec![b' '; chunk]);
    Body::from_stream(futures::stream::repeat_with(move || {
        Ok::<_, Infallible>(bytes.clone())
    }))
}

#[tokio::test]
async fn a_body_without_end_is_cut_off_at_the_limit() {
    let base = serve(no_sessions().route(
        "/endless",
        get(|| async { Response::new(endless(64 << 10)) }),
    ))
    .await;
    let conn = connect(&base, config());
    let (result, took) = guarded("an endless body", conn.get_reply("/endless")).await;
    let err = result.expect_err("an endless body is refused");
    assert!(
        matches!(&err, Error::TooLarge { limit, .. } if *limit == 1 << 20),
        "{err}"
    );
    let shown = err.to_string();
    assert!(
        shown.contains(&base) && shown.contains("1048576") && shown.contains("/endless"),
        "{shown}"
    );
    assert!(took < Duration::from_secs(10), "took {took:?}");
}

#[tokio::test]
async fn a_declared_gibibyte_is_refused_before_reading() {
    let sent = Arc::new(AtomicUsize::new(0));
    let counter = sent.clone();
    let base = serve(no_sessions().route(
        "/declared",
        get(move || {
            let counter = counter.clone();
            async move {
                let bytes = Bytes::from(vec![b' '; 64 << 10]);
                let body = Body::from_stream(futures::stream::repeat_with(move || {
                    counter.fetch_add(bytes.len(), Ordering::Relaxed);
                    Ok::<_, Infallible>(bytes.clone())
                }));
                Response::builder()
                    .header(header::CONTENT_LENGTH, 1u64 << 30)
                    .body(body)
                    .expect("response")
            }
        }),
    ))
    .await;
    let conn = connect(&base, config());
    let (result, took) = guarded("a 1 GiB body", conn.get_reply("/declared")).await;
    let err = result.expect_err("a 1 GiB body is refused");
    assert!(matches!(err, Error::TooLarge { .. }), "{err}");
    assert!(took < Duration::from_secs(10), "took {took:?}");
    // Whatever the server managed to push before the client hung up, the client never held
    // more than the limit; here it read nothing at all.
    assert!(
        sent.load(Ordering::Relaxed) < 1 << 30,
        "the server sent {} bytes",
        sent.load(Ordering::Relaxed)
    );
}

#[tokio::test]
async fn a_byte_every_100ms_cannot_stretch_the_deadline() {
    let sent = Arc::new(AtomicUsize::new(0));
    let counter = sent.clone();
    let base = serve(no_sessions().route(
        "/trickle",
        get(move || {
            let counter = counter.clone();
            async move {
                let ticks = tokio::time::interval(Duration::from_millis(100));
                let body = futures::stream::unfold(ticks, move |mut ticks| {
                    let counter = counter.clone();
                    async move {
                        ticks.tick().await;
                        counter.fetch_add(1, Ordering::Relaxed);
                        Some((Ok::<_, Infallible>(Bytes::from_static(b" ")), ticks))
                    }
                });
                Response::new(Body::from_stream(body))
            }
        }),
    ))
    .await;
    let conn = connect(&base, config());
    let (result, took) = guarded("a trickling body", conn.get_reply("/trickle")).await;
    let err = result.expect_err("a trickle is cut off");
    assert!(
        matches!(&err, Error::Timeout { timeout, .. } if *timeout == Duration::from_secs(1)),
        "{err}"
    );
    assert!(err.to_string().contains("/trickle"), "{err}");
    assert!(
        sent.load(Ordering::Relaxed) >= 2,
        "the body was trickling when it was cut off"
    );
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(5),
        "took {took:?}"
    );
}

/// What a server that should never be called saw.
#[derive(Default)]
struct Seen {
    requests: usize,
    credentials: Vec<String>,
}

async fn catcher() -> (String, Arc<Mutex<Seen>>) {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let record = seen.clone();
    let router = Router::new().fallback(move |headers: HeaderMap, body: String| {
        let record = record.clone();
        async move {
            let mut seen = record.lock().expect("seen");
            seen.requests += 1;
            for name in ["authorization", "x-auth-token"] {
                if headers.contains_key(name) {
                    seen.credentials.push(format!("header {name}"));
                }
            }
            if body.contains(PASSWORD) {
                seen.credentials.push("the password in the body".into());
            }
            StatusCode::OK
        }
    });
    (serve(router).await, seen)
}

fn redirect(status: StatusCode, to: String) -> Response {
    Response::builder()
        .status(status)
        .header(header::LOCATION, to)
        .body(Body::empty())
        .expect("response")
}

#[tokio::test]
async fn redirects_to_another_host_are_not_followed_and_carry_no_credentials() {
    let (elsewhere, seen) = catcher().await;
    let target = format!("{elsewhere}/redfish/v1/Systems/1");
    let login = format!("{elsewhere}/redfish/v1/SessionService/Sessions");

    // The login itself is redirected, with 307 (which would resend the password).
    let to = login.clone();
    let login_redirector = serve(Router::new().route(
        "/redfish/v1/SessionService/Sessions",
        post(move || {
            let to = to.clone();
            async move { redirect(StatusCode::TEMPORARY_REDIRECT, to) }
        }),
    ))
    .await;
    // A session is opened, then a read is redirected (the token would follow).
    let to = target.clone();
    let session_redirector = serve(
        Router::new()
            .route(
                "/redfish/v1/SessionService/Sessions",
                post(|| async {
                    Response::builder()
                        .status(StatusCode::CREATED)
                        .header("X-Auth-Token", "hostile-token")
                        .header(header::LOCATION, "/redfish/v1/SessionService/Sessions/1")
                        .body(Body::empty())
                        .expect("response")
                }),
            )
            .route(
                "/redfish/v1/Systems/1",
                get(move || {
                    let to = to.clone();
                    async move { redirect(StatusCode::PERMANENT_REDIRECT, to) }
                }),
            ),
    )
    .await;
    // No session service: basic authentication, and a read redirected with 302.
    let to = target.clone();
    let basic_redirector = serve(no_sessions().route(
        "/redfish/v1/Systems/1",
        get(move || {
            let to = to.clone();
            async move { redirect(StatusCode::FOUND, to) }
        }),
    ))
    .await;

    for (base, status, location) in [
        (&login_redirector, 307, &login),
        (&session_redirector, 308, &target),
        (&basic_redirector, 302, &target),
    ] {
        let conn = connect(base, config());
        let (result, took) = guarded("a redirect", conn.get_reply("/redfish/v1/Systems/1")).await;
        let err = result.expect_err("a redirect is an error");
        assert!(
            matches!(&err, Error::Redirected { status: s, location: l, .. }
                if *s == status && l == location),
            "{base}: {err}"
        );
        assert!(!err.is_transient(), "{err}");
        let shown = err.to_string();
        assert!(
            shown.contains(base.as_str())
                && shown.contains(location.as_str())
                && !shown.contains(PASSWORD),
            "{shown}"
        );
        assert!(took < Duration::from_secs(5), "took {took:?}");
    }
    let seen = seen.lock().expect("seen");
    assert_eq!(
        (seen.requests, seen.credentials.clone()),
        (0, Vec::<String>::new()),
        "the other host was called"
    );
}
