//! Accounts and server settings in SQLite. Hashing and checking passwords is `auth`'s job;
//! this module only keeps the rows.

use rusqlite::OptionalExtension;

use super::{Role, UserName};
use crate::store::{Error, Result, Store, now};

/// An account row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    /// Its name.
    pub name: UserName,
    /// Its argon2id PHC hash.
    pub password_hash: String,
    /// What it may do.
    pub role: Role,
    /// Whether it is a robot (token for pull secrets) rather than a person.
    pub robot: bool,
}

/// Why an account change was refused.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    /// Creating a name that exists.
    #[error("user {0} already exists")]
    Exists(UserName),
    /// Changing a name that does not exist.
    #[error("user {0} does not exist")]
    Unknown(UserName),
    /// Deleting the last administrator would lock everyone out.
    #[error("user {0} is the last admin; create another admin first")]
    LastAdmin(UserName),
    /// Any store failure.
    #[error(transparent)]
    Store(#[from] Error),
}

impl From<rusqlite::Error> for AccountError {
    fn from(e: rusqlite::Error) -> Self {
        AccountError::Store(e.into())
    }
}

impl From<tokio::task::JoinError> for AccountError {
    fn from(e: tokio::task::JoinError) -> Self {
        AccountError::Store(e.into())
    }
}

fn record(row: &rusqlite::Row<'_>) -> rusqlite::Result<(String, String, String, bool)> {
    Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
}

fn to_record((name, password_hash, role, robot): (String, String, String, bool)) -> Option<UserRecord> {
    Some(UserRecord { name: name.parse().ok()?, password_hash, role: role.parse().ok()?, robot })
}

impl Store {
    /// Creates an account.
    ///
    /// # Errors
    /// [`AccountError::Exists`] and database failures.
    pub async fn create_user(
        &self,
        name: &UserName,
        password_hash: String,
        role: Role,
        robot: bool,
    ) -> Result<(), AccountError> {
        let n = name.clone();
        self.db()
            .write(move |tx| {
                let t = now();
                let inserted = tx.execute(
                    "INSERT INTO users (name, password_hash, role, robot, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?5)
                     ON CONFLICT(name) DO NOTHING",
                    (n.as_str(), password_hash, role.as_str(), robot, t),
                )?;
                if inserted == 0 { Err(AccountError::Exists(n)) } else { Ok(()) }
            })
            .await
    }

    /// Replaces an account's password hash (and, when given, its role).
    ///
    /// # Errors
    /// [`AccountError::Unknown`] and database failures.
    pub async fn update_user(
        &self,
        name: &UserName,
        password_hash: String,
        role: Option<Role>,
    ) -> Result<(), AccountError> {
        let n = name.clone();
        self.db()
            .write(move |tx| {
                let changed = tx.execute(
                    "UPDATE users SET password_hash = ?2, role = COALESCE(?3, role), updated_at = ?4 WHERE name = ?1",
                    (n.as_str(), password_hash, role.map(Role::as_str), now()),
                )?;
                if changed == 0 { Err(AccountError::Unknown(n)) } else { Ok(()) }
            })
            .await
    }

    /// Deletes an account, refusing to delete the last administrator.
    ///
    /// # Errors
    /// [`AccountError::Unknown`], [`AccountError::LastAdmin`] and database failures.
    pub async fn delete_user(&self, name: &UserName) -> Result<(), AccountError> {
        let n = name.clone();
        self.db()
            .write(move |tx| {
                let role: Option<String> =
                    tx.query_row("SELECT role FROM users WHERE name = ?1", [n.as_str()], |r| r.get(0)).optional()?;
                let Some(role) = role else { return Err(AccountError::Unknown(n)) };
                let admins: i64 = tx.query_row("SELECT COUNT(*) FROM users WHERE role = 'admin'", [], |r| r.get(0))?;
                if role == "admin" && admins <= 1 {
                    return Err(AccountError::LastAdmin(n));
                }
                tx.execute("DELETE FROM users WHERE name = ?1", [n.as_str()])?;
                Ok(())
            })
            .await
    }

    /// One account, if it exists.
    ///
    /// # Errors
    /// Database failures.
    pub async fn find_user(&self, name: &UserName) -> Result<Option<UserRecord>> {
        let n = name.clone();
        self.db()
            .read(move |c| {
                let row = c
                    .query_row(
                        "SELECT name, password_hash, role, robot FROM users WHERE name = ?1",
                        [n.as_str()],
                        record,
                    )
                    .optional()?;
                Ok(row.and_then(to_record))
            })
            .await
    }

    /// Every account, by name.
    ///
    /// # Errors
    /// Database failures.
    pub async fn list_users(&self) -> Result<Vec<UserRecord>> {
        self.db()
            .read(|c| {
                let mut stmt = c.prepare("SELECT name, password_hash, role, robot FROM users ORDER BY name")?;
                let rows = stmt.query_map([], record)?.collect::<rusqlite::Result<Vec<_>>>()?;
                Ok(rows.into_iter().filter_map(to_record).collect())
            })
            .await
    }
}
