//! Reading and checking TLS files named by the configuration: the gRPC port's certificate and key, and
//! a webhook receiver's CA file. Each is parsed while the configuration is validated, so a wrong file
//! stops `saring serve` with one clear line before any socket is bound or any key is printed.

use std::path::Path;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// The root certificates in a PEM file (a site's `ca_file`); at least one.
pub fn roots(ca_file: &Path) -> Result<rustls::RootCertStore, String> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in certificates(ca_file)? {
        roots
            .add(cert)
            .map_err(|e| format!("{}: {e}", ca_file.display()))?;
    }
    Ok(roots)
}

/// Check that `cert` holds a PEM certificate chain and `key` the private key that goes with its first
/// certificate, as the server will load them.
///
/// The files are read again when the server starts rather than kept here: `Config` is printed in
/// debug logs and must never carry a private key.
pub fn check_identity(cert: &Path, key: &Path) -> Result<(), String> {
    let chain = certificates(cert)?;
    let private = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| format!("{}: no usable PEM private key ({e})", key.display()))?;
    let provider = rustls::crypto::ring::default_provider();
    rustls::sign::CertifiedKey::from_der(chain, private, &provider)
        .map(drop)
        .map_err(|e| match e {
            rustls::Error::InconsistentKeys(_) => format!(
                "{} is not the private key of the certificate in {}",
                key.display(),
                cert.display()
            ),
            e => format!("{}: {e}", key.display()),
        })
}

/// Every certificate in a PEM file; at least one.
fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{}: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("{} holds no certificate", path.display()));
    }
    Ok(certs)
}

/// A rustls server configuration with the certificate chain in `cert` and its key in `key` (the gRPC
/// port's), offering `alpn` (e.g. `http/1.1`): the admin HTTP port serves TLS with it.
pub fn server_config(
    cert: &Path,
    key: &Path,
    alpn: &[&[u8]],
) -> Result<rustls::ServerConfig, String> {
    let chain = certificates(cert)?;
    let private = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| format!("{}: no usable PEM private key ({e})", key.display()))?;
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(chain, private)
        .map_err(|e| format!("{}: {e}", key.display()))?;
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(config)
}
