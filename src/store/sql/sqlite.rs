//! [`Conn`] over a rusqlite connection or transaction.
//!
//! Every statement goes through rusqlite's per-connection statement cache (`prepare_cached`),
//! so a statement is compiled once per connection, as before the abstraction existed.

use rusqlite::types::{ToSqlOutput, ValueRef};

use super::{Backend, Conn, Error, Param, Result, Row, Value};

/// Statements kept compiled per connection: more than the store has distinct statements, so the
/// cache never evicts in steady state.
pub const STATEMENT_CACHE: usize = 256;

/// A SQLite connection (a `Transaction` derefs to one) seen as a [`Conn`].
pub struct SqliteConn<'c>(pub &'c rusqlite::Connection);

impl rusqlite::ToSql for Param<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match *self {
            Param::Null => ValueRef::Null,
            Param::Int(n) => ValueRef::Integer(n),
            Param::Text(s) => ValueRef::Text(s.as_bytes()),
            Param::Bytes(b) => ValueRef::Blob(b),
        }))
    }
}

impl Conn for SqliteConn<'_> {
    fn execute(&self, sql: &str, params: &[Param<'_>]) -> Result<u64> {
        let n = self.0.prepare_cached(sql)?.execute(rusqlite::params_from_iter(params))?;
        Ok(n as u64)
    }

    fn query(&self, sql: &str, params: &[Param<'_>]) -> Result<Vec<Row>> {
        let mut stmt = self.0.prepare_cached(sql)?;
        let columns = stmt.column_count();
        let mut rows = stmt.query(rusqlite::params_from_iter(params))?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            let mut values = Vec::with_capacity(columns);
            for column in 0..columns {
                values.push(match row.get_ref(column)? {
                    ValueRef::Null => Value::Null,
                    ValueRef::Integer(n) => Value::Int(n),
                    ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
                    ValueRef::Blob(b) => Value::Bytes(b.to_vec()),
                    ValueRef::Real(_) => return Err(Error::Type { column, message: "a REAL column".into() }),
                });
            }
            out.push(Row(values));
        }
        Ok(out)
    }

    fn integrity_problems(&self) -> Result<Vec<String>> {
        let mut problems: Vec<String> =
            self.0.prepare("PRAGMA integrity_check")?.query_map([], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?;
        problems.retain(|p| p != "ok");
        let mut fk = self.0.prepare("PRAGMA foreign_key_check")?;
        let fk_problems = fk
            .query_map([], |r| Ok(format!("foreign key violation in {}", r.get::<_, String>(0)?)))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        problems.extend(fk_problems);
        Ok(problems)
    }

    fn backend(&self) -> Backend {
        Backend::Sqlite
    }
}
