//! The client's TLS options against real servers: OpenStack Ironic (from PyPI) serving HTTPS
//! with a certificate from a test CA, and, for mutual TLS (Ironic itself does not check client
//! certificates; deployments put a TLS proxy in front), a rustls server that requires one.

use std::sync::Arc;
use std::time::Duration;

use axum::routing::get;
use metal3_ironic::{Client, Config, Error};
use metal3_testenv::ironic::{Ironic, Options, TlsFiles};
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use rustls::pki_types::pem::PemObject;
use serde_json::json;

/// A CA, and a certificate it signed for `names` with its key, all PEM.
struct Pki {
    ca_pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl Pki {
    fn new() -> Self {
        let key = KeyPair::generate().expect("key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = params.self_signed(&key).expect("CA");
        Self {
            ca_pem: ca.pem(),
            issuer: Issuer::new(params, key),
        }
    }

    /// (certificate, key) for `names`, PEM.
    fn issue(&self, names: &[&str]) -> (String, String) {
        let key = KeyPair::generate().expect("key");
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let cert = CertificateParams::new(names)
            .expect("params")
            .signed_by(&key, &self.issuer)
            .expect("certificate");
        (cert.pem(), key.serialize_pem())
    }
}

fn write(dir: &std::path::Path, name: &str, text: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write");
    path
}

fn config(url: &str, f: impl FnOnce(&mut Config)) -> Config {
    let mut c = Config::new(url);
    c.timeout = Duration::from_secs(10);
    f(&mut c);
    c
}

async fn connect(config: &Config) -> Result<Vec<String>, Error> {
    let client = Client::new(config)?;
    client.negotiate().await?;
    client.drivers().await
}

fn assert_tls_refusal(result: Result<Vec<String>, Error>, what: &str, needle: &str) {
    match result {
        Err(Error::Unreachable { reason, .. }) => {
            assert!(reason.to_lowercase().contains(needle), "{what}: {reason}")
        }
        other => panic!("{what}: expected a TLS failure, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_ironic_with_a_ca_file_a_wrong_name_and_insecure() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = Pki::new();
    // Ironic's certificate names another host than the one we connect to (127.0.0.1).
    let (cert, key) = pki.issue(&["ironic.example"]);
    let tls = TlsFiles {
        cert: write(dir.path(), "tls.crt", &cert),
        key: write(dir.path(), "tls.key", &key),
    };
    let ca_file = write(dir.path(), "ca.crt", &pki.ca_pem);
    let ironic = Ironic::start(&Options {
        tls: Some(tls),
        ..Options::default()
    })
    .await
    .expect("ironic");
    let url = format!("{}/v1/", ironic.url());
    assert!(url.starts_with("https://"), "{url}");

    // Our CA, and the name not checked (IRONIC_SKIP_CLIENT_SAN_VERIFY): a real conversation.
    let drivers = connect(&config(&url, |c| {
        c.ca_file = Some(ca_file.clone());
        c.skip_san_verify = true;
    }))
    .await
    .expect("CA file and no name check");
    assert!(drivers.iter().any(|d| d == "fake-hardware"), "{drivers:?}");

    // Our CA, names checked: the wrong name is refused.
    assert_tls_refusal(
        connect(&config(&url, |c| c.ca_file = Some(ca_file.clone()))).await,
        "name checked",
        "certificate",
    );
    // No CA: an unknown issuer is refused.
    assert_tls_refusal(
        connect(&config(&url, |_| {})).await,
        "system roots only",
        "certificate",
    );
    // IRONIC_INSECURE: anything goes.
    connect(&config(&url, |c| c.insecure = true))
        .await
        .expect("insecure");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_presents_the_client_certificate() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = Pki::new();
    let (server_cert, server_key) = pki.issue(&["127.0.0.1"]);
    let (client_cert, client_key) = pki.issue(&["metal3-client"]);
    let other = Pki::new();
    let (stranger_cert, stranger_key) = other.issue(&["someone-else"]);

    // A TLS server that requires a client certificate from our CA, answering as Ironic does.
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pemfile_certs(&pki.ca_pem) {
        roots.add(cert).expect("root");
    }
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .build()
    .expect("client verifier");
    let key = rustls::pki_types::PrivateKeyDer::from_pem_slice(server_key.as_bytes()).expect("key");
    let server_config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("protocols")
        .with_client_cert_verifier(verifier)
        .with_single_cert(rustls_pemfile_certs(&server_cert), key)
        .expect("server config");
    let app = axum::Router::new()
        .route(
            "/v1/",
            get(|| async {
                axum::Json(json!({"version": {"version": "1.99", "min_version": "1.1"}}))
            }),
        )
        .route(
            "/v1/drivers",
            get(|| async {
                axum::Json(json!({"drivers": [{"name": "fake-hardware", "hosts": ["localhost"]}]}))
            }),
        );
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.set_nonblocking(true).expect("nonblocking");
    let port = listener.local_addr().expect("addr").port();
    let tls = axum_server::tls_rustls::RustlsConfig::from_config(Arc::new(server_config));
    tokio::spawn(axum_server::from_tcp_rustls(listener, tls).serve(app.into_make_service()));
    let url = format!("https://127.0.0.1:{port}/v1/");
    let ca_file = write(dir.path(), "ca.crt", &pki.ca_pem);

    // With our client certificate (IRONIC_CLIENT_CERT_FILE / IRONIC_CLIENT_PRIVATE_KEY_FILE).
    let identity = (
        write(dir.path(), "client.crt", &client_cert),
        write(dir.path(), "client.key", &client_key),
    );
    let drivers = connect(&config(&url, |c| {
        c.ca_file = Some(ca_file.clone());
        c.client_identity = Some(identity.clone());
    }))
    .await
    .expect("mutual TLS");
    assert_eq!(drivers, vec!["fake-hardware".to_string()]);

    // Without one, or with one from another CA, the server ends the handshake.
    for (what, identity) in [
        ("no client certificate", None),
        (
            "a certificate from another CA",
            Some((
                write(dir.path(), "stranger.crt", &stranger_cert),
                write(dir.path(), "stranger.key", &stranger_key),
            )),
        ),
    ] {
        let result = connect(&config(&url, |c| {
            c.ca_file = Some(ca_file.clone());
            c.client_identity = identity;
        }))
        .await;
        assert!(
            matches!(result, Err(Error::Unreachable { .. })),
            "{what}: {result:?}"
        );
    }

    // Unusable files are named.
    let broken = write(dir.path(), "broken.crt", "not a certificate");
    let err = Client::new(&config(&url, |c| {
        c.client_identity = Some((broken.clone(), broken.clone()));
    }))
    .expect_err("a broken identity");
    assert!(err.to_string().contains("broken.crt"), "{err}");
}

fn rustls_pemfile_certs(pem: &str) -> Vec<rustls::pki_types::CertificateDer<'static>> {
    rustls::pki_types::CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .expect("PEM certificates")
}
