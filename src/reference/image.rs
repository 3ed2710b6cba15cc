//! A full image reference: registry host, repository, and an optional tag and digest.
//!
//! Grammar (the one container tools share, from distribution's `reference` package):
//!
//! ```text
//! image-ref  := [registry "/"] name [":" tag] ["@" digest]
//! registry   := host [":" port]
//! host       := label ("." label)* | "[" ipv6 "]"      label := [A-Za-z0-9] ([A-Za-z0-9-]* [A-Za-z0-9])?
//! port       := [0-9]+
//! ```
//!
//! The first path component is a registry when it contains `.` or `:`, is `localhost`, or has an
//! upper-case letter; otherwise the registry is `docker.io`, and a single-component name there
//! gets the `library/` prefix (`alpine` is `docker.io/library/alpine`). `name`, `tag` and
//! `digest` follow the grammars in [`crate::reference`].

use std::fmt;
use std::str::FromStr;

use super::{Digest, Reference, RepoName, Tag};

/// The registry assumed when a reference names none.
pub const DEFAULT_REGISTRY: &str = "docker.io";

/// Why an image reference was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// Empty input.
    #[error("empty image reference")]
    Empty,
    /// The registry part is not a host name or address with an optional port.
    #[error("invalid registry {0:?} in image reference: expected host[:port]")]
    Registry(String),
    /// The repository, tag or digest part breaks its grammar.
    #[error("invalid image reference {input:?}: {source}")]
    Part {
        /// The whole reference.
        input: String,
        /// The part that failed.
        source: super::Error,
    },
}

/// An image reference such as `quay.io/openshift/origin-cli:4.17@sha256:…`.
///
/// Fields are private: a value that exists has a valid registry, repository, tag and digest.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ImageRef {
    registry: String,
    repository: RepoName,
    tag: Option<Tag>,
    digest: Option<Digest>,
}

impl ImageRef {
    /// Builds a reference from parts, checking the registry host.
    ///
    /// # Errors
    /// [`Error::Registry`] when `registry` is not `host[:port]`.
    pub fn new(
        registry: &str,
        repository: RepoName,
        tag: Option<Tag>,
        digest: Option<Digest>,
    ) -> Result<ImageRef, Error> {
        if !is_valid_host(registry) {
            return Err(Error::Registry(registry.to_string()));
        }
        Ok(ImageRef { registry: registry.to_string(), repository, tag, digest })
    }

    /// The registry host, with its port when one was given.
    #[must_use]
    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// The repository path inside the registry.
    #[must_use]
    pub fn repository(&self) -> &RepoName {
        &self.repository
    }

    /// The tag, if the reference has one.
    #[must_use]
    pub fn tag(&self) -> Option<&Tag> {
        self.tag.as_ref()
    }

    /// The digest, if the reference has one.
    #[must_use]
    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }

    /// `registry/repository`, without tag or digest.
    #[must_use]
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// What to ask the registry for: the digest when there is one (it pins the content), else the
    /// tag, else `latest`.
    #[must_use]
    pub fn reference(&self) -> Reference {
        match (&self.digest, &self.tag) {
            (Some(d), _) => Reference::Digest(d.clone()),
            (None, Some(t)) => Reference::Tag(t.clone()),
            (None, None) => Reference::Tag(latest()),
        }
    }

    /// Whether the reference names a digest and no tag.
    #[must_use]
    pub fn is_digest_only(&self) -> bool {
        self.digest.is_some() && self.tag.is_none()
    }
}

fn latest() -> Tag {
    Tag::from_str("latest").expect("`latest` is a valid tag")
}

fn is_valid_label(label: &str) -> bool {
    let bytes = label.as_bytes();
    let (Some(first), Some(last)) = (bytes.first(), bytes.last()) else { return false };
    first.is_ascii_alphanumeric()
        && last.is_ascii_alphanumeric()
        && bytes.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'-')
}

/// `host[:port]` where host is dotted labels or a bracketed IPv6 address: the registry part of
/// an image reference, and what the server accepts as its own name from a `Host` header.
#[must_use]
pub fn is_valid_host(registry: &str) -> bool {
    let (host, port) = if let Some(rest) = registry.strip_prefix('[') {
        let Some((addr, after)) = rest.split_once(']') else { return false };
        if addr.parse::<std::net::Ipv6Addr>().is_err() {
            return false;
        }
        match after {
            "" => return true,
            _ => match after.strip_prefix(':') {
                Some(port) => (None, Some(port)),
                None => return false,
            },
        }
    } else {
        match registry.rsplit_once(':') {
            Some((host, port)) => (Some(host), Some(port)),
            None => (Some(registry), None),
        }
    };
    let host_ok = host.is_none_or(|h| !h.is_empty() && h.split('.').all(is_valid_label));
    let port_ok = port.is_none_or(|p| !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()));
    host_ok && port_ok
}

/// Whether the first path component names a registry rather than a repository component.
fn looks_like_registry(component: &str) -> bool {
    component.contains(['.', ':']) || component == "localhost" || component.bytes().any(|b| b.is_ascii_uppercase())
}

impl FromStr for ImageRef {
    type Err = Error;

    fn from_str(input: &str) -> Result<Self, Error> {
        if input.is_empty() {
            return Err(Error::Empty);
        }
        let part = |source| Error::Part { input: input.to_string(), source };
        let (rest, digest) = match input.split_once('@') {
            Some((rest, digest)) => (rest, Some(digest.parse::<Digest>().map_err(part)?)),
            None => (input, None),
        };
        // A tag follows the last ':' that comes after the last '/', so a registry port is never
        // mistaken for a tag.
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => {
                let split = last_slash + i;
                (&rest[..split], Some(rest[split + 1..].parse::<Tag>().map_err(part)?))
            }
            None => (rest, None),
        };
        let (registry, path) = match name.split_once('/') {
            Some((first, path)) if looks_like_registry(first) => (first, path.to_string()),
            _ if !name.contains('/') => (DEFAULT_REGISTRY, format!("library/{name}")),
            _ => (DEFAULT_REGISTRY, name.to_string()),
        };
        let registry = if registry == "index.docker.io" { DEFAULT_REGISTRY } else { registry };
        let repository = path.parse::<RepoName>().map_err(part)?;
        ImageRef::new(registry, repository, tag, digest)
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn parses_references() {
        let digest = format!("sha256:{HEX}");
        let cases: Vec<(&str, String, &str, &str, Option<&str>, Option<&str>)> = vec![
            ("host and tag", "quay.io/ns/app:v1".into(), "quay.io", "ns/app", Some("v1"), None),
            ("port, no tag", "localhost:5000/a/b/c".into(), "localhost:5000", "a/b/c", None, None),
            ("port and tag", "127.0.0.1:5000/app:1.0".into(), "127.0.0.1:5000", "app", Some("1.0"), None),
            ("digest only", format!("reg.io/app@{digest}"), "reg.io", "app", None, Some(&digest)),
            ("tag and digest", format!("reg.io/app:v2@{digest}"), "reg.io", "app", Some("v2"), Some(&digest)),
            ("docker hub short", "alpine".into(), "docker.io", "library/alpine", None, None),
            ("docker hub short with tag", "alpine:3".into(), "docker.io", "library/alpine", Some("3"), None),
            ("docker hub org", "bitnami/redis".into(), "docker.io", "bitnami/redis", None, None),
            ("index.docker.io", "index.docker.io/library/x".into(), "docker.io", "library/x", None, None),
            ("localhost", "localhost/app".into(), "localhost", "app", None, None),
            ("ipv6", "[::1]:5000/app:v1".into(), "[::1]:5000", "app", Some("v1"), None),
        ];
        for (name, input, registry, repo, tag, digest) in cases {
            let r: ImageRef = input.parse().unwrap_or_else(|e| panic!("case {name}: {e}"));
            assert_eq!(r.registry(), registry, "case {name}");
            assert_eq!(r.repository().as_str(), repo, "case {name}");
            assert_eq!(r.tag().map(Tag::as_str), tag, "case {name}");
            assert_eq!(r.digest().map(ToString::to_string).as_deref(), digest, "case {name}");
        }
    }

    #[test]
    fn refuses_bad_references() {
        let cases: &[(&str, &str)] = &[
            ("empty", ""),
            ("upper-case repository", "quay.io/Ns/app"),
            ("bad tag", "quay.io/app:-x"),
            ("bad digest", "quay.io/app@sha256:abc"),
            ("empty port", "quay.io:/app"),
            ("bad port", "quay.io:5x/app"),
            ("bad host label", "-bad.io/app"),
            ("trailing slash", "quay.io/app/"),
        ];
        for (name, input) in cases {
            assert!(input.parse::<ImageRef>().is_err(), "case {name}: {input:?} was accepted");
        }
    }

    #[test]
    fn display_round_trips() {
        let digest = format!("sha256:{HEX}");
        for input in
            ["quay.io/ns/app:v1", "localhost:5000/a/b", &format!("r.io/x:t@{digest}"), &format!("r.io/x@{digest}")]
        {
            let r: ImageRef = input.parse().expect("valid");
            assert_eq!(r.to_string(), input);
        }
    }

    #[test]
    fn reference_prefers_digest_then_tag_then_latest() {
        let digest = format!("sha256:{HEX}");
        let cases: Vec<(&str, String, String)> = vec![
            ("tag", "r.io/x:v1".into(), "v1".into()),
            ("digest wins over tag", format!("r.io/x:v1@{digest}"), digest.clone()),
            ("default latest", "r.io/x".into(), "latest".into()),
        ];
        for (name, input, expected) in cases {
            let r: ImageRef = input.parse().expect("valid");
            assert_eq!(r.reference().to_string(), expected, "case {name}");
        }
    }
}
