//! The SQLite handle: one writer connection, a small pool of readers, migrations.
//!
//! SQLite is used the way it likes (invariant 4): WAL, one writer at a time with short
//! transactions, several readers, `busy_timeout`, foreign keys on. Every call runs on tokio's
//! blocking pool through [`Db::read`] / [`Db::write`], which keep the caller's tracing span;
//! no connection or transaction ever crosses an `.await`. Before each write transaction the
//! space reserve of [`super::reserve`] is settled, so deletes commit on a full disk.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, Transaction};

use super::reserve::Reserve;

/// Numbered schema files, applied in order at start-up and recorded in `schema_migrations`.
/// A migration is never edited once it exists: add a new file instead.
const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../../migrations/0001_initial.sql")),
    (2, include_str!("../../migrations/0002_accounts.sql")),
    (3, include_str!("../../migrations/0003_gc_runs.sql")),
    (4, include_str!("../../migrations/0004_blob_placements.sql")),
    (5, include_str!("../../migrations/0005_account_generations_and_grants.sql")),
    (6, include_str!("../../migrations/0006_console_sessions.sql")),
];

/// How many idle read connections to keep.
const MAX_IDLE_READERS: usize = 8;

/// Shared handle to the metadata database.
#[derive(Clone)]
pub struct Db {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    reserve: Reserve,
    writer: Mutex<Connection>,
    readers: Mutex<Vec<Connection>>,
}

impl Db {
    /// Opens (creating if needed) the database file with mode 0600 and applies pending migrations.
    ///
    /// # Errors
    /// When the file cannot be created or opened, or a migration fails.
    pub fn open(path: &Path) -> Result<Db, rusqlite::Error> {
        if let Some(parent) = path.parent() {
            super::permissions::create_dir(parent).map_err(|e| io_to_sqlite(&e))?;
        }
        create_private_file(path).map_err(|e| io_to_sqlite(&e))?;
        let reserve = Reserve::beside(path);
        reserve.settle();
        let mut writer = Connection::open(path)?;
        configure(&writer)?;
        writer.pragma_update(None, "journal_mode", "WAL")?;
        migrate(&mut writer)?;
        Ok(Db {
            inner: Arc::new(Inner {
                path: path.to_path_buf(),
                reserve,
                writer: Mutex::new(writer),
                readers: Mutex::new(Vec::new()),
            }),
        })
    }

    /// Runs `f` inside one write transaction on the blocking pool; commits if `f` returns `Ok`.
    ///
    /// # Errors
    /// `f`'s error, or a SQLite error converted with `From`.
    pub async fn write<T, E, F>(&self, f: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<rusqlite::Error> + From<tokio::task::JoinError> + Send + 'static,
        F: FnOnce(&Transaction<'_>) -> Result<T, E> + Send + 'static,
    {
        self.transact(f, true).await
    }

    /// Runs `f` inside a write transaction and rolls it back: what `f` would change, without
    /// changing it (dry runs).
    ///
    /// # Errors
    /// `f`'s error, or a SQLite error converted with `From`.
    pub async fn write_rolled_back<T, E, F>(&self, f: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<rusqlite::Error> + From<tokio::task::JoinError> + Send + 'static,
        F: FnOnce(&Transaction<'_>) -> Result<T, E> + Send + 'static,
    {
        self.transact(f, false).await
    }

    async fn transact<T, E, F>(&self, f: F, commit: bool) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<rusqlite::Error> + From<tokio::task::JoinError> + Send + 'static,
        F: FnOnce(&Transaction<'_>) -> Result<T, E> + Send + 'static,
    {
        let inner = self.inner.clone();
        run_blocking(move || {
            let mut conn = inner.writer.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            inner.reserve.settle();
            // IMMEDIATE takes the write lock up front, so a transaction never fails half-way on
            // a lock upgrade (SQLITE_BUSY) after doing its reads.
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let value = f(&tx)?;
            if commit {
                tx.commit()?;
            } else {
                tx.rollback()?;
            }
            Ok(value)
        })
        .await
    }

    /// Runs `f` on a read connection on the blocking pool.
    ///
    /// # Errors
    /// `f`'s error, or a SQLite error converted with `From`.
    pub async fn read<T, E, F>(&self, f: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<rusqlite::Error> + From<tokio::task::JoinError> + Send + 'static,
        F: FnOnce(&Connection) -> Result<T, E> + Send + 'static,
    {
        let inner = self.inner.clone();
        run_blocking(move || {
            let pooled = inner.readers.lock().unwrap_or_else(std::sync::PoisonError::into_inner).pop();
            let conn = match pooled {
                Some(c) => c,
                None => open_reader(&inner.path)?,
            };
            let result = f(&conn);
            let mut idle = inner.readers.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if idle.len() < MAX_IDLE_READERS {
                idle.push(conn);
            }
            result
        })
        .await
    }
}

/// Runs blocking work on tokio's blocking pool inside the current tracing span.
async fn run_blocking<T, E, F>(f: F) -> Result<T, E>
where
    T: Send + 'static,
    E: From<tokio::task::JoinError> + Send + 'static,
    F: FnOnce() -> Result<T, E> + Send + 'static,
{
    let span = tracing::Span::current();
    tokio::task::spawn_blocking(move || span.in_scope(f)).await?
}

fn configure(conn: &Connection) -> Result<(), rusqlite::Error> {
    conn.busy_timeout(Duration::from_secs(10))?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    // NORMAL in WAL mode: every commit is atomic and survives a process crash; a power loss may
    // drop the last commits but never corrupts. Blob files are fsynced before their row commits.
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    Ok(())
}

fn open_reader(path: &Path) -> Result<Connection, rusqlite::Error> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI,
    )?;
    configure(&conn)?;
    Ok(conn)
}

fn migrate(conn: &mut Connection) -> Result<(), rusqlite::Error> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL) STRICT;",
    )?;
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Exclusive)?;
    let current: i64 = tx.query_row("SELECT COALESCE(MAX(version), 0) FROM schema_migrations", [], |r| r.get(0))?;
    for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > current) {
        tracing::info!(version, "applying database migration");
        tx.execute_batch(sql)?;
        tx.execute("INSERT INTO schema_migrations (version, applied_at) VALUES (?1, ?2)", (version, super::now()))?;
    }
    tx.commit()
}

/// Creates the database file owner-only before SQLite opens it, so it is never world-readable.
fn create_private_file(path: &Path) -> std::io::Result<()> {
    match super::permissions::create_file().write(true).create_new(true).open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

fn io_to_sqlite(e: &std::io::Error) -> rusqlite::Error {
    rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CANTOPEN), Some(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn migrations_apply_once_and_the_file_is_private() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("sub/registry.db");
        drop(Db::open(&path).expect("first open"));
        let db = Db::open(&path).expect("second open is a no-op migration");
        let conn = db.inner.writer.lock().expect("lock");
        let versions: i64 = conn.query_row("SELECT COUNT(*) FROM schema_migrations", [], |r| r.get(0)).expect("count");
        assert_eq!(versions, i64::try_from(MIGRATIONS.len()).expect("few migrations"));
        let mode: String = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0)).expect("pragma");
        assert_eq!(mode, "wal");
        let perms = std::fs::metadata(&path).expect("stat").permissions().mode() & 0o777;
        assert_eq!(perms, 0o600);
    }
}
