//! Deliveries to the waitlist's webhook: the HTTP client (`https://` checked against the
//! system's roots plus `[waitlist] webhook_ca`, every delivery time-bounded) and the
//! signature a receiver checks each delivery by (`[waitlist] webhook_secret`).
//!
//! The signature is `X-Anteroom-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>` over
//! `"<t>." + body`: the time is signed with the body, so a receiver refuses a replayed
//! delivery by its age, and the message id inside the body de-duplicates retries.

use std::time::Duration;

use anteroom_config::WaitlistConfig;
use ring::hmac;
use thiserror::Error;

pub const SIGNATURE_HEADER: &str = "x-anteroom-signature";
/// A receiver that does not answer within this long gets the delivery again later.
pub const DELIVERY_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Error)]
pub enum WebhookError {
    #[error("waitlist.webhook_ca: cannot read {path}: {source}")]
    ReadCa {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("waitlist.webhook_ca: {path} holds no usable PEM certificate: {detail}")]
    Ca { path: String, detail: String },
    #[error("waitlist webhook client: {0}")]
    Client(String),
}

/// The client the relay delivers with.
pub fn client(config: &WaitlistConfig) -> Result<reqwest::Client, WebhookError> {
    let mut builder = reqwest::Client::builder()
        .timeout(DELIVERY_TIMEOUT)
        .connect_timeout(DELIVERY_TIMEOUT)
        // A redirect would send the offer somewhere the operator never named.
        .redirect(reqwest::redirect::Policy::none());
    // The system's roots, as a browser would trust them; a file that fails to parse is
    // skipped (the rest still count), as reqwest's own loader does.
    for der in rustls_native_certs::load_native_certs().certs {
        if let Ok(certificate) = reqwest::Certificate::from_der(der.as_ref()) {
            builder = builder.add_root_certificate(certificate);
        }
    }
    if let Some(path) = &config.webhook_ca {
        let shown = path.display().to_string();
        let pem = std::fs::read(path).map_err(|source| WebhookError::ReadCa {
            path: shown.clone(),
            source,
        })?;
        let certificates =
            reqwest::Certificate::from_pem_bundle(&pem).map_err(|error| WebhookError::Ca {
                path: shown.clone(),
                detail: error.to_string(),
            })?;
        if certificates.is_empty() {
            return Err(WebhookError::Ca {
                path: shown,
                detail: "no certificate in the file".into(),
            });
        }
        for certificate in certificates {
            builder = builder.add_root_certificate(certificate);
        }
    }
    builder
        .build()
        .map_err(|error| WebhookError::Client(error.to_string()))
}

/// The `X-Anteroom-Signature` value of `body` sent at `unix_seconds`.
pub fn signature(secret: &[u8], unix_seconds: u64, body: &[u8]) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
    let mut context = hmac::Context::with_key(&key);
    let time = unix_seconds.to_string();
    context.update(time.as_bytes());
    context.update(b".");
    context.update(body);
    let mac = context.sign();
    let mut value = String::with_capacity(time.len() + 70);
    value.push_str("t=");
    value.push_str(&time);
    value.push_str(",v1=");
    anteroom_admission::push_hex(&mut value, mac.as_ref());
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A vector from an independent implementation (Python's `hmac`):
    /// `hmac.new(b"Jefe", b'1700000000.{"id":"m1"}', sha256).hexdigest()`.
    #[test]
    fn the_signature_is_hmac_sha256_of_time_dot_body() {
        assert_eq!(
            signature(b"Jefe", 1_700_000_000, b"{\"id\":\"m1\"}"),
            "t=1700000000,v1=8adf8a404a0a21145b43e72796b87901188f4d07206919488960dce59b836b73"
        );
    }

    #[test]
    fn a_changed_body_time_or_secret_changes_the_signature() {
        let base = signature(b"secret-one", 1_700_000_000, b"{\"id\":\"m1\"}");
        assert_ne!(
            base,
            signature(b"secret-one", 1_700_000_000, b"{\"id\":\"m2\"}")
        );
        assert_ne!(
            base,
            signature(b"secret-one", 1_700_000_001, b"{\"id\":\"m1\"}")
        );
        assert_ne!(
            base,
            signature(b"secret-two", 1_700_000_000, b"{\"id\":\"m1\"}")
        );
    }

    #[test]
    fn a_ca_file_without_certificates_is_refused_with_its_path() {
        let dir = std::env::temp_dir().join(format!("anteroom-hook-ca-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let config = WaitlistConfig {
            webhook_ca: Some(empty.clone()),
            ..WaitlistConfig::default()
        };
        let error = client(&config).unwrap_err().to_string();
        assert!(
            error.contains("webhook_ca") && error.contains("empty.pem"),
            "{error}"
        );
        let missing = WaitlistConfig {
            webhook_ca: Some(dir.join("missing.pem")),
            ..WaitlistConfig::default()
        };
        assert!(client(&missing)
            .unwrap_err()
            .to_string()
            .contains("cannot read"));
        assert!(client(&WaitlistConfig::default()).is_ok());
    }
}
