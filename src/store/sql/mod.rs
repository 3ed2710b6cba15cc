//! The SQL the store runs, written once for SQLite and PostgreSQL.
//!
//! [`Conn`] is the only way store code reaches a database: `execute` and `query`, with
//! parameters as [`Param`]s and rows as owned [`Row`]s. [`sqlite`] and [`postgres`] implement it;
//! `store::db` picks one at open and hands each `read`/`write` closure a `&dyn Conn`.
//!
//! The dialect is the intersection of the two:
//! - placeholders are `?1`, `?2`, ... (`postgres` rewrites them to `$1`, `$2`, ... once per
//!   statement). A `?` never appears inside a string literal: put values in parameters.
//! - every placeholder in a statement is used (PostgreSQL must infer each one's type) and a
//!   placeholder's type follows from a column it is compared with or stored into;
//! - upserts are `INSERT ... ON CONFLICT ... DO NOTHING / DO UPDATE SET col = excluded.col`,
//!   new ids come back with `RETURNING id`, and sums are `CAST(COALESCE(SUM(x), 0) AS BIGINT)`
//!   (PostgreSQL's `SUM(bigint)` is a `numeric`);
//! - no `INSERT OR ...`, no scalar `MAX(a, b)`, no `LIMIT -1` (use `i64::MAX`), no `PRAGMA`.
//!
//! Integers are `i64` throughout (SQLite `INTEGER`, PostgreSQL `BIGINT`); booleans are stored
//! as 0 or 1 in integer columns on both sides, so the same rows read the same everywhere.

pub mod postgres;
pub mod sqlite;
#[cfg(test)]
#[path = "../../../tests/common/postgres.rs"]
pub mod testing;

/// The server's own words for a failed statement (`Display` of the driver's error says only
/// "db error"), or the driver's message for a lost connection.
fn describe_postgres(e: &::postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{}: {} (SQLSTATE {})", db.severity(), db.message(), db.code().code()),
        None => std::error::Error::source(e).map_or_else(|| e.to_string(), |cause| format!("{e}: {cause}")),
    }
}

/// Why a statement failed, on either backend.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// SQLite failure.
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// PostgreSQL failure (the server's message, or a lost connection).
    #[error("postgresql: {}", describe_postgres(.0))]
    Postgres(#[from] ::postgres::Error),
    /// A query meant to return a row returned none.
    #[error("query returned no row")]
    NoRow,
    /// A column holds another type than the code reads it as.
    #[error("column {column}: {message}")]
    Type {
        /// Index of the column.
        column: usize,
        /// What was found instead.
        message: String,
    },
    /// The database could not be opened (bad URL, unreadable password file, ...).
    #[error("{0}")]
    Open(String),
}

impl Error {
    /// Whether the database ran out of disk space (SQLite's `SQLITE_FULL`, PostgreSQL's
    /// `disk_full`): the store answers those with a clear 507 instead of a 500.
    #[must_use]
    pub fn is_disk_full(&self) -> bool {
        match self {
            Error::Sqlite(e) => e.sqlite_error_code() == Some(rusqlite::ErrorCode::DiskFull),
            Error::Postgres(e) => e.code() == Some(&::postgres::error::SqlState::DISK_FULL),
            _ => false,
        }
    }
}

/// Result alias for this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A value bound to a placeholder. Borrowed, so that binding copies nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Param<'a> {
    /// SQL `NULL`.
    Null,
    /// An integer (also booleans, as 0 or 1).
    Int(i64),
    /// Text.
    Text(&'a str),
    /// Bytes.
    Bytes(&'a [u8]),
}

impl From<i64> for Param<'_> {
    fn from(n: i64) -> Self {
        Param::Int(n)
    }
}

impl From<i32> for Param<'_> {
    fn from(n: i32) -> Self {
        Param::Int(i64::from(n))
    }
}

impl From<u32> for Param<'_> {
    fn from(n: u32) -> Self {
        Param::Int(i64::from(n))
    }
}

impl From<bool> for Param<'_> {
    fn from(b: bool) -> Self {
        Param::Int(i64::from(b))
    }
}

impl<'a> From<&'a str> for Param<'a> {
    fn from(s: &'a str) -> Self {
        Param::Text(s)
    }
}

impl<'a> From<&'a String> for Param<'a> {
    fn from(s: &'a String) -> Self {
        Param::Text(s)
    }
}

impl<'a> From<&'a [u8]> for Param<'a> {
    fn from(b: &'a [u8]) -> Self {
        Param::Bytes(b)
    }
}

impl<'a> From<&'a Vec<u8>> for Param<'a> {
    fn from(b: &'a Vec<u8>) -> Self {
        Param::Bytes(b)
    }
}

impl<'a, T: Into<Param<'a>>> From<Option<T>> for Param<'a> {
    fn from(v: Option<T>) -> Self {
        v.map_or(Param::Null, Into::into)
    }
}

/// Builds a `&[Param]` from values of mixed types: `params![id, name.as_str(), now()]`.
#[macro_export]
macro_rules! params {
    () => { &[] as &[$crate::store::sql::Param<'_>] };
    ($($v:expr),+ $(,)?) => { &[$($crate::store::sql::Param::from($v)),+] as &[$crate::store::sql::Param<'_>] };
}
pub use crate::params;

/// A value read from a column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// SQL `NULL`.
    Null,
    /// Any integer (and PostgreSQL booleans, as 0 or 1).
    Int(i64),
    /// Text.
    Text(String),
    /// Bytes.
    Bytes(Vec<u8>),
}

/// One result row, owned. Each column is taken once by [`Row::get`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Row(pub Vec<Value>);

impl Row {
    /// Takes column `column` as a `T` (a second `get` of the same column reads `NULL`).
    ///
    /// # Errors
    /// [`Error::Type`] when the column is absent or holds another type.
    pub fn get<T: FromValue>(&mut self, column: usize) -> Result<T> {
        let value = self.0.get_mut(column).map(|v| std::mem::replace(v, Value::Null));
        let value = value.ok_or_else(|| Error::Type { column, message: "no such column".into() })?;
        T::from_value(value).map_err(|message| Error::Type { column, message })
    }
}

/// A Rust type a column can be read as.
pub trait FromValue: Sized {
    /// Converts, or says what was found instead.
    ///
    /// # Errors
    /// A description of the mismatch.
    fn from_value(v: Value) -> Result<Self, String>;
}

fn mismatch(wanted: &str, v: &Value) -> String {
    let found = match v {
        Value::Null => "NULL",
        Value::Int(_) => "an integer",
        Value::Text(_) => "text",
        Value::Bytes(_) => "bytes",
    };
    format!("expected {wanted}, found {found}")
}

impl FromValue for i64 {
    fn from_value(v: Value) -> Result<Self, String> {
        match v {
            Value::Int(n) => Ok(n),
            other => Err(mismatch("an integer", &other)),
        }
    }
}

impl FromValue for bool {
    fn from_value(v: Value) -> Result<Self, String> {
        i64::from_value(v).map(|n| n != 0)
    }
}

impl FromValue for String {
    fn from_value(v: Value) -> Result<Self, String> {
        match v {
            Value::Text(s) => Ok(s),
            other => Err(mismatch("text", &other)),
        }
    }
}

impl FromValue for Vec<u8> {
    fn from_value(v: Value) -> Result<Self, String> {
        match v {
            Value::Bytes(b) => Ok(b),
            other => Err(mismatch("bytes", &other)),
        }
    }
}

impl<T: FromValue> FromValue for Option<T> {
    fn from_value(v: Value) -> Result<Self, String> {
        match v {
            Value::Null => Ok(None),
            other => T::from_value(other).map(Some),
        }
    }
}

/// Which database a [`Conn`] talks to, for the few places where behaviour must differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// The SQLite file.
    Sqlite,
    /// A PostgreSQL server.
    Postgres,
}

/// A connection, or a transaction on one: what `Db::read` and `Db::write` closures get.
///
/// Statements are prepared once per connection and reused (SQLite's statement cache, a
/// statement map on PostgreSQL), so callers pass the same SQL text each time and never format
/// values into it.
pub trait Conn {
    /// Runs a statement; returns the number of rows it changed.
    ///
    /// # Errors
    /// Database failures.
    fn execute(&self, sql: &str, params: &[Param<'_>]) -> Result<u64>;

    /// Runs a query; returns all its rows.
    ///
    /// # Errors
    /// Database failures, or a column of a type no [`Value`] holds.
    fn query(&self, sql: &str, params: &[Param<'_>]) -> Result<Vec<Row>>;

    /// Problems the database's own consistency checks report (SQLite's `integrity_check` and
    /// `foreign_key_check`; PostgreSQL enforces constraints on every statement and reports none).
    ///
    /// # Errors
    /// Database failures.
    fn integrity_problems(&self) -> Result<Vec<String>>;

    /// Which database this is.
    fn backend(&self) -> Backend;
}

impl dyn Conn + '_ {
    /// The first row of a query, if any.
    ///
    /// # Errors
    /// Database failures.
    pub fn query_opt(&self, sql: &str, params: &[Param<'_>]) -> Result<Option<Row>> {
        Ok(self.query(sql, params)?.into_iter().next())
    }

    /// The first row of a query, which must exist.
    ///
    /// # Errors
    /// [`Error::NoRow`] and database failures.
    pub fn query_row(&self, sql: &str, params: &[Param<'_>]) -> Result<Row> {
        self.query_opt(sql, params)?.ok_or(Error::NoRow)
    }

    /// The first column of the first row, if there is a row.
    ///
    /// # Errors
    /// Database failures and type mismatches.
    pub fn query_value<T: FromValue>(&self, sql: &str, params: &[Param<'_>]) -> Result<Option<T>> {
        self.query_opt(sql, params)?.map(|mut r| r.get(0)).transpose()
    }

    /// The first column of every row.
    ///
    /// # Errors
    /// Database failures and type mismatches.
    pub fn query_column<T: FromValue>(&self, sql: &str, params: &[Param<'_>]) -> Result<Vec<T>> {
        self.query(sql, params)?.into_iter().map(|mut r| r.get(0)).collect()
    }

    /// Every row, converted by `f`.
    ///
    /// # Errors
    /// Database failures and `f`'s errors.
    pub fn query_map<T>(&self, sql: &str, params: &[Param<'_>], f: impl FnMut(Row) -> Result<T>) -> Result<Vec<T>> {
        self.query(sql, params)?.into_iter().map(f).collect()
    }

    /// Whether a query returns any row.
    ///
    /// # Errors
    /// Database failures.
    pub fn exists(&self, sql: &str, params: &[Param<'_>]) -> Result<bool> {
        Ok(self.query_opt(sql, params)?.is_some())
    }
}

#[cfg(test)]
mod tests;
