//! Manifests: stored byte-for-byte, committed in one transaction with their references and
//! tags after checking that the blobs they reference are in the repository, with the sizes
//! their descriptors give (invariant 2).

use bytes::Bytes;

use super::sql::{Conn, params};
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
                        params![repo_id, tag.as_str(), manifest_id, t],
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
                    Reference::Tag(t) => c.query_opt(
                        "SELECT m.digest, m.media_type, m.content FROM tags t JOIN manifests m ON m.id = t.manifest_id
                          WHERE t.repository_id = ?1 AND t.name = ?2",
                        params![repo_id, t.as_str()],
                    ),
                    Reference::Digest(d) => c.query_opt(
                        "SELECT digest, media_type, content FROM manifests WHERE repository_id = ?1 AND digest = ?2",
                        params![repo_id, &d.to_string()],
                    ),
                }?;
                let mut row = row.ok_or_else(|| Error::ManifestUnknown(reference.to_string()))?;
                let (digest, media_type, content): (String, String, Vec<u8>) = (row.get(0)?, row.get(1)?, row.get(2)?);
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
                    Reference::Tag(t) => tx.execute(
                        "DELETE FROM tags WHERE repository_id = ?1 AND name = ?2",
                        params![repo_id, t.as_str()],
                    )?,
                    // Tags and reference rows go with it by ON DELETE CASCADE.
                    Reference::Digest(d) => tx.execute(
                        "DELETE FROM manifests WHERE repository_id = ?1 AND digest = ?2",
                        params![repo_id, &d.to_string()],
                    )?,
                };
                if deleted == 0 { Err(Error::ManifestUnknown(reference.to_string())) } else { Ok(()) }
            })
            .await
    }
}

/// Refuses a manifest whose blobs (or, when required, child manifests) the repository lacks,
/// or whose descriptors give a size other than that of the blob or child manifest stored here.
fn check_references(tx: &dyn Conn, repo_id: i64, m: &manifest::Manifest, complete_indexes: bool) -> Result<()> {
    for d in m.blobs.iter().filter(|d| !d.foreign) {
        let size: Option<i64> = tx.query_value(
            "SELECT b.size FROM repository_blobs rb JOIN blobs b ON b.digest = rb.digest
              WHERE rb.repository_id = ?1 AND rb.digest = ?2",
            params![repo_id, &d.digest.to_string()],
        )?;
        let size = size.ok_or_else(|| Error::ManifestBlobUnknown(d.digest.clone()))?;
        check_size(d, size)?;
    }
    if m.kind == Kind::Index {
        for d in &m.children {
            // `length` of a BLOB (SQLite) or BYTEA (PostgreSQL) counts bytes on both.
            let size: Option<i64> = tx.query_value(
                "SELECT length(content) FROM manifests WHERE repository_id = ?1 AND digest = ?2",
                params![repo_id, &d.digest.to_string()],
            )?;
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
    tx: &dyn Conn,
    repo_id: i64,
    digest: &Digest,
    m: &manifest::Manifest,
    content: &[u8],
) -> Result<i64> {
    let digest = digest.to_string();
    let existing: Option<i64> =
        tx.query_value("SELECT id FROM manifests WHERE repository_id = ?1 AND digest = ?2", params![repo_id, &digest])?;
    if let Some(id) = existing {
        return Ok(id);
    }
    let t = now();
    let subject = m.subject.as_ref().map(ToString::to_string);
    let id: i64 = tx
        .query_row(
            "INSERT INTO manifests (repository_id, digest, media_type, artifact_type, subject, content, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) RETURNING id",
            params![repo_id, &digest, &m.media_type, m.artifact_type.as_deref(), subject.as_deref(), content, t],
        )?
        .get(0)?;
    for d in m.blobs.iter().filter(|d| !d.foreign) {
        let digest = d.digest.to_string();
        tx.execute(
            "INSERT INTO manifest_blobs (manifest_id, digest) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
            params![id, &digest],
        )?;
        tx.execute("UPDATE blobs SET last_seen = ?1 WHERE digest = ?2", params![t, &digest])?;
    }
    for d in &m.children {
        tx.execute(
            "INSERT INTO manifest_children (manifest_id, child_digest) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
            params![id, &d.digest.to_string()],
        )?;
    }
    Ok(id)
}
