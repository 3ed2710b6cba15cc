//! A Helm chart read into memory: from a `.tgz` (gzip tar whose top directory is the chart
//! name) or from a chart directory, with its subcharts under `charts/` (directories or `.tgz`
//! files, recursively), and [`pack_dir`], which writes a directory chart as `helm package`
//! would.
//!
//! Nothing is extracted to disk: an archive's entries become an in-memory map from path
//! (relative to the chart directory) to bytes, so an entry named `../x` can never reach the
//! file system. A chart is refused when its uncompressed size, subcharts included, passes
//! [`MAX_CHART_BYTES`].
//!
//! Layout read (Helm's):
//!
//! ```text
//! Chart.yaml            name, version, appVersion, type, dependencies
//! requirements.yaml     dependencies of an apiVersion v1 chart
//! values.yaml           default values
//! templates/**          rendered, except files starting with `_` and NOTES.txt
//! crds/*.yaml|yml       taken as they are, never templated
//! charts/<dir>/, charts/*.tgz   subcharts
//! anything else         `.Files`
//! ```

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Component, Path, PathBuf};

/// The largest uncompressed chart accepted, subcharts included.
pub const MAX_CHART_BYTES: u64 = 64 * 1024 * 1024;

/// Why a chart could not be loaded or packed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file or directory could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The path at fault.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The archive is not a readable gzip tar.
    #[error("{origin}: not a readable chart archive: {message}")]
    Archive {
        /// The archive (or subchart path) read.
        origin: String,
        /// Why.
        message: String,
    },
    /// Uncompressed, the chart is larger than allowed.
    #[error("{origin}: chart is larger than {limit} bytes uncompressed")]
    TooLarge {
        /// The archive or directory read.
        origin: String,
        /// The limit it passed.
        limit: u64,
    },
    /// There is no `Chart.yaml` at the top of the chart.
    #[error("{origin}: no Chart.yaml in the chart's top directory")]
    NoChartYaml {
        /// The archive or directory read.
        origin: String,
    },
    /// `Chart.yaml`, `requirements.yaml` or `values.yaml` does not parse.
    #[error("{origin}: {file}: {message}")]
    Yaml {
        /// The chart read.
        origin: String,
        /// The file at fault.
        file: String,
        /// Why.
        message: String,
    },
}

/// What `Chart.yaml` says about a chart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metadata {
    /// `name`.
    pub name: String,
    /// `version`.
    pub version: String,
    /// `appVersion`, the version of the application packaged (often the default image tag).
    pub app_version: Option<String>,
    /// Whether `type: library`: such a chart renders nothing but lends its `define`s.
    pub library: bool,
}

/// One entry of `dependencies` in `Chart.yaml`.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(default)]
pub struct Dependency {
    /// The subchart's name, as in its own `Chart.yaml`.
    pub name: String,
    /// The name the parent knows it by (its values key), when not `name`.
    pub alias: Option<String>,
    /// Comma-separated value paths in the parent's values; the first one that is a bool
    /// enables or disables the subchart.
    pub condition: Option<String>,
    /// A version or range of the subchart.
    pub version: String,
    /// Where the subchart comes from.
    pub repository: String,
}

/// A file of the chart, by its path relative to the chart directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceFile {
    /// `templates/deployment.yaml`, `crds/crd.yaml`.
    pub path: String,
    /// The file's text.
    pub text: String,
}

/// A chart read into memory.
#[derive(Debug, Clone)]
pub struct Chart {
    /// From `Chart.yaml`.
    pub metadata: Metadata,
    /// `Chart.yaml` whole, which `.Chart` is built from.
    pub chart_yaml: serde_yaml::Value,
    /// `dependencies` (or those of `requirements.yaml`).
    pub dependencies: Vec<Dependency>,
    /// `values.yaml`, a mapping (empty when there is none).
    pub values: serde_yaml::Value,
    /// Everything under `templates/`, sorted by path.
    pub templates: Vec<SourceFile>,
    /// `crds/*.yaml` and `crds/*.yml`, sorted by path.
    pub crds: Vec<SourceFile>,
    /// The other files, which `.Files.Get` reads.
    pub files: BTreeMap<String, Vec<u8>>,
    /// The charts under `charts/`, in path order.
    pub subcharts: Vec<Chart>,
}

/// Loads a chart from a `.tgz` file or a chart directory.
///
/// # Errors
/// The path can't be read, the archive is not a gzip tar, the chart passes
/// [`MAX_CHART_BYTES`], has no `Chart.yaml`, or one of its YAML files does not parse.
pub fn load(path: &Path) -> Result<Chart, Error> {
    load_with_limit(path, MAX_CHART_BYTES)
}

fn load_with_limit(path: &Path, limit: u64) -> Result<Chart, Error> {
    let io = |source| Error::Io { path: path.to_path_buf(), source };
    let origin = path.display().to_string();
    let mut budget = Budget { remaining: limit, limit };
    if std::fs::metadata(path).map_err(io)?.is_dir() {
        let files = read_dir_files(path, &mut budget)?;
        from_files(files, &origin, &mut budget)
    } else {
        let file = std::fs::File::open(path).map_err(io)?;
        let files = read_archive(file, &origin, &mut budget)?;
        from_files(files, &origin, &mut budget)
    }
}

/// Writes the chart directory `dir` to `out` as a `.tgz` whose top directory is the chart's
/// name, as `helm package` does, replacing `out` whole (written aside, then renamed).
///
/// # Errors
/// The directory is not a chart ([`load`]'s errors), or `out` can't be written.
pub fn pack_dir(dir: &Path, out: &Path) -> Result<(), Error> {
    let origin = dir.display().to_string();
    let mut budget = Budget { remaining: MAX_CHART_BYTES, limit: MAX_CHART_BYTES };
    let files = read_dir_files(dir, &mut budget)?;
    // The name comes from Chart.yaml; the whole chart is checked once the archive is built.
    let name = match files.get("Chart.yaml") {
        Some(bytes) => read_metadata(&serde_yaml::from_slice(bytes).unwrap_or_default()).name,
        None => String::new(),
    };
    let io = |source| Error::Io { path: out.to_path_buf(), source };
    let gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut builder = tar::Builder::new(gzip);
    for (path, bytes) in &files {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_entry_type(tar::EntryType::Regular);
        builder.append_data(&mut header, format!("{name}/{path}"), bytes.as_slice()).map_err(io)?;
    }
    let bytes = builder.into_inner().and_then(flate2::write::GzEncoder::finish).map_err(io)?;
    from_files(files, &origin, &mut budget)?;
    crate::mirror::files::write_atomically(out, &bytes).map_err(|(path, source)| Error::Io { path, source })
}

/// What is left of the uncompressed size a chart may have.
struct Budget {
    remaining: u64,
    limit: u64,
}

impl Budget {
    fn spend(&mut self, bytes: u64, origin: &str) -> Result<(), Error> {
        self.remaining = self
            .remaining
            .checked_sub(bytes)
            .ok_or(Error::TooLarge { origin: origin.to_owned(), limit: self.limit })?;
        Ok(())
    }
}

/// The marker a [`CappedReader`] fails with, told apart from other read errors by downcasting.
#[derive(Debug, thiserror::Error)]
#[error("over the size limit")]
struct OverLimit;

/// Counts the decompressed tar stream against the budget as it is read, so a gzip bomb
/// stops at the limit instead of after inflating.
struct CappedReader<'a, R> {
    inner: R,
    remaining: &'a mut u64,
}

impl<R: Read> Read for CappedReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let read = self.inner.read(buf)?;
        *self.remaining = self.remaining.checked_sub(read as u64).ok_or_else(|| std::io::Error::other(OverLimit))?;
        Ok(read)
    }
}

/// Reads a gzip tar into a map of regular files by path below the top directory.
fn read_archive(reader: impl Read, origin: &str, budget: &mut Budget) -> Result<BTreeMap<String, Vec<u8>>, Error> {
    let limit = budget.limit;
    let capped = CappedReader { inner: flate2::read::GzDecoder::new(reader), remaining: &mut budget.remaining };
    let failed = |e: std::io::Error| {
        if e.get_ref().is_some_and(<dyn std::error::Error + Send + Sync>::is::<OverLimit>) {
            Error::TooLarge { origin: origin.to_owned(), limit }
        } else {
            Error::Archive { origin: origin.to_owned(), message: e.to_string() }
        }
    };
    let mut archive = tar::Archive::new(capped);
    let mut files = BTreeMap::new();
    for entry in archive.entries().map_err(failed)? {
        let mut entry = entry.map_err(failed)?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let path = entry.path().map_err(failed)?.into_owned();
        // Only plain relative names; the top directory (the chart name) is dropped.
        let Some(parts) = normal_parts(&path) else { continue };
        let Some((_top, rest)) = parts.split_first() else { continue };
        if rest.is_empty() {
            continue;
        }
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).map_err(failed)?;
        files.insert(rest.join("/"), bytes);
    }
    Ok(files)
}

/// The components of a relative path made only of names (and `.`), or `None`.
fn normal_parts(path: &Path) -> Option<Vec<String>> {
    let mut parts = Vec::new();
    for component in path.components() {
        match component {
            Component::Normal(name) => parts.push(name.to_str()?.to_owned()),
            Component::CurDir => {}
            _ => return None,
        }
    }
    Some(parts)
}

/// Reads a chart directory into a map of files by relative path. Symbolic links to
/// directories are not followed, which keeps a link loop from walking forever.
fn read_dir_files(root: &Path, budget: &mut Budget) -> Result<BTreeMap<String, Vec<u8>>, Error> {
    let origin = root.display().to_string();
    let mut files = BTreeMap::new();
    let mut pending = vec![(root.to_path_buf(), String::new())];
    while let Some((dir, prefix)) = pending.pop() {
        let io = |source| Error::Io { path: dir.clone(), source };
        for entry in std::fs::read_dir(&dir).map_err(io)? {
            let entry = entry.map_err(io)?;
            let path = entry.path();
            let Some(name) = entry.file_name().to_str().map(str::to_owned) else { continue };
            let relative = if prefix.is_empty() { name } else { format!("{prefix}/{name}") };
            let file_type = entry.file_type().map_err(|source| Error::Io { path: path.clone(), source })?;
            if file_type.is_dir() {
                pending.push((path, relative));
            } else if let Ok(metadata) = std::fs::metadata(&path)
                && metadata.is_file()
            {
                budget.spend(metadata.len(), &origin)?;
                let bytes = std::fs::read(&path).map_err(|source| Error::Io { path: path.clone(), source })?;
                files.insert(relative, bytes);
            }
        }
    }
    Ok(files)
}

/// Builds a chart (and its subcharts) out of its files.
fn from_files(mut files: BTreeMap<String, Vec<u8>>, origin: &str, budget: &mut Budget) -> Result<Chart, Error> {
    let chart_yaml_bytes =
        files.remove("Chart.yaml").ok_or_else(|| Error::NoChartYaml { origin: origin.to_owned() })?;
    let yaml = |file: &str, bytes: &[u8]| -> Result<serde_yaml::Value, Error> {
        let value: serde_yaml::Value = serde_yaml::from_slice(bytes).map_err(|e| Error::Yaml {
            origin: origin.to_owned(),
            file: file.to_owned(),
            message: e.to_string(),
        })?;
        Ok(if value.is_null() { serde_yaml::Value::Mapping(serde_yaml::Mapping::new()) } else { value })
    };
    let chart_yaml = yaml("Chart.yaml", &chart_yaml_bytes)?;
    let metadata = read_metadata(&chart_yaml);
    if metadata.name.is_empty() {
        return Err(Error::Yaml { origin: origin.to_owned(), file: "Chart.yaml".into(), message: "no name".into() });
    }
    let mut dependencies = read_dependencies(&chart_yaml, origin, "Chart.yaml")?;
    if let Some(bytes) = files.remove("requirements.yaml")
        && dependencies.is_empty()
    {
        dependencies = read_dependencies(&yaml("requirements.yaml", &bytes)?, origin, "requirements.yaml")?;
    }
    let values = match files.remove("values.yaml") {
        Some(bytes) => yaml("values.yaml", &bytes)?,
        None => serde_yaml::Value::Mapping(serde_yaml::Mapping::new()),
    };

    let mut chart = Chart {
        metadata,
        chart_yaml,
        dependencies,
        values,
        templates: Vec::new(),
        crds: Vec::new(),
        files: BTreeMap::new(),
        subcharts: Vec::new(),
    };
    let mut subchart_dirs: BTreeMap<String, BTreeMap<String, Vec<u8>>> = BTreeMap::new();
    for (path, bytes) in files {
        let text = || String::from_utf8_lossy(&bytes).into_owned();
        if path.starts_with("templates/") {
            chart.templates.push(SourceFile { text: text(), path });
        } else if let Some(name) = path.strip_prefix("crds/") {
            if !name.contains('/') && matches!(extension(name), "yaml" | "yml") {
                chart.crds.push(SourceFile { text: text(), path });
            }
        } else if let Some(rest) = path.strip_prefix("charts/") {
            match rest.split_once('/') {
                Some((dir, inner)) => {
                    subchart_dirs.entry(dir.to_owned()).or_default().insert(inner.to_owned(), bytes);
                }
                None if matches!(extension(rest), "tgz" | "gz") => {
                    let sub_origin = format!("{origin}/charts/{rest}");
                    let sub_files = read_archive(bytes.as_slice(), &sub_origin, budget)?;
                    chart.subcharts.push(from_files(sub_files, &sub_origin, budget)?);
                }
                None => {}
            }
        } else {
            chart.files.insert(path, bytes);
        }
    }
    for (dir, sub_files) in subchart_dirs {
        // A directory under charts/ without Chart.yaml is not a chart (Helm skips it too).
        if sub_files.contains_key("Chart.yaml") {
            chart.subcharts.push(from_files(sub_files, &format!("{origin}/charts/{dir}"), budget)?);
        }
    }
    Ok(chart)
}

/// What follows the last dot of a file name, as Helm compares it: case and all.
fn extension(name: &str) -> &str {
    name.rsplit_once('.').map_or("", |(_, extension)| extension)
}

/// A scalar of `Chart.yaml` as text: `version: 1.10` is a YAML number, meant as `"1.10"`
/// only when written with quotes, but read as what it says rather than refused.
fn scalar_text(value: Option<&serde_yaml::Value>) -> Option<String> {
    match value? {
        serde_yaml::Value::String(s) => Some(s.clone()),
        serde_yaml::Value::Number(n) => Some(n.to_string()),
        serde_yaml::Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn read_metadata(chart_yaml: &serde_yaml::Value) -> Metadata {
    Metadata {
        name: scalar_text(chart_yaml.get("name")).unwrap_or_default(),
        version: scalar_text(chart_yaml.get("version")).unwrap_or_default(),
        app_version: scalar_text(chart_yaml.get("appVersion")),
        library: chart_yaml.get("type").and_then(serde_yaml::Value::as_str) == Some("library"),
    }
}

fn read_dependencies(document: &serde_yaml::Value, origin: &str, file: &str) -> Result<Vec<Dependency>, Error> {
    match document.get("dependencies") {
        None | Some(serde_yaml::Value::Null) => Ok(Vec::new()),
        Some(list) => serde_yaml::from_value(list.clone()).map_err(|e| Error::Yaml {
            origin: origin.to_owned(),
            file: file.to_owned(),
            message: format!("dependencies: {e}"),
        }),
    }
}

/// Writes a chart directory's `files` under `root` (for the tests of this module and others).
#[cfg(test)]
pub(super) fn write_files(root: &Path, files: &[(&str, &str)]) {
    for (path, text) in files {
        let path = root.join(path);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, text).expect("write");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(root: &Path, files: &[(&str, &str)]) {
        write_files(root, files);
    }

    #[test]
    fn loads_a_directory_and_its_packed_archive_alike() {
        let dir = tempfile::tempdir().expect("tempdir");
        let chart = dir.path().join("src");
        write(
            &chart,
            &[
                ("Chart.yaml", "apiVersion: v2\nname: demo\nversion: 1.2.3\nappVersion: 1.10\ntype: application\n"),
                ("values.yaml", "a: 1\n"),
                ("templates/cm.yaml", "kind: ConfigMap\n"),
                ("crds/crd.yaml", "kind: CustomResourceDefinition\n"),
                ("files/conf.txt", "hello"),
                ("charts/lib/Chart.yaml", "name: lib\nversion: 0.1.0\ntype: library\n"),
                ("charts/lib/templates/_helpers.tpl", "{{ define \"x\" }}x{{ end }}"),
            ],
        );
        let out = dir.path().join("demo-1.2.3.tgz");
        pack_dir(&chart, &out).expect("pack");
        for path in [&chart, &out] {
            let loaded = load(path).expect("load");
            let name = path.display();
            assert_eq!(
                loaded.metadata,
                Metadata {
                    name: "demo".into(),
                    version: "1.2.3".into(),
                    app_version: Some("1.1".into()),
                    library: false
                },
                "{name}"
            );
            assert_eq!(loaded.templates[0].path, "templates/cm.yaml", "{name}");
            assert_eq!(loaded.crds[0].path, "crds/crd.yaml", "{name}");
            assert_eq!(loaded.files.get("files/conf.txt").map(Vec::as_slice), Some(&b"hello"[..]), "{name}");
            assert_eq!(loaded.subcharts.len(), 1, "{name}");
            assert!(loaded.subcharts[0].metadata.library, "{name}");
        }
        // The archive's top directory is the chart's name, whatever the source directory is called.
        let gz = flate2::read::GzDecoder::new(std::fs::File::open(&out).expect("open"));
        let mut archive = tar::Archive::new(gz);
        let first = archive.entries().expect("entries").next().expect("one").expect("entry");
        assert!(first.path().expect("path").starts_with("demo"));
    }

    #[test]
    fn an_archive_without_chart_yaml_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let out = dir.path().join("bad.tgz");
        let gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        let mut builder = tar::Builder::new(gzip);
        let mut header = tar::Header::new_gnu();
        header.set_size(5);
        header.set_mode(0o644);
        builder.append_data(&mut header, "bad/values.yaml", &b"a: 1\n"[..]).expect("append");
        let bytes = builder.into_inner().and_then(flate2::write::GzEncoder::finish).expect("finish");
        std::fs::write(&out, bytes).expect("write");
        let error = load(&out).expect_err("no Chart.yaml");
        assert!(matches!(error, Error::NoChartYaml { .. }), "{error}");
        assert!(error.to_string().contains("bad.tgz: no Chart.yaml"), "{error}");
        let error = load(&dir.path().join("missing.tgz")).expect_err("missing");
        assert!(matches!(error, Error::Io { .. }), "{error}");
    }

    #[test]
    fn a_chart_over_the_size_limit_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let chart = dir.path().join("big");
        let filler = "x".repeat(40_000);
        write(&chart, &[("Chart.yaml", "name: big\nversion: 1.0.0\n"), ("files/blob", &filler)]);
        let out = dir.path().join("big.tgz");
        pack_dir(&chart, &out).expect("pack");
        for path in [&chart, &out] {
            let error = load_with_limit(path, 20_000).expect_err("too large");
            assert!(matches!(error, Error::TooLarge { limit: 20_000, .. }), "{}: {error}", path.display());
            load_with_limit(path, 100_000).expect("under the limit");
        }
    }
}
