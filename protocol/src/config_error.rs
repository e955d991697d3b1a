//! Errors in lab and scenario files, reported as one line that names the
//! file, the line, the key and the problem:
//!
//! ```text
//! scenarios/lab.toml:14: key `max_concurent_requests`: unknown field, expected one of ...
//! ```

use serde::de::DeserializeOwned;
use std::fmt;
use std::path::{Path, PathBuf};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    pub file: PathBuf,
    pub line: Option<usize>,
    pub key: Option<String>,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if let Some(key) = &self.key {
            write!(f, ": key `{key}`")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for ConfigError {}

impl ConfigError {
    pub fn new(file: &Path, message: impl Into<String>) -> Self {
        ConfigError {
            file: file.to_path_buf(),
            line: None,
            key: None,
            message: message.into(),
        }
    }

    /// An error about `key`; the line is found by looking for `key = ...value...`
    /// in `source` (the first match), since semantic checks run after parsing.
    pub fn at_key(
        file: &Path,
        source: &str,
        key: &str,
        value: &str,
        message: impl Into<String>,
    ) -> Self {
        let line = source.lines().position(|l| {
            let l = l.trim_start();
            l.starts_with(key) && l[key.len()..].trim_start().starts_with('=') && l.contains(value)
        });
        ConfigError {
            file: file.to_path_buf(),
            line: line.map(|i| i + 1),
            key: Some(key.to_string()),
            message: message.into(),
        }
    }
}

/// Reads and parses a TOML file; every error is a [`ConfigError`].
pub fn read_toml<T: DeserializeOwned>(path: &Path) -> Result<(T, String), ConfigError> {
    let source = std::fs::read_to_string(path)
        .map_err(|e| ConfigError::new(path, format!("cannot read file: {e}")))?;
    let value = parse_toml(path, &source)?;
    Ok((value, source))
}

/// Parses TOML text that came from `path`.
pub fn parse_toml<T: DeserializeOwned>(path: &Path, source: &str) -> Result<T, ConfigError> {
    toml::from_str(source).map_err(|e| {
        let span = e.span();
        let line = span
            .as_ref()
            .map(|s| source[..s.start.min(source.len())].matches('\n').count() + 1);
        // The key is the left-hand side of the line the error points at,
        // when it is an assignment (toml names unknown fields itself).
        let key = line
            .and_then(|l| source.lines().nth(l - 1))
            .and_then(|text| {
                let (lhs, _) = text.split_once('=')?;
                let lhs = lhs.trim();
                (!lhs.is_empty() && !lhs.starts_with('['))
                    .then(|| lhs.trim_matches('"').to_string())
            });
        ConfigError {
            file: path.to_path_buf(),
            line,
            key,
            message: e.message().trim().replace('\n', " "),
        }
    })
}
