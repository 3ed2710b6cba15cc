//! Cluster resources: `ImageDigestMirrorSet` and `ImageTagMirrorSet` files that point a cluster
//! at the mirror, in oc-mirror v2's format.
//!
//! ```yaml
//! ---
//! apiVersion: config.openshift.io/v1
//! kind: ImageDigestMirrorSet           # ImageTagMirrorSet in itms-oc-mirror.yaml
//! metadata:
//!   annotations:
//!     createdAt: Thursday, 21-Nov-24 10:04:05 UTC
//!     createdBy: mirror-registry mirror (oc-mirror v2 format)
//!   name: idms-generic-0               # one object per category
//! spec:
//!   imageDigestMirrors:                # imageTagMirrors in an ITMS
//!   - mirrors:
//!     - mirror.example:5000/team/ubi8
//!     source: registry.redhat.io/ubi8
//! ```
//!
//! Images referenced by digest go into the IDMS, images referenced by tag into the ITMS (an
//! image referenced by both goes into both). Scope, as oc-mirror decides it: when the mirror's
//! path ends with the source path, the namespace (path without its last component) is mirrored
//! as a whole; otherwise, or always under `--max-nested-paths`, the repository alone.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::Serialize;
use time::OffsetDateTime;

use super::plan::{Category, ImagePlan};
use crate::reference::image::ImageRef;

/// File name of the digest mirror sets.
pub const IDMS_FILE: &str = "idms-oc-mirror.yaml";
/// File name of the tag mirror sets.
pub const ITMS_FILE: &str = "itms-oc-mirror.yaml";
const API_VERSION: &str = "config.openshift.io/v1";
const CREATED_BY: &str = "mirror-registry mirror (oc-mirror v2 format)";

/// Why the resources could not be written.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file operation failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Serialization failed (it can't, for these types; kept for honesty).
    #[error("rendering {0}: {1}")]
    Render(&'static str, String),
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct MirrorSet {
    api_version: &'static str,
    kind: &'static str,
    metadata: Metadata,
    spec: BTreeMap<&'static str, Vec<MirrorEntry>>,
}

#[derive(Serialize)]
struct Metadata {
    annotations: BTreeMap<&'static str, String>,
    name: String,
}

#[derive(Serialize)]
struct MirrorEntry {
    mirrors: Vec<String>,
    source: String,
}

/// Mirrors by source, per category, for one kind of set.
type Scoped = BTreeMap<Category, BTreeMap<String, BTreeSet<String>>>;

/// What was written.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Written {
    /// The IDMS file, when some image was referenced by digest.
    pub idms: Option<PathBuf>,
    /// The ITMS file, when some image was referenced by tag.
    pub itms: Option<PathBuf>,
}

/// Writes `idms-oc-mirror.yaml` and `itms-oc-mirror.yaml` into `dir` for the mirrored images.
/// A file with nothing to say is not written (and an old one is removed).
///
/// # Errors
/// [`Error::Io`].
pub fn write(dir: &Path, images: &[&ImagePlan], repository_scope: bool) -> Result<Written, Error> {
    let now = OffsetDateTime::now_utc();
    let (digests, tags) = scope(images, repository_scope);
    std::fs::create_dir_all(dir).map_err(|source| Error::Io { path: dir.to_path_buf(), source })?;
    let mut written = Written::default();
    for (file, kind, list_key, prefix, sets, slot) in [
        (IDMS_FILE, "ImageDigestMirrorSet", "imageDigestMirrors", "idms", &digests, &mut written.idms),
        (ITMS_FILE, "ImageTagMirrorSet", "imageTagMirrors", "itms", &tags, &mut written.itms),
    ] {
        let path = dir.join(file);
        if sets.is_empty() {
            let _ = std::fs::remove_file(&path);
            continue;
        }
        let text = render(kind, list_key, prefix, sets, now)?;
        std::fs::write(&path, text).map_err(|source| Error::Io { path: path.clone(), source })?;
        *slot = Some(path);
    }
    Ok(written)
}

fn scope(images: &[&ImagePlan], repository_scope: bool) -> (Scoped, Scoped) {
    let mut digests = Scoped::new();
    let mut tags = Scoped::new();
    for image in images {
        let (source, mirror) = scopes(&image.origin, &image.destination, repository_scope);
        if image.origin.digest().is_some() {
            digests.entry(image.category).or_default().entry(source.clone()).or_default().insert(mirror.clone());
        }
        if image.origin.tag().is_some() || image.origin.digest().is_none() {
            tags.entry(image.category).or_default().entry(source).or_default().insert(mirror);
        }
    }
    (digests, tags)
}

/// The source and mirror entries for one image: namespace scope when the destination path ends
/// with the source path, repository scope otherwise.
fn scopes(origin: &ImageRef, destination: &ImageRef, repository_scope: bool) -> (String, String) {
    let src_path = origin.repository().as_str();
    let dst_path = destination.repository().as_str();
    if !repository_scope && dst_path.ends_with(src_path) {
        (namespace(origin), namespace(destination))
    } else {
        (origin.name(), destination.name())
    }
}

fn namespace(image: &ImageRef) -> String {
    match image.repository().as_str().rsplit_once('/') {
        Some((ns, _)) => format!("{}/{ns}", image.registry()),
        None => image.registry().to_string(),
    }
}

fn render(
    kind: &'static str,
    list_key: &'static str,
    prefix: &str,
    sets: &Scoped,
    now: OffsetDateTime,
) -> Result<String, Error> {
    // Go's time.RFC850, which oc-mirror uses: "Monday, 02-Jan-06 15:04:05 MST".
    let format = time::macros::format_description!(
        "[weekday], [day]-[month repr:short]-[year repr:last_two] [hour]:[minute]:[second] UTC"
    );
    let created_at = now.format(&format).map_err(|e| Error::Render(kind, e.to_string()))?;
    let mut out = String::new();
    for (category, mirrors) in sets {
        let set = MirrorSet {
            api_version: API_VERSION,
            kind,
            metadata: Metadata {
                annotations: BTreeMap::from([("createdAt", created_at.clone()), ("createdBy", CREATED_BY.to_string())]),
                name: format!("{prefix}-{}-0", category.name()),
            },
            spec: BTreeMap::from([(
                list_key,
                mirrors
                    .iter()
                    .map(|(source, m)| MirrorEntry { mirrors: m.iter().cloned().collect(), source: source.clone() })
                    .collect(),
            )]),
        };
        out.push_str("---\n");
        out.push_str(&serde_yaml::to_string(&set).map_err(|e| Error::Render(kind, e.to_string()))?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    fn plan(origin: &str, destination: &str) -> ImagePlan {
        ImagePlan {
            origin: origin.parse().expect("origin"),
            source: origin.parse().expect("origin"),
            destination: destination.parse().expect("destination"),
            category: Category::Generic,
        }
    }

    #[test]
    fn scope_rules() {
        let cases: Vec<(&str, &str, &str, bool, (&str, &str))> = vec![
            ("namespace scope", "quay.io/ns/app:v1", "m.io/top/ns/app:v1", false, ("quay.io/ns", "m.io/top/ns")),
            ("single-component source", "quay.io/app:v1", "m.io/app:v1", false, ("quay.io", "m.io")),
            (
                "renamed: repository scope",
                "quay.io/ns/app:v1",
                "m.io/other:v1",
                false,
                ("quay.io/ns/app", "m.io/other"),
            ),
            ("forced repository scope", "quay.io/ns/app:v1", "m.io/ns/app:v1", true, ("quay.io/ns/app", "m.io/ns/app")),
        ];
        for (name, origin, destination, repo_scope, (src, mirror)) in cases {
            let p = plan(origin, destination);
            let got = scopes(&p.origin, &p.destination, repo_scope);
            assert_eq!((got.0.as_str(), got.1.as_str()), (src, mirror), "case {name}");
        }
    }

    #[test]
    fn writes_digest_and_tag_sets() {
        let dir = tempfile::tempdir().expect("temp dir");
        let by_digest = plan(&format!("quay.io/ns/a@sha256:{HEX}"), &format!("m.io/x/ns/a:sha256-{HEX}"));
        let by_tag = plan("quay.io/ns/b:v1", "m.io/x/ns/b:v1");
        let written = write(dir.path(), &[&by_digest, &by_tag], false).expect("write");
        let digest_sets = std::fs::read_to_string(written.idms.expect("idms")).expect("read");
        let tag_sets = std::fs::read_to_string(written.itms.expect("itms")).expect("read");
        for (text, kind, key, name) in [
            (&digest_sets, "ImageDigestMirrorSet", "imageDigestMirrors", "idms-generic-0"),
            (&tag_sets, "ImageTagMirrorSet", "imageTagMirrors", "itms-generic-0"),
        ] {
            assert!(text.starts_with("---\napiVersion: config.openshift.io/v1\n"), "{text}");
            assert!(text.contains(&format!("kind: {kind}\n")), "{text}");
            assert!(text.contains(&format!("name: {name}\n")), "{text}");
            assert!(
                text.contains(&format!("{key}:\n  - mirrors:\n    - m.io/x/ns\n    source: quay.io/ns\n")),
                "{text}"
            );
            assert!(text.contains("createdBy: "), "{text}");
            let parsed: serde_yaml::Value = serde_yaml::from_str(text.trim_start_matches("---\n")).expect("yaml");
            assert_eq!(parsed["metadata"]["name"].as_str(), Some(name));
        }
    }
}
