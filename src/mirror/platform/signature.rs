//! OpenShift release signatures: fetched per payload digest, verified against the release keys,
//! and handed to the cluster in the ConfigMap the cluster-version-operator (CVO) reads.
//!
//! A signature store serves one "atomic container signature" per file:
//!
//! ```text
//! <store>/<algorithm>=<hex>/signature-<n>       n = 1, 2, … until a 404
//! ```
//!
//! Each file is an OpenPGP signed message (usually compressed, binary; armor is accepted too)
//! whose literal data is JSON:
//!
//! ```json
//! {"critical": {"identity": {"docker-reference": "quay.io/openshift-release-dev/ocp-release:4.16.0-x86_64"},
//!               "image": {"docker-manifest-digest": "sha256:…"},
//!               "type": "atomic container signature"},
//!  "optional": {"creator": "…", "timestamp": 1718000000}}
//! ```
//!
//! [`verify`] accepts it only when a key of the [`Keyring`] made a valid signature over it, its
//! type is right and it names exactly the expected digest. The keyring is Red Hat's release
//! keys ([`Keyring::red_hat`]) unless [`KEY_FILE_ENV`] names a key file ([`Keyring::load`]).
//!
//! The verified files go unchanged into `signature-configmap.{json,yaml}` ([`write_configmap`]):
//!
//! ```yaml
//! apiVersion: v1
//! kind: ConfigMap
//! metadata:
//!   name: mirrored-release-signatures
//!   namespace: openshift-config-managed
//!   labels: {release.openshift.io/verification-signatures: ""}
//! binaryData:
//!   sha256-<hex>-1: <base64 of signature-1>
//! ```

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use pgp::composed::{Deserializable, Message, SignedPublicKey};
use pgp::packet::Signature;
use pgp::types::VerifyingKey;
use serde::{Deserialize, Serialize};

use crate::reference::Digest;

/// The signature store oc-mirror reads by default.
pub const DEFAULT_STORE: &str = "https://mirror.openshift.com/pub/openshift-v4/signatures/openshift/release/";
/// The environment variable naming a key file that replaces the Red Hat keys (oc-mirror's name).
pub const KEY_FILE_ENV: &str = "OCP_SIGNATURE_VERIFICATION_PK";
/// The ConfigMap's name, as oc-mirror writes it.
pub const CONFIGMAP_NAME: &str = "mirrored-release-signatures";
/// The namespace the CVO reads signature ConfigMaps from.
pub const CONFIGMAP_NAMESPACE: &str = "openshift-config-managed";
/// The label that makes the CVO read a ConfigMap as signatures.
pub const CONFIGMAP_LABEL: &str = "release.openshift.io/verification-signatures";
/// File name of the JSON rendering of the ConfigMap.
pub const CONFIGMAP_JSON: &str = "signature-configmap.json";
/// File name of the YAML rendering of the ConfigMap.
pub const CONFIGMAP_YAML: &str = "signature-configmap.yaml";

/// Red Hat release key 2 and beta key 2, the keys oc-mirror and the CVO's
/// `verifier-public-key-redhat` trust, as one armored block.
const RED_HAT_KEYS: &[u8] = include_bytes!("release-keys.asc");
const SIGNATURE_TYPE: &str = "atomic container signature";
const ARMOR_BEGIN: &str = "-----BEGIN PGP PUBLIC KEY BLOCK-----";
const ARMOR_END: &str = "-----END PGP PUBLIC KEY BLOCK-----";
/// Real signed contents are under 1 KiB; the cap stops a compressed message from inflating
/// without bound before its signature is even checked.
const MAX_CONTENT: u64 = 64 * 1024;

/// Why a key file or a signature was refused, or the ConfigMap could not be written.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A key file is not OpenPGP public key material, or a key in it is broken.
    #[error("invalid public key: {0}")]
    BadKey(String),
    /// A key file holds no public key.
    #[error("no OpenPGP public key found")]
    NoKeys,
    /// The signature file is not an OpenPGP message (or a corrupt one).
    #[error("not an OpenPGP message: {0}")]
    NotOpenPgp(String),
    /// The message is OpenPGP but carries no signature.
    #[error("the OpenPGP message is not signed")]
    Unsigned,
    /// The signed content is larger than any real signature's.
    #[error("the signed content is larger than {MAX_CONTENT} bytes")]
    TooLarge,
    /// No key of the keyring made the signature.
    #[error("signed by key {key_id}, which is not a trusted key")]
    Untrusted {
        /// The issuer's key id (or fingerprint), uppercase hex.
        key_id: String,
    },
    /// A trusted key's signature does not match the content: it was altered.
    #[error("bad signature by key {key_id}: the signed content was tampered with")]
    BadSignature {
        /// The issuer's key id (or fingerprint), uppercase hex.
        key_id: String,
    },
    /// The signed JSON is valid but is some other kind of signature.
    #[error("not an atomic container signature (type {0:?})")]
    NotAtomic(String),
    /// The signature is for another image.
    #[error("signature is for {found}, expected {expected}")]
    DigestMismatch {
        /// The digest the caller asked about.
        expected: Digest,
        /// The digest the signature names.
        found: String,
    },
    /// The signed content is not the JSON document of an atomic container signature.
    #[error("signed content is not a valid signature document: {0}")]
    BadJson(String),
    /// A file operation failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Serialization failed (it can't, for these types; kept for honesty).
    #[error("rendering {0}: {1}")]
    Render(&'static str, String),
}

/// The public keys whose signatures are trusted.
#[derive(Debug, Clone)]
pub struct Keyring {
    keys: Vec<SignedPublicKey>,
}

impl Keyring {
    /// Parses public keys: binary, or ASCII armor with one or more blocks (text around the
    /// blocks is ignored, as in key files that start with a description line). Every key's
    /// self-signatures must verify.
    ///
    /// # Errors
    /// [`Error::BadKey`] for anything that doesn't parse, [`Error::NoKeys`] when there is no key.
    pub fn parse(bytes: &[u8]) -> Result<Keyring, Error> {
        let bad = |e: pgp::errors::Error| Error::BadKey(e.to_string());
        let mut keys = Vec::new();
        if is_binary(bytes) {
            for key in SignedPublicKey::from_bytes_many(bytes).map_err(bad)? {
                keys.push(key.map_err(bad)?);
            }
        } else {
            let text = std::str::from_utf8(bytes)
                .map_err(|_| Error::BadKey("neither binary OpenPGP nor ASCII armor".to_string()))?;
            for block in armored_blocks(text) {
                let (parsed, _headers) = SignedPublicKey::from_armor_many(block.as_bytes()).map_err(bad)?;
                for key in parsed {
                    keys.push(key.map_err(bad)?);
                }
            }
        }
        if keys.is_empty() {
            return Err(Error::NoKeys);
        }
        for key in &keys {
            key.verify_bindings().map_err(|e| Error::BadKey(format!("key {}: {e}", fingerprint(&key.primary_key))))?;
        }
        Ok(Keyring { keys })
    }

    /// Red Hat's release signing keys (release key 2 and beta key 2), built into the binary.
    #[must_use]
    pub fn red_hat() -> Keyring {
        Keyring::parse(RED_HAT_KEYS).expect("the embedded Red Hat keys parse (checked by a unit test)")
    }

    /// The keys to verify with: the file at `key_file` when given (the value of
    /// [`KEY_FILE_ENV`]), Red Hat's otherwise. Unlike oc-mirror, a file that can't be read is an
    /// error rather than a silent fallback to Red Hat's keys.
    ///
    /// # Errors
    /// The file can't be read ([`Error::Io`]) or parsed (see [`Keyring::parse`]).
    pub fn load(key_file: Option<&Path>) -> Result<Keyring, Error> {
        let Some(path) = key_file else {
            return Ok(Keyring::red_hat());
        };
        let bytes = std::fs::read(path).map_err(|source| Error::Io { path: path.to_path_buf(), source })?;
        Keyring::parse(&bytes)
    }

    /// How many primary keys the keyring holds.
    #[must_use]
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether the keyring holds no key (never true for a parsed one).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The primary keys' fingerprints, uppercase hex, in file order.
    #[must_use]
    pub fn fingerprints(&self) -> Vec<String> {
        self.keys.iter().map(|k| fingerprint(&k.primary_key)).collect()
    }

    /// Every key that may sign: primary keys, and subkeys bound with the signing flag.
    fn signing_keys(&self) -> Vec<&dyn VerifyingKey> {
        let mut out: Vec<&dyn VerifyingKey> = Vec::new();
        for key in &self.keys {
            out.push(&key.primary_key);
            for sub in &key.public_subkeys {
                if sub.signatures.iter().any(|s| s.key_flags().sign()) {
                    out.push(&sub.key);
                }
            }
        }
        out
    }
}

/// What a verified signature says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claims {
    /// The image the signer published, e.g. `quay.io/openshift-release-dev/ocp-release:4.16.0-x86_64`.
    pub docker_reference: String,
    /// The manifest digest that was signed (equal to the one asked about).
    pub digest: Digest,
    /// The signing tool, when it said.
    pub creator: Option<String>,
    /// When it was signed, seconds since the epoch, when it said.
    pub timestamp: Option<i64>,
}

/// Verifies one signature file for the release payload `expected` and returns what it claims.
///
/// # Errors
/// One [`Error`] variant per way it can fail: not OpenPGP, unsigned, untrusted key, bad
/// signature, not an atomic container signature, another digest, malformed JSON.
pub fn verify(keyring: &Keyring, signature: &[u8], expected: &Digest) -> Result<Claims, Error> {
    let content = verified_content(keyring, signature)?;
    claims(&content, expected)
}

/// The signed content, once a keyring key's signature over it checks out.
fn verified_content(keyring: &Keyring, signature: &[u8]) -> Result<Vec<u8>, Error> {
    let not_pgp = |e: pgp::errors::Error| Error::NotOpenPgp(e.to_string());
    if signature.is_empty() {
        return Err(Error::NotOpenPgp("empty input".to_string()));
    }
    let mut message = if is_binary(signature) {
        Message::from_bytes(signature).map_err(not_pgp)?
    } else {
        Message::from_armor(signature).map_err(not_pgp)?.0
    };
    while message.is_compressed() {
        message = message.decompress().map_err(not_pgp)?;
    }
    if !message.is_signed() {
        return Err(Error::Unsigned);
    }
    // gpg may also compress inside the signature (one-pass signature, compressed literal).
    let mut message = message.decompress().map_err(not_pgp)?;
    let mut content = Vec::new();
    (&mut message).take(MAX_CONTENT + 1).read_to_end(&mut content).map_err(|e| Error::NotOpenPgp(e.to_string()))?;
    if content.len() as u64 > MAX_CONTENT {
        return Err(Error::TooLarge);
    }
    let Message::Signed { reader, .. } = &message else {
        return Err(Error::Unsigned);
    };
    let keys = keyring.signing_keys();
    let mut untrusted = None;
    let mut bad = None;
    for index in 0..reader.num_signatures() {
        let Some(sig) = reader.signature(index) else { continue };
        let named = issued_by(sig);
        // A signature without issuer subpackets is legal; then every key may have made it.
        let candidates: Vec<_> = keys.iter().filter(|k| named.is_empty() || issuer_matches(sig, **k)).collect();
        if candidates.iter().any(|k| message.verify_nested_explicit(index, **k).is_ok()) {
            return Ok(content);
        }
        let slot = if candidates.is_empty() || named.is_empty() { &mut untrusted } else { &mut bad };
        slot.get_or_insert_with(|| if named.is_empty() { "(none named)".to_string() } else { named });
    }
    Err(match (bad, untrusted) {
        (Some(key_id), _) => Error::BadSignature { key_id },
        (None, Some(key_id)) => Error::Untrusted { key_id },
        (None, None) => Error::Unsigned,
    })
}

/// The issuer a signature names, for messages: key id (as gpg shows it), else fingerprint.
fn issued_by(sig: &Signature) -> String {
    if let Some(id) = sig.issuer_key_id().first() {
        return hex::encode_upper(id.as_ref());
    }
    sig.issuer_fingerprint().first().map(|f| format!("{f:X}")).unwrap_or_default()
}

fn issuer_matches(sig: &Signature, key: &dyn VerifyingKey) -> bool {
    let id = key.legacy_key_id();
    let fpr = key.fingerprint();
    sig.issuer_key_id().iter().any(|i| **i == id) || sig.issuer_fingerprint().iter().any(|f| **f == fpr)
}

fn fingerprint(key: &dyn VerifyingKey) -> String {
    format!("{:X}", key.fingerprint())
}

/// OpenPGP packets start with a byte whose top bit is set; armor is ASCII.
fn is_binary(bytes: &[u8]) -> bool {
    bytes.first().is_some_and(|b| b & 0x80 != 0)
}

/// Each `BEGIN … END` public key block of `text`, markers included.
fn armored_blocks(text: &str) -> Vec<&str> {
    let mut blocks = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find(ARMOR_BEGIN) {
        let block = &rest[start..];
        let end = block.find(ARMOR_END).map_or(block.len(), |e| e + ARMOR_END.len());
        blocks.push(&block[..end]);
        rest = &block[end..];
    }
    blocks
}

#[derive(Deserialize)]
struct Typed {
    critical: TypeOnly,
}

#[derive(Deserialize)]
struct TypeOnly {
    #[serde(rename = "type")]
    kind: String,
}

#[derive(Deserialize)]
struct Document {
    critical: Critical,
    #[serde(default)]
    optional: Optional,
}

#[derive(Deserialize)]
struct Critical {
    identity: Identity,
    image: Image,
}

#[derive(Deserialize)]
struct Identity {
    #[serde(rename = "docker-reference")]
    docker_reference: String,
}

#[derive(Deserialize)]
struct Image {
    #[serde(rename = "docker-manifest-digest")]
    docker_manifest_digest: String,
}

#[derive(Deserialize, Default)]
struct Optional {
    creator: Option<String>,
    timestamp: Option<i64>,
}

/// Reads the signed JSON. The type is checked first, so another kind of signature is reported
/// as such rather than as a missing field.
fn claims(content: &[u8], expected: &Digest) -> Result<Claims, Error> {
    let typed: Typed = serde_json::from_slice(content).map_err(|e| Error::BadJson(e.to_string()))?;
    if typed.critical.kind != SIGNATURE_TYPE {
        return Err(Error::NotAtomic(typed.critical.kind));
    }
    let doc: Document = serde_json::from_slice(content).map_err(|e| Error::BadJson(e.to_string()))?;
    let found = doc.critical.image.docker_manifest_digest;
    // Exact string comparison, as the CVO does: no case folding, no re-encoding.
    if found != expected.to_string() {
        return Err(Error::DigestMismatch { expected: expected.clone(), found });
    }
    Ok(Claims {
        docker_reference: doc.critical.identity.docker_reference,
        digest: expected.clone(),
        creator: doc.optional.creator,
        timestamp: doc.optional.timestamp,
    })
}

/// The URL of signature number `index` (from 1) of `digest` in `store`.
#[must_use]
pub fn signature_url(store: &str, digest: &Digest, index: u32) -> String {
    let separator = if store.ends_with('/') { "" } else { "/" };
    format!("{store}{separator}{}={}/signature-{index}", digest.algorithm().name(), digest.hex())
}

/// The signature ConfigMap, as the CVO reads it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfigMap {
    /// Always `v1`.
    pub api_version: String,
    /// Always `ConfigMap`.
    pub kind: String,
    /// Name, namespace and the label the CVO selects on.
    pub metadata: ConfigMapMetadata,
    /// `<algorithm>-<hex>-<n>` to the base64 of the signature file.
    pub binary_data: BTreeMap<String, String>,
}

/// The ConfigMap's metadata.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigMapMetadata {
    /// [`CONFIGMAP_NAME`].
    pub name: String,
    /// [`CONFIGMAP_NAMESPACE`].
    pub namespace: String,
    /// [`CONFIGMAP_LABEL`] with an empty value.
    pub labels: BTreeMap<String, String>,
}

/// Builds the ConfigMap holding `signatures` (payload digest, signature file bytes).
///
/// The key of each entry is `<algorithm>-<hex>-<n>`, `n` counting the signatures of that one
/// digest from 1 in the order given: the CVO looks keys up per digest from `-1` upwards and
/// stops at the first gap. (oc-mirror numbers with one counter across all releases instead,
/// so its second release's only signature is `-2`, which the CVO's lookup never reaches.)
#[must_use]
pub fn configmap(signatures: &[(Digest, Vec<u8>)]) -> ConfigMap {
    let mut counts: BTreeMap<&Digest, u32> = BTreeMap::new();
    let mut binary_data = BTreeMap::new();
    for (digest, bytes) in signatures {
        let n = counts.entry(digest).or_insert(0);
        *n += 1;
        let key = format!("{}-{}-{n}", digest.algorithm().name(), digest.hex());
        binary_data.insert(key, base64::engine::general_purpose::STANDARD.encode(bytes));
    }
    ConfigMap {
        api_version: "v1".to_string(),
        kind: "ConfigMap".to_string(),
        metadata: ConfigMapMetadata {
            name: CONFIGMAP_NAME.to_string(),
            namespace: CONFIGMAP_NAMESPACE.to_string(),
            labels: BTreeMap::from([(CONFIGMAP_LABEL.to_string(), String::new())]),
        },
        binary_data,
    }
}

/// Writes [`CONFIGMAP_JSON`] and [`CONFIGMAP_YAML`] into `dir` (created if missing) and returns
/// their paths. With no signatures nothing is written and the list is empty.
///
/// # Errors
/// The directory or a file can't be written.
pub fn write_configmap(dir: &Path, signatures: &[(Digest, Vec<u8>)]) -> Result<Vec<PathBuf>, Error> {
    if signatures.is_empty() {
        return Ok(Vec::new());
    }
    let map = configmap(signatures);
    let mut json = serde_json::to_string_pretty(&map).map_err(|e| Error::Render("ConfigMap", e.to_string()))?;
    json.push('\n');
    let yaml = serde_yaml::to_string(&map).map_err(|e| Error::Render("ConfigMap", e.to_string()))?;
    std::fs::create_dir_all(dir).map_err(|source| Error::Io { path: dir.to_path_buf(), source })?;
    let mut written = Vec::new();
    for (name, text) in [(CONFIGMAP_JSON, json), (CONFIGMAP_YAML, yaml)] {
        let path = dir.join(name);
        std::fs::write(&path, text).map_err(|source| Error::Io { path: path.clone(), source })?;
        written.push(path);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reference::Algorithm;

    // Fixtures made with gpg and skopeo; testdata/README.md has the commands.
    const MANIFEST: &[u8] = include_bytes!("testdata/m.json");
    const KEY_RSA: &[u8] = include_bytes!("testdata/key-rsa.asc");
    const KEY_RSA_BINARY: &[u8] = include_bytes!("testdata/key-rsa.gpg");
    const KEY_ED25519: &[u8] = include_bytes!("testdata/key-ed25519.asc");
    const SIG_RSA: &[u8] = include_bytes!("testdata/signature-rsa");
    const SIG_RSA_ARMORED: &[u8] = include_bytes!("testdata/signature-rsa.asc");
    const SIG_ED25519: &[u8] = include_bytes!("testdata/signature-ed25519");
    const SIG_TAMPERED: &[u8] = include_bytes!("testdata/signature-rsa-tampered");
    const SIG_OTHER_TYPE: &[u8] = include_bytes!("testdata/signature-rsa-other-type");
    const SIG_NOT_JSON: &[u8] = include_bytes!("testdata/signature-rsa-not-json");
    const UNSIGNED: &[u8] = include_bytes!("testdata/unsigned");
    const REFERENCE: &str = "quay.io/openshift-release-dev/ocp-release:4.16.0-x86_64";
    const RSA_KEY_ID: &str = "620984B6F86C8CE5";
    const RSA_FPR: &str = "F51ADA2E94524B920EDB1ABD620984B6F86C8CE5";
    const ED25519_KEY_ID: &str = "413E7DB1A8DB7E84";
    const ED25519_FPR: &str = "8B75AF62CA663D0E93A3FFD1413E7DB1A8DB7E84";

    fn keyring(bytes: &[u8]) -> Keyring {
        Keyring::parse(bytes).expect("fixture key parses")
    }

    fn both_keys() -> Vec<u8> {
        [KEY_RSA, KEY_ED25519].concat()
    }

    #[test]
    fn verify_cases() {
        type Check = fn(&Error) -> bool;
        let manifest = Digest::of(Algorithm::Sha256, MANIFEST);
        let other = Digest::of(Algorithm::Sha256, b"another manifest");
        let rsa = keyring(KEY_RSA);
        let ed = keyring(KEY_ED25519);
        let both = keyring(&both_keys());
        let red_hat = Keyring::red_hat();
        let cases: Vec<(&str, &Keyring, &[u8], &Digest, Result<(), Check>)> = vec![
            ("rsa signature, rsa key", &rsa, SIG_RSA, &manifest, Ok(())),
            ("armored rsa signature", &rsa, SIG_RSA_ARMORED, &manifest, Ok(())),
            ("ed25519 signature, its key", &ed, SIG_ED25519, &manifest, Ok(())),
            ("rsa signature, keyring of both", &both, SIG_RSA, &manifest, Ok(())),
            ("ed25519 signature, keyring of both", &both, SIG_ED25519, &manifest, Ok(())),
            ("another digest expected", &rsa, SIG_RSA, &other, Err(|e| matches!(e, Error::DigestMismatch { .. }))),
            (
                "ed25519 signature, rsa key",
                &rsa,
                SIG_ED25519,
                &manifest,
                Err(|e| matches!(e, Error::Untrusted { key_id } if key_id == ED25519_KEY_ID)),
            ),
            (
                "rsa signature, red hat keys",
                &red_hat,
                SIG_RSA,
                &manifest,
                Err(|e| matches!(e, Error::Untrusted { key_id } if key_id == RSA_KEY_ID)),
            ),
            (
                "tampered content",
                &rsa,
                SIG_TAMPERED,
                &manifest,
                Err(|e| matches!(e, Error::BadSignature { key_id } if key_id == RSA_KEY_ID)),
            ),
            ("another signature type", &rsa, SIG_OTHER_TYPE, &manifest, Err(|e| matches!(e, Error::NotAtomic(_)))),
            ("signed text, not json", &rsa, SIG_NOT_JSON, &manifest, Err(|e| matches!(e, Error::BadJson(_)))),
            ("unsigned message", &rsa, UNSIGNED, &manifest, Err(|e| matches!(e, Error::Unsigned))),
            (
                "garbage text",
                &rsa,
                b"<html>404 Not Found</html>",
                &manifest,
                Err(|e| matches!(e, Error::NotOpenPgp(_))),
            ),
            ("garbage binary", &rsa, &[0xff, 0x00, 0x13, 0x37], &manifest, Err(|e| matches!(e, Error::NotOpenPgp(_)))),
            ("empty", &rsa, b"", &manifest, Err(|e| matches!(e, Error::NotOpenPgp(_)))),
            ("the manifest itself", &rsa, MANIFEST, &manifest, Err(|e| matches!(e, Error::NotOpenPgp(_)))),
        ];
        for (name, keys, signature, expected, want) in cases {
            let got = verify(keys, signature, expected);
            match (got, want) {
                (Ok(claims), Ok(())) => {
                    assert_eq!(claims.docker_reference, REFERENCE, "{name}");
                    assert_eq!(&claims.digest, expected, "{name}");
                    assert!(claims.creator.as_deref().is_some_and(|c| c.starts_with("atomic ")), "{name}: {claims:?}");
                    assert!(claims.timestamp.is_some_and(|t| t > 0), "{name}: {claims:?}");
                }
                (Err(e), Err(check)) => assert!(check(&e), "{name}: unexpected error {e:?}"),
                (got, _) => panic!("{name}: unexpected {got:?}"),
            }
        }
    }

    #[test]
    fn errors_say_what_went_wrong_in_one_line() {
        let manifest = Digest::of(Algorithm::Sha256, MANIFEST);
        let other = Digest::of(Algorithm::Sha256, b"another manifest");
        let rsa = keyring(KEY_RSA);
        let cases: [(&str, &[u8], &Digest, &[&str]); 4] = [
            (
                "untrusted names the key",
                SIG_ED25519,
                &manifest,
                &["signed by key 413E7DB1A8DB7E84", "not a trusted key"],
            ),
            ("tampered names the key", SIG_TAMPERED, &manifest, &["bad signature by key 620984B6F86C8CE5", "tampered"]),
            ("mismatch shows both digests", SIG_RSA, &other, &[&manifest.to_string(), &other.to_string()]),
            ("other type shows the type", SIG_OTHER_TYPE, &manifest, &["cosign container image signature"]),
        ];
        for (name, signature, expected, parts) in cases {
            let message = verify(&rsa, signature, expected).expect_err(name).to_string();
            assert!(!message.contains('\n'), "{name}: {message}");
            for part in parts {
                assert!(message.contains(part), "{name}: {message:?} lacks {part:?}");
            }
        }
    }

    #[test]
    fn keyring_parse_cases() {
        let described = [b"3072R/F86C8CE5 Test Release <rel@test>\n\n".as_slice(), KEY_RSA].concat();
        let cases: [(&str, Vec<u8>, Result<&[&str], fn(&Error) -> bool>); 7] = [
            ("one armored key", KEY_RSA.to_vec(), Ok(&[RSA_FPR])),
            ("binary key", KEY_RSA_BINARY.to_vec(), Ok(&[RSA_FPR])),
            ("two armored blocks concatenated", both_keys(), Ok(&[RSA_FPR, ED25519_FPR])),
            ("description line before the block", described, Ok(&[RSA_FPR])),
            ("empty", Vec::new(), Err(|e| matches!(e, Error::NoKeys))),
            ("text without a block", b"no keys here\n".to_vec(), Err(|e| matches!(e, Error::NoKeys))),
            ("a signature is not a key", SIG_RSA.to_vec(), Err(|e| matches!(e, Error::NoKeys))),
        ];
        for (name, bytes, want) in cases {
            match (Keyring::parse(&bytes), want) {
                (Ok(keys), Ok(fprs)) => {
                    assert_eq!(keys.fingerprints(), fprs, "{name}");
                    assert_eq!(keys.len(), fprs.len(), "{name}");
                    assert!(!keys.is_empty(), "{name}");
                }
                (Err(e), Err(check)) => assert!(check(&e), "{name}: unexpected error {e:?}"),
                (got, _) => panic!("{name}: unexpected {got:?}"),
            }
        }
    }

    #[test]
    fn a_corrupted_armored_key_is_refused() {
        let text = std::str::from_utf8(KEY_RSA).expect("armor is ascii");
        // Changing one base64 character breaks the armor checksum or the key packet.
        let line = text.lines().nth(3).expect("a body line");
        let flipped: String =
            line.chars().enumerate().map(|(i, c)| if i == 10 { if c == 'A' { 'B' } else { 'A' } } else { c }).collect();
        let corrupted = text.replacen(line, &flipped, 1);
        let err = Keyring::parse(corrupted.as_bytes()).expect_err("corrupted key");
        assert!(matches!(err, Error::BadKey(_)), "{err:?}");
    }

    #[test]
    fn red_hat_keys_are_release_2_and_beta_2() {
        let keys = Keyring::red_hat();
        assert_eq!(
            keys.fingerprints(),
            ["567E347AD0044ADE55BA8A5F199E2F91FD431D51", "B08B659EE86AF623BC90E8DB938A80CAF21541EB"]
        );
    }

    #[test]
    fn load_reads_the_override_file_or_falls_back_to_red_hat() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("key.asc");
        std::fs::write(&path, KEY_ED25519).expect("write key");
        assert_eq!(Keyring::load(Some(&path)).expect("override").fingerprints(), [ED25519_FPR]);
        assert_eq!(Keyring::load(None).expect("default").fingerprints(), Keyring::red_hat().fingerprints());
        let missing = Keyring::load(Some(&dir.path().join("absent.asc"))).expect_err("missing file");
        assert!(matches!(missing, Error::Io { .. }) && missing.to_string().contains("absent.asc"), "{missing}");
    }

    #[test]
    fn configmap_numbers_signatures_per_digest() {
        let a = Digest::of(Algorithm::Sha256, b"release a");
        let b = Digest::of(Algorithm::Sha256, b"release b");
        let signatures = vec![(b.clone(), b"b1".to_vec()), (a.clone(), SIG_RSA.to_vec()), (b.clone(), b"b2".to_vec())];
        let map = configmap(&signatures);
        assert_eq!(map.api_version, "v1");
        assert_eq!(map.kind, "ConfigMap");
        assert_eq!(map.metadata.name, "mirrored-release-signatures");
        assert_eq!(map.metadata.namespace, "openshift-config-managed");
        assert_eq!(
            map.metadata.labels,
            BTreeMap::from([("release.openshift.io/verification-signatures".to_string(), String::new())])
        );
        let decode = |s: &String| base64::engine::general_purpose::STANDARD.decode(s).expect("base64");
        let entries: Vec<(String, Vec<u8>)> = map.binary_data.iter().map(|(k, v)| (k.clone(), decode(v))).collect();
        let mut want = vec![
            (format!("sha256-{}-1", a.hex()), SIG_RSA.to_vec()),
            (format!("sha256-{}-1", b.hex()), b"b1".to_vec()),
            (format!("sha256-{}-2", b.hex()), b"b2".to_vec()),
        ];
        want.sort();
        assert_eq!(entries, want);
    }

    #[test]
    fn write_configmap_writes_json_and_yaml_that_agree() {
        let dir = tempfile::tempdir().expect("tempdir");
        let out = dir.path().join("cluster-resources");
        let signatures = vec![(Digest::of(Algorithm::Sha256, MANIFEST), SIG_RSA.to_vec())];
        let written = write_configmap(&out, &signatures).expect("write");
        assert_eq!(written, [out.join(CONFIGMAP_JSON), out.join(CONFIGMAP_YAML)]);
        let json: ConfigMap =
            serde_json::from_str(&std::fs::read_to_string(&written[0]).expect("read json")).expect("json");
        let yaml: ConfigMap =
            serde_yaml::from_str(&std::fs::read_to_string(&written[1]).expect("read yaml")).expect("yaml");
        let want = configmap(&signatures);
        assert_eq!(json, want);
        assert_eq!(yaml, want);
        let again = write_configmap(&out, &signatures).expect("rewrite");
        assert_eq!(std::fs::read(&again[0]).expect("json"), std::fs::read(&written[0]).expect("json"), "deterministic");
    }

    #[test]
    fn write_configmap_without_signatures_writes_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let out = dir.path().join("cluster-resources");
        assert_eq!(write_configmap(&out, &[]).expect("nothing to write"), Vec::<PathBuf>::new());
        assert!(!out.exists());
    }

    #[test]
    fn signature_url_cases() {
        let digest = Digest::of(Algorithm::Sha256, MANIFEST);
        let hex = digest.hex();
        let cases = [
            ("default store", DEFAULT_STORE, 1, format!("{DEFAULT_STORE}sha256={hex}/signature-1")),
            (
                "no trailing slash",
                "https://example.com/sigs",
                2,
                format!("https://example.com/sigs/sha256={hex}/signature-2"),
            ),
            (
                "trailing slash",
                "https://example.com/sigs/",
                1,
                format!("https://example.com/sigs/sha256={hex}/signature-1"),
            ),
        ];
        for (name, store, index, want) in cases {
            assert_eq!(signature_url(store, &digest, index), want, "{name}");
        }
    }
}
