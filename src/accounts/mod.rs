//! Accounts, in one place: the vocabulary shared by `auth` (which checks accounts) and the rest
//! (user names, roles, actions, secrets), the rows kept in the database, and the `user` command.
//!
//! - [`grants`]: namespace-scoped grants (`team-a/*` → push) and what an account may do where
//! - [`store`]: accounts and grants in `SQLite` (`impl Store`)
//! - [`sessions`]: web console sessions in `SQLite`
//! - [`admin`]: `mirror-registry user`, account administration from the command line
//!
//! An account has a registry-wide [`Role`] and any number of namespace [`grants::Grant`]s; what
//! it may do on a repository is the union of both ([`grants::Permissions`]). Every change of its
//! password or role bumps its credential generation, and tokens carry `(id, generation)`, so a
//! change (or a deletion, or a new account under the same name) voids every token issued before.
//!
//! ```text
//! user name := [a-z0-9]+ ([._-] [a-z0-9]+)*      2 to 255 characters
//! password  := at least 8 characters, no whitespace
//! ```

pub mod admin;
pub mod grants;
pub mod sessions;
pub mod store;

use std::fmt;
use std::str::FromStr;

/// Why an account value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The user name breaks the grammar.
    #[error("invalid user name {0:?}: use 2-255 characters of [a-z0-9], separated by single '.', '_' or '-'")]
    UserName(String),
    /// The password is too short or has whitespace.
    #[error("invalid password: it must have at least 8 characters and no whitespace")]
    Password,
    /// Unknown role name.
    #[error("unknown role {0:?}: use admin, push, pull or none")]
    Role(String),
    /// Unknown grant level.
    #[error("unknown grant level {0:?}: use admin, push or pull")]
    Level(String),
    /// A grant pattern outside the grammar.
    #[error("invalid repository pattern {0:?}: use a repository name, a namespace ending in '/*' (team-a/*), or '*'")]
    Pattern(String),
}

/// A validated user (or robot) name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UserName(String);

impl UserName {
    /// The name as text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for UserName {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        let parts_ok = s
            .split(['.', '_', '-'])
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()));
        if (2..=255).contains(&s.len()) && parts_ok {
            Ok(UserName(s.to_string()))
        } else {
            Err(Error::UserName(s.to_string()))
        }
    }
}

impl fmt::Display for UserName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A secret (password or robot token). Never printed by `Debug` or `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a password after checking the password rule.
    ///
    /// # Errors
    /// [`Error::Password`].
    pub fn password(s: &str) -> Result<Secret, Error> {
        if s.chars().count() >= 8 && !s.chars().any(char::is_whitespace) {
            Ok(Secret(s.to_string()))
        } else {
            Err(Error::Password)
        }
    }

    /// Wraps a presented credential without checking the rule (it is only compared).
    #[must_use]
    pub fn presented(s: &str) -> Secret {
        Secret(s.to_string())
    }

    /// A random secret of `len` characters from `[A-Za-z0-9]`.
    #[must_use]
    pub fn generate(len: usize) -> Secret {
        use rand::RngExt;
        const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        let mut rng = rand::rng();
        Secret((0..len).map(|_| char::from(CHARS[rng.random_range(0..CHARS.len())])).collect())
    }

    /// The secret itself, for hashing or showing once to its owner.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// What an account may do everywhere in the registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Everything.
    Admin,
    /// Read and write (pull, push, delete).
    Push,
    /// Read only.
    Pull,
    /// Nothing registry-wide: only what the account's namespace grants give.
    None,
}

impl Role {
    /// The role's name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Push => "push",
            Role::Pull => "pull",
            Role::None => "none",
        }
    }

    /// Whether the role allows `action` on every repository.
    #[must_use]
    pub fn allows(self, action: Action) -> bool {
        match self {
            Role::Admin | Role::Push => true,
            Role::Pull => matches!(action, Action::Pull | Action::Catalog),
            Role::None => false,
        }
    }
}

impl FromStr for Role {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        match s {
            "admin" => Ok(Role::Admin),
            "push" => Ok(Role::Push),
            "pull" => Ok(Role::Pull),
            "none" => Ok(Role::None),
            _ => Err(Error::Role(s.to_string())),
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Something a request does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Action {
    /// Read manifests, blobs, tags, referrers.
    Pull,
    /// Upload blobs, push manifests.
    Push,
    /// Delete manifests, tags, blobs.
    Delete,
    /// List repositories.
    Catalog,
}

impl Action {
    /// The action as written in a token scope.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Pull => "pull",
            Action::Push => "push",
            Action::Delete => "delete",
            Action::Catalog => "*",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_names() {
        let cases = [
            ("simple", "init", true),
            ("separators", "ci.bot-1_x", true),
            ("one char", "a", false),
            ("upper case", "Admin", false),
            ("double separator", "a..b", false),
            ("leading separator", "-a", false),
            ("plus", "org+robot", false),
            ("space", "a b", false),
        ];
        for (name, input, ok) in cases {
            assert_eq!(input.parse::<UserName>().is_ok(), ok, "case {name}");
        }
    }

    #[test]
    fn passwords_and_secrets() {
        assert!(Secret::password("12345678").is_ok());
        assert_eq!(Secret::password("1234567"), Err(Error::Password));
        assert_eq!(Secret::password("has space1"), Err(Error::Password));
        let s = Secret::generate(32);
        assert_eq!(s.expose().len(), 32);
        assert_eq!(format!("{s:?}"), "***", "Debug never shows a secret");
        assert_ne!(Secret::generate(32), s);
    }

    #[test]
    fn roles() {
        assert!(
            Role::Pull.allows(Action::Pull) && !Role::Pull.allows(Action::Push) && !Role::Pull.allows(Action::Delete)
        );
        assert!(Role::Push.allows(Action::Push) && Role::Push.allows(Action::Delete));
        assert!(Role::Admin.allows(Action::Catalog));
        for a in [Action::Pull, Action::Push, Action::Delete, Action::Catalog] {
            assert!(!Role::None.allows(a), "none allows nothing registry-wide: {a:?}");
        }
        assert_eq!("push".parse::<Role>(), Ok(Role::Push));
        assert_eq!("none".parse::<Role>(), Ok(Role::None));
        assert!("root".parse::<Role>().is_err());
    }
}
