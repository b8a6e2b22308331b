//! Building the keyring from the config's `[keys]`: the gateway and the booking service
//! read the same section and must build the same keyring (feature `config`).

use anteroom_config::KeysConfig;

use crate::error::AdmissionError;
use crate::keyring::Keyring;

impl Keyring {
    /// Signs with `keys.signing`, verifies with every secret of `keys.secrets`.
    pub fn from_config(keys: &KeysConfig) -> Result<Keyring, AdmissionError> {
        let secrets = keys
            .secrets
            .iter()
            .map(|(kid, secret)| (kid.clone(), secret.0.clone()))
            .collect();
        Keyring::new(&keys.signing, secrets)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use anteroom_config::{KeysConfig, Secret};

    use crate::{Keyring, PassClaims, VisitorId};

    #[test]
    fn the_config_keys_sign_and_verify() {
        let keys = KeysConfig {
            signing: "new".into(),
            secrets: BTreeMap::from([
                ("old".to_string(), Secret(vec![1; 32])),
                ("new".to_string(), Secret(vec![2; 32])),
            ]),
        };
        let ring = Keyring::from_config(&keys).unwrap();
        assert_eq!(ring.signing_kid(), "new");
        assert_eq!(ring.kids().collect::<Vec<_>>(), ["new", "old"]);
        let old = Keyring::new("old", vec![("old".into(), vec![1; 32])]).unwrap();
        let claims = PassClaims {
            room: "r".into(),
            visitor: VisitorId([3; 16]),
            issued_at: 10,
            expires_at: 20,
        };
        assert_eq!(
            ring.verify_pass(&old.issue_pass(&claims), "r", 15),
            Ok(claims)
        );

        let short = KeysConfig {
            signing: "k".into(),
            secrets: BTreeMap::from([("k".to_string(), Secret(vec![1; 8]))]),
        };
        assert!(matches!(
            Keyring::from_config(&short),
            Err(crate::AdmissionError::KeyTooShort { .. })
        ));
    }
}
