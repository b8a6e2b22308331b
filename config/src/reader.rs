//! Typed, located access to a parsed TOML document.
//!
//! Every value read through here carries its dotted field path (`room[1].mode`) and its byte
//! span, so any later check can produce a `FILE:LINE:COL: field ...` error.

use toml_edit::{Item, TableLike, Value};

use crate::error::LocatedError;
use crate::location::{Source, Span};

/// A value that knows where it came from.
#[derive(Debug, Clone)]
pub(crate) struct Located<T> {
    pub value: T,
    pub path: String,
    pub span: Span,
}

/// The string elements of an array, and how many elements it had in all.
pub(crate) struct StringList {
    pub items: Vec<Located<String>>,
    pub given: usize,
}

/// One `key = value` (or sub-table) of a section.
pub(crate) struct Field<'a> {
    pub path: String,
    pub item: &'a Item,
    /// The value's span, or the key's when the value has none (implicit tables).
    pub span: Span,
    pub key_span: Span,
}

/// A table (`[x]`, `x = { ... }`, a `[[x]]` element or the document root).
pub(crate) struct Section<'a> {
    pub path: String,
    pub span: Span,
    table: &'a dyn TableLike,
}

impl<'a> Section<'a> {
    pub fn root(table: &'a dyn TableLike) -> Self {
        Section {
            path: String::new(),
            span: Some(0..0),
            table,
        }
    }

    pub fn child_path(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    /// Every key must be one of `allowed`; each that is not is reported at its own line.
    pub fn deny_unknown(&self, src: &Source, allowed: &[&str]) {
        for (key, _) in self.table.iter() {
            if !allowed.contains(&key) {
                let span = self.table.key(key).and_then(|k| k.span());
                let place = if self.path.is_empty() {
                    "at the top level".to_string()
                } else {
                    format!("in `{}`", self.path)
                };
                src.report(src.error(
                    &span,
                    self.child_path(key),
                    format!(
                        "unknown key `{key}` {place}; allowed keys: {}",
                        allowed.join(", ")
                    ),
                ));
            }
        }
    }

    pub fn get(&self, key: &str) -> Option<Field<'a>> {
        let (k, item) = self.table.get_key_value(key)?;
        let key_span = k.span();
        Some(Field {
            path: self.child_path(key),
            item,
            span: item.span().or_else(|| key_span.clone()),
            key_span,
        })
    }

    /// All entries, in document order.
    pub fn entries(&self) -> Vec<(&'a str, Field<'a>)> {
        let table = self.table;
        table
            .iter()
            .filter_map(|(key, _)| {
                let (k, item) = table.get_key_value(key)?;
                let key_span = k.span();
                Some((
                    k.get(),
                    Field {
                        path: self.child_path(key),
                        item,
                        span: item.span().or_else(|| key_span.clone()),
                        key_span,
                    },
                ))
            })
            .collect()
    }

    pub fn required(&self, src: &Source, key: &str, what: &str) -> Result<Field<'a>, LocatedError> {
        self.get(key).ok_or_else(|| {
            let place = if self.path.is_empty() {
                String::new()
            } else {
                format!(" in `{}`", self.path)
            };
            src.error(
                &self.span,
                self.child_path(key),
                format!("missing required key `{key}`{place} ({what})"),
            )
        })
    }

    pub fn section(&self, src: &Source, key: &str) -> Result<Option<Section<'a>>, LocatedError> {
        self.get(key).map(|f| f.section(src)).transpose()
    }

    pub fn string(&self, src: &Source, key: &str) -> Result<Option<Located<String>>, LocatedError> {
        self.get(key).map(|f| f.string(src)).transpose()
    }
}

impl<'a> Field<'a> {
    fn wrong_type(&self, src: &Source, expected: &str) -> LocatedError {
        src.error(
            &self.span,
            self.path.clone(),
            format!("expected {expected}, got {}", type_name(self.item)),
        )
    }

    pub fn section(&self, src: &Source) -> Result<Section<'a>, LocatedError> {
        let table = self
            .item
            .as_table_like()
            .ok_or_else(|| self.wrong_type(src, "a table"))?;
        Ok(Section {
            path: self.path.clone(),
            span: self.span.clone(),
            table,
        })
    }

    pub fn string(&self, src: &Source) -> Result<Located<String>, LocatedError> {
        match self.item.as_value().and_then(Value::as_str) {
            Some(s) => Ok(self.located(s.to_string())),
            None => Err(self.wrong_type(src, "a string")),
        }
    }

    pub fn integer(&self, src: &Source) -> Result<Located<i64>, LocatedError> {
        match self.item.as_value().and_then(Value::as_integer) {
            Some(n) => Ok(self.located(n)),
            None => Err(self.wrong_type(src, "an integer")),
        }
    }

    pub fn boolean(&self, src: &Source) -> Result<Located<bool>, LocatedError> {
        match self.item.as_value().and_then(Value::as_bool) {
            Some(b) => Ok(self.located(b)),
            None => Err(self.wrong_type(src, "true or false")),
        }
    }

    /// A float, or an integer read as one (`admit_per_second = 50`).
    pub fn number(&self, src: &Source) -> Result<Located<f64>, LocatedError> {
        match self.item.as_value() {
            Some(Value::Float(f)) => Ok(self.located(*f.value())),
            Some(Value::Integer(n)) => Ok(self.located(*n.value() as f64)),
            _ => Err(self.wrong_type(src, "a number")),
        }
    }

    /// An array of strings; each element carries its own path (`paths[2]`) and span.
    /// Elements that are not strings are reported and left out.
    pub fn strings(&self, src: &Source) -> Result<StringList, LocatedError> {
        let array = self
            .item
            .as_value()
            .and_then(Value::as_array)
            .ok_or_else(|| self.wrong_type(src, "an array of strings"))?;
        let items = self
            .elements(src, array, "a string", Value::as_str)
            .into_iter()
            .map(|(s, path, span)| Located {
                value: s.to_string(),
                path,
                span,
            })
            .collect();
        Ok(StringList {
            items,
            given: array.len(),
        })
    }

    /// `[[key]]` tables (or an inline array of inline tables), each with path `key[i]`.
    /// Elements that are not tables are reported and left out.
    pub fn tables(&self, src: &Source) -> Result<Vec<Section<'a>>, LocatedError> {
        match self.item {
            Item::ArrayOfTables(array) => Ok(array
                .iter()
                .enumerate()
                .map(|(i, t)| Section {
                    path: format!("{}[{i}]", self.path),
                    span: t.span().or_else(|| self.span.clone()),
                    table: t,
                })
                .collect()),
            Item::Value(Value::Array(array)) => Ok(self
                .elements(src, array, "a table", Value::as_inline_table)
                .into_iter()
                .map(|(table, path, span)| Section { path, span, table })
                .collect()),
            _ => {
                let key = self.path.rsplit('.').next().unwrap_or(&self.path);
                Err(self.wrong_type(src, &format!("an array of tables ([[{key}]])")))
            }
        }
    }

    /// The elements of an inline array that `pick` accepts, each with its path (`key[i]`)
    /// and span; every other element is reported as not being `expected`.
    fn elements<T>(
        &self,
        src: &Source,
        array: &'a toml_edit::Array,
        expected: &str,
        pick: impl Fn(&'a Value) -> Option<T>,
    ) -> Vec<(T, String, Span)> {
        array
            .iter()
            .enumerate()
            .filter_map(|(i, v)| {
                let path = format!("{}[{i}]", self.path);
                let span = v.span().or_else(|| self.span.clone());
                let picked = pick(v);
                if picked.is_none() {
                    src.report(src.error(
                        &span,
                        path.clone(),
                        format!("expected {expected}, got {}", value_type_name(v)),
                    ));
                }
                picked.map(|x| (x, path, span))
            })
            .collect()
    }

    pub fn located<T>(&self, value: T) -> Located<T> {
        Located {
            value,
            path: self.path.clone(),
            span: self.span.clone(),
        }
    }
}

fn type_name(item: &Item) -> &'static str {
    match item {
        Item::None => "nothing",
        Item::Value(v) => value_type_name(v),
        Item::Table(_) => "a table",
        Item::ArrayOfTables(_) => "an array of tables",
    }
}

fn value_type_name(value: &Value) -> &'static str {
    match value {
        Value::String(_) => "a string",
        Value::Integer(_) => "an integer",
        Value::Float(_) => "a float",
        Value::Boolean(_) => "a boolean",
        Value::Datetime(_) => "a date-time",
        Value::Array(_) => "an array",
        Value::InlineTable(_) => "a table",
    }
}
