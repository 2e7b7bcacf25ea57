//! How every front end prints a list of errors: one per line, each naming where it is;
//! an error repeated at many places is one line that names the first few places and
//! counts the rest; at most [`ErrorList::SHOWN_LINES`] lines, then a count of the rest.
//!
//! ```
//! use dpu_fw::error::{ErrorList, Place};
//! let mut errors = ErrorList::new();
//! for rule in [3, 7, 9, 11, 12, 14] {
//!     errors.push(Place::new("rule", rule.to_string()), "ICMP rule has a port range");
//! }
//! errors.push(Place::new("rule", "20"), "undefined port `x`");
//! assert_eq!(
//!     errors.to_string(),
//!     "rules 3, 7, 9, 11, 12 and 1 more: ICMP rule has a port range\n\
//!      rule 20: undefined port `x`"
//! );
//! ```

use core::fmt;

/// Where an error is: a noun and an id (`rule` `3`), or a bare id (`fw.toml:3:7`) when
/// the noun is empty.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Place {
    /// What kind of place (`rule`, `port`, `line`, `record`), or empty.
    pub noun: &'static str,
    /// Which one (`3`, ``3 `ssh` ``, `fw.toml:3:7`).
    pub id: String,
}

impl Place {
    /// A place of kind `noun` (empty: the id stands alone).
    pub fn new(noun: &'static str, id: impl Into<String>) -> Self {
        Place {
            noun,
            id: id.into(),
        }
    }
}

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.noun.is_empty() {
            f.write_str(&self.id)
        } else {
            write!(f, "{} {}", self.noun, self.id)
        }
    }
}

/// Errors with their places, in the order found. Displayed as described in the module
/// docs, without a trailing newline; empty when there is no error.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ErrorList {
    entries: Vec<(Place, String)>,
}

impl ErrorList {
    /// The most lines [`Display`](fmt::Display) prints, besides the count of the rest.
    pub const SHOWN_LINES: usize = 20;
    /// The most places one line names before it counts the rest.
    pub const SHOWN_PLACES: usize = 5;

    /// No error yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an error: what is wrong and what to do, at `place`.
    pub fn push(&mut self, place: Place, message: impl Into<String>) {
        self.entries.push((place, message.into()));
    }

    /// The number of errors (each place counts).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// No error.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The lines [`Display`](fmt::Display) prints.
    pub fn lines(&self) -> Vec<String> {
        // Same noun and message -> one group, in first-seen order.
        let mut groups: Vec<(&'static str, &str, Vec<&str>)> = Vec::new();
        for (place, message) in &self.entries {
            match groups
                .iter_mut()
                .find(|(n, m, _)| *n == place.noun && *m == message)
            {
                Some((_, _, ids)) => ids.push(&place.id),
                None => groups.push((place.noun, message, vec![&place.id])),
            }
        }
        let mut out: Vec<String> = groups
            .iter()
            .take(Self::SHOWN_LINES)
            .map(|(noun, message, ids)| {
                let shown = &ids[..ids.len().min(Self::SHOWN_PLACES)];
                let mut line = match (noun.is_empty(), ids.len()) {
                    (true, _) => shown.join(", "),
                    (false, 1) => format!("{noun} {}", shown[0]),
                    (false, _) => format!("{noun}s {}", shown.join(", ")),
                };
                if ids.len() > shown.len() {
                    line.push_str(&format!(" and {} more", ids.len() - shown.len()));
                }
                format!("{line}: {message}")
            })
            .collect();
        if groups.len() > Self::SHOWN_LINES {
            let rest = &groups[Self::SHOWN_LINES..];
            let n: usize = rest.iter().map(|(_, _, ids)| ids.len()).sum();
            out.push(format!(
                "... and {n} more error{} of {} other kind{}",
                if n == 1 { "" } else { "s" },
                rest.len(),
                if rest.len() == 1 { "" } else { "s" }
            ));
        }
        out
    }
}

impl fmt::Display for ErrorList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.lines().join("\n"))
    }
}

impl FromIterator<(Place, String)> for ErrorList {
    fn from_iter<I: IntoIterator<Item = (Place, String)>>(iter: I) -> Self {
        ErrorList {
            entries: iter.into_iter().collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_errors_are_one_line_and_the_list_is_capped() {
        let mut e = ErrorList::new();
        for i in 1..=200 {
            e.push(Place::new("rule", i.to_string()), "same");
        }
        e.push(Place::new("", "f.toml:3:1"), "error: other");
        e.push(Place::new("", "f.toml:9:1"), "error: other");
        assert_eq!(
            e.to_string(),
            "rules 1, 2, 3, 4, 5 and 195 more: same\nf.toml:3:1, f.toml:9:1: error: other"
        );
        assert_eq!(e.len(), 202);
        let many: ErrorList = (0..30)
            .map(|i| (Place::new("line", i.to_string()), format!("problem {i}")))
            .collect();
        let lines = many.lines();
        assert_eq!(lines.len(), ErrorList::SHOWN_LINES + 1);
        assert_eq!(lines[0], "line 0: problem 0");
        assert_eq!(lines[20], "... and 10 more errors of 10 other kinds");
        assert_eq!(ErrorList::new().to_string(), "");
    }
}
