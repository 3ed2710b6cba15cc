//! The fuzz targets: each takes any bytes, feeds them to one parser, asserts the properties its
//! result must have (a panic is a finding) and returns a label of the outcome for the engine.

use std::fmt::{Debug, Display};
use std::str::FromStr;

use mirror_registry::auth::Auth;
use mirror_registry::manifest::{self, DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, Kind, OCI_INDEX, OCI_MANIFEST};
use mirror_registry::mirror::imageset;
use mirror_registry::reference::image::ImageRef;
use mirror_registry::reference::{Digest, Reference, RepoName, Tag, UploadId};
use mirror_registry::registry::range::{self, RangeSpec, Selection};

/// A named fuzz target.
#[derive(Debug, Clone, Copy)]
pub struct Target {
    /// Name on the command line and of its corpus directory.
    pub name: &'static str,
    /// What it feeds and checks.
    pub describe: &'static str,
    /// Longest input generated.
    pub max_len: usize,
    /// Tokens the mutator inserts (grammar keywords, separators).
    pub dictionary: &'static [&'static str],
    /// Runs one input; panics when a property fails.
    pub run: fn(&[u8]) -> String,
}

/// Every target.
pub const TARGETS: &[Target] = &[
    Target {
        name: "reference",
        describe: "repository names, tags, digests, manifest references, upload ids, image references",
        max_len: 512,
        dictionary: &[
            "sha256:",
            "sha512:",
            "@",
            ":",
            "/",
            "localhost",
            "docker.io",
            "library/",
            "[::1]",
            ":5000",
            "__",
            "--",
        ],
        run: reference,
    },
    Target {
        name: "manifest",
        describe: "Docker schema2 and OCI manifests and indexes, with each Content-Type",
        max_len: 8192,
        dictionary: &[
            "\"schemaVersion\":2",
            "\"mediaType\":",
            "\"config\":",
            "\"layers\":[",
            "\"manifests\":[",
            "\"digest\":",
            "\"size\":",
            "\"subject\":",
            "\"artifactType\":",
            "\"annotations\":{",
            "\"urls\":[\"u\"]",
            "\"application/vnd.oci.image.manifest.v1+json\"",
            "\"application/vnd.oci.image.index.v1+json\"",
            "\"application/vnd.docker.distribution.manifest.v2+json\"",
            "\"nondistributable\"",
            "\"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\"",
            "null",
            "1e400",
            "-0",
        ],
        run: manifest,
    },
    Target {
        name: "imageset",
        describe: "ImageSetConfiguration and DeleteImageSetConfiguration YAML",
        max_len: 8192,
        dictionary: &[
            "kind: ImageSetConfiguration\n",
            "kind: DeleteImageSetConfiguration\n",
            "apiVersion: mirror.openshift.io/v2alpha1\n",
            "mirror:\n",
            "delete:\n",
            "  additionalImages:\n",
            "  - name: ",
            "  operators:\n",
            "  - catalog: ",
            "    packages:\n",
            "  platform:\n",
            "    channels:\n",
            "  blockedImages:\n",
            "  helm:\n",
            "archiveSize: ",
            "minVersion: ",
            "maxVersion: ",
            "&a ",
            "*a",
            "!!binary ",
            "[",
            "{",
            "\n  ",
            "(a+)+",
        ],
        run: imageset,
    },
    Target {
        name: "range",
        describe: "blob Range headers (RFC 9110) and upload Content-Range",
        max_len: 256,
        dictionary: &["bytes=", "bytes ", "items=", "-", ",", " ", "\t", "0", "18446744073709551615"],
        run: ranges,
    },
    Target {
        name: "authorization",
        describe: "Authorization headers (Basic, Bearer, anything else)",
        max_len: 1024,
        dictionary: &["Basic ", "Bearer ", "basic ", "BEARER ", "YWRtaW46cGFzc3dvcmQ=", "==", ":", " ", "\t"],
        run: authorization,
    },
];

/// The target called `name`.
#[must_use]
pub fn target(name: &str) -> Option<&'static Target> {
    TARGETS.iter().find(|t| t.name == name)
}

/// An error's variant name, from its `Debug` form: the outcome label of a refusal.
fn variant(e: &impl Debug) -> String {
    let debug = format!("{e:?}");
    debug.split(|c: char| !c.is_alphanumeric()).next().unwrap_or_default().to_string()
}

/// Parses `s` as `T`; when accepted, the value must print as exactly the text it came from
/// (these types have one spelling each) and parse again to itself.
fn exact<T: FromStr + Display + PartialEq + Debug>(s: &str) -> char {
    let Ok(value) = s.parse::<T>() else { return '0' };
    let shown = value.to_string();
    assert_eq!(shown, s, "{} accepted {s:?} but prints {shown:?}", std::any::type_name::<T>());
    assert!(shown.parse::<T>().ok() == Some(value), "{} does not parse its own output", std::any::type_name::<T>());
    '1'
}

fn reference(data: &[u8]) -> String {
    let s = String::from_utf8_lossy(data);
    let mut label: String =
        [exact::<RepoName>(&s), exact::<Tag>(&s), exact::<Digest>(&s), exact::<Reference>(&s), exact::<UploadId>(&s)]
            .into_iter()
            .collect();
    if let Ok(r) = s.parse::<Reference>() {
        // The colon decides the grammar: a tag has none, a digest has one.
        assert_eq!(matches!(r, Reference::Digest(_)), s.contains(':'), "{s:?} parsed as {r:?}");
    }
    match s.parse::<ImageRef>() {
        Ok(image) => {
            // An image reference may be written several ways (`alpine`, `docker.io/library/alpine`);
            // its printed form must be one that parses back to the same reference.
            let shown = image.to_string();
            let again =
                shown.parse::<ImageRef>().unwrap_or_else(|e| panic!("{s:?} prints {shown:?}, which fails: {e}"));
            assert_eq!(again, image, "{s:?} prints {shown:?}, which parses differently");
            assert_eq!(again.to_string(), shown, "printing is not stable for {s:?}");
            label.push_str(if image.digest().is_some() { "-image@" } else { "-image" });
        }
        Err(e) => {
            label.push('-');
            label.push_str(&variant(&e));
        }
    }
    label
}

const CONTENT_TYPES: [Option<&str>; 7] = [
    None,
    Some(OCI_MANIFEST),
    Some(OCI_INDEX),
    Some(DOCKER_MANIFEST),
    Some(DOCKER_MANIFEST_LIST),
    Some("application/vnd.oci.image.manifest.v1+json; charset=utf-8"),
    Some("application/vnd.docker.distribution.manifest.v1+prettyjws"),
];

fn manifest(data: &[u8]) -> String {
    // The first byte picks the Content-Type the body is pushed with.
    let (content_type, body) = match data.split_first() {
        Some((first, rest)) => (CONTENT_TYPES[usize::from(*first) % CONTENT_TYPES.len()], rest),
        None => (None, data),
    };
    let parsed = manifest::parse(content_type, body);
    assert_eq!(manifest::parse(content_type, body), parsed, "parsing is not a pure function of the input");
    match parsed {
        Ok(m) => {
            assert!(
                [OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_MANIFEST_LIST].contains(&m.media_type.as_str()),
                "accepted media type {:?}",
                m.media_type
            );
            match m.kind {
                Kind::Image => assert!(!m.blobs.is_empty() && m.children.is_empty(), "image without its config"),
                Kind::Index => assert!(m.blobs.is_empty(), "index with blobs"),
            }
            for d in m.blobs.iter().chain(&m.children) {
                assert_eq!(
                    d.digest.to_string().parse::<Digest>().as_ref(),
                    Ok(&d.digest),
                    "digest does not round-trip"
                );
            }
            format!("ok-{:?}-{}-{}", m.kind, m.blobs.len().min(3), m.subject.is_some())
        }
        Err(e) => match &e {
            manifest::Error::Field { field, .. } => {
                format!("Field-{}", field.split(['[', '.']).next().unwrap_or_default())
            }
            _ => variant(&e),
        },
    }
}

fn imageset(data: &[u8]) -> String {
    let text = String::from_utf8_lossy(data);
    match imageset::parse(&text) {
        Ok(set) => {
            assert!(
                set.archive_size_gib.is_finite() && set.archive_size_gib > 0.0,
                "archive size {}",
                set.archive_size_gib
            );
            assert_eq!(set.blocked.len(), set.content.blocked_images.len(), "a blockedImages pattern was dropped");
            format!(
                "ok-{:?}-{}{}{}{}",
                set.kind,
                u8::from(set.content.platform.is_some()),
                set.content.operators.len().min(2),
                set.content.additional_images.len().min(2),
                u8::from(set.content.helm.is_some())
            )
        }
        Err(problems) => {
            assert!(!problems.is_empty(), "refused without a problem");
            // YAML counts a lone CR as a line break too (YAML 1.2 §5.4), and so do its positions.
            let lines = text.replace("\r\n", "\n").split(['\r', '\n']).count();
            for p in &problems {
                assert!(!p.message.is_empty(), "a problem without a message");
                assert!(p.line.is_none_or(|l| l >= 1 && l <= lines), "problem at line {:?} of {lines}", p.line);
            }
            let first = &problems[0].message;
            format!("err-{}-{}", problems.len().min(3), first.split([':', '"']).next().unwrap_or_default())
        }
    }
}

/// RFC 9110 §14.1.2, stated apart from the code under test.
fn satisfiable(spec: RangeSpec, size: u64) -> bool {
    match spec {
        RangeSpec::FromTo { first, .. } => first < size,
        RangeSpec::Suffix(n) => n > 0,
    }
}

fn ranges(data: &[u8]) -> String {
    let s = String::from_utf8_lossy(data);
    let mut label = String::new();
    match range::parse_range(&s) {
        None => label.push_str("ignored"),
        Some(specs) => {
            assert!(!specs.is_empty(), "an empty range set was accepted");
            for spec in &specs {
                if let RangeSpec::FromTo { first, last: Some(last) } = spec {
                    assert!(last >= first, "{s:?}: accepted last {last} < first {first}");
                }
            }
            for size in [0, 1, 2, 10, 4096, u64::MAX - 1, u64::MAX] {
                let any = specs.iter().any(|&r| satisfiable(r, size));
                match range::select(&specs, size) {
                    Selection::Part { first, last } => {
                        assert!(first <= last && last < size, "{s:?} of {size}: part {first}-{last}");
                        assert_eq!(specs.len(), 1, "{s:?}: a part of several ranges");
                        if let [RangeSpec::FromTo { first: f, .. }] = specs.as_slice() {
                            assert_eq!(first, *f, "{s:?}: the part does not start where asked");
                        }
                    }
                    Selection::Whole => assert!(any, "{s:?} of {size}: whole for unsatisfiable ranges"),
                    Selection::Unsatisfiable => assert!(!any, "{s:?} of {size}: 416 for a satisfiable range"),
                }
            }
            label = format!("{}-{}", specs.len().min(3), u8::from(matches!(specs[0], RangeSpec::Suffix(_))));
        }
    }
    if let Some(chunk) = range::parse_chunk_range(&s) {
        assert!(chunk.start <= chunk.end, "{s:?}: chunk {}-{}", chunk.start, chunk.end);
        let again = range::parse_chunk_range(&format!("{}-{}", chunk.start, chunk.end));
        assert_eq!(again, Some(chunk), "{s:?}: the chunk range does not round-trip");
        label.push_str("-chunk");
    }
    label
}

fn authorization(data: &[u8]) -> String {
    let s = String::from_utf8_lossy(data);
    match Auth::parse_authorization(Some(&s)) {
        Ok(_) => "ok".into(),
        Err(denial) => format!("err-{denial}"),
    }
}
