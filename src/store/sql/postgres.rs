//! [`Conn`] over the synchronous `postgres` crate, and the sessions `store::db` pools.
//!
//! - Statements are written in the shared dialect (`?1` placeholders, see the parent module);
//!   each distinct SQL text is rewritten to `$1` form and prepared once per session, then reused.
//! - Every write transaction first takes `pg_advisory_xact_lock(key)`: writers are serialized
//!   across every process using the database, as SQLite serializes its single writer, so the
//!   store's rules that rely on "nothing else writes between my check and my change" (GC's
//!   re-check, blob placement against collection) hold across replicas.
//! - A [`Session`] owns its client and closes it on a plain thread when dropped: the `postgres`
//!   client closes by blocking on a runtime of its own, which panics on an async worker thread.
//!
//! The connection is made without TLS (`NoTls`): run PostgreSQL on the same host or a trusted
//! network, or tunnel it; a URL asking for `sslmode=require` fails to connect rather than
//! silently going without encryption.

use std::cell::RefCell;
use std::collections::HashMap;
use std::time::Duration;

use ::postgres::types::{IsNull, ToSql, Type, to_sql_checked};
use ::postgres::{Client, GenericClient, NoTls, Statement};
use bytes::BytesMut;

use super::{Backend, Conn, Error, Param, Result, Row, Value};

/// Distinct statements kept prepared per session; past this the map starts over (the store has
/// far fewer, so this only bounds a bug that formats values into SQL).
const STATEMENT_CACHE: usize = 512;

/// How long a write waits for another process's write transaction before failing, like
/// SQLite's `busy_timeout`.
const LOCK_TIMEOUT: &str = "10s";

/// Rewrites `?N` placeholders to PostgreSQL's `$N`, leaving string literals alone.
#[must_use]
pub fn rewrite_placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut in_literal = false;
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' => in_literal = !in_literal,
            '?' if !in_literal && chars.peek().is_some_and(char::is_ascii_digit) => {
                out.push('$');
                continue;
            }
            _ => {}
        }
        out.push(c);
    }
    out
}

impl ToSql for Param<'_> {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match *self {
            Param::Null => Ok(IsNull::Yes),
            // The server infers each placeholder's type from its use; integers follow it.
            Param::Int(n) => match *ty {
                Type::INT8 => n.to_sql(ty, out),
                Type::INT4 => i32::try_from(n)?.to_sql(ty, out),
                Type::INT2 => i16::try_from(n)?.to_sql(ty, out),
                Type::BOOL => (n != 0).to_sql(ty, out),
                _ => Err(format!("an integer parameter where the statement wants {ty}").into()),
            },
            Param::Text(s) => s.to_sql(ty, out),
            Param::Bytes(b) => b.to_sql(ty, out),
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

fn value(row: &::postgres::Row, column: usize) -> Result<Value> {
    let ty = row.columns().get(column).map_or(Type::UNKNOWN, |c| c.type_().clone());
    let value = match ty {
        Type::INT8 => row.try_get::<_, Option<i64>>(column)?.map(Value::Int),
        Type::INT4 => row.try_get::<_, Option<i32>>(column)?.map(|n| Value::Int(n.into())),
        Type::INT2 => row.try_get::<_, Option<i16>>(column)?.map(|n| Value::Int(n.into())),
        Type::BOOL => row.try_get::<_, Option<bool>>(column)?.map(|b| Value::Int(b.into())),
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN => {
            row.try_get::<_, Option<String>>(column)?.map(Value::Text)
        }
        Type::BYTEA => row.try_get::<_, Option<Vec<u8>>>(column)?.map(Value::Bytes),
        other => return Err(Error::Type { column, message: format!("unsupported column type {other}") }),
    };
    Ok(value.unwrap_or(Value::Null))
}

/// A client or transaction seen as a [`Conn`], preparing through its session's statement map.
pub struct PgConn<'c, C: GenericClient> {
    client: RefCell<&'c mut C>,
    statements: RefCell<&'c mut HashMap<String, Statement>>,
}

impl<C: GenericClient> PgConn<'_, C> {
    fn statement(&self, sql: &str) -> Result<Statement> {
        if let Some(s) = self.statements.borrow().get(sql) {
            return Ok(s.clone());
        }
        let prepared = self.client.borrow_mut().prepare(&rewrite_placeholders(sql))?;
        let mut statements = self.statements.borrow_mut();
        if statements.len() >= STATEMENT_CACHE {
            statements.clear();
        }
        statements.insert(sql.to_owned(), prepared.clone());
        Ok(prepared)
    }
}

fn bind<'p>(params: &'p [Param<'_>]) -> Vec<&'p (dyn ToSql + Sync)> {
    params.iter().map(|p| p as &(dyn ToSql + Sync)).collect()
}

impl<C: GenericClient> Conn for PgConn<'_, C> {
    fn execute(&self, sql: &str, params: &[Param<'_>]) -> Result<u64> {
        let statement = self.statement(sql)?;
        Ok(self.client.borrow_mut().execute(&statement, &bind(params))?)
    }

    fn query(&self, sql: &str, params: &[Param<'_>]) -> Result<Vec<Row>> {
        let statement = self.statement(sql)?;
        let rows = self.client.borrow_mut().query(&statement, &bind(params))?;
        rows.iter().map(|r| (0..r.len()).map(|i| value(r, i)).collect::<Result<_>>().map(Row)).collect()
    }

    fn integrity_problems(&self) -> Result<Vec<String>> {
        Ok(Vec::new())
    }

    fn backend(&self) -> Backend {
        Backend::Postgres
    }
}

/// How to reach the server: the URL's settings plus the password from wherever the config says.
#[derive(Clone)]
pub struct Connector {
    config: ::postgres::Config,
}

impl std::fmt::Debug for Connector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&describe(&self.config))
    }
}

/// `user@host:port/db`, never the password: what logs and errors may show.
fn describe(config: &::postgres::Config) -> String {
    let host = match config.get_hosts().first() {
        Some(::postgres::config::Host::Tcp(h)) => h.clone(),
        Some(::postgres::config::Host::Unix(p)) => p.display().to_string(),
        None => "localhost".into(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let user = config.get_user().unwrap_or("");
    format!("postgres://{user}@{host}:{port}/{}", config.get_dbname().unwrap_or(user))
}

impl Connector {
    /// Parses `url` (`postgres://user@host:port/db` or `key=value` pairs) and adds `password`.
    ///
    /// # Errors
    /// [`Error::Open`] when the URL does not parse (the message never repeats the URL, which may
    /// hold a password).
    pub fn new(url: &str, password: Option<&str>) -> Result<Connector> {
        let mut config: ::postgres::Config =
            url.parse().map_err(|_| Error::Open("database.url: not a PostgreSQL connection URL".into()))?;
        if let Some(p) = password {
            config.password(p);
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(10));
        }
        config.application_name("mirror-registry");
        config.options(&format!("-c lock_timeout={LOCK_TIMEOUT}"));
        Ok(Connector { config })
    }

    /// The server and database, without the password.
    #[must_use]
    pub fn describe(&self) -> String {
        describe(&self.config)
    }

    /// Opens a session. Blocks: call it on a blocking thread.
    ///
    /// # Errors
    /// Connection failures.
    pub fn connect(&self) -> Result<Session> {
        let client = self.config.connect(NoTls)?;
        Ok(Session { client: Some(client), statements: HashMap::new() })
    }
}

/// One server connection with its prepared statements.
pub struct Session {
    client: Option<Client>,
    statements: HashMap<String, Statement>,
}

impl Session {
    fn client(&mut self) -> Result<&mut Client> {
        self.client.as_mut().ok_or_else(|| Error::Open("connection already closed".into()))
    }

    /// Whether the connection still works (a broken one is dropped rather than pooled).
    #[must_use]
    pub fn is_open(&self) -> bool {
        self.client.as_ref().is_some_and(|c| !c.is_closed())
    }

    /// Runs `f` outside a transaction (reads: each statement sees what is committed).
    ///
    /// # Errors
    /// `f`'s error, or a connection failure.
    pub fn read<T, E: From<Error>>(&mut self, f: impl FnOnce(&dyn Conn) -> Result<T, E>) -> Result<T, E> {
        let Session { client, statements } = self;
        let client = client.as_mut().ok_or_else(|| Error::Open("connection already closed".into()))?;
        let conn = PgConn { client: RefCell::new(client), statements: RefCell::new(statements) };
        f(&conn)
    }

    /// Runs `f` in a transaction that first takes the advisory lock `key`; commits when `commit`
    /// and `f` succeeded, rolls back otherwise (the lock goes with the transaction).
    ///
    /// # Errors
    /// `f`'s error, or database failures.
    pub fn write<T, E: From<Error>>(
        &mut self,
        key: i64,
        commit: bool,
        f: impl FnOnce(&dyn Conn) -> Result<T, E>,
    ) -> Result<T, E> {
        let Session { client, statements } = self;
        let client = client.as_mut().ok_or_else(|| Error::Open("connection already closed".into()))?;
        let mut tx = client.transaction().map_err(Error::from)?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&key]).map_err(Error::from)?;
        let value = {
            let conn = PgConn { client: RefCell::new(&mut tx), statements: RefCell::new(statements) };
            f(&conn)?
        };
        if commit {
            tx.commit().map_err(Error::from)?;
        } else {
            tx.rollback().map_err(Error::from)?;
        }
        Ok(value)
    }

    /// Applies the migrations newer than those recorded in `schema_migrations`, in one
    /// transaction under the advisory lock `key`, so replicas starting together apply each once.
    ///
    /// # Errors
    /// Database failures; nothing is applied then.
    pub fn migrate(&mut self, key: i64, migrations: &[(i64, &str)], now: i64) -> Result<()> {
        let mut tx = self.client()?.transaction()?;
        // No timeout here: a replica starting during a long migration waits for it.
        tx.batch_execute("SET LOCAL lock_timeout = 0")?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&key])?;
        tx.batch_execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)",
        )?;
        let current: i64 = tx.query_one("SELECT COALESCE(MAX(version), 0) FROM schema_migrations", &[])?.try_get(0)?;
        for (version, sql) in migrations.iter().filter(|(v, _)| *v > current) {
            tracing::info!(version, "applying database migration");
            tx.batch_execute(sql)?;
            tx.execute("INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)", &[version, &now])?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Takes the session-level advisory lock `key` if it is free. The lock lasts as long as the
    /// session (or until the server notices the process died), so keep the session for that long.
    ///
    /// # Errors
    /// Database failures.
    pub fn try_lock(&mut self, key: i64) -> Result<bool> {
        Ok(self.client()?.query_one("SELECT pg_try_advisory_lock($1)", &[&key])?.try_get(0)?)
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.statements.clear();
        if let Some(client) = self.client.take() {
            if tokio::runtime::Handle::try_current().is_ok() {
                std::thread::spawn(move || drop(client));
            } else {
                drop(client);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_rewritten_outside_literals() {
        let cases = [
            ("plain", "SELECT a FROM t WHERE b = ?1 AND c > ?2", "SELECT a FROM t WHERE b = $1 AND c > $2"),
            ("two digits and reuse", "VALUES (?10, ?1, ?1)", "VALUES ($10, $1, $1)"),
            ("inside a literal", "SELECT '?1' WHERE x = ?1", "SELECT '?1' WHERE x = $1"),
            ("escaped quote", "SELECT 'it''s ?1' , ?2", "SELECT 'it''s ?1' , $2"),
            ("bare question mark", "SELECT ? ", "SELECT ? "),
        ];
        for (name, sql, expected) in cases {
            assert_eq!(rewrite_placeholders(sql), expected, "case {name}");
        }
    }

    #[test]
    fn the_description_never_shows_the_password() {
        let c = Connector::new("postgres://reg:hunter2@db.example:5433/registry", Some("s3cret")).expect("url");
        let shown = format!("{} {c:?}", c.describe());
        assert_eq!(c.describe(), "postgres://reg@db.example:5433/registry");
        assert!(!shown.contains("hunter2") && !shown.contains("s3cret"), "{shown}");
        let err = Connector::new("postgres://reg:hunter2@[bad", None).expect_err("bad url");
        assert!(!err.to_string().contains("hunter2"), "{err}");
    }
}
