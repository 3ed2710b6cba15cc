//! Complete blobs as a repository sees them: stat, read, mount from another repository, unlink.
//!
//! A blob is served by a repository only when linked to it (uploaded, mounted or referenced
//! there), so that access rights per repository also hold for blobs.

use super::blobs::BlobStream;
use super::sql::{Conn, params};
use super::{Error, Result, Store, ensure_repository, now};
use crate::reference::{Digest, RepoName};

/// A blob opened for reading, possibly a byte range of it.
pub struct OpenBlob {
    /// Size of the whole blob.
    pub size: u64,
    /// First and last byte served (inclusive), when a range was asked for.
    pub range: Option<(u64, u64)>,
    /// The bytes served.
    pub body: BlobStream,
}

/// Why a requested byte range cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum RangeError {
    /// The range lies outside the blob.
    #[error("range not satisfiable for a blob of {size} bytes")]
    NotSatisfiable {
        /// Size of the blob.
        size: u64,
    },
    /// Any store error.
    #[error(transparent)]
    Store(#[from] Error),
}

impl Store {
    /// Size of a blob in `repo`. With `touch`, refreshes its `last_seen` (a HEAD before a push
    /// means a client is about to reference it, so GC must keep it through the grace period).
    ///
    /// # Errors
    /// [`Error::BlobUnknown`] when the repository does not hold it.
    pub async fn stat_blob(&self, repo: &RepoName, digest: &Digest, touch: bool) -> Result<u64> {
        let (r, d) = (repo.clone(), digest.to_string());
        let size = self
            .db
            .read(move |c| {
                Ok::<_, Error>(c.query_value::<i64>(
                    "SELECT b.size FROM repository_blobs rb
                       JOIN repositories r ON r.id = rb.repository_id
                       JOIN blobs b ON b.digest = rb.digest
                      WHERE r.name = ?1 AND rb.digest = ?2",
                    params![r.as_str(), d.as_str()],
                )?)
            })
            .await?
            .ok_or_else(|| Error::BlobUnknown(digest.clone()))?;
        if touch {
            let d = digest.to_string();
            self.db
                .write(move |tx| {
                    tx.execute("UPDATE blobs SET last_seen = ?1 WHERE digest = ?2", params![now(), &d])?;
                    Ok::<_, Error>(())
                })
                .await?;
        }
        Ok(u64::try_from(size).unwrap_or_default())
    }

    /// Opens a blob of `repo`, or the inclusive byte range `range` of it (an open end reads to
    /// the end of the blob).
    ///
    /// # Errors
    /// [`Error::BlobUnknown`] when absent; [`RangeError::NotSatisfiable`] for a range outside it.
    pub async fn open_blob(
        &self,
        repo: &RepoName,
        digest: &Digest,
        range: Option<(u64, Option<u64>)>,
    ) -> Result<OpenBlob, RangeError> {
        let size = self.stat_blob(repo, digest, false).await?;
        let range = match range {
            None => None,
            Some((start, end)) => {
                let end = end.unwrap_or(size.saturating_sub(1)).min(size.saturating_sub(1));
                if start >= size || start > end {
                    return Err(RangeError::NotSatisfiable { size });
                }
                Some((start, end))
            }
        };
        let (offset, len) = range.map_or((0, size), |(start, end)| (start, end - start + 1));
        let body = match self.blobs.open(digest, offset, len).await {
            Ok(r) => r,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                // The row says it exists but the file is gone: report it missing and leave the
                // repair to `fsck` rather than failing the request with a 500.
                tracing::error!(%digest, "blob row without its file; run `mirror-registry fsck`");
                return Err(Error::BlobUnknown(digest.clone()).into());
            }
            Err(e) => return Err(Error::Io(e).into()),
        };
        Ok(OpenBlob { size, range, body })
    }

    /// Where a client may fetch a blob of `repo` directly, when the backend redirects pulls.
    ///
    /// # Errors
    /// [`Error::BlobUnknown`] when the repository does not hold it.
    pub async fn blob_redirect(&self, repo: &RepoName, digest: &Digest) -> Result<Option<String>> {
        if self.redirects_pulls() {
            self.stat_blob(repo, digest, false).await?;
            Ok(self.blobs.redirect(digest).await?)
        } else {
            Ok(None)
        }
    }

    /// Unlinks a blob from `repo`. The bytes stay until garbage collection finds them
    /// unreferenced everywhere.
    ///
    /// # Errors
    /// [`Error::BlobUnknown`] when the repository does not hold it.
    pub async fn delete_blob(&self, repo: &RepoName, digest: &Digest) -> Result<()> {
        let (r, d) = (repo.clone(), digest.to_string());
        let deleted = self
            .db
            .write(move |tx| {
                Ok::<_, Error>(tx.execute(
                    "DELETE FROM repository_blobs
                      WHERE digest = ?2 AND repository_id = (SELECT id FROM repositories WHERE name = ?1)",
                    params![r.as_str(), d.as_str()],
                )?)
            })
            .await?;
        if deleted == 0 { Err(Error::BlobUnknown(digest.clone())) } else { Ok(()) }
    }

    /// Links a blob held by `from` into `repo` (cross-repository mount). Returns false when
    /// `from` does not hold it; the caller then starts an ordinary upload.
    ///
    /// # Errors
    /// Database failures.
    pub async fn mount_blob(&self, repo: &RepoName, digest: &Digest, from: &RepoName) -> Result<bool> {
        let (r, d, f) = (repo.clone(), digest.to_string(), from.clone());
        self.db
            .write(move |tx| {
                let held = tx.exists(
                    "SELECT 1 FROM repository_blobs rb JOIN repositories r ON r.id = rb.repository_id
                      WHERE r.name = ?1 AND rb.digest = ?2",
                    params![f.as_str(), d.as_str()],
                )?;
                if !held {
                    return Ok(false);
                }
                link_blob(tx, &r, &d)?;
                Ok(true)
            })
            .await
    }
}

/// Links an existing blob row into a repository and refreshes its `last_seen`.
pub(super) fn link_blob(tx: &dyn Conn, repo: &RepoName, digest: &str) -> Result<()> {
    let repo_id = ensure_repository(tx, repo)?;
    tx.execute(
        "INSERT INTO repository_blobs (repository_id, digest) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
        params![repo_id, digest],
    )?;
    tx.execute("UPDATE blobs SET last_seen = ?1 WHERE digest = ?2", params![now(), digest])?;
    Ok(())
}
