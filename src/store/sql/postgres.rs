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
//! With `sslmode=require` in the URL the connection is TLS (rustls), and the server's
//! certificate is verified, host name included, against the system's roots and
//! `database.ca_file`: no mode accepts any certificate. Otherwise it is plain TCP, for a server
//! on the same host or a trusted network.

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
    /// Set when the URL asks for `sslmode=require`.
    tls: Option<tokio_postgres_rustls::MakeRustlsConnect>,
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
    /// With `sslmode=require`, TLS trusting the system's roots and the PEM certificates of
    /// `ca_file`.
    ///
    /// # Errors
    /// [`Error::Open`] when the URL does not parse (the message never repeats the URL, which may
    /// hold a password) or the CA file cannot be read.
    pub fn new(url: &str, password: Option<&str>, ca_file: Option<&std::path::Path>) -> Result<Connector> {
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
        let tls = (config.get_ssl_mode() == ::postgres::config::SslMode::Require).then(|| tls(ca_file)).transpose()?;
        Ok(Connector { config, tls })
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
        let client = match &self.tls {
            Some(tls) => self.config.connect(tls.clone())?,
            None => self.config.connect(NoTls)?,
        };
        Ok(Session { client: Some(client), statements: HashMap::new() })
    }
}

/// A rustls client config verifying the server against the system's roots and `ca_file`.
fn tls(ca_file: Option<&std::path::Path>) -> Result<tokio_postgres_rustls::MakeRustlsConnect> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject as _;
    let roots: Vec<CertificateDer<'static>> = match ca_file {
        Some(path) => CertificateDer::pem_file_iter(path)
            .and_then(Iterator::collect)
            .map_err(|e| Error::Open(format!("database.ca_file {}: {e}", path.display())))?,
        None => Vec::new(),
    };
    let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let open = |e: rustls::Error| Error::Open(format!("TLS for PostgreSQL: {e}"));
    let verifier = if roots.is_empty() {
        rustls_platform_verifier::Verifier::new(provider.clone())
    } else {
        rustls_platform_verifier::Verifier::new_with_extra_roots(roots, provider.clone())
    }
    .map_err(open)?;
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(open)?
        .dangerous()
        .with_custom_certificate_verifier(std::sync::Arc::new(verifier))
        .with_no_client_auth();
    Ok(tokio_postgres_rustls::MakeRustlsConnect::new(config))
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

    /// With `sslmode=require` the session is TLS and the server certificate is checked: the CA
    /// that signed it is accepted, another CA is refused (no mode trusts any certificate).
    #[test]
    fn sslmode_require_connects_over_verified_tls() {
        let Some(cluster) = super::super::testing::cluster() else { return };
        let ca = crate::tls::generate_ca().expect("CA");
        let server = crate::tls::issue_server_cert(&ca, &["127.0.0.1".into()]).expect("server cert");
        cluster.enable_tls(&server.cert, &server.key);
        let dir = tempfile::tempdir().expect("temp dir");
        let (trusted, stranger) = (dir.path().join("ca.pem"), dir.path().join("other.pem"));
        std::fs::write(&trusted, &ca.cert).expect("write");
        std::fs::write(&stranger, crate::tls::generate_ca().expect("CA").cert).expect("write");
        let url = format!("{}?sslmode=require", cluster.create_database());
        let ssl_in_use = |connector: &Connector| -> Result<i64> {
            connector.connect()?.read(|c| {
                let sql = "SELECT CAST(ssl AS INT) FROM pg_stat_ssl WHERE pid = pg_backend_pid()";
                Ok(c.query_value::<i64>(sql, &[])?.unwrap_or(0))
            })
        };
        let verified = Connector::new(&url, None, Some(&trusted)).expect("url");
        assert_eq!(ssl_in_use(&verified).expect("connect over TLS"), 1);
        let refused = Connector::new(&url, None, Some(&stranger)).expect("url");
        let err = ssl_in_use(&refused).expect_err("a certificate from another CA is refused");
        assert!(err.to_string().contains("certificate"), "{err}");
        let plain = Connector::new(url.trim_end_matches("?sslmode=require"), None, None).expect("url");
        assert_eq!(ssl_in_use(&plain).expect("connect"), 0, "without sslmode the session is plain");
    }

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
        let c = Connector::new("postgres://reg:hunter2@db.example:5433/registry", Some("s3cret"), None).expect("url");
        let shown = format!("{} {c:?}", c.describe());
        assert_eq!(c.describe(), "postgres://reg@db.example:5433/registry");
        assert!(!shown.contains("hunter2") && !shown.contains("s3cret"), "{shown}");
        let err = Connector::new("postgres://reg:hunter2@[bad", None, None).expect_err("bad url");
        assert!(!err.to_string().contains("hunter2"), "{err}");
    }
}
