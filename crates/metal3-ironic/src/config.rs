//! Where Ironic is and how to talk to it, from the environment variables and files upstream
//! Metal³ reads (`IRONIC_ENDPOINT`, `METAL3_AUTH_ROOT_DIR`, `IRONIC_CACERT_FILE`,
//! `IRONIC_CLIENT_CERT_FILE`, `IRONIC_CLIENT_PRIVATE_KEY_FILE`, `IRONIC_INSECURE`,
//! `IRONIC_SKIP_CLIENT_SAN_VERIFY`, `IRONIC_CLIENT_TIMEOUT`).

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How requests authenticate.
#[derive(Clone, PartialEq, Eq, Default)]
pub enum Auth {
    /// No authentication (Ironic's `auth_strategy = noauth`).
    #[default]
    None,
    /// HTTP basic authentication (`auth_strategy = http_basic`).
    Basic { username: String, password: String },
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::None => f.write_str("None"),
            Self::Basic { username, .. } => f
                .debug_struct("Basic")
                .field("username", username)
                .field("password", &"<redacted>")
                .finish(),
        }
    }
}

/// Client settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// Ironic's API root, e.g. `http://127.0.0.1:6385` (a trailing `/v1/` is accepted).
    pub endpoint: String,
    pub auth: Auth,
    /// PEM file of CA certificates to trust (in addition to none: only these).
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate and key, for mutual TLS.
    pub client_identity: Option<(PathBuf, PathBuf)>,
    /// Accept any server certificate (test setups only).
    pub insecure: bool,
    /// Check the server's certificate chain but not its name.
    pub skip_san_verify: bool,
    /// Per-request timeout.
    pub timeout: Duration,
}

impl Config {
    /// A configuration for `endpoint` with no authentication and default timeouts.
    pub fn new(endpoint: impl Into<String>) -> Self {
        Self {
            endpoint: endpoint.into(),
            auth: Auth::None,
            ca_file: None,
            client_identity: None,
            insecure: false,
            skip_san_verify: false,
            timeout: Duration::from_secs(30),
        }
    }

    /// Reads the configuration as upstream Metal³ does; `env` looks a variable up.
    ///
    /// Credentials come from `$METAL3_AUTH_ROOT_DIR/ironic/{username,password}` (default root
    /// `/opt/metal3/auth`); without that directory requests are not authenticated. CA and
    /// client certificate files are used when they exist.
    pub fn from_env(env: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let var = |name: &str| env(name).filter(|v| !v.trim().is_empty());
        let endpoint = var("IRONIC_ENDPOINT").ok_or(ConfigError::NoEndpoint)?;
        let mut config = Self::new(endpoint.trim());
        let auth_root =
            PathBuf::from(var("METAL3_AUTH_ROOT_DIR").unwrap_or_else(|| "/opt/metal3/auth".into()));
        config.auth = read_auth(&auth_root.join("ironic"))?;
        let file = |name: &str, default: &str| {
            let path = PathBuf::from(var(name).unwrap_or_else(|| default.into()));
            path.is_file().then_some(path)
        };
        config.ca_file = file("IRONIC_CACERT_FILE", "/opt/metal3/certs/ca/tls.crt");
        let cert = file(
            "IRONIC_CLIENT_CERT_FILE",
            "/opt/metal3/certs/client/tls.crt",
        );
        let key = file(
            "IRONIC_CLIENT_PRIVATE_KEY_FILE",
            "/opt/metal3/certs/client/tls.key",
        );
        config.client_identity = cert.zip(key);
        config.insecure = flag("IRONIC_INSECURE", var("IRONIC_INSECURE"))?;
        config.skip_san_verify = flag(
            "IRONIC_SKIP_CLIENT_SAN_VERIFY",
            var("IRONIC_SKIP_CLIENT_SAN_VERIFY"),
        )?;
        if let Some(t) = var("IRONIC_CLIENT_TIMEOUT") {
            config.timeout = parse_seconds(&t).ok_or_else(|| ConfigError::Invalid {
                name: "IRONIC_CLIENT_TIMEOUT",
                value: t.clone(),
                expected: "a number of seconds, e.g. 30 or 30s",
            })?;
        }
        Ok(config)
    }

    /// The `…/v1` URL every path hangs off.
    pub fn api_root(&self) -> String {
        let base = self.endpoint.trim_end_matches('/');
        let base = base.strip_suffix("/v1").unwrap_or(base);
        format!("{base}/v1")
    }
}

fn read_auth(dir: &Path) -> Result<Auth, ConfigError> {
    if !dir.is_dir() {
        return Ok(Auth::None);
    }
    let read = |name: &str| {
        let path = dir.join(name);
        std::fs::read_to_string(&path)
            .map(|s| s.trim_end_matches(['\r', '\n']).to_string())
            .map_err(|e| ConfigError::Unreadable {
                path: path.clone(),
                reason: e.to_string(),
            })
    };
    let username = read("username")?;
    let password = read("password")?;
    if username.is_empty() || password.is_empty() {
        return Err(ConfigError::EmptyCredentials(dir.to_path_buf()));
    }
    Ok(Auth::Basic { username, password })
}

fn flag(name: &'static str, value: Option<String>) -> Result<bool, ConfigError> {
    match value.as_deref().map(str::trim) {
        None => Ok(false),
        Some(v) if v.eq_ignore_ascii_case("true") || v == "1" => Ok(true),
        Some(v) if v.eq_ignore_ascii_case("false") || v == "0" => Ok(false),
        Some(v) => Err(ConfigError::Invalid {
            name,
            value: v.to_string(),
            expected: "true or false",
        }),
    }
}

fn parse_seconds(s: &str) -> Option<Duration> {
    let s = s.trim();
    let digits = s.strip_suffix('s').unwrap_or(s);
    digits.parse::<u64>().ok().map(Duration::from_secs)
}

/// A configuration that cannot be used, naming the variable or file and the fix.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error(
        "IRONIC_ENDPOINT is not set; set it to Ironic's API URL, e.g. http://172.22.0.2:6385/v1/"
    )]
    NoEndpoint,
    #[error("{name}={value:?} is not valid; expected {expected}")]
    Invalid {
        name: &'static str,
        value: String,
        expected: &'static str,
    },
    #[error("cannot read {path}: {reason}")]
    Unreadable { path: PathBuf, reason: String },
    #[error(
        "{0} holds an empty username or password; write both files, or remove the directory for no authentication"
    )]
    EmptyCredentials(PathBuf),
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn endpoint_is_required() {
        assert_eq!(Config::from_env(env(&[])), Err(ConfigError::NoEndpoint));
    }

    #[test]
    fn no_auth_directory_means_no_authentication() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().to_string_lossy().to_string();
        let c = Config::from_env(env(&[
            ("IRONIC_ENDPOINT", "http://127.0.0.1:6385/v1/"),
            ("METAL3_AUTH_ROOT_DIR", &root),
            ("IRONIC_CACERT_FILE", "/nonexistent/ca.crt"),
            ("IRONIC_CLIENT_CERT_FILE", "/nonexistent/tls.crt"),
            ("IRONIC_CLIENT_PRIVATE_KEY_FILE", "/nonexistent/tls.key"),
        ]))
        .expect("config");
        assert_eq!(c.auth, Auth::None);
        assert_eq!(c.ca_file, None);
        assert_eq!(c.client_identity, None);
        assert_eq!(c.api_root(), "http://127.0.0.1:6385/v1");
        assert_eq!(c.timeout, Duration::from_secs(30));
    }

    #[test]
    fn reads_basic_auth_and_certificates() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ironic = dir.path().join("ironic");
        std::fs::create_dir(&ironic).expect("mkdir");
        std::fs::write(ironic.join("username"), "metal3\n").expect("write");
        std::fs::write(ironic.join("password"), "s3cret").expect("write");
        let ca = dir.path().join("ca.crt");
        let cert = dir.path().join("tls.crt");
        let key = dir.path().join("tls.key");
        for f in [&ca, &cert, &key] {
            std::fs::write(f, "pem").expect("write");
        }
        let root = dir.path().to_string_lossy().to_string();
        let c = Config::from_env(env(&[
            ("IRONIC_ENDPOINT", "https://ironic:6385"),
            ("METAL3_AUTH_ROOT_DIR", &root),
            ("IRONIC_CACERT_FILE", &ca.to_string_lossy()),
            ("IRONIC_CLIENT_CERT_FILE", &cert.to_string_lossy()),
            ("IRONIC_CLIENT_PRIVATE_KEY_FILE", &key.to_string_lossy()),
            ("IRONIC_INSECURE", "True"),
            ("IRONIC_CLIENT_TIMEOUT", "45s"),
        ]))
        .expect("config");
        assert_eq!(
            c.auth,
            Auth::Basic {
                username: "metal3".into(),
                password: "s3cret".into()
            }
        );
        assert!(!format!("{c:?}").contains("s3cret"));
        assert_eq!(c.ca_file, Some(ca));
        assert_eq!(c.client_identity, Some((cert, key)));
        assert!(c.insecure);
        assert_eq!(c.timeout, Duration::from_secs(45));
        assert_eq!(c.api_root(), "https://ironic:6385/v1");
    }

    #[test]
    fn bad_values_name_the_variable() {
        let e = Config::from_env(env(&[
            ("IRONIC_ENDPOINT", "http://x"),
            ("METAL3_AUTH_ROOT_DIR", "/nonexistent"),
            ("IRONIC_INSECURE", "maybe"),
        ]))
        .expect_err("invalid");
        assert!(e.to_string().contains("IRONIC_INSECURE"), "{e}");
        let e = Config::from_env(env(&[
            ("IRONIC_ENDPOINT", "http://x"),
            ("METAL3_AUTH_ROOT_DIR", "/nonexistent"),
            ("IRONIC_CLIENT_TIMEOUT", "soon"),
        ]))
        .expect_err("invalid");
        assert!(e.to_string().contains("IRONIC_CLIENT_TIMEOUT"), "{e}");
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join("ironic")).expect("mkdir");
        std::fs::write(dir.path().join("ironic/username"), "").expect("write");
        std::fs::write(dir.path().join("ironic/password"), "pw").expect("write");
        let e = Config::from_env(env(&[
            ("IRONIC_ENDPOINT", "http://x"),
            ("METAL3_AUTH_ROOT_DIR", &dir.path().to_string_lossy()),
        ]))
        .expect_err("empty");
        assert!(e.to_string().contains("empty username or password"), "{e}");
    }
}
