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

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::reference::image::ImageRef;
use crate::reference::{RepoName, Tag};

/// The only `apiVersion` accepted.
pub const API_VERSION: &str = "mirror.openshift.io/v2alpha1";
/// `kind` of a mirroring configuration.
pub const KIND: &str = "ImageSetConfiguration";
/// `kind` of a deletion configuration.
pub const DELETE_KIND: &str = "DeleteImageSetConfiguration";
/// `archiveSize` when the file sets none, in GiB (oc-mirror's default).
pub const DEFAULT_ARCHIVE_SIZE_GIB: f64 = 500.0;

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
    let mut out = String::from("invalid image set configuration:");
    for p in problems {
        match (p.line, p.column) {
            (Some(l), Some(c)) => out.push_str(&format!("\n  {}:{l}:{c}: {}", path.display(), p.message)),
            _ => out.push_str(&format!("\n  {}: {}", path.display(), p.message)),
        }
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
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Content {
    /// OpenShift releases.
    #[serde(default)]
    pub platform: Option<Platform>,
    /// Operator catalogs.
    #[serde(default)]
    pub operators: Vec<Operator>,
    /// Individual images.
    #[serde(default)]
    pub additional_images: Vec<AdditionalImage>,
    /// Helm charts and their images.
    #[serde(default)]
    pub helm: Option<Helm>,
    /// Images never to mirror (regular expressions). Absent from `delete:`.
    #[serde(default)]
    pub blocked_images: Vec<NamedImage>,
    /// Sample images (not implemented by oc-mirror either).
    #[serde(default)]
    pub samples: Vec<NamedImage>,
}

/// `mirror.platform`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Platform {
    /// Whether to build the Cincinnati graph image.
    #[serde(default)]
    pub graph: bool,
    /// Release channels.
    #[serde(default)]
    pub channels: Vec<ReleaseChannel>,
    /// Architectures of the release payload.
    #[serde(default)]
    pub architectures: Vec<String>,
    /// A release on disk (disk-to-mirror).
    #[serde(default)]
    pub release: Option<String>,
    /// Include the KubeVirt container image.
    #[serde(default)]
    pub kube_virt_container: bool,
}

/// One release channel.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ReleaseChannel {
    /// Channel name, e.g. `stable-4.17`.
    pub name: String,
    /// `ocp` (default) or `okd`.
    #[serde(default, rename = "type")]
    pub platform_type: Option<String>,
    /// Lowest version to mirror.
    #[serde(default)]
    pub min_version: Option<String>,
    /// Highest version to mirror.
    #[serde(default)]
    pub max_version: Option<String>,
    /// Only the shortest upgrade path.
    #[serde(default)]
    pub shortest_path: bool,
    /// Every release of the channel.
    #[serde(default)]
    pub full: bool,
}

/// One operator catalog.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Operator {
    /// The catalog image.
    pub catalog: String,
    /// Where the catalog goes on the mirror (path components only).
    #[serde(default)]
    pub target_catalog: Option<String>,
    /// Tag of the mirrored catalog.
    #[serde(default)]
    pub target_tag: Option<String>,
    /// Whole catalog rather than channel heads.
    #[serde(default)]
    pub full: bool,
    /// Leave out dependencies of the selected bundles.
    #[serde(default)]
    pub skip_dependencies: bool,
    /// Template for the generated CatalogSource.
    #[serde(default)]
    pub target_catalog_source_template: Option<String>,
    /// Packages to include.
    #[serde(default)]
    pub packages: Vec<Package>,
}

/// One operator package filter.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Package {
    /// Package name.
    pub name: String,
    /// Default channel override.
    #[serde(default)]
    pub default_channel: Option<String>,
    /// Lowest bundle version.
    #[serde(default)]
    pub min_version: Option<String>,
    /// Highest bundle version.
    #[serde(default)]
    pub max_version: Option<String>,
    /// Channel filters.
    #[serde(default)]
    pub channels: Vec<Channel>,
    /// Explicitly selected bundles.
    #[serde(default)]
    pub bundles: Vec<NamedImage>,
}

/// One channel filter of a package.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Channel {
    /// Channel name.
    pub name: String,
    /// Lowest bundle version in the channel.
    #[serde(default)]
    pub min_version: Option<String>,
    /// Highest bundle version in the channel.
    #[serde(default)]
    pub max_version: Option<String>,
}

/// `mirror.additionalImages[]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AdditionalImage {
    /// Source image: tag, digest, or tag and digest.
    pub name: String,
    /// Repository path on the mirror, replacing the source path.
    #[serde(default)]
    pub target_repo: Option<String>,
    /// Tag on the mirror, replacing the source tag.
    #[serde(default)]
    pub target_tag: Option<String>,
}

/// A list entry that only has a `name`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NamedImage {
    /// The name.
    pub name: String,
}

/// `mirror.helm`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Helm {
    /// Remote chart repositories.
    #[serde(default)]
    pub repositories: Vec<HelmRepository>,
    /// Charts on local disk.
    #[serde(default)]
    pub local: Vec<Chart>,
}

/// One helm repository.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HelmRepository {
    /// Repository name.
    pub name: String,
    /// Repository URL.
    pub url: String,
    /// Charts to take from it.
    #[serde(default)]
    pub charts: Vec<Chart>,
}

/// One helm chart.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Chart {
    /// Chart name.
    pub name: String,
    /// Chart version.
    #[serde(default)]
    pub version: Option<String>,
    /// Path of a local chart.
    #[serde(default)]
    pub path: Option<String>,
    /// JSON paths where images are found in the rendered chart.
    #[serde(default)]
    pub image_paths: Vec<String>,
    /// Values used to render the chart.
    #[serde(default)]
    pub values: Option<serde_yaml::Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct MirrorFile {
    #[allow(dead_code)] // checked before the typed decode; present so that it is a known key
    kind: String,
    #[allow(dead_code)] // checked before the typed decode; present so that it is a known key
    api_version: String,
    #[serde(default)]
    archive_size: Option<f64>,
    mirror: Content,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct DeleteFile {
    #[allow(dead_code)] // checked before the typed decode; present so that it is a known key
    kind: String,
    #[allow(dead_code)] // checked before the typed decode; present so that it is a known key
    api_version: String,
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
            let file: MirrorFile = serde_yaml::from_str(text).map_err(|e| vec![yaml_problem(&e)])?;
            (file.archive_size, file.mirror)
        }
        Kind::Delete => {
            let file: DeleteFile = serde_yaml::from_str(text).map_err(|e| vec![yaml_problem(&e)])?;
            (None, file.delete)
        }
    };
    let locator = Locator::new(text);
    let mut problems = Vec::new();
    validate_operators(&content.operators, &locator, &mut problems);
    validate_channels(content.platform.as_ref(), &locator, &mut problems);
    validate_additional_images(&content.additional_images, &locator, &mut problems);
    let blocked = compile_blocked(&content.blocked_images, &locator, &mut problems);
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

impl ImageSet {
    /// Sections present in the file that this version does not mirror yet (the release, operator
    /// and helm workflows), by their key.
    #[must_use]
    pub fn unsupported_sections(&self) -> Vec<&'static str> {
        let c = &self.content;
        let mut out = Vec::new();
        if c.platform.as_ref().is_some_and(|p| !p.channels.is_empty() || p.graph || p.release.is_some()) {
            out.push("platform");
        }
        if !c.operators.is_empty() {
            out.push("operators");
        }
        if c.helm.as_ref().is_some_and(|h| !h.repositories.is_empty() || !h.local.is_empty()) {
            out.push("helm");
        }
        out
    }
}

/// Checks `kind` and `apiVersion` first, so that the typed decode picks the right shape.
fn check_header(text: &str) -> Result<Kind, Vec<Problem>> {
    let value: serde_yaml::Value = serde_yaml::from_str(text).map_err(|e| vec![yaml_problem(&e)])?;
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

fn yaml_problem(e: &serde_yaml::Error) -> Problem {
    let location = e.location();
    // serde_yaml appends " at line L column C" to its message; the position is shown separately.
    let message = e.to_string();
    let message = match message.rfind(" at line ") {
        Some(i) if location.is_some() => message[..i].to_string(),
        _ => message,
    };
    Problem { line: location.as_ref().map(serde_yaml::Location::line), column: location.map(|l| l.column()), message }
}

fn validate_operators(operators: &[Operator], locator: &Locator, problems: &mut Vec<Problem>) {
    let mut catalogs = std::collections::HashSet::new();
    for op in operators {
        if let Some(target) = &op.target_catalog
            && target.parse::<RepoName>().is_err()
        {
            problems.push(locator.problem(
                "targetCatalog",
                target,
                format!(
                    "targetCatalog: {target} - value is not valid. It should not contain a tag or a digest. It is expected to be composed of 1 or more path components separated by /"
                ),
            ));
        }
        let unique = catalog_unique_name(op);
        if !catalogs.insert(unique.clone()) {
            problems.push(locator.nth_problem(
                "catalog",
                &op.catalog,
                2,
                format!("catalog {unique:?}: duplicate found in configuration"),
            ));
        }
        let mut packages = std::collections::HashSet::new();
        for pkg in &op.packages {
            if !packages.insert(pkg.name.as_str()) {
                problems.push(locator.nth_problem(
                    "name",
                    &pkg.name,
                    2,
                    format!("catalog {:?}: duplicate package entry {:?}", op.catalog, pkg.name),
                ));
            }
            for (key, version) in [("maxVersion", &pkg.max_version), ("minVersion", &pkg.min_version)] {
                if let Some(v) = version
                    && !is_semver(v)
                {
                    problems.push(locator.problem(
                        key,
                        v,
                        format!(
                            "catalog {:?}: operator {:?}: {key} {v:?} must respect semantic versioning notation",
                            op.catalog, pkg.name
                        ),
                    ));
                }
            }
            let package_filter = pkg.min_version.is_some() || pkg.max_version.is_some();
            let mut channels = std::collections::HashSet::new();
            for ch in &pkg.channels {
                if package_filter && (ch.min_version.is_some() || ch.max_version.is_some()) {
                    problems.push(locator.problem(
                        "name",
                        &ch.name,
                        format!(
                            "catalog {:?}: operator {:?}: mixing both filtering by minVersion/maxVersion and filtering by channel minVersion/maxVersion is not allowed",
                            op.catalog, pkg.name
                        ),
                    ));
                }
                if !channels.insert(ch.name.as_str()) {
                    problems.push(locator.nth_problem(
                        "name",
                        &ch.name,
                        2,
                        format!(
                            "catalog {:?}: operator {:?}: duplicate channel entry {:?}",
                            op.catalog, pkg.name, ch.name
                        ),
                    ));
                }
                for (key, version) in [("maxVersion", &ch.max_version), ("minVersion", &ch.min_version)] {
                    if let Some(v) = version
                        && !is_semver(v)
                    {
                        problems.push(locator.problem(
                            key,
                            v,
                            format!(
                                "catalog {:?}: operator {:?}: channel {:?}: {key} {v:?} must respect semantic versioning notation",
                                op.catalog, pkg.name, ch.name
                            ),
                        ));
                    }
                }
            }
        }
    }
}

/// The name oc-mirror uses to tell catalogs apart: the catalog reference with `targetCatalog`
/// and `targetTag` applied.
fn catalog_unique_name(op: &Operator) -> String {
    let mut name = op.catalog.clone();
    if let Some(tag) = &op.target_tag
        && let Some(i) = name.rfind(':').filter(|&i| !name[i..].contains('/'))
    {
        name.replace_range(i + 1.., tag);
    }
    if let Some(target) = &op.target_catalog {
        name = format!("{name} as {target}");
    }
    name
}

fn validate_channels(platform: Option<&Platform>, locator: &Locator, problems: &mut Vec<Problem>) {
    let Some(platform) = platform else { return };
    let mut seen = std::collections::HashSet::new();
    for ch in &platform.channels {
        if !seen.insert(ch.name.as_str()) {
            problems.push(locator.nth_problem(
                "name",
                &ch.name,
                2,
                format!("release channel {:?}: duplicate found in configuration", ch.name),
            ));
        }
        if let Some(t) = &ch.platform_type
            && t != "ocp"
            && t != "okd"
        {
            problems.push(locator.problem("type", t, format!("release channel {:?}: type must be ocp or okd", ch.name)));
        }
        for (key, version) in [("maxVersion", &ch.max_version), ("minVersion", &ch.min_version)] {
            if let Some(v) = version
                && !is_semver(v)
            {
                problems.push(locator.problem(
                    key,
                    v,
                    format!("release channel {:?}: {key} {v:?} must respect semantic versioning notation", ch.name),
                ));
            }
        }
    }
}

fn validate_additional_images(images: &[AdditionalImage], locator: &Locator, problems: &mut Vec<Problem>) {
    for image in images {
        if let Err(e) = image.name.trim_start_matches("docker://").parse::<ImageRef>() {
            problems.push(locator.problem("name", &image.name, format!("additionalImages: {e}")));
        }
        if let Some(repo) = &image.target_repo
            && repo.parse::<RepoName>().is_err()
        {
            problems.push(locator.problem(
                "targetRepo",
                repo,
                format!(
                    "targetRepo: {repo} - value is not valid. It is expected to be composed of 1 or more path components separated by /, without a tag or digest"
                ),
            ));
        }
        if let Some(tag) = &image.target_tag
            && let Err(e) = tag.parse::<Tag>()
        {
            problems.push(locator.problem("targetTag", tag, format!("targetTag: {e}")));
        }
    }
}

fn compile_blocked(blocked: &[NamedImage], locator: &Locator, problems: &mut Vec<Problem>) -> Vec<regex::Regex> {
    let mut out = Vec::with_capacity(blocked.len());
    for b in blocked {
        match regex::Regex::new(&b.name) {
            Ok(re) => out.push(re),
            Err(e) => problems.push(locator.problem(
                "name",
                &b.name,
                format!("blockedImages: invalid regular expression {:?}: {e}", b.name),
            )),
        }
    }
    out
}

/// Lenient semantic versions, as oc-mirror accepts them: an optional `v`, one to three numbers,
/// then optional `-prerelease` and `+build`.
fn is_semver(v: &str) -> bool {
    let v = v.strip_prefix('v').unwrap_or(v);
    let (core, _build) = v.split_once('+').unwrap_or((v, ""));
    let (core, pre) = match core.split_once('-') {
        Some((c, p)) => (c, Some(p)),
        None => (core, None),
    };
    let numbers: Vec<&str> = core.split('.').collect();
    let numbers_ok = (1..=3).contains(&numbers.len())
        && numbers.iter().all(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
    let pre_ok = pre.is_none_or(|p| {
        !p.is_empty() && p.split('.').all(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
    });
    numbers_ok && pre_ok
}

/// Finds where `key: value` pairs sit in the text, so that checks made after decoding can point
/// at the offending value.
struct Locator<'a> {
    text: &'a str,
}

impl<'a> Locator<'a> {
    fn new(text: &'a str) -> Locator<'a> {
        Locator { text }
    }

    /// The `nth` (1-based) line holding `key: value`, with the column of the value.
    fn find(&self, key: &str, value: &str, nth: usize) -> Option<(usize, usize)> {
        let mut seen = 0;
        for (i, line) in self.text.lines().enumerate() {
            let trimmed = line.trim_start().trim_start_matches("- ").trim_start();
            let Some(rest) = trimmed.strip_prefix(key).and_then(|r| r.strip_prefix(':')) else { continue };
            let raw = rest.split(" #").next().unwrap_or_default().trim();
            let unquoted = raw.trim_matches(|c| c == '"' || c == '\'');
            if unquoted == value {
                seen += 1;
                if seen == nth {
                    let column = line.find(raw).map_or(1, |c| c + 1);
                    return Some((i + 1, column));
                }
            }
        }
        None
    }

    /// The raw value of the first `key:` line.
    fn value_of(&self, key: &str) -> Option<String> {
        self.text.lines().find_map(|line| {
            let rest = line.trim_start().strip_prefix(key)?.strip_prefix(':')?;
            Some(rest.split(" #").next().unwrap_or_default().trim().to_string())
        })
    }

    fn problem(&self, key: &str, value: &str, message: String) -> Problem {
        self.nth_problem(key, value, 1, message)
    }

    fn nth_problem(&self, key: &str, value: &str, nth: usize, message: String) -> Problem {
        let position = self.find(key, value, nth).or_else(|| self.find(key, value, 1));
        Problem { line: position.map(|p| p.0), column: position.map(|p| p.1), message }
    }
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
        assert_eq!(set.unsupported_sections(), vec!["platform", "operators", "helm"]);
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
            ("unknown top-level key", format!("{HEADER}mirror: {{}}\nstorageConfig: {{}}\n"), 4, "unknown field `storageConfig`"),
            ("unknown nested key", format!("{HEADER}mirror:\n  additionalImages:\n  - name: a.io/b:c\n    tag: x\n"), 6, "unknown field `tag`"),
            ("wrong type", format!("{HEADER}archiveSize: big\nmirror: {{}}\n"), 3, "invalid type"),
            ("zero archive size", format!("{HEADER}archiveSize: 0\nmirror: {{}}\n"), 3, "positive number of GiB"),
            ("wrong kind", "kind: Foo\napiVersion: mirror.openshift.io/v2alpha1\nmirror: {}\n".to_string(), 1, "kind must be"),
            ("v1 api version", "kind: ImageSetConfiguration\napiVersion: mirror.openshift.io/v1alpha2\nmirror: {}\n".to_string(), 2, "apiVersion must be"),
            (
                "duplicate catalog",
                format!("{HEADER}mirror:\n  operators:\n  - catalog: a.io/c:v1\n  - catalog: a.io/c:v1\n"),
                6,
                "duplicate found in configuration",
            ),
            (
                "duplicate package",
                format!("{HEADER}mirror:\n  operators:\n  - catalog: a.io/c:v1\n    packages:\n    - name: p\n    - name: p\n"),
                8,
                "duplicate package entry",
            ),
            (
                "non-semver maxVersion",
                format!("{HEADER}mirror:\n  operators:\n  - catalog: a.io/c:v1\n    packages:\n    - name: p\n      maxVersion: one\n"),
                8,
                "must respect semantic versioning",
            ),
            (
                "mixed version filters",
                format!("{HEADER}mirror:\n  operators:\n  - catalog: a.io/c:v1\n    packages:\n    - name: p\n      minVersion: 1.0.0\n      channels:\n      - name: stable\n        minVersion: 1.1.0\n"),
                10,
                "mixing both filtering",
            ),
            (
                "duplicate release channel",
                format!("{HEADER}mirror:\n  platform:\n    channels:\n    - name: stable-4.17\n    - name: stable-4.17\n"),
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
        for (name, text, line, message) in cases {
            let problems = match parse(&text) {
                Err(p) => p,
                Ok(_) => panic!("case {name}: accepted"),
            };
            let p = problems.first().unwrap_or_else(|| panic!("case {name}: no problem"));
            assert!(p.message.contains(message), "case {name}: message {:?}", p.message);
            assert_eq!(p.line, Some(line), "case {name}: {p:?}");
        }
    }

    #[test]
    fn semantic_versions() {
        let cases: &[(&str, bool)] = &[
            ("1.2.3", true),
            ("v4.16", true),
            ("4", true),
            ("1.0.0-rc.1+build.5", true),
            ("one", false),
            ("1.2.3.4", false),
            ("1..2", false),
            ("", false),
        ];
        for (input, ok) in cases {
            assert_eq!(is_semver(input), *ok, "case {input:?}");
        }
    }
}
