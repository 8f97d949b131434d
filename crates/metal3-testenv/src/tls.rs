//! A throwaway CA and a serving certificate it signed for `127.0.0.1`: for webhook servers on
//! loopback that the test control plane (through a `caBundle`) or a test's client must trust.

/// The PEMs of a loopback serving certificate and of the CA that signed it.
pub struct LoopbackCertificate {
    /// The CA, for `caBundle` or a client's root store.
    pub ca_pem: String,
    /// The serving certificate (`tls.crt`), valid for `127.0.0.1`.
    pub cert_pem: String,
    /// Its private key (`tls.key`).
    pub key_pem: String,
}

/// A fresh CA and a serving certificate for `127.0.0.1` signed by it.
pub fn loopback_certificate() -> Result<LoopbackCertificate, rcgen::Error> {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate()?;
    let mut ca = CertificateParams::new(Vec::<String>::new())?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca.self_signed(&ca_key)?;
    let issuer = Issuer::new(ca, ca_key);
    let key = KeyPair::generate()?;
    let cert = CertificateParams::new(vec!["127.0.0.1".to_string()])?.signed_by(&key, &issuer)?;
    Ok(LoopbackCertificate {
        ca_pem: ca_cert.pem(),
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}
