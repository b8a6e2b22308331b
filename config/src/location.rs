//! Turning byte offsets into `FILE:LINE:COL` errors, and collecting every error of a file so
//! `anteroom check` reports them all at once instead of one per run.

use std::cell::RefCell;
use std::ops::Range;

use crate::error::LocatedError;
use crate::ConfigError;

/// A byte range in the config text, when the parser knows one.
pub(crate) type Span = Option<Range<usize>>;

/// The config text being read, the name it goes by in errors, and the problems found so far.
/// A check that fails reports here and the walk goes on with a stand-in value; the walk's
/// result is only used when nothing was reported.
#[derive(Debug)]
pub(crate) struct Source<'s> {
    pub file: &'s str,
    pub text: &'s str,
    problems: RefCell<Vec<LocatedError>>,
}

impl<'s> Source<'s> {
    pub fn new(text: &'s str, file: &'s str) -> Self {
        Source {
            file,
            text,
            problems: RefCell::new(Vec::new()),
        }
    }

    /// Records a problem; reading goes on.
    pub fn report(&self, problem: LocatedError) {
        self.problems.borrow_mut().push(problem);
    }

    /// The value, or None after recording its problem.
    pub fn keep<T>(&self, result: Result<T, LocatedError>) -> Option<T> {
        result.map_err(|problem| self.report(problem)).ok()
    }

    /// The value read, unless a problem was reported: then every problem, in file order.
    pub fn finish<T>(self, value: T) -> Result<T, ConfigError> {
        match ConfigError::from_problems(self.problems.into_inner()) {
            Some(error) => Err(error),
            None => Ok(value),
        }
    }

    /// 1-based line and column (in characters) of a byte offset; clamped to the text.
    pub fn position(&self, offset: usize) -> (usize, usize) {
        let mut offset = offset.min(self.text.len());
        while !self.text.is_char_boundary(offset) {
            offset -= 1;
        }
        let before = self.text.get(..offset).unwrap_or(self.text);
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = before.get(line_start..).map_or(0, |l| l.chars().count()) + 1;
        (line, column)
    }

    /// A located error; without a span it points at the start of the file.
    pub fn error(
        &self,
        span: &Span,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> LocatedError {
        let (line, column) = span.as_ref().map_or((1, 1), |s| self.position(s.start));
        LocatedError {
            file: self.file.to_string(),
            line,
            column,
            field: field.into(),
            message: message.into(),
        }
    }

    /// The 1-based line of a span, for messages that point back at an earlier entry.
    pub fn line_of(&self, span: &Span) -> usize {
        span.as_ref().map_or(1, |s| self.position(s.start).0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_one_based_and_count_characters() {
        let src = Source::new("ab\ncdé f\n", "x.toml");
        assert_eq!(src.position(0), (1, 1));
        assert_eq!(src.position(1), (1, 2));
        assert_eq!(src.position(3), (2, 1));
        // 'é' is two bytes: the byte after it is the 4th character of line 2.
        assert_eq!(src.position(7), (2, 4));
        // Inside a multi-byte character: clamped back to its start.
        assert_eq!(src.position(6), (2, 3));
        assert_eq!(src.position(10_000), (3, 1));
    }

    #[test]
    fn error_without_span_points_at_file_start() {
        let src = Source::new("a = 1\n", "x.toml");
        let err = src.error(&None, "keys", "missing");
        assert_eq!(err.to_string(), "x.toml:1:1: field `keys`: missing");
    }
}
