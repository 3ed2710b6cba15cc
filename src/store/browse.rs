//! What the web console shows and the registry API does not: repositories with their counts,
//! tags with sizes and times, one manifest with its tags and what deleting it would free.

use super::sql::{self, Conn, params};
use super::{Error, Result, Store, find_repository, to_u64};
use crate::reference::{Digest, RepoName};
use bytes::Bytes;

/// A repository in the console's list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepositorySummary {
    /// Its name.
    pub name: String,
    /// Tags in it.
    pub tags: u64,
    /// Manifests in it (tagged or not).
    pub manifests: u64,
    /// Latest push of a tag or manifest (Unix seconds; its creation when empty).
    pub updated_at: i64,
}

/// A manifest as the console lists it, under a tag or untagged.
#[derive(Debug, Clone)]
pub struct ManifestSummary {
    /// The tag, or `None` for a manifest without one.
    pub tag: Option<String>,
    /// Its digest.
    pub digest: Digest,
    /// Its media type.
    pub media_type: String,
    /// Its bytes (to read platforms and annotations from).
    pub content: Bytes,
    /// Bytes of the distinct blobs it references, through its children for an index.
    pub size: u64,
    /// When the manifest was first pushed (Unix seconds).
    pub created_at: i64,
    /// When the tag was last pointed at it (the manifest's creation when untagged).
    pub pushed_at: i64,
}

/// One manifest with what the console tells before deleting it.
#[derive(Debug, Clone)]
pub struct ManifestDetail {
    /// The manifest.
    pub summary: ManifestSummary,
    /// Tags pointing at it.
    pub tags: Vec<String>,
    /// Blobs only this manifest references (anywhere in the registry), and their bytes: what
    /// garbage collection frees once it is deleted.
    pub exclusive_blobs: u64,
    /// Bytes of those blobs.
    pub exclusive_bytes: u64,
}

/// Bytes of the distinct blobs manifest `id` references, itself or through its children in the
/// same repository (what pulling every platform transfers, less the manifests).
fn size_of(c: &dyn Conn, repo_id: i64, id: i64) -> sql::Result<u64> {
    let size: Option<i64> = c.query_value(
        "SELECT CAST(COALESCE(SUM(size), 0) AS BIGINT) FROM blobs WHERE digest IN (
             SELECT digest FROM manifest_blobs WHERE manifest_id = ?2
             UNION
             SELECT mb.digest FROM manifest_children mc
               JOIN manifests child ON child.repository_id = ?1 AND child.digest = mc.child_digest
               JOIN manifest_blobs mb ON mb.manifest_id = child.id
              WHERE mc.manifest_id = ?2)",
        params![repo_id, id],
    )?;
    Ok(to_u64(size.unwrap_or_default()))
}

/// Rows of `(id, tag, digest, media_type, content, created_at, pushed_at)` into summaries.
type Row = (i64, Option<String>, String, String, Vec<u8>, i64, i64);

fn summaries(c: &dyn Conn, repo_id: i64, rows: Vec<Row>) -> sql::Result<Vec<ManifestSummary>> {
    let mut out = Vec::with_capacity(rows.len());
    for (id, tag, digest, media_type, content, created_at, pushed_at) in rows {
        let Ok(digest) = digest.parse() else { continue };
        let size = size_of(c, repo_id, id)?;
        out.push(ManifestSummary { tag, digest, media_type, content: content.into(), size, created_at, pushed_at });
    }
    Ok(out)
}

fn row(mut r: sql::Row) -> sql::Result<Row> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?))
}

impl Store {
    /// Every repository with its counts, by name.
    ///
    /// # Errors
    /// Database failures.
    pub async fn repository_summaries(&self) -> Result<Vec<RepositorySummary>> {
        self.db
            .read(|c| {
                // The latest of three times is taken here: SQLite's scalar MAX(a, b, c) is
                // PostgreSQL's GREATEST, and neither database knows the other's.
                Ok(c.query_map(
                    "SELECT r.name,
                            (SELECT COUNT(*) FROM tags t WHERE t.repository_id = r.id),
                            (SELECT COUNT(*) FROM manifests m WHERE m.repository_id = r.id),
                            r.created_at,
                            COALESCE((SELECT MAX(updated_at) FROM tags t WHERE t.repository_id = r.id), 0),
                            COALESCE((SELECT MAX(created_at) FROM manifests m WHERE m.repository_id = r.id), 0)
                       FROM repositories r ORDER BY r.name",
                    params![],
                    |mut r| {
                        let times: [i64; 3] = [r.get(3)?, r.get(4)?, r.get(5)?];
                        Ok(RepositorySummary {
                            name: r.get(0)?,
                            tags: to_u64(r.get(1)?),
                            manifests: to_u64(r.get(2)?),
                            updated_at: times.into_iter().max().unwrap_or_default(),
                        })
                    },
                )?)
            })
            .await
    }

    /// The tags of `repo` with their manifests, by tag; then the manifests no tag names that are
    /// neither a child of an index nor a referrer (images pushed by digest), newest first.
    ///
    /// # Errors
    /// [`Error::NameUnknown`] and database failures.
    pub async fn manifest_summaries(&self, repo: &RepoName) -> Result<(Vec<ManifestSummary>, Vec<ManifestSummary>)> {
        let r = repo.clone();
        self.db
            .read(move |c| {
                let repo_id = find_repository(c, &r)?.ok_or_else(|| Error::NameUnknown(r.clone()))?;
                let tagged: Vec<Row> = c.query_map(
                    "SELECT m.id, t.name, m.digest, m.media_type, m.content, m.created_at, t.updated_at
                       FROM tags t JOIN manifests m ON m.id = t.manifest_id
                      WHERE t.repository_id = ?1 ORDER BY t.name",
                    params![repo_id],
                    row,
                )?;
                let untagged: Vec<Row> = c.query_map(
                    "SELECT m.id, NULL, m.digest, m.media_type, m.content, m.created_at, m.created_at
                       FROM manifests m
                      WHERE m.repository_id = ?1 AND m.subject IS NULL
                        AND NOT EXISTS (SELECT 1 FROM tags t WHERE t.manifest_id = m.id)
                        AND NOT EXISTS (SELECT 1 FROM manifest_children mc JOIN manifests p ON p.id = mc.manifest_id
                                         WHERE p.repository_id = ?1 AND mc.child_digest = m.digest)
                      ORDER BY m.created_at DESC, m.id DESC LIMIT 500",
                    params![repo_id],
                    row,
                )?;
                Ok((summaries(c, repo_id, tagged)?, summaries(c, repo_id, untagged)?))
            })
            .await
    }

    /// One manifest of `repo` by digest, with its tags and what deleting it would let GC free.
    ///
    /// # Errors
    /// [`Error::NameUnknown`], [`Error::ManifestUnknown`] and database failures.
    pub async fn manifest_detail(&self, repo: &RepoName, digest: &Digest) -> Result<ManifestDetail> {
        let (r, d) = (repo.clone(), digest.to_string());
        self.db
            .read(move |c| {
                let repo_id = find_repository(c, &r)?.ok_or_else(|| Error::NameUnknown(r.clone()))?;
                let found = c.query_opt(
                    "SELECT id, NULL, digest, media_type, content, created_at, created_at FROM manifests
                      WHERE repository_id = ?1 AND digest = ?2",
                    params![repo_id, &d],
                )?;
                let found = row(found.ok_or_else(|| Error::ManifestUnknown(d.clone()))?)?;
                let id = found.0;
                let tags = c.query_column("SELECT name FROM tags WHERE manifest_id = ?1 ORDER BY name", params![id])?;
                let mut exclusive = c.query_row(
                    "SELECT COUNT(*), CAST(COALESCE(SUM(b.size), 0) AS BIGINT) FROM manifest_blobs mb JOIN blobs b ON b.digest = mb.digest
                      WHERE mb.manifest_id = ?1
                        AND NOT EXISTS (SELECT 1 FROM manifest_blobs o WHERE o.digest = mb.digest AND o.manifest_id <> ?1)",
                    params![id],
                )?;
                let (exclusive_blobs, exclusive_bytes): (i64, i64) = (exclusive.get(0)?, exclusive.get(1)?);
                let summary = summaries(c, repo_id, vec![found])?.pop().ok_or_else(|| Error::ManifestUnknown(d.clone()))?;
                Ok(ManifestDetail {
                    summary,
                    tags,
                    exclusive_blobs: to_u64(exclusive_blobs),
                    exclusive_bytes: to_u64(exclusive_bytes),
                })
            })
            .await
    }
}
