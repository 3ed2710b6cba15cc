//! The SQL layer's contract on both databases: parameters and column types round-trip,
//! placeholders are reused, `RETURNING` and `ON CONFLICT` behave alike, and a failed closure
//! leaves nothing behind.

use super::{Error, Value};
use crate::store::Error as StoreError;
use crate::store::fixture::{Fixture, backend_tests};

async fn values_round_trip_through_parameters_and_columns(f: Fixture) {
    let db = f.store.db().clone();
    let backend = f.backend;
    db.write(move |tx| {
        assert_eq!(tx.backend(), backend);
        tx.execute("INSERT INTO settings (name, value) VALUES (?1, ?2)", params!["bytes", &vec![0u8, 255, 7]])?;
        let mut r = tx.query_row(
            "SELECT value, name, CAST(?2 AS BIGINT), CAST(?3 AS TEXT), COUNT(*) FROM settings WHERE name = ?1 GROUP BY value, name",
            params!["bytes", i64::MAX, Option::<&str>::None],
        )?;
        assert_eq!(r.get::<Vec<u8>>(0)?, [0, 255, 7]);
        assert_eq!(r.get::<String>(1)?, "bytes");
        assert_eq!(r.get::<i64>(2)?, i64::MAX, "a 64-bit integer survives");
        assert_eq!(r.get::<Option<String>>(3)?, None);
        assert_eq!(r.get::<i64>(4)?, 1);
        assert!(matches!(r.get::<i64>(1), Err(Error::Type { column: 1, .. })), "a column is taken once");
        Ok::<_, StoreError>(())
    })
    .await
    .expect("round trip");
}

async fn returning_and_on_conflict_behave_alike(f: Fixture) {
    let ids = f
        .store
        .db()
        .write(|tx| {
            let insert = "INSERT INTO repositories (name, created_at) VALUES (?1, ?2) ON CONFLICT (name) DO NOTHING RETURNING id";
            let first: Option<i64> = tx.query_value(insert, params!["a", 1])?;
            let again: Option<i64> = tx.query_value(insert, params!["a", 2])?;
            let second: Option<i64> = tx.query_value(insert, params!["b", 3])?;
            let changed = tx.execute("UPDATE repositories SET created_at = ?1 WHERE created_at < ?1", params![10])?;
            Ok::<_, StoreError>((first, again, second, changed))
        })
        .await
        .expect("insert");
    let (Some(first), None, Some(second), 2) = ids else { panic!("unexpected {ids:?}") };
    assert!(second > first);
}

async fn a_failed_write_commits_nothing_and_a_dry_run_rolls_back(f: Fixture) {
    let db = f.store.db();
    let failed = db
        .write(|tx| {
            tx.execute("INSERT INTO repositories (name, created_at) VALUES (?1, 1)", params!["gone"])?;
            tx.execute("INSERT INTO repositories (name, created_at) VALUES (?1, 1)", params!["gone"])?;
            Ok::<_, StoreError>(())
        })
        .await;
    assert!(
        matches!(failed, Err(StoreError::Database(Error::Sqlite(_) | Error::Postgres(_)))),
        "unique violation: {failed:?}"
    );
    let n = db
        .write_rolled_back(|tx| {
            tx.execute("INSERT INTO repositories (name, created_at) VALUES (?1, 1)", params!["dry"])?;
            Ok::<_, StoreError>(tx.query_value::<i64>("SELECT COUNT(*) FROM repositories", params![])?)
        })
        .await
        .expect("dry run");
    assert_eq!(n, Some(1), "the dry run sees its own change");
    let left: Vec<String> = db
        .read(|c| Ok::<_, StoreError>(c.query_column("SELECT name FROM repositories", params![])?))
        .await
        .expect("read");
    assert!(left.is_empty(), "{left:?}");
    // The connection is usable after the failure (PostgreSQL aborts the transaction, not the session).
    db.write(|tx| {
        Ok::<_, StoreError>(tx.execute("INSERT INTO repositories (name, created_at) VALUES (?1, 1)", params!["ok"])?)
    })
    .await
    .expect("next write");
}

async fn the_database_reports_no_integrity_problems(f: Fixture) {
    let db = f.store.db();
    let problems = db.read(|c| Ok::<_, StoreError>(c.integrity_problems()?)).await.expect("check");
    assert!(problems.is_empty(), "{problems:?}");
    let rows = db.read(|c| Ok::<_, StoreError>(c.query("SELECT 1 WHERE 1 = 0", params![])?)).await.expect("empty");
    assert!(rows.is_empty());
    // PostgreSQL's literal 1 is an int4, SQLite's an integer: both read as Value::Int.
    let one = db.read(|c| Ok::<_, StoreError>(c.query_row("SELECT 1", params![])?)).await.expect("one");
    assert_eq!(one.0, [Value::Int(1)], "{:?}", f.backend);
}

backend_tests!(
    values_round_trip_through_parameters_and_columns,
    returning_and_on_conflict_behave_alike,
    a_failed_write_commits_nothing_and_a_dry_run_rolls_back,
    the_database_reports_no_integrity_problems,
);
