//! The hub's certificates: a certificate authority of its own (agents trust it and nothing
//! else for the hub) and a serving certificate it signs for the names of the hub's URL; the
//! names a URL needs and whether a kept certificate still covers them.

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};

use crate::Error;

/// The CA's common name.
const CA_NAME: &str = "metal3 agent hub CA";

/// A certificate and its private key, as PEM. `Debug` hides the key.
#[derive(Clone, PartialEq, Eq)]
pub struct Pem {
    pub cert: String,
    pub key: String,
}

impl std::fmt::Debug for Pem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pem")
            .field("cert", &format!("{} bytes", self.cert.len()))
            .field("key", &"<redacted>")
            .finish()
    }
}

fn failed(e: rcgen::Error) -> Error {
    Error::Certificate(e.to_string())
}

/// The names (DNS names or IP addresses) hosts reach the hub by, from its URL.
pub fn names(url: &str) -> Result<Vec<String>, Error> {
    let bad = |why: &str| Error::Url {
        url: url.to_string(),
        why: why.to_string(),
    };
    let uri: http::Uri = url
        .parse()
        .map_err(|_| bad("not a URL (e.g. https://10.0.2.2:9443)"))?;
    if uri.scheme_str() != Some("https") {
        return Err(bad(
            "agents call home over HTTPS: the URL must start with https://",
        ));
    }
    let host = uri
        .host()
        .map(|h| h.trim_start_matches('[').trim_end_matches(']'))
        .filter(|h| !h.is_empty())
        .ok_or_else(|| bad("the URL names no host"))?;
    if uri.path() != "/" && !uri.path().is_empty() {
        return Err(bad("the URL must be the hub's root (no path)"));
    }
    Ok(vec![host.to_string()])
}

/// A new certificate authority.
pub fn new_ca() -> Result<Pem, Error> {
    let key = KeyPair::generate().map_err(failed)?;
    let cert = ca_params()?.self_signed(&key).map_err(failed)?;
    Ok(Pem {
        cert: cert.pem(),
        key: key.serialize_pem(),
    })
}

fn ca_params() -> Result<CertificateParams, Error> {
    let mut ca = CertificateParams::new(Vec::<String>::new()).map_err(failed)?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    ca.distinguished_name = DistinguishedName::new();
    ca.distinguished_name.push(DnType::CommonName, CA_NAME);
    // Agents run on hosts whose clocks may be off: valid from well before now, for 20 years.
    ca.not_before = rcgen::date_time_ymd(2020, 1, 1);
    ca.not_after = rcgen::date_time_ymd(2045, 1, 1);
    Ok(ca)
}

/// A serving certificate for `names`, signed by `ca`.
pub fn serving(ca: &Pem, names: &[String]) -> Result<Pem, Error> {
    let ca_key = KeyPair::from_pem(&ca.key).map_err(failed)?;
    let issuer = Issuer::from_ca_cert_pem(&ca.cert, ca_key).map_err(failed)?;
    let key = KeyPair::generate().map_err(failed)?;
    let mut params = CertificateParams::new(names.to_vec()).map_err(failed)?;
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.distinguished_name = DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::CommonName, "metal3 agent hub");
    params.not_before = rcgen::date_time_ymd(2020, 1, 1);
    params.not_after = rcgen::date_time_ymd(2045, 1, 1);
    let cert = params.signed_by(&key, &issuer).map_err(failed)?;
    Ok(Pem {
        cert: cert.pem(),
        key: key.serialize_pem(),
    })
}

/// The names a serving certificate was issued for, as kept beside it (comma-separated).
pub fn joined(names: &[String]) -> String {
    names.join(",")
}

/// Whether a certificate issued for `kept` (as [`joined`] wrote them) names every one of
/// `names`.
pub fn covers(kept: &str, names: &[String]) -> bool {
    names
        .iter()
        .all(|n| kept.split(',').any(|k| k.trim().eq_ignore_ascii_case(n)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_of_urls() {
        assert_eq!(
            names("https://10.0.2.2:9443").expect("ip"),
            vec!["10.0.2.2".to_string()]
        );
        assert_eq!(
            names("https://hub.example.com").expect("dns"),
            vec!["hub.example.com".to_string()]
        );
        assert_eq!(
            names("https://[fd00::1]:9443/").expect("ipv6"),
            vec!["fd00::1".to_string()]
        );
        for bad in [
            "http://10.0.2.2:9443",
            "not a url",
            "https://h/x",
            "https://:9443",
        ] {
            assert!(names(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_kept_ca_signs_certificates_for_new_names() {
        let ca = new_ca().expect("ca");
        let ip = vec!["10.0.2.2".to_string()];
        let cert = serving(&ca, &ip).expect("serving");
        assert!(cert.cert.starts_with("-----BEGIN CERTIFICATE"));
        let dns = vec!["hub.example.com".to_string()];
        serving(&ca, &dns).expect("reissued with the same CA");
        let kept = joined(&ip);
        assert!(covers(&kept, &ip));
        assert!(!covers(&kept, &dns));
        assert!(covers("a,HUB.example.com", &dns));
        assert!(!format!("{ca:?}").contains("PRIVATE"), "Debug hides keys");
    }
}
