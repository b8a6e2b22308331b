//! The keyring: one HMAC-SHA256 key per key id (kid), built once. New passes and visitor ids
//! are signed with the signing kid; every listed kid verifies, so keys rotate without logging
//! anyone out (add the new key, make it the signing key, drop the old one after a session).

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rand::RngCore as _;
use ring::hmac;

use crate::error::AdmissionError;

/// Longest key id: kids are 1-32 characters of `[A-Za-z0-9_-]`.
pub const MAX_KID_LEN: usize = 32;
/// Shortest accepted secret, in bytes.
pub const MIN_SECRET_LEN: usize = 32;

#[derive(Clone)]
pub(crate) struct KeyEntry {
    pub(crate) kid: String,
    pub(crate) key: hmac::Key,
}

/// Signs with the signing key; verifies with any listed key.
#[derive(Clone)]
pub struct Keyring {
    keys: Vec<KeyEntry>,
    /// A copy of the signing entry of `keys` (a key is cheap to clone).
    signing: KeyEntry,
    /// Unique to the keys this keyring was built from: what a thread remembers of a verified
    /// pass (`recent_passes`) holds only under the same generation.
    generation: u64,
}

/// The generation of the next keyring built.
static NEXT_GENERATION: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// True for 1-32 characters of `[A-Za-z0-9_-]`.
pub(crate) fn valid_kid(kid: &str) -> bool {
    (1..=MAX_KID_LEN).contains(&kid.len())
        && kid
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// A new random signing secret for `anteroom keygen`: 32 bytes from the OS random source,
/// as base64url without padding (43 ASCII characters). Configure the printed text as the
/// secret; its 43 ASCII bytes are the HMAC key.
pub fn generate_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

impl Keyring {
    /// Validates every kid (1-32 of `[A-Za-z0-9_-]`, no duplicates) and secret (>= 32 bytes),
    /// and that `signing_kid` is listed; builds each HMAC key once.
    pub fn new(
        signing_kid: &str,
        secrets: Vec<(String, Vec<u8>)>,
    ) -> Result<Keyring, AdmissionError> {
        if !valid_kid(signing_kid) {
            return Err(AdmissionError::BadKeyId(signing_kid.to_owned()));
        }
        let mut keys: Vec<KeyEntry> = Vec::with_capacity(secrets.len());
        for (kid, secret) in secrets {
            if !valid_kid(&kid) {
                return Err(AdmissionError::BadKeyId(kid));
            }
            if secret.len() < MIN_SECRET_LEN {
                return Err(AdmissionError::KeyTooShort {
                    kid,
                    len: secret.len(),
                });
            }
            if keys.iter().any(|k| k.kid == kid) {
                return Err(AdmissionError::DuplicateKeyId(kid));
            }
            let key = hmac::Key::new(hmac::HMAC_SHA256, &secret);
            keys.push(KeyEntry { kid, key });
        }
        let signing = keys
            .iter()
            .find(|k| k.kid == signing_kid)
            .cloned()
            .ok_or_else(|| AdmissionError::UnknownSigningKey(signing_kid.to_owned()))?;
        let generation = NEXT_GENERATION.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(Keyring {
            keys,
            signing,
            generation,
        })
    }

    pub fn signing_kid(&self) -> &str {
        &self.signing.kid
    }

    /// True when a pass or signed visitor id names the current signing key (both forms name
    /// their key second: `v1.<kid>.…`, `<hex>.<kid>.<mac>`). Says nothing of validity: verify
    /// first; a verified token signed by another listed key is due to be re-signed.
    pub fn signed_with_signing_key(&self, token: &str) -> bool {
        token.split('.').nth(1) == Some(self.signing_kid())
    }

    /// Every kid that verifies, in the order given.
    pub fn kids(&self) -> impl Iterator<Item = &str> + '_ {
        self.keys.iter().map(|k| k.kid.as_str())
    }

    pub(crate) fn generation(&self) -> u64 {
        self.generation
    }

    pub(crate) fn signing_entry(&self) -> &KeyEntry {
        &self.signing
    }

    /// The verifying key of `kid`. A linear scan: keyrings hold a handful of keys.
    pub(crate) fn key(&self, kid: &str) -> Option<&hmac::Key> {
        self.keys.iter().find(|k| k.kid == kid).map(|k| &k.key)
    }
}

/// Lists the kids, never the secrets.
impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyring")
            .field("signing", &self.signing_kid())
            .field("kids", &self.kids().collect::<Vec<_>>())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(fill: u8) -> Vec<u8> {
        vec![fill; 32]
    }

    #[test]
    fn builds_and_reports_signing_kid() {
        let ring = Keyring::new(
            "k2",
            vec![("k1".into(), secret(1)), ("k2".into(), secret(2))],
        )
        .expect("valid keyring");
        assert_eq!(ring.signing_kid(), "k2");
        assert_eq!(ring.kids().collect::<Vec<_>>(), ["k1", "k2"]);
        assert!(ring.key("k1").is_some() && ring.key("k3").is_none());
    }

    #[test]
    fn rejects_unknown_signing_kid() {
        let err = Keyring::new("k2", vec![("k1".into(), secret(1))]).unwrap_err();
        assert!(matches!(err, AdmissionError::UnknownSigningKey(k) if k == "k2"));
        let err = Keyring::new("k1", vec![]).unwrap_err();
        assert!(matches!(err, AdmissionError::UnknownSigningKey(_)));
    }

    #[test]
    fn rejects_short_secret() {
        let err = Keyring::new("k1", vec![("k1".into(), vec![7; 31])]).unwrap_err();
        assert!(matches!(err, AdmissionError::KeyTooShort { ref kid, len: 31 } if kid == "k1"));
        assert!(Keyring::new("k1", vec![("k1".into(), vec![7; 32])]).is_ok());
    }

    #[test]
    fn rejects_bad_kids() {
        let max = "a".repeat(32);
        assert!(Keyring::new(&max, vec![(max.clone(), secret(1))]).is_ok());
        for bad in ["", "k.1", "k 1", "kä", &"a".repeat(33), "k/1"] {
            let err = Keyring::new(
                "k1",
                vec![("k1".into(), secret(1)), (bad.into(), secret(2))],
            )
            .unwrap_err();
            assert!(
                matches!(err, AdmissionError::BadKeyId(ref k) if k == bad),
                "{bad:?}"
            );
            let err = Keyring::new(bad, vec![("k1".into(), secret(1))]).unwrap_err();
            assert!(matches!(err, AdmissionError::BadKeyId(_)), "{bad:?}");
        }
        assert!(Keyring::new("A-z_9", vec![("A-z_9".into(), secret(1))]).is_ok());
    }

    #[test]
    fn rejects_duplicate_kids() {
        let err = Keyring::new(
            "k1",
            vec![("k1".into(), secret(1)), ("k1".into(), secret(2))],
        )
        .unwrap_err();
        assert!(matches!(err, AdmissionError::DuplicateKeyId(k) if k == "k1"));
    }

    #[test]
    fn debug_hides_secrets() {
        let ring = Keyring::new("k1", vec![("k1".into(), b"S".repeat(32))]).expect("valid");
        let text = format!("{ring:?}");
        assert!(text.contains("k1"));
        assert!(!text.contains("SSSS"));
    }

    #[test]
    fn generated_secrets_are_43_chars_random_and_usable() {
        let a = generate_secret();
        let b = generate_secret();
        assert_eq!(a.len(), 43);
        assert_ne!(a, b);
        assert_eq!(URL_SAFE_NO_PAD.decode(&a).expect("base64url").len(), 32);
        assert!(Keyring::new("k1", vec![("k1".into(), a.into_bytes())]).is_ok());
    }

    #[test]
    fn tells_which_tokens_the_signing_key_signed() {
        let old = Keyring::new("k1", vec![("k1".into(), secret(1))]).expect("valid");
        let both = Keyring::new(
            "k2",
            vec![("k1".into(), secret(1)), ("k2".into(), secret(2))],
        )
        .expect("valid");
        let id = crate::VisitorId::random();
        assert!(!both.signed_with_signing_key(&old.sign_visitor(id)));
        assert!(both.signed_with_signing_key(&both.sign_visitor(id)));
        assert!(!both.signed_with_signing_key("no dots at all"));
    }
}
