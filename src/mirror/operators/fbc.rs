//! File-based catalogs (FBC): the `configs` directory of an operator catalog image, read into
//! the model selection needs. Pure: reads files from a directory, never the network.
//!
//! Every `*.json`, `*.yaml` and `*.yml` file below the directory is read, in path order (names
//! starting with `.` skipped); a JSON file may hold several concatenated documents, a YAML file
//! several `---` documents. Schemas read: `olm.package`, `olm.channel`, `olm.bundle` (others are
//! kept for the rebuilt catalog but not modelled). Documents are streamed; bundle blobs such as
//! `olm.bundle.object` are not kept. `document` decodes one document.
//!
//! A catalog is consistent when every channel and bundle belongs to a package that has an
//! `olm.package` document; package names, and channel and bundle names within a package, are
//! unique; each package's `defaultChannel` is one of its channels; and every channel entry
//! names a bundle of its package. A bundle's version is its `olm.package` property, strict
//! semver.

use std::collections::{BTreeMap, BTreeSet};
use std::io::BufReader;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

use crate::mirror::version::{Range, Version};
use document::Document;

mod document;

/// Why a catalog could not be read.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A document is malformed: names the file and the document (1-based).
    #[error("{path}: document {document}: {message}")]
    Document {
        /// The file.
        path: PathBuf,
        /// 1-based position of the document in the file.
        document: usize,
        /// What is wrong.
        message: String,
    },
    /// The documents do not form a consistent catalog (a channel of an unknown package, two
    /// bundles of one name, ...).
    #[error("catalog: {0}")]
    Inconsistent(String),
}

/// A whole catalog: packages by name.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    /// Packages by name.
    pub packages: BTreeMap<String, Package>,
}

/// One operator package.
#[derive(Debug, Clone, Default)]
pub struct Package {
    /// Package name.
    pub name: String,
    /// `defaultChannel`.
    pub default_channel: String,
    /// Channels by name.
    pub channels: BTreeMap<String, Channel>,
    /// Bundles by name.
    pub bundles: BTreeMap<String, Bundle>,
}

/// One channel of a package: its upgrade graph entries.
#[derive(Debug, Clone, Default)]
pub struct Channel {
    /// Channel name.
    pub name: String,
    /// Entries in document order.
    pub entries: Vec<Entry>,
}

/// One entry of a channel.
#[derive(Debug, Clone, Default)]
pub struct Entry {
    /// Bundle name.
    pub name: String,
    /// The bundle this one replaces.
    pub replaces: Option<String>,
    /// Bundles this one skips.
    pub skips: Vec<String>,
    /// `skipRange`, as written.
    pub skip_range: Option<String>,
}

/// A `group/version/kind` an operator provides or requires.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Gvk {
    /// API group.
    pub group: String,
    /// API version.
    pub version: String,
    /// Kind.
    pub kind: String,
}

/// One image a bundle's operator uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelatedImage {
    /// `name`, may be empty.
    pub name: String,
    /// The image reference, as written.
    pub image: String,
}

/// One bundle.
#[derive(Debug, Clone)]
pub struct Bundle {
    /// Bundle name (`pkg.v1.2.3` by convention).
    pub name: String,
    /// Its package.
    pub package: String,
    /// The bundle image reference, as written.
    pub image: String,
    /// From the `olm.package` property.
    pub version: Version,
    /// `relatedImages` (the bundle image itself may be among them).
    pub related_images: Vec<RelatedImage>,
    /// `olm.package.required`: package name and version range.
    pub required_packages: Vec<(String, Range)>,
    /// `olm.gvk.required`.
    pub required_gvks: Vec<Gvk>,
    /// `olm.gvk`: what it provides.
    pub provided_gvks: Vec<Gvk>,
    /// `displayName` from `olm.csv.metadata`, when present.
    pub display_name: Option<String>,
}

impl Channel {
    /// The channel head: the entry no other entry replaces or skips. When the graph has
    /// several such entries, the one with the highest version among them.
    ///
    /// `skipRange` does not count: it names versions, not entries, and OLM still treats a
    /// bundle in another entry's skip range as a node of the graph. When every entry is
    /// replaced or skipped (a cycle), the entry with the highest version is the head. `None`
    /// only for a channel without entries. Entries whose bundle is missing from `bundles`
    /// rank below every other; among equal versions the first entry wins.
    #[must_use]
    pub fn head<'a>(&'a self, bundles: &BTreeMap<String, Bundle>) -> Option<&'a Entry> {
        let referenced: BTreeSet<&str> =
            self.entries.iter().flat_map(|e| e.replaces.iter().chain(&e.skips)).map(String::as_str).collect();
        let version = |e: &Entry| bundles.get(&e.name).map(|b| &b.version);
        let highest = |candidates: &mut dyn Iterator<Item = &'a Entry>| {
            // `Option<&Version>` orders `None` first, so a missing bundle never wins.
            candidates.fold(None::<&'a Entry>, |best, e| match best {
                Some(b) if version(b) >= version(e) => Some(b),
                _ => Some(e),
            })
        };
        highest(&mut self.entries.iter().filter(|e| !referenced.contains(e.name.as_str())))
            .or_else(|| highest(&mut self.entries.iter()))
    }
}

/// Reads the catalog under `dir` (the extracted `configs` directory).
///
/// # Errors
/// [`Error::Io`], [`Error::Document`] naming the file and document, [`Error::Inconsistent`].
pub fn read_dir(dir: &Path) -> Result<Catalog, Error> {
    let mut packages: BTreeMap<String, (Package, PathBuf)> = BTreeMap::new();
    let mut channels: Vec<(String, Channel, PathBuf)> = Vec::new();
    let mut bundles: Vec<(Bundle, PathBuf)> = Vec::new();
    for path in catalog_files(dir).map_err(|(path, source)| Error::Io { path, source })? {
        let read = stream_documents(&path, |_, document: Document| {
            match document {
                Document::Package { name, default_channel } => {
                    if let Some((_, first)) = packages.get(&name) {
                        return Err(Error::Inconsistent(format!(
                            "package {name:?} is declared twice (olm.package in {} and {})",
                            first.display(),
                            path.display()
                        )));
                    }
                    let package = Package { name: name.clone(), default_channel, ..Package::default() };
                    packages.insert(name, (package, path.clone()));
                }
                Document::Channel { package, channel } => channels.push((package, channel, path.clone())),
                Document::Bundle(bundle) => bundles.push((*bundle, path.clone())),
                Document::Other | Document::Empty => {}
            }
            Ok(())
        });
        read.map_err(|e| e.into_error(&path, |e| e))?;
    }
    let mut packages: BTreeMap<String, Package> = packages.into_iter().map(|(k, (p, _))| (k, p)).collect();
    for (package, channel, path) in channels {
        let Some(owner) = packages.get_mut(&package) else {
            return Err(Error::Inconsistent(format!(
                "channel {:?} of package {package:?} ({}): the catalog has no olm.package document for {package:?}",
                channel.name,
                path.display()
            )));
        };
        if owner.channels.contains_key(&channel.name) {
            return Err(Error::Inconsistent(format!(
                "package {package:?}: channel {:?} is declared twice (again in {})",
                channel.name,
                path.display()
            )));
        }
        owner.channels.insert(channel.name.clone(), channel);
    }
    for (bundle, path) in bundles {
        let Some(owner) = packages.get_mut(&bundle.package) else {
            return Err(Error::Inconsistent(format!(
                "bundle {:?} of package {:?} ({}): the catalog has no olm.package document for {:?}",
                bundle.name,
                bundle.package,
                path.display(),
                bundle.package
            )));
        };
        if owner.bundles.contains_key(&bundle.name) {
            return Err(Error::Inconsistent(format!(
                "package {:?}: bundle {:?} is declared twice (again in {})",
                bundle.package,
                bundle.name,
                path.display()
            )));
        }
        owner.bundles.insert(bundle.name.clone(), bundle);
    }
    for package in packages.values() {
        check_package(package)?;
    }
    Ok(Catalog { packages })
}

/// The checks that need a whole package: its default channel exists, and every channel entry
/// names one of its bundles.
fn check_package(package: &Package) -> Result<(), Error> {
    if !package.channels.contains_key(&package.default_channel) {
        let channels: Vec<&str> = package.channels.keys().map(String::as_str).collect();
        return Err(Error::Inconsistent(if package.default_channel.is_empty() {
            format!("package {:?} has no defaultChannel (channels: {})", package.name, channels.join(", "))
        } else {
            format!(
                "package {:?}: defaultChannel {:?} is not one of its channels ({})",
                package.name,
                package.default_channel,
                channels.join(", ")
            )
        }));
    }
    for channel in package.channels.values() {
        if let Some(entry) = channel.entries.iter().find(|e| !package.bundles.contains_key(&e.name)) {
            return Err(Error::Inconsistent(format!(
                "package {:?}: channel {:?}: entry {:?} names a bundle the package does not have",
                package.name, channel.name, entry.name
            )));
        }
    }
    Ok(())
}

/// The catalog's files below `dir`: every `*.json`, `*.yaml` and `*.yml`, in path order.
/// Names starting with `.` are skipped, files and directories alike (editor and VCS
/// leftovers), and so are symbolic links, which an extracted image layer never holds.
///
/// # Errors
/// The directory that could not be listed, and why.
pub(super) fn catalog_files(dir: &Path) -> Result<Vec<PathBuf>, (PathBuf, std::io::Error)> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(current) = pending.pop() {
        let entries = std::fs::read_dir(&current).map_err(|e| (current.clone(), e))?;
        for entry in entries {
            let entry = entry.map_err(|e| (current.clone(), e))?;
            if entry.file_name().to_string_lossy().starts_with('.') {
                continue;
            }
            let path = entry.path();
            let kind = entry.file_type().map_err(|e| (path.clone(), e))?;
            if kind.is_dir() {
                pending.push(path);
            } else if kind.is_file() && format_of(&path).is_some() {
                files.push(path);
            }
        }
    }
    files.sort();
    Ok(files)
}

/// How a catalog file is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Json,
    Yaml,
}

fn format_of(path: &Path) -> Option<Format> {
    match path.extension()?.to_str()? {
        "json" => Some(Format::Json),
        "yaml" | "yml" => Some(Format::Yaml),
        _ => None,
    }
}

/// Why [`stream_documents`] stopped.
#[derive(Debug)]
pub(super) enum StreamError<E> {
    /// The file could not be read.
    Io(std::io::Error),
    /// Document `document` (1-based) is not JSON or YAML, or not what `T` reads.
    Document { document: usize, message: String },
    /// The callback refused a document.
    Stopped(E),
}

impl<E> StreamError<E> {
    /// The [`Error`] this is for the catalog file `path`; `stopped` converts the callback's
    /// own error.
    pub(super) fn into_error(self, path: &Path, stopped: impl FnOnce(E) -> Error) -> Error {
        match self {
            StreamError::Io(source) => Error::Io { path: path.to_path_buf(), source },
            StreamError::Document { document, message } => {
                Error::Document { path: path.to_path_buf(), document, message }
            }
            StreamError::Stopped(e) => stopped(e),
        }
    }
}

/// Reads the documents of one catalog file one at a time, each as a `T`, and hands each to
/// `each` with its 1-based position: concatenated JSON values for `*.json`, `---` documents
/// for YAML. Only one document is in memory at a time for JSON; serde_yaml reads a YAML file
/// whole before parsing it.
///
/// # Errors
/// [`StreamError`]; the first failure stops the stream.
pub(super) fn stream_documents<T, E>(
    path: &Path,
    mut each: impl FnMut(usize, T) -> Result<(), E>,
) -> Result<(), StreamError<E>>
where
    T: DeserializeOwned,
{
    let file = std::fs::File::open(path).map_err(StreamError::Io)?;
    let reader = BufReader::new(file);
    let mut document = 0;
    if format_of(path) == Some(Format::Json) {
        for value in serde_json::Deserializer::from_reader(reader).into_iter::<T>() {
            document += 1;
            let value = value.map_err(|e| {
                if e.is_io() {
                    StreamError::Io(e.into())
                } else {
                    StreamError::Document { document, message: e.to_string() }
                }
            })?;
            each(document, value).map_err(StreamError::Stopped)?;
        }
    } else {
        for deserializer in serde_yaml::Deserializer::from_reader(reader) {
            document += 1;
            let value =
                T::deserialize(deserializer).map_err(|e| StreamError::Document { document, message: e.to_string() })?;
            each(document, value).map_err(StreamError::Stopped)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) {
        let path = dir.join(name);
        std::fs::create_dir_all(path.parent().expect("test paths have a parent")).expect("create test dir");
        std::fs::write(&path, text).expect("write test file");
    }

    fn bundle_json(package: &str, version: &str, extra: &str) -> String {
        format!(
            r#"{{"schema":"olm.bundle","name":"{package}.v{version}","package":"{package}","image":"quay.io/x/{package}@sha256:{version}",
"properties":[{{"type":"olm.package","value":{{"packageName":"{package}","version":"{version}"}}}}{extra}]}}"#
        )
    }

    #[test]
    fn reads_concatenated_json_and_multi_document_yaml() {
        let dir = tempfile::tempdir().expect("tempdir");
        // Concatenated JSON documents, the way `opm render` writes them, with an unknown
        // schema, a skipped blob property, and a property whose value comes before its type.
        let json = [
            r#"{"schema":"olm.package","name":"alpha","defaultChannel":"stable","icon":{"base64data":"AAAA","mediatype":"image/png"}}"#.to_owned(),
            r#"{"schema":"olm.channel","name":"stable","package":"alpha","entries":[{"name":"alpha.v1.0.0"},{"name":"alpha.v1.1.0","replaces":"alpha.v1.0.0","skipRange":">=0.9.0 <1.1.0"}]}"#.to_owned(),
            bundle_json("alpha", "1.0.0", r#",{"type":"olm.bundle.object","value":{"data":"eyJraW5kIjoiQ1NWIn0="}}"#),
            bundle_json(
                "alpha",
                "1.1.0",
                r#",{"value":{"group":"a.io","version":"v1","kind":"A"},"type":"olm.gvk"},
                   {"type":"olm.gvk.required","value":{"group":"b.io","version":"v1","kind":"B"}},
                   {"type":"olm.package.required","value":{"packageName":"beta","versionRange":">=2.0.0"}},
                   {"type":"olm.csv.metadata","value":{"displayName":"Alpha","keywords":["x"]}}"#,
            ),
            r#"{"schema":"olm.deprecations","package":"alpha","entries":[{"reference":{"schema":"olm.bundle","name":"alpha.v1.0.0"},"message":"old"}]}"#.to_owned(),
        ]
        .join("\n");
        write(dir.path(), "alpha/catalog.json", &json);
        // YAML: several `---` documents, `schema` after the other keys, an empty document.
        let yaml = r"---
name: beta
defaultChannel: fast
schema: olm.package
---
---
schema: olm.channel
package: beta
name: fast
entries:
  - name: beta.v2.0.0
---
schema: olm.bundle
name: beta.v2.0.0
package: beta
image: quay.io/x/beta@sha256:2
relatedImages:
  - image: quay.io/x/beta-operand@sha256:9
  - name: op
    image: quay.io/x/beta-op@sha256:8
properties:
  - type: olm.package
    value: {packageName: beta, version: 2.0.0}
  - type: olm.gvk
    value: {group: b.io, version: v1, kind: B}
";
        write(dir.path(), "nested/deeper/beta.yaml", yaml);
        write(dir.path(), ".hidden/broken.json", "not json");
        write(dir.path(), "alpha/.catalog.json.swp", "not json");
        write(dir.path(), "README.md", "not a catalog file");

        let catalog = read_dir(dir.path()).expect("catalog reads");

        let names: Vec<&str> = catalog.packages.keys().map(String::as_str).collect();
        assert_eq!(names, ["alpha", "beta"], "packages from both files, hidden ones skipped");
        let alpha = &catalog.packages["alpha"];
        assert_eq!(alpha.default_channel, "stable", "alpha default channel");
        let entries = &alpha.channels["stable"].entries;
        assert_eq!(entries.len(), 2, "alpha/stable entries");
        assert_eq!(entries[1].replaces.as_deref(), Some("alpha.v1.0.0"), "replaces");
        assert_eq!(entries[1].skip_range.as_deref(), Some(">=0.9.0 <1.1.0"), "skipRange");
        let v11 = &alpha.bundles["alpha.v1.1.0"];
        assert_eq!(v11.version, "1.1.0".parse().expect("version"), "bundle version");
        assert_eq!(
            v11.provided_gvks,
            [Gvk { group: "a.io".into(), version: "v1".into(), kind: "A".into() }],
            "provided GVK read although its value came before its type"
        );
        assert_eq!(v11.required_gvks[0].group, "b.io", "required GVK");
        assert_eq!(v11.required_packages.len(), 1, "required package");
        assert_eq!(v11.required_packages[0].0, "beta", "required package name");
        assert_eq!(v11.display_name.as_deref(), Some("Alpha"), "displayName");
        let beta = &catalog.packages["beta"];
        assert_eq!(beta.default_channel, "fast", "schema after the other keys");
        let b2 = &beta.bundles["beta.v2.0.0"];
        assert_eq!(
            b2.related_images,
            [
                RelatedImage { name: String::new(), image: "quay.io/x/beta-operand@sha256:9".into() },
                RelatedImage { name: "op".into(), image: "quay.io/x/beta-op@sha256:8".into() },
            ],
            "related images, name optional"
        );
    }

    #[test]
    fn broken_documents_name_file_and_document() {
        let package = r#"{"schema":"olm.package","name":"p","defaultChannel":"c"}"#;
        let cases: &[(&str, &str, String, usize, &str)] = &[
            ("not JSON", "p.json", format!("{package}\n{{\"schema\": oops}}"), 2, "line 2 column"),
            ("not an object", "p.json", format!("{package}\n[1, 2]"), 2, "expected an FBC document"),
            ("missing schema", "p.json", format!("{package}\n{{\"name\":\"x\"}}"), 2, "missing field `schema`"),
            (
                "channel without package",
                "p.json",
                format!("{package}\n{{\"schema\":\"olm.channel\",\"name\":\"c\"}}"),
                2,
                "missing field `package`",
            ),
            ("package without name", "p.json", r#"{"schema":"olm.package"}"#.to_owned(), 1, "missing field `name`"),
            (
                "wrong type",
                "p.json",
                format!(
                    "{package}\n{{\"schema\":\"olm.channel\",\"name\":\"c\",\"package\":\"p\",\"entries\":\"no\"}}"
                ),
                2,
                "invalid type: string",
            ),
            (
                "bundle without version",
                "p.json",
                format!(
                    "{package}\n{}",
                    r#"{"schema":"olm.bundle","name":"b","package":"p","properties":[{"type":"olm.gvk","value":{"group":"g","version":"v1","kind":"K"}}]}"#
                ),
                2,
                "bundle \"b\" has no olm.package property",
            ),
            (
                "bundle with a version that is not semver",
                "p.json",
                format!(
                    "{package}\n{}",
                    r#"{"schema":"olm.bundle","name":"b","package":"p","properties":[{"type":"olm.package","value":{"packageName":"p","version":"v1.0"}}]}"#
                ),
                2,
                "\"v1.0\" is not a semantic version",
            ),
            (
                "bundle of another package",
                "p.json",
                format!(
                    "{package}\n{}",
                    r#"{"schema":"olm.bundle","name":"b","package":"p","properties":[{"type":"olm.package","value":{"packageName":"q","version":"1.0.0"}}]}"#
                ),
                2,
                "names package \"q\"",
            ),
            (
                "YAML syntax error in the third document",
                "p.yaml",
                "schema: olm.package\nname: p\n---\n---\nname: 'unterminated\n".to_owned(),
                3,
                "line 5",
            ),
            ("YAML type error", "p.yaml", "schema: [olm.package]\n".to_owned(), 1, "schema: invalid type: sequence"),
            (
                "YAML missing schema",
                "p.yml",
                "schema: olm.package\nname: p\n---\nname: q\n".to_owned(),
                2,
                "missing field `schema`",
            ),
        ];
        for (name, file, text, document, message) in cases {
            let dir = tempfile::tempdir().expect("tempdir");
            write(dir.path(), file, text);
            match read_dir(dir.path()) {
                Err(Error::Document { path, document: got, message: got_message }) => {
                    assert_eq!(path, dir.path().join(file), "case {name}: file named");
                    assert_eq!(got, *document, "case {name}: document number ({got_message})");
                    assert!(got_message.contains(message), "case {name}: message {got_message:?} says {message:?}");
                }
                other => panic!("case {name}: expected a document error, got {other:?}"),
            }
        }
    }

    /// Regression: one unreadable `versionRange` in a published catalog made the whole catalog
    /// unreadable; the requirement is now left out instead.
    #[test]
    fn a_bad_version_range_drops_only_that_requirement() {
        let dir = tempfile::tempdir().expect("tempdir");
        write(
            dir.path(),
            "p.json",
            concat!(
                r#"{"schema":"olm.package","name":"p","defaultChannel":"c"}"#,
                r#"{"schema":"olm.channel","name":"c","package":"p","entries":[{"name":"b"}]}"#,
                r#"{"schema":"olm.bundle","name":"b","package":"p","image":"r.io/b@sha256:1","properties":[{"type":"olm.package","value":{"packageName":"p","version":"1.0.0"}},{"type":"olm.package.required","value":{"packageName":"q","versionRange":"~1"}},{"type":"olm.package.required","value":{"packageName":"r","versionRange":">=1.0.0"}}]}"#
            ),
        );
        let catalog = read_dir(dir.path()).expect("the catalog reads");
        let required: Vec<&str> =
            catalog.packages["p"].bundles["b"].required_packages.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(required, vec!["r"]);
    }

    #[test]
    fn inconsistent_catalogs() {
        let package = |name: &str, default: &str| {
            format!(r#"{{"schema":"olm.package","name":"{name}","defaultChannel":"{default}"}}"#)
        };
        let channel = |package: &str, name: &str, entries: &[&str]| {
            let entries: Vec<String> = entries.iter().map(|e| format!(r#"{{"name":"{e}"}}"#)).collect();
            format!(
                r#"{{"schema":"olm.channel","name":"{name}","package":"{package}","entries":[{}]}}"#,
                entries.join(",")
            )
        };
        let cases: &[(&str, Vec<String>, &str)] = &[
            ("channel of an unknown package", vec![channel("ghost", "c", &[])], "channel \"c\" of package \"ghost\""),
            ("bundle of an unknown package", vec![bundle_json("ghost", "1.0.0", "")], "bundle \"ghost.v1.0.0\""),
            ("package twice", vec![package("p", "c"), package("p", "c")], "package \"p\" is declared twice"),
            (
                "channel twice",
                vec![package("p", "c"), channel("p", "c", &[]), channel("p", "c", &[])],
                "channel \"c\" is declared twice",
            ),
            (
                "bundle twice",
                vec![
                    package("p", "c"),
                    channel("p", "c", &[]),
                    bundle_json("p", "1.0.0", ""),
                    bundle_json("p", "1.0.0", ""),
                ],
                "bundle \"p.v1.0.0\" is declared twice",
            ),
            (
                "default channel missing",
                vec![package("p", "stable"), channel("p", "fast", &[])],
                "defaultChannel \"stable\" is not one of its channels (fast)",
            ),
            (
                "no default channel",
                vec![package("p", ""), channel("p", "fast", &[])],
                "package \"p\" has no defaultChannel",
            ),
            (
                "entry without bundle",
                vec![package("p", "c"), channel("p", "c", &["p.v9.0.0"])],
                "channel \"c\": entry \"p.v9.0.0\" names a bundle the package does not have",
            ),
        ];
        for (name, documents, message) in cases {
            let dir = tempfile::tempdir().expect("tempdir");
            write(dir.path(), "catalog.json", &documents.join("\n"));
            match read_dir(dir.path()) {
                Err(Error::Inconsistent(got)) => {
                    assert!(got.contains(message), "case {name}: message {got:?} says {message:?}");
                }
                other => panic!("case {name}: expected an inconsistency, got {other:?}"),
            }
        }
    }

    #[test]
    fn channel_heads() {
        let entry = |name: &str, replaces: Option<&str>, skips: &[&str], skip_range: Option<&str>| Entry {
            name: name.to_owned(),
            replaces: replaces.map(str::to_owned),
            skips: skips.iter().map(|s| (*s).to_owned()).collect(),
            skip_range: skip_range.map(str::to_owned),
        };
        let bundles: BTreeMap<String, Bundle> = ["1.0.0", "1.1.0", "1.9.0", "1.10.0", "2.0.0-rc.1"]
            .iter()
            .map(|v| {
                let bundle = Bundle {
                    name: format!("b{v}"),
                    package: "p".into(),
                    image: String::new(),
                    version: v.parse().expect("version"),
                    related_images: Vec::new(),
                    required_packages: Vec::new(),
                    required_gvks: Vec::new(),
                    provided_gvks: Vec::new(),
                    display_name: None,
                };
                (bundle.name.clone(), bundle)
            })
            .collect();
        let cases: &[(&str, Vec<Entry>, Option<&str>)] = &[
            ("empty channel", vec![], None),
            ("single", vec![entry("b1.0.0", None, &[], None)], Some("b1.0.0")),
            (
                "replaces chain",
                vec![entry("b1.1.0", Some("b1.0.0"), &[], None), entry("b1.0.0", None, &[], None)],
                Some("b1.1.0"),
            ),
            (
                "skips count",
                vec![entry("b1.0.0", None, &["b1.1.0"], None), entry("b1.1.0", None, &[], None)],
                Some("b1.0.0"),
            ),
            (
                "skipRange does not count",
                vec![entry("b1.9.0", None, &[], Some("<1.10.0")), entry("b1.10.0", None, &[], None)],
                Some("b1.10.0"),
            ),
            (
                "two tails: highest version by semver, not by name",
                vec![entry("b1.9.0", None, &[], None), entry("b1.10.0", None, &[], None)],
                Some("b1.10.0"),
            ),
            (
                "pre-release above older releases",
                vec![entry("b2.0.0-rc.1", Some("b1.10.0"), &[], None), entry("b1.10.0", None, &[], None)],
                Some("b2.0.0-rc.1"),
            ),
            (
                "cycle: highest version",
                vec![entry("b1.0.0", Some("b1.1.0"), &[], None), entry("b1.1.0", Some("b1.0.0"), &[], None)],
                Some("b1.1.0"),
            ),
        ];
        for (name, entries, expected) in cases {
            let channel = Channel { name: "c".into(), entries: entries.clone() };
            assert_eq!(channel.head(&bundles).map(|e| e.name.as_str()), *expected, "case {name}");
        }
    }
}
