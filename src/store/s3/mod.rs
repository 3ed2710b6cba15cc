//! Blobs in an S3-compatible object store (Garage, MinIO, Ceph RGW, AWS S3), so that several
//! `serve` replicas share one blob store (issue #14).
//!
//! Keys under the bucket (and `storage.s3.prefix`) mirror the filesystem layout of
//! [`super::blobs::FsBlobStore`]:
//!
//! ```text
//! blobs/sha256/ab/ab12…ef          complete, verified blobs
//! uploads/<uuid>/state             an upload session's progress (JSON, see `upload`)
//! uploads/<uuid>/tail-<n>          its bytes not yet in a multipart part
//! uploads/<uuid>/data              its multipart object, complete once sealed
//! trash/<alg>-<hex>                blobs being collected
//! quarantine/<alg>-<hex>           blobs `fsck --repair` found corrupt
//! ```
//!
//! Object stores have no rename: placing an upload, trashing and restoring are a server-side
//! copy then a delete (Garage copies by reference, without moving the bytes). An upload's state
//! lives in the bucket, not in one process, so a PATCH that lands on another replica continues
//! the same session.
//!
//! The synchronous [`BlobPlacement`] and [`BlobAudit`] calls run under the metadata write lock,
//! on tokio's blocking pool; they wait for the object store through [`wait`].

#[cfg(test)]
mod tests;
mod upload;

use std::io;
use std::path::{Path as FsPath, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures_util::TryStreamExt;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path;
use object_store::signer::Signer;
use object_store::{GetOptions, GetRange, ObjectStore, ObjectStoreExt, PutPayload, RetryConfig};
use serde::Deserialize;

use super::blobs::{BlobAudit, BlobContent, BlobPlacement, BlobReader, BlobStream, UploadArea, UploadWriter};
use crate::config::S3 as S3Config;
use crate::reference::{Digest, UploadId};

/// Blobs and uploads in one bucket of an S3-compatible store. Cheap to clone.
#[derive(Clone)]
pub struct S3BlobStore {
    s3: Arc<AmazonS3>,
    /// Prefix of every key, empty or ending in `/`.
    prefix: String,
    /// Validity of presigned blob URLs, when blob GETs are redirected.
    redirect: Option<Duration>,
}

/// `storage.s3.credentials_file`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Credentials {
    access_key_id: String,
    secret_access_key: String,
}

impl Credentials {
    fn load(config: &S3Config) -> io::Result<Credentials> {
        if let Some(file) = &config.credentials_file {
            let text = std::fs::read_to_string(file).map_err(|e| {
                io::Error::new(e.kind(), format!("storage.s3.credentials_file {}: {e}", file.display()))
            })?;
            warn_if_readable_by_others(file);
            return serde_yaml::from_str(&text).map_err(|e| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("storage.s3.credentials_file {}: {e}", file.display()),
                )
            });
        }
        match (std::env::var("AWS_ACCESS_KEY_ID"), std::env::var("AWS_SECRET_ACCESS_KEY")) {
            (Ok(access_key_id), Ok(secret_access_key)) => Ok(Credentials { access_key_id, secret_access_key }),
            _ => Err(io::Error::new(
                io::ErrorKind::NotFound,
                "no S3 credentials: set storage.s3.credentials_file or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
            )),
        }
    }
}

fn warn_if_readable_by_others(file: &FsPath) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = std::fs::metadata(file)
        && meta.permissions().mode() & 0o077 != 0
    {
        tracing::warn!(file = %file.display(), "the S3 credentials file is readable by others; chmod 600 it");
    }
}

impl S3BlobStore {
    /// A client of the bucket `config` names; nothing is sent until the first call
    /// ([`BlobContent::probe`] checks that the bucket answers).
    ///
    /// # Errors
    /// Missing credentials or a malformed endpoint.
    pub fn open(config: &S3Config) -> io::Result<S3BlobStore> {
        let credentials = Credentials::load(config)?;
        let s3 = AmazonS3Builder::new()
            .with_endpoint(&config.endpoint)
            .with_allow_http(config.endpoint.starts_with("http://"))
            .with_bucket_name(&config.bucket)
            .with_region(&config.region)
            .with_virtual_hosted_style_request(!config.path_style)
            .with_access_key_id(credentials.access_key_id)
            .with_secret_access_key(credentials.secret_access_key)
            // A node of a distributed store going down shows up as a few failed requests while
            // the others take over: retry them rather than fail the client's push or pull.
            .with_retry(RetryConfig { max_retries: 5, retry_timeout: Duration::from_mins(1), ..RetryConfig::default() })
            .build()
            .map_err(to_io)?;
        let prefix = config.prefix.trim_matches('/');
        Ok(S3BlobStore {
            s3: Arc::new(s3),
            prefix: if prefix.is_empty() { String::new() } else { format!("{prefix}/") },
            redirect: config.redirect.then_some(config.redirect_ttl.0),
        })
    }

    fn key(&self, relative: &str) -> Path {
        Path::from(format!("{}{relative}", self.prefix))
    }

    fn blob_key(&self, digest: &Digest) -> Path {
        let hex = digest.hex();
        self.key(&format!("blobs/{}/{}/{hex}", digest.algorithm().name(), &hex[..2]))
    }

    fn aside_key(&self, dir: &str, digest: &Digest) -> Path {
        self.key(&format!("{dir}/{}-{}", digest.algorithm().name(), digest.hex()))
    }

    /// The key relative to the prefix (what `fsck` reports as a location).
    fn relative<'a>(&self, key: &'a Path) -> &'a str {
        key.as_ref().strip_prefix(&self.prefix).unwrap_or(key.as_ref())
    }

    /// Copies then deletes; false when `from` does not exist.
    async fn move_object(&self, from: &Path, to: &Path) -> io::Result<bool> {
        match self.s3.copy(from, to).await {
            Ok(()) => {}
            Err(object_store::Error::NotFound { .. }) => return Ok(false),
            Err(e) => return Err(to_io(e)),
        }
        self.delete_key(from).await?;
        Ok(true)
    }

    async fn delete_key(&self, key: &Path) -> io::Result<()> {
        match self.s3.delete(key).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(to_io(e)),
        }
    }

    async fn list_keys(&self, dir: &str) -> io::Result<Vec<object_store::ObjectMeta>> {
        self.s3.list(Some(&self.key(dir))).try_collect().await.map_err(to_io)
    }
}

/// Runs `f` to completion from synchronous code on a runtime thread or the blocking pool.
///
/// On a multi-thread runtime `block_in_place` frees the worker meanwhile; on a current-thread
/// runtime this must be called from the blocking pool (where [`super::Db`] runs its
/// transactions), as the runtime's own thread drives the I/O being waited for.
fn wait<F: Future>(f: F) -> F::Output {
    let handle = tokio::runtime::Handle::current();
    match handle.runtime_flavor() {
        tokio::runtime::RuntimeFlavor::CurrentThread => handle.block_on(f),
        _ => tokio::task::block_in_place(|| handle.block_on(f)),
    }
}

fn to_io_kind(e: &object_store::Error) -> io::ErrorKind {
    match e {
        object_store::Error::NotFound { .. } => io::ErrorKind::NotFound,
        object_store::Error::AlreadyExists { .. } | object_store::Error::Precondition { .. } => {
            io::ErrorKind::AlreadyExists
        }
        object_store::Error::PermissionDenied { .. } | object_store::Error::Unauthenticated { .. } => {
            io::ErrorKind::PermissionDenied
        }
        _ => io::ErrorKind::Other,
    }
}

/// The object store's errors as I/O errors, the currency of the blob traits. The message names
/// the key and the store's answer, never a credential.
#[allow(clippy::needless_pass_by_value)] // by value, to fit `map_err(to_io)`
fn to_io(e: object_store::Error) -> io::Error {
    io::Error::new(to_io_kind(&e), format!("S3: {e}"))
}

#[async_trait]
impl BlobContent for S3BlobStore {
    async fn stat(&self, digest: &Digest) -> io::Result<Option<u64>> {
        match self.s3.head(&self.blob_key(digest)).await {
            Ok(meta) => Ok(Some(meta.size)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(to_io(e)),
        }
    }

    async fn open(&self, digest: &Digest, offset: u64, len: u64) -> io::Result<BlobStream> {
        if len == 0 {
            return Ok(Box::pin(futures_util::stream::empty()));
        }
        let options = GetOptions { range: Some(GetRange::Bounded(offset..offset + len)), ..GetOptions::default() };
        let result = self.s3.get_opts(&self.blob_key(digest), options).await.map_err(to_io)?;
        Ok(Box::pin(result.into_stream().map_err(to_io)))
    }

    async fn delete(&self, digest: &Digest) -> io::Result<()> {
        self.delete_key(&self.blob_key(digest)).await
    }

    async fn probe(&self) -> io::Result<()> {
        self.s3
            .list_with_delimiter(Some(&self.key("uploads")))
            .await
            .map(drop)
            .map_err(|e| io::Error::new(to_io_kind(&e), format!("S3 bucket {}: {e}", self.s3)))
    }

    async fn redirect(&self, digest: &Digest) -> io::Result<Option<String>> {
        let Some(ttl) = self.redirect else { return Ok(None) };
        let url = self.s3.signed_url(axum::http::Method::GET, &self.blob_key(digest), ttl).await.map_err(to_io)?;
        Ok(Some(url.to_string()))
    }
}

#[async_trait]
impl UploadArea for S3BlobStore {
    async fn create_upload(&self, id: &UploadId) -> io::Result<()> {
        upload::create(self, id).await
    }

    async fn upload_size(&self, id: &UploadId) -> io::Result<Option<u64>> {
        Ok(upload::State::load(self, id).await?.map(|s| s.size()))
    }

    async fn append_upload(&self, id: &UploadId) -> io::Result<UploadWriter> {
        upload::append(self, id).await
    }

    async fn read_upload(&self, id: &UploadId) -> io::Result<BlobReader> {
        let state = upload::State::load(self, id).await?.ok_or(io::ErrorKind::NotFound)?;
        if !state.sealed {
            return Err(io::Error::other("an S3 upload is readable only once synced"));
        }
        let result = self.s3.get(&state.object(self, id)).await.map_err(to_io)?;
        Ok(Box::pin(tokio_util::io::StreamReader::new(result.into_stream().map_err(to_io))))
    }

    async fn sync_upload(&self, id: &UploadId) -> io::Result<()> {
        upload::seal(self, id).await
    }

    async fn delete_upload(&self, id: &UploadId) -> io::Result<()> {
        upload::delete(self, id).await
    }

    async fn list_uploads(&self) -> io::Result<Vec<(UploadId, i64)>> {
        let mut out = Vec::new();
        for meta in self.list_keys("uploads").await? {
            let mut parts = self.relative(&meta.location).split('/').skip(1);
            if let (Some(id), Some("state"), None) = (parts.next(), parts.next(), parts.next())
                && let Ok(id) = id.parse::<UploadId>()
            {
                out.push((id, meta.last_modified.timestamp()));
            }
        }
        Ok(out)
    }

    async fn free_space(&self) -> io::Result<Option<u64>> {
        // An object store has no free-space figure to read; its own quotas answer with errors.
        Ok(None)
    }
}

impl BlobPlacement for S3BlobStore {
    fn place_upload(&self, id: &UploadId, digest: &Digest) -> io::Result<()> {
        wait(async {
            let state = upload::State::load(self, id).await?.ok_or(io::ErrorKind::NotFound)?;
            if !state.sealed {
                return Err(io::Error::other("an S3 upload must be synced before it is placed"));
            }
            self.s3.copy(&state.object(self, id), &self.blob_key(digest)).await.map_err(to_io)?;
            upload::delete_objects(self, id).await
        })
    }

    fn trash_blob(&self, digest: &Digest) -> io::Result<bool> {
        wait(self.move_object(&self.blob_key(digest), &self.aside_key("trash", digest)))
    }

    fn trash_entries(&self) -> io::Result<Vec<Digest>> {
        let listed = wait(self.list_keys("trash"))?;
        Ok(listed
            .iter()
            .filter_map(|meta| {
                let name = self.relative(&meta.location).strip_prefix("trash/")?;
                let (alg, hex) = name.split_once('-')?;
                format!("{alg}:{hex}").parse().ok()
            })
            .collect())
    }

    fn restore_blob(&self, digest: &Digest) -> io::Result<()> {
        if wait(self.move_object(&self.aside_key("trash", digest), &self.blob_key(digest)))? {
            Ok(())
        } else {
            Err(io::ErrorKind::NotFound.into())
        }
    }

    fn purge_blob(&self, digest: &Digest) -> io::Result<()> {
        wait(self.delete_key(&self.aside_key("trash", digest)))
    }

    fn quarantine_blob(&self, digest: &Digest) -> io::Result<()> {
        wait(self.move_object(&self.blob_key(digest), &self.aside_key("quarantine", digest))).map(drop)
    }
}

impl BlobAudit for S3BlobStore {
    fn blob_files(&self) -> io::Result<Vec<PathBuf>> {
        let listed = wait(self.list_keys("blobs"))?;
        let mut out: Vec<PathBuf> = listed.iter().map(|m| PathBuf::from(self.relative(&m.location))).collect();
        out.sort();
        Ok(out)
    }

    fn digest_at(&self, location: &FsPath) -> Option<Digest> {
        let mut parts = location.to_str()?.split('/');
        let (Some("blobs"), Some(alg), Some(_), Some(hex), None) =
            (parts.next(), parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return None;
        };
        let digest: Digest = format!("{alg}:{hex}").parse().ok()?;
        (self.location_of(&digest) == location).then_some(digest)
    }

    fn location_of(&self, digest: &Digest) -> PathBuf {
        PathBuf::from(self.relative(&self.blob_key(digest)))
    }

    fn contains_blob(&self, digest: &Digest) -> bool {
        wait(self.stat(digest)).is_ok_and(|s| s.is_some())
    }

    fn remove_stray(&self, location: &FsPath) -> io::Result<()> {
        let relative = location.to_str().filter(|l| l.starts_with("blobs/") && !l.contains(".."));
        let Some(relative) = relative else {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "not under blobs/"));
        };
        wait(self.delete_key(&self.key(relative)))
    }
}

/// A payload of owned bytes (what a part upload and a state write send).
fn payload(bytes: impl Into<bytes::Bytes>) -> PutPayload {
    PutPayload::from_bytes(bytes.into())
}
