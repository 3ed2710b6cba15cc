//! Manifests: stored byte-for-byte, committed in one transaction with their references and
//! tags after checking that the blobs they reference are in the repository, with the sizes
//! their descriptors give (invariant 2).

use bytes::Bytes;
use rusqlite::{OptionalExtension, Transaction};

use super::{Error, Result, Store, ensure_repository, find_repository, now};
use crate::manifest::{self, Kind};
use crate::reference::{Algorithm, Digest, Reference, RepoName, Tag};

/// A manifest as stored.
#[derive(Debug, Clone)]
pub struct StoredManifest {
    /// Its digest.
    pub digest: Digest,
    /// The media type it was pushed with.
    pub media_type: String,
    /// The exact bytes pushed.
    pub content: Bytes,
}

/// What a successful manifest push reports.
#[derive(Debug, Clone)]
pub struct PutOutcome {
    /// Digest of the stored manifest.
    pub digest: Digest,
    /// Its `subject`, for the `OCI-Subject` header.
    pub subject: Option<Digest>,
    /// Tags now pointing at it.
    pub tags: Vec<Tag>,
}

impl Store {
    /// Stores a manifest under `reference` (a tag, or the digest it must hash to) plus `extra_tags`.
    ///
    /// # Errors
    /// [`Error::TooLarge`], [`Error::ManifestInvalid`], [`Error::DigestMismatch`],
    /// [`Error::ManifestBlobUnknown`], database failures.
    pub async fn put_manifest(
        &self,
        repo: &RepoName,
        reference: &Reference,
        content_type: Option<&str>,
        content: Bytes,
        extra_tags: Vec<Tag>,
    ) -> Result<PutOutcome> {
        if content.len() as u64 > self.policy.max_manifest_bytes {
            return Err(Error::TooLarge { limit: self.policy.max_manifest_bytes });
        }
        let parsed = manifest::parse(content_type, &content)?;
        let digest = match reference {
            Reference::Digest(expected) => {
                let actual = Digest::of(expected.algorithm(), &content);
                if actual != *expected {
                    return Err(Error::DigestMismatch { expected: expected.clone(), actual });
                }
                actual
            }
            Reference::Tag(_) => Digest::of(Algorithm::Sha256, &content),
        };
        let mut tags = extra_tags;
        if let Reference::Tag(t) = reference {
            tags.insert(0, t.clone());
        }
        tags.dedup();
        let outcome = PutOutcome { digest: digest.clone(), subject: parsed.subject.clone(), tags: tags.clone() };
        let repo = repo.clone();
        let complete_indexes = self.policy.require_complete_indexes;
        self.db
            .write(move |tx| {
                let repo_id = ensure_repository(tx, &repo)?;
                check_references(tx, repo_id, &parsed, complete_indexes)?;
                let manifest_id = insert_manifest(tx, repo_id, &digest, &parsed, &content)?;
                let t = now();
                for tag in &tags {
                    tx.execute(
                        "INSERT INTO tags (repository_id, name, manifest_id, updated_at) VALUES (?1, ?2, ?3, ?4)
                         ON CONFLICT(repository_id, name) DO UPDATE SET manifest_id = excluded.manifest_id, updated_at = excluded.updated_at",
                        (repo_id, tag.as_str(), manifest_id, t),
                    )?;
                }
                Ok::<_, Error>(())
            })
            .await?;
        Ok(outcome)
    }

    /// The manifest `reference` names in `repo`.
    ///
    /// # Errors
    /// [`Error::NameUnknown`] or [`Error::ManifestUnknown`] when absent.
    pub async fn get_manifest(&self, repo: &RepoName, reference: &Reference) -> Result<StoredManifest> {
        let (r, reference) = (repo.clone(), reference.clone());
        self.db
            .read(move |c| {
                let repo_id = find_repository(c, &r)?.ok_or_else(|| Error::NameUnknown(r.clone()))?;
                let row = match &reference {
                    Reference::Tag(t) => c.query_row(
                        "SELECT m.digest, m.media_type, m.content FROM tags t JOIN manifests m ON m.id = t.manifest_id
                          WHERE t.repository_id = ?1 AND t.name = ?2",
                        (repo_id, t.as_str()),
                        |row| Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?, row.get::<_, Vec<u8>>(2)?)),
                    ),
                    Reference::Digest(d) => c.query_row(
                        "SELECT digest, media_type, content FROM manifests WHERE repository_id = ?1 AND digest = ?2",
                        (repo_id, d.to_string()),
                        |row| Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?, row.get::<_, Vec<u8>>(2)?)),
                    ),
                }
                .optional()?;
                let (digest, media_type, content) = row.ok_or_else(|| Error::ManifestUnknown(reference.to_string()))?;
                let digest = digest.parse().map_err(|_| Error::ManifestUnknown(reference.to_string()))?;
                Ok(StoredManifest { digest, media_type, content: Bytes::from(content) })
            })
            .await
    }

    /// Deletes a tag (when `reference` is a tag) or a manifest with every tag pointing at it
    /// (when it is a digest). Blobs stay for garbage collection to judge.
    ///
    /// # Errors
    /// [`Error::NameUnknown`] or [`Error::ManifestUnknown`] when absent.
    pub async fn delete_manifest(&self, repo: &RepoName, reference: &Reference) -> Result<()> {
        let (r, reference) = (repo.clone(), reference.clone());
        self.db
            .write(move |tx| {
                let repo_id = find_repository(tx, &r)?.ok_or_else(|| Error::NameUnknown(r.clone()))?;
                let deleted = match &reference {
                    Reference::Tag(t) => {
                        tx.execute("DELETE FROM tags WHERE repository_id = ?1 AND name = ?2", (repo_id, t.as_str()))?
                    }
                    // Tags and reference rows go with it by ON DELETE CASCADE.
                    Reference::Digest(d) => tx.execute(
                        "DELETE FROM manifests WHERE repository_id = ?1 AND digest = ?2",
                        (repo_id, d.to_string()),
                    )?,
                };
                if deleted == 0 { Err(Error::ManifestUnknown(reference.to_string())) } else { Ok(()) }
            })
            .await
    }
}

/// Refuses a manifest whose blobs (or, when required, child manifests) the repository lacks,
/// or whose descriptors give a size other than that of the blob or child manifest stored here.
fn check_references(tx: &Transaction<'_>, repo_id: i64, m: &manifest::Manifest, complete_indexes: bool) -> Result<()> {
    let mut blob_size = tx.prepare_cached(
        "SELECT b.size FROM repository_blobs rb JOIN blobs b ON b.digest = rb.digest
          WHERE rb.repository_id = ?1 AND rb.digest = ?2",
    )?;
    for d in m.blobs.iter().filter(|d| !d.foreign) {
        let size: Option<i64> = blob_size.query_row((repo_id, d.digest.to_string()), |r| r.get(0)).optional()?;
        let size = size.ok_or_else(|| Error::ManifestBlobUnknown(d.digest.clone()))?;
        check_size(d, size)?;
    }
    if m.kind == Kind::Index {
        let mut child_size =
            tx.prepare_cached("SELECT length(content) FROM manifests WHERE repository_id = ?1 AND digest = ?2")?;
        for d in &m.children {
            let size: Option<i64> = child_size.query_row((repo_id, d.digest.to_string()), |r| r.get(0)).optional()?;
            match size {
                Some(size) => check_size(d, size)?,
                None if complete_indexes => return Err(Error::ManifestBlobUnknown(d.digest.clone())),
                None => {}
            }
        }
    }
    Ok(())
}

fn check_size(d: &manifest::Descriptor, stored: i64) -> Result<()> {
    let actual = u64::try_from(stored).unwrap_or_default();
    if d.size == actual {
        return Ok(());
    }
    Err(manifest::Error::SizeMismatch { digest: d.digest.clone(), declared: d.size, actual }.into())
}

/// Inserts the manifest and its reference rows (idempotent: a re-push of the same digest keeps
/// the first row) and refreshes `last_seen` of what it references. Returns the manifest id.
fn insert_manifest(
    tx: &Transaction<'_>,
    repo_id: i64,
    digest: &Digest,
    m: &manifest::Manifest,
    content: &[u8],
) -> Result<i64> {
    let digest = digest.to_string();
    let existing: Option<i64> = tx
        .query_row("SELECT id FROM manifests WHERE repository_id = ?1 AND digest = ?2", (repo_id, &digest), |r| {
            r.get(0)
        })
        .optional()?;
    if let Some(id) = existing {
        return Ok(id);
    }
    let t = now();
    tx.execute(
        "INSERT INTO manifests (repository_id, digest, media_type, artifact_type, subject, content, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        (repo_id, &digest, &m.media_type, &m.artifact_type, m.subject.as_ref().map(ToString::to_string), content, t),
    )?;
    let id = tx.last_insert_rowid();
    let mut blob_ref =
        tx.prepare_cached("INSERT INTO manifest_blobs (manifest_id, digest) VALUES (?1, ?2) ON CONFLICT DO NOTHING")?;
    let mut touch = tx.prepare_cached("UPDATE blobs SET last_seen = ?1 WHERE digest = ?2")?;
    for d in m.blobs.iter().filter(|d| !d.foreign) {
        blob_ref.execute((id, d.digest.to_string()))?;
        touch.execute((t, d.digest.to_string()))?;
    }
    let mut child_ref = tx.prepare_cached(
        "INSERT INTO manifest_children (manifest_id, child_digest) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
    )?;
    for d in &m.children {
        child_ref.execute((id, d.digest.to_string()))?;
    }
    Ok(id)
}
