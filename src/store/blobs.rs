//! Where blob bytes live: the [`BlobStore`] traits and their filesystem implementation.
//!
//! Layout under the blob root (`--quayStorage`, default `<quayRoot>/quay-storage`):
//!
//! ```text
//! blobs/sha256/ab/ab12…ef      complete, verified blobs, named by digest
//! blobs/sha512/cd/cd34…01
//! uploads/<uuid>               bytes of an upload session in progress
//! ```
//!
//! A file appears under `blobs/` only by an atomic rename of a fsynced upload file (invariant 1);
//! nothing else in the crate builds these paths. The traits keep the door open for an
//! S3-compatible backend; the contract tests at the bottom run against every implementation.

use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;

use async_trait::async_trait;
use tokio::io::{AsyncRead, AsyncSeekExt, AsyncWrite};

use crate::reference::{Digest, UploadId};

/// A readable blob body.
pub type BlobReader = Pin<Box<dyn AsyncRead + Send>>;
/// An append-only writer into an upload.
pub type UploadWriter = Pin<Box<dyn AsyncWrite + Send>>;

/// Reading and removing complete blobs.
#[async_trait]
pub trait BlobContent: Send + Sync {
    /// Size of a stored blob, or `None` when absent.
    async fn stat(&self, digest: &Digest) -> io::Result<Option<u64>>;
    /// A reader positioned at `offset`.
    async fn open(&self, digest: &Digest, offset: u64) -> io::Result<BlobReader>;
    /// Removes a blob; absent is not an error.
    async fn delete(&self, digest: &Digest) -> io::Result<()>;
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
    /// A reader of the upload's bytes from the start (to hash it again after a restart).
    async fn read_upload(&self, id: &UploadId) -> io::Result<BlobReader>;
    /// Makes the upload durable and moves it to be the blob `digest`, atomically.
    async fn commit_upload(&self, id: &UploadId, digest: &Digest) -> io::Result<()>;
    /// Removes an upload; absent is not an error.
    async fn delete_upload(&self, id: &UploadId) -> io::Result<()>;
}

/// A complete blob backend.
pub trait BlobStore: BlobContent + UploadArea {}
impl<T: BlobContent + UploadArea> BlobStore for T {}

/// Blobs and uploads in a local directory.
pub struct FsBlobStore {
    root: PathBuf,
}

impl FsBlobStore {
    /// Uses (and creates) `root/blobs` and `root/uploads`.
    ///
    /// # Errors
    /// When the directories cannot be created.
    pub fn open(root: &Path) -> io::Result<FsBlobStore> {
        std::fs::create_dir_all(root.join("blobs"))?;
        std::fs::create_dir_all(root.join("uploads"))?;
        Ok(FsBlobStore { root: root.to_path_buf() })
    }

    /// Path of a complete blob.
    #[must_use]
    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        let hex = digest.hex();
        self.root.join("blobs").join(digest.algorithm().name()).join(&hex[..2]).join(hex)
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

    async fn open(&self, digest: &Digest, offset: u64) -> io::Result<BlobReader> {
        let mut file = tokio::fs::File::open(self.blob_path(digest)).await?;
        if offset > 0 {
            file.seek(io::SeekFrom::Start(offset)).await?;
        }
        Ok(Box::pin(file))
    }

    async fn delete(&self, digest: &Digest) -> io::Result<()> {
        not_found_is_none(tokio::fs::remove_file(self.blob_path(digest)).await).map(drop)
    }
}

#[async_trait]
impl UploadArea for FsBlobStore {
    async fn create_upload(&self, id: &UploadId) -> io::Result<()> {
        tokio::fs::OpenOptions::new().write(true).create_new(true).open(self.upload_path(id)).await.map(drop)
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

    async fn commit_upload(&self, id: &UploadId, digest: &Digest) -> io::Result<()> {
        let from = self.upload_path(id);
        let to = self.blob_path(digest);
        tokio::task::spawn_blocking(move || {
            // fsync before rename: after a crash the blob is either absent or whole.
            std::fs::File::open(&from)?.sync_all()?;
            if let Some(parent) = to.parent() {
                std::fs::create_dir_all(parent)?;
            }
            // Content-addressed: if the blob already exists, the rename replaces it with
            // identical bytes, atomically.
            std::fs::rename(&from, &to)
        })
        .await?
    }

    async fn delete_upload(&self, id: &UploadId) -> io::Result<()> {
        not_found_is_none(tokio::fs::remove_file(self.upload_path(id)).await).map(drop)
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
        assert_eq!(read_all(store.read_upload(&id).await.expect("read upload")).await, b"hello world");
        store.commit_upload(&id, &digest).await.expect("commit");
        assert_eq!(store.upload_size(&id).await.expect("size"), None, "upload remains after commit");
        assert_eq!(store.stat(&digest).await.expect("stat"), Some(11));
        assert_eq!(read_all(store.open(&digest, 6).await.expect("open")).await, b"world");
        store.delete(&digest).await.expect("delete");
        store.delete(&digest).await.expect("deleting twice is fine");
        assert_eq!(store.stat(&digest).await.expect("stat"), None);
    }

    /// Cancelled uploads leave nothing behind, and unknown uploads are reported absent.
    pub async fn cancel_upload(store: &dyn BlobStore) {
        let id = UploadId::generate();
        assert_eq!(store.upload_size(&id).await.expect("size"), None);
        store.create_upload(&id).await.expect("create");
        assert!(store.create_upload(&id).await.is_err(), "an upload id is never reused");
        write_all(store, &id, b"abc").await;
        store.delete_upload(&id).await.expect("delete");
        assert_eq!(store.upload_size(&id).await.expect("size"), None);
        store.delete_upload(&id).await.expect("deleting twice is fine");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn filesystem_store_meets_the_contract() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = FsBlobStore::open(dir.path()).expect("open");
        contract::upload_then_commit(&store).await;
        contract::cancel_upload(&store).await;
    }
}
