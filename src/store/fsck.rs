//! Consistency checks of the store: every blob file re-hashed against its name, rows whose file
//! is missing, files with no row, and the database's own integrity check (SQLite's pragmas). Repairs run under the write
//! lock with a re-check, so a blob placed by a concurrent push is never mistaken for an orphan.
//!
//! fsck runs next to `serve` and `gc`: a file listed a moment ago may be gone when it is opened,
//! and a row read a moment ago may be gone too. Whatever looked wrong is looked at again inside a
//! write transaction (where no push or collection is half done) before it is reported.

use std::path::PathBuf;
use std::sync::Arc;

use super::sql::params;
use super::{Error, Result, Store};
use crate::reference::Digest;

/// What `fsck` found (and, with repair, fixed).
#[derive(Debug, Clone, Default)]
pub struct FsckReport {
    /// Blob files re-hashed.
    pub blobs_checked: u64,
    /// Bytes re-hashed.
    pub bytes_checked: u64,
    /// Files whose content does not match their digest (quarantined by repair).
    pub corrupt: Vec<Digest>,
    /// Rows whose file is missing (rows removed by repair, so clients push the blob again).
    pub missing: Vec<Digest>,
    /// Files under `blobs/` with no row (deleted by repair).
    pub orphans: Vec<PathBuf>,
    /// Problems the database's own checks reported (SQLite's `PRAGMA integrity_check` and
    /// `foreign_key_check`; none on PostgreSQL, which enforces constraints on every statement).
    pub database: Vec<String>,
}

impl FsckReport {
    /// Whether nothing is wrong.
    #[must_use]
    pub fn is_clean(&self) -> bool {
        self.corrupt.is_empty() && self.missing.is_empty() && self.orphans.is_empty() && self.database.is_empty()
    }
}

/// Progress callback: bytes hashed so far.
pub type Progress = Arc<dyn Fn(u64) + Send + Sync>;

impl Store {
    /// Checks the store; with `repair`, fixes what it safely can.
    ///
    /// # Errors
    /// Filesystem or database failures while checking.
    pub async fn fsck(&self, repair: bool, progress: Progress) -> Result<FsckReport> {
        let database = self.db.read(|c| Ok::<_, Error>(c.integrity_problems()?)).await?;
        let mut report = FsckReport { database, ..FsckReport::default() };

        let blobs = self.blobs.clone();
        let files = tokio::task::spawn_blocking(move || blobs.blob_files()).await??;
        let mut seen = std::collections::HashSet::new();
        // Blobs whose row or file was absent when looked at: a concurrent GC or push may be the
        // cause, so they are judged only after a re-check under the write lock.
        let mut suspects = Vec::new();
        for path in files {
            let Some(digest) = self.blobs.digest_at(&path) else {
                report.orphans.push(path);
                continue;
            };
            seen.insert(digest.to_string());
            let d = digest.to_string();
            let has_row = self
                .db
                .read(move |c| Ok::<_, Error>(c.exists("SELECT 1 FROM blobs WHERE digest = ?1", params![&d])?))
                .await?;
            if has_row {
                self.check_blob(digest, &*progress, &mut report, &mut suspects).await?;
            } else {
                suspects.push(digest);
            }
        }
        let rows: Vec<String> =
            self.db.read(|c| Ok::<_, Error>(c.query_column("SELECT digest FROM blobs", params![])?)).await?;
        for d in rows {
            if !seen.contains(&d)
                && let Ok(digest) = d.parse::<Digest>()
                && self.blobs.stat(&digest).await?.is_none()
            {
                suspects.push(digest);
            }
        }
        for (digest, state) in self.recheck(suspects).await? {
            match state {
                Recheck::Orphan => report.orphans.push(self.blobs.location_of(&digest)),
                Recheck::Missing => report.missing.push(digest),
                // Placed meanwhile (a push, or a restore from the trash): hash what is there now.
                Recheck::Consistent => self.check_blob(digest, &*progress, &mut report, &mut Vec::new()).await?,
                Recheck::Gone => {}
            }
        }
        if repair {
            self.repair(&report).await?;
        }
        Ok(report)
    }

    async fn repair(&self, report: &FsckReport) -> Result<()> {
        let blobs = self.blobs.clone();
        let (corrupt, missing, orphans) = (report.corrupt.clone(), report.missing.clone(), report.orphans.clone());
        self.db
            .write(move |tx| {
                for d in &corrupt {
                    tx.execute("DELETE FROM repository_blobs WHERE digest = ?1", params![&d.to_string()])?;
                    tx.execute("DELETE FROM blobs WHERE digest = ?1", params![&d.to_string()])?;
                    blobs.quarantine_blob(d)?;
                }
                for d in &missing {
                    // Re-check under the lock: the file may have been placed since.
                    if !blobs.contains_blob(d) {
                        tx.execute("DELETE FROM repository_blobs WHERE digest = ?1", params![&d.to_string()])?;
                        tx.execute("DELETE FROM blobs WHERE digest = ?1", params![&d.to_string()])?;
                    }
                }
                for path in &orphans {
                    // Re-check under the lock: a push places its file and commits its row in one
                    // transaction, so a row that exists now means it is no orphan.
                    let has_row = match blobs.digest_at(path) {
                        Some(d) => tx.exists("SELECT 1 FROM blobs WHERE digest = ?1", params![&d.to_string()])?,
                        None => false,
                    };
                    if !has_row {
                        blobs.remove_stray(path)?;
                    }
                }
                Ok::<_, Error>(())
            })
            .await
    }
}

/// What a blob looks like under the write lock, where no GC or push is half done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Recheck {
    /// Row and file both there.
    Consistent,
    /// A file with no row.
    Orphan,
    /// A row with no file.
    Missing,
    /// Neither: collected meanwhile.
    Gone,
}

impl Store {
    /// Re-hashes one blob into the report; a file removed since it was listed goes to `suspects`.
    async fn check_blob(
        &self,
        digest: Digest,
        progress: &(dyn Fn(u64) + Send + Sync),
        report: &mut FsckReport,
        suspects: &mut Vec<Digest>,
    ) -> Result<()> {
        let Some((actual, size)) = self.hash_blob(&digest, progress).await? else {
            suspects.push(digest);
            return Ok(());
        };
        report.blobs_checked += 1;
        report.bytes_checked += size;
        if actual != digest {
            report.corrupt.push(digest);
        }
        Ok(())
    }

    /// Looks at each suspect's row and file inside one write transaction (rolled back): GC and
    /// pushes change a row and its file under that lock, so what is seen there is settled.
    async fn recheck(&self, suspects: Vec<Digest>) -> Result<Vec<(Digest, Recheck)>> {
        if suspects.is_empty() {
            return Ok(Vec::new());
        }
        let blobs = self.blobs.clone();
        self.db
            .write_rolled_back(move |tx| {
                let mut out = Vec::with_capacity(suspects.len());
                for digest in suspects {
                    let has_row = tx.exists("SELECT 1 FROM blobs WHERE digest = ?1", params![&digest.to_string()])?;
                    let state = match (has_row, blobs.contains_blob(&digest)) {
                        (true, true) => Recheck::Consistent,
                        (false, true) => Recheck::Orphan,
                        (true, false) => Recheck::Missing,
                        (false, false) => Recheck::Gone,
                    };
                    out.push((digest, state));
                }
                Ok::<_, Error>(out)
            })
            .await
    }

    /// Re-hashes a stored blob, streaming, reporting bytes as they are read; `None` when its file
    /// is gone (removed since it was listed).
    async fn hash_blob(
        &self,
        digest: &Digest,
        progress: &(dyn Fn(u64) + Send + Sync),
    ) -> Result<Option<(Digest, u64)>> {
        use futures_util::StreamExt;
        // Read what is on disk, not what the row says, so a truncated file shows as corrupt.
        let Some(on_disk) = self.blobs.stat(digest).await? else { return Ok(None) };
        let mut body = match self.blobs.open(digest, 0, on_disk).await {
            Ok(body) => body,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let mut hasher = digest.algorithm().hasher();
        let mut total = 0u64;
        while let Some(chunk) = body.next().await {
            let chunk = chunk?;
            hasher.update(&chunk);
            total += chunk.len() as u64;
            progress(chunk.len() as u64);
        }
        Ok(Some((hasher.finish(), total)))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use bytes::Bytes;

    use super::*;
    use crate::config::{Config, Storage};
    use crate::reference::{Algorithm, RepoName};

    async fn put(store: &Store, data: &[u8]) -> Digest {
        let d = Digest::of(Algorithm::Sha256, data);
        let repo: RepoName = "r".parse().expect("repo");
        let body = Bytes::copy_from_slice(data);
        store.put_blob(&repo, &d, Box::pin(futures_util::stream::iter([Ok(body)]))).await.expect("put");
        d
    }

    /// Issue #12, item 13: blobs collected by a GC process while fsck runs (row and file removed
    /// after fsck listed the files) were reported as problems, or failed it with "No such file or
    /// directory". The removal happens here from fsck's progress callback, while it hashes the
    /// first file, through a connection of its own as another process would; a row left behind
    /// is a real missing file and must still be reported.
    #[tokio::test]
    async fn blobs_removed_after_the_listing_are_judged_on_what_remains() {
        for (case, keep_row) in [("collected by gc: row and file gone", false), ("file lost, row kept", true)] {
            let dir = tempfile::tempdir().expect("temp dir");
            let config = Config { storage: Storage::under(dir.path()), ..Config::default() };
            let store = Store::open(&config).expect("store");
            let mut blobs = Vec::new();
            for data in [&b"first"[..], b"second", b"third"] {
                let d = put(&store, data).await;
                blobs.push((store.blob_backend().location_of(&d), d));
            }
            // fsck hashes in path order: the last path is listed, then removed before it is reached.
            let (file, victim) = blobs.iter().max().cloned().expect("three blobs");
            let pending = Mutex::new(Some((file, victim.clone())));
            let database = config.storage.database.clone();
            let progress: Progress = Arc::new(move |_| {
                let Some((file, digest)) = pending.lock().expect("lock").take() else { return };
                if !keep_row {
                    let conn = rusqlite::Connection::open(&database).expect("open");
                    for table in ["repository_blobs", "blobs"] {
                        conn.execute(&format!("DELETE FROM {table} WHERE digest = ?1"), [digest.to_string()])
                            .expect("delete row");
                    }
                }
                std::fs::remove_file(file).expect("remove file");
            });
            let report = store.fsck(false, progress).await.unwrap_or_else(|e| panic!("{case}: fsck failed: {e}"));
            assert_eq!(report.blobs_checked, 2, "{case}");
            assert!(report.corrupt.is_empty() && report.orphans.is_empty(), "{case}: {report:?}");
            let expected_missing = if keep_row { vec![victim] } else { Vec::new() };
            assert_eq!(report.missing, expected_missing, "{case}");
        }
    }
}
