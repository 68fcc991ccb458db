//! HTTPS: a rustls server configuration from PEM files (`http.tls_cert`, `http.tls_key`).

use std::sync::Arc;

use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

/// Why HTTPS cannot be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// One of the two files is configured without the other.
    #[error("http.tls_cert and http.tls_key go together: set both, or neither")]
    Half,
    /// The certificate file holds no certificate, or cannot be read.
    #[error("certificate file {path}: {problem}")]
    Cert {
        /// The path.
        path: String,
        /// What is wrong.
        problem: String,
    },
    /// The key file holds no private key, or cannot be read. (The key itself is never
    /// printed.)
    #[error("key file {path}: {problem}")]
    Key {
        /// The path.
        path: String,
        /// What is wrong.
        problem: String,
    },
    /// rustls refused the pair (a key that does not match the certificate, …).
    #[error("certificate {cert} and key {key}: {source}")]
    Pair {
        /// The certificate path.
        cert: String,
        /// The key path.
        key: String,
        /// rustls's reason.
        source: rustls::Error,
    },
}

/// A TLS acceptor for the certificate chain in `cert` and the private key in `key`
/// (PEM), HTTP/1.1 only.
pub fn acceptor(cert: &str, key: &str) -> Result<TlsAcceptor, TlsError> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| TlsError::Cert {
            path: cert.to_owned(),
            problem: e.to_string(),
        })?;
    if chain.is_empty() {
        return Err(TlsError::Cert {
            path: cert.to_owned(),
            problem: "no certificate in it".into(),
        });
    }
    let private = PrivateKeyDer::from_pem_file(key).map_err(|e| TlsError::Key {
        path: key.to_owned(),
        problem: e.to_string(),
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .and_then(|b| b.with_no_client_auth().with_single_cert(chain, private))
        .map_err(|source| TlsError::Pair {
            cert: cert.to_owned(),
            key: key.to_owned(),
            source,
        })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}
