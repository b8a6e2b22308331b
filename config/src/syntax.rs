//! TOML syntax errors, located, with a best-effort field path.
//!
//! The parser knows where it failed but not which field it was reading, so the field is
//! recovered from the text: the last `[table]` / `[[table]]` header above the error line and
//! the key on that line (`room[1].mode` for `mode = fast` under the second `[[room]]`).

use crate::error::LocatedError;
use crate::location::Source;

pub(crate) fn error(src: &Source, err: &toml_edit::TomlError) -> LocatedError {
    let message = err
        .message()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ");
    let span = err.span();
    let line = src.line_of(&span);
    src.error(
        &span,
        field_at_line(src.text, line),
        format!("invalid TOML: {message}"),
    )
}

/// The dotted field path a line most likely belongs to.
fn field_at_line(text: &str, line: usize) -> String {
    let mut table = String::new();
    let mut counts: Vec<(String, usize)> = Vec::new();
    for (number, raw) in text.lines().enumerate() {
        let trimmed = raw.trim();
        if let Some(name) = header(trimmed, "[[", "]]") {
            let seen = match counts.iter_mut().find(|(n, _)| *n == name) {
                Some((_, count)) => {
                    *count += 1;
                    *count - 1
                }
                None => {
                    counts.push((name.clone(), 1));
                    0
                }
            };
            table = format!("{name}[{seen}]");
        } else if let Some(name) = header(trimmed, "[", "]") {
            table = name;
        }
        if number + 1 == line {
            if trimmed.starts_with('[') {
                return if table.is_empty() {
                    "(top level)".to_string()
                } else {
                    table
                };
            }
            if let Some((key, _)) = trimmed.split_once('=') {
                let key = key.trim().trim_matches('"').trim_matches('\'');
                if !key.is_empty() {
                    return if table.is_empty() {
                        key.to_string()
                    } else {
                        format!("{table}.{key}")
                    };
                }
            }
            break;
        }
    }
    if table.is_empty() {
        "(top level)".to_string()
    } else {
        table
    }
}

fn header(line: &str, open: &str, close: &str) -> Option<String> {
    let inner = line.strip_prefix(open)?;
    let end = inner.find(close)?;
    let name = inner.get(..end)?.trim();
    if name.is_empty() || name.starts_with('[') {
        return None;
    }
    Some(name.split('.').map(str::trim).collect::<Vec<_>>().join("."))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_from_headers_and_keys() {
        let text =
            "a = 1\n[keys]\nsigning = x\n[[room]]\nid = 1\n[[room]]\nmode = fast\n[ listen ]\n";
        assert_eq!(field_at_line(text, 1), "a");
        assert_eq!(field_at_line(text, 3), "keys.signing");
        assert_eq!(field_at_line(text, 5), "room[0].id");
        assert_eq!(field_at_line(text, 6), "room[1]");
        assert_eq!(field_at_line(text, 7), "room[1].mode");
        assert_eq!(field_at_line(text, 8), "listen");
        assert_eq!(field_at_line("[[x]]\n\n", 2), "x[0]");
        assert_eq!(field_at_line("garbage\n", 1), "(top level)");
    }
}
