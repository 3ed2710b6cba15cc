//! Token scopes (Docker token authentication): what a token grants, and what a request needs.
//!
//! ```text
//! scope    := type ":" name ":" actions          e.g. repository:openshift/release:pull,push
//! type     := "repository" | "repository(" class ")" | "registry"
//! actions  := action ("," action)*               pull | push | delete | "*"
//! ```
//! `registry:catalog:*` grants listing repositories. `*` on a repository means every action.

use serde::{Deserialize, Serialize};

use crate::accounts::Action;
use crate::reference::RepoName;

/// What a grant or a need applies to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "type", content = "name", rename_all = "lowercase")]
pub enum Resource {
    /// One repository.
    Repository(RepoName),
    /// The registry as a whole (the catalog).
    Registry,
}

/// One entry of a token's `access` list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    /// `repository` or `registry`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Repository name, or `catalog`.
    pub name: String,
    /// Granted actions.
    pub actions: Vec<String>,
}

/// Why a scope string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid scope {0:?}: expected repository:<name>:<actions> or registry:catalog:*")]
pub struct ScopeError(pub String);

/// A parsed request for access.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    /// What it is about.
    pub resource: Resource,
    /// The actions asked for.
    pub actions: Vec<Action>,
}

impl Scope {
    /// Parses one scope string.
    ///
    /// # Errors
    /// [`ScopeError`] for anything outside the grammar above.
    pub fn parse(s: &str) -> Result<Scope, ScopeError> {
        let err = || ScopeError(s.chars().take(200).collect());
        let (kind, rest) = s.split_once(':').ok_or_else(err)?;
        let (name, actions) = rest.rsplit_once(':').ok_or_else(err)?;
        let kind = kind.split_once('(').map_or(kind, |(k, _)| k);
        match kind {
            "repository" => {
                let repo: RepoName = name.parse().map_err(|_| err())?;
                let mut parsed = Vec::new();
                for a in actions.split(',') {
                    match a {
                        "pull" => parsed.push(Action::Pull),
                        "push" => parsed.push(Action::Push),
                        "delete" => parsed.push(Action::Delete),
                        "*" => parsed.extend([Action::Pull, Action::Push, Action::Delete]),
                        _ => return Err(err()),
                    }
                }
                parsed.sort();
                parsed.dedup();
                Ok(Scope { resource: Resource::Repository(repo), actions: parsed })
            }
            "registry" if name == "catalog" && actions == "*" => {
                Ok(Scope { resource: Resource::Registry, actions: vec![Action::Catalog] })
            }
            _ => Err(err()),
        }
    }

    /// The scope as a string, for `WWW-Authenticate` challenges.
    #[must_use]
    pub fn to_challenge(&self) -> String {
        match &self.resource {
            Resource::Repository(r) => {
                let actions: Vec<&str> = self.actions.iter().map(|a| a.as_str()).collect();
                format!("repository:{r}:{}", actions.join(","))
            }
            Resource::Registry => "registry:catalog:*".into(),
        }
    }

    /// The token `access` entry granting this scope.
    #[must_use]
    pub fn to_grant(&self) -> Grant {
        let (kind, name) = match &self.resource {
            Resource::Repository(r) => ("repository", r.to_string()),
            Resource::Registry => ("registry", "catalog".to_string()),
        };
        Grant { kind: kind.into(), name, actions: self.actions.iter().map(|a| a.as_str().to_string()).collect() }
    }
}

/// Whether `grants` cover `action` on `resource`.
#[must_use]
pub fn granted(grants: &[Grant], resource: &Resource, action: Action) -> bool {
    let (kind, name) = match resource {
        Resource::Repository(r) => ("repository", r.as_str()),
        Resource::Registry => ("registry", "catalog"),
    };
    grants
        .iter()
        .any(|g| g.kind == kind && g.name == name && g.actions.iter().any(|a| a == action.as_str() || a == "*"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes() {
        let cases: &[(&str, &str, Option<&str>)] = &[
            ("pull", "repository:a/b:pull", Some("repository:a/b:pull")),
            ("pull and push", "repository:x:push,pull", Some("repository:x:pull,push")),
            ("star", "repository:x:*", Some("repository:x:pull,push,delete")),
            ("class", "repository(plugin):x:pull", Some("repository:x:pull")),
            ("catalog", "registry:catalog:*", Some("registry:catalog:*")),
            ("garbage", "garbage", None),
            ("unknown action", "repository:x:steal", None),
            ("bad name", "repository:X:pull", None),
            ("unknown type", "volume:x:pull", None),
            ("empty actions", "repository:x:", None),
            ("registry other", "registry:users:*", None),
        ];
        for (name, input, expected) in cases {
            let got = Scope::parse(input).ok().map(|s| s.to_challenge());
            assert_eq!(got.as_deref(), *expected, "case {name}");
        }
    }

    #[test]
    fn grants_match_resource_and_action() {
        let s = Scope::parse("repository:a:pull").expect("scope");
        let grants = vec![s.to_grant()];
        let a = Resource::Repository("a".parse().expect("name"));
        let b = Resource::Repository("b".parse().expect("name"));
        assert!(granted(&grants, &a, Action::Pull));
        assert!(!granted(&grants, &a, Action::Push), "push not granted");
        assert!(!granted(&grants, &b, Action::Pull), "a token for repository a does not open b");
    }
}
