//! The TOML config front end: text -> [`RuleSet`], with diagnostics that
//! name file, line and column.
//!
//! The format is documented key by key in `docs/config.md`, and
//! `examples/firewall.toml` is a complete, commented policy.
//!
//! # Quick start
//!
//! ```
//! let text = r#"
//! [ports.p0]
//! role = "uplink"
//! id = 0
//!
//! [[rules]]
//! name = "ssh"
//! protocol = "tcp"
//! dst_port = 22
//! action = "accept"
//! "#;
//! let checked = dpu_fw::config::parse(text, "fw.toml").unwrap();
//! assert_eq!(checked.rules.rules[0].name, "ssh");
//! assert!(checked.warnings.is_empty());
//!
//! let err = dpu_fw::config::parse("[[rules]]\naction = \"allow\"\n", "fw.toml").unwrap_err();
//! assert_eq!(err.to_string(), "fw.toml:2:10: error: unknown action `allow`; expected `accept`, `drop` or `chain`");
//! ```
//!
//! # Errors and warnings
//!
//! Syntax errors, unknown keys, wrong types, bad values and semantic
//! errors (undefined names, family mismatches, ...) are all
//! [`Diagnostic`]s with an [`ErrorKind`]; a file with any error yields no
//! rule set. A valid file may still have [`Warning`]s, such as a rule
//! shadowed by an earlier one.

use core::fmt;
use core::ops::Range;
use std::path::{Path, PathBuf};

use crate::model::{ProblemKind, RuleSet, WarningKind};

mod convert;
mod raw;

/// What kind of error a [`Diagnostic`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The text is not valid TOML.
    Syntax,
    /// A key is defined twice in one table.
    DuplicateKey,
    /// A key the format does not have.
    UnknownKey,
    /// A required key is missing.
    MissingKey,
    /// A value of the wrong TOML type.
    WrongType,
    /// A value of the right type that is not one the key accepts.
    InvalidValue,
    /// A semantic error of the rule set (see [`ProblemKind`]).
    Semantic(ProblemKind),
}

/// One error, located in the config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// The file, as given to [`parse`] or [`load`].
    pub file: PathBuf,
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
    /// What kind of error.
    pub kind: ErrorKind,
    /// What is wrong and what was expected.
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: error: {}",
            self.file.display(),
            self.line,
            self.column,
            self.message
        )
    }
}

/// One warning, located in the config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// The file.
    pub file: PathBuf,
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
    /// What kind of warning.
    pub kind: WarningKind,
    /// What was found.
    pub message: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: warning: {}",
            self.file.display(),
            self.line,
            self.column,
            self.message
        )
    }
}

/// Why a config could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The file could not be read (the cause is part of the message, not a source, so
    /// an error chain prints it once).
    #[error("cannot read {}: {cause}", .path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        cause: std::io::Error,
    },
    /// The file is not UTF-8 text (a binary, or another encoding).
    #[error(
        "{}: not UTF-8 text (invalid byte at offset {offset}); a policy is a UTF-8 TOML file (docs/config.md)",
        .path.display()
    )]
    NotText {
        /// The file.
        path: PathBuf,
        /// The byte offset of the first invalid byte.
        offset: usize,
    },
    /// The file has errors; there is at least one diagnostic, in file order.
    /// Displayed one per line, repeated messages once with their places, at most
    /// [`ErrorList::SHOWN_LINES`](crate::error::ErrorList::SHOWN_LINES) lines (see
    /// [`diagnostic_list`]).
    #[error("{}", diagnostic_list(.diagnostics))]
    Invalid {
        /// Every error found.
        diagnostics: Vec<Diagnostic>,
    },
}

/// Diagnostics as an [`ErrorList`](crate::error::ErrorList): each at `file:line:column`,
/// the same message at several places on one line (`fw.toml:3:7, fw.toml:9:7: error: ...`).
pub fn diagnostic_list(d: &[Diagnostic]) -> crate::error::ErrorList {
    d.iter()
        .map(|d| {
            (
                crate::error::Place::new(
                    "",
                    format!("{}:{}:{}", d.file.display(), d.line, d.column),
                ),
                format!("error: {}", d.message),
            )
        })
        .collect()
}

impl Error {
    /// The diagnostics (empty for [`Error::Read`]).
    pub fn diagnostics(&self) -> &[Diagnostic] {
        match self {
            Error::Invalid { diagnostics } => diagnostics,
            Error::Read { .. } | Error::NotText { .. } => &[],
        }
    }
}

/// A config that passed every check, and its warnings.
#[derive(Debug, Clone)]
#[must_use]
pub struct Checked {
    /// The rule set.
    pub rules: RuleSet,
    /// The warnings, in file order.
    pub warnings: Vec<Warning>,
}

/// Parse config text; `file` is only used to name it in diagnostics.
///
/// # Errors
/// [`Error::Invalid`] with every diagnostic, sorted by position.
pub fn parse(text: &str, file: impl AsRef<Path>) -> Result<Checked, Error> {
    convert::parse(text, file.as_ref())
}

/// Read and parse a config file.
///
/// # Errors
/// [`Error::Read`] if the file cannot be read, [`Error::NotText`] if it is not UTF-8,
/// [`Error::Invalid`] as for [`parse`].
pub fn load(path: impl AsRef<Path>) -> Result<Checked, Error> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|cause| Error::Read {
        path: path.to_path_buf(),
        cause,
    })?;
    let text = String::from_utf8(bytes).map_err(|e| Error::NotText {
        path: path.to_path_buf(),
        offset: e.utf8_error().valid_up_to(),
    })?;
    parse(&text, path)
}

/// 1-based line and column (in characters) of a byte offset.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

fn locate(text: &str, span: &Range<usize>) -> (usize, usize) {
    line_column(text, span.start)
}

#[cfg(test)]
mod tests {
    use super::line_column;

    #[test]
    fn positions() {
        let t = "ab\ncdé\nf";
        assert_eq!(line_column(t, 0), (1, 1));
        assert_eq!(line_column(t, 3), (2, 1));
        assert_eq!(line_column(t, 7), (2, 4));
        assert_eq!(line_column(t, 8), (3, 1));
        assert_eq!(line_column(t, 100), (3, 2));
        assert_eq!(line_column(t, 6), (2, 3));
    }
}
