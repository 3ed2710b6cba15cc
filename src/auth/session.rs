//! Web console sessions. The browser holds a random secret in an `HttpOnly` cookie; the database
//! holds only its SHA-256. A session is bound, like a token, to the account's id and credential
//! generation, so a password or role change or a deletion ends it at once; and it is read
//! against the account as it is now on every request, so rights are never stale.
//!
//! Each session also has a CSRF token that every form carries (synchronizer token pattern).

use std::time::Duration;

use sha2::Digest as _;

use super::{Auth, Principal};
use crate::accounts::Secret;
use crate::accounts::sessions::SessionRow;
use crate::store;

/// How long a console session lasts after login.
pub const SESSION_TTL: Duration = Duration::from_hours(8);

/// A live session.
#[derive(Debug, Clone)]
pub struct Session {
    /// The account, as it is now.
    pub principal: Principal,
    /// The token every state-changing request must carry.
    pub csrf_token: String,
}

/// Length of session secrets and CSRF tokens: 43 characters of 62, about 256 bits.
const TOKEN_LEN: usize = 43;

fn secret_hash(secret: &str) -> String {
    hex::encode(sha2::Sha256::digest(secret.as_bytes()))
}

/// Compares two tokens in time independent of where they differ.
#[must_use]
pub fn tokens_match(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl Auth {
    /// Opens a session for an account that just logged in; returns the cookie secret with it
    /// (`None` for an anonymous principal, which has no session).
    ///
    /// # Errors
    /// Database failures.
    pub async fn open_session(&self, principal: &Principal) -> Result<Option<(Secret, Session)>, store::Error> {
        let Principal::User { id, generation, .. } = principal else { return Ok(None) };
        let secret = Secret::generate(TOKEN_LEN);
        let csrf_token = Secret::generate(TOKEN_LEN).expose().to_string();
        let expires_at = store::now() + i64::try_from(SESSION_TTL.as_secs()).unwrap_or(i64::MAX);
        let row = SessionRow { user_id: *id, generation: *generation, csrf_token: csrf_token.clone(), expires_at };
        self.store.insert_session(secret_hash(secret.expose()), row).await?;
        Ok(Some((secret, Session { principal: principal.clone(), csrf_token })))
    }

    /// The session a cookie secret opens, if it is live and its account unchanged.
    ///
    /// # Errors
    /// Database failures.
    pub async fn session(&self, secret: &str) -> Result<Option<Session>, store::Error> {
        let Some(row) = self.store.find_session(secret_hash(secret)).await? else { return Ok(None) };
        let Some(account) = self.store.find_user_by_id(row.user_id).await? else { return Ok(None) };
        if account.generation != row.generation {
            return Ok(None);
        }
        Ok(Some(Session { principal: Principal::of(account), csrf_token: row.csrf_token }))
    }

    /// Ends the session of a cookie secret (logout).
    ///
    /// # Errors
    /// Database failures.
    pub async fn close_session(&self, secret: &str) -> Result<(), store::Error> {
        self.store.delete_session(secret_hash(secret)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_comparison() {
        assert!(tokens_match("abc", "abc"));
        assert!(!tokens_match("abc", "abd"));
        assert!(!tokens_match("abc", "abcd"));
        assert!(!tokens_match("", "a"));
    }
}
