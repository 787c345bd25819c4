//! TLS for signaling and Insights: rustls with the ring provider, Mozilla's public roots
//! compiled in, plus an optional extra CA (PEM) such as `offhook-lab`'s certificate.

use std::sync::Arc;

use rustls::RootCertStore;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

use crate::error::VoiceError;

/// A client configuration trusting the public roots and `extra_ca_pem` (one or more
/// certificates).
pub fn client_config(extra_ca_pem: Option<&[u8]>) -> Result<Arc<rustls::ClientConfig>, VoiceError> {
    let mut roots = RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(pem) = extra_ca_pem {
        let mut added = 0;
        for cert in CertificateDer::pem_slice_iter(pem) {
            let cert = cert.map_err(|e| {
                VoiceError::InvalidArgument(format!("extra CA is not valid PEM: {e}"))
            })?;
            roots.add(cert).map_err(|e| {
                VoiceError::InvalidArgument(format!("extra CA certificate rejected: {e}"))
            })?;
            added += 1;
        }
        if added == 0 {
            return Err(VoiceError::InvalidArgument(
                "extra CA PEM holds no certificate".into(),
            ));
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| VoiceError::Io(format!("TLS set-up: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_extra_ca_is_a_clear_error() {
        assert!(client_config(None).is_ok());
        let e = client_config(Some(b"not a pem")).unwrap_err();
        assert!(e.to_string().contains("no certificate"), "{e}");
    }
}
