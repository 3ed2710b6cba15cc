//! Where blob bytes live: the [`BlobStore`] traits and their filesystem implementation.
//!
//! Layout under the blob root (`--quayStorage`, default `<quayRoot>/quay-storage`):
//!
//! ```text
//! blobs/sha256/ab/ab12…ef      complete, verified blobs, named by digest
//! blobs/sha512/cd/cd34…01
//! uploads/<uuid>               bytes of an upload session in progress
//! trash/<alg>-<hex>            blobs being collected (see below)
//! quarantine/<alg>-<hex>       blobs `fsck --repair` found corrupt
//! ```
//!
//! A file appears under `blobs/` only by an atomic rename of a fsynced upload file (invariant 1);
//! nothing else in the crate builds these paths.
//!
//! [`BlobPlacement`] is synchronous on purpose: its calls run inside SQLite write transactions,
//! whose lock is held across processes (`serve` and `mirror-registry gc`), so that placing a
//! blob and collecting one are serialized with their row changes. Collection moves the file to
//! `trash/` inside the transaction and deletes it after the commit; a crash in between leaves a
//! trash file whose row may still exist, which [`BlobPlacement::trash_entries`] lets the next
//! start put back. [`super::s3::S3BlobStore`] is the other implementation; the contract tests at
//! the bottom run against both.

use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};

use super::permissions::{create_dir, create_file};
use crate::reference::{Digest, UploadId};

/// A readable upload body.
pub type BlobReader = Pin<Box<dyn AsyncRead + Send>>;
/// A blob's bytes as a stream of chunks (served to clients without another copy).
pub type BlobStream = Pin<Box<dyn Stream<Item = io::Result<Bytes>> + Send>>;

/// Size of the chunks a blob is read in.
const READ_CHUNK: u64 = 1 << 20;
/// An append-only writer into an upload.
pub type UploadWriter = Pin<Box<dyn AsyncWrite + Send>>;

/// Reading and removing complete blobs.
#[async_trait]
pub trait BlobContent: Send + Sync {
    /// Size of a stored blob, or `None` when absent.
    async fn stat(&self, digest: &Digest) -> io::Result<Option<u64>>;
    /// The `len` bytes starting at `offset`.
    async fn open(&self, digest: &Digest, offset: u64, len: u64) -> io::Result<BlobStream>;
    /// Removes a blob; absent is not an error.
    async fn delete(&self, digest: &Digest) -> io::Result<()>;
    /// A URL the client may fetch the blob from directly (a presigned object-store URL), when
    /// the backend is configured to redirect pulls.
    async fn redirect(&self, _digest: &Digest) -> io::Result<Option<String>> {
        Ok(None)
    }
    /// Checks that the backend answers (at start-up, so a wrong endpoint fails fast).
    async fn probe(&self) -> io::Result<()> {
        Ok(())
    }
}

/// The area where upload sessions accumulate bytes before becoming blobs.
#[async_trait]
pub trait UploadArea: Send + Sync {
    /// Creates an empty upload.
    async fn create_upload(&self, id: &UploadId) -> io::Result<()>;
    /// Current size of an upload, or `None` when it does not exist.
    async fn upload_size(&self, id: &UploadId) -> io::Result<Option<u64>>;
    /// An appending writer; the caller flushes and shuts it down.
    async fn append_upload(&self, id: &UploadId) -> io::Result<UploadWriter>;
    /// A reader of the upload's bytes from the start (to hash it again after a restart), once
    /// synced: an object store has the bytes as one object only then.
    async fn read_upload(&self, id: &UploadId) -> io::Result<BlobReader>;
    /// Makes the upload's bytes durable (fsync) and complete (the multipart upload of an object
    /// store), before they are hashed again or placed. No appends follow.
    async fn sync_upload(&self, id: &UploadId) -> io::Result<()>;
    /// Removes an upload; absent is not an error.
    async fn delete_upload(&self, id: &UploadId) -> io::Result<()>;
    /// Every upload with the time (Unix seconds) its bytes last changed.
    async fn list_uploads(&self) -> io::Result<Vec<(UploadId, i64)>>;
    /// Bytes that can still be written to uploads, or `None` when the backend cannot tell.
    async fn free_space(&self) -> io::Result<Option<u64>>;
}

#[allow(clippy::missing_errors_doc)] // each method fails only with the backend's I/O error
/// Moves between uploads, blobs and the trash: blocking calls, made under the database write lock.
pub trait BlobPlacement: Send + Sync {
    /// Atomically makes the (synced) upload the blob `digest`. Content-addressed: replacing an
    /// existing blob replaces identical bytes.
    fn place_upload(&self, id: &UploadId, digest: &Digest) -> io::Result<()>;
    /// Moves a blob to the trash; false when it was not there.
    fn trash_blob(&self, digest: &Digest) -> io::Result<bool>;
    /// Blobs in the trash (left by a crash between trashing and emptying).
    fn trash_entries(&self) -> io::Result<Vec<Digest>>;
    /// Puts a trashed blob back.
    fn restore_blob(&self, digest: &Digest) -> io::Result<()>;
    /// Deletes a trashed blob for good.
    fn purge_blob(&self, digest: &Digest) -> io::Result<()>;
    /// Moves a blob aside as corrupt (kept for inspection, never served).
    fn quarantine_blob(&self, digest: &Digest) -> io::Result<()>;
}

#[allow(clippy::missing_errors_doc)] // each method fails only with the backend's I/O error
/// What `fsck` needs to audit the stored files. Blocking, like [`BlobPlacement`].
pub trait BlobAudit: Send + Sync {
    /// Every file under `blobs/`, whatever its name.
    fn blob_files(&self) -> io::Result<Vec<PathBuf>>;
    /// The digest a blob file's location stands for, if it is a well-formed blob location.
    fn digest_at(&self, location: &Path) -> Option<Digest>;
    /// Where the blob's file is (the inverse of [`BlobAudit::digest_at`]).
    fn location_of(&self, digest: &Digest) -> PathBuf;
    /// Whether the blob's file exists.
    fn contains_blob(&self, digest: &Digest) -> bool;
    /// Deletes a file found under `blobs/` that no row owns.
    fn remove_stray(&self, location: &Path) -> io::Result<()>;
}

/// A complete blob backend.
pub trait BlobStore: BlobContent + UploadArea + BlobPlacement + BlobAudit {}
impl<T: BlobContent + UploadArea + BlobPlacement + BlobAudit> BlobStore for T {}

/// Blobs and uploads in a local directory.
pub struct FsBlobStore {
    root: PathBuf,
}

impl FsBlobStore {
    /// Uses (and creates, owner-only) `root/blobs`, `root/uploads` and `root/trash`.
    ///
    /// # Errors
    /// When the directories cannot be created.
    pub fn open(root: &Path) -> io::Result<FsBlobStore> {
        for dir in ["blobs", "uploads", "trash"] {
            create_dir(&root.join(dir))?;
        }
        Ok(FsBlobStore { root: root.to_path_buf() })
    }

    /// Path of a complete blob.
    #[must_use]
    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        let hex = digest.hex();
        self.root.join("blobs").join(digest.algorithm().name()).join(&hex[..2]).join(hex)
    }

    /// The blob root (for walking the tree in `fsck`).
    #[must_use]
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn aside_path(&self, dir: &str, digest: &Digest) -> PathBuf {
        self.root.join(dir).join(format!("{}-{}", digest.algorithm().name(), digest.hex()))
    }

    /// Path of an upload's bytes.
    #[must_use]
    pub fn upload_path(&self, id: &UploadId) -> PathBuf {
        self.root.join("uploads").join(id.as_str())
    }
}

fn not_found_is_none<T>(r: io::Result<T>) -> io::Result<Option<T>> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

#[async_trait]
impl BlobContent for FsBlobStore {
    async fn stat(&self, digest: &Digest) -> io::Result<Option<u64>> {
        Ok(not_found_is_none(tokio::fs::metadata(self.blob_path(digest)).await)?.map(|m| m.len()))
    }

    async fn open(&self, digest: &Digest, offset: u64, len: u64) -> io::Result<BlobStream> {
        let path = self.blob_path(digest);
        let file = Arc::new(tokio::task::spawn_blocking(move || std::fs::File::open(path)).await??);
        // Positioned reads of 1 MiB, each a short blocking task, two in flight: read-ahead
        // without tying a blocking thread to a slow client.
        let end = offset + len;
        let chunks = (offset..end).step_by(usize::try_from(READ_CHUNK).unwrap_or(usize::MAX));
        let stream = futures_util::stream::iter(chunks)
            .map(move |pos| {
                let file = file.clone();
                async move {
                    let n = usize::try_from(READ_CHUNK.min(end - pos)).unwrap_or(0);
                    // Recycled buffers (see `buffers`), taken on a runtime worker, not in the
                    // blocking thread: glibc gives each thread its own arena, and buffers freed
                    // into many arenas were the bulk of the server's peak memory in large pulls.
                    let mut buf = super::buffers::take(n);
                    tokio::task::spawn_blocking(move || {
                        use std::os::unix::fs::FileExt;
                        file.read_exact_at(&mut buf, pos)?;
                        Ok(super::buffers::into_bytes(buf))
                    })
                    .await?
                }
            })
            .buffered(2);
        Ok(Box::pin(stream))
    }

    async fn delete(&self, digest: &Digest) -> io::Result<()> {
        not_found_is_none(tokio::fs::remove_file(self.blob_path(digest)).await).map(drop)
    }
}

#[async_trait]
impl UploadArea for FsBlobStore {
    async fn create_upload(&self, id: &UploadId) -> io::Result<()> {
        let path = self.upload_path(id);
        tokio::task::spawn_blocking(move || create_file().write(true).create_new(true).open(path).map(drop)).await?
    }

    async fn upload_size(&self, id: &UploadId) -> io::Result<Option<u64>> {
        Ok(not_found_is_none(tokio::fs::metadata(self.upload_path(id)).await)?.map(|m| m.len()))
    }

    async fn append_upload(&self, id: &UploadId) -> io::Result<UploadWriter> {
        let file = tokio::fs::OpenOptions::new().append(true).open(self.upload_path(id)).await?;
        // Large writes keep the number of blocking-pool round trips low on multi-GiB layers.
        Ok(Box::pin(tokio::io::BufWriter::with_capacity(1 << 20, file)))
    }

    async fn read_upload(&self, id: &UploadId) -> io::Result<BlobReader> {
        Ok(Box::pin(tokio::fs::File::open(self.upload_path(id)).await?))
    }

    async fn sync_upload(&self, id: &UploadId) -> io::Result<()> {
        let path = self.upload_path(id);
        tokio::task::spawn_blocking(move || std::fs::File::open(path)?.sync_all()).await?
    }

    async fn delete_upload(&self, id: &UploadId) -> io::Result<()> {
        not_found_is_none(tokio::fs::remove_file(self.upload_path(id)).await).map(drop)
    }

    async fn list_uploads(&self) -> io::Result<Vec<(UploadId, i64)>> {
        let dir = self.root.join("uploads");
        tokio::task::spawn_blocking(move || {
            let mut out = Vec::new();
            for entry in std::fs::read_dir(dir)? {
                let entry = entry?;
                let Some(id) = entry.file_name().to_str().and_then(|n| n.parse::<UploadId>().ok()) else { continue };
                // An upload that completes meanwhile is renamed away: skip it.
                let modified = match entry.metadata().and_then(|m| m.modified()) {
                    Ok(m) => m,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(e),
                };
                let secs = modified
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
                out.push((id, secs));
            }
            Ok(out)
        })
        .await?
    }

    async fn free_space(&self) -> io::Result<Option<u64>> {
        let dir = self.root.join("uploads");
        tokio::task::spawn_blocking(move || super::reserve::free_space(&dir).map(Some)).await?
    }
}

impl BlobPlacement for FsBlobStore {
    fn place_upload(&self, id: &UploadId, digest: &Digest) -> io::Result<()> {
        let to = self.blob_path(digest);
        if let Some(parent) = to.parent() {
            create_dir(parent)?;
        }
        std::fs::rename(self.upload_path(id), to)
    }

    fn trash_blob(&self, digest: &Digest) -> io::Result<bool> {
        Ok(not_found_is_none(std::fs::rename(self.blob_path(digest), self.aside_path("trash", digest)))?.is_some())
    }

    fn trash_entries(&self) -> io::Result<Vec<Digest>> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(self.root.join("trash"))? {
            let name = entry?.file_name();
            let parsed = name
                .to_str()
                .and_then(|n| n.split_once('-'))
                .and_then(|(alg, hex)| format!("{alg}:{hex}").parse().ok());
            out.extend(parsed);
        }
        Ok(out)
    }

    fn restore_blob(&self, digest: &Digest) -> io::Result<()> {
        let to = self.blob_path(digest);
        if let Some(parent) = to.parent() {
            create_dir(parent)?;
        }
        std::fs::rename(self.aside_path("trash", digest), to)
    }

    fn purge_blob(&self, digest: &Digest) -> io::Result<()> {
        not_found_is_none(std::fs::remove_file(self.aside_path("trash", digest))).map(drop)
    }

    fn quarantine_blob(&self, digest: &Digest) -> io::Result<()> {
        create_dir(&self.root.join("quarantine"))?;
        not_found_is_none(std::fs::rename(self.blob_path(digest), self.aside_path("quarantine", digest))).map(drop)
    }
}

impl BlobAudit for FsBlobStore {
    fn blob_files(&self) -> io::Result<Vec<PathBuf>> {
        let mut out = Vec::new();
        let mut stack = vec![self.root.join("blobs")];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir)? {
                let entry = entry?;
                if entry.file_type()?.is_dir() {
                    stack.push(entry.path());
                } else {
                    out.push(entry.path());
                }
            }
        }
        out.sort();
        Ok(out)
    }

    fn digest_at(&self, location: &Path) -> Option<Digest> {
        let digest: Digest = {
            let hex = location.file_name()?.to_str()?;
            let alg = location.parent()?.parent()?.file_name()?.to_str()?;
            format!("{alg}:{hex}").parse().ok()?
        };
        (self.blob_path(&digest) == location).then_some(digest)
    }

    fn location_of(&self, digest: &Digest) -> PathBuf {
        self.blob_path(digest)
    }

    fn contains_blob(&self, digest: &Digest) -> bool {
        self.blob_path(digest).is_file()
    }

    fn remove_stray(&self, location: &Path) -> io::Result<()> {
        if !location.starts_with(self.root.join("blobs")) {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "not under blobs/"));
        }
        not_found_is_none(std::fs::remove_file(location)).map(drop)
    }
}

/// The contract every [`BlobStore`] must meet, run by each implementation's tests.
#[cfg(test)]
pub(crate) mod contract {
    use super::*;
    use crate::reference::Algorithm;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn write_all(store: &dyn BlobStore, id: &UploadId, data: &[u8]) {
        let mut w = store.append_upload(id).await.expect("append");
        w.write_all(data).await.expect("write");
        w.shutdown().await.expect("shutdown");
    }

    async fn collect(mut s: BlobStream) -> Vec<u8> {
        let mut out = Vec::new();
        while let Some(chunk) = s.next().await {
            out.extend_from_slice(&chunk.expect("chunk"));
        }
        out
    }

    async fn read_all(mut r: BlobReader) -> Vec<u8> {
        let mut out = Vec::new();
        r.read_to_end(&mut out).await.expect("read");
        out
    }

    /// Uploads appended in pieces become a blob readable from any offset, and nothing is
    /// visible as a blob before the commit.
    pub async fn upload_then_commit(store: &dyn BlobStore) {
        let id = UploadId::generate();
        let digest = Digest::of(Algorithm::Sha256, b"hello world");
        store.create_upload(&id).await.expect("create");
        assert_eq!(store.upload_size(&id).await.expect("size"), Some(0));
        write_all(store, &id, b"hello ").await;
        write_all(store, &id, b"world").await;
        assert_eq!(store.upload_size(&id).await.expect("size"), Some(11));
        assert_eq!(store.stat(&digest).await.expect("stat"), None, "blob visible before commit");
        store.sync_upload(&id).await.expect("sync");
        assert_eq!(read_all(store.read_upload(&id).await.expect("read upload")).await, b"hello world");
        store.place_upload(&id, &digest).expect("place");
        assert_eq!(store.upload_size(&id).await.expect("size"), None, "upload remains after commit");
        assert_eq!(store.stat(&digest).await.expect("stat"), Some(11));
        assert_eq!(collect(store.open(&digest, 6, 5).await.expect("open")).await, b"world");
        assert_eq!(collect(store.open(&digest, 0, 11).await.expect("open")).await, b"hello world");
        assert_eq!(collect(store.open(&digest, 3, 2).await.expect("open")).await, b"lo");
        assert!(store.contains_blob(&digest));
        let files = store.blob_files().expect("list");
        assert_eq!(files.iter().filter_map(|f| store.digest_at(f)).collect::<Vec<_>>(), vec![digest.clone()]);
        assert_eq!(files, [store.location_of(&digest)], "location_of names the listed file");
        store.delete(&digest).await.expect("delete");
        store.delete(&digest).await.expect("deleting twice is fine");
        assert_eq!(store.stat(&digest).await.expect("stat"), None);
    }

    /// Trashed blobs disappear from view, can be restored, and purge for good.
    pub async fn trash_restore_purge(store: &dyn BlobStore) {
        let id = UploadId::generate();
        let digest = Digest::of(Algorithm::Sha256, b"trash me");
        store.create_upload(&id).await.expect("create");
        write_all(store, &id, b"trash me").await;
        store.sync_upload(&id).await.expect("sync");
        store.place_upload(&id, &digest).expect("place");
        assert!(store.trash_blob(&digest).expect("trash"));
        assert!(!store.trash_blob(&digest).expect("trash again"), "nothing left to trash");
        assert_eq!(store.stat(&digest).await.expect("stat"), None, "a trashed blob is not served");
        assert_eq!(store.trash_entries().expect("list"), vec![digest.clone()]);
        store.restore_blob(&digest).expect("restore");
        assert_eq!(store.stat(&digest).await.expect("stat"), Some(8));
        assert!(store.trash_blob(&digest).expect("trash"));
        store.purge_blob(&digest).expect("purge");
        assert!(store.trash_entries().expect("list").is_empty());
    }

    /// Cancelled uploads leave nothing behind, and unknown uploads are reported absent.
    pub async fn cancel_upload(store: &dyn BlobStore) {
        let id = UploadId::generate();
        assert_eq!(store.upload_size(&id).await.expect("size"), None);
        store.create_upload(&id).await.expect("create");
        assert!(store.create_upload(&id).await.is_err(), "an upload id is never reused");
        write_all(store, &id, b"abc").await;
        assert!(store.list_uploads().await.expect("list").iter().any(|(u, _)| *u == id), "listed");
        store.delete_upload(&id).await.expect("delete");
        assert_eq!(store.upload_size(&id).await.expect("size"), None);
        store.delete_upload(&id).await.expect("deleting twice is fine");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_canonical_blob_locations_have_digests() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = FsBlobStore::open(dir.path()).expect("open");
        let hex = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        let blobs = dir.path().join("blobs/sha256");
        assert!(store.digest_at(&blobs.join("e3").join(hex)).is_some());
        assert_eq!(store.digest_at(&blobs.join("aa").join(hex)), None, "wrong prefix directory");
        assert_eq!(store.digest_at(&blobs.join("e3/junk")), None);
        assert!(store.remove_stray(&dir.path().join("uploads/x")).is_err(), "only files under blobs/");
    }

    #[tokio::test]
    async fn filesystem_store_meets_the_contract() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = FsBlobStore::open(dir.path()).expect("open");
        contract::upload_then_commit(&store).await;
        contract::cancel_upload(&store).await;
        contract::trash_restore_purge(&store).await;
    }
}
