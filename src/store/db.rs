//! The metadata database handle: SQLite (one writer connection, a small pool of readers) or
//! PostgreSQL (one writer session per process, a small pool of reader sessions); migrations.
//!
//! SQLite is used the way it likes (invariant 4): WAL, one writer at a time with short
//! transactions, several readers, `busy_timeout`, foreign keys on. PostgreSQL keeps the same
//! single-writer rule across replicas: every write transaction takes one advisory lock first
//! (see [`super::sql::postgres`]). Every call runs on tokio's blocking pool through
//! [`Db::read`] / [`Db::write`], which keep the caller's tracing span and hand the closure a
//! [`Conn`]; no connection or transaction ever crosses an `.await`. Before each SQLite write
//! transaction the space reserve of [`super::reserve`] is settled, so deletes commit on a full
//! disk.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use super::reserve::Reserve;
use super::sql::postgres::{Connector, Session};
use super::sql::sqlite::{STATEMENT_CACHE, SqliteConn};
use super::sql::{self, Conn};

/// Numbered schema files, applied in order at start-up and recorded in `schema_migrations`.
/// A migration is never edited once it exists: add a new file instead, for both databases.
const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../../migrations/0001_initial.sql")),
    (2, include_str!("../../migrations/0002_accounts.sql")),
    (3, include_str!("../../migrations/0003_gc_runs.sql")),
    (4, include_str!("../../migrations/0004_blob_placements.sql")),
    (5, include_str!("../../migrations/0005_account_generations_and_grants.sql")),
    (6, include_str!("../../migrations/0006_console_sessions.sql")),
];

/// The same schema for PostgreSQL, version for version.
const PG_MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../../migrations/postgres/0001_initial.sql")),
    (2, include_str!("../../migrations/postgres/0002_accounts.sql")),
    (3, include_str!("../../migrations/postgres/0003_gc_runs.sql")),
    (4, include_str!("../../migrations/postgres/0004_blob_placements.sql")),
    (5, include_str!("../../migrations/postgres/0005_account_generations_and_grants.sql")),
    (6, include_str!("../../migrations/postgres/0006_console_sessions.sql")),
];

/// Advisory lock every PostgreSQL write transaction (and migration) takes: the single writer.
const WRITE_LOCK: i64 = 0x6d72_6567_0000_0001;
/// Advisory lock a garbage collection holds for its whole run: one collector at a time.
const COLLECTOR_LOCK: i64 = 0x6d72_6567_0000_0002;

/// How many idle read connections to keep.
const MAX_IDLE_READERS: usize = 8;

/// Shared handle to the metadata database.
#[derive(Clone)]
pub struct Db {
    inner: Arc<Inner>,
}

enum Inner {
    Sqlite(SqliteDb),
    // Boxed: one per store, and it keeps the common SQLite case small.
    Postgres(Box<PgDb>),
}

struct SqliteDb {
    path: PathBuf,
    reserve: Reserve,
    writer: Mutex<Connection>,
    readers: Mutex<Vec<Connection>>,
}

struct PgDb {
    connector: Connector,
    /// One write session per process: writes queue here, then on the advisory lock.
    writer: Mutex<Option<Session>>,
    readers: Mutex<Vec<Session>>,
}

/// Held while a garbage collection runs; dropping it lets the next collector in.
pub struct CollectorLock {
    _session: Option<Session>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Db {
    /// Opens (creating if needed) the SQLite file with mode 0600 and applies pending migrations.
    ///
    /// # Errors
    /// When the file cannot be created or opened, or a migration fails.
    pub fn open(path: &Path) -> Result<Db, sql::Error> {
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
            inner: Arc::new(Inner::Sqlite(SqliteDb {
                path: path.to_path_buf(),
                reserve,
                writer: Mutex::new(writer),
                readers: Mutex::new(Vec::new()),
            })),
        })
    }

    /// Connects to PostgreSQL and applies pending migrations (under the write lock, so replicas
    /// starting at once apply each migration once). Blocks; safe to call from async code.
    ///
    /// # Errors
    /// Connection or migration failures.
    pub fn open_postgres(connector: Connector) -> Result<Db, sql::Error> {
        // The `postgres` client blocks on a runtime of its own, which must not happen on an
        // async worker thread: do the first connection on a thread of its own.
        let first = std::thread::scope(|s| {
            s.spawn(|| {
                let mut session = connector.connect()?;
                session.migrate(WRITE_LOCK, PG_MIGRATIONS, super::now())?;
                Ok::<_, sql::Error>(session)
            })
            .join()
            .map_err(|_| sql::Error::Open("the connecting thread panicked".into()))?
        })?;
        Ok(Db {
            inner: Arc::new(Inner::Postgres(Box::new(PgDb {
                connector,
                writer: Mutex::new(Some(first)),
                readers: Mutex::new(Vec::new()),
            }))),
        })
    }

    /// What the handle is connected to, for logs: the SQLite path or the PostgreSQL server and
    /// database (never a password).
    #[must_use]
    pub fn describe(&self) -> String {
        match &*self.inner {
            Inner::Sqlite(s) => s.path.display().to_string(),
            Inner::Postgres(p) => p.connector.describe(),
        }
    }

    /// Runs `f` inside one write transaction on the blocking pool; commits if `f` returns `Ok`.
    ///
    /// # Errors
    /// `f`'s error, or a database error converted with `From`.
    pub async fn write<T, E, F>(&self, f: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<sql::Error> + From<tokio::task::JoinError> + Send + 'static,
        F: FnOnce(&dyn Conn) -> Result<T, E> + Send + 'static,
    {
        self.transact(f, true).await
    }

    /// Runs `f` inside a write transaction and rolls it back: what `f` would change, without
    /// changing it (dry runs).
    ///
    /// # Errors
    /// `f`'s error, or a database error converted with `From`.
    pub async fn write_rolled_back<T, E, F>(&self, f: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<sql::Error> + From<tokio::task::JoinError> + Send + 'static,
        F: FnOnce(&dyn Conn) -> Result<T, E> + Send + 'static,
    {
        self.transact(f, false).await
    }

    async fn transact<T, E, F>(&self, f: F, commit: bool) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<sql::Error> + From<tokio::task::JoinError> + Send + 'static,
        F: FnOnce(&dyn Conn) -> Result<T, E> + Send + 'static,
    {
        let inner = self.inner.clone();
        run_blocking(move || match &*inner {
            Inner::Sqlite(db) => db.transact(f, commit),
            Inner::Postgres(db) => db.transact(f, commit),
        })
        .await
    }

    /// Runs `f` on a read connection on the blocking pool.
    ///
    /// # Errors
    /// `f`'s error, or a database error converted with `From`.
    pub async fn read<T, E, F>(&self, f: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<sql::Error> + From<tokio::task::JoinError> + Send + 'static,
        F: FnOnce(&dyn Conn) -> Result<T, E> + Send + 'static,
    {
        let inner = self.inner.clone();
        run_blocking(move || match &*inner {
            Inner::Sqlite(db) => db.read(f),
            Inner::Postgres(db) => db.read(f),
        })
        .await
    }

    /// Takes the collector lock if no other garbage collection holds it: `None` when one does.
    /// On PostgreSQL this is a session-level advisory lock on a session of its own, so it holds
    /// across replicas and is released when the run ends or its process dies. SQLite runs on one
    /// host, where concurrent collections are safe (each delete re-checks under the write lock)
    /// and were always allowed: there the lock is always granted.
    ///
    /// # Errors
    /// Database failures.
    pub async fn try_lock_collector(&self) -> Result<Option<CollectorLock>, sql::Error> {
        let inner = self.inner.clone();
        let locked = tokio::task::spawn_blocking(move || match &*inner {
            Inner::Sqlite(_) => Ok(Some(CollectorLock { _session: None })),
            Inner::Postgres(db) => {
                let mut session = db.connector.connect()?;
                Ok(session.try_lock(COLLECTOR_LOCK)?.then_some(CollectorLock { _session: Some(session) }))
            }
        })
        .await;
        locked.map_err(|e| sql::Error::Open(format!("background task: {e}")))?
    }
}

impl SqliteDb {
    fn transact<T, E, F>(&self, f: F, commit: bool) -> Result<T, E>
    where
        E: From<sql::Error>,
        F: FnOnce(&dyn Conn) -> Result<T, E>,
    {
        let mut conn = lock(&self.writer);
        self.reserve.settle();
        // IMMEDIATE takes the write lock up front, so a transaction never fails half-way on
        // a lock upgrade (SQLITE_BUSY) after doing its reads.
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).map_err(sql::Error::from)?;
        let value = f(&SqliteConn(&tx))?;
        if commit {
            tx.commit().map_err(sql::Error::from)?;
        } else {
            tx.rollback().map_err(sql::Error::from)?;
        }
        Ok(value)
    }

    fn read<T, E, F>(&self, f: F) -> Result<T, E>
    where
        E: From<sql::Error>,
        F: FnOnce(&dyn Conn) -> Result<T, E>,
    {
        let pooled = lock(&self.readers).pop();
        let conn = match pooled {
            Some(c) => c,
            None => open_reader(&self.path).map_err(sql::Error::from)?,
        };
        let result = f(&SqliteConn(&conn));
        let mut idle = lock(&self.readers);
        if idle.len() < MAX_IDLE_READERS {
            idle.push(conn);
        }
        result
    }
}

impl PgDb {
    fn transact<T, E, F>(&self, f: F, commit: bool) -> Result<T, E>
    where
        E: From<sql::Error>,
        F: FnOnce(&dyn Conn) -> Result<T, E>,
    {
        let mut writer = lock(&self.writer);
        if !writer.as_ref().is_some_and(Session::is_open) {
            *writer = Some(self.connector.connect()?);
        }
        let session = writer.as_mut().ok_or_else(|| sql::Error::Open("no write session".into()))?;
        let result = session.write(WRITE_LOCK, commit, f);
        if !session.is_open() {
            *writer = None;
        }
        result
    }

    fn read<T, E, F>(&self, f: F) -> Result<T, E>
    where
        E: From<sql::Error>,
        F: FnOnce(&dyn Conn) -> Result<T, E>,
    {
        let pooled = lock(&self.readers).pop().filter(Session::is_open);
        let mut session = match pooled {
            Some(s) => s,
            None => self.connector.connect()?,
        };
        let result = session.read(f);
        let mut idle = lock(&self.readers);
        if idle.len() < MAX_IDLE_READERS && session.is_open() {
            idle.push(session);
        }
        result
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
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
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
        let Inner::Sqlite(sqlite) = &*db.inner else { panic!("a SQLite handle") };
        let conn = sqlite.writer.lock().expect("lock");
        let versions: i64 = conn.query_row("SELECT COUNT(*) FROM schema_migrations", [], |r| r.get(0)).expect("count");
        assert_eq!(versions, i64::try_from(MIGRATIONS.len()).expect("few migrations"));
        let mode: String = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0)).expect("pragma");
        assert_eq!(mode, "wal");
        let perms = std::fs::metadata(&path).expect("stat").permissions().mode() & 0o777;
        assert_eq!(perms, 0o600);
    }

    /// Two replicas starting at once on a new PostgreSQL database: the advisory lock makes one
    /// apply the migrations and the other find them applied (without it, both race on
    /// `CREATE TABLE` and one fails to start).
    #[test]
    fn replicas_starting_together_apply_each_postgres_migration_once() {
        let Some(cluster) = crate::store::sql::testing::cluster() else { return };
        let connector = Connector::new(&cluster.create_database(), None, None).expect("url");
        let handles: Vec<_> = (0..3)
            .map(|_| {
                let c = connector.clone();
                std::thread::spawn(move || Db::open_postgres(c))
            })
            .collect();
        let dbs: Vec<Db> = handles.into_iter().map(|h| h.join().expect("thread").expect("open")).collect();
        let runtime = tokio::runtime::Runtime::new().expect("runtime");
        let versions: Vec<i64> = runtime
            .block_on(dbs[0].read(|c| {
                c.query_column("SELECT version FROM schema_migrations ORDER BY version", sql::params![])
                    .map_err(crate::store::Error::from)
            }))
            .expect("versions");
        assert_eq!(versions, PG_MIGRATIONS.iter().map(|(v, _)| *v).collect::<Vec<_>>());
        drop(dbs);
    }
}
