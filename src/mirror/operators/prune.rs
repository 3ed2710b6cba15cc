//! Writes the filtered catalog: the original documents of the selected packages, channels and
//! bundles, channels' entries pruned to the kept bundles, each package's `defaultChannel` set
//! to the selection's. Streams the original files document by document; bundle documents are
//! written as they were (property values untouched).
//!
//! What is kept, by schema:
//!
//! | schema | kept when | changed |
//! | --- | --- | --- |
//! | `olm.package` | the package is selected | `defaultChannel` set to the selection's |
//! | `olm.channel` | the channel is selected | `entries` cut to the kept bundles, each kept entry verbatim |
//! | `olm.bundle` | the bundle is selected | nothing |
//! | `olm.deprecations` | the package is selected and an entry is left | entries naming a dropped bundle or channel removed |
//! | any other, with `package` | the package is selected | nothing |
//! | any other, without `package` | never | |
//!
//! Output layout, one file per selected package, documents in source order (files sorted by
//! path, then document order), each pretty-printed JSON followed by a newline:
//!
//! ```text
//! out/
//!   <package>/catalog.json
//! ```
//!
//! The same source and selection give byte-identical files, so a rebuilt catalog layer gets
//! the same digest on every run.

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::fbc;
use super::select::{SelectedPackage, Selection};

/// Why the filtered catalog could not be written: the reader's errors (a file that can't be read
/// or written, a document that can't be read again), so that both name files the same way.
pub use super::fbc::Error;

/// Writes the documents of `src` (an FBC directory) that `selection` keeps into `out` (created;
/// must not exist), one `<package>/catalog.json` per package.
///
/// The source is read with the rules of [`fbc::read_dir`]; documents are read and written one
/// at a time.
///
/// # Errors
/// [`Error::Io`], including when `out` exists; [`Error::Document`] for a document that cannot
/// be read again, or a selected package whose name cannot be a directory name.
pub fn write_filtered(src: &Path, selection: &Selection, out: &Path) -> Result<(), Error> {
    if let Some(parent) = out.parent() {
        std::fs::create_dir_all(parent).map_err(|source| Error::Io { path: parent.to_path_buf(), source })?;
    }
    std::fs::create_dir(out).map_err(|source| Error::Io { path: out.to_path_buf(), source })?;
    let mut outputs = Outputs { out, open: BTreeMap::new() };
    let files = fbc::catalog_files(src).map_err(|(path, source)| Error::Io { path, source })?;
    for path in files {
        let written = fbc::stream_documents(&path, |document, value: Value| {
            let fail = |message: String| Error::Document { path: path.clone(), document, message };
            let Some((package, value)) = keep(value, selection).map_err(fail)? else {
                return Ok(());
            };
            if !is_directory_name(&package) {
                return Err(fail(format!("package name {package:?} cannot be a directory name")));
            }
            outputs.write(&package, &value)
        });
        written.map_err(|e| e.into_error(&path, |e| e))?;
    }
    outputs.close()
}

/// What is kept of one document, and the package whose file it goes to; `None` when it is
/// dropped. `Err` says what is wrong with the document.
fn keep(mut document: Value, selection: &Selection) -> Result<Option<(String, Value)>, String> {
    let Some(object) = document.as_object_mut() else {
        // An empty YAML document or a JSON `null`; the reader skips them too.
        return if document.is_null() { Ok(None) } else { Err("not an object".to_owned()) };
    };
    let text = |object: &Map<String, Value>, key: &str| object.get(key).and_then(Value::as_str).map(str::to_owned);
    let schema = text(object, "schema").ok_or("missing field `schema`")?;
    let required = |key: &str| text(object, key).ok_or_else(|| format!("{schema}: missing field `{key}`"));
    let (package, kept) = match schema.as_str() {
        "olm.package" => {
            let name = required("name")?;
            let kept = selection.packages.get(&name);
            if let Some(kept) = kept {
                object.insert("defaultChannel".to_owned(), Value::String(kept.default_channel.clone()));
            }
            (name, kept.is_some())
        }
        "olm.channel" => {
            let (package, name) = (required("package")?, required("name")?);
            let kept = selection.packages.get(&package).and_then(|p| p.channels.get(&name));
            if let (Some(bundles), Some(Value::Array(entries))) = (kept, object.get_mut("entries")) {
                entries.retain(|e| e.get("name").and_then(Value::as_str).is_some_and(|n| bundles.contains(n)));
            }
            (package, kept.is_some())
        }
        "olm.bundle" => {
            let (package, name) = (required("package")?, required("name")?);
            let kept = selection.packages.get(&package).is_some_and(|p| p.bundles.contains(&name));
            (package, kept)
        }
        "olm.deprecations" => {
            let package = required("package")?;
            let kept = match (selection.packages.get(&package), object.get_mut("entries")) {
                (Some(selected), Some(Value::Array(entries))) => {
                    let before = entries.len();
                    entries.retain(|e| deprecation_kept(e, selected));
                    // A deprecation left with no entries deprecates nothing; opm reads an
                    // empty list as a malformed document.
                    before == 0 || !entries.is_empty()
                }
                (Some(_), _) => true,
                (None, _) => false,
            };
            (package, kept)
        }
        _ => {
            let Some(package) = text(object, "package") else { return Ok(None) };
            let kept = selection.packages.contains_key(&package);
            (package, kept)
        }
    };
    Ok(kept.then_some((package, document)))
}

/// Whether a deprecation entry still refers to something the filtered package has. An entry
/// for the package itself, or of a kind not known here, stays.
fn deprecation_kept(entry: &Value, selected: &SelectedPackage) -> bool {
    let reference = entry.get("reference");
    let field = |key: &str| reference.and_then(|r| r.get(key)).and_then(Value::as_str);
    match (field("schema"), field("name")) {
        (Some("olm.bundle"), Some(name)) => selected.bundles.contains(name),
        (Some("olm.channel"), Some(name)) => selected.channels.contains_key(name),
        _ => true,
    }
}

/// A name that makes exactly one directory below `out` and that the reader does not skip.
fn is_directory_name(name: &str) -> bool {
    !name.is_empty() && !name.starts_with('.') && !name.contains(['/', '\\', '\0'])
}

/// How many package files stay open at once. A catalog can hold hundreds of packages in one
/// file, interleaved; past this, every file is closed and reopened for appending when needed,
/// rather than running out of file descriptors.
const MAX_OPEN: usize = 64;

/// The output files, opened on first use and appended to in document order.
struct Outputs<'a> {
    out: &'a Path,
    open: BTreeMap<String, (PathBuf, BufWriter<File>)>,
}

impl Outputs<'_> {
    fn write(&mut self, package: &str, document: &Value) -> Result<(), Error> {
        if !self.open.contains_key(package) && self.open.len() >= MAX_OPEN {
            self.close()?;
        }
        let (path, writer) = match self.open.entry(package.to_owned()) {
            Entry::Occupied(e) => e.into_mut(),
            Entry::Vacant(e) => {
                let dir = self.out.join(package);
                std::fs::create_dir_all(&dir).map_err(|source| Error::Io { path: dir.clone(), source })?;
                let path = dir.join("catalog.json");
                let file = OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&path)
                    .map_err(|source| Error::Io { path: path.clone(), source })?;
                e.insert((path, BufWriter::new(file)))
            }
        };
        serde_json::to_writer_pretty(&mut *writer, document)
            .map_err(std::io::Error::from)
            .and_then(|()| writer.write_all(b"\n"))
            .map_err(|source| Error::Io { path: path.clone(), source })
    }

    /// Flushes and closes every open file.
    fn close(&mut self) -> Result<(), Error> {
        for (_, (path, mut writer)) in std::mem::take(&mut self.open) {
            writer.flush().map_err(|source| Error::Io { path, source })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::super::select::{select, tests::write_catalog};
    use super::*;
    use crate::mirror::imageset::{Channel as ChannelFilter, Operator, Package as PackageFilter};

    /// Every document of the FBC directory `dir` as JSON, in reading order.
    fn documents(dir: &Path) -> Vec<Value> {
        let mut all = Vec::new();
        for path in fbc::catalog_files(dir).expect("list catalog files") {
            fbc::stream_documents(&path, |_, value: Value| {
                all.push(value);
                Ok::<(), ()>(())
            })
            .expect("documents read");
        }
        all
    }

    fn find<'a>(documents: &'a [Value], schema: &str, name: &str) -> Option<&'a Value> {
        documents.iter().find(|d| d["schema"] == schema && d["name"] == name)
    }

    /// alpha: stable from 1.9.1 and the candidate head, which bring beta 1.1.0 (by package)
    /// and gamma 0.2.0 (by GVK) as dependencies.
    fn operator() -> Operator {
        let channels = vec![
            ChannelFilter { name: "stable".into(), min_version: Some("1.9.1".into()), max_version: None },
            ChannelFilter { name: "candidate".into(), ..ChannelFilter::default() },
        ];
        Operator {
            catalog: "registry.example/catalog:v1".into(),
            packages: vec![PackageFilter { name: "alpha".into(), channels, ..PackageFilter::default() }],
            ..Operator::default()
        }
    }

    #[test]
    fn filtered_catalog_reads_back_as_the_selection() {
        let src = tempfile::tempdir().expect("tempdir");
        write_catalog(src.path());
        let catalog = fbc::read_dir(src.path()).expect("source catalog");
        let selection = select(&catalog, &operator()).expect("selection");
        let out = tempfile::tempdir().expect("tempdir");
        let filtered = out.path().join("configs");

        write_filtered(src.path(), &selection, &filtered).expect("filtered catalog written");

        let files: BTreeSet<PathBuf> = fbc::catalog_files(&filtered).expect("output files").into_iter().collect();
        let expected: BTreeSet<PathBuf> =
            ["alpha", "beta", "gamma"].iter().map(|p| filtered.join(p).join("catalog.json")).collect();
        assert_eq!(files, expected, "one catalog.json per selected package");
        // Reading it back checks every default channel exists and every entry names a kept bundle.
        let back = fbc::read_dir(&filtered).expect("the filtered catalog is consistent");
        let selected = Selection { warnings: Vec::new(), ..selection.clone() };
        assert_eq!(Selection::all(&back), selected, "exactly the selected packages, channels and bundles");
        for package in back.packages.values() {
            for channel in package.channels.values() {
                for entry in &channel.entries {
                    assert!(
                        package.bundles.contains_key(&entry.name),
                        "{}/{}: {} is kept",
                        package.name,
                        channel.name,
                        entry.name
                    );
                }
            }
        }

        let original = documents(src.path());
        let written = documents(&filtered);
        for (package, bundle) in selection.bundles() {
            assert_eq!(
                find(&written, "olm.bundle", bundle),
                find(&original, "olm.bundle", bundle),
                "{package}: bundle {bundle} written unchanged"
            );
        }
        let stable = find(&written, "olm.channel", "stable").filter(|d| d["package"] == "alpha").expect("alpha/stable");
        assert_eq!(
            stable["entries"],
            serde_json::json!([
                {"name": "alpha.v1.9.1", "replaces": "alpha.v1.9.0"},
                {"name": "alpha.v1.10.0", "replaces": "alpha.v1.9.0", "skipRange": ">=1.8.0 <1.10.0"},
                {"name": "alpha.v1.10.1", "replaces": "alpha.v1.10.0", "skips": ["alpha.v1.9.1"]},
            ]),
            "kept entries verbatim, dropped ones gone"
        );
        let beta = find(&written, "olm.package", "beta").expect("beta package");
        assert_eq!(beta["defaultChannel"], "stable-v2", "beta keeps its default channel");
        assert_eq!(beta["description"], "test", "other package fields kept");
        let deprecations: Vec<&Value> = written.iter().filter(|d| d["schema"] == "olm.deprecations").collect();
        assert_eq!(
            deprecations,
            [&serde_json::json!({"schema": "olm.deprecations", "package": "alpha", "entries": [
                {"reference": {"schema": "olm.channel", "name": "candidate"}, "message": "candidate is deprecated"},
                {"reference": {"schema": "olm.package"}, "message": "alpha is deprecated"},
            ]})],
            "the deprecation of dropped bundle alpha.v1.8.0 is gone"
        );
        assert!(written.iter().any(|d| d["schema"] == "example.custom"), "a document of a kept package is kept");
        assert!(!written.iter().any(|d| d["schema"] == "example.global"), "a document without package is dropped");
        assert!(!written.iter().any(|d| d["package"] == "delta"), "unselected packages are dropped");
    }

    #[test]
    fn default_channel_is_the_selections() {
        let src = tempfile::tempdir().expect("tempdir");
        write_catalog(src.path());
        let catalog = fbc::read_dir(src.path()).expect("source catalog");
        let mut operator = operator();
        operator.packages[0].channels.remove(0);
        operator.skip_dependencies = true;
        let selection = select(&catalog, &operator).expect("selection");
        let out = tempfile::tempdir().expect("tempdir");

        write_filtered(src.path(), &selection, &out.path().join("configs")).expect("written");

        let back = fbc::read_dir(&out.path().join("configs")).expect("filtered catalog");
        assert_eq!(back.packages["alpha"].default_channel, "candidate", "default channel moved to the kept one");
        let deprecations = documents(&out.path().join("configs"));
        assert!(
            deprecations.iter().any(|d| d["schema"] == "olm.deprecations"),
            "the deprecation of kept channel candidate stays"
        );
    }

    #[test]
    fn output_is_byte_identical_across_runs() {
        let src = tempfile::tempdir().expect("tempdir");
        write_catalog(src.path());
        let catalog = fbc::read_dir(src.path()).expect("source catalog");
        let selection = select(&catalog, &operator()).expect("selection");
        let out = tempfile::tempdir().expect("tempdir");
        let (first, second) = (out.path().join("one"), out.path().join("two"));

        write_filtered(src.path(), &selection, &first).expect("first run");
        write_filtered(src.path(), &selection, &second).expect("second run");

        for package in ["alpha", "beta", "gamma"] {
            let read = |dir: &Path| std::fs::read(dir.join(package).join("catalog.json")).expect("output file");
            assert_eq!(read(&first), read(&second), "{package}: same bytes on every run");
        }
    }

    #[test]
    fn refuses_an_existing_output_and_a_package_name_that_is_a_path() {
        let src = tempfile::tempdir().expect("tempdir");
        write_catalog(src.path());
        let catalog = fbc::read_dir(src.path()).expect("source catalog");
        let selection = select(&catalog, &operator()).expect("selection");
        let out = tempfile::tempdir().expect("tempdir");
        assert!(
            matches!(write_filtered(src.path(), &selection, out.path()), Err(Error::Io { path, .. }) if path == out.path()),
            "an existing output directory is refused"
        );

        let evil = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            evil.path().join("catalog.json"),
            r#"{"schema":"olm.package","name":"../escape","defaultChannel":"c"}"#,
        )
        .expect("write");
        let mut selection = Selection::default();
        selection.packages.insert("../escape".into(), SelectedPackage::default());
        let result = write_filtered(evil.path(), &selection, &out.path().join("configs"));
        assert!(
            matches!(&result, Err(Error::Document { document: 1, message, .. }) if message.contains("cannot be a directory name")),
            "a package name with a slash is refused: {result:?}"
        );
        assert!(!out.path().join("escape").exists(), "nothing written outside the output directory");
    }
}
