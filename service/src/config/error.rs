//! [`ConfigError`]: the one readable error a bad configuration gives — the file, the line
//! and column when the key is in it, the key path (`rules.ttl`, `input[1].paths[0]`) and
//! what is wrong.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use toml::de::{DeTable, DeValue};
use toml::Spanned;

/// What is wrong with a configuration, and where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// The configuration file.
    pub file: PathBuf,
    /// 1-based line and column of the offending key or value, when the file has it.
    pub line_col: Option<(usize, usize)>,
    /// The key path, e.g. `rules.ttl` or `input[0].paths[1]`; none for the file as a whole.
    pub key: Option<String>,
    /// What is wrong, as a sentence.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some((line, col)) = self.line_col {
            write!(f, ":{line}:{col}")?;
        }
        if let Some(key) = &self.key {
            write!(f, ": {key}")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for ConfigError {}

impl ConfigError {
    /// An error about the file as a whole (cannot be read, not TOML).
    pub fn file(file: &Path, message: impl Into<String>) -> ConfigError {
        ConfigError {
            file: file.to_owned(),
            line_col: None,
            key: None,
            message: message.into(),
        }
    }
}

/// Finds keys in the parsed document, to place an error at its line and column.
pub struct Locator<'a> {
    file: PathBuf,
    text: &'a str,
    root: Spanned<DeValue<'a>>,
}

impl<'a> Locator<'a> {
    pub fn new(file: &Path, text: &'a str, root: Spanned<DeTable<'a>>) -> Locator<'a> {
        let span = root.span();
        Locator {
            file: file.to_owned(),
            text,
            root: Spanned::new(span, DeValue::Table(root.into_inner())),
        }
    }

    /// The error `message` about `key`, placed at the key's value when the file has it,
    /// else at the nearest enclosing table that it has.
    pub fn error(&self, key: &str, message: impl Into<String>) -> ConfigError {
        ConfigError {
            file: self.file.clone(),
            line_col: self.span(key).map(|s| line_col(self.text, s.start)),
            key: Some(key.to_owned()),
            message: message.into(),
        }
    }

    /// An error whose position the TOML parser gave (a byte span).
    pub fn at(
        &self,
        key: Option<String>,
        span: Option<Range<usize>>,
        message: String,
    ) -> ConfigError {
        ConfigError {
            file: self.file.clone(),
            line_col: span.map(|s| line_col(self.text, s.start)).or_else(|| {
                key.as_deref()
                    .and_then(|k| self.span(k))
                    .map(|s| line_col(self.text, s.start))
            }),
            key,
            message,
        }
    }

    /// The span of the value at `key` (`a.b[2].c`), or of its nearest ancestor present.
    fn span(&self, key: &str) -> Option<Range<usize>> {
        let mut node = &self.root;
        let mut found = None;
        for seg in segments(key) {
            let next = match seg {
                Segment::Key(k) => node.get_ref().get(k),
                Segment::Index(i) => node.get_ref().get(i),
            };
            match next {
                Some(n) => {
                    node = n;
                    found = Some(n.span());
                }
                None => break,
            }
        }
        found
    }
}

enum Segment<'k> {
    Key(&'k str),
    Index(usize),
}

/// `input[1].paths[0]` → input, 1, paths, 0.
fn segments(key: &str) -> Vec<Segment<'_>> {
    let mut out = Vec::new();
    for part in key.split('.') {
        let (name, mut rest) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if !name.is_empty() {
            out.push(Segment::Key(name));
        }
        while let Some(end) = rest.find(']') {
            if let Ok(i) = rest[1..end].parse() {
                out.push(Segment::Index(i));
            }
            rest = &rest[end + 1..];
        }
    }
    out
}

/// 1-based line and column (in characters) of byte `offset` in `text`.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[start..].chars().count() + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_found_at_their_line_and_column() {
        let text = "[rules]\nttl = \"0s\"\n\n[[input]]\nkind = \"files\"\npaths = [\"a\", \"b\"]\n";
        let root = DeTable::parse(text).unwrap();
        let loc = Locator::new(Path::new("x.toml"), text, root);
        assert_eq!(loc.error("rules.ttl", "bad").line_col, Some((2, 7)));
        assert_eq!(
            loc.error("input[0].paths[1]", "bad").line_col,
            Some((6, 15))
        );
        // A key absent from the file: its nearest ancestor.
        assert_eq!(
            loc.error("input[0].name", "bad").line_col.map(|l| l.0),
            Some(4)
        );
        assert_eq!(loc.error("http.listen", "bad").line_col, None);
        assert_eq!(
            loc.error("rules.ttl", "is out of range").to_string(),
            "x.toml:2:7: rules.ttl: is out of range"
        );
    }
}
