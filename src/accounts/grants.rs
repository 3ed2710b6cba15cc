//! Namespace-scoped grants, the way Quay's organizations are used: `alice` may push to `team-a/*`
//! and pull from `shared/base`, and nothing else, whatever her registry-wide role says beyond it.
//!
//! ```text
//! pattern := "*"                       every repository
//!          | <repository>              exactly that repository            e.g. shared/base
//!          | <namespace> "/*"          every repository below it, any depth   e.g. team-a/*
//! level   := pull | push | admin       push and admin also delete; admin is for managing it
//! ```
//!
//! What an account may do on a repository is the union of its role and its grants
//! ([`Permissions`]). Grants never give the catalog as a whole: an account without a
//! registry-wide pull sees only the repositories it may pull.

use std::fmt;
use std::str::FromStr;

use super::{Action, Error, Role};
use crate::reference::RepoName;

/// Which repositories a grant covers.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Pattern(String);

impl Pattern {
    /// The pattern as written.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `repo` is covered.
    #[must_use]
    pub fn matches(&self, repo: &RepoName) -> bool {
        let repo = repo.as_str();
        match self.0.strip_suffix("/*") {
            _ if self.0 == "*" => true,
            // `team-a/*` covers `team-a/x` and `team-a/x/y`, never `team-a` itself nor `team-ab/x`.
            Some(namespace) => repo.strip_prefix(namespace).is_some_and(|rest| rest.starts_with('/')),
            None => repo == self.0,
        }
    }
}

impl FromStr for Pattern {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        let name = s.strip_suffix("/*").unwrap_or(s);
        if s == "*" || name.parse::<RepoName>().is_ok() {
            Ok(Pattern(s.to_string()))
        } else {
            Err(Error::Pattern(s.chars().take(300).collect()))
        }
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a grant allows on the repositories it covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Read.
    Pull,
    /// Read, write and delete.
    Push,
    /// Everything, including managing the namespace from the web console.
    Admin,
}

impl Level {
    /// The level's name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Pull => "pull",
            Level::Push => "push",
            Level::Admin => "admin",
        }
    }

    fn allows(self, action: Action) -> bool {
        match self {
            Level::Pull => action == Action::Pull,
            Level::Push | Level::Admin => matches!(action, Action::Pull | Action::Push | Action::Delete),
        }
    }
}

impl FromStr for Level {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        match s {
            "pull" => Ok(Level::Pull),
            "push" => Ok(Level::Push),
            "admin" => Ok(Level::Admin),
            _ => Err(Error::Level(s.to_string())),
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One grant of an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// Which repositories.
    pub pattern: Pattern,
    /// What it allows there.
    pub level: Level,
}

/// Everything an account may do: its role everywhere, its grants where they apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Permissions {
    /// The registry-wide role.
    pub role: Role,
    /// Namespace grants.
    pub grants: Vec<Grant>,
}

impl Permissions {
    /// Whether `action` is allowed on `repo`.
    #[must_use]
    pub fn allows(&self, repo: &RepoName, action: Action) -> bool {
        self.role.allows(action) || self.grants.iter().any(|g| g.level.allows(action) && g.pattern.matches(repo))
    }

    /// Whether the catalog may be listed at all (filtered by [`Permissions::sees`] unless the
    /// role reads everything).
    #[must_use]
    pub fn may_list(&self) -> bool {
        self.role.allows(Action::Catalog) || !self.grants.is_empty()
    }

    /// Whether `repo` appears in this account's catalog.
    #[must_use]
    pub fn sees(&self, repo: &RepoName) -> bool {
        self.allows(repo, Action::Pull)
    }

    /// Whether every repository is visible (no filtering needed).
    #[must_use]
    pub fn sees_everything(&self) -> bool {
        self.role.allows(Action::Pull)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo(s: &str) -> RepoName {
        s.parse().expect("repository name")
    }

    #[test]
    fn patterns_match_names_and_namespaces() {
        let cases = [
            ("*", "anything/at/all", true),
            ("team-a/*", "team-a/app", true),
            ("team-a/*", "team-a/app/sub", true),
            ("team-a/*", "team-a", false),
            ("team-a/*", "team-ab/app", false),
            ("team-a/app", "team-a/app", true),
            ("team-a/app", "team-a/app/sub", false),
            ("a/b/*", "a/b/c", true),
            ("a/b/*", "a/c", false),
        ];
        for (pattern, name, expected) in cases {
            let p: Pattern = pattern.parse().expect(pattern);
            assert_eq!(p.matches(&repo(name)), expected, "{pattern} vs {name}");
        }
        for bad in ["", "/*", "Team/*", "team-a/**", "a/*/b", "../x", "a//b", "team-a/"] {
            assert!(bad.parse::<Pattern>().is_err(), "{bad:?} must be refused");
        }
    }

    #[test]
    fn permissions_are_role_or_grants() {
        let p = Permissions {
            role: Role::None,
            grants: vec![
                Grant { pattern: "team-a/*".parse().expect("pattern"), level: Level::Push },
                Grant { pattern: "shared/base".parse().expect("pattern"), level: Level::Pull },
            ],
        };
        assert!(p.allows(&repo("team-a/x"), Action::Push) && p.allows(&repo("team-a/x"), Action::Delete));
        assert!(p.allows(&repo("shared/base"), Action::Pull) && !p.allows(&repo("shared/base"), Action::Push));
        assert!(!p.allows(&repo("team-b/x"), Action::Pull));
        assert!(p.may_list() && !p.sees_everything() && !p.sees(&repo("team-b/x")) && p.sees(&repo("team-a/x")));
        let reader = Permissions { role: Role::Pull, grants: p.grants.clone() };
        assert!(reader.allows(&repo("team-b/x"), Action::Pull) && !reader.allows(&repo("team-b/x"), Action::Push));
        assert!(reader.allows(&repo("team-a/x"), Action::Push), "a grant adds to the role");
        let nobody = Permissions { role: Role::None, grants: Vec::new() };
        assert!(!nobody.may_list() && !nobody.allows(&repo("x"), Action::Pull));
    }
}
