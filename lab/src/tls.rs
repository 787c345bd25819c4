//! The signaling server's certificate: a throw-away CA and a leaf signed by it, or a given pair.
//!
//! Clients trust the CA (`ca_cert` in the start-up line); Chromium runs with
//! `--ignore-certificate-errors`. A separate CA (instead of one self-signed leaf) keeps
//! webpki-based clients happy: they refuse a CA certificate used as an end entity.

use std::net::IpAddr;
use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::config::TlsSource;
use crate::error::LabError;

/// Certificate material for the signaling listener.
pub struct TlsMaterial {
    /// What clients should trust (PEM).
    pub ca_cert_pem: String,
    pub server_config: Arc<ServerConfig>,
}

fn tls_err(e: impl std::fmt::Display) -> LabError {
    LabError::Tls(e.to_string())
}

/// Makes (or loads) the certificate and a rustls server config using the ring provider.
pub fn material(source: &TlsSource, listen_ip: IpAddr) -> Result<TlsMaterial, LabError> {
    let (chain, key, ca_pem) = match source {
        TlsSource::Generate => generate(listen_ip)?,
        TlsSource::Pem { cert_pem, key_pem } => {
            let chain: Vec<CertificateDer<'static>> =
                CertificateDer::pem_slice_iter(cert_pem.as_bytes())
                    .collect::<Result<_, _>>()
                    .map_err(tls_err)?;
            if chain.is_empty() {
                return Err(LabError::Tls("no certificate in the given PEM".into()));
            }
            let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).map_err(tls_err)?;
            (chain, key, cert_pem.clone())
        }
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(tls_err)?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(tls_err)?;
    Ok(TlsMaterial {
        ca_cert_pem: ca_pem,
        server_config: Arc::new(config),
    })
}

type Generated = (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>, String);

fn generate(listen_ip: IpAddr) -> Result<Generated, LabError> {
    let ca_key = KeyPair::generate().map_err(tls_err)?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(tls_err)?;
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "offhook-lab test CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_cert = ca_params.self_signed(&ca_key).map_err(tls_err)?;
    let issuer = Issuer::new(ca_params, ca_key);

    let mut names = vec![
        "localhost".to_string(),
        "127.0.0.1".to_string(),
        "::1".to_string(),
    ];
    if !listen_ip.is_unspecified() && !listen_ip.is_loopback() {
        names.push(listen_ip.to_string());
    }
    let leaf_key = KeyPair::generate().map_err(tls_err)?;
    let mut leaf_params = CertificateParams::new(names).map_err(tls_err)?;
    leaf_params
        .distinguished_name
        .push(DnType::CommonName, "offhook-lab");
    let leaf = leaf_params.signed_by(&leaf_key, &issuer).map_err(tls_err)?;

    let key = PrivateKeyDer::try_from(leaf_key.serialize_der()).map_err(tls_err)?;
    Ok((
        vec![leaf.der().clone(), ca_cert.der().clone()],
        key,
        ca_cert.pem(),
    ))
}

/// A rustls client config that trusts `ca_pem` (for the lab's own tests and tools).
pub fn client_config(ca_pem: &str) -> Result<Arc<rustls::ClientConfig>, LabError> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(cert.map_err(tls_err)?).map_err(tls_err)?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(tls_err)?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}
