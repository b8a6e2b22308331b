//! TLS for `rediss://`: the server certificate is verified against the system roots, or
//! against an operator's CA for private deployments. A `rediss://` URL never connects in
//! plain text: if TLS cannot be set up, connecting fails.

use std::path::Path;
use std::sync::Arc;

use fred::prelude::Config;
use fred::types::config::TlsConnector;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use rustls::{ClientConfig, RootCertStore};

use crate::store::StoreError;

const TLS_SCHEME: &str = "rediss://";

/// Make `ring` the process's TLS crypto provider, once. rustls picks one by itself only
/// when exactly one provider feature is compiled in; a workspace that also builds a crate
/// enabling `aws-lc-rs` (the load tests' HTTP client) leaves it undecided, and fred's TLS
/// setup would panic.
pub(super) fn install_crypto_provider() {
    // Err only when a provider is installed already: that one serves as well.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Set (or check) `config.tls` for `url`; `tls_ca` replaces the system roots.
pub(super) fn apply(
    url: &str,
    tls_ca: Option<&Path>,
    config: &mut Config,
) -> Result<(), StoreError> {
    if !url.starts_with(TLS_SCHEME) {
        return match tls_ca {
            Some(ca) => Err(StoreError::Invalid(format!(
                "redis tls_ca `{}` needs a {TLS_SCHEME} url, got `{url}`",
                ca.display()
            ))),
            None => Ok(()),
        };
    }
    if let Some(ca) = tls_ca {
        config.tls = Some(TlsConnector::from(client_config(ca)?).into());
    }
    // fred sets the system-root connector for rediss:// when built with TLS; without it,
    // it would only log a warning and talk plain text.
    if config.tls.is_none() {
        return Err(StoreError::Invalid(format!(
            "redis url `{url}`: TLS is not available in this build"
        )));
    }
    Ok(())
}

fn client_config(ca: &Path) -> Result<ClientConfig, StoreError> {
    let invalid = |e: &dyn std::fmt::Display| {
        StoreError::Invalid(format!("redis tls_ca `{}`: {e}", ca.display()))
    };
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca).map_err(|e| invalid(&e))? {
        roots
            .add(cert.map_err(|e| invalid(&e))?)
            .map_err(|e| invalid(&e))?;
    }
    if roots.is_empty() {
        return Err(invalid(&"no certificate in the file"));
    }
    // The provider is named, not taken from the process default, so another crate
    // enabling a second provider cannot make this panic.
    ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| invalid(&e))
        .map(|builder| builder.with_root_certificates(roots).with_no_client_auth())
}
