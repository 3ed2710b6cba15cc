//! `migrate-storage`: copies a registry, metadata and blobs, into another store, typically a
//! single-host install (SQLite + filesystem) into PostgreSQL + S3, so that a site moves to
//! replicas without mirroring again (issue #14).
//!
//! Blobs go first, each streamed from the source into a destination upload while hashed, and
//! placed only when its digest matches: a corrupt source blob stops the migration (run `fsck
//! --repair` on the source first), it is never carried over. Then the tables, in foreign-key
//! order and with their ids, in batches; identity sequences are moved past the highest id ever
//! given (so no account id is reused). Every insert is `ON CONFLICT DO NOTHING` and a blob
//! already at the destination is hashed instead of copied, so an interrupted migration is
//! finished by running it again. The source is only read.

use std::sync::Arc;

use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;

use super::blobs::BlobStore;
use super::sql::{Backend, Conn, Param, Value};
use super::{Error, Result, Store, to_u64};
use crate::reference::{Digest, UploadId};

/// Tables copied, parents before children. Uploads in progress, placements and console
/// sessions are transient and stay behind.
const TABLES: &[&str] = &[
    "repositories",
    "blobs",
    "repository_blobs",
    "manifests",
    "manifest_blobs",
    "manifest_children",
    "tags",
    "users",
    "grants",
    "settings",
    "gc_runs",
];

/// Tables whose `id` comes from a sequence (PostgreSQL identity, SQLite rowid).
const IDENTITIES: &[&str] = &["repositories", "manifests", "users", "gc_runs"];

/// Rows per destination transaction (manifests are up to 4 MiB each).
const BATCH: i64 = 500;

/// Progress callback: bytes of blobs copied or checked so far.
pub type Progress = Arc<dyn Fn(u64) + Send + Sync>;

/// What a migration did.
#[derive(Debug, Default, Clone)]
pub struct Report {
    /// Blobs copied.
    pub blobs_copied: u64,
    /// Blobs already at the destination (from an earlier run), hashed and found whole.
    pub blobs_present: u64,
    /// Bytes of all blobs, copied or checked.
    pub bytes: u64,
    /// Rows in each table at the destination, equal to the source's.
    pub rows: Vec<(&'static str, u64)>,
}

/// Why a migration stopped.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    /// A source blob's bytes do not hash to its digest, or are missing.
    #[error(
        "blob {digest} in the source is {problem}: run `mirror-registry fsck --repair` on the source, then migrate again"
    )]
    BadSource {
        /// The blob.
        digest: Digest,
        /// What is wrong with it.
        problem: String,
    },
    /// After the copy a table holds another number of rows than the source.
    #[error(
        "table {table}: the source has {source_rows} rows but the destination {destination_rows}; is something writing to either? run the migration again with both stopped"
    )]
    Count {
        /// The table.
        table: &'static str,
        /// Rows at the source.
        source_rows: u64,
        /// Rows at the destination.
        destination_rows: u64,
    },
    /// Any store failure.
    #[error(transparent)]
    Store(#[from] Error),
}

/// Copies everything of `from` into `to` and checks the result.
///
/// # Errors
/// [`MigrateError::BadSource`] for a corrupt or missing source blob, [`MigrateError::Count`]
/// when the copy does not add up, and store failures.
pub async fn migrate(from: &Store, to: &Store, progress: Progress) -> Result<Report, MigrateError> {
    let mut report = Report::default();
    let blobs: Vec<(String, i64)> = from
        .db
        .read(|c| {
            Ok::<_, Error>(
                c.query_map("SELECT digest, size FROM blobs ORDER BY digest", &[], |mut r| Ok((r.get(0)?, r.get(1)?)))?,
            )
        })
        .await?;
    for (digest, size) in blobs {
        let Ok(digest) = digest.parse::<Digest>() else { continue };
        let size = to_u64(size);
        if copy_blob(&*from.blobs, &to.blobs, &digest, size).await? {
            report.blobs_copied += 1;
        } else {
            report.blobs_present += 1;
        }
        report.bytes += size;
        progress(size);
    }
    for table in TABLES {
        copy_table(from, to, table).await?;
    }
    set_sequences(from, to).await?;
    for table in TABLES {
        let count = |store: &Store| {
            let sql = format!("SELECT COUNT(*) FROM {table}");
            let db = store.db.clone();
            async move { db.read(move |c| Ok::<_, Error>(c.query_value::<i64>(&sql, &[])?.unwrap_or(0))).await }
        };
        let (source_rows, destination_rows) = (to_u64(count(from).await?), to_u64(count(to).await?));
        if source_rows != destination_rows {
            return Err(MigrateError::Count { table, source_rows, destination_rows });
        }
        report.rows.push((table, destination_rows));
    }
    Ok(report)
}

/// Streams one blob into the destination, verifying its digest; false when the destination
/// already held it whole.
async fn copy_blob(
    from: &dyn BlobStore,
    to: &Arc<dyn BlobStore>,
    digest: &Digest,
    size: u64,
) -> Result<bool, MigrateError> {
    if to.stat(digest).await.map_err(Error::from)? == Some(size) {
        let (actual, _) = hash_stream(&**to, digest, size, None).await?;
        if actual == *digest {
            return Ok(false);
        }
        // A damaged copy from an interrupted run: copy it again over it.
    }
    let id = UploadId::generate();
    to.create_upload(&id).await.map_err(Error::from)?;
    let mut writer = to.append_upload(&id).await.map_err(Error::from)?;
    let hashed = hash_stream(from, digest, size, Some(&mut writer)).await;
    let flushed = writer.shutdown().await;
    let verified = match hashed {
        Ok((actual, n)) if actual == *digest && n == size => flushed.map_err(|e| MigrateError::Store(e.into())),
        Ok((actual, n)) => Err(MigrateError::BadSource {
            digest: digest.clone(),
            problem: format!("corrupt ({n} bytes hashing to {actual})"),
        }),
        Err(e) => Err(e),
    };
    if let Err(e) = verified {
        to.delete_upload(&id).await.map_err(Error::from)?;
        return Err(e);
    }
    to.sync_upload(&id).await.map_err(Error::from)?;
    // Placement is a blocking call (it normally runs under the database's write lock).
    let (to_place, d) = (to.clone(), digest.clone());
    tokio::task::spawn_blocking(move || to_place.place_upload(&id, &d))
        .await
        .map_err(Error::from)?
        .map_err(Error::from)?;
    Ok(true)
}

/// Hashes a stored blob, writing its bytes to `copy` on the way when given.
async fn hash_stream(
    store: &dyn BlobStore,
    digest: &Digest,
    size: u64,
    mut copy: Option<&mut super::blobs::UploadWriter>,
) -> Result<(Digest, u64), MigrateError> {
    let missing =
        |e: std::io::Error| MigrateError::BadSource { digest: digest.clone(), problem: format!("unreadable ({e})") };
    let mut stream = store.open(digest, 0, size).await.map_err(missing)?;
    let mut hasher = digest.algorithm().hasher();
    let mut n = 0u64;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(missing)?;
        hasher.update(&chunk);
        n += chunk.len() as u64;
        if let Some(w) = copy.as_mut() {
            w.write_all(&chunk).await.map_err(Error::from)?;
        }
    }
    Ok((hasher.finish(), n))
}

/// The column names of `table`, read from the source's catalog.
fn columns(c: &dyn Conn, table: &str) -> Result<Vec<String>> {
    let sql = match c.backend() {
        Backend::Sqlite => "SELECT name FROM pragma_table_info(?1) ORDER BY cid",
        Backend::Postgres => {
            "SELECT column_name FROM information_schema.columns WHERE table_name = ?1 ORDER BY ordinal_position"
        }
    };
    Ok(c.query_column::<String>(sql, &[Param::Text(table)])?)
}

/// Copies a table in batches ordered by its leading (unique) columns.
async fn copy_table(from: &Store, to: &Store, table: &'static str) -> Result<()> {
    let names = from.db.read(move |c| columns(c, table)).await?;
    let list = names.join(", ");
    let placeholders: Vec<String> = (1..=names.len()).map(|i| format!("?{i}")).collect();
    let insert = format!("INSERT INTO {table} ({list}) VALUES ({}) ON CONFLICT DO NOTHING", placeholders.join(", "));
    let mut offset = 0;
    loop {
        let select = format!("SELECT {list} FROM {table} ORDER BY 1, 2 LIMIT {BATCH} OFFSET {offset}");
        let rows = from.db.read(move |c| Ok::<_, Error>(c.query(&select, &[])?)).await?;
        if rows.is_empty() {
            return Ok(());
        }
        offset += BATCH;
        let insert = insert.clone();
        to.db
            .write(move |c| {
                for row in &rows {
                    let params: Vec<Param<'_>> = row.0.iter().map(as_param).collect();
                    c.execute(&insert, &params)?;
                }
                Ok::<_, Error>(())
            })
            .await?;
    }
}

fn as_param(v: &Value) -> Param<'_> {
    match v {
        Value::Null => Param::Null,
        Value::Int(n) => Param::Int(*n),
        Value::Text(s) => Param::Text(s),
        Value::Bytes(b) => Param::Bytes(b),
    }
}

/// Moves each PostgreSQL identity past the highest id the source ever gave, including ids of
/// rows since deleted (SQLite's `AUTOINCREMENT` record), so that no id is given twice.
async fn set_sequences(from: &Store, to: &Store) -> Result<()> {
    for table in IDENTITIES {
        let highest = from
            .db
            .read(move |c| {
                let mut highest =
                    c.query_value::<i64>(&format!("SELECT COALESCE(MAX(id), 0) FROM {table}"), &[])?.unwrap_or(0);
                if c.backend() == Backend::Sqlite {
                    let sql = "SELECT seq FROM sqlite_sequence WHERE name = ?1";
                    if c.exists("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_sequence'", &[])? {
                        highest = highest.max(c.query_value::<i64>(sql, &[Param::Text(table)])?.unwrap_or(0));
                    }
                }
                Ok::<_, Error>(highest)
            })
            .await?;
        to.db
            .write(move |c| {
                if c.backend() == Backend::Postgres && highest > 0 {
                    let sql = format!("SELECT CAST(setval(pg_get_serial_sequence('{table}', 'id'), ?1) AS BIGINT)");
                    c.query(&sql, &[Param::Int(highest)])?;
                }
                Ok::<_, Error>(())
            })
            .await?;
    }
    Ok(())
}
