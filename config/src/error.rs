use thiserror::Error;

/// A configuration problem, rendered as `FILE:LINE:COL: field `path`: what is wrong`.
#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("{file}: cannot read: {source}")]
    Io {
        file: String,
        #[source]
        source: std::io::Error,
    },
    /// A located problem: unknown key, wrong type, value out of range, missing secret...
    #[error("{file}:{line}:{column}: field `{field}`: {message}")]
    Invalid {
        file: String,
        line: usize,
        column: usize,
        field: String,
        message: String,
    },
}

impl ConfigError {
    /// The file the error is about.
    pub fn file(&self) -> &str {
        match self {
            ConfigError::Io { file, .. } | ConfigError::Invalid { file, .. } => file,
        }
    }

    /// The 1-based line, for located errors.
    pub fn line(&self) -> Option<usize> {
        match self {
            ConfigError::Invalid { line, .. } => Some(*line),
            ConfigError::Io { .. } => None,
        }
    }

    /// The dotted field path (`room[1].mode`), for located errors.
    pub fn field(&self) -> Option<&str> {
        match self {
            ConfigError::Invalid { field, .. } => Some(field),
            ConfigError::Io { .. } => None,
        }
    }
}
