//! How a waiting fan's place is shown: the exact position, or a band of [`BAND_WIDTH`]
//! (`[waitlist] position = "band"`), so the line sees progress without exact figures.

use serde::Serialize;

pub const BAND_WIDTH: u64 = 100;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Position {
    Exact(u64),
    /// "1-100", "101-200", ...
    Band(String),
}

/// The band holding `position` (1-based).
pub fn band(position: u64) -> Position {
    let low = position.saturating_sub(1) / BAND_WIDTH * BAND_WIDTH + 1;
    Position::Band(format!("{low}-{}", low + BAND_WIDTH - 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bands_cover_their_positions() {
        assert_eq!(band(1), Position::Band("1-100".into()));
        assert_eq!(band(100), Position::Band("1-100".into()));
        assert_eq!(band(101), Position::Band("101-200".into()));
        assert_eq!(band(0), Position::Band("1-100".into()));
    }
}
