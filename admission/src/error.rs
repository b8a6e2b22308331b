//! Errors of keyring construction and the reasons a pass is refused.

use thiserror::Error;

/// A keyring could not be built from the configured secrets.
#[derive(Debug, Error)]
pub enum AdmissionError {
    #[error("signing key `{0}` is not among the listed secrets")]
    UnknownSigningKey(String),
    #[error("key `{kid}` is too short: {len} bytes, at least 32 required")]
    KeyTooShort { kid: String, len: usize },
    #[error("key id `{0}` is invalid: use 1-32 characters of [A-Za-z0-9_-]")]
    BadKeyId(String),
    #[error("key id `{0}` is listed more than once")]
    DuplicateKeyId(String),
}

/// Why a pass was refused; `reason()` is the bounded metric label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PassRejection {
    /// Not a well-formed v1 pass: too long, non-ASCII, wrong number of parts, bad base64,
    /// bad JSON, missing fields, a bad visitor id, `iat > exp`...
    Malformed,
    /// Well-formed key id that is not in the keyring (retired key, or another deployment's).
    UnknownKey,
    /// The MAC does not match: forged or tampered.
    BadSignature,
    /// `now >= exp`.
    Expired,
    /// Genuine, but for another room.
    WrongRoom,
}

impl PassRejection {
    pub fn reason(self) -> &'static str {
        match self {
            PassRejection::Malformed => "malformed",
            PassRejection::UnknownKey => "unknown_key",
            PassRejection::BadSignature => "bad_signature",
            PassRejection::Expired => "expired",
            PassRejection::WrongRoom => "wrong_room",
        }
    }

    /// Every reason, for pre-registering metric label values.
    pub const ALL: [PassRejection; 5] = [
        PassRejection::Malformed,
        PassRejection::UnknownKey,
        PassRejection::BadSignature,
        PassRejection::Expired,
        PassRejection::WrongRoom,
    ];
}

impl std::fmt::Display for PassRejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.reason())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_are_distinct_snake_case_labels() {
        let labels: Vec<&str> = PassRejection::ALL.iter().map(|r| r.reason()).collect();
        assert_eq!(
            labels,
            [
                "malformed",
                "unknown_key",
                "bad_signature",
                "expired",
                "wrong_room"
            ]
        );
        assert_eq!(PassRejection::Expired.to_string(), "expired");
    }

    #[test]
    fn errors_name_the_key() {
        let e = AdmissionError::KeyTooShort {
            kid: "k9".into(),
            len: 5,
        };
        assert!(e.to_string().contains("`k9`") && e.to_string().contains("5 bytes"));
    }
}
