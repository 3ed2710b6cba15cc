//! The registry's storage: metadata in SQLite or PostgreSQL, bytes in a [`BlobStore`], behind
//! one API.
//!
//! Owns invariants 1 to 4 of ARCHITECTURE.md. Callers (`registry/`, `serve`, `operate`) pass
//! validated types from [`crate::reference`] and get typed results or a [`Error`]; this module
//! never sees an HTTP type, and nothing outside it runs SQL or builds a storage path.
//!
//! - [`blob`]: reading, linking (mount) and unlinking complete blobs
//! - [`upload`]: upload sessions, streamed and hashed on the fly, committed after verification
//! - [`manifests`]: manifests with their references and tags, one transaction each
//! - [`listing`]: tags, catalog and referrers
//! - [`browse`]: what the web console shows (counts, sizes, times, what a delete frees)
//! - [`gc`]: garbage collection and retention, the run and its transactions
//! - [`migrate`]: `migrate-storage`, a whole registry copied into another store, verified
//! - [`permissions`]: owner-only modes for everything the store creates
//! - [`reserve`]: room kept for the database, so deletes and GC work on a full disk
//! - [`blobs`] and [`s3`]: where blob bytes live, a local directory or an S3-compatible store
//! - [`db`], [`sql`]: the metadata database handle and the one SQL interface both databases
//!   implement

pub mod blob;
pub mod blobs;
pub mod browse;
pub mod buffers;
#[cfg(test)]
mod contract_tests;
pub mod db;
#[cfg(test)]
pub(crate) mod fixture;
pub mod fsck;
pub mod gc;
pub mod listing;
pub mod manifests;
pub mod migrate;
pub mod permissions;
pub mod reserve;
pub mod s3;
pub mod sql;
pub mod stats;
pub mod upload;

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures_util::Stream;

use crate::config::{BlobBackend, Config};
use crate::reference::{Digest, RepoName, UploadId};
pub use blobs::{BlobStore, FsBlobStore};
pub use db::Db;
pub use s3::S3BlobStore;
use sql::Conn;

/// A request or response body as a stream of chunks.
pub type ByteStream = Pin<Box<dyn Stream<Item = Result<Bytes, BodyError>> + Send>>;

/// The client's body stream failed (disconnect, malformed chunking).
#[derive(Debug, thiserror::Error)]
#[error("request body: {0}")]
pub struct BodyError(pub String);

/// Everything that can go wrong in the store. `registry::error` maps each variant to one OCI
/// error code and status.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The repository has no such blob.
    #[error("blob {0} is not in this repository")]
    BlobUnknown(Digest),
    /// No upload session with that id in this repository.
    #[error("upload session {0} does not exist")]
    UploadUnknown(UploadId),
    /// Content does not hash to the digest the client named.
    #[error("digest {expected} does not match the content (sha is {actual})")]
    DigestMismatch {
        /// The digest the client named.
        expected: Digest,
        /// The digest of what it sent.
        actual: Digest,
    },
    /// A chunk does not start where the upload ends.
    #[error("chunk starts at {start} but the upload holds {size} bytes")]
    ChunkOutOfOrder {
        /// Where the chunk said it starts.
        start: u64,
        /// Bytes held so far.
        size: u64,
    },
    /// A blob or manifest exceeds the configured limit.
    #[error("content exceeds the limit of {limit} bytes")]
    TooLarge {
        /// The limit in bytes.
        limit: u64,
    },
    /// The repository does not exist.
    #[error("repository {0} is not known")]
    NameUnknown(RepoName),
    /// No such manifest (tag or digest) in the repository.
    #[error("manifest {0} is not in this repository")]
    ManifestUnknown(String),
    /// The manifest is malformed.
    #[error(transparent)]
    ManifestInvalid(#[from] crate::manifest::Error),
    /// The manifest references a blob or child manifest the repository does not hold.
    #[error("manifest references {0}, which is not in this repository")]
    ManifestBlobUnknown(Digest),
    /// The client's body stream failed.
    #[error(transparent)]
    Body(#[from] BodyError),
    /// Upload data refused or failed for lack of space; the upload's data is already discarded.
    #[error(
        "not enough free space on the registry for upload data ({free} bytes free, {keep} kept free); \
         the upload was discarded: delete images and run `mirror-registry gc`, then push again"
    )]
    UploadSpace {
        /// Free bytes on the blob filesystem when refused (0 when a write hit a full disk).
        free: u64,
        /// Bytes the registry keeps free (`limits.min_free_bytes`).
        keep: u64,
    },
    /// The disk is full (the database's, or the blob store's outside an upload).
    #[error("the registry's storage is full: delete images and run `mirror-registry gc`, then try again")]
    StorageFull,
    /// Filesystem failure.
    #[error("storage I/O: {0}")]
    Io(std::io::Error),
    /// Database failure (SQLite or PostgreSQL).
    #[error("database: {0}")]
    Database(sql::Error),
    /// A blocking task panicked or was cancelled.
    #[error("background task: {0}")]
    Join(#[from] tokio::task::JoinError),
}

/// Whether an I/O error means the disk (or the user's quota) is full.
#[must_use]
pub fn is_out_of_space(e: &std::io::Error) -> bool {
    matches!(e.kind(), std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded)
}

// By hand rather than `#[from]`: a full disk is its own error, answered with a clear 507.
impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Error {
        if is_out_of_space(&e) { Error::StorageFull } else { Error::Io(e) }
    }
}

impl From<sql::Error> for Error {
    fn from(e: sql::Error) -> Error {
        if e.is_disk_full() { Error::StorageFull } else { Error::Database(e) }
    }
}

/// Result alias for the store.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A count or size read from an `INTEGER` column (an `i64`; never negative in our tables).
fn to_u64(n: i64) -> u64 {
    u64::try_from(n).unwrap_or_default()
}

/// Seconds since the Unix epoch, the unit of every timestamp column.
#[must_use]
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// The storage API. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    db: Db,
    blobs: Arc<dyn BlobStore>,
    /// Blob GETs are answered with a redirect to the object store (`storage.s3.redirect`).
    redirect_pulls: bool,
    policy: Policy,
    /// Hash state of upload sessions this process has seen, so that chunked uploads are
    /// hashed once, as the bytes arrive. After a restart the state is rebuilt by re-reading.
    sessions: Arc<Mutex<HashMap<UploadId, Arc<tokio::sync::Mutex<upload::Session>>>>>,
    /// Size of `sessions` at which ended sessions are next forgotten (see `upload`).
    prune_sessions_at: Arc<std::sync::atomic::AtomicUsize>,
}

/// Acceptance rules taken from the config.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    /// Largest manifest accepted.
    pub max_manifest_bytes: u64,
    /// Largest blob accepted; 0 for no limit.
    pub max_blob_bytes: u64,
    /// Refuse indexes with absent children.
    pub require_complete_indexes: bool,
    /// Refuse upload data below this much free space on the blob filesystem; 0 for no check.
    pub min_free_bytes: u64,
}

impl Store {
    /// Opens the database (applying migrations) and the blob store named by `config`: PostgreSQL
    /// when `database.url` is set, else the SQLite file `storage.database`; the S3 store when
    /// `storage.backend` is `s3`, else the directory `storage.blobs`. An object store is not
    /// contacted here: [`Store::probe_blobs`] does that.
    ///
    /// # Errors
    /// When either cannot be opened or created.
    pub fn open(config: &Config) -> Result<Store> {
        let db = match &config.database.url {
            Some(url) => {
                let password = config.database.password().map_err(|e| sql::Error::Open(e.to_string()))?;
                let connector = sql::postgres::Connector::new(
                    url.as_str(),
                    password.as_ref().map(crate::accounts::Secret::expose),
                    config.database.ca_file.as_deref(),
                )?;
                Db::open_postgres(connector)?
            }
            None => Db::open(&config.storage.database)?,
        };
        let blobs: Arc<dyn BlobStore> = match (&config.storage.backend, &config.storage.s3) {
            (BlobBackend::S3, Some(s3)) => Arc::new(S3BlobStore::open(s3)?),
            _ => Arc::new(FsBlobStore::open(&config.storage.blobs)?),
        };
        let policy = Policy {
            max_manifest_bytes: config.limits.max_manifest_bytes,
            max_blob_bytes: config.limits.max_blob_bytes,
            require_complete_indexes: config.manifests.require_complete_indexes,
            min_free_bytes: config.limits.min_free_bytes,
        };
        let redirect_pulls =
            config.storage.backend == BlobBackend::S3 && config.storage.s3.as_ref().is_some_and(|s| s.redirect);
        let prune_sessions_at = Arc::new(std::sync::atomic::AtomicUsize::new(upload::PRUNE_SESSIONS_ABOVE));
        Ok(Store { db, blobs, redirect_pulls, policy, sessions: Arc::default(), prune_sessions_at })
    }

    /// Whether blob GETs are redirected to the object store.
    #[must_use]
    pub fn redirects_pulls(&self) -> bool {
        self.redirect_pulls
    }

    /// The acceptance rules in force.
    #[must_use]
    pub fn policy(&self) -> Policy {
        self.policy
    }

    /// The database handle, for modules that keep their own tables (`accounts`) and for tests
    /// that set up states (old timestamps) no API makes.
    pub(crate) fn db(&self) -> &Db {
        &self.db
    }

    /// The blob backend, for tests that simulate crashes between steps.
    #[cfg(test)]
    pub(crate) fn blob_backend(&self) -> &dyn BlobStore {
        &*self.blobs
    }

    /// A server setting, created with `init` the first time it is asked for (atomically, so
    /// concurrent first starts agree on one value).
    ///
    /// # Errors
    /// Database failures.
    pub async fn setting_or_init(&self, name: &'static str, init: Vec<u8>) -> Result<Vec<u8>> {
        self.db
            .write(move |tx| {
                tx.execute(
                    "INSERT INTO settings (name, value) VALUES (?1, ?2) ON CONFLICT(name) DO NOTHING",
                    sql::params![name, &init],
                )?;
                Ok(tx.query_row("SELECT value FROM settings WHERE name = ?1", sql::params![name])?.get(0)?)
            })
            .await
    }

    /// Checks that the blob store answers (an object store's endpoint, bucket and credentials).
    ///
    /// # Errors
    /// The backend's error, which names what failed.
    pub async fn probe_blobs(&self) -> Result<()> {
        Ok(self.blobs.probe().await?)
    }

    /// Where the metadata lives, for logs: the SQLite path or the PostgreSQL server and database
    /// (never a password).
    #[must_use]
    pub fn database_description(&self) -> String {
        self.db.describe()
    }

    /// Whether the database answers a trivial query (for health checks).
    ///
    /// # Errors
    /// When it does not.
    pub async fn ping(&self) -> Result<()> {
        self.db.read(|c| Ok(c.query_row("SELECT 1", sql::params![]).map(drop)?)).await
    }
}

/// The id of a repository, creating it on first push.
fn ensure_repository(tx: &dyn Conn, name: &RepoName) -> Result<i64> {
    tx.execute(
        "INSERT INTO repositories (name, created_at) VALUES (?1, ?2) ON CONFLICT(name) DO NOTHING",
        sql::params![name.as_str(), now()],
    )?;
    Ok(tx.query_row("SELECT id FROM repositories WHERE name = ?1", sql::params![name.as_str()])?.get(0)?)
}

/// The id of an existing repository.
fn find_repository(conn: &dyn Conn, name: &RepoName) -> Result<Option<i64>> {
    Ok(conn.query_value("SELECT id FROM repositories WHERE name = ?1", sql::params![name.as_str()])?)
}
