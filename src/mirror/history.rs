//! The archive history (oc-mirror's `.history`): which blobs earlier archives already carried,
//! so that the next mirror-to-disk archives only new blobs.
//!
//! ```text
//! working-dir/.history/history-2024-11-21T10:04:05Z     one digest per line ("sha256:<hex>")
//! ```
//!
//! Each archive run writes a new file holding the previous set plus what it added. `--since
//! DATE` reads the newest file written before that date instead of the newest of all, so an
//! archive can be rebuilt for a mirror that missed later deliveries.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::reference::Digest;

const PREFIX: &str = "history-";

/// Why the history could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file operation failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A history file holds a line that is not a digest.
    #[error("{path}: line {line}: not a digest")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
    },
}

/// The `.history` directory of a working dir.
#[derive(Debug, Clone)]
pub struct History {
    dir: PathBuf,
}

impl History {
    /// The history of `working_dir`.
    #[must_use]
    pub fn new(working_dir: &Path) -> History {
        History { dir: working_dir.join(".history") }
    }

    /// The newest history file, or the newest written before `before`.
    fn latest(&self, before: Option<OffsetDateTime>) -> Result<Option<PathBuf>, Error> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(Error::Io { path: self.dir.clone(), source }),
        };
        let mut best: Option<(OffsetDateTime, PathBuf)> = None;
        for entry in entries.filter_map(Result::ok) {
            let name = entry.file_name();
            let Some(stamp) = name.to_str().and_then(|n| n.strip_prefix(PREFIX)) else { continue };
            let Ok(when) = OffsetDateTime::parse(stamp, &Rfc3339) else { continue };
            if before.is_some_and(|b| when >= b) {
                continue;
            }
            if best.as_ref().is_none_or(|(t, _)| when > *t) {
                best = Some((when, entry.path()));
            }
        }
        Ok(best.map(|(_, p)| p))
    }

    /// The blobs earlier archives carried (per the newest history before `before`).
    ///
    /// # Errors
    /// [`Error`] when a history file is unreadable or corrupt.
    pub fn read(&self, before: Option<OffsetDateTime>) -> Result<BTreeSet<Digest>, Error> {
        let Some(path) = self.latest(before)? else { return Ok(BTreeSet::new()) };
        let text = std::fs::read_to_string(&path).map_err(|source| Error::Io { path: path.clone(), source })?;
        text.lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
            .map(|(i, l)| l.trim().parse::<Digest>().map_err(|_| Error::Corrupt { path: path.clone(), line: i + 1 }))
            .collect()
    }

    /// Writes a new history file holding `previous` and `added`; returns its path.
    ///
    /// # Errors
    /// [`Error::Io`].
    pub fn append(&self, previous: &BTreeSet<Digest>, added: &BTreeSet<Digest>) -> Result<PathBuf, Error> {
        std::fs::create_dir_all(&self.dir).map_err(|source| Error::Io { path: self.dir.clone(), source })?;
        let now = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap_or_else(|_| OffsetDateTime::now_utc());
        let stamp = now.format(&Rfc3339).unwrap_or_else(|_| now.unix_timestamp().to_string());
        let path = self.dir.join(format!("{PREFIX}{stamp}"));
        let mut text = String::new();
        for d in previous.union(added) {
            text.push_str(&d.to_string());
            text.push('\n');
        }
        std::fs::write(&path, text).map_err(|source| Error::Io { path: path.clone(), source })?;
        Ok(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reference::Algorithm;

    #[test]
    fn newest_file_before_a_date_wins() {
        let dir = tempfile::tempdir().expect("temp dir");
        let history = History::new(dir.path());
        let d = |s: &str| Digest::of(Algorithm::Sha256, s.as_bytes());
        let hdir = dir.path().join(".history");
        std::fs::create_dir_all(&hdir).expect("mkdir");
        std::fs::write(hdir.join("history-2023-11-20T10:00:00Z"), format!("{}\n", d("a"))).expect("write");
        std::fs::write(hdir.join("history-2023-11-25T10:00:00Z"), format!("{}\n{}\n", d("a"), d("b"))).expect("write");
        std::fs::write(hdir.join("unrelated"), "x").expect("write");
        let cases: Vec<(&str, Option<OffsetDateTime>, usize)> = vec![
            ("newest", None, 2),
            ("before the second", Some(time::macros::datetime!(2023-11-22 0:00 UTC)), 1),
            ("before both", Some(time::macros::datetime!(2023-01-01 0:00 UTC)), 0),
        ];
        for (name, before, expected) in cases {
            assert_eq!(history.read(before).expect("read").len(), expected, "case {name}");
        }
        let added: BTreeSet<Digest> = [d("c")].into();
        let path = history.append(&history.read(None).expect("read"), &added).expect("append");
        assert!(path.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with(PREFIX)));
        assert_eq!(history.read(None).expect("read").len(), 3);
    }
}
