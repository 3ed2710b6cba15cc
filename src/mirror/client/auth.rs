//! Registry credentials and the authentication handshake: reading `auth.json`, parsing
//! `WWW-Authenticate` challenges, and the Bearer token response.
//!
//! `auth.json` (containers-auth.json(5), also Docker's `config.json`):
//!
//! ```json
//! {"auths": {"quay.io": {"auth": "base64(user:password)"},
//!            "quay.io/team": {"auth": "..."},
//!            "https://index.docker.io/v1/": {"auth": "..."}}}
//! ```
//!
//! The most specific key wins: `host/ns/repo`, then `host/ns`, then `host`. Credential helpers
//! (`credHelpers`, `credsStore`) are not run.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde::Deserialize;

/// Why credentials could not be read.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file exists but could not be read.
    #[error("reading auth file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not a valid auth file.
    #[error("auth file {path}: {reason}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

/// A user name and password for one registry. `Debug` hides the password.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// User name.
    pub username: String,
    /// Password or token.
    pub password: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials").field("username", &self.username).field("password", &"***").finish()
    }
}

impl Credentials {
    /// The value of an `Authorization: Basic` header.
    #[must_use]
    pub fn basic_header(&self) -> String {
        let raw = format!("{}:{}", self.username, self.password);
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(raw))
    }
}

/// Credentials by registry key, as read from an auth file.
#[derive(Debug, Clone, Default)]
pub struct AuthFile {
    entries: HashMap<String, Credentials>,
}

#[derive(Deserialize)]
struct RawFile {
    #[serde(default)]
    auths: HashMap<String, RawEntry>,
}

#[derive(Deserialize)]
struct RawEntry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
}

impl AuthFile {
    /// The file to read: `explicit` if given, else `REGISTRY_AUTH_FILE`, else
    /// `$XDG_RUNTIME_DIR/containers/auth.json`, else `~/.docker/config.json`; the first default
    /// that exists.
    #[must_use]
    pub fn locate(explicit: Option<&Path>) -> Option<PathBuf> {
        if let Some(p) = explicit {
            return Some(p.to_path_buf());
        }
        let env_path = |var: &str, suffix: &str| std::env::var_os(var).map(|v| PathBuf::from(v).join(suffix));
        [
            std::env::var_os("REGISTRY_AUTH_FILE").map(PathBuf::from),
            env_path("XDG_RUNTIME_DIR", "containers/auth.json"),
            env_path("HOME", ".docker/config.json"),
        ]
        .into_iter()
        .flatten()
        .find(|p| p.is_file())
    }

    /// Reads an auth file.
    ///
    /// # Errors
    /// [`Error::Read`] or [`Error::Invalid`].
    pub fn load(path: &Path) -> Result<AuthFile, Error> {
        let text = std::fs::read(path).map_err(|source| Error::Read { path: path.to_path_buf(), source })?;
        Self::parse(&text).map_err(|reason| Error::Invalid { path: path.to_path_buf(), reason })
    }

    fn parse(text: &[u8]) -> Result<AuthFile, String> {
        let raw: RawFile = serde_json::from_slice(text).map_err(|e| e.to_string())?;
        let mut entries = HashMap::new();
        for (key, entry) in raw.auths {
            let creds = match (entry.auth, entry.username, entry.password) {
                (Some(auth), _, _) if !auth.is_empty() => {
                    let decoded = base64::engine::general_purpose::STANDARD
                        .decode(auth.trim())
                        .map_err(|e| format!("{key}: auth is not base64: {e}"))?;
                    let decoded = String::from_utf8(decoded).map_err(|_| format!("{key}: auth is not UTF-8"))?;
                    let (username, password) =
                        decoded.split_once(':').ok_or_else(|| format!("{key}: auth is not user:password"))?;
                    Credentials { username: username.to_string(), password: password.to_string() }
                }
                (_, Some(username), Some(password)) => Credentials { username, password },
                _ => continue,
            };
            entries.insert(normalize_key(&key), creds);
        }
        Ok(AuthFile { entries })
    }

    /// The credentials for `repository` on `registry`: the most specific matching key.
    #[must_use]
    pub fn lookup(&self, registry: &str, repository: &str) -> Option<&Credentials> {
        let registry = if registry == "docker.io" { "docker.io" } else { registry };
        let mut path = format!("{registry}/{repository}");
        loop {
            if let Some(c) = self.entries.get(&path) {
                return Some(c);
            }
            match path.rfind('/') {
                Some(i) => path.truncate(i),
                None => return None,
            }
        }
    }

    /// The credentials for a registry as a whole: its own key, else the entry of the shortest
    /// namespace under it.
    #[must_use]
    pub fn lookup_registry(&self, registry: &str) -> Option<&Credentials> {
        if let Some(c) = self.entries.get(registry) {
            return Some(c);
        }
        let prefix = format!("{registry}/");
        self.entries.iter().filter(|(k, _)| k.starts_with(&prefix)).min_by_key(|(k, _)| k.len()).map(|(_, c)| c)
    }
}

/// Strips a URL scheme and Docker's `/v1/` suffix from an auth key, and folds Docker Hub's
/// historical names into `docker.io`.
fn normalize_key(key: &str) -> String {
    let key = key.strip_prefix("https://").or_else(|| key.strip_prefix("http://")).unwrap_or(key);
    let key = key.trim_end_matches('/');
    let key = key.strip_suffix("/v1").or_else(|| key.strip_suffix("/v2")).unwrap_or(key);
    match key {
        "index.docker.io" | "registry-1.docker.io" => "docker.io".to_string(),
        other => other.to_string(),
    }
}

/// A parsed `WWW-Authenticate` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    /// `Basic realm=...`: send the user name and password on every request.
    Basic,
    /// `Bearer realm=...,service=...,scope=...`: fetch a token from `realm`.
    Bearer {
        /// The token endpoint.
        realm: String,
        /// The `service` parameter to pass on.
        service: Option<String>,
        /// The scope the server asked for, if it said.
        scope: Option<String>,
    },
}

/// Parses a `WWW-Authenticate` value. Parameters are `key=value` or `key="quoted, value"`.
#[must_use]
pub fn parse_challenge(header: &str) -> Option<Challenge> {
    let header = header.trim();
    let (scheme, params) = header.split_once(' ').unwrap_or((header, ""));
    let params = parse_params(params);
    match scheme.to_ascii_lowercase().as_str() {
        "basic" => Some(Challenge::Basic),
        "bearer" => Some(Challenge::Bearer {
            realm: params.get("realm")?.clone(),
            service: params.get("service").cloned(),
            scope: params.get("scope").cloned(),
        }),
        _ => None,
    }
}

fn parse_params(input: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
    let mut chars = input.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let key: String = std::iter::from_fn(|| chars.next_if(|c| *c != '=' && *c != ',')).collect();
        if key.is_empty() {
            return out;
        }
        if chars.next() != Some('=') {
            continue;
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '"' => break,
                    '\\' => value.extend(chars.next()),
                    other => value.push(other),
                }
            }
        } else {
            value = std::iter::from_fn(|| chars.next_if(|c| *c != ',')).collect();
        }
        out.insert(key.trim().to_ascii_lowercase(), value.trim().to_string());
    }
}

/// The token endpoint's answer (`token` and `access_token` are synonyms).
#[derive(Debug, Deserialize)]
pub struct TokenResponse {
    /// Docker's name for the token.
    #[serde(default)]
    pub token: Option<String>,
    /// OAuth2's name for the token.
    #[serde(default)]
    pub access_token: Option<String>,
    /// Lifetime in seconds (60 when absent, per the token spec).
    #[serde(default)]
    pub expires_in: Option<u64>,
}

impl TokenResponse {
    /// The token, whichever field carried it.
    #[must_use]
    pub fn into_token(self) -> Option<(String, u64)> {
        let ttl = self.expires_in.unwrap_or(60);
        self.token.or(self.access_token).filter(|t| !t.is_empty()).map(|t| (t, ttl))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges() {
        let cases: Vec<(&str, &str, Option<Challenge>)> = vec![
            ("basic", r#"Basic realm="basic-realm""#, Some(Challenge::Basic)),
            (
                "bearer with quoted comma in scope",
                r#"Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push""#,
                Some(Challenge::Bearer {
                    realm: "https://auth.example/token".into(),
                    service: Some("registry.example".into()),
                    scope: Some("repository:a/b:pull,push".into()),
                }),
            ),
            (
                "bearer unquoted, spaces",
                "bearer realm=http://127.0.0.1:1/t, service=svc",
                Some(Challenge::Bearer {
                    realm: "http://127.0.0.1:1/t".into(),
                    service: Some("svc".into()),
                    scope: None,
                }),
            ),
            ("bearer without realm", r#"Bearer service="x""#, None),
            ("unknown scheme", "Negotiate abc", None),
        ];
        for (name, input, expected) in cases {
            assert_eq!(parse_challenge(input), expected, "case {name}");
        }
    }

    #[test]
    fn auth_file_lookup_prefers_most_specific_key() {
        let enc = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        let text = format!(
            r#"{{"auths":{{"quay.io":{{"auth":"{}"}},"quay.io/team":{{"auth":"{}"}},"https://index.docker.io/v1/":{{"auth":"{}"}},"empty.io":{{}}}}}}"#,
            enc("host:1"),
            enc("team:2"),
            enc("hub:3:with:colons")
        );
        let file = AuthFile::parse(text.as_bytes()).expect("valid");
        let user = |r: &str, repo: &str| file.lookup(r, repo).map(|c| c.username.clone());
        let cases: Vec<(&str, &str, &str, Option<&str>)> = vec![
            ("registry key", "quay.io", "other/app", Some("host")),
            ("namespace key", "quay.io", "team/app", Some("team")),
            ("docker hub legacy key", "docker.io", "library/alpine", Some("hub")),
            ("unknown registry", "ghcr.io", "x/y", None),
            ("entry without auth", "empty.io", "x", None),
        ];
        for (name, registry, repo, expected) in cases {
            assert_eq!(user(registry, repo).as_deref(), expected, "case {name}");
        }
        assert_eq!(file.lookup("docker.io", "library/alpine").map(|c| c.password.as_str()), Some("3:with:colons"));
    }

    #[test]
    fn credentials_debug_hides_password() {
        let c = Credentials { username: "u".into(), password: "secret".into() };
        assert!(!format!("{c:?}").contains("secret"));
    }
}
