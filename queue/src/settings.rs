//! Room settings shared by both stores: validation, the digest of configured settings (for
//! init_room's "a config edit replaces, a runtime change persists" rule) and the field names
//! of the Redis settings hash.

use std::collections::HashMap;

use anteroom_config::RoomMode;

use crate::store::{RoomSettings, SettingsPatch, StoreError};

pub(crate) const F_MODE: &str = "mode";
pub(crate) const F_RATE: &str = "admit_per_second";
pub(crate) const F_MAX_ACTIVE: &str = "max_active";
pub(crate) const F_SESSION: &str = "session_seconds";
pub(crate) const F_ABANDON: &str = "abandon_after_seconds";
pub(crate) const F_PAUSED: &str = "paused";
pub(crate) const F_SOLD_OUT: &str = "sold_out";
pub(crate) const F_MESSAGE: &str = "message";

pub(crate) fn validate_rate(rate: f64) -> Result<(), StoreError> {
    if rate.is_finite() && rate > 0.0 {
        Ok(())
    } else {
        Err(StoreError::Invalid(format!(
            "admit_per_second must be a positive number, got {rate}"
        )))
    }
}

pub(crate) fn validate_settings(settings: &RoomSettings) -> Result<(), StoreError> {
    validate_rate(settings.admit_per_second)?;
    if settings.session_seconds == 0 {
        return Err(StoreError::Invalid(
            "session_seconds must be at least 1".into(),
        ));
    }
    if settings.abandon_after_seconds == 0 {
        return Err(StoreError::Invalid(
            "abandon_after_seconds must be at least 1".into(),
        ));
    }
    Ok(())
}

pub(crate) fn validate_patch(patch: &SettingsPatch) -> Result<(), StoreError> {
    match patch.admit_per_second {
        Some(rate) => validate_rate(rate),
        None => Ok(()),
    }
}

pub(crate) fn apply_patch(settings: &mut RoomSettings, patch: &SettingsPatch) {
    if let Some(mode) = patch.mode {
        settings.mode = mode;
    }
    if let Some(rate) = patch.admit_per_second {
        settings.admit_per_second = rate;
    }
    if let Some(max_active) = patch.max_active {
        settings.max_active = max_active;
    }
    if let Some(paused) = patch.paused {
        settings.paused = paused;
    }
    if let Some(sold_out) = patch.sold_out {
        settings.sold_out = sold_out;
    }
    if let Some(message) = &patch.message {
        settings.message = message.clone();
    }
}

/// A config edit: the configured knobs replace the live ones; the runtime flags (`paused`,
/// `sold_out`, `message`), set by operators and the booking service, stay.
pub(crate) fn apply_configured(live: &mut RoomSettings, configured: &RoomSettings) {
    live.mode = configured.mode;
    live.admit_per_second = configured.admit_per_second;
    live.max_active = configured.max_active;
    live.session_seconds = configured.session_seconds;
    live.abandon_after_seconds = configured.abandon_after_seconds;
}

/// Names of the fields a config edit replaces (see `apply_configured`).
pub(crate) const CONFIGURED_FIELDS: [&str; 5] =
    [F_MODE, F_RATE, F_MAX_ACTIVE, F_SESSION, F_ABANDON];

/// A stable digest of configured settings: every field, exactly (the rate by its bits).
/// Stable across builds and hosts, because instances of different versions compare it in
/// Redis (std's hasher promises neither).
pub fn settings_digest(settings: &RoomSettings) -> String {
    let message = match &settings.message {
        Some(m) => format!("some:{}:{m}", m.len()),
        None => "none".to_string(),
    };
    let canonical = format!(
        "v1|{}|{:016x}|{}|{}|{}|{}|{}|{}",
        settings.mode.as_str(),
        settings.admit_per_second.to_bits(),
        settings.max_active,
        settings.session_seconds,
        settings.abandon_after_seconds,
        settings.paused,
        settings.sold_out,
        message
    );
    format!("{:016x}", fnv1a64(canonical.as_bytes()))
}

fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in bytes {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

pub(crate) fn flag(value: bool) -> &'static str {
    if value {
        "1"
    } else {
        "0"
    }
}

/// The settings as (field, value) pairs of the Redis hash; `message` only when set.
pub(crate) fn to_fields(settings: &RoomSettings) -> Vec<(&'static str, String)> {
    let mut fields = vec![
        (F_MODE, settings.mode.as_str().to_string()),
        // `{}` of an f64 prints the shortest text that parses back to the same value.
        (F_RATE, format!("{}", settings.admit_per_second)),
        (F_MAX_ACTIVE, settings.max_active.to_string()),
        (F_SESSION, settings.session_seconds.to_string()),
        (F_ABANDON, settings.abandon_after_seconds.to_string()),
        (F_PAUSED, flag(settings.paused).to_string()),
        (F_SOLD_OUT, flag(settings.sold_out).to_string()),
    ];
    if let Some(message) = &settings.message {
        fields.push((F_MESSAGE, message.clone()));
    }
    fields
}

/// Parse the flat HGETALL reply of a settings hash.
pub(crate) fn from_hash(flat: Vec<String>) -> Result<RoomSettings, StoreError> {
    let pairs = flat.chunks_exact(2);
    if !pairs.remainder().is_empty() {
        return Err(StoreError::Protocol(
            "settings hash reply has an odd length".into(),
        ));
    }
    let map: HashMap<&str, &str> = pairs
        .filter_map(|pair| match pair {
            [field, value] => Some((field.as_str(), value.as_str())),
            _ => None,
        })
        .collect();
    let get = |field: &str| {
        map.get(field)
            .copied()
            .ok_or_else(|| StoreError::Protocol(format!("settings hash lacks `{field}`")))
    };
    let number = |field: &str| -> Result<u64, StoreError> {
        get(field)?
            .parse()
            .map_err(|_| StoreError::Protocol(format!("settings `{field}` is not a number")))
    };
    let mode = RoomMode::parse(get(F_MODE)?)
        .ok_or_else(|| StoreError::Protocol("settings `mode` is unknown".into()))?;
    let admit_per_second: f64 = get(F_RATE)?
        .parse()
        .map_err(|_| StoreError::Protocol("settings `admit_per_second` is not a number".into()))?;
    Ok(RoomSettings {
        mode,
        admit_per_second,
        max_active: number(F_MAX_ACTIVE)?,
        session_seconds: number(F_SESSION)?,
        abandon_after_seconds: number(F_ABANDON)?,
        paused: get(F_PAUSED)? == "1",
        sold_out: get(F_SOLD_OUT)? == "1",
        message: map.get(F_MESSAGE).map(|m| m.to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> RoomSettings {
        RoomSettings {
            mode: RoomMode::SafetyNet,
            admit_per_second: 50.0,
            max_active: 2000,
            session_seconds: 600,
            abandon_after_seconds: 120,
            paused: false,
            sold_out: false,
            message: None,
        }
    }

    #[test]
    fn digest_changes_with_every_field() {
        let base = settings_digest(&sample());
        assert_eq!(base, settings_digest(&sample()), "deterministic");
        let edits: Vec<fn(&mut RoomSettings)> = vec![
            |s| s.mode = RoomMode::QueueAll,
            |s| s.admit_per_second = 50.000001,
            |s| s.max_active = 2001,
            |s| s.session_seconds = 601,
            |s| s.abandon_after_seconds = 121,
            |s| s.paused = true,
            |s| s.sold_out = true,
            |s| s.message = Some(String::new()),
        ];
        for edit in edits {
            let mut s = sample();
            edit(&mut s);
            assert_ne!(settings_digest(&s), base, "{s:?}");
        }
    }

    #[test]
    fn fields_round_trip_through_a_hash() {
        let mut s = sample();
        s.admit_per_second = 0.1 + 0.2;
        s.message = Some("doors open at 10:00".into());
        let flat = to_fields(&s)
            .into_iter()
            .flat_map(|(f, v)| [f.to_string(), v])
            .collect();
        assert_eq!(from_hash(flat).expect("parses"), s);
    }

    #[test]
    fn rejects_bad_rates() {
        for rate in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            assert!(validate_rate(rate).is_err(), "{rate}");
        }
        assert!(validate_rate(0.5).is_ok());
    }
}
