//! Where blobs are on a destination registry, remembered across runs: for each blob pushed,
//! mounted or found there, one repository of that registry that holds it. A later run asks the
//! registry to mount a blob from there (one request, no bytes) instead of uploading it again
//! into another repository.
//!
//! ```text
//! <cache>/destinations/<host[:port]>.blobs     one "<digest> <repository>" per line
//! ```
//!
//! The file is read when the engine is made and written back (merged with what another run may
//! have added meanwhile) when it finishes copying. It is advice, never trusted: the copy engine
//! asks the target repository first (HEAD), and a registry that no longer has the blob in the
//! remembered repository answers the mount with an upload session, into which the blob is
//! pushed as usual.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use super::cache::Cache;
use crate::reference::{Digest, RepoName};

/// Why the file could not be written.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {source}")]
pub struct Error {
    path: PathBuf,
    source: std::io::Error,
}

/// The blobs known to be on one destination registry, and a repository holding each.
#[derive(Debug)]
pub struct KnownBlobs {
    registry: String,
    path: PathBuf,
    blobs: Mutex<HashMap<Digest, RepoName>>,
    changed: AtomicBool,
}

impl KnownBlobs {
    /// What earlier runs recorded for `registry` in `cache`. A missing or unreadable file means
    /// nothing is known (with a warning when it exists but can't be read); lines that do not
    /// parse are skipped.
    pub async fn load(cache: &Cache, registry: &str) -> KnownBlobs {
        let path = cache.known_blobs_file(registry);
        let blobs = match tokio::fs::read_to_string(&path).await {
            Ok(text) => parse(&text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => HashMap::new(),
            Err(e) => {
                tracing::warn!(file = %path.display(), error = %e, "known blobs of the destination unreadable; starting afresh");
                HashMap::new()
            }
        };
        KnownBlobs { registry: registry.to_string(), path, blobs: Mutex::new(blobs), changed: AtomicBool::new(false) }
    }

    /// A repository of `registry` that holds `digest`, if one is known.
    #[must_use]
    pub fn repository(&self, registry: &str, digest: &Digest) -> Option<RepoName> {
        if registry != self.registry {
            return None;
        }
        self.lock().get(digest).cloned()
    }

    /// Records that `repo` of `registry` holds `digest`.
    pub fn record(&self, registry: &str, digest: &Digest, repo: &RepoName) {
        if registry != self.registry {
            return;
        }
        let mut blobs = self.lock();
        if blobs.get(digest) != Some(repo) {
            blobs.insert(digest.clone(), repo.clone());
            self.changed.store(true, Ordering::Relaxed);
        }
    }

    /// Writes what this run learnt, merged over the file as it is now (another run may have
    /// written it meanwhile; this run's entries win). Nothing is written when nothing changed.
    ///
    /// # Errors
    /// [`Error`] when the file can't be written.
    pub async fn save(&self) -> Result<(), Error> {
        if !self.changed.swap(false, Ordering::Relaxed) {
            return Ok(());
        }
        let mut merged = match tokio::fs::read_to_string(&self.path).await {
            Ok(text) => parse(&text),
            Err(_) => HashMap::new(),
        };
        merged.extend(self.lock().iter().map(|(d, r)| (d.clone(), r.clone())));
        let mut lines: Vec<String> = merged.iter().map(|(d, r)| format!("{d} {r}\n")).collect();
        lines.sort();
        let (path, bytes) = (self.path.clone(), lines.concat().into_bytes());
        tokio::task::spawn_blocking(move || super::files::write_atomically(&path, &bytes))
            .await
            .map_err(|e| Error { path: self.path.clone(), source: std::io::Error::other(e) })?
            .map_err(|(path, source)| Error { path, source })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Digest, RepoName>> {
        self.blobs.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn parse(text: &str) -> HashMap<Digest, RepoName> {
    text.lines()
        .filter_map(|line| {
            let (digest, repo) = line.trim().split_once(' ')?;
            Some((digest.parse().ok()?, repo.trim().parse().ok()?))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reference::Algorithm;

    #[tokio::test]
    async fn what_one_run_records_the_next_run_knows_per_registry() {
        let dir = tempfile::tempdir().expect("temp dir");
        let cache = Cache::new(dir.path());
        let (a, b) = (Digest::of(Algorithm::Sha256, b"a"), Digest::of(Algorithm::Sha256, b"b"));
        let (x, y): (RepoName, RepoName) = ("ns/x".parse().expect("repo"), "ns/y".parse().expect("repo"));
        let first = KnownBlobs::load(&cache, "reg:5000").await;
        first.record("reg:5000", &a, &x);
        first.record("other:5000", &b, &y);
        assert_eq!(first.repository("reg:5000", &a), Some(x.clone()));
        assert_eq!(first.repository("other:5000", &b), None, "another registry's blobs are not this one's");
        first.save().await.expect("save");

        // A concurrent run's entries are kept; this run's win for the same blob.
        let concurrent = KnownBlobs::load(&cache, "reg:5000").await;
        concurrent.record("reg:5000", &b, &y);
        concurrent.save().await.expect("save");
        first.record("reg:5000", &a, &y);
        first.save().await.expect("save");

        let next = KnownBlobs::load(&cache, "reg:5000").await;
        let cases =
            [("recorded then moved", &a, Some(y.clone())), ("recorded by the concurrent run", &b, Some(y.clone()))];
        for (name, digest, expected) in cases {
            assert_eq!(next.repository("reg:5000", digest), expected, "case {name}");
        }
        assert_eq!(KnownBlobs::load(&cache, "other:5000").await.repository("other:5000", &b), None);
        let text = std::fs::read_to_string(cache.known_blobs_file("reg:5000")).expect("file");
        assert_eq!(text.lines().count(), 2, "{text}");
        std::fs::write(cache.known_blobs_file("reg:5000"), format!("garbage\n{a} ns/x\n")).expect("write");
        assert_eq!(KnownBlobs::load(&cache, "reg:5000").await.repository("reg:5000", &a), Some(x), "bad lines skipped");
    }
}
