use std::fmt;

use thiserror::Error;

/// One located problem: `FILE:LINE:COL: field `path`: what is wrong`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocatedError {
    pub file: String,
    /// 1-based.
    pub line: usize,
    /// 1-based, in characters.
    pub column: usize,
    /// The dotted field path (`room[1].mode`).
    pub field: String,
    pub message: String,
}

impl fmt::Display for LocatedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: field `{}`: {}",
            self.file, self.line, self.column, self.field, self.message
        )
    }
}

impl std::error::Error for LocatedError {}

/// Why a config could not be read. Located problems render as
/// `FILE:LINE:COL: field `path`: what is wrong`, one per line, in file order.
#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("{file}: cannot read: {source}")]
    Io {
        file: String,
        #[source]
        source: std::io::Error,
    },
    /// Exactly one located problem: unknown key, wrong type, value out of range, missing
    /// secret...
    #[error("{file}:{line}:{column}: field `{field}`: {message}")]
    Invalid {
        file: String,
        line: usize,
        column: usize,
        field: String,
        message: String,
    },
    /// Two or more located problems: every one found in the file, in file order.
    #[error("{}", lines(.0))]
    Several(Vec<LocatedError>),
}

fn lines(errors: &[LocatedError]) -> String {
    errors
        .iter()
        .map(LocatedError::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

impl From<LocatedError> for ConfigError {
    fn from(e: LocatedError) -> Self {
        ConfigError::Invalid {
            file: e.file,
            line: e.line,
            column: e.column,
            field: e.field,
            message: e.message,
        }
    }
}

impl ConfigError {
    /// Every problem found, sorted into file order and without repeats; `None` for none.
    pub(crate) fn from_problems(mut problems: Vec<LocatedError>) -> Option<ConfigError> {
        problems.sort_by_key(|p| (p.line, p.column));
        problems.dedup();
        match problems.len() {
            0 => None,
            1 => problems.pop().map(ConfigError::from),
            _ => Some(ConfigError::Several(problems)),
        }
    }

    /// The file the error is about.
    pub fn file(&self) -> &str {
        match self {
            ConfigError::Io { file, .. } | ConfigError::Invalid { file, .. } => file,
            ConfigError::Several(errors) => errors.first().map_or("", |e| e.file.as_str()),
        }
    }

    /// Every located problem, in file order (none for an unreadable file).
    pub fn errors(&self) -> Vec<LocatedError> {
        match self {
            ConfigError::Io { .. } => Vec::new(),
            ConfigError::Invalid {
                file,
                line,
                column,
                field,
                message,
            } => vec![LocatedError {
                file: file.clone(),
                line: *line,
                column: *column,
                field: field.clone(),
                message: message.clone(),
            }],
            ConfigError::Several(errors) => errors.clone(),
        }
    }

    /// The 1-based line of the first located problem.
    pub fn line(&self) -> Option<usize> {
        match self {
            ConfigError::Invalid { line, .. } => Some(*line),
            ConfigError::Several(errors) => errors.first().map(|e| e.line),
            ConfigError::Io { .. } => None,
        }
    }

    /// The dotted field path (`room[1].mode`) of the first located problem.
    pub fn field(&self) -> Option<&str> {
        match self {
            ConfigError::Invalid { field, .. } => Some(field),
            ConfigError::Several(errors) => errors.first().map(|e| e.field.as_str()),
            ConfigError::Io { .. } => None,
        }
    }
}
