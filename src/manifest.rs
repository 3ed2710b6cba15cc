//! Parsing and checking manifests: Docker schema2 manifest and manifest list, OCI image manifest
//! and index (with `artifactType` and `subject`).
//!
//! A manifest is stored and served byte-for-byte as pushed; this module only reads what the
//! registry needs from it (its media type, the descriptors it references, its subject) and
//! refuses what is not a manifest. Unknown fields are ignored, never rewritten.

use serde_json::{Map, Value};

use crate::reference::Digest;

/// Docker image manifest, schema 2.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker manifest list.
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// OCI image manifest.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image index.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const DOCKER_SCHEMA1: [&str; 3] = [
    "application/vnd.docker.distribution.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v1+prettyjws",
    "application/json",
];

/// Why a manifest was refused. Every variant becomes `MANIFEST_INVALID` on the wire.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The body is not a JSON object.
    #[error("manifest is not a JSON object: {0}")]
    NotJson(String),
    /// Docker schema 1 is deprecated and unsigned here; clients can push schema 2.
    #[error("Docker schema1 manifests are not supported; push a Docker schema2 or OCI manifest instead")]
    Schema1,
    /// `schemaVersion` is missing or not 2.
    #[error("schemaVersion must be 2")]
    SchemaVersion,
    /// The media type is none this registry stores.
    #[error("unsupported manifest media type {0:?}")]
    UnsupportedMediaType(String),
    /// The body's `mediaType` and the `Content-Type` header disagree.
    #[error("mediaType {body:?} in the manifest does not match Content-Type {header:?}")]
    MediaTypeMismatch {
        /// The `mediaType` field.
        body: String,
        /// The `Content-Type` header.
        header: String,
    },
    /// Docker formats require the `mediaType` field.
    #[error("manifest has no mediaType field and Content-Type does not name an OCI type")]
    MissingMediaType,
    /// A descriptor's `size` is not the size of the content it names, as stored here (checked
    /// by the store, which knows the sizes). Clients that trust the descriptor break on pull.
    #[error("descriptor of {digest} says size {declared}, but the stored content is {actual} bytes")]
    SizeMismatch {
        /// The descriptor's digest.
        digest: Digest,
        /// The descriptor's `size`.
        declared: u64,
        /// The size of the stored blob or manifest.
        actual: u64,
    },
    /// A required field is missing or has the wrong type.
    #[error("invalid field {field}: {reason}")]
    Field {
        /// JSON path of the field, e.g. `layers[2].digest`.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// Whether a manifest describes one image or a set of manifests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// An image manifest (config plus layers).
    Image,
    /// An index or manifest list (child manifests).
    Index,
}

/// A content descriptor, as far as the registry needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Descriptor {
    /// `mediaType` of the referenced content.
    pub media_type: String,
    /// `digest` of the referenced content.
    pub digest: Digest,
    /// `size` in bytes.
    pub size: u64,
    /// Whether it carries `urls` and a non-distributable media type: such layers live elsewhere
    /// and need not exist in this registry.
    pub foreign: bool,
    /// `os/architecture[/variant]` of its `platform` (children of an index), see [`platform_name`].
    pub platform: Option<String>,
}

/// What the registry reads from a manifest it accepts.
#[derive(Debug, Clone, PartialEq)]
pub struct Manifest {
    /// Effective media type (from the body, or the `Content-Type` header when the body omits it).
    pub media_type: String,
    /// Image or index.
    pub kind: Kind,
    /// Blobs it references: config then layers (empty for an index).
    pub blobs: Vec<Descriptor>,
    /// Child manifests (empty for an image).
    pub children: Vec<Descriptor>,
    /// The manifest this one refers to (OCI 1.1 `subject`).
    pub subject: Option<Digest>,
    /// `artifactType`, or for an image manifest without one, its config media type
    /// (the value the referrers API reports).
    pub artifact_type: Option<String>,
    /// `annotations`, reported by the referrers API.
    pub annotations: Option<Map<String, Value>>,
}

/// Strips parameters such as `; charset=utf-8` from a `Content-Type`.
fn bare_media_type(content_type: &str) -> &str {
    content_type.split(';').next().unwrap_or_default().trim()
}

/// Parses and checks a manifest pushed with `content_type`.
///
/// # Errors
/// Any [`Error`]: not JSON, schema1, wrong schema version, unsupported or mismatched media type,
/// malformed descriptors.
pub fn parse(content_type: Option<&str>, body: &[u8]) -> Result<Manifest, Error> {
    let header = content_type.map(bare_media_type).filter(|t| !t.is_empty());
    let value: Value = serde_json::from_slice(body).map_err(|e| Error::NotJson(e.to_string()))?;
    let Value::Object(obj) = value else { return Err(Error::NotJson("top level is not an object".into())) };
    let body_type = match obj.get("mediaType") {
        None => None,
        Some(Value::String(s)) => Some(s.as_str()),
        Some(_) => return Err(field_error("mediaType", "must be a string")),
    };
    if header.is_some_and(|h| DOCKER_SCHEMA1[..2].contains(&h))
        || body_type.is_some_and(|b| DOCKER_SCHEMA1.contains(&b))
        || obj.get("schemaVersion").and_then(Value::as_i64) == Some(1)
    {
        return Err(Error::Schema1);
    }
    if obj.get("schemaVersion").and_then(Value::as_i64) != Some(2) {
        return Err(Error::SchemaVersion);
    }
    let media_type = match (body_type, header) {
        (Some(b), Some(h)) if b != h => {
            return Err(Error::MediaTypeMismatch { body: b.to_string(), header: h.to_string() });
        }
        (Some(b), _) => b.to_string(),
        // OCI made mediaType optional; the Content-Type header then names the type (umoci does this).
        (None, Some(h)) if h == OCI_MANIFEST || h == OCI_INDEX => h.to_string(),
        (None, Some(h)) if h == DOCKER_MANIFEST || h == DOCKER_MANIFEST_LIST => return Err(Error::MissingMediaType),
        (None, _) if obj.contains_key("manifests") => OCI_INDEX.to_string(),
        (None, _) if obj.contains_key("config") => OCI_MANIFEST.to_string(),
        (None, _) => return Err(Error::MissingMediaType),
    };
    let kind = match media_type.as_str() {
        DOCKER_MANIFEST | OCI_MANIFEST => Kind::Image,
        DOCKER_MANIFEST_LIST | OCI_INDEX => Kind::Index,
        other => return Err(Error::UnsupportedMediaType(other.to_string())),
    };

    let subject = match obj.get("subject") {
        None | Some(Value::Null) => None,
        Some(v) => Some(descriptor(v, "subject")?.digest),
    };
    let annotations = match obj.get("annotations") {
        None | Some(Value::Null) => None,
        Some(Value::Object(m)) => Some(m.clone()),
        Some(_) => return Err(field_error("annotations", "must be an object")),
    };
    let explicit_artifact_type = match obj.get("artifactType") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(field_error("artifactType", "must be a string")),
    };

    let (blobs, children, artifact_type) = match kind {
        Kind::Image => {
            let config = descriptor(obj.get("config").unwrap_or(&Value::Null), "config")?;
            let layers = descriptor_list(obj.get("layers"), "layers")?;
            let artifact_type = explicit_artifact_type.or_else(|| Some(config.media_type.clone()));
            let mut blobs = Vec::with_capacity(layers.len() + 1);
            blobs.push(config);
            blobs.extend(layers);
            (blobs, Vec::new(), artifact_type)
        }
        Kind::Index => (Vec::new(), descriptor_list(obj.get("manifests"), "manifests")?, explicit_artifact_type),
    };
    Ok(Manifest { media_type, kind, blobs, children, subject, artifact_type, annotations })
}

fn field_error(field: &str, reason: &str) -> Error {
    Error::Field { field: field.to_string(), reason: reason.to_string() }
}

fn descriptor_list(value: Option<&Value>, field: &str) -> Result<Vec<Descriptor>, Error> {
    match value {
        Some(Value::Array(items)) => {
            items.iter().enumerate().map(|(i, v)| descriptor(v, &format!("{field}[{i}]"))).collect()
        }
        Some(_) => Err(field_error(field, "must be an array")),
        None => Err(field_error(field, "is required")),
    }
}

fn descriptor(value: &Value, field: &str) -> Result<Descriptor, Error> {
    let Value::Object(obj) = value else { return Err(field_error(field, "must be a descriptor object")) };
    let media_type = obj
        .get("mediaType")
        .and_then(Value::as_str)
        .ok_or_else(|| field_error(&format!("{field}.mediaType"), "must be a string"))?
        .to_string();
    let digest = obj
        .get("digest")
        .and_then(Value::as_str)
        .ok_or_else(|| field_error(&format!("{field}.digest"), "must be a string"))?
        .parse::<Digest>()
        .map_err(|e| field_error(&format!("{field}.digest"), &e.to_string()))?;
    let size = obj
        .get("size")
        .and_then(Value::as_u64)
        .ok_or_else(|| field_error(&format!("{field}.size"), "must be a non-negative integer"))?;
    let has_urls = obj.get("urls").and_then(Value::as_array).is_some_and(|u| !u.is_empty());
    let foreign = has_urls && (media_type.contains("nondistributable") || media_type.contains("foreign"));
    let platform = obj.get("platform").and_then(platform_name);
    Ok(Descriptor { media_type, digest, size, foreign, platform })
}

/// `os/architecture[/variant]` of a platform object (a descriptor's `platform`, or an image
/// config, which has the same fields at its top); `None` when it names no real platform, as the
/// `unknown/unknown` entries of attestations do.
#[must_use]
pub fn platform_name(platform: &Value) -> Option<String> {
    let field = |k: &str| platform.get(k).and_then(Value::as_str).filter(|s| !s.is_empty() && *s != "unknown");
    let (os, architecture) = (field("os")?, field("architecture")?);
    Some(match field("variant") {
        Some(variant) => format!("{os}/{architecture}/{variant}"),
        None => format!("{os}/{architecture}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const D1: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
    const D2: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";

    fn image(media_type: Option<&str>) -> String {
        let mt = media_type.map(|m| format!(r#""mediaType":"{m}","#)).unwrap_or_default();
        format!(
            r#"{{"schemaVersion":2,{mt}"config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{D1}","size":2}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"{D2}","size":3}}]}}"#
        )
    }

    #[test]
    fn accepted_manifests() {
        let index = format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_INDEX}","manifests":[{{"mediaType":"{OCI_MANIFEST}","digest":"{D1}","size":5}}]}}"#
        );
        let artifact = format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","artifactType":"application/x.sig","config":{{"mediaType":"application/vnd.oci.empty.v1+json","digest":"{D1}","size":2}},"layers":[],"subject":{{"mediaType":"{OCI_MANIFEST}","digest":"{D2}","size":7}},"annotations":{{"a":"b"}}}}"#
        );
        let cases: Vec<(&str, Option<&str>, String, Kind, usize, usize)> = vec![
            ("oci image with mediaType", Some(OCI_MANIFEST), image(Some(OCI_MANIFEST)), Kind::Image, 2, 0),
            ("oci image without mediaType (umoci)", Some(OCI_MANIFEST), image(None), Kind::Image, 2, 0),
            ("docker schema2", Some(DOCKER_MANIFEST), image(Some(DOCKER_MANIFEST)), Kind::Image, 2, 0),
            (
                "content type with parameters",
                Some("application/vnd.oci.image.manifest.v1+json; charset=utf-8"),
                image(Some(OCI_MANIFEST)),
                Kind::Image,
                2,
                0,
            ),
            ("oci index", Some(OCI_INDEX), index, Kind::Index, 0, 1),
            ("artifact with subject", Some(OCI_MANIFEST), artifact, Kind::Image, 1, 0),
        ];
        for (name, ct, body, kind, blobs, children) in cases {
            let m = parse(ct, body.as_bytes()).unwrap_or_else(|e| panic!("case {name}: {e}"));
            assert_eq!((m.kind, m.blobs.len(), m.children.len()), (kind, blobs, children), "case {name}");
        }
    }

    #[test]
    fn children_carry_their_platform() {
        let child = |platform: &str| format!(r#"{{"mediaType":"{OCI_MANIFEST}","digest":"{D1}","size":5{platform}}}"#);
        let index = format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_INDEX}","manifests":[{},{},{},{}]}}"#,
            child(r#","platform":{"os":"linux","architecture":"amd64"}"#),
            child(r#","platform":{"os":"linux","architecture":"arm64","variant":"v8"}"#),
            child(r#","platform":{"os":"unknown","architecture":"unknown"}"#),
            child(""),
        );
        let m = parse(Some(OCI_INDEX), index.as_bytes()).expect("valid");
        let platforms: Vec<_> = m.children.iter().map(|c| c.platform.as_deref()).collect();
        assert_eq!(platforms, [Some("linux/amd64"), Some("linux/arm64/v8"), None, None]);
    }

    #[test]
    fn artifact_type_falls_back_to_config_media_type() {
        let m = parse(Some(OCI_MANIFEST), image(None).as_bytes()).expect("valid");
        assert_eq!(m.artifact_type.as_deref(), Some("application/vnd.oci.image.config.v1+json"));
    }

    #[test]
    fn refused_manifests() {
        let cases: Vec<(&str, Option<&str>, String, fn(&Error) -> bool)> = vec![
            ("not json", Some(OCI_MANIFEST), "{nope".into(), |e| matches!(e, Error::NotJson(_))),
            ("json array", Some(OCI_MANIFEST), "[]".into(), |e| matches!(e, Error::NotJson(_))),
            ("schema version 3", Some(OCI_MANIFEST), image(Some(OCI_MANIFEST)).replace(":2,", ":3,"), |e| {
                *e == Error::SchemaVersion
            }),
            (
                "schema1 by header",
                Some("application/vnd.docker.distribution.manifest.v1+prettyjws"),
                r#"{"schemaVersion":1,"name":"x"}"#.into(),
                |e| *e == Error::Schema1,
            ),
            ("schema1 by version", Some(OCI_MANIFEST), r#"{"schemaVersion":1,"name":"x"}"#.into(), |e| {
                *e == Error::Schema1
            }),
            ("mismatch", Some(DOCKER_MANIFEST), image(Some(OCI_MANIFEST)), |e| {
                matches!(e, Error::MediaTypeMismatch { .. })
            }),
            ("docker without mediaType", Some(DOCKER_MANIFEST), image(None), |e| *e == Error::MissingMediaType),
            ("unknown type", Some("application/x-foo"), image(Some("application/x-foo")), |e| {
                matches!(e, Error::UnsupportedMediaType(_))
            }),
            ("bad layer digest", Some(OCI_MANIFEST), image(Some(OCI_MANIFEST)).replace(D2, "sha256:xyz"), |e| {
                matches!(e, Error::Field { .. })
            }),
            (
                "missing config",
                Some(OCI_MANIFEST),
                format!(r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","layers":[]}}"#),
                |e| matches!(e, Error::Field { .. }),
            ),
            (
                "index without manifests",
                Some(OCI_INDEX),
                format!(r#"{{"schemaVersion":2,"mediaType":"{OCI_INDEX}"}}"#),
                |e| matches!(e, Error::Field { .. }),
            ),
        ];
        for (name, ct, body, check) in cases {
            match parse(ct, body.as_bytes()) {
                Err(e) => assert!(check(&e), "case {name}: unexpected error {e:?}"),
                Ok(m) => panic!("case {name}: accepted {m:?}"),
            }
        }
    }

    #[test]
    fn foreign_layers_are_marked() {
        let body = format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{{"mediaType":"c","digest":"{D1}","size":1}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.nondistributable.v1.tar","digest":"{D2}","size":3,"urls":["https://example.com/l"]}},{{"mediaType":"application/vnd.oci.image.layer.nondistributable.v1.tar","digest":"{D2}","size":3}}]}}"#
        );
        let m = parse(Some(OCI_MANIFEST), body.as_bytes()).expect("valid");
        assert_eq!(m.blobs.iter().map(|d| d.foreign).collect::<Vec<_>>(), vec![false, true, false]);
    }
}
