//! The hub's key material, kept in two Secrets of the operator's namespace so that a restarted
//! operator keeps it (agents that booted earlier still trust the hub and still hold valid
//! tokens): the token key (`metal3-agent-key`, 32 random bytes) and the TLS material
//! (`metal3-agent-tls`: the CA and the serving certificate with their keys, and the names the
//! certificate was issued for). Both are created when missing; the serving certificate is
//! issued anew, by the same CA, when the hub's URL names a host it does not cover. Nothing of
//! it is logged, and nothing is written to disk.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, PostParams};
use kube::{Client, ResourceExt};
use metal3_agent_api::token::KEY_BYTES;

use crate::Error;
use crate::pki::{self, Pem};

/// The Secret holding the token key.
pub const KEY_SECRET: &str = "metal3-agent-key";
/// The Secret holding the hub's CA and serving certificate.
pub const TLS_SECRET: &str = "metal3-agent-tls";

const TOKEN_KEY: &str = "key";
const CA_CERT: &str = "ca.crt";
const CA_KEY: &str = "ca.key";
const CERT: &str = "tls.crt";
const KEY: &str = "tls.key";
const NAMES: &str = "names";

/// The hub's key material. `Debug` shows none of it.
#[derive(Clone)]
pub struct Keys {
    pub(crate) token_key: Vec<u8>,
    pub(crate) ca: Pem,
    pub(crate) serving: Pem,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keys(<redacted>)")
    }
}

/// `n` random bytes from the operating system.
pub(crate) fn random(n: usize) -> Result<Vec<u8>, Error> {
    let mut bytes = vec![0; n];
    getrandom::fill(&mut bytes).map_err(|e| Error::Random(e.to_string()))?;
    Ok(bytes)
}

impl Keys {
    /// New key material for a hub at `url`, kept only in memory (tests, or a hub whose agents
    /// need not survive its restart).
    pub fn generate(url: &str) -> Result<Self, Error> {
        let ca = pki::new_ca()?;
        let serving = pki::serving(&ca, &pki::names(url)?)?;
        Ok(Self {
            token_key: random(KEY_BYTES)?,
            ca,
            serving,
        })
    }

    /// The CA's certificate (PEM), which agents trust for the hub.
    pub fn ca_pem(&self) -> &str {
        &self.ca.cert
    }

    /// The key material kept in `namespace`, created there when missing, with a serving
    /// certificate that covers the hosts of `urls` (the hub's URL as hosts reach it, and the
    /// one BMCs fetch boot images from when it differs).
    pub async fn load_or_create(
        client: Client,
        namespace: &str,
        urls: &[&str],
    ) -> Result<Self, Error> {
        let mut names = Vec::new();
        for url in urls {
            for name in pki::names(url)? {
                if !names.contains(&name) {
                    names.push(name);
                }
            }
        }
        let api: Api<Secret> = Api::namespaced(client, namespace);
        let token_key = token_key(&api, namespace).await?;
        let (ca, serving) = tls(&api, namespace, &names).await?;
        Ok(Self {
            token_key,
            ca,
            serving,
        })
    }
}

fn kube_error(namespace: &str, name: &str, e: kube::Error) -> Error {
    Error::Kube {
        secret: format!("{namespace}/{name}"),
        why: e.to_string(),
    }
}

fn bad_secret(namespace: &str, name: &str, why: &str) -> Error {
    Error::BadSecret {
        secret: format!("{namespace}/{name}"),
        why: why.to_string(),
    }
}

fn field<'a>(secret: &'a Secret, key: &str) -> Option<&'a [u8]> {
    secret
        .data
        .as_ref()
        .and_then(|d| d.get(key))
        .map(|b| b.0.as_slice())
}

fn text(secret: &Secret, key: &str) -> Option<String> {
    field(secret, key).and_then(|b| String::from_utf8(b.to_vec()).ok())
}

fn secret(name: &str, data: BTreeMap<String, ByteString>) -> Secret {
    Secret {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            labels: Some(
                [(
                    "app.kubernetes.io/component".to_string(),
                    "metal3-agent-hub".to_string(),
                )]
                .into(),
            ),
            ..ObjectMeta::default()
        },
        type_: Some("Opaque".into()),
        data: Some(data),
        ..Secret::default()
    }
}

/// Reads the Secret `name`, or creates it from `make()`; when another replica created it
/// first, reads theirs.
async fn get_or_create(
    api: &Api<Secret>,
    namespace: &str,
    name: &str,
    make: impl Fn() -> Result<Secret, Error>,
) -> Result<Secret, Error> {
    if let Some(found) = api
        .get_opt(name)
        .await
        .map_err(|e| kube_error(namespace, name, e))?
    {
        return Ok(found);
    }
    match api.create(&PostParams::default(), &make()?).await {
        Ok(created) => {
            tracing::info!(secret = %format!("{namespace}/{name}"), "created the agent hub's Secret");
            Ok(created)
        }
        Err(kube::Error::Api(e)) if e.code == 409 => api
            .get(name)
            .await
            .map_err(|e| kube_error(namespace, name, e)),
        Err(e) => Err(kube_error(namespace, name, e)),
    }
}

async fn token_key(api: &Api<Secret>, namespace: &str) -> Result<Vec<u8>, Error> {
    let found = get_or_create(api, namespace, KEY_SECRET, || {
        let data = [(TOKEN_KEY.to_string(), ByteString(random(KEY_BYTES)?))].into();
        Ok(secret(KEY_SECRET, data))
    })
    .await?;
    match field(&found, TOKEN_KEY) {
        Some(key) if key.len() >= KEY_BYTES => Ok(key.to_vec()),
        _ => Err(bad_secret(
            namespace,
            KEY_SECRET,
            &format!(
                "it needs a `{TOKEN_KEY}` of at least {KEY_BYTES} bytes; delete it to have a new one made (every agent token changes)"
            ),
        )),
    }
}

fn tls_data(ca: &Pem, serving: &Pem, names: &[String]) -> BTreeMap<String, ByteString> {
    [
        (CA_CERT, &ca.cert),
        (CA_KEY, &ca.key),
        (CERT, &serving.cert),
        (KEY, &serving.key),
        (NAMES, &pki::joined(names)),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), ByteString(v.as_bytes().to_vec())))
    .collect()
}

async fn tls(api: &Api<Secret>, namespace: &str, names: &[String]) -> Result<(Pem, Pem), Error> {
    let found = get_or_create(api, namespace, TLS_SECRET, || {
        let ca = pki::new_ca()?;
        let serving = pki::serving(&ca, names)?;
        Ok(secret(TLS_SECRET, tls_data(&ca, &serving, names)))
    })
    .await?;
    let [ca_cert, ca_key, cert, key, kept] =
        [CA_CERT, CA_KEY, CERT, KEY, NAMES].map(|k| text(&found, k));
    let (Some(ca_cert), Some(ca_key)) = (ca_cert, ca_key) else {
        return Err(bad_secret(
            namespace,
            TLS_SECRET,
            &format!(
                "it needs `{CA_CERT}` and `{CA_KEY}`; delete it to have a new CA made (agents booted before then must boot again)"
            ),
        ));
    };
    let ca = Pem {
        cert: ca_cert,
        key: ca_key,
    };
    if let (Some(cert), Some(key), Some(kept)) = (cert, key, kept)
        && pki::covers(&kept, names)
    {
        return Ok((ca, Pem { cert, key }));
    }
    // The URL names another host: a new serving certificate from the same CA.
    let serving = pki::serving(&ca, names)?;
    let mut updated = found.clone();
    updated.data = Some(tls_data(&ca, &serving, names));
    api.replace(&found.name_any(), &PostParams::default(), &updated)
        .await
        .map_err(|e| kube_error(namespace, TLS_SECRET, e))?;
    tracing::info!(names = %pki::joined(names), "issued a new serving certificate for the agent hub");
    Ok((ca, serving))
}
