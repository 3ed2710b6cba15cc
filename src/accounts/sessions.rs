//! Web console sessions in the metadata database: the rows only. Making and checking the secrets is
//! `auth::session`'s job.

use crate::store::sql::params;
use crate::store::{Result, Store, now};

/// A session as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRow {
    /// The account it belongs to.
    pub user_id: i64,
    /// The account's credential generation when it was opened.
    pub generation: i64,
    /// The token forms must carry (synchronizer token against cross-site requests).
    pub csrf_token: String,
    /// When it ends (Unix seconds).
    pub expires_at: i64,
}

impl Store {
    /// Stores a new session under the hash of its secret, dropping expired sessions on the way
    /// (so the table stays the size of the sessions in use).
    ///
    /// # Errors
    /// Database failures.
    pub async fn insert_session(&self, secret_hash: String, row: SessionRow) -> Result<()> {
        self.db()
            .write(move |tx| {
                let t = now();
                tx.execute("DELETE FROM console_sessions WHERE expires_at <= ?1", params![t])?;
                tx.execute(
                    "INSERT INTO console_sessions (secret_hash, user_id, generation, csrf_token, created_at, expires_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    params![&secret_hash, row.user_id, row.generation, &row.csrf_token, t, row.expires_at],
                )?;
                Ok(())
            })
            .await
    }

    /// The unexpired session stored under `secret_hash`.
    ///
    /// # Errors
    /// Database failures.
    pub async fn find_session(&self, secret_hash: String) -> Result<Option<SessionRow>> {
        self.db()
            .read(move |c| {
                let row = c.query_opt(
                    "SELECT user_id, generation, csrf_token, expires_at FROM console_sessions
                      WHERE secret_hash = ?1 AND expires_at > ?2",
                    params![&secret_hash, now()],
                )?;
                let Some(mut r) = row else { return Ok(None) };
                Ok(Some(SessionRow {
                    user_id: r.get(0)?,
                    generation: r.get(1)?,
                    csrf_token: r.get(2)?,
                    expires_at: r.get(3)?,
                }))
            })
            .await
    }

    /// Ends a session (logout). Ending an unknown session is not an error.
    ///
    /// # Errors
    /// Database failures.
    pub async fn delete_session(&self, secret_hash: String) -> Result<()> {
        self.db()
            .write(move |tx| {
                tx.execute("DELETE FROM console_sessions WHERE secret_hash = ?1", params![&secret_hash])?;
                Ok(())
            })
            .await
    }
}
