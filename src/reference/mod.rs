//! Validated names of things: digests, repository names, tags, manifest references, upload ids.
//!
//! Grammars (OCI distribution-spec v1.1, "Pulling manifests" and image-spec `descriptor.md`):
//!
//! ```text
//! name       := component ("/" component)*            at most 255 bytes in all
//! component  := [a-z0-9]+ (separator [a-z0-9]+)*
//! separator  := "." | "_" | "__" | "-"+
//! tag        := [a-zA-Z0-9_] [a-zA-Z0-9._-]{0,127}
//! digest     := algorithm ":" encoded
//!               sha256: 64 lowercase hex characters, sha512: 128 lowercase hex characters
//! reference  := tag | digest
//! ```
//!
//! Every type has private fields and one validating constructor (`FromStr`), so a value that
//! exists is valid. Server and mirroring client share these types.

pub mod image;

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use sha2::Digest as _;

/// Why a name, tag, digest or upload id was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The repository name breaks the grammar above.
    #[error(
        "invalid repository name {0:?}: components must match [a-z0-9]+([._-][a-z0-9]+)*, joined by '/', at most 255 characters"
    )]
    Name(String),
    /// The tag breaks the grammar above.
    #[error("invalid tag {0:?}: must match [a-zA-Z0-9_][a-zA-Z0-9._-]{{0,127}}")]
    Tag(String),
    /// The digest is malformed (no algorithm, bad hex, wrong length).
    #[error("invalid digest {0:?}")]
    Digest(String),
    /// The digest is well formed but uses an algorithm this registry does not implement.
    #[error("unsupported digest algorithm in {0:?}: use sha256 or sha512")]
    DigestAlgorithm(String),
    /// The upload id is not one this registry could have issued.
    #[error("invalid upload id {0:?}")]
    UploadId(String),
}

/// The hash algorithms a digest may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Algorithm {
    /// SHA-256, the default everywhere.
    Sha256,
    /// SHA-512, allowed by the OCI image spec and checked by the conformance suite.
    Sha512,
}

impl Algorithm {
    /// The algorithm's name as written in a digest.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Sha256 => "sha256",
            Algorithm::Sha512 => "sha512",
        }
    }

    fn hex_len(self) -> usize {
        match self {
            Algorithm::Sha256 => 64,
            Algorithm::Sha512 => 128,
        }
    }

    /// A fresh incremental hasher for this algorithm.
    #[must_use]
    pub fn hasher(self) -> Hasher {
        match self {
            Algorithm::Sha256 => Hasher::Sha256(sha2::Sha256::new()),
            Algorithm::Sha512 => Hasher::Sha512(sha2::Sha512::new()),
        }
    }
}

/// An incremental hash that finishes into a [`Digest`].
#[derive(Clone)]
pub enum Hasher {
    /// SHA-256 state.
    Sha256(sha2::Sha256),
    /// SHA-512 state.
    Sha512(sha2::Sha512),
}

impl Hasher {
    /// Feeds bytes into the hash.
    pub fn update(&mut self, data: &[u8]) {
        match self {
            Hasher::Sha256(h) => h.update(data),
            Hasher::Sha512(h) => h.update(data),
        }
    }

    /// The algorithm this hasher computes.
    #[must_use]
    pub fn algorithm(&self) -> Algorithm {
        match self {
            Hasher::Sha256(_) => Algorithm::Sha256,
            Hasher::Sha512(_) => Algorithm::Sha512,
        }
    }

    /// Finishes the hash.
    #[must_use]
    pub fn finish(self) -> Digest {
        match self {
            Hasher::Sha256(h) => Digest { algorithm: Algorithm::Sha256, hex: hex::encode(h.finalize()) },
            Hasher::Sha512(h) => Digest { algorithm: Algorithm::Sha512, hex: hex::encode(h.finalize()) },
        }
    }
}

/// A content digest such as `sha256:e3b0…`, always lowercase hex of the right length.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Digest {
    algorithm: Algorithm,
    hex: String,
}

impl Digest {
    /// The digest of `data` under `algorithm`.
    #[must_use]
    pub fn of(algorithm: Algorithm, data: &[u8]) -> Digest {
        let mut h = algorithm.hasher();
        h.update(data);
        h.finish()
    }

    /// The hash algorithm.
    #[must_use]
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The lowercase hex encoding of the hash.
    #[must_use]
    pub fn hex(&self) -> &str {
        &self.hex
    }
}

impl FromStr for Digest {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        let (algorithm, encoded) = s.split_once(':').ok_or_else(|| Error::Digest(s.to_string()))?;
        let algorithm_ok = !algorithm.is_empty()
            && algorithm
                .split(['+', '.', '_', '-'])
                .all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()));
        let encoded_ok = !encoded.is_empty()
            && encoded.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'=' | b'_' | b'-'));
        if !algorithm_ok || !encoded_ok {
            return Err(Error::Digest(s.to_string()));
        }
        let algorithm = match algorithm {
            "sha256" => Algorithm::Sha256,
            "sha512" => Algorithm::Sha512,
            _ => return Err(Error::DigestAlgorithm(s.to_string())),
        };
        let hex_ok = encoded.len() == algorithm.hex_len()
            && encoded.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if !hex_ok {
            return Err(Error::Digest(s.to_string()));
        }
        Ok(Digest { algorithm, hex: encoded.to_string() })
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.algorithm.name(), self.hex)
    }
}

impl TryFrom<String> for Digest {
    type Error = Error;
    fn try_from(s: String) -> Result<Self, Error> {
        s.parse()
    }
}

impl From<Digest> for String {
    fn from(d: Digest) -> String {
        d.to_string()
    }
}

/// A repository name such as `openshift/release` (any depth).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RepoName(String);

impl RepoName {
    /// The name as text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn is_valid_component(c: &str) -> bool {
    let bytes = c.as_bytes();
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let (Some(&first), Some(&last)) = (bytes.first(), bytes.last()) else { return false };
    if !alnum(first) || !alnum(last) {
        return false;
    }
    // Between alphanumeric runs: exactly ".", "_" or "__", or any run of "-".
    let mut i = 0;
    while i < bytes.len() {
        if alnum(bytes[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && !alnum(bytes[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|b| b == b'-');
        if !ok {
            return false;
        }
    }
    true
}

impl FromStr for RepoName {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        if s.is_empty() || s.len() > 255 || !s.split('/').all(is_valid_component) {
            return Err(Error::Name(s.to_string()));
        }
        Ok(RepoName(s.to_string()))
    }
}

impl fmt::Display for RepoName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for RepoName {
    type Error = Error;
    fn try_from(s: String) -> Result<Self, Error> {
        s.parse()
    }
}

impl From<RepoName> for String {
    fn from(n: RepoName) -> String {
        n.0
    }
}

/// A tag such as `v4.17.0` or `latest`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Tag(String);

impl Tag {
    /// The tag as text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Tag {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        let bytes = s.as_bytes();
        let first_ok = bytes.first().is_some_and(|&b| b.is_ascii_alphanumeric() || b == b'_');
        let rest_ok = bytes.iter().all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        if !first_ok || !rest_ok || bytes.len() > 128 {
            return Err(Error::Tag(s.to_string()));
        }
        Ok(Tag(s.to_string()))
    }
}

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for Tag {
    type Error = Error;
    fn try_from(s: String) -> Result<Self, Error> {
        s.parse()
    }
}

impl From<Tag> for String {
    fn from(t: Tag) -> String {
        t.0
    }
}

/// What follows `/manifests/` in a URL: a tag or a digest.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Reference {
    /// A mutable tag.
    Tag(Tag),
    /// An immutable content digest.
    Digest(Digest),
}

impl FromStr for Reference {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        // A tag can never contain ':', so the colon decides which grammar applies.
        if s.contains(':') { s.parse().map(Reference::Digest) } else { s.parse().map(Reference::Tag) }
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reference::Tag(t) => t.fmt(f),
            Reference::Digest(d) => d.fmt(f),
        }
    }
}

/// The id of an upload session: a UUID this registry issued.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UploadId(String);

impl UploadId {
    /// A fresh random id.
    #[must_use]
    pub fn generate() -> UploadId {
        UploadId(uuid::Uuid::new_v4().to_string())
    }

    /// The id as text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for UploadId {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        // Only the canonical hyphenated lowercase form we issue: it is also a safe file name.
        match uuid::Uuid::parse_str(s) {
            Ok(u) if u.to_string() == s => Ok(UploadId(s.to_string())),
            _ => Err(Error::UploadId(s.to_string())),
        }
    }
}

impl fmt::Display for UploadId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA256_EMPTY: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn repository_names() {
        let cases: &[(&str, &str, bool)] = &[
            ("single component", "alpine", true),
            ("nested five deep", "a/b/c/d/e", true),
            ("separators", "my.org/some_repo/x__y/a--b", true),
            ("empty", "", false),
            ("upper case", "Foo", false),
            ("empty component", "a//b", false),
            ("trailing slash", "a/", false),
            ("leading slash", "/a", false),
            ("dot dot", "..", false),
            ("dot dot component", "a/../b", false),
            ("percent encoded dots", "%2e%2e", false),
            ("triple underscore", "a___b", false),
            ("leading separator", "-a", false),
            ("trailing separator", "a.", false),
            ("too long", &"a".repeat(256), false),
            ("longest allowed", &"a".repeat(255), true),
        ];
        for (name, input, ok) in cases {
            assert_eq!(input.parse::<RepoName>().is_ok(), *ok, "case {name}: {input:?}");
        }
    }

    #[test]
    fn tags() {
        let cases: &[(&str, &str, bool)] = &[
            ("simple", "latest", true),
            ("semver", "v4.17.0-rc.1", true),
            ("leading underscore", "_x", true),
            ("leading dot", ".x", false),
            ("leading dash", "-x", false),
            ("colon", "a:b", false),
            ("empty", "", false),
            ("128 chars", &"a".repeat(128), true),
            ("129 chars", &"a".repeat(129), false),
        ];
        for (name, input, ok) in cases {
            assert_eq!(input.parse::<Tag>().is_ok(), *ok, "case {name}: {input:?}");
        }
    }

    #[test]
    fn digests() {
        let sha512 = format!("sha512:{}", "a".repeat(128));
        let cases: &[(&str, &str, Result<(), fn(&Error) -> bool>)] = &[
            ("sha256", SHA256_EMPTY, Ok(())),
            ("sha512", &sha512, Ok(())),
            (
                "upper case hex",
                &SHA256_EMPTY.to_uppercase().replace("SHA256", "sha256"),
                Err(|e| matches!(e, Error::Digest(_))),
            ),
            ("short", "sha256:abc", Err(|e| matches!(e, Error::Digest(_)))),
            ("no colon", "sha256", Err(|e| matches!(e, Error::Digest(_)))),
            (
                "unknown algorithm",
                "md5:d41d8cd98f00b204e9800998ecf8427e",
                Err(|e| matches!(e, Error::DigestAlgorithm(_))),
            ),
            ("empty algorithm", ":abc", Err(|e| matches!(e, Error::Digest(_)))),
        ];
        for (name, input, expected) in cases {
            match (input.parse::<Digest>(), expected) {
                (Ok(d), Ok(())) => assert_eq!(d.to_string(), *input, "case {name}"),
                (Err(e), Err(check)) => assert!(check(&e), "case {name}: unexpected error {e:?}"),
                (got, _) => panic!("case {name}: got {got:?}"),
            }
        }
    }

    #[test]
    fn hashing_matches_known_values() {
        assert_eq!(Digest::of(Algorithm::Sha256, b"").to_string(), SHA256_EMPTY);
        let d = Digest::of(Algorithm::Sha512, b"");
        assert!(d.to_string().starts_with("sha512:cf83e1357eefb8bd"), "sha512 of empty input: {d}");
    }

    #[test]
    fn references_pick_grammar_by_colon() {
        assert!(matches!("v1".parse::<Reference>(), Ok(Reference::Tag(_))));
        assert!(matches!(SHA256_EMPTY.parse::<Reference>(), Ok(Reference::Digest(_))));
        assert!("sha256:zz".parse::<Reference>().is_err());
    }

    #[test]
    fn upload_ids_are_canonical_uuids() {
        let id = UploadId::generate();
        assert_eq!(id.as_str().parse::<UploadId>(), Ok(id.clone()));
        assert!("../../etc/passwd".parse::<UploadId>().is_err());
        assert!(id.as_str().to_uppercase().parse::<UploadId>().is_err());
    }
}
