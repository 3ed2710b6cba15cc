//! The transactions of a garbage collection run and of retention (invariant 3).
//!
//! Marking is implicit: a blob is live while any manifest references it (`manifest_blobs`).
//! Sweeping works in small batches. Each batch's write transaction re-checks, per blob, "still
//! unreferenced and `last_seen` older than the cutoff" before deleting the rows and moving the
//! file to the trash; the trash is emptied after the commit. Because a manifest push checks and
//! inserts its references under the same (cross-process) write lock, a push either commits
//! first — and the re-check keeps the blob — or finds the blob gone and is refused with
//! `MANIFEST_BLOB_UNKNOWN`. It can never commit a reference to a deleted blob.

use crate::reference::Digest;
use crate::store::sql::{Conn, params};
use crate::store::{Error, Result, Store, now, to_u64};

/// Blobs handled per write transaction: keeps each lock hold to a few milliseconds.
pub const SWEEP_BATCH: usize = 200;

/// What a sweep removed (or, in a dry run, would remove).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Swept {
    /// Blobs.
    pub blobs: u64,
    /// Their bytes.
    pub bytes: u64,
}

/// What retention removed (or would remove).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Retained {
    /// Tags deleted.
    pub tags: u64,
    /// Manifests deleted.
    pub manifests: u64,
}

/// Retention rules for one repository, with ages already turned into cutoffs (Unix seconds).
#[derive(Debug, Clone, Copy, Default)]
pub struct RetentionRule {
    /// Delete untagged, unreferenced manifests created before this.
    pub untagged_before: Option<i64>,
    /// Keep only this many newest tags.
    pub keep_newest_tags: Option<u32>,
    /// Delete tags last pushed before this.
    pub tags_before: Option<i64>,
}

/// One recorded GC run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GcRun {
    /// Start (Unix seconds).
    pub started_at: i64,
    /// End (Unix seconds).
    pub finished_at: i64,
    /// Whether nothing was deleted on purpose.
    pub dry_run: bool,
    /// Blobs deleted.
    pub blobs_deleted: u64,
    /// Bytes freed.
    pub bytes_freed: u64,
    /// Manifests deleted by retention.
    pub manifests_deleted: u64,
    /// Tags deleted by retention.
    pub tags_deleted: u64,
    /// Upload sessions expired.
    pub uploads_expired: u64,
}

const UNREFERENCED_AND_OLD: &str =
    "last_seen <= ?2 AND NOT EXISTS (SELECT 1 FROM manifest_blobs mb WHERE mb.digest = blobs.digest)";

impl Store {
    /// Settles what a crash left half done: blobs in the trash go back into place when their row
    /// still exists (the deleting transaction never committed) and are deleted otherwise; blob
    /// files placed without their row being committed are deleted. Returns how many blobs were
    /// restored from the trash. Placements younger than `min_age_seconds` are left alone: they
    /// may belong to a push in flight in a running server.
    ///
    /// # Errors
    /// Filesystem or database failures.
    pub async fn recover_interrupted(&self, min_age_seconds: i64) -> Result<u64> {
        let blobs = self.blobs.clone();
        self.db
            .write(move |tx| {
                let cutoff = now() - min_age_seconds;
                let pending: Vec<String> = tx.query_column(
                    "SELECT digest FROM blob_placements WHERE created_at <= ?1 AND digest NOT IN (SELECT digest FROM blobs)",
                    params![cutoff],
                )?;
                for d in pending.iter().filter_map(|d| d.parse::<Digest>().ok()) {
                    if blobs.trash_blob(&d)? {
                        blobs.purge_blob(&d)?;
                    }
                }
                tx.execute("DELETE FROM blob_placements WHERE created_at <= ?1", params![cutoff])?;
                let mut restored = 0;
                for digest in blobs.trash_entries()? {
                    if tx.exists("SELECT 1 FROM blobs WHERE digest = ?1", params![&digest.to_string()])? {
                        blobs.restore_blob(&digest)?;
                        restored += 1;
                    } else {
                        blobs.purge_blob(&digest)?;
                    }
                }
                Ok::<_, Error>(restored)
            })
            .await
    }

    /// Deletes blobs that no manifest references and that nobody touched since `cutoff`
    /// (Unix seconds), in batches. A dry run only counts them.
    ///
    /// # Errors
    /// Filesystem or database failures.
    pub async fn sweep_blobs(&self, cutoff: i64, dry_run: bool) -> Result<Swept> {
        let mut total = Swept::default();
        let mut after = String::new();
        loop {
            let a = after.clone();
            let batch: Vec<(String, i64)> = self
                .db
                .read(move |c| {
                    Ok::<_, Error>(c.query_map(
                        &format!(
                            "SELECT digest, size FROM blobs WHERE digest > ?1 AND {UNREFERENCED_AND_OLD} ORDER BY digest LIMIT ?3"
                        ),
                        params![&a, cutoff, i64::try_from(SWEEP_BATCH).unwrap_or(200)],
                        |mut r| Ok((r.get(0)?, r.get(1)?)),
                    )?)
                })
                .await?;
            let Some((last, _)) = batch.last() else { break };
            after.clone_from(last);
            if dry_run {
                total.blobs += batch.len() as u64;
                total.bytes += batch.iter().map(|(_, s)| to_u64(*s)).sum::<u64>();
                continue;
            }
            let blobs = self.blobs.clone();
            let trashed: Vec<(Digest, u64)> = self
                .db
                .write(move |tx| {
                    let mut trashed = Vec::new();
                    for (digest, size) in batch {
                        if !still_garbage(tx, &digest, cutoff)? {
                            continue;
                        }
                        tx.execute("DELETE FROM repository_blobs WHERE digest = ?1", params![&digest])?;
                        tx.execute("DELETE FROM blobs WHERE digest = ?1", params![&digest])?;
                        let Ok(parsed) = digest.parse::<Digest>() else { continue };
                        if blobs.trash_blob(&parsed)? {
                            trashed.push((parsed, to_u64(size)));
                        }
                    }
                    Ok::<_, Error>(trashed)
                })
                .await?;
            for (digest, size) in trashed {
                if let Err(e) = self.blobs.purge_blob(&digest) {
                    tracing::warn!(%digest, error = %e, "could not empty the trash; the next run retries");
                }
                total.blobs += 1;
                total.bytes += size;
            }
        }
        Ok(total)
    }

    /// Removes upload sessions started before `cutoff` (Unix seconds) with their files, and
    /// upload files no session owns (left by a crash during a monolithic push) older than that.
    ///
    /// # Errors
    /// Filesystem or database failures.
    pub async fn expire_uploads(&self, cutoff: i64, dry_run: bool) -> Result<u64> {
        let stale: Vec<String> = self
            .db
            .read(move |c| {
                Ok::<_, Error>(c.query_column("SELECT id FROM uploads WHERE started_at < ?1", params![cutoff])?)
            })
            .await?;
        let mut expired = 0;
        for id in &stale {
            let Ok(upload) = id.parse() else { continue };
            if !dry_run {
                self.blobs.delete_upload(&upload).await?;
                self.end_session(&upload).await?;
            }
            expired += 1;
        }
        let known: std::collections::HashSet<String> = self
            .db
            .read(|c| Ok::<_, Error>(c.query_column("SELECT id FROM uploads", params![])?.into_iter().collect()))
            .await?;
        for (id, modified) in self.blobs.list_uploads().await? {
            if known.contains(id.as_str()) || stale.iter().any(|s| s == id.as_str()) || modified >= cutoff {
                continue;
            }
            // Monolithic pushes have no row while they run; their file is touched as bytes arrive,
            // so only files idle past the cutoff are removed.
            if !dry_run {
                self.blobs.delete_upload(&id).await?;
            }
            expired += 1;
        }
        Ok(expired)
    }

    /// Applies a retention rule to one repository.
    ///
    /// # Errors
    /// Database failures.
    pub async fn apply_retention(&self, repo: String, rule: RetentionRule, dry_run: bool) -> Result<Retained> {
        let work = move |tx: &dyn Conn| -> Result<Retained> {
            let Some(repo_id): Option<i64> =
                tx.query_value("SELECT id FROM repositories WHERE name = ?1", params![&repo])?
            else {
                return Ok(Retained::default());
            };
            let mut out = Retained::default();
            if let Some(before) = rule.tags_before {
                out.tags += tx.execute(
                    "DELETE FROM tags WHERE repository_id = ?1 AND updated_at < ?2",
                    params![repo_id, before],
                )?;
            }
            if let Some(keep) = rule.keep_newest_tags {
                out.tags += tx.execute(
                    "DELETE FROM tags WHERE repository_id = ?1 AND name NOT IN
                       (SELECT name FROM tags WHERE repository_id = ?1 ORDER BY updated_at DESC, name DESC LIMIT ?2)",
                    params![repo_id, keep],
                )?;
            }
            if let Some(before) = rule.untagged_before {
                // Repeat: deleting an untagged index can leave its children untagged and
                // unreferenced in turn.
                loop {
                    let n = tx.execute(
                        "DELETE FROM manifests WHERE repository_id = ?1 AND created_at < ?2
                           AND id NOT IN (SELECT manifest_id FROM tags WHERE repository_id = ?1)
                           AND digest NOT IN (SELECT mc.child_digest FROM manifest_children mc
                                                JOIN manifests p ON p.id = mc.manifest_id WHERE p.repository_id = ?1)
                           AND (subject IS NULL OR subject NOT IN (SELECT digest FROM manifests WHERE repository_id = ?1))",
                        params![repo_id, before],
                    )?;
                    out.manifests += n;
                    if n == 0 {
                        break;
                    }
                }
            }
            Ok(out)
        };
        if dry_run { self.db.write_rolled_back(work).await } else { self.db.write(work).await }
    }

    /// Every repository name (for matching retention patterns).
    ///
    /// # Errors
    /// Database failures.
    pub async fn repository_names(&self) -> Result<Vec<String>> {
        self.db.read(|c| Ok(c.query_column("SELECT name FROM repositories ORDER BY name", params![])?)).await
    }

    /// Records a finished GC run.
    ///
    /// # Errors
    /// Database failures.
    pub async fn record_gc_run(&self, run: GcRun) -> Result<()> {
        let i = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        self.db
            .write(move |tx| {
                tx.execute(
                    "INSERT INTO gc_runs (started_at, finished_at, dry_run, blobs_deleted, bytes_freed, manifests_deleted, tags_deleted, uploads_expired)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                    params![run.started_at, run.finished_at, run.dry_run, i(run.blobs_deleted), i(run.bytes_freed), i(run.manifests_deleted), i(run.tags_deleted), i(run.uploads_expired)],
                )?;
                // Keep a bounded history.
                tx.execute("DELETE FROM gc_runs WHERE id <= (SELECT MAX(id) FROM gc_runs) - 1000", params![])?;
                Ok::<_, Error>(())
            })
            .await
    }

    /// The latest GC run that was not a dry run.
    ///
    /// # Errors
    /// Database failures.
    pub async fn last_gc_run(&self) -> Result<Option<GcRun>> {
        Ok(self.gc_runs(1).await?.pop())
    }

    /// The latest `limit` GC runs that were not dry runs, newest first.
    ///
    /// # Errors
    /// Database failures.
    pub async fn gc_runs(&self, limit: u32) -> Result<Vec<GcRun>> {
        self.db
            .read(move |c| {
                let rows = c.query_map(
                    "SELECT started_at, finished_at, dry_run, blobs_deleted, bytes_freed, manifests_deleted, tags_deleted, uploads_expired
                       FROM gc_runs WHERE dry_run = 0 ORDER BY id DESC LIMIT ?1",
                    params![limit],
                    |mut r| Ok(GcRun {
                        started_at: r.get(0)?,
                        finished_at: r.get(1)?,
                        dry_run: r.get(2)?,
                        blobs_deleted: to_u64(r.get(3)?),
                        bytes_freed: to_u64(r.get(4)?),
                        manifests_deleted: to_u64(r.get(5)?),
                        tags_deleted: to_u64(r.get(6)?),
                        uploads_expired: to_u64(r.get(7)?),
                    }),
                )?;
                Ok(rows)
            })
            .await
    }

    /// Seconds since the Unix epoch, as GC sees it (one clock for cutoffs and `last_seen`).
    #[must_use]
    pub fn clock(&self) -> i64 {
        now()
    }
}

/// The re-check, inside the deleting transaction. Removing it lets a manifest that committed
/// between the candidate query and the delete lose its blob (the GC concurrency test fails).
pub(super) fn still_garbage(tx: &dyn Conn, digest: &str, cutoff: i64) -> Result<bool> {
    Ok(tx.exists(
        &format!("SELECT 1 FROM blobs WHERE digest = ?1 AND {UNREFERENCED_AND_OLD}"),
        params![digest, cutoff],
    )?)
}
