//! Consistency checks of the store: every blob file re-hashed against its name, rows whose file
//! is missing, files with no row, and SQLite's own integrity check. Repairs run under the write
//! lock with a re-check, so a blob placed by a concurrent push is never mistaken for an orphan.

use std::path::PathBuf;
use std::sync::Arc;

use rusqlite::OptionalExtension;

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
    /// Problems `PRAGMA integrity_check` and `foreign_key_check` reported.
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
        let database = self
            .db
            .read(|c| {
                let mut problems: Vec<String> = c
                    .prepare("PRAGMA integrity_check")?
                    .query_map([], |r| r.get(0))?
                    .collect::<rusqlite::Result<_>>()?;
                problems.retain(|p| p != "ok");
                let mut fk = c.prepare("PRAGMA foreign_key_check")?;
                let fk_problems: Vec<String> = fk
                    .query_map([], |r| Ok(format!("foreign key violation in {}", r.get::<_, String>(0)?)))?
                    .collect::<rusqlite::Result<_>>()?;
                problems.extend(fk_problems);
                Ok::<_, Error>(problems)
            })
            .await?;
        let mut report = FsckReport { database, ..FsckReport::default() };

        let blobs = self.blobs.clone();
        let files = tokio::task::spawn_blocking(move || blobs.blob_files()).await??;
        let mut seen = std::collections::HashSet::new();
        for path in files {
            let Some(digest) = self.blobs.digest_at(&path) else {
                report.orphans.push(path);
                continue;
            };
            seen.insert(digest.to_string());
            let d = digest.to_string();
            let row: Option<i64> = self
                .db
                .read(move |c| {
                    Ok::<_, Error>(
                        c.query_row("SELECT size FROM blobs WHERE digest = ?1", [d], |r| r.get(0)).optional()?,
                    )
                })
                .await?;
            if row.is_none() {
                report.orphans.push(path);
                continue;
            }
            let (actual, size) =
                self.hash_blob(&digest, u64::try_from(row.unwrap_or_default()).unwrap_or_default(), &*progress).await?;
            report.blobs_checked += 1;
            report.bytes_checked += size;
            if actual != digest {
                report.corrupt.push(digest);
            }
        }
        let rows: Vec<String> = self
            .db
            .read(|c| {
                Ok::<_, Error>(
                    c.prepare("SELECT digest FROM blobs")?
                        .query_map([], |r| r.get(0))?
                        .collect::<rusqlite::Result<_>>()?,
                )
            })
            .await?;
        for d in rows {
            if !seen.contains(&d)
                && let Ok(digest) = d.parse::<Digest>()
                && self.blobs.stat(&digest).await?.is_none()
            {
                report.missing.push(digest);
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
                    tx.execute("DELETE FROM repository_blobs WHERE digest = ?1", [d.to_string()])?;
                    tx.execute("DELETE FROM blobs WHERE digest = ?1", [d.to_string()])?;
                    blobs.quarantine_blob(d)?;
                }
                for d in &missing {
                    // Re-check under the lock: the file may have been placed since.
                    if !blobs.contains_blob(d) {
                        tx.execute("DELETE FROM repository_blobs WHERE digest = ?1", [d.to_string()])?;
                        tx.execute("DELETE FROM blobs WHERE digest = ?1", [d.to_string()])?;
                    }
                }
                for path in &orphans {
                    // Re-check under the lock: a push places its file and commits its row in one
                    // transaction, so a row that exists now means it is no orphan.
                    let has_row = match blobs.digest_at(path) {
                        Some(d) => tx
                            .query_row("SELECT 1 FROM blobs WHERE digest = ?1", [d.to_string()], |_| Ok(()))
                            .optional()?
                            .is_some(),
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

impl Store {
    /// Re-hashes a stored blob, streaming, reporting bytes as they are read.
    async fn hash_blob(
        &self,
        digest: &Digest,
        size: u64,
        progress: &(dyn Fn(u64) + Send + Sync),
    ) -> Result<(Digest, u64)> {
        use futures_util::StreamExt;
        // Read what is on disk, not what the row says, so a truncated file shows as corrupt.
        let on_disk = self.blobs.stat(digest).await?.unwrap_or(size);
        let mut body = self.blobs.open(digest, 0, on_disk).await?;
        let mut hasher = digest.algorithm().hasher();
        let mut total = 0u64;
        while let Some(chunk) = body.next().await {
            let chunk = chunk?;
            hasher.update(&chunk);
            total += chunk.len() as u64;
            progress(chunk.len() as u64);
        }
        Ok((hasher.finish(), total))
    }
}
