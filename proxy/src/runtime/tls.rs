//! The public listener's certificate: one PEM chain and key pair, consulted on every TLS
//! handshake, re-read from its files by `reload` (a renewed certificate takes effect for the
//! next handshake; open connections keep theirs). A pair that fails to load leaves the one
//! in use in place.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use anteroom_config::{GatewayConfig, TlsFiles};
use pingora::listeners::tls::{Acceptor, TlsSettings};
use rustls::crypto::ring::sign::any_supported_type;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum CertError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} holds no PEM certificate")]
    NoCertificate { path: String },
    #[error("{path} holds no usable PEM private key: {detail}")]
    Key { path: String, detail: String },
    #[error("the key in {key} does not belong to the certificate in {cert}")]
    Mismatch { cert: String, key: String },
}

/// The certificate the listener presents, swappable while it serves.
#[derive(Debug)]
pub struct CertStore {
    files: TlsFiles,
    current: RwLock<Arc<CertifiedKey>>,
}

impl CertStore {
    /// Load the pair `files` names, or say what is wrong with it.
    pub fn load(files: &TlsFiles) -> Result<Arc<CertStore>, CertError> {
        Ok(Arc::new(CertStore {
            current: RwLock::new(Arc::new(read_pair(files)?)),
            files: files.clone(),
        }))
    }

    /// Re-read the files. On an error the pair in use stays, and the error says why.
    pub fn reload(&self) -> Result<(), CertError> {
        let fresh = Arc::new(read_pair(&self.files)?);
        match self.current.write() {
            Ok(mut current) => *current = fresh,
            Err(poisoned) => *poisoned.into_inner() = fresh,
        }
        Ok(())
    }

    /// The pair presented now.
    pub fn current(&self) -> Arc<CertifiedKey> {
        match self.current.read() {
            Ok(current) => current.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// The files this store reads.
    pub fn files(&self) -> &TlsFiles {
        &self.files
    }
}

impl ResolvesServerCert for CertStore {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }
}

/// The reload step of the public listener's certificate: its files read again (a pair that
/// does not load refuses the reload, and the one in use stays).
pub struct ReloadCertificates(pub Arc<CertStore>);

impl crate::runtime::reload::ReloadStep for ReloadCertificates {
    fn name(&self) -> &'static str {
        "listen.tls_cert/tls_key"
    }

    fn reload(&self, _config: &GatewayConfig) -> Result<(), String> {
        self.0.reload().map_err(|error| error.to_string())
    }
}

/// The public listener's certificate store when `[listen] tls_cert`/`tls_key` are set.
pub fn public_certs(config: &GatewayConfig) -> Result<Option<Arc<CertStore>>, String> {
    config
        .listen
        .tls
        .as_ref()
        .map(|files| {
            CertStore::load(files).map_err(|error| format!("listen.tls_cert/tls_key: {error}"))
        })
        .transpose()
}

/// The acceptor of the public listener: this store's certificate, HTTP/2 offered before
/// HTTP/1.1 by ALPN.
pub fn acceptor(store: Arc<CertStore>) -> Result<Acceptor, String> {
    // No paths: the resolver answers every handshake.
    let mut settings =
        TlsSettings::intermediate("", "").map_err(|error| format!("TLS settings: {error}"))?;
    settings.set_cert_resolver(store);
    settings.enable_h2();
    Ok(settings.build())
}

fn read_pair(files: &TlsFiles) -> Result<CertifiedKey, CertError> {
    let certs = read_certs(&files.cert)?;
    let key = read_key(&files.key)?;
    let signing = any_supported_type(&key).map_err(|error| CertError::Key {
        path: shown(&files.key),
        detail: error.to_string(),
    })?;
    let pair = CertifiedKey::new(certs, signing);
    pair.keys_match().map_err(|_| CertError::Mismatch {
        cert: shown(&files.cert),
        key: shown(&files.key),
    })?;
    Ok(pair)
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, CertError> {
    let bytes = read(path)?;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&bytes)
        .filter_map(Result::ok)
        .collect();
    if certs.is_empty() {
        return Err(CertError::NoCertificate { path: shown(path) });
    }
    Ok(certs)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, CertError> {
    let bytes = read(path)?;
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|error| CertError::Key {
        path: shown(path),
        detail: error.to_string(),
    })
}

fn read(path: &Path) -> Result<Vec<u8>, CertError> {
    std::fs::read(path).map_err(|source| CertError::Read {
        path: shown(path),
        source,
    })
}

fn shown(path: &Path) -> String {
    PathBuf::from(path).display().to_string()
}
