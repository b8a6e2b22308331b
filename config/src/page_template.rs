//! `[[room]] page_template`: an operator's own waiting page. The template language is only
//! `{{name}}` slots; this module owns their syntax and the names that exist, so the loader
//! here and the gateway's renderer read a template the same way.

use std::ops::Range;
use std::path::PathBuf;

/// Every placeholder a waiting-page template may use (documented in docs/waiting-page.md).
pub const PAGE_PLACEHOLDERS: &[&str] = &[
    "room",
    "state",
    "headline",
    "detail",
    "position",
    "ahead",
    "waiting",
    "eta",
    "message",
    "refresh_seconds",
    "waitlist_url",
    "status_json",
    "client_script",
];

/// A template is served on every queued request: a size that is plainly not a page is a
/// mistake worth refusing at load.
pub const MAX_TEMPLATE_BYTES: usize = 256 * 1024;

/// A replacement waiting page, read and checked when the config is loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageTemplate {
    pub path: PathBuf,
    pub text: String,
}

/// The `{{name}}` slots of a template, in order, with the byte range each one covers.
/// A slot is `{{` + an identifier (`[A-Za-z_][A-Za-z0-9_]*`) + `}}`; any other `{{` is text,
/// so braces in inline CSS or JavaScript need no escaping.
pub fn template_slots(text: &str) -> impl Iterator<Item = (Range<usize>, &str)> + '_ {
    let mut from = 0;
    std::iter::from_fn(move || loop {
        let start = from + text.get(from..)?.find("{{")?;
        let name_start = start + 2;
        let rest = text.get(name_start..)?;
        let name_len = rest
            .char_indices()
            .find(|&(i, c)| !(c == '_' || c.is_ascii_alphabetic() || (i > 0 && c.is_ascii_digit())))
            .map_or(rest.len(), |(i, _)| i);
        let closes = rest.get(name_len..).is_some_and(|r| r.starts_with("}}"));
        if name_len > 0 && closes {
            let end = name_start + name_len + 2;
            from = end;
            return Some((start..end, &text[name_start..name_start + name_len]));
        }
        // Not a slot: look again one byte on (`{{{x}}` holds the slot `{{x}}`).
        from = start + 1;
    })
}

impl PageTemplate {
    /// Read `path` and check every slot names a known placeholder.
    pub fn load(path: &str) -> Result<PageTemplate, String> {
        let text = match std::fs::metadata(path) {
            Ok(meta) if !meta.is_file() => {
                return Err(format!(
                    "{path:?} is not a file (expected an HTML template)"
                ))
            }
            Ok(meta) if meta.len() > MAX_TEMPLATE_BYTES as u64 => {
                return Err(format!(
                "{path:?} is {} bytes; a waiting-page template may be at most {MAX_TEMPLATE_BYTES}",
                meta.len()
            ))
            }
            Ok(_) => std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read page template {path:?}: {e}"))?,
            Err(e) => return Err(format!("cannot read page template {path:?}: {e}")),
        };
        let unknown: Vec<String> = template_slots(&text)
            .filter(|(_, name)| !PAGE_PLACEHOLDERS.contains(name))
            .map(|(at, name)| {
                let line = text.get(..at.start).map_or(0, |t| t.matches('\n').count()) + 1;
                format!("{{{{{name}}}}} (line {line})")
            })
            .collect();
        if !unknown.is_empty() {
            let known: Vec<String> = PAGE_PLACEHOLDERS
                .iter()
                .map(|n| format!("{{{{{n}}}}}"))
                .collect();
            return Err(format!(
                "page template {path:?} uses unknown placeholder{} {}; known: {}",
                if unknown.len() == 1 { "" } else { "s" },
                unknown.join(", "),
                known.join(" ")
            ));
        }
        Ok(PageTemplate {
            path: PathBuf::from(path),
            text,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(text: &str) -> Vec<&str> {
        template_slots(text).map(|(_, name)| name).collect()
    }

    #[test]
    fn slots_are_identifiers_between_double_braces() {
        assert_eq!(names("a {{room}} b {{eta}}"), vec!["room", "eta"]);
        assert_eq!(names("{{{x}}}"), vec!["x"]);
        assert_eq!(
            names("{{ room }} {{a-b}} {{}} {{1x}} {{x"),
            Vec::<&str>::new()
        );
        assert_eq!(names("{{x1_y}}"), vec!["x1_y"]);
        let text = "<p>{{position}}</p>";
        let (range, _) = template_slots(text).next().unwrap();
        assert_eq!(&text[range], "{{position}}");
    }

    #[test]
    fn slots_survive_multibyte_text() {
        assert_eq!(names("é{{é}}ü{{room}}–"), vec!["room"]);
    }
}
