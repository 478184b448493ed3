//! TLS configuration from PEM files, with errors that name the file and the problem.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// Why the TLS certificate or key cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The file cannot be read.
    #[error("cannot read TLS {what} {}", .path.display())]
    Read {
        /// Certificate or key.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// No certificate blocks.
    #[error("TLS certificate file {} holds no CERTIFICATE block", .path.display())]
    NoCertificate {
        /// The file.
        path: PathBuf,
    },
    /// Certificate PEM broken.
    #[error("TLS certificate file {} is not valid PEM", .path.display())]
    BadCertificatePem {
        /// The file.
        path: PathBuf,
    },
    /// No usable private key.
    #[error("TLS key file {} holds no unencrypted PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY block", .path.display())]
    NoKey {
        /// The file.
        path: PathBuf,
    },
    /// rustls refused the pair.
    #[error("TLS certificate {} and key {} cannot be used together: {reason}", .cert.display(), .key.display())]
    Rejected {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
        /// rustls' reason.
        reason: String,
    },
}

/// Build a rustls server configuration (aws-lc-rs, TLS 1.2 and 1.3, ALPN h2 and http/1.1) from a
/// PEM certificate chain (leaf first) and its private key.
pub fn load_tls(cert: &Path, key: &Path) -> Result<Arc<ServerConfig>, TlsError> {
    let cert_bytes = std::fs::read(cert).map_err(|source| TlsError::Read {
        what: "certificate",
        path: cert.into(),
        source,
    })?;
    let key_bytes = zeroize::Zeroizing::new(std::fs::read(key).map_err(|source| TlsError::Read {
        what: "key",
        path: key.into(),
        source,
    })?);
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_bytes)
        .collect::<Result<_, _>>()
        .map_err(|_| TlsError::BadCertificatePem { path: cert.into() })?;
    if chain.is_empty() {
        return Err(TlsError::NoCertificate { path: cert.into() });
    }
    let private =
        PrivateKeyDer::from_pem_slice(&key_bytes).map_err(|_| TlsError::NoKey { path: key.into() })?;
    let rejected =
        |e: rustls::Error| TlsError::Rejected { cert: cert.into(), key: key.into(), reason: e.to_string() };
    let mut config =
        ServerConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(rejected)?
            .with_no_client_auth()
            .with_single_cert(chain, private)
            .map_err(rejected)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}
