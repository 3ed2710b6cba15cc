//! Who is calling and what they may do: password checks (argon2id), Bearer tokens, scopes,
//! roles and grants, and back-off on failed logins.
//!
//! The registry asks one question per request: [`Auth::check`] with the credentials presented
//! and the `(resource, action)` pairs the request needs. The answer is a [`Principal`] or a
//! [`Denial`]: authenticate (401 with a challenge), forbidden (403), or slow down (429).
//! Accounts live in the store; this module may call `store`, never `registry`.

pub mod limiter;
pub mod password;
pub mod scope;
pub mod session;
pub mod token;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine as _;
use hmac::{KeyInit, Mac};

use crate::accounts::grants::Permissions;
use crate::accounts::store::Account;
use crate::accounts::{Action, Secret, UserName};
use crate::reference::RepoName;
use crate::store::{self, Store};
use limiter::{Key, Limiter};
use scope::{Resource, Scope};
use token::{Claims, TokenError};

/// How long a successful password check is remembered, so that clients sending basic auth on
/// every request do not pay for argon2 each time. The account is still read on every request, and
/// a password or role change voids the remembered check at once (it names the generation).
const VERIFIED_TTL: Duration = Duration::from_mins(1);
/// Refresh tokens (identity tokens of `docker login`) last this long.
const REFRESH_TTL_SECONDS: i64 = 90 * 24 * 3600;

/// Authentication settings taken from the config.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Let requests without credentials pull.
    pub anonymous_pull: bool,
    /// Lifetime of access tokens.
    pub token_ttl: Duration,
}

/// Credentials as presented in an `Authorization` header.
#[derive(Debug)]
pub enum Credentials {
    /// No header.
    None,
    /// `Basic base64(user:password)`.
    Basic {
        /// The user name as sent.
        user: String,
        /// The password as sent.
        password: Secret,
    },
    /// `Bearer <token>`.
    Bearer(String),
}

/// Who a request runs as, with what the account may do as it is now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// No credentials (only with anonymous pull).
    Anonymous,
    /// An account.
    User {
        /// Its id (never reused).
        id: i64,
        /// Its name.
        name: UserName,
        /// Its credential generation.
        generation: i64,
        /// Its role and grants.
        permissions: Permissions,
    },
}

impl Principal {
    fn of(account: Account) -> Principal {
        let permissions = account.permissions();
        Principal::User { id: account.id, name: account.name, generation: account.generation, permissions }
    }

    /// Whether this principal may do `action` on `resource` now.
    #[must_use]
    pub fn allows(&self, resource: &Resource, action: Action, anonymous_pull: bool) -> bool {
        match (self, resource) {
            (Principal::Anonymous, _) => anonymous_pull && matches!(action, Action::Pull | Action::Catalog),
            (Principal::User { permissions, .. }, Resource::Registry) => permissions.may_list(),
            (Principal::User { permissions, .. }, Resource::Repository(r)) => permissions.allows(r, action),
        }
    }

    /// Whether `repo` appears in this principal's catalog.
    #[must_use]
    pub fn sees(&self, repo: &RepoName, anonymous_pull: bool) -> bool {
        self.allows(&Resource::Repository(repo.clone()), Action::Pull, anonymous_pull)
    }

    /// Whether every repository is visible (the catalog needs no filtering).
    #[must_use]
    pub fn sees_everything(&self, anonymous_pull: bool) -> bool {
        match self {
            Principal::Anonymous => anonymous_pull,
            Principal::User { permissions, .. } => permissions.sees_everything(),
        }
    }

    /// The name for logs and tokens (`""` when anonymous).
    #[must_use]
    pub fn name(&self) -> &str {
        match self {
            Principal::Anonymous => "",
            Principal::User { name, .. } => name.as_str(),
        }
    }
}

/// Why a request may not proceed.
#[derive(Debug, thiserror::Error)]
pub enum Denial {
    /// Credentials missing, wrong, expired or lacking a scope the account could get: 401.
    #[error("authentication required: {0}")]
    Unauthenticated(&'static str),
    /// The account may never do this: 403.
    #[error("access denied")]
    Forbidden,
    /// Too many failed logins: 429.
    #[error("too many failed logins; retry in {} s", .0.as_secs().max(1))]
    RateLimited(Duration),
    /// The `Authorization` header cannot be parsed: 401.
    #[error("malformed Authorization header: {0}")]
    Malformed(&'static str),
    /// A store failure: 500.
    #[error(transparent)]
    Store(#[from] store::Error),
}

/// A freshly issued token.
#[derive(Debug, Clone)]
pub struct Issued {
    /// The access token.
    pub token: String,
    /// Its lifetime in seconds.
    pub expires_in: u64,
    /// When it was issued (Unix seconds).
    pub issued_at: i64,
    /// A refresh token, when asked for and the principal is an account.
    pub refresh_token: Option<String>,
}

/// A password check remembered: which account (id and generation) it proved.
type Verified = HashMap<[u8; 32], (i64, i64, Instant)>;

/// The authentication service. One per server.
pub struct Auth {
    store: Store,
    key: Vec<u8>,
    settings: Settings,
    limiter: Limiter,
    verified: Mutex<Verified>,
}

impl Auth {
    /// Loads (creating on first use) the token signing key from the database.
    ///
    /// # Errors
    /// Database failures.
    pub async fn open(store: Store, settings: Settings) -> Result<Auth, store::Error> {
        let fresh: [u8; 32] = rand::random();
        let key = store.setting_or_init("token_signing_key", fresh.to_vec()).await?;
        Ok(Auth { store, key, settings, limiter: Limiter::default(), verified: Mutex::default() })
    }

    /// The settings in force.
    #[must_use]
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Parses an `Authorization` header.
    ///
    /// # Errors
    /// [`Denial::Malformed`] for a header that is neither Basic nor Bearer, is not base64, has no
    /// colon or has an empty user.
    pub fn parse_authorization(header: Option<&str>) -> Result<Credentials, Denial> {
        let Some(header) = header else { return Ok(Credentials::None) };
        let (scheme, value) =
            header.trim().split_once(' ').ok_or(Denial::Malformed("expected '<scheme> <credentials>'"))?;
        let value = value.trim();
        if scheme.eq_ignore_ascii_case("basic") {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(value)
                .map_err(|_| Denial::Malformed("basic credentials are not base64"))?;
            let text = String::from_utf8(decoded).map_err(|_| Denial::Malformed("basic credentials are not UTF-8"))?;
            let (user, password) = text.split_once(':').ok_or(Denial::Malformed("basic credentials have no ':'"))?;
            if user.is_empty() {
                return Err(Denial::Malformed("empty user name"));
            }
            Ok(Credentials::Basic { user: user.to_string(), password: Secret::presented(password) })
        } else if scheme.eq_ignore_ascii_case("bearer") && !value.is_empty() {
            Ok(Credentials::Bearer(value.to_string()))
        } else {
            Err(Denial::Malformed("unsupported scheme; use Basic or Bearer"))
        }
    }

    /// Checks a user name and password, with back-off on failures per client and per user.
    /// Any success (remembered or verified now) clears the failures of both.
    ///
    /// # Errors
    /// [`Denial::RateLimited`] while backing off, [`Denial::Unauthenticated`] for a wrong name
    /// or password, [`Denial::Store`].
    pub async fn login(&self, client: IpAddr, user: &str, password: &Secret) -> Result<Principal, Denial> {
        let keys = [Key::Addr(client), Key::User(user.to_string())];
        let name = user.parse::<UserName>().ok();
        let cache_key = self.cache_key(user, password);
        // Proved within VERIFIED_TTL for this very account and generation: the password is right,
        // so it skips argon2 and the back-off, and counts as a success.
        let remembered = self.verified_lock().get(&cache_key).copied().filter(|(.., t)| t.elapsed() < VERIFIED_TTL);
        if let (Some((id, generation, _)), Some(name)) = (remembered, &name)
            && let Some(account) = self.store.find_user(name).await?
            && (account.id, account.generation) == (id, generation)
        {
            self.limiter.succeed(&keys);
            return Ok(Principal::of(account));
        }
        let attempt = self.limiter.begin(&keys).await.map_err(Denial::RateLimited)?;
        let account = match &name {
            Some(name) => self.store.find_user(name).await?,
            None => None,
        };
        let secret = password.clone();
        let hash = account.as_ref().map(|a| a.password_hash.clone());
        // argon2 costs ~20 ms of CPU: off the async workers. An unknown user is hashed against a
        // dummy so that timing does not reveal which names exist.
        let ok = tokio::task::spawn_blocking(move || {
            if let Some(h) = hash {
                password::verify(&secret, &h)
            } else {
                let _ = password::verify(&secret, DUMMY_HASH);
                false
            }
        })
        .await
        .map_err(store::Error::from)?;
        match account {
            Some(account) if ok => {
                attempt.succeed();
                self.verified_lock().insert(cache_key, (account.id, account.generation, Instant::now()));
                Ok(Principal::of(account))
            }
            _ => {
                let failures = attempt.fail();
                tracing::warn!(user, %client, failures, "failed login");
                Err(Denial::Unauthenticated("invalid user name or password"))
            }
        }
    }

    /// Decides whether `credentials` may do every `(resource, action)` in `needs`, against the
    /// account as it is now (its current role, grants and generation), whatever a token says.
    /// An empty `needs` (the `/v2/` check) still requires valid credentials.
    ///
    /// # Errors
    /// A [`Denial`] saying how to answer.
    pub async fn check(
        &self,
        client: IpAddr,
        credentials: Credentials,
        needs: &[(Resource, Action)],
    ) -> Result<Principal, Denial> {
        let anonymous_pull = self.settings.anonymous_pull;
        let allowed = |p: &Principal| needs.iter().all(|(r, a)| p.allows(r, *a, anonymous_pull));
        match credentials {
            Credentials::None => {
                if !needs.is_empty() && allowed(&Principal::Anonymous) {
                    Ok(Principal::Anonymous)
                } else {
                    Err(Denial::Unauthenticated("credentials required"))
                }
            }
            Credentials::Basic { user, password } => {
                let principal = self.login(client, &user, &password).await?;
                if allowed(&principal) { Ok(principal) } else { Err(Denial::Forbidden) }
            }
            Credentials::Bearer(t) => {
                let claims = self.verify_token(&t, "access")?;
                let principal = self.principal_of(&claims).await?;
                if !allowed(&principal) {
                    // The account may not do this now, whatever the token says.
                    return Err(if principal == Principal::Anonymous {
                        Denial::Unauthenticated("credentials required")
                    } else {
                        Denial::Forbidden
                    });
                }
                if needs.iter().all(|(r, a)| scope::granted(&claims.access, r, *a)) {
                    Ok(principal)
                } else {
                    // The account could do it but the token does not say so: ask for a new one.
                    Err(Denial::Unauthenticated("token lacks the required scope"))
                }
            }
        }
    }

    /// Issues an access token for `scopes`, each narrowed to what `principal` may do, bound to
    /// the account's id and credential generation.
    #[must_use]
    pub fn issue(&self, principal: &Principal, service: &str, scopes: &[Scope], with_refresh: bool) -> Issued {
        let now = store::now();
        let ttl = i64::try_from(self.settings.token_ttl.as_secs()).unwrap_or(3600);
        let access = scopes
            .iter()
            .map(|s| {
                let actions = s
                    .actions
                    .iter()
                    .copied()
                    .filter(|a| principal.allows(&s.resource, *a, self.settings.anonymous_pull))
                    .collect();
                Scope { resource: s.resource.clone(), actions }.to_grant()
            })
            .collect();
        let (uid, generation) = match principal {
            Principal::Anonymous => (0, 0),
            Principal::User { id, generation, .. } => (*id, *generation),
        };
        let claims = Claims {
            iss: token::ISSUER.into(),
            sub: principal.name().to_string(),
            aud: service.to_string(),
            exp: now + ttl,
            nbf: now,
            iat: now,
            jti: uuid::Uuid::new_v4().to_string(),
            access,
            kind: "access".into(),
            uid,
            generation,
        };
        let refresh_token = (with_refresh && *principal != Principal::Anonymous).then(|| {
            let refresh = Claims {
                exp: now + REFRESH_TTL_SECONDS,
                access: Vec::new(),
                kind: "refresh".into(),
                jti: uuid::Uuid::new_v4().to_string(),
                ..claims.clone()
            };
            token::sign(&self.key, &refresh)
        });
        Issued {
            token: token::sign(&self.key, &claims),
            expires_in: self.settings.token_ttl.as_secs(),
            issued_at: now,
            refresh_token,
        }
    }

    /// The account a refresh token belongs to (which must still exist, unchanged).
    ///
    /// # Errors
    /// [`Denial::Unauthenticated`] for an invalid, expired or revoked token.
    pub async fn redeem_refresh_token(&self, refresh_token: &str) -> Result<Principal, Denial> {
        let claims = self.verify_token(refresh_token, "refresh")?;
        self.principal_of(&claims).await
    }

    fn verify_token(&self, t: &str, kind: &str) -> Result<Claims, Denial> {
        token::verify(&self.key, t, kind, store::now()).map_err(|e| {
            tracing::debug!(error = %e, "token refused");
            Denial::Unauthenticated(match e {
                TokenError::Expired => "token expired",
                TokenError::Signature => "token signature invalid",
                TokenError::Malformed | TokenError::Kind => "token malformed",
            })
        })
    }

    /// The account a token was issued to, as it is now. A token names the account's id and
    /// generation: a deleted account, a new account under the same name, or a password or role
    /// change since the token was issued all void it.
    async fn principal_of(&self, claims: &Claims) -> Result<Principal, Denial> {
        if claims.sub.is_empty() {
            return Ok(Principal::Anonymous);
        }
        let account =
            self.store.find_user_by_id(claims.uid).await?.ok_or(Denial::Unauthenticated("account no longer exists"))?;
        if account.name.as_str() != claims.sub || account.generation != claims.generation {
            return Err(Denial::Unauthenticated("token revoked: the account changed since it was issued"));
        }
        Ok(Principal::of(account))
    }

    fn cache_key(&self, user: &str, password: &Secret) -> [u8; 32] {
        let mut m = <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(&self.key)
            .unwrap_or_else(|_| unreachable!("any key length"));
        m.update(user.as_bytes());
        m.update(&[0]);
        m.update(password.expose().as_bytes());
        m.finalize().into_bytes().into()
    }

    fn verified_lock(&self) -> std::sync::MutexGuard<'_, Verified> {
        let mut map = self.verified.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if map.len() > 10_000 {
            map.retain(|_, (.., t)| t.elapsed() < VERIFIED_TTL);
        }
        map
    }
}

/// An argon2id hash of a random string, checked against for unknown users.
const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$7mD3Xg3xKk7B0mQyq1Qv5gT0zQ1V6m0kJ8aQhXjv6bE";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authorization_headers() {
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        let cases: Vec<(&str, Option<String>, bool)> = vec![
            ("none", None, true),
            ("basic", Some(format!("Basic {}", b64("init:secret123"))), true),
            ("basic, colon in password", Some(format!("basic {}", b64("u1:a:b"))), true),
            ("bearer", Some("Bearer abc.def.ghi".into()), true),
            ("not base64", Some("Basic !!!".into()), false),
            ("no colon", Some(format!("Basic {}", b64("init"))), false),
            ("empty user", Some(format!("Basic {}", b64(":pw"))), false),
            ("unknown scheme", Some("Digest x".into()), false),
            ("no value", Some("Basic".into()), false),
            ("empty bearer", Some("Bearer  ".into()), false),
        ];
        for (name, header, ok) in cases {
            assert_eq!(Auth::parse_authorization(header.as_deref()).is_ok(), ok, "case {name}");
        }
    }

    #[test]
    fn dummy_hash_is_a_valid_phc_string() {
        // If it did not parse, unknown users would be answered faster than known ones.
        assert!(argon2::password_hash::phc::PasswordHash::new(DUMMY_HASH).is_ok());
    }
}
