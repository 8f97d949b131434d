//! The control plane's certificates: a fresh CA, the API server's serving certificate, an
//! admin client certificate (`system:masters`) and the service-account signing key; and the
//! admin kubeconfig that uses them.

use std::path::Path;

use anyhow::Result;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};

/// The files the certificates and keys are kept in, in [`Pki`] field order.
pub(crate) const PKI_FILES: [&str; 7] = [
    "ca.crt",
    "serving.crt",
    "serving.key",
    "admin.crt",
    "admin.key",
    "sa.key",
    "sa.pub",
];

pub(crate) struct Pki {
    ca_pem: String,
    serving_pem: String,
    serving_key: String,
    admin_pem: String,
    admin_key: String,
    service_account_key: String,
    service_account_public_key: String,
}

impl Pki {
    pub(crate) fn parts(&self) -> [&String; 7] {
        [
            &self.ca_pem,
            &self.serving_pem,
            &self.serving_key,
            &self.admin_pem,
            &self.admin_key,
            &self.service_account_key,
            &self.service_account_public_key,
        ]
    }

    /// The certificates kept in `dir` by an earlier start, if all are there.
    pub(crate) fn load(dir: &Path) -> Option<Self> {
        let [ca, sc, sk, ac, ak, sa, sp] =
            PKI_FILES.map(|f| std::fs::read_to_string(dir.join(f)).ok());
        Some(Self {
            ca_pem: ca?,
            serving_pem: sc?,
            serving_key: sk?,
            admin_pem: ac?,
            admin_key: ak?,
            service_account_key: sa?,
            service_account_public_key: sp?,
        })
    }
}

pub(crate) fn pki() -> Result<Pki> {
    let ca_key = KeyPair::generate()?;
    let mut ca = CertificateParams::new(Vec::<String>::new())?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    ca.distinguished_name = DistinguishedName::new();
    ca.distinguished_name
        .push(DnType::CommonName, "metal3-testenv-ca");
    let ca_cert = ca.self_signed(&ca_key)?;
    let issuer = Issuer::new(ca, ca_key);

    let serving_key = KeyPair::generate()?;
    let mut serving = CertificateParams::new(vec![
        "127.0.0.1".to_string(),
        "localhost".to_string(),
        "kubernetes.default.svc".to_string(),
    ])?;
    serving.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    serving
        .distinguished_name
        .push(DnType::CommonName, "kube-apiserver");
    let serving_cert = serving.signed_by(&serving_key, &issuer)?;

    let admin_key = KeyPair::generate()?;
    let mut admin = CertificateParams::new(Vec::<String>::new())?;
    admin.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    admin.distinguished_name = DistinguishedName::new();
    admin
        .distinguished_name
        .push(DnType::CommonName, "metal3-admin");
    admin
        .distinguished_name
        .push(DnType::OrganizationName, "system:masters");
    let admin_cert = admin.signed_by(&admin_key, &issuer)?;

    let sa_key = KeyPair::generate()?;
    Ok(Pki {
        ca_pem: ca_cert.pem(),
        serving_pem: serving_cert.pem(),
        serving_key: serving_key.serialize_pem(),
        admin_pem: admin_cert.pem(),
        admin_key: admin_key.serialize_pem(),
        service_account_key: sa_key.serialize_pem(),
        service_account_public_key: sa_key.public_key_pem(),
    })
}

pub(crate) fn kubeconfig_yaml(server: &str, pki: &Pki) -> String {
    use base64::Engine;
    use std::fmt::Write;
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let mut out = String::new();
    let _ = write!(
        out,
        "apiVersion: v1\nkind: Config\nclusters:\n- name: metal3\n  cluster:\n    server: {server}\n    \
         certificate-authority-data: {ca}\nusers:\n- name: metal3-admin\n  user:\n    \
         client-certificate-data: {cert}\n    client-key-data: {key}\ncontexts:\n- name: metal3\n  \
         context:\n    cluster: metal3\n    user: metal3-admin\ncurrent-context: metal3\n",
        ca = b64(&pki.ca_pem),
        cert = b64(&pki.admin_pem),
        key = b64(&pki.admin_key),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::config::Kubeconfig;

    #[test]
    fn certificates_are_generated() {
        let pki = pki().expect("certificates");
        assert!(pki.ca_pem.starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(pki.admin_key.contains("PRIVATE KEY"));
        let kubeconfig = kubeconfig_yaml("https://127.0.0.1:1", &pki);
        let parsed = Kubeconfig::from_yaml(&kubeconfig).expect("kubeconfig parses");
        assert_eq!(parsed.current_context.as_deref(), Some("metal3"));
    }
}
