//! The client fingerprint the waiting page's script posts: what a real browser reports about
//! itself, and what a driven or emulated one tends to get wrong.
//!
//! ```json
//! {"webdriver":false,"timezone":"Europe/Paris","languages":["fr-FR","fr"],
//!  "screenWidth":1920,"screenHeight":1080,"hardwareConcurrency":8,"deviceMemory":8,
//!  "touchPoints":0,"platform":"Win32","plugins":5}
//! ```
//!
//! Every field is optional (Firefox and Safari have no `deviceMemory`); unknown fields are
//! ignored so the page may send more; sizes are bounded before and after parsing.

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::fingerprint::{weigh, UaFamily};

/// Largest body accepted, in bytes.
pub const MAX_CLIENT_FP_BYTES: usize = 2048;
const MAX_TEXT: usize = 64;
const MAX_LANGUAGES: usize = 16;
const MAX_LANGUAGE_TAG: usize = 35;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum ClientFpError {
    #[error("client fingerprint larger than {MAX_CLIENT_FP_BYTES} bytes")]
    TooLarge,
    #[error("client fingerprint is not the expected JSON: {0}")]
    Malformed(String),
    #[error("client fingerprint field `{0}` is too long")]
    FieldTooLong(&'static str),
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ClientFingerprint {
    /// `navigator.webdriver`: true when a script drives the browser (WebDriver, CDP).
    pub webdriver: Option<bool>,
    /// `Intl.DateTimeFormat().resolvedOptions().timeZone`.
    pub timezone: Option<String>,
    /// `navigator.languages`.
    pub languages: Option<Vec<String>>,
    pub screen_width: Option<u32>,
    pub screen_height: Option<u32>,
    pub hardware_concurrency: Option<u32>,
    /// `navigator.deviceMemory` (GiB; Chromium only).
    pub device_memory: Option<f64>,
    /// `navigator.maxTouchPoints`.
    pub touch_points: Option<u32>,
    /// `navigator.platform`.
    pub platform: Option<String>,
    /// `navigator.plugins.length`.
    pub plugins: Option<u32>,
}

/// Weights of the client signals (out of 100): `webdriver` alone is enough for a
/// challenge; the others, absent where every real browser has them, only in company.
pub const WEIGHT_WEBDRIVER: u8 = 60;
pub const WEIGHT_NO_LANGUAGES: u8 = 20;
pub const WEIGHT_NO_SCREEN: u8 = 20;
pub const WEIGHT_NO_CORES: u8 = 10;
pub const WEIGHT_NO_TIMEZONE: u8 = 10;
/// Desktop Chromium lists its built-in PDF viewer; old headless Chrome listed none.
pub const WEIGHT_NO_PLUGINS_DESKTOP_CHROMIUM: u8 = 15;
/// Screens, cores or memory beyond any device sold: made-up values.
pub const WEIGHT_IMPOSSIBLE: u8 = 20;

const MAX_SCREEN_PIXELS: u32 = 16_384;
const MAX_CORES: u32 = 512;
const MAX_DEVICE_MEMORY_GIB: f64 = 1024.0;

impl ClientFingerprint {
    /// Parse the posted body, refusing an oversized body or field.
    pub fn parse(body: &[u8]) -> Result<ClientFingerprint, ClientFpError> {
        if body.len() > MAX_CLIENT_FP_BYTES {
            return Err(ClientFpError::TooLarge);
        }
        let fp: ClientFingerprint =
            serde_json::from_slice(body).map_err(|e| ClientFpError::Malformed(e.to_string()))?;
        fp.check_sizes()?;
        Ok(fp)
    }

    fn check_sizes(&self) -> Result<(), ClientFpError> {
        let long = |s: &Option<String>| s.as_ref().is_some_and(|s| s.len() > MAX_TEXT);
        if long(&self.timezone) {
            return Err(ClientFpError::FieldTooLong("timezone"));
        }
        if long(&self.platform) {
            return Err(ClientFpError::FieldTooLong("platform"));
        }
        if let Some(languages) = &self.languages {
            if languages.len() > MAX_LANGUAGES
                || languages.iter().any(|l| l.len() > MAX_LANGUAGE_TAG)
            {
                return Err(ClientFpError::FieldTooLong("languages"));
            }
        }
        Ok(())
    }

    /// This report's share of the suspicion score, 0..=100, for a browser of `family`.
    pub fn suspicion(&self, family: UaFamily) -> u8 {
        let blank = |s: &Option<String>| s.as_deref().is_none_or(|s| s.trim().is_empty());
        let no_languages = self.languages.as_ref().is_none_or(Vec::is_empty);
        let no_screen = !matches!(
            (self.screen_width, self.screen_height),
            (Some(w), Some(h)) if w > 0 && h > 0
        );
        let impossible = self.screen_width.is_some_and(|w| w > MAX_SCREEN_PIXELS)
            || self.screen_height.is_some_and(|h| h > MAX_SCREEN_PIXELS)
            || self.hardware_concurrency.is_some_and(|c| c > MAX_CORES)
            || self
                .device_memory
                .is_some_and(|m| !m.is_finite() || !(0.0..=MAX_DEVICE_MEMORY_GIB).contains(&m));
        let desktop = self.platform.as_deref().is_some_and(|p| {
            p.starts_with("Win") || p.starts_with("MacIntel") || p == "Linux x86_64"
        });
        let parts = [
            (self.webdriver == Some(true), WEIGHT_WEBDRIVER),
            (no_languages, WEIGHT_NO_LANGUAGES),
            (no_screen, WEIGHT_NO_SCREEN),
            (
                self.hardware_concurrency.is_none_or(|c| c == 0),
                WEIGHT_NO_CORES,
            ),
            (blank(&self.timezone), WEIGHT_NO_TIMEZONE),
            (
                family.is_chromium() && desktop && self.plugins == Some(0),
                WEIGHT_NO_PLUGINS_DESKTOP_CHROMIUM,
            ),
            (impossible, WEIGHT_IMPOSSIBLE),
        ];
        weigh(&parts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REAL: &str = r#"{"webdriver":false,"timezone":"Europe/Paris","languages":["fr-FR","fr"],
        "screenWidth":1920,"screenHeight":1080,"hardwareConcurrency":8,"deviceMemory":8,
        "touchPoints":0,"platform":"Win32","plugins":5,"somethingNew":1}"#;

    #[test]
    fn a_real_browser_parses_and_is_not_suspicious() {
        let fp = ClientFingerprint::parse(REAL.as_bytes()).unwrap();
        assert_eq!(
            fp.languages.as_deref(),
            Some(&["fr-FR".to_string(), "fr".to_string()][..])
        );
        assert_eq!(fp.screen_width, Some(1920));
        assert_eq!(fp.device_memory, Some(8.0));
        assert_eq!(fp.suspicion(UaFamily::Chrome), 0);
        // A phone: no plugins, no deviceMemory (Safari), touch.
        let phone = ClientFingerprint::parse(br#"{"webdriver":false,"timezone":"America/New_York","languages":["en-US"],"screenWidth":390,"screenHeight":844,"hardwareConcurrency":4,"touchPoints":5,"platform":"iPhone","plugins":0}"#).unwrap();
        assert_eq!(phone.suspicion(UaFamily::Safari), 0);
    }

    #[test]
    fn driven_and_emulated_browsers_are_suspicious() {
        let driven = ClientFingerprint {
            webdriver: Some(true),
            ..ClientFingerprint::parse(REAL.as_bytes()).unwrap()
        };
        assert_eq!(driven.suspicion(UaFamily::Chrome), WEIGHT_WEBDRIVER);
        let empty = ClientFingerprint::parse(b"{}").unwrap();
        assert_eq!(
            empty.suspicion(UaFamily::Firefox),
            WEIGHT_NO_LANGUAGES + WEIGHT_NO_SCREEN + WEIGHT_NO_CORES + WEIGHT_NO_TIMEZONE
        );
        let old_headless = ClientFingerprint {
            plugins: Some(0),
            ..ClientFingerprint::parse(REAL.as_bytes()).unwrap()
        };
        assert_eq!(
            old_headless.suspicion(UaFamily::Chrome),
            WEIGHT_NO_PLUGINS_DESKTOP_CHROMIUM
        );
        let made_up = ClientFingerprint {
            screen_width: Some(100_000),
            ..ClientFingerprint::parse(REAL.as_bytes()).unwrap()
        };
        assert_eq!(made_up.suspicion(UaFamily::Chrome), WEIGHT_IMPOSSIBLE);
        let all = ClientFingerprint {
            webdriver: Some(true),
            ..ClientFingerprint::default()
        };
        assert_eq!(all.suspicion(UaFamily::Chrome), 100);
    }

    #[test]
    fn sizes_are_bounded() {
        let big = format!("{{\"timezone\":\"{}\"}}", "x".repeat(MAX_CLIENT_FP_BYTES));
        assert_eq!(
            ClientFingerprint::parse(big.as_bytes()),
            Err(ClientFpError::TooLarge)
        );
        let tz = format!("{{\"timezone\":\"{}\"}}", "x".repeat(65));
        assert_eq!(
            ClientFingerprint::parse(tz.as_bytes()),
            Err(ClientFpError::FieldTooLong("timezone"))
        );
        let langs = format!("{{\"languages\":[{}]}}", vec!["\"en\""; 17].join(","));
        assert_eq!(
            ClientFingerprint::parse(langs.as_bytes()),
            Err(ClientFpError::FieldTooLong("languages"))
        );
        assert!(matches!(
            ClientFingerprint::parse(b"{\"screenWidth\":-1}"),
            Err(ClientFpError::Malformed(_))
        ));
        assert!(matches!(
            ClientFingerprint::parse(b"not json"),
            Err(ClientFpError::Malformed(_))
        ));
    }
}
