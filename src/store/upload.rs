//! Upload sessions: bytes stream into `uploads/<id>` while being hashed; on completion the digest
//! is checked, the file fsynced and renamed into place, and only then is the blob row committed
//! (invariant 1). A crash at any point leaves no visible blob, at worst an orphan upload file.

use std::sync::Arc;

use futures_util::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::blob::link_blob;
use super::sql::params;
use super::{ByteStream, Error, Result, Store, now};
use crate::reference::{Algorithm, Digest, Hasher, RepoName, UploadId};

/// Upload data is checked against `limits.min_free_bytes` again after this many bytes: one
/// `statvfs` per 8 MiB, and concurrent uploads overshoot the limit by at most that much each.
const SPACE_CHECK_BYTES: u64 = 8 << 20;

/// Sessions this process keeps state for before it forgets those that ended elsewhere.
pub(super) const PRUNE_SESSIONS_ABOVE: usize = 1024;

/// What this process knows of an upload session between requests.
pub struct Session {
    repo: RepoName,
    /// Bytes received so far.
    size: u64,
    /// Running SHA-256 of those bytes, when it covers all of them (not after a restart or a
    /// failed write; the file is then hashed again at commit).
    hasher: Option<Hasher>,
}

/// Where a chunk says it belongs (`Content-Range: start-end`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkRange {
    /// First byte offset.
    pub start: u64,
    /// Last byte offset, inclusive.
    pub end: u64,
}

impl Store {
    /// Starts an upload session in `repo`.
    ///
    /// # Errors
    /// Filesystem or database failures.
    pub async fn start_upload(&self, repo: &RepoName) -> Result<UploadId> {
        self.check_space().await?;
        let id = UploadId::generate();
        self.blobs.create_upload(&id).await?;
        let (i, r) = (id.to_string(), repo.to_string());
        self.db
            .write(move |tx| {
                tx.execute(
                    "INSERT INTO uploads (id, repository, started_at) VALUES (?1, ?2, ?3)",
                    params![&i, &r, now()],
                )?;
                Ok::<_, Error>(())
            })
            .await?;
        let session = Session { repo: repo.clone(), size: 0, hasher: Some(Algorithm::Sha256.hasher()) };
        let held = {
            let mut sessions = self.sessions_lock();
            sessions.insert(id.clone(), Arc::new(tokio::sync::Mutex::new(session)));
            sessions.len()
        };
        if held >= self.prune_sessions_at.load(std::sync::atomic::Ordering::Relaxed) {
            self.forget_ended_sessions().await?;
        }
        Ok(id)
    }

    /// Drops the state of sessions that ended without this process seeing it: finished or
    /// cancelled on another replica, or expired by GC. Run when the map has doubled since the
    /// last pruning, so its cost stays proportional to the uploads started.
    async fn forget_ended_sessions(&self) -> Result<()> {
        let live: std::collections::HashSet<String> = self
            .db
            .read(|c| {
                Ok::<_, Error>(c.query_column::<String>("SELECT id FROM uploads", params![])?.into_iter().collect())
            })
            .await?;
        let held = {
            let mut sessions = self.sessions_lock();
            sessions.retain(|id, _| live.contains(id.as_str()));
            sessions.len()
        };
        self.prune_sessions_at.store((held * 2).max(PRUNE_SESSIONS_ABOVE), std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }

    /// Bytes received so far by an upload session.
    ///
    /// # Errors
    /// [`Error::UploadUnknown`] when there is no such session in `repo`.
    pub async fn upload_size(&self, repo: &RepoName, id: &UploadId) -> Result<u64> {
        let session = self.session(repo, id).await?;
        let size = session.lock().await.size;
        Ok(size)
    }

    /// Appends a chunk to an upload session and returns the new size. `range`, when given,
    /// must start where the upload ends.
    ///
    /// # Errors
    /// [`Error::UploadUnknown`], [`Error::ChunkOutOfOrder`], [`Error::TooLarge`], body and
    /// storage failures.
    pub async fn append_upload(
        &self,
        repo: &RepoName,
        id: &UploadId,
        range: Option<ChunkRange>,
        body: ByteStream,
    ) -> Result<u64> {
        let session = self.session(repo, id).await?;
        let mut session = session.lock().await;
        let appended = self.append_locked(id, &mut session, range, body).await;
        self.discard_if_out_of_space(id, appended).await?;
        Ok(session.size)
    }

    /// Appends the final chunk (if any), verifies the content against `digest` and makes it a
    /// blob of `repo`. On a digest mismatch the session is discarded.
    ///
    /// # Errors
    /// As [`Store::append_upload`], plus [`Error::DigestMismatch`].
    pub async fn commit_upload(
        &self,
        repo: &RepoName,
        id: &UploadId,
        digest: &Digest,
        range: Option<ChunkRange>,
        body: ByteStream,
    ) -> Result<()> {
        let session = self.session(repo, id).await?;
        let mut session = session.lock().await;
        let appended = self.append_locked(id, &mut session, range, body).await;
        self.discard_if_out_of_space(id, appended).await?;
        let hasher = session.hasher.take().filter(|h| h.algorithm() == digest.algorithm());
        let result = self.finish_blob(repo, id, digest, session.size, hasher).await;
        // Whatever the outcome the session is over: committed, or discarded as corrupt.
        if result.is_err() {
            self.blobs.delete_upload(id).await?;
        }
        self.end_session(id).await?;
        result
    }

    /// Stores a whole blob sent in one request (`POST ?digest=`), without a session row.
    ///
    /// # Errors
    /// [`Error::DigestMismatch`], [`Error::TooLarge`], body and storage failures.
    pub async fn put_blob(&self, repo: &RepoName, digest: &Digest, body: ByteStream) -> Result<()> {
        let id = UploadId::generate();
        self.blobs.create_upload(&id).await?;
        let mut session = Session { repo: repo.clone(), size: 0, hasher: Some(digest.algorithm().hasher()) };
        let mut result = self.append_locked(&id, &mut session, None, body).await;
        if result.is_ok() {
            result = self.finish_blob(repo, &id, digest, session.size, session.hasher.take()).await;
        }
        if result.is_err() {
            self.blobs.delete_upload(&id).await?;
        }
        result
    }

    /// Abandons an upload session and deletes its bytes.
    ///
    /// # Errors
    /// [`Error::UploadUnknown`] and storage failures.
    pub async fn cancel_upload(&self, repo: &RepoName, id: &UploadId) -> Result<()> {
        let session = self.session(repo, id).await?;
        let _guard = session.lock().await;
        self.blobs.delete_upload(id).await?;
        self.end_session(id).await
    }

    /// Ends a session that ran out of space at once, data and row: left to expire, it would
    /// hold that space for a day, and a full disk stops deletes and GC (issue #12).
    async fn discard_if_out_of_space(&self, id: &UploadId, appended: Result<()>) -> Result<()> {
        if let Err(Error::UploadSpace { .. }) = appended {
            self.blobs.delete_upload(id).await?;
            self.end_session(id).await?;
        }
        appended
    }

    /// Refuses upload data while the blob filesystem has less than `limits.min_free_bytes` free.
    async fn check_space(&self) -> Result<()> {
        let keep = self.policy.min_free_bytes;
        if keep == 0 {
            return Ok(());
        }
        match self.blobs.free_space().await? {
            Some(free) if free < keep => Err(Error::UploadSpace { free, keep }),
            _ => Ok(()),
        }
    }

    /// Forgets a session: its row and its in-memory state.
    pub(super) async fn end_session(&self, id: &UploadId) -> Result<()> {
        let i = id.to_string();
        self.db
            .write(move |tx| {
                tx.execute("DELETE FROM uploads WHERE id = ?1", params![&i])?;
                Ok::<_, Error>(())
            })
            .await?;
        self.sessions_lock().remove(id);
        Ok(())
    }

    pub(super) fn sessions_lock(
        &self,
    ) -> std::sync::MutexGuard<'_, std::collections::HashMap<UploadId, Arc<tokio::sync::Mutex<Session>>>> {
        self.sessions.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The session for `id`, rebuilt from the database and the upload file when this process
    /// has not seen it (after a restart).
    async fn session(&self, repo: &RepoName, id: &UploadId) -> Result<Arc<tokio::sync::Mutex<Session>>> {
        let known = self.sessions_lock().get(id).cloned();
        let session = if let Some(s) = known {
            self.refresh(id, &s).await?;
            s
        } else {
            let i = id.to_string();
            let owner: Option<String> = self
                .db
                .read(move |c| {
                    Ok::<_, Error>(c.query_value("SELECT repository FROM uploads WHERE id = ?1", params![&i])?)
                })
                .await?;
            let owner = owner.ok_or_else(|| Error::UploadUnknown(id.clone()))?;
            let size = self.blobs.upload_size(id).await?.ok_or_else(|| Error::UploadUnknown(id.clone()))?;
            let owner = owner.parse().map_err(|_| Error::UploadUnknown(id.clone()))?;
            let fresh = Arc::new(tokio::sync::Mutex::new(Session { repo: owner, size, hasher: None }));
            self.sessions_lock().entry(id.clone()).or_insert(fresh).clone()
        };
        if session.lock().await.repo != *repo {
            return Err(Error::UploadUnknown(id.clone()));
        }
        Ok(session)
    }

    /// Brings a session this process knows up to date with the stored bytes: with several
    /// replicas, the client's previous request may have appended elsewhere (or ended the
    /// session). The running hash then no longer covers the bytes and is dropped; the commit
    /// hashes the stored upload instead.
    async fn refresh(&self, id: &UploadId, session: &tokio::sync::Mutex<Session>) -> Result<()> {
        let mut session = session.lock().await;
        let Some(stored) = self.blobs.upload_size(id).await? else {
            self.sessions_lock().remove(id);
            return Err(Error::UploadUnknown(id.clone()));
        };
        if stored != session.size {
            session.size = stored;
            session.hasher = None;
        }
        Ok(())
    }

    /// Streams `body` onto the end of the upload, hashing as it goes.
    async fn append_locked(
        &self,
        id: &UploadId,
        session: &mut Session,
        range: Option<ChunkRange>,
        mut body: ByteStream,
    ) -> Result<()> {
        if let Some(r) = range
            && (r.start != session.size || r.end < r.start)
        {
            return Err(Error::ChunkOutOfOrder { start: r.start, size: session.size });
        }
        let limit = self.policy.max_blob_bytes;
        self.check_space().await?;
        let mut writer = self.blobs.append_upload(id).await?;
        let mut written = 0u64;
        let mut unchecked = 0u64;
        let outcome: Result<()> = async {
            while let Some(chunk) = body.next().await {
                let chunk = chunk?;
                let len = chunk.len() as u64;
                if limit > 0 && session.size + written + len > limit {
                    return Err(Error::TooLarge { limit });
                }
                unchecked += len;
                if unchecked >= SPACE_CHECK_BYTES {
                    unchecked = 0;
                    self.check_space().await?;
                }
                writer.write_all(&chunk).await?;
                if let Some(h) = session.hasher.as_mut() {
                    h.update(&chunk);
                }
                written += len;
            }
            Ok(())
        }
        .await;
        let flushed = writer.shutdown().await;
        // The file is the truth: if a write failed part-way, re-read its size and drop the running
        // hash so the commit hashes the file again.
        if outcome.is_err() || flushed.is_err() {
            session.size = self.blobs.upload_size(id).await?.unwrap_or(0);
            session.hasher = None;
        } else {
            session.size += written;
        }
        // A write that hit a full disk is the same refusal as the free-space check's.
        let full = Error::UploadSpace { free: 0, keep: self.policy.min_free_bytes };
        match (outcome, flushed) {
            (Err(Error::StorageFull), _) => Err(full),
            (Err(e), _) => Err(e),
            (Ok(()), Err(e)) if super::is_out_of_space(&e) => Err(full),
            (Ok(()), Err(e)) => Err(e.into()),
            (Ok(()), Ok(())) => Ok(()),
        }
    }

    /// Verifies the upload against `digest`, moves it into place and commits the blob row.
    async fn finish_blob(
        &self,
        repo: &RepoName,
        id: &UploadId,
        digest: &Digest,
        size: u64,
        hasher: Option<Hasher>,
    ) -> Result<()> {
        self.blobs.sync_upload(id).await?;
        // Without a running hash (the chunks arrived at another replica, or before a restart)
        // the complete upload is read back: every digest accepted is verified (invariant 6).
        let (actual, size) = match hasher {
            Some(h) if h.algorithm() == digest.algorithm() => (h.finish(), size),
            // The size read back is the truth, whatever the session believed.
            _ => self.hash_upload(id, digest.algorithm()).await?,
        };
        if actual != *digest {
            return Err(Error::DigestMismatch { expected: digest.clone(), actual });
        }
        let d = digest.to_string();
        self.db
            .write(move |tx| {
                tx.execute(
                    "INSERT INTO blob_placements (digest, created_at) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
                    params![&d, now()],
                )?;
                Ok::<_, Error>(())
            })
            .await?;
        let (r, d, i, digest) = (repo.clone(), digest.to_string(), id.clone(), digest.clone());
        let size = i64::try_from(size).unwrap_or(i64::MAX);
        let blobs = self.blobs.clone();
        self.db
            .write(move |tx| {
                // Placed under the write lock, so that a collection of the same digest (which
                // trashes the file under the same lock) cannot interleave between the rename and
                // the row. The placement row committed above lets recovery remove the file if the
                // process dies before this commit.
                blobs.place_upload(&i, &digest)?;
                let t = now();
                tx.execute(
                    "INSERT INTO blobs (digest, size, created_at, last_seen) VALUES (?1, ?2, ?3, ?3)
                     ON CONFLICT(digest) DO UPDATE SET last_seen = excluded.last_seen",
                    params![d.as_str(), size, t],
                )?;
                tx.execute("DELETE FROM blob_placements WHERE digest = ?1", params![d.as_str()])?;
                link_blob(tx, &r, &d)
            })
            .await
    }

    /// The digest and size of the stored upload, read back whole.
    async fn hash_upload(&self, id: &UploadId, algorithm: Algorithm) -> Result<(Digest, u64)> {
        let mut reader = self.blobs.read_upload(id).await?;
        let mut hasher = algorithm.hasher();
        let mut buf = vec![0u8; 1 << 20];
        let mut size = 0u64;
        loop {
            let n = reader.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            size += n as u64;
        }
        Ok((hasher.finish(), size))
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::config::{Config, Storage};

    fn body(data: &'static [u8]) -> ByteStream {
        Box::pin(futures_util::stream::iter([Ok(Bytes::from_static(data))]))
    }

    /// Issue #12: a session whose data was refused for lack of space held that space until it
    /// expired a day later. Here a session started with room to spare gets its next chunk after
    /// the limit is crossed (a second store on the same files stands in for the full disk): the
    /// chunk is refused, and the session and its bytes are gone at once.
    #[tokio::test]
    async fn a_session_refused_for_space_ends_at_once_with_its_data() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = Config { storage: Storage::under(dir.path()), ..Config::default() };
        config.limits.min_free_bytes = 0;
        let roomy = Store::open(&config).expect("store");
        config.limits.min_free_bytes = u64::MAX;
        let full = Store::open(&config).expect("store");
        let repo: RepoName = "r".parse().expect("repo");
        let id = roomy.start_upload(&repo).await.expect("start");
        assert_eq!(roomy.append_upload(&repo, &id, None, body(b"first")).await.expect("append"), 5);
        let refused = full.append_upload(&repo, &id, None, body(b"second")).await;
        assert!(matches!(refused, Err(Error::UploadSpace { keep: u64::MAX, .. })), "{refused:?}");
        assert_eq!(full.blobs.upload_size(&id).await.expect("size"), None, "the bytes are gone");
        assert!(matches!(full.upload_size(&repo, &id).await, Err(Error::UploadUnknown(_))), "the session is over");
        let d = Digest::of(Algorithm::Sha256, b"firstsecond");
        let commit = full.commit_upload(&repo, &id, &d, None, body(b"")).await;
        assert!(matches!(commit, Err(Error::UploadUnknown(_))), "{commit:?}");
    }

    /// A session cancelled on another replica leaves its state here until the map is pruned;
    /// pruning keeps the sessions still open.
    #[tokio::test]
    async fn sessions_ended_elsewhere_are_forgotten_when_the_map_grows() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = Config { storage: Storage::under(dir.path()), ..Config::default() };
        config.limits.min_free_bytes = 0;
        let (here, elsewhere) = (Store::open(&config).expect("store"), Store::open(&config).expect("store"));
        let repo: RepoName = "r".parse().expect("repo");
        let ended = here.start_upload(&repo).await.expect("start");
        elsewhere.cancel_upload(&repo, &ended).await.expect("cancel on the other replica");
        assert!(here.sessions_lock().contains_key(&ended), "not yet forgotten");
        here.prune_sessions_at.store(2, std::sync::atomic::Ordering::Relaxed);
        let open = here.start_upload(&repo).await.expect("start");
        let held: Vec<UploadId> = here.sessions_lock().keys().cloned().collect();
        assert_eq!(held, [open], "the ended session is forgotten, the open one kept");
        assert_eq!(here.prune_sessions_at.load(std::sync::atomic::Ordering::Relaxed), PRUNE_SESSIONS_ABOVE);
    }
}
