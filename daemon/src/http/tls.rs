//! TLS for the TCP listener: rustls on the ring provider (the same rustls
//! the model connections use), the certificate chain and key read from the
//! PEM files `[daemon.http] tls_cert` and `tls_key` name.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// Why the listener's TLS could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum ServerTlsError {
    #[error("tls_cert {path}: {reason}")]
    Cert { path: String, reason: String },
    #[error("tls_key {path}: {reason}")]
    Key { path: String, reason: String },
    #[error("TLS setup: {0}")]
    Config(String),
}

/// A server configuration from a PEM certificate chain and key.
pub fn server_config(cert: &Path, key: &Path) -> Result<Arc<rustls::ServerConfig>, ServerTlsError> {
    let cert_err = |reason: String| ServerTlsError::Cert {
        path: cert.display().to_string(),
        reason,
    };
    let bytes = std::fs::read(cert).map_err(|e| cert_err(e.to_string()))?;
    let chain = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| cert_err(format!("not PEM: {e}")))?;
    if chain.is_empty() {
        return Err(cert_err("holds no `BEGIN CERTIFICATE` section".into()));
    }
    let key_bytes = std::fs::read(key).map_err(|e| ServerTlsError::Key {
        path: key.display().to_string(),
        reason: e.to_string(),
    })?;
    let private = PrivateKeyDer::from_pem_slice(&key_bytes).map_err(|e| ServerTlsError::Key {
        path: key.display().to_string(),
        reason: format!("no private key: {e}"),
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ServerTlsError::Config(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, private)
        .map_err(|e| ServerTlsError::Config(e.to_string()))?;
    Ok(Arc::new(config))
}
