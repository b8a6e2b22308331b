//! Resolving secrets and tokens: `"env:NAME"` reads environment variable NAME, anything else
//! is the literal value. Messages name the variable and the length, never the bytes.

use std::env::VarError;

use crate::gateway::Secret;
use crate::validate;

/// How environment variables are looked up (`std::env::var` outside tests).
pub type EnvLookup<'e> = &'e dyn Fn(&str) -> Result<String, VarError>;

/// What is being resolved, for messages: its name and the shortest length accepted.
pub(crate) struct Kind {
    pub what: &'static str,
    pub min_bytes: usize,
}

pub(crate) const SIGNING_SECRET: Kind = Kind {
    what: "secret",
    min_bytes: validate::MIN_SECRET_BYTES,
};

pub(crate) const ADMIN_TOKEN: Kind = Kind {
    what: "token",
    min_bytes: validate::MIN_TOKEN_BYTES,
};

/// `[waitlist] webhook_secret`: the webhook's receiver checks deliveries with it, so it is
/// a signing key like the gateway's.
pub(crate) const WEBHOOK_SECRET: Kind = Kind {
    what: "secret",
    min_bytes: validate::MIN_SECRET_BYTES,
};

pub(crate) fn resolve(raw: &str, kind: &Kind, env: EnvLookup) -> Result<Secret, String> {
    let (bytes, origin) = match raw.strip_prefix("env:") {
        Some(name) => {
            if !validate::env_name(name) {
                return Err(format!(
                    "expected \"env:NAME\" with NAME made of A-Z a-z 0-9 _ (not starting with a digit), got {raw:?}"
                ));
            }
            let value = match env(name) {
                Ok(v) if v.is_empty() => {
                    return Err(format!(
                        "environment variable {name} is empty; it must hold the {} (at least {} bytes)",
                        kind.what, kind.min_bytes
                    ))
                }
                Ok(v) => v,
                Err(VarError::NotPresent) => {
                    return Err(format!(
                        "environment variable {name} is not set; it must hold the {} (at least {} bytes)",
                        kind.what, kind.min_bytes
                    ))
                }
                Err(VarError::NotUnicode(_)) => {
                    return Err(format!("environment variable {name} is not valid UTF-8"))
                }
            };
            (
                value.into_bytes(),
                format!(" (from environment variable {name})"),
            )
        }
        None => (raw.as_bytes().to_vec(), String::new()),
    };
    if bytes.len() < kind.min_bytes {
        return Err(format!(
            "the {}{origin} is {} bytes long; at least {} bytes are required{}",
            kind.what,
            bytes.len(),
            kind.min_bytes,
            if kind.min_bytes == validate::MIN_SECRET_BYTES {
                " (`anteroom keygen` prints a good one)"
            } else {
                ""
            }
        ));
    }
    Ok(Secret(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Result<String, VarError> {
        match name {
            "GOOD" => Ok("x".repeat(40)),
            "EMPTY" => Ok(String::new()),
            "SHORT" => Ok("tiny-secret-value".to_string()),
            _ => Err(VarError::NotPresent),
        }
    }

    #[test]
    fn env_and_literal() {
        let s = resolve("env:GOOD", &SIGNING_SECRET, &env).unwrap();
        assert_eq!(s.0, "x".repeat(40).into_bytes());
        let lit = "0123456789abcdef0123456789abcdef";
        assert_eq!(
            resolve(lit, &SIGNING_SECRET, &env).unwrap().0,
            lit.as_bytes()
        );
    }

    #[test]
    fn errors_name_the_variable_and_length_not_the_value() {
        let e = resolve("env:MISSING", &SIGNING_SECRET, &env).unwrap_err();
        assert!(e.contains("MISSING is not set"), "{e}");
        let e = resolve("env:EMPTY", &SIGNING_SECRET, &env).unwrap_err();
        assert!(e.contains("EMPTY is empty"), "{e}");
        let e = resolve("env:SHORT", &SIGNING_SECRET, &env).unwrap_err();
        assert!(e.contains("17 bytes long") && e.contains("SHORT"), "{e}");
        assert!(!e.contains("tiny-secret-value"), "{e}");
        let e = resolve("hunter2", &SIGNING_SECRET, &env).unwrap_err();
        assert!(e.contains("7 bytes long") && !e.contains("hunter2"), "{e}");
        let e = resolve("env:1BAD", &SIGNING_SECRET, &env).unwrap_err();
        assert!(e.contains("env:NAME"), "{e}");
        assert!(resolve("sixteen-byte-tok", &ADMIN_TOKEN, &env).is_ok());
        assert!(resolve("fifteen-byte-to", &ADMIN_TOKEN, &env).is_err());
    }
}
