//! Accounts and their grants in the metadata database. Hashing and checking passwords is `auth`'s job; this
//! module keeps the rows and the rules that span rows (the last admin stays, every credential or
//! role change bumps the generation).

use super::grants::{Grant, Pattern, Permissions};
use super::{Role, UserName};
use crate::store::sql::{self, Conn, Param, params};
use crate::store::{Error, Result, Store, now};

/// An account as stored, with its grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// Never reused, even after the account is deleted.
    pub id: i64,
    /// Its name.
    pub name: UserName,
    /// Its argon2id PHC hash.
    pub password_hash: String,
    /// What it may do everywhere.
    pub role: Role,
    /// Whether it is a robot (token for pull secrets) rather than a person.
    pub robot: bool,
    /// Bumped by every password or role change; tokens carry the generation they were issued in.
    pub generation: i64,
    /// Namespace grants, by pattern.
    pub grants: Vec<Grant>,
}

impl Account {
    /// What the account may do where.
    #[must_use]
    pub fn permissions(&self) -> Permissions {
        Permissions { role: self.role, grants: self.grants.clone() }
    }
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
    /// Deleting or demoting the last administrator would lock everyone out.
    #[error("user {0} is the last admin; make another admin first")]
    LastAdmin(UserName),
    /// Revoking a grant the account does not have.
    #[error("user {0} has no grant on {1}")]
    NoGrant(UserName, Pattern),
    /// Any store failure.
    #[error(transparent)]
    Store(#[from] Error),
}

impl From<sql::Error> for AccountError {
    fn from(e: sql::Error) -> Self {
        AccountError::Store(e.into())
    }
}

impl From<tokio::task::JoinError> for AccountError {
    fn from(e: tokio::task::JoinError) -> Self {
        AccountError::Store(e.into())
    }
}

const COLUMNS: &str = "id, name, password_hash, role, robot, generation";

/// Reads accounts matching `filter` (a `WHERE` clause over `users`, with `params`) with their
/// grants. Rows that no longer parse (edited by hand) are skipped rather than failing every login.
fn accounts(c: &dyn Conn, filter: &str, params: &[Param<'_>]) -> sql::Result<Vec<Account>> {
    let rows = c.query_map(&format!("SELECT {COLUMNS} FROM users WHERE {filter} ORDER BY name"), params, |mut r| {
        Ok((r.get(0)?, r.get::<String>(1)?, r.get(2)?, r.get::<String>(3)?, r.get(4)?, r.get(5)?))
    })?;
    let mut out = Vec::with_capacity(rows.len());
    for (id, name, password_hash, role, robot, generation) in rows {
        let (Ok(name), Ok(role)) = (name.parse(), role.parse()) else { continue };
        let grants = c
            .query_map(
                "SELECT pattern, level FROM grants WHERE user_id = ?1 ORDER BY pattern",
                params![id],
                |mut r| Ok((r.get::<String>(0)?, r.get::<String>(1)?)),
            )?
            .into_iter()
            .filter_map(|(pattern, level)| Some(Grant { pattern: pattern.parse().ok()?, level: level.parse().ok()? }))
            .collect();
        out.push(Account { id, name, password_hash, role, robot, generation, grants });
    }
    Ok(out)
}

/// The id and role of `name`, inside a write.
fn id_and_role(tx: &dyn Conn, name: &UserName) -> Result<(i64, String), AccountError> {
    let mut row = tx
        .query_opt("SELECT id, role FROM users WHERE name = ?1", params![name.as_str()])?
        .ok_or_else(|| AccountError::Unknown(name.clone()))?;
    Ok((row.get(0)?, row.get(1)?))
}

fn is_last_admin(tx: &dyn Conn, role: &str) -> sql::Result<bool> {
    let admins: i64 = tx.query_row("SELECT COUNT(*) FROM users WHERE role = 'admin'", params![])?.get(0)?;
    Ok(role == "admin" && admins <= 1)
}

impl Store {
    /// Creates an account; returns its id.
    ///
    /// # Errors
    /// [`AccountError::Exists`] and database failures.
    pub async fn create_user(
        &self,
        name: &UserName,
        password_hash: String,
        role: Role,
        robot: bool,
    ) -> Result<i64, AccountError> {
        let n = name.clone();
        self.db()
            .write(move |tx| {
                let t = now();
                let inserted: Option<i64> = tx.query_value(
                    "INSERT INTO users (name, password_hash, role, robot, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?5)
                     ON CONFLICT(name) DO NOTHING RETURNING id",
                    params![n.as_str(), &password_hash, role.as_str(), robot, t],
                )?;
                inserted.ok_or(AccountError::Exists(n))
            })
            .await
    }

    /// Replaces an account's password hash and/or role, bumping its generation so that every
    /// token issued before stops working. Demoting the last admin is refused.
    ///
    /// # Errors
    /// [`AccountError::Unknown`], [`AccountError::LastAdmin`] and database failures.
    pub async fn update_user(
        &self,
        name: &UserName,
        password_hash: Option<String>,
        role: Option<Role>,
    ) -> Result<(), AccountError> {
        let n = name.clone();
        self.db()
            .write(move |tx| {
                let (id, current) = id_and_role(tx, &n)?;
                if role.is_some_and(|r| r != Role::Admin) && is_last_admin(tx, &current)? {
                    return Err(AccountError::LastAdmin(n));
                }
                tx.execute(
                    "UPDATE users SET password_hash = COALESCE(?2, password_hash), role = COALESCE(?3, role),
                            generation = generation + 1, updated_at = ?4
                      WHERE id = ?1",
                    params![id, password_hash.as_deref(), role.map(Role::as_str), now()],
                )?;
                Ok(())
            })
            .await
    }

    /// Deletes an account and its grants, refusing to delete the last administrator.
    ///
    /// # Errors
    /// [`AccountError::Unknown`], [`AccountError::LastAdmin`] and database failures.
    pub async fn delete_user(&self, name: &UserName) -> Result<(), AccountError> {
        let n = name.clone();
        self.db()
            .write(move |tx| {
                let (id, role) = id_and_role(tx, &n)?;
                if is_last_admin(tx, &role)? {
                    return Err(AccountError::LastAdmin(n));
                }
                tx.execute("DELETE FROM users WHERE id = ?1", params![id])?;
                Ok(())
            })
            .await
    }

    /// Grants `grant.level` on `grant.pattern` (replacing an earlier level on the same pattern).
    ///
    /// # Errors
    /// [`AccountError::Unknown`] and database failures.
    pub async fn grant(&self, name: &UserName, grant: Grant) -> Result<(), AccountError> {
        let n = name.clone();
        self.db()
            .write(move |tx| {
                let (id, _) = id_and_role(tx, &n)?;
                tx.execute(
                    "INSERT INTO grants (user_id, pattern, level, created_at) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (user_id, pattern) DO UPDATE SET level = excluded.level",
                    params![id, grant.pattern.as_str(), grant.level.as_str(), now()],
                )?;
                Ok(())
            })
            .await
    }

    /// Removes the grant on `pattern`. Takes effect on the next request: every request is checked
    /// against the grants as they are then.
    ///
    /// # Errors
    /// [`AccountError::Unknown`], [`AccountError::NoGrant`] and database failures.
    pub async fn revoke(&self, name: &UserName, pattern: &Pattern) -> Result<(), AccountError> {
        let (n, p) = (name.clone(), pattern.clone());
        self.db()
            .write(move |tx| {
                let (id, _) = id_and_role(tx, &n)?;
                let removed =
                    tx.execute("DELETE FROM grants WHERE user_id = ?1 AND pattern = ?2", params![id, p.as_str()])?;
                if removed == 0 { Err(AccountError::NoGrant(n, p)) } else { Ok(()) }
            })
            .await
    }

    /// One account by name, if it exists.
    ///
    /// # Errors
    /// Database failures.
    pub async fn find_user(&self, name: &UserName) -> Result<Option<Account>> {
        let n = name.clone();
        self.db().read(move |c| Ok(accounts(c, "name = ?1", params![n.as_str()])?.pop())).await
    }

    /// One account by id, if it still exists.
    ///
    /// # Errors
    /// Database failures.
    pub async fn find_user_by_id(&self, id: i64) -> Result<Option<Account>> {
        self.db().read(move |c| Ok(accounts(c, "id = ?1", params![id])?.pop())).await
    }

    /// Every account, by name.
    ///
    /// # Errors
    /// Database failures.
    pub async fn list_users(&self) -> Result<Vec<Account>> {
        self.db().read(|c| Ok(accounts(c, "TRUE", params![])?)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accounts::grants::Level;
    use crate::store::fixture::{Fixture, backend_tests};

    fn name(s: &str) -> UserName {
        s.parse().expect("name")
    }

    async fn ids_are_never_reused_and_changes_bump_the_generation(f: Fixture) {
        let store = &f.store;
        store.create_user(&name("root"), "h".into(), Role::Admin, false).await.expect("admin");
        let first = store.create_user(&name("alice"), "h1".into(), Role::Push, false).await.expect("alice");
        let a = store.find_user(&name("alice")).await.expect("read").expect("exists");
        assert_eq!((a.id, a.generation), (first, 1));

        store.update_user(&name("alice"), None, Some(Role::Pull)).await.expect("demote");
        let a = store.find_user_by_id(first).await.expect("read").expect("exists");
        assert_eq!((a.role, a.generation, a.password_hash.as_str()), (Role::Pull, 2, "h1"), "role change bumps");

        store.delete_user(&name("alice")).await.expect("delete");
        let second = store.create_user(&name("alice"), "h2".into(), Role::Push, false).await.expect("again");
        assert!(second > first, "a new alice is another account");
        assert!(store.find_user_by_id(first).await.expect("read").is_none());

        let err = store.update_user(&name("root"), None, Some(Role::Pull)).await.expect_err("last admin");
        assert!(matches!(err, AccountError::LastAdmin(_)), "{err}");
    }

    async fn grants_are_kept_replaced_revoked_and_die_with_the_account(f: Fixture) {
        let store = &f.store;
        store.create_user(&name("bob"), "h".into(), Role::None, false).await.expect("bob");
        let team: Pattern = "team-a/*".parse().expect("pattern");
        store.grant(&name("bob"), Grant { pattern: team.clone(), level: Level::Pull }).await.expect("grant");
        store.grant(&name("bob"), Grant { pattern: team.clone(), level: Level::Push }).await.expect("regrant");
        let bob = store.find_user(&name("bob")).await.expect("read").expect("bob");
        assert_eq!(bob.grants, vec![Grant { pattern: team.clone(), level: Level::Push }]);
        store.revoke(&name("bob"), &team).await.expect("revoke");
        let err = store.revoke(&name("bob"), &team).await.expect_err("nothing left");
        assert!(matches!(err, AccountError::NoGrant(..)), "{err}");
        store.grant(&name("bob"), Grant { pattern: team, level: Level::Pull }).await.expect("grant");
        store.delete_user(&name("bob")).await.expect("delete");
        store.create_user(&name("bob"), "h".into(), Role::None, false).await.expect("bob again");
        let bob = store.find_user(&name("bob")).await.expect("read").expect("bob");
        assert!(bob.grants.is_empty(), "grants went with the old account");
    }

    backend_tests!(
        ids_are_never_reused_and_changes_bump_the_generation,
        grants_are_kept_replaced_revoked_and_die_with_the_account,
    );
}
