//! Cluster resources: `ImageDigestMirrorSet` and `ImageTagMirrorSet` files that point a cluster
//! at the mirror, the `CatalogSource` and `ClusterCatalog` of each mirrored operator catalog, and
//! the `UpdateService` of a mirrored update graph, in oc-mirror v2's format. (The release
//! signature ConfigMap is written by `platform::signature`.)
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

/// File name of the UpdateService.
pub const UPDATE_SERVICE_FILE: &str = "updateService.yaml";

/// Writes `updateService.yaml`: an `UpdateService` (OpenShift Update Service operator) that
/// serves the mirrored graph, reading releases from `releases` (the payload repository on the
/// mirror) and the graph from `graph_image`. Named and shaped as oc-mirror v2 writes it; the
/// user sets the namespace the operator runs in.
///
/// # Errors
/// [`Error::Io`].
pub fn write_update_service(dir: &Path, releases: &str, graph_image: &str) -> Result<PathBuf, Error> {
    let service = serde_json::json!({
        "apiVersion": "updateservice.operator.openshift.io/v1",
        "kind": "UpdateService",
        "metadata": {"name": "update-service-oc-mirror"},
        "spec": {"graphDataImage": graph_image, "releases": releases, "replicas": 2},
    });
    let text = serde_yaml::to_string(&service).map_err(|e| Error::Render("UpdateService", e.to_string()))?;
    std::fs::create_dir_all(dir).map_err(|source| Error::Io { path: dir.to_path_buf(), source })?;
    let path = dir.join(UPDATE_SERVICE_FILE);
    std::fs::write(&path, text).map_err(|source| Error::Io { path: path.clone(), source })?;
    Ok(path)
}

/// A mirrored catalog, as its CatalogSource and ClusterCatalog name it.
#[derive(Debug, Clone)]
pub struct CatalogResource {
    /// The catalog image on the mirror, by digest (`REG/ns/index@sha256:…`).
    pub image: String,
    /// Its repository on the mirror (the last component names the resources).
    pub repository: String,
    /// Its tag on the mirror.
    pub tag: String,
    /// `targetCatalogSourceTemplate`: a CatalogSource whose other fields are kept.
    pub template: Option<PathBuf>,
}

/// The resource name `<prefix>-<repository's last component>-<tag>`, made a valid DNS-1035
/// label the way oc-mirror does it (lower case, other characters `-`, the tag cut to 12).
#[must_use]
pub fn catalog_resource_name(prefix: &str, repository: &str, tag: &str) -> String {
    let last = repository.rsplit('/').next().unwrap_or(repository);
    let suffix: String = tag
        .chars()
        .take(12)
        .map(|c| {
            let c = c.to_ascii_lowercase();
            if c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' { c } else { '-' }
        })
        .collect();
    let suffix = if suffix.is_empty() { "0".to_string() } else { suffix };
    format!("{prefix}-{last}-{suffix}")
}

/// Reads a `targetCatalogSourceTemplate`: a CatalogSource (`operators.coreos.com/v1alpha1`) of
/// source type grpc (or none) without a `configMap`.
///
/// # Errors
/// A one-line message saying what is wrong with the file.
pub fn read_catalog_source_template(path: &Path) -> Result<serde_yaml::Mapping, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let value: serde_yaml::Value = serde_yaml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let serde_yaml::Value::Mapping(map) = value else {
        return Err(format!("{}: not a CatalogSource (a YAML mapping)", path.display()));
    };
    let field = |k: &str| map.get(k).and_then(serde_yaml::Value::as_str).unwrap_or_default().to_string();
    if field("apiVersion") != "operators.coreos.com/v1alpha1" || field("kind") != "CatalogSource" {
        return Err(format!(
            "{}: not a CatalogSource: expected apiVersion operators.coreos.com/v1alpha1 and kind CatalogSource",
            path.display()
        ));
    }
    let spec = map.get("spec");
    let source_type = spec.and_then(|s| s.get("sourceType")).and_then(serde_yaml::Value::as_str);
    if source_type.is_some_and(|t| t != "grpc") {
        return Err(format!("{}: the CatalogSource template must be of sourceType grpc", path.display()));
    }
    if spec.and_then(|s| s.get("configMap")).is_some() {
        return Err(format!("{}: the CatalogSource template must not name a configMap", path.display()));
    }
    Ok(map)
}

/// Writes `cs-<catalog>-<tag>.yaml` (CatalogSource) and `cc-<catalog>-<tag>.yaml`
/// (ClusterCatalog, OLM v1) into `dir` for each catalog; returns the files written.
///
/// # Errors
/// [`Error::Io`], [`Error::Render`] (a template that can't be read is a render error).
pub fn write_catalogs(dir: &Path, catalogs: &[CatalogResource]) -> Result<Vec<PathBuf>, Error> {
    use serde_yaml::{Mapping, Value};
    std::fs::create_dir_all(dir).map_err(|source| Error::Io { path: dir.to_path_buf(), source })?;
    let mut written = Vec::new();
    for c in catalogs {
        let source_name = catalog_resource_name("cs", &c.repository, &c.tag);
        let mut cs = match &c.template {
            Some(t) => read_catalog_source_template(t).map_err(|e| Error::Render("CatalogSource", e))?,
            None => Mapping::new(),
        };
        cs.insert("apiVersion".into(), "operators.coreos.com/v1alpha1".into());
        cs.insert("kind".into(), "CatalogSource".into());
        let mut metadata = match cs.remove("metadata") {
            Some(Value::Mapping(m)) => m,
            _ => Mapping::new(),
        };
        metadata.insert("name".into(), source_name.clone().into());
        metadata.insert("namespace".into(), "openshift-marketplace".into());
        cs.insert("metadata".into(), Value::Mapping(metadata));
        let mut spec = match cs.remove("spec") {
            Some(Value::Mapping(m)) => m,
            _ => Mapping::new(),
        };
        spec.insert("sourceType".into(), "grpc".into());
        spec.insert("image".into(), c.image.clone().into());
        cs.insert("spec".into(), Value::Mapping(spec));

        let catalog_name = catalog_resource_name("cc", &c.repository, &c.tag);
        let cc = serde_json::json!({
            "apiVersion": "olm.operatorframework.io/v1",
            "kind": "ClusterCatalog",
            "metadata": {"name": catalog_name},
            "spec": {"source": {"type": "Image", "image": {"ref": c.image}}},
        });
        for (name, text) in [
            (source_name, serde_yaml::to_string(&cs).map_err(|e| Error::Render("CatalogSource", e.to_string()))?),
            (catalog_name, serde_yaml::to_string(&cc).map_err(|e| Error::Render("ClusterCatalog", e.to_string()))?),
        ] {
            let path = dir.join(format!("{name}.yaml"));
            std::fs::write(&path, text).map_err(|source| Error::Io { path: path.clone(), source })?;
            written.push(path);
        }
    }
    Ok(written)
}

fn scope(images: &[&ImagePlan], repository_scope: bool) -> (Scoped, Scoped) {
    let mut digests = Scoped::new();
    let mut tags = Scoped::new();
    for image in images.iter().filter(|i| i.category.in_mirror_sets()) {
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
            needed_by: Vec::new(),
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
    fn catalog_resource_names_are_dns_labels() {
        let cases: &[(&str, &str, &str, &str)] = &[
            ("tag with dots", "redhat/redhat-operator-index", "v4.17", "cs-redhat-operator-index-v4-17"),
            ("long tag cut to 12", "ns/cat", "sha256-0123456789abcdef", "cs-cat-sha256-01234"),
            ("upper case", "cat", "V1_X", "cs-cat-v1-x"),
        ];
        for (name, repo, tag, expected) in cases {
            assert_eq!(catalog_resource_name("cs", repo, tag), *expected, "case {name}");
        }
    }

    #[test]
    fn catalog_sources_merge_their_template() {
        let dir = tempfile::tempdir().expect("temp dir");
        let template = dir.path().join("cs.yaml");
        std::fs::write(
            &template,
            "apiVersion: operators.coreos.com/v1alpha1\nkind: CatalogSource\nmetadata:\n  name: x\n  labels: {team: a}\nspec:\n  displayName: Mine\n  updateStrategy:\n    registryPoll: {interval: 30m}\n",
        )
        .expect("template");
        let catalog = CatalogResource {
            image: format!("m.io/ns/index@sha256:{HEX}"),
            repository: "ns/index".into(),
            tag: "v1.0".into(),
            template: Some(template),
        };
        let written = write_catalogs(&dir.path().join("out"), &[catalog]).expect("write");
        let names: Vec<String> =
            written.iter().map(|p| p.file_name().expect("name").to_string_lossy().into_owned()).collect();
        assert_eq!(names, vec!["cs-index-v1-0.yaml", "cc-index-v1-0.yaml"]);
        let cs: serde_yaml::Value =
            serde_yaml::from_str(&std::fs::read_to_string(&written[0]).expect("read")).expect("yaml");
        assert_eq!(cs["metadata"]["name"].as_str(), Some("cs-index-v1-0"));
        assert_eq!(cs["metadata"]["namespace"].as_str(), Some("openshift-marketplace"));
        assert_eq!(cs["metadata"]["labels"]["team"].as_str(), Some("a"));
        assert_eq!(cs["spec"]["sourceType"].as_str(), Some("grpc"));
        assert_eq!(cs["spec"]["displayName"].as_str(), Some("Mine"));
        assert_eq!(cs["spec"]["updateStrategy"]["registryPoll"]["interval"].as_str(), Some("30m"));
        assert_eq!(cs["spec"]["image"].as_str(), Some(format!("m.io/ns/index@sha256:{HEX}").as_str()));
        let cc: serde_yaml::Value =
            serde_yaml::from_str(&std::fs::read_to_string(&written[1]).expect("read")).expect("yaml");
        assert_eq!(cc["kind"].as_str(), Some("ClusterCatalog"));
        assert_eq!(cc["spec"]["source"]["image"]["ref"].as_str(), Some(format!("m.io/ns/index@sha256:{HEX}").as_str()));
    }

    #[test]
    fn bad_catalog_source_templates_are_refused() {
        let dir = tempfile::tempdir().expect("temp dir");
        let cases: &[(&str, &str, &str)] = &[
            ("wrong kind", "apiVersion: v1\nkind: ConfigMap\n", "not a CatalogSource"),
            (
                "configMap source",
                "apiVersion: operators.coreos.com/v1alpha1\nkind: CatalogSource\nspec: {sourceType: configmap}\n",
                "sourceType grpc",
            ),
            ("not yaml", "a: [", "did not find"),
        ];
        for (name, text, message) in cases {
            let path = dir.path().join("t.yaml");
            std::fs::write(&path, text).expect("write");
            let e = read_catalog_source_template(&path).expect_err(name);
            assert!(e.contains(message), "case {name}: {e}");
        }
        let missing = read_catalog_source_template(&dir.path().join("absent.yaml")).expect_err("missing");
        assert!(missing.contains("absent.yaml"), "{missing}");
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
