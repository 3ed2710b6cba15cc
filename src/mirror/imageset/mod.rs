//! The ImageSetConfiguration file (`mirror.openshift.io/v2alpha1`): strict decoding and
//! oc-mirror's validation, every problem reported with its line and column.
//!
//! ```yaml
//! kind: ImageSetConfiguration          # or DeleteImageSetConfiguration, with `delete:`
//! apiVersion: mirror.openshift.io/v2alpha1
//! archiveSize: 4                       # GiB per mirror_NNNNNN.tar (default 500; may be fractional)
//! mirror:
//!   platform: {channels: [{name, type, minVersion, maxVersion, shortestPath, full}],
//!              graph, architectures, release, kubeVirtContainer}
//!   operators: [{catalog, targetCatalog, targetTag, full, skipDependencies,
//!                targetCatalogSourceTemplate,
//!                packages: [{name, defaultChannel, minVersion, maxVersion,
//!                            channels: [{name, minVersion, maxVersion}], bundles: [{name}]}]}]
//!   additionalImages: [{name, targetRepo, targetTag}]
//!   helm: {repositories: [{name, url, charts: [...]}], local: [{name, path, ...}]}
//!   blockedImages: [{name}]            # regular expressions, matched unanchored
//!   samples: [{name}]
//! ```
//!
//! Unknown keys are errors. Decoding errors carry serde_yaml's position; checks made after
//! decoding (duplicates, versions, regular expressions, target names) find the offending value
//! in the text, so they point at it too.

mod schema;
mod validate;

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::reference::image::ImageRef;

pub use schema::{
    AdditionalImage, Channel, Chart, Content, Helm, HelmRepository, NamedImage, Operator, Package, Platform,
    ReleaseChannel,
};
use validate::Locator;

/// The only `apiVersion` accepted.
pub const API_VERSION: &str = "mirror.openshift.io/v2alpha1";
/// `kind` of a mirroring configuration.
pub const KIND: &str = "ImageSetConfiguration";
/// `kind` of a deletion configuration.
pub const DELETE_KIND: &str = "DeleteImageSetConfiguration";
/// `archiveSize` when the file sets none, in GiB (oc-mirror's default).
pub const DEFAULT_ARCHIVE_SIZE_GIB: f64 = 500.0;

/// Where an operator catalog comes from: an image in a registry, or an OCI layout on disk.
///
/// ```text
/// registry.redhat.io/redhat/redhat-operator-index:v4.17      an image (tag, digest, or both)
/// docker://registry.redhat.io/redhat/redhat-operator-index:v4.17
/// oci:///home/user/catalogs/my-index                         an OCI layout directory
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CatalogRef {
    /// An image in a registry.
    Image(ImageRef),
    /// An OCI image layout directory holding one image.
    Layout(PathBuf),
}

impl std::str::FromStr for CatalogRef {
    type Err = String;

    fn from_str(s: &str) -> Result<CatalogRef, String> {
        if let Some(path) = s.strip_prefix("oci://") {
            if path.is_empty() {
                return Err("oci:// needs the path of an OCI layout directory".into());
            }
            return Ok(CatalogRef::Layout(PathBuf::from(path)));
        }
        if let Some((scheme, _)) = s.split_once("://")
            && scheme != "docker"
        {
            return Err(format!("unknown transport {scheme}://: use an image reference or oci://PATH"));
        }
        let image: ImageRef = s.trim_start_matches("docker://").parse().map_err(|e| format!("{e}"))?;
        if image.tag().is_none() && image.digest().is_none() {
            return Err("a catalog image needs a tag or a digest".into());
        }
        Ok(CatalogRef::Image(image))
    }
}

impl fmt::Display for CatalogRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CatalogRef::Image(i) => write!(f, "{i}"),
            CatalogRef::Layout(p) => write!(f, "oci://{}", p.display()),
        }
    }
}

/// Why a configuration file was refused.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// One or more problems, each with its position.
    #[error("{}", render_problems(path, problems))]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Every problem found.
        problems: Vec<Problem>,
    },
}

/// One problem in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// 1-based column, when known.
    pub column: Option<usize>,
    /// What is wrong.
    pub message: String,
}

fn render_problems(path: &Path, problems: &[Problem]) -> String {
    use std::fmt::Write as _;
    let mut out = String::from("invalid image set configuration:");
    for p in problems {
        let _ = match (p.line, p.column) {
            (Some(l), Some(c)) => write!(out, "\n  {}:{l}:{c}: {}", path.display(), p.message),
            _ => write!(out, "\n  {}: {}", path.display(), p.message),
        };
    }
    out
}

/// Which of the two kinds of file this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `ImageSetConfiguration`: what to mirror.
    Mirror,
    /// `DeleteImageSetConfiguration`: what to delete (the delete workflow).
    Delete,
}

/// A decoded, validated configuration.
#[derive(Debug, Clone)]
pub struct ImageSet {
    /// Mirror or delete.
    pub kind: Kind,
    /// Maximum size of one archive chunk, in GiB. oc-mirror takes whole GiB; fractions are
    /// accepted too (small media, tests).
    pub archive_size_gib: f64,
    /// `mirror:` (or `delete:`) content.
    pub content: Content,
    /// Compiled `blockedImages` patterns.
    pub blocked: Vec<regex::Regex>,
}

/// The sections of `mirror:` / `delete:`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct MirrorFile {
    // `kind` and `apiVersion` are checked before the typed decode; they are fields so that they
    // are known keys.
    #[serde(rename = "kind")]
    _kind: String,
    #[serde(rename = "apiVersion")]
    _api_version: String,
    #[serde(default)]
    archive_size: Option<f64>,
    mirror: Content,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct DeleteFile {
    // `kind` and `apiVersion` are checked before the typed decode; they are fields so that they
    // are known keys.
    #[serde(rename = "kind")]
    _kind: String,
    #[serde(rename = "apiVersion")]
    _api_version: String,
    delete: Content,
}

/// Reads, decodes and validates the file at `path`.
///
/// # Errors
/// [`Error::Read`] when the file can't be read, [`Error::Invalid`] with every problem found.
pub fn load(path: &Path) -> Result<ImageSet, Error> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Read { path: path.to_path_buf(), source })?;
    parse(&text).map_err(|problems| Error::Invalid { path: path.to_path_buf(), problems })
}

/// Decodes and validates configuration text.
///
/// # Errors
/// Every problem found, each with its position when it can be located.
pub fn parse(text: &str) -> Result<ImageSet, Vec<Problem>> {
    let kind = check_header(text)?;
    let (archive_size, content) = match kind {
        Kind::Mirror => {
            let file: MirrorFile = serde_yaml::from_str(text).map_err(|e| vec![yaml_problem(text, &e)])?;
            (file.archive_size, file.mirror)
        }
        Kind::Delete => {
            let file: DeleteFile = serde_yaml::from_str(text).map_err(|e| vec![yaml_problem(text, &e)])?;
            (None, file.delete)
        }
    };
    let locator = Locator::new(text);
    let mut problems = Vec::new();
    validate::validate_operators(&content.operators, &locator, &mut problems);
    validate::validate_channels(content.platform.as_ref(), &locator, &mut problems);
    validate::validate_additional_images(&content.additional_images, &locator, &mut problems);
    if let Some(helm) = &content.helm {
        validate::validate_helm(helm, &locator, &mut problems);
    }
    let blocked = validate::compile_blocked(&content.blocked_images, &locator, &mut problems);
    if let Some(size) = archive_size
        && !(size.is_finite() && size > 0.0)
    {
        let text = locator.value_of("archiveSize").unwrap_or_default();
        problems.push(locator.problem("archiveSize", &text, "archiveSize must be a positive number of GiB".into()));
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(ImageSet { kind, archive_size_gib: archive_size.unwrap_or(DEFAULT_ARCHIVE_SIZE_GIB), content, blocked })
}

/// Checks `kind` and `apiVersion` first, so that the typed decode picks the right shape.
fn check_header(text: &str) -> Result<Kind, Vec<Problem>> {
    let value: serde_yaml::Value = serde_yaml::from_str(text).map_err(|e| vec![yaml_problem(text, &e)])?;
    let locator = Locator::new(text);
    let field = |key: &str| value.get(key).and_then(serde_yaml::Value::as_str).map(str::to_string);
    let mut problems = Vec::new();
    let kind = match field("kind").as_deref() {
        Some(KIND) => Some(Kind::Mirror),
        Some(DELETE_KIND) => Some(Kind::Delete),
        Some(other) => {
            problems.push(locator.problem(
                "kind",
                other,
                format!("kind must be {KIND} or {DELETE_KIND}, not {other:?}"),
            ));
            None
        }
        None => {
            problems.push(Problem { line: Some(1), column: Some(1), message: "missing field `kind`".into() });
            None
        }
    };
    match field("apiVersion").as_deref() {
        Some(API_VERSION) => {}
        Some(other) => problems.push(locator.problem(
            "apiVersion",
            other,
            format!("apiVersion must be {API_VERSION}, not {other:?}"),
        )),
        None => {
            problems.push(Problem { line: Some(1), column: Some(1), message: "missing field `apiVersion`".into() });
        }
    }
    match kind {
        Some(k) if problems.is_empty() => Ok(k),
        _ => Err(problems),
    }
}

fn yaml_problem(text: &str, e: &serde_yaml::Error) -> Problem {
    let location = e.location();
    // serde_yaml appends " at line L column C" to its message; the position is shown separately.
    let message = e.to_string();
    let message = match message.rfind(" at line ") {
        Some(i) if location.is_some() => message[..i].to_string(),
        _ => message,
    };
    let (line, column) = match location {
        Some(l) => {
            let (line, column) = within_text(text, l.line(), l.column());
            (Some(line), Some(column))
        }
        None => (None, None),
    };
    Problem { line, column, message }
}

/// Keeps a position inside `text`: at the end of input libyaml reports the line after the last
/// one (found by fuzzing: `n: \ne` was refused at line 3 of 2), which no editor can show.
/// Lines are counted as YAML does, a lone CR being a line break too.
fn within_text(text: &str, line: usize, column: usize) -> (usize, usize) {
    let normalized = text.replace("\r\n", "\n").replace('\r', "\n");
    let last_line = normalized.split('\n').count();
    if line <= last_line {
        return (line, column);
    }
    let last_len = normalized.rsplit('\n').next().map_or(0, |l| l.chars().count());
    (last_line, last_len + 1)
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line, self.column) {
            (Some(l), Some(c)) => write!(f, "line {l} column {c}: {}", self.message),
            _ => f.write_str(&self.message),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "kind: ImageSetConfiguration\napiVersion: mirror.openshift.io/v2alpha1\n";

    #[test]
    fn accepts_full_schema() {
        let text = format!(
            "{HEADER}archiveSize: 4
mirror:
  platform:
    graph: true
    architectures: [amd64]
    channels:
    - name: stable-4.17
      type: ocp
      minVersion: 4.17.0
      maxVersion: 4.17.3
      shortestPath: true
  operators:
  - catalog: registry.redhat.io/redhat/redhat-operator-index:v4.17
    targetCatalog: my/catalog
    targetTag: v1
    full: false
    packages:
    - name: aws-load-balancer-operator
      channels:
      - name: stable-v1
        minVersion: 1.1.0
    - name: other-operator
      bundles:
      - name: b1
  additionalImages:
  - name: registry.redhat.io/ubi8/ubi:latest
  - name: quay.io/a/b@sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
    targetRepo: x/y
    targetTag: v2
  helm:
    repositories:
    - name: podinfo
      url: https://example.invalid/podinfo
      charts:
      - name: podinfo
        version: 5.0.0
    local:
    - name: local
      path: /tmp/chart.tgz
  blockedImages:
  - name: alpine
  samples: []
"
        );
        let set = parse(&text).unwrap_or_else(|p| panic!("{p:?}"));
        assert_eq!(set.kind, Kind::Mirror);
        assert!((set.archive_size_gib - 4.0).abs() < f64::EPSILON);
        assert_eq!(set.content.additional_images.len(), 2);
        assert_eq!(set.blocked.len(), 1);
        let helm = set.content.helm.as_ref().expect("helm section");
        assert_eq!((helm.repositories.len(), helm.local.len()), (1, 1));
    }

    #[test]
    fn catalog_references() {
        let cases: &[(&str, &str, Result<&str, &str>)] = &[
            ("tagged image", "registry.example/ns/index:v4.17", Ok("registry.example/ns/index:v4.17")),
            ("docker transport", "docker://registry.example/ns/index:v1", Ok("registry.example/ns/index:v1")),
            ("oci layout", "oci:///srv/catalog", Ok("oci:///srv/catalog")),
            ("relative oci layout", "oci://catalog", Ok("oci://catalog")),
            ("empty oci path", "oci://", Err("oci:// needs")),
            ("no tag", "registry.example/ns/index", Err("tag or a digest")),
        ];
        for (name, input, expected) in cases {
            match (input.parse::<CatalogRef>(), expected) {
                (Ok(c), Ok(shown)) => assert_eq!(c.to_string(), *shown, "case {name}"),
                (Err(e), Err(part)) => assert!(e.contains(part), "case {name}: {e}"),
                (got, _) => panic!("case {name}: {got:?}"),
            }
        }
    }

    #[test]
    fn delete_kind_uses_delete_section() {
        let text = "kind: DeleteImageSetConfiguration\napiVersion: mirror.openshift.io/v2alpha1\ndelete:\n  additionalImages:\n  - name: quay.io/a/b:v1\n";
        let set = parse(text).expect("valid");
        assert_eq!(set.kind, Kind::Delete);
        assert!((set.archive_size_gib - DEFAULT_ARCHIVE_SIZE_GIB).abs() < f64::EPSILON);
    }

    #[test]
    fn problems_name_their_line() {
        let cases: Vec<(&str, String, usize, &str)> = vec![
            (
                "unknown top-level key",
                format!("{HEADER}mirror: {{}}\nstorageConfig: {{}}\n"),
                4,
                "unknown field `storageConfig`",
            ),
            (
                "unknown nested key",
                format!("{HEADER}mirror:\n  additionalImages:\n  - name: a.io/b:c\n    tag: x\n"),
                6,
                "unknown field `tag`",
            ),
            ("wrong type", format!("{HEADER}archiveSize: big\nmirror: {{}}\n"), 3, "invalid type"),
            ("zero archive size", format!("{HEADER}archiveSize: 0\nmirror: {{}}\n"), 3, "positive number of GiB"),
            (
                "wrong kind",
                "kind: Foo\napiVersion: mirror.openshift.io/v2alpha1\nmirror: {}\n".to_string(),
                1,
                "kind must be",
            ),
            (
                "v1 api version",
                "kind: ImageSetConfiguration\napiVersion: mirror.openshift.io/v1alpha2\nmirror: {}\n".to_string(),
                2,
                "apiVersion must be",
            ),
            (
                "duplicate catalog",
                format!("{HEADER}mirror:\n  operators:\n  - catalog: a.io/c:v1\n  - catalog: a.io/c:v1\n"),
                6,
                "duplicate found in configuration",
            ),
            (
                "duplicate package",
                format!(
                    "{HEADER}mirror:\n  operators:\n  - catalog: a.io/c:v1\n    packages:\n    - name: p\n    - name: p\n"
                ),
                8,
                "duplicate package entry",
            ),
            (
                "non-semver maxVersion",
                format!(
                    "{HEADER}mirror:\n  operators:\n  - catalog: a.io/c:v1\n    packages:\n    - name: p\n      maxVersion: one\n"
                ),
                8,
                "must respect semantic versioning",
            ),
            (
                "mixed version filters",
                format!(
                    "{HEADER}mirror:\n  operators:\n  - catalog: a.io/c:v1\n    packages:\n    - name: p\n      minVersion: 1.0.0\n      channels:\n      - name: stable\n        minVersion: 1.1.0\n"
                ),
                7,
                "mixing both filtering",
            ),
            (
                "duplicate release channel",
                format!(
                    "{HEADER}mirror:\n  platform:\n    channels:\n    - name: stable-4.17\n    - name: stable-4.17\n"
                ),
                7,
                "release channel \"stable-4.17\": duplicate",
            ),
            (
                "invalid blocked regex",
                format!("{HEADER}mirror:\n  blockedImages:\n  - name: \"a(b\"\n"),
                5,
                "invalid regular expression",
            ),
            (
                "invalid targetRepo",
                format!("{HEADER}mirror:\n  additionalImages:\n  - name: a.io/b:c\n    targetRepo: Bad/Repo:tag\n"),
                6,
                "targetRepo: Bad/Repo:tag - value is not valid",
            ),
            (
                "invalid targetCatalog",
                format!("{HEADER}mirror:\n  operators:\n  - catalog: a.io/c:v1\n    targetCatalog: c:v2\n"),
                6,
                "targetCatalog: c:v2 - value is not valid",
            ),
            (
                "invalid image name",
                format!("{HEADER}mirror:\n  additionalImages:\n  - name: a.io/B\n"),
                5,
                "additionalImages: invalid image reference",
            ),
        ];
        assert_first_problems(cases);
    }

    #[test]
    fn helm_problems_name_their_line() {
        let cases: Vec<(&str, String, usize, &str)> = vec![
            (
                "helm repository url",
                format!("{HEADER}mirror:\n  helm:\n    repositories:\n    - name: r\n      url: ftp://h/charts\n"),
                7,
                "helm repository r: url \"ftp://h/charts\" is not an http(s) URL",
            ),
            (
                "helm local chart without path",
                format!("{HEADER}mirror:\n  helm:\n    local:\n    - name: tools\n"),
                6,
                "helm local chart tools: path is required",
            ),
            (
                "helm image path",
                format!(
                    "{HEADER}mirror:\n  helm:\n    local:\n    - name: tools\n      path: /c\n      imagePaths:\n      - '{{.a[}}'\n"
                ),
                9,
                "helm chart tools: image path",
            ),
        ];
        assert_first_problems(cases);
    }

    /// Each case's first problem contains the message and is on the line.
    fn assert_first_problems(cases: Vec<(&str, String, usize, &str)>) {
        for (name, text, line, message) in cases {
            let Err(problems) = parse(&text) else { panic!("case {name}: accepted") };
            let p = problems.first().unwrap_or_else(|| panic!("case {name}: no problem"));
            assert!(p.message.contains(message), "case {name}: message {:?}", p.message);
            assert_eq!(p.line, Some(line), "case {name}: {p:?}");
        }
    }

    /// The delete kind is checked like the mirror kind: what `mirror` refuses, `delete
    /// --generate` refuses too, at the same position.
    #[test]
    fn delete_configurations_are_validated_like_mirror_ones() {
        let header = "kind: DeleteImageSetConfiguration\napiVersion: mirror.openshift.io/v2alpha1\n";
        let cases: Vec<(&str, String, usize, &str)> = vec![
            (
                "catalog with a documentation placeholder",
                format!(
                    "{header}delete:\n  operators:\n  - catalog: registry.redhat.io/redhat/redhat-operator-index:v{{product-version}}\n"
                ),
                5,
                "{product-version} is a placeholder",
            ),
            (
                "catalog that is not a reference",
                format!("{header}delete:\n  operators:\n  - catalog: \"not a reference\"\n"),
                5,
                "invalid image reference",
            ),
            (
                "additional image with a placeholder",
                format!("{header}delete:\n  additionalImages:\n  - name: registry.redhat.io/ubi8/ubi:{{tag}}\n"),
                5,
                "{tag} is a placeholder",
            ),
            (
                "duplicate package",
                format!(
                    "{header}delete:\n  operators:\n  - catalog: a.io/c:v1\n    packages:\n    - name: p\n    - name: p\n"
                ),
                8,
                "duplicate package entry",
            ),
            ("mirror section in a delete file", format!("{header}mirror: {{}}\n"), 3, "unknown field `mirror`"),
        ];
        assert_first_problems(cases);
    }

    #[test]
    fn refused_operator_filters_name_the_rule_and_the_package_line() {
        let cases: Vec<(&str, String, usize, &str)> = vec![
            (
                "package range with channels",
                format!(
                    "{HEADER}mirror:\n  operators:\n  - catalog: a.io/c:v1\n    packages:\n    - name: p\n      minVersion: 1.0.0\n      channels:\n      - name: stable\n"
                ),
                7,
                "cannot be combined with channels",
            ),
            (
                "full with a package range",
                format!(
                    "{HEADER}mirror:\n  operators:\n  - catalog: a.io/c:v1\n    full: true\n    packages:\n    - name: p\n      maxVersion: 2.0.0\n"
                ),
                8,
                "full: true selects every bundle",
            ),
            (
                "full with a channel range",
                format!(
                    "{HEADER}mirror:\n  operators:\n  - catalog: a.io/c:v1\n    full: true\n    packages:\n    - name: p\n      channels:\n      - name: stable\n        minVersion: 1.0.0\n"
                ),
                8,
                "full: true selects every bundle",
            ),
            (
                "bundles with channels",
                format!(
                    "{HEADER}mirror:\n  operators:\n  - catalog: a.io/c:v1\n    packages:\n    - name: p\n      channels:\n      - name: stable\n      bundles:\n      - name: p.v1.0.0\n"
                ),
                7,
                "bundles and channels cannot be used together",
            ),
            (
                "catalog without tag or digest",
                format!("{HEADER}mirror:\n  operators:\n  - catalog: a.io/c\n"),
                5,
                "needs a tag or a digest",
            ),
            (
                "catalog with another transport",
                format!("{HEADER}mirror:\n  operators:\n  - catalog: dir:///tmp/x\n"),
                5,
                "unknown transport",
            ),
            (
                "catalog that is not a reference",
                format!("{HEADER}mirror:\n  operators:\n  - catalog: \"not a reference\"\n"),
                5,
                "invalid image reference",
            ),
        ];
        assert_first_problems(cases);
    }

    /// Found by fuzzing: a YAML error at the end of input was placed on the line after the last.
    #[test]
    fn yaml_errors_at_the_end_of_input_stay_inside_the_file() {
        let cases: &[(&str, &str, usize)] = &[
            ("plain scalar after a mapping", "n: \ne", 2),
            ("lone CR is a line break", "m: \rs:m", 2),
            ("CRLF", "a: 1\r\nb", 2),
            ("unclosed flow sequence", "a: [1,\n", 2),
        ];
        for (name, text, lines) in cases {
            let problems = parse(text).expect_err(name);
            let p = &problems[0];
            assert!(p.line.is_some_and(|l| (1..=*lines).contains(&l)), "case {name}: {p:?}");
        }
    }
}
