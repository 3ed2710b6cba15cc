//! Rebuilding an image with one more layer, for the filtered operator catalog and the update
//! graph data image: the layer replaces one directory (an opaque whiteout, then the new files),
//! the config gets that layer's diff ID and a history entry appended (labels, `Cmd` and
//! `Entrypoint` unchanged), and the manifest the new config and the layer appended. For a
//! multi-arch image each platform's image gets the same new layer, and the index points at the
//! rebuilt children.
//!
//! Deterministic: the same filtered files give the same layer digest (sorted entries, zero
//! times and owners, fixed modes, gzip without name or time), so that a re-run pushes nothing
//! new.
//!
//! The layer, for subtree `/configs`, filtered files `a/catalog.json` and removed `/tmp/cache`:
//!
//! ```text
//! configs/                    directory 0755
//! configs/.wh..wh..opq        empty file: lower layers' configs are hidden
//! configs/a/                  directory 0755
//! configs/a/catalog.json      file 0644
//! tmp/.wh.cache               empty file: the stale cache is hidden
//! ```

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Component, Path, PathBuf};

use serde_json::{Map, Value};

use crate::manifest::{DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, Descriptor, Kind, OCI_INDEX, OCI_MANIFEST};
use crate::reference::{Algorithm, Digest, Hasher};

/// Why the image could not be rebuilt.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The manifest, index or config is not what an image of this kind must be.
    #[error("{0}")]
    Invalid(String),
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> Error + '_ {
    move |source| Error::Io { path: path.to_path_buf(), source }
}

/// The new layer, written to a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuiltLayer {
    /// The gzip-compressed tar.
    pub file: PathBuf,
    /// Digest of the compressed bytes.
    pub digest: Digest,
    /// Size of the compressed bytes.
    pub size: u64,
    /// Digest of the uncompressed tar (the config's `rootfs.diff_ids` entry).
    pub diff_id: Digest,
}

/// Media type of the new layer in a Docker schema2 manifest.
pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
/// Media type of the new layer in an OCI manifest.
pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
/// `created` of the history entry: fixed, so that the config digest is the same on every run.
const HISTORY_CREATED: &str = "1970-01-01T00:00:00Z";
const HISTORY_COMMENT: &str = "mirror-registry";

/// Writes the layer: `<subtree>/.wh..wh..opq`, then every file of `dir` below `<subtree>/`, and a
/// whiteout for each path of `remove` (image-absolute paths such as `/tmp/cache`, for content
/// the filtering makes stale).
///
/// The whiteouts of `remove` get no entries for their parent directories: the parents exist in
/// lower layers (the removed path is there), and an entry would reset their mode and owner
/// (`/tmp` would lose its sticky, world-writable 1777 and a non-root `opm serve` could no longer
/// rebuild its cache there).
///
/// # Errors
/// [`Error::Io`]; [`Error::Invalid`] when `subtree` or a path of `remove` is empty or has `..`.
pub fn build_layer(dir: &Path, subtree: &str, remove: &[String], out: &Path) -> Result<BuiltLayer, Error> {
    let subtree_parts = image_path(subtree)?;
    if subtree_parts.is_empty() {
        return Err(Error::Invalid(format!("the catalog directory {subtree:?} must not be the image root")));
    }
    let removed = remove
        .iter()
        .map(|path| match image_path(path)?.split_last() {
            Some((name, parent)) => Ok(join(parent, &format!(".wh.{name}"))),
            None => Err(Error::Invalid(format!("cannot remove the image root ({path:?})"))),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut files = Vec::new();
    list_tree(dir, &mut Vec::new(), &mut files)?;

    let file = File::create(out).map_err(io_error(out))?;
    let compressed = HashingWriter::new(BufWriter::with_capacity(1 << 16, file));
    let gzip = flate2::GzBuilder::new().mtime(0).write(compressed, flate2::Compression::default());
    let mut builder = tar::Builder::new(HashingWriter::new(gzip));
    let write = |e: io::Error| Error::Io { path: out.to_path_buf(), source: e };

    for depth in 1..=subtree_parts.len() {
        let parents = subtree_parts.get(..depth).unwrap_or_default();
        append_dir(&mut builder, &format!("{}/", parents.join("/"))).map_err(write)?;
    }
    let root = subtree_parts.join("/");
    append_file(&mut builder, &format!("{root}/.wh..wh..opq"), 0, io::empty()).map_err(write)?;
    for (parts, is_dir) in &files {
        let name = format!("{root}/{}", parts.join("/"));
        if *is_dir {
            append_dir(&mut builder, &format!("{name}/")).map_err(write)?;
        } else {
            let source = dir.join(parts.iter().collect::<PathBuf>());
            let content = File::open(&source).map_err(io_error(&source))?;
            let size = content.metadata().map_err(io_error(&source))?.len();
            // A read error surfaces from `append_data` as an I/O error; name the source then.
            append_file(&mut builder, &name, size, content).map_err(io_error(&source))?;
        }
    }
    for whiteout in &removed {
        append_file(&mut builder, whiteout, 0, io::empty()).map_err(write)?;
    }

    let tar = builder.into_inner().map_err(write)?;
    let (gzip, diff_id, _) = tar.finish();
    let compressed = gzip.finish().map_err(write)?;
    let (buffered, digest, size) = compressed.finish();
    let file = buffered.into_inner().map_err(|e| write(e.into_error()))?;
    file.sync_all().map_err(write)?;
    Ok(BuiltLayer { file: out.to_path_buf(), digest, size, diff_id })
}

/// The components of an image-absolute path (`/tmp/cache`, `tmp/cache/`).
fn image_path(path: &str) -> Result<Vec<String>, Error> {
    let mut parts = Vec::new();
    for component in Path::new(path).components() {
        match component {
            Component::RootDir | Component::CurDir => {}
            Component::Normal(name) => parts.push(name.to_string_lossy().into_owned()),
            Component::ParentDir | Component::Prefix(_) => {
                return Err(Error::Invalid(format!("image path {path:?} must not leave the root")));
            }
        }
    }
    Ok(parts)
}

fn join(parent: &[String], name: &str) -> String {
    if parent.is_empty() { name.to_string() } else { format!("{}/{name}", parent.join("/")) }
}

/// Every directory and regular file below `dir`, depth first in name order (a directory right
/// before its content), so that the tar's entry order does not depend on the file system.
fn list_tree(dir: &Path, prefix: &mut Vec<String>, out: &mut Vec<(Vec<String>, bool)>) -> Result<(), Error> {
    let mut children = Vec::new();
    for child in fs::read_dir(dir).map_err(io_error(dir))? {
        let child = child.map_err(io_error(dir))?;
        let path = child.path();
        let file_type = child.file_type().map_err(io_error(&path))?;
        let name = child.file_name().into_string().map_err(|name| {
            Error::Invalid(format!("{}: file name {} is not UTF-8", dir.display(), name.to_string_lossy()))
        })?;
        children.push((name, path, file_type));
    }
    children.sort_by(|a, b| a.0.cmp(&b.0));
    for (name, path, file_type) in children {
        prefix.push(name);
        if file_type.is_dir() {
            out.push((prefix.clone(), true));
            list_tree(&path, prefix, out)?;
        } else if file_type.is_file() {
            out.push((prefix.clone(), false));
        } else {
            tracing::warn!(path = %path.display(), "skipping a filtered catalog entry that is neither a file nor a directory");
        }
        prefix.pop();
    }
    Ok(())
}

fn fixed_header(entry_type: tar::EntryType, mode: u32, size: u64) -> tar::Header {
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(entry_type);
    header.set_mode(mode);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(0);
    header.set_size(size);
    header
}

fn append_dir<W: Write>(builder: &mut tar::Builder<W>, name: &str) -> io::Result<()> {
    let mut header = fixed_header(tar::EntryType::Directory, 0o755, 0);
    builder.append_data(&mut header, name, io::empty())
}

fn append_file<W: Write>(
    builder: &mut tar::Builder<W>,
    name: &str,
    size: u64,
    content: impl io::Read,
) -> io::Result<()> {
    let mut header = fixed_header(tar::EntryType::Regular, 0o644, size);
    // `take` guards against a file that grows while it is copied: the header's size is final.
    builder.append_data(&mut header, name, content.take(size))
}

/// Hashes and counts what passes through to the inner writer.
struct HashingWriter<W: Write> {
    inner: W,
    hasher: Hasher,
    count: u64,
}

impl<W: Write> HashingWriter<W> {
    fn new(inner: W) -> Self {
        HashingWriter { inner, hasher: Algorithm::Sha256.hasher(), count: 0 }
    }

    fn finish(self) -> (W, Digest, u64) {
        (self.inner, self.hasher.finish(), self.count)
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        let written = buf.get(..n).unwrap_or_default();
        self.hasher.update(written);
        self.count += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// `bytes` as a JSON object (`what` names it in the error).
///
/// # Errors
/// [`Error::Invalid`].
pub fn parse_object(bytes: &[u8], what: &str) -> Result<Map<String, Value>, Error> {
    match serde_json::from_slice(bytes) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(Error::Invalid(format!("the {what} is not a JSON object"))),
        Err(e) => Err(Error::Invalid(format!("the {what} is not JSON: {e}"))),
    }
}

fn serialize(value: &Map<String, Value>, what: &str) -> Result<Vec<u8>, Error> {
    serde_json::to_vec(value).map_err(|e| Error::Invalid(format!("cannot serialize the {what}: {e}")))
}

/// The config with `layer` appended: `rootfs.diff_ids` and a `history` entry whose
/// `created_by` is `comment`. Everything else is kept.
///
/// # Errors
/// [`Error::Invalid`] when the config is not an image config JSON object.
pub fn rebuild_config(config: &[u8], layer: &BuiltLayer, comment: &str) -> Result<Vec<u8>, Error> {
    let mut config = parse_object(config, "image config")?;
    let diff_ids = config
        .get_mut("rootfs")
        .and_then(Value::as_object_mut)
        .and_then(|rootfs| rootfs.get_mut("diff_ids"))
        .and_then(Value::as_array_mut)
        .ok_or_else(|| Error::Invalid("the image config has no rootfs.diff_ids array".into()))?;
    diff_ids.push(Value::String(layer.diff_id.to_string()));
    let entry = serde_json::json!({
        "created": HISTORY_CREATED,
        "created_by": comment,
        "comment": HISTORY_COMMENT,
    });
    match config.get_mut("history") {
        Some(Value::Array(history)) => history.push(entry),
        None | Some(Value::Null) => {
            config.insert("history".into(), Value::Array(vec![entry]));
        }
        Some(_) => return Err(Error::Invalid("the image config's history is not an array".into())),
    }
    serialize(&config, "image config")
}

/// Adds `annotations` to the object's `annotations` (created when absent).
fn merge_annotations(object: &mut Map<String, Value>, annotations: &[(String, String)]) -> Result<(), Error> {
    if annotations.is_empty() {
        return Ok(());
    }
    let existing = object.entry("annotations").or_insert_with(|| Value::Object(Map::new()));
    if existing.is_null() {
        *existing = Value::Object(Map::new());
    }
    let map = existing.as_object_mut().ok_or_else(|| Error::Invalid("annotations is not an object".into()))?;
    for (key, value) in annotations {
        map.insert(key.clone(), Value::String(value.clone()));
    }
    Ok(())
}

fn descriptor_json(media_type: &str, digest: &Digest, size: u64) -> Value {
    serde_json::json!({ "mediaType": media_type, "digest": digest.to_string(), "size": size })
}

/// The image manifest with `config` as its config and `layer` appended (as a Docker or OCI gzip
/// layer, following the manifest's own format). `annotations` are added to an OCI manifest's
/// `annotations` (Docker manifests have none). Returns the bytes and the media type.
///
/// The config descriptor keeps the manifest's own config media type; `config.media_type` is not
/// used.
///
/// # Errors
/// [`Error::Invalid`] when `manifest` is not an image manifest.
pub fn rebuild_manifest(
    manifest: &[u8],
    config: &Descriptor,
    layer: &BuiltLayer,
    annotations: &[(String, String)],
) -> Result<(Vec<u8>, String), Error> {
    // Without `mediaType` (optional in OCI, umoci omits it) the parser infers OCI from the fields.
    let parsed = crate::manifest::parse(None, manifest)
        .map_err(|e| Error::Invalid(format!("the catalog manifest is invalid: {e}")))?;
    if parsed.kind != Kind::Image {
        return Err(Error::Invalid(format!("{} is not an image manifest", parsed.media_type)));
    }
    let layer_type = match parsed.media_type.as_str() {
        DOCKER_MANIFEST => DOCKER_LAYER_GZIP,
        OCI_MANIFEST => OCI_LAYER_GZIP,
        other => return Err(Error::Invalid(format!("{other} is not an image manifest"))),
    };
    let mut object = parse_object(manifest, "manifest")?;
    let config_object = object
        .get_mut("config")
        .and_then(Value::as_object_mut)
        .ok_or_else(|| Error::Invalid("the manifest has no config object".into()))?;
    config_object.insert("digest".into(), Value::String(config.digest.to_string()));
    config_object.insert("size".into(), Value::from(config.size));
    object
        .get_mut("layers")
        .and_then(Value::as_array_mut)
        .ok_or_else(|| Error::Invalid("the manifest has no layers array".into()))?
        .push(descriptor_json(layer_type, &layer.digest, layer.size));
    if parsed.media_type == OCI_MANIFEST {
        merge_annotations(&mut object, annotations)?;
    }
    Ok((serialize(&object, "manifest")?, parsed.media_type))
}

/// The index (or Docker manifest list) with each child whose digest is a key of `children`
/// replaced by the new descriptor (platform and other fields kept); `annotations` as for
/// [`rebuild_manifest`]. Returns the bytes and the media type.
///
/// # Errors
/// [`Error::Invalid`] when `index` is not an index.
#[allow(clippy::implicit_hasher)] // the signature is the one callers were written against; a generic hasher buys nothing here
pub fn rebuild_index(
    index: &[u8],
    children: &std::collections::HashMap<Digest, Descriptor>,
    annotations: &[(String, String)],
) -> Result<(Vec<u8>, String), Error> {
    let parsed = crate::manifest::parse(None, index)
        .map_err(|e| Error::Invalid(format!("the catalog index is invalid: {e}")))?;
    if parsed.kind != Kind::Index {
        return Err(Error::Invalid(format!("{} is not an index", parsed.media_type)));
    }
    let mut object = parse_object(index, "index")?;
    let entries = object
        .get_mut("manifests")
        .and_then(Value::as_array_mut)
        .ok_or_else(|| Error::Invalid("the index has no manifests array".into()))?;
    // `parse` checked each entry, so the descriptors line up with the JSON entries.
    for (entry, old) in entries.iter_mut().zip(&parsed.children) {
        let (Some(new), Some(entry)) = (children.get(&old.digest), entry.as_object_mut()) else { continue };
        entry.insert("mediaType".into(), Value::String(new.media_type.clone()));
        entry.insert("digest".into(), Value::String(new.digest.to_string()));
        entry.insert("size".into(), Value::from(new.size));
    }
    match parsed.media_type.as_str() {
        OCI_INDEX => merge_annotations(&mut object, annotations)?,
        DOCKER_MANIFEST_LIST => {}
        other => return Err(Error::Invalid(format!("{other} is not an index"))),
    }
    Ok((serialize(&object, "index")?, parsed.media_type))
}

#[cfg(test)]
mod tests {
    use crate::mirror::layers::tests::tree;
    use std::collections::{BTreeMap, HashMap};

    use tar::EntryType::{Directory as D, Regular as F};

    use super::*;
    use crate::mirror::layers;

    const D1: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
    const D2: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";
    const D3: &str = "sha256:3333333333333333333333333333333333333333333333333333333333333333";

    fn digest(s: &str) -> Digest {
        s.parse().expect("test digest")
    }

    fn built_layer() -> BuiltLayer {
        BuiltLayer { file: PathBuf::from("/nonexistent"), digest: digest(D2), size: 42, diff_id: digest(D3) }
    }

    fn json(bytes: &[u8]) -> Value {
        serde_json::from_slice(bytes).expect("output is JSON")
    }

    fn write_tree(dir: &Path, files: &[(&str, &str)]) {
        for (path, body) in files {
            let path = dir.join(path);
            fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            fs::write(path, body).expect("write");
        }
    }

    fn tar_entries(layer: &Path) -> Vec<(String, tar::EntryType, u32, u64, u64)> {
        let file = File::open(layer).expect("open layer");
        let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
        archive
            .entries()
            .expect("entries")
            .map(|entry| {
                let entry = entry.expect("entry");
                let header = entry.header();
                (
                    entry.path().expect("path").to_string_lossy().into_owned(),
                    header.entry_type(),
                    header.mode().expect("mode"),
                    header.uid().expect("uid"),
                    header.mtime().expect("mtime"),
                )
            })
            .collect()
    }

    #[test]
    fn built_layer_is_deterministic_and_ordered() {
        let tmp = tempfile::tempdir().expect("temp dir");
        let files = [("b/catalog.json", "b"), ("a/catalog.json", "a"), ("a/z.yaml", "z"), ("top.json", "t")];
        let first = tmp.path().join("first");
        let second = tmp.path().join("second");
        write_tree(&first, &files);
        // Written in another order, so directory listing order differs.
        write_tree(&second, &files.iter().rev().copied().collect::<Vec<_>>());
        let remove = vec!["/tmp/cache".to_string()];
        let one = build_layer(&first, "/configs", &remove, &tmp.path().join("one.tar.gz")).expect("build one");
        let two = build_layer(&second, "configs/", &remove, &tmp.path().join("two.tar.gz")).expect("build two");
        let bytes_one = fs::read(&one.file).expect("read one");
        assert_eq!(bytes_one, fs::read(&two.file).expect("read two"), "same input, same bytes");
        assert_eq!((one.digest.clone(), one.size, one.diff_id.clone()), (two.digest, two.size, two.diff_id));
        assert_eq!(one.digest, Digest::of(Algorithm::Sha256, &bytes_one), "digest of the compressed bytes");
        assert_eq!(one.size, bytes_one.len() as u64);
        let mut tar = Vec::new();
        io::Read::read_to_end(&mut flate2::read::GzDecoder::new(bytes_one.as_slice()), &mut tar).expect("gunzip");
        assert_eq!(one.diff_id, Digest::of(Algorithm::Sha256, &tar), "diff id of the tar");
        assert_eq!(bytes_one.get(4..8), Some(&[0u8; 4][..]), "gzip mtime is zero");

        let names: Vec<(String, tar::EntryType, u32)> =
            tar_entries(&one.file).into_iter().map(|(n, t, m, _, _)| (n, t, m)).collect();
        let want: Vec<(String, tar::EntryType, u32)> = [
            ("configs/", D, 0o755),
            ("configs/.wh..wh..opq", F, 0o644),
            ("configs/a/", D, 0o755),
            ("configs/a/catalog.json", F, 0o644),
            ("configs/a/z.yaml", F, 0o644),
            ("configs/b/", D, 0o755),
            ("configs/b/catalog.json", F, 0o644),
            ("configs/top.json", F, 0o644),
            ("tmp/.wh.cache", F, 0o644),
        ]
        .into_iter()
        .map(|(n, t, m)| (n.to_string(), t, m))
        .collect();
        assert_eq!(names, want);
        assert!(tar_entries(&one.file).iter().all(|(_, _, _, uid, mtime)| *uid == 0 && *mtime == 0));
    }

    #[test]
    fn nested_subtree_gets_parent_entries() {
        let tmp = tempfile::tempdir().expect("temp dir");
        let dir = tmp.path().join("dir");
        write_tree(&dir, &[("x.json", "x")]);
        let layer = build_layer(&dir, "/var/lib/catalog", &[], &tmp.path().join("l.tar.gz")).expect("build");
        let names: Vec<String> = tar_entries(&layer.file).into_iter().map(|e| e.0).collect();
        assert_eq!(
            names,
            ["var/", "var/lib/", "var/lib/catalog/", "var/lib/catalog/.wh..wh..opq", "var/lib/catalog/x.json"]
        );
    }

    /// The layer, stacked over a catalog image's layer, yields exactly the filtered files: the
    /// two modules agree on whiteouts.
    #[test]
    fn built_layer_replaces_configs_when_extracted() {
        let cases: Vec<(&str, &str, &str)> = vec![
            ("top-level configs", "/configs", "configs"),
            ("nested configs", "/var/lib/catalog/", "var/lib/catalog"),
        ];
        for (name, subtree, prefix) in cases {
            let tmp = tempfile::tempdir().expect("temp dir");
            let lower = tmp.path().join("lower.tar");
            let mut builder = tar::Builder::new(File::create(&lower).expect("create lower"));
            for (path, body) in [
                (format!("{prefix}/keep/catalog.json"), "old keep"),
                (format!("{prefix}/drop/catalog.json"), "dropped"),
                (format!("{prefix}/drop/more.yaml"), "dropped"),
                ("tmp/cache/cache.json".to_string(), "stale"),
                ("bin/opm".to_string(), "binary"),
            ] {
                let mut header = tar::Header::new_gnu();
                header.set_size(body.len() as u64);
                header.set_mode(0o644);
                builder.append_data(&mut header, &path, body.as_bytes()).expect("append");
            }
            builder.into_inner().expect("finish lower").sync_all().expect("sync");

            let filtered = tmp.path().join("filtered");
            write_tree(&filtered, &[("keep/catalog.json", "new keep"), ("keep/extra/deep.json", "deep")]);
            let upper = build_layer(&filtered, subtree, &["/tmp/cache".to_string()], &tmp.path().join("upper"))
                .unwrap_or_else(|e| panic!("case {name}: {e}"));
            let layers = vec![lower, upper.file];

            let out = tmp.path().join("out");
            let count = layers::extract_subtree(&layers, subtree, &out).unwrap_or_else(|e| panic!("case {name}: {e}"));
            assert_eq!(count, 2, "case {name}");
            let want: BTreeMap<String, String> = [
                ("keep/", ""),
                ("keep/catalog.json", "new keep"),
                ("keep/extra/", ""),
                ("keep/extra/deep.json", "deep"),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
            assert_eq!(tree(&out), want, "case {name}");

            let cache_out = tmp.path().join("cache-out");
            let count = layers::extract_subtree(&layers, "/tmp", &cache_out).expect("extract tmp");
            assert_eq!(count, 0, "case {name}: the cache is whited out");
            assert_eq!(tree(&cache_out), BTreeMap::new(), "case {name}: the cache is whited out");
        }
    }

    #[test]
    fn bad_layer_paths_are_refused() {
        let tmp = tempfile::tempdir().expect("temp dir");
        let cases: Vec<(&str, &str, Vec<String>)> = vec![
            ("root subtree", "/", vec![]),
            ("parent in subtree", "/configs/../etc", vec![]),
            ("root removed", "/configs", vec!["/".to_string()]),
            ("parent in removed", "/configs", vec!["/tmp/../etc".to_string()]),
        ];
        for (name, subtree, remove) in cases {
            let result = build_layer(tmp.path(), subtree, &remove, &tmp.path().join("out"));
            assert!(matches!(result, Err(Error::Invalid(_))), "case {name}: {result:?}");
        }
    }

    #[test]
    fn config_gets_diff_id_and_history() {
        let cases: Vec<(&str, Value, usize)> = vec![
            (
                "with history",
                serde_json::json!({
                    "architecture": "amd64",
                    "os": "linux",
                    "config": {
                        "Labels": {"operators.operatorframework.io.index.configs.v1": "/configs"},
                        "Entrypoint": ["/bin/opm"],
                        "Cmd": ["serve", "/configs", "--cache-dir=/tmp/cache"]
                    },
                    "rootfs": {"type": "layers", "diff_ids": [D1]},
                    "history": [{"created": "2024-01-01T00:00:00Z", "created_by": "COPY configs"}]
                }),
                2,
            ),
            (
                "without history",
                serde_json::json!({
                    "architecture": "arm64",
                    "os": "linux",
                    "config": {"Labels": {"operators.operatorframework.io.index.configs.v1": "/configs"}, "Cmd": null},
                    "rootfs": {"type": "layers", "diff_ids": [D1]}
                }),
                1,
            ),
        ];
        for (name, input, history_len) in cases {
            let bytes = serde_json::to_vec(&input).expect("serialize");
            let out =
                rebuild_config(&bytes, &built_layer(), "filter catalog").unwrap_or_else(|e| panic!("case {name}: {e}"));
            let mut out = json(&out);
            assert_eq!(out["rootfs"]["diff_ids"], serde_json::json!([D1, D3]), "case {name}");
            let history = out["history"].as_array().expect("history").clone();
            assert_eq!(history.len(), history_len, "case {name}");
            assert_eq!(
                history.last(),
                Some(&serde_json::json!({
                    "created": "1970-01-01T00:00:00Z",
                    "created_by": "filter catalog",
                    "comment": "mirror-registry"
                })),
                "case {name}"
            );
            let object = out.as_object_mut().expect("object");
            object.remove("history");
            object["rootfs"]["diff_ids"] = serde_json::json!([D1]);
            let mut input = input.clone();
            input.as_object_mut().expect("object").remove("history");
            assert_eq!(out, input, "case {name}: everything else is kept");
        }
    }

    #[test]
    fn invalid_configs_are_refused() {
        let cases: Vec<(&str, &[u8])> = vec![
            ("not json", b"{"),
            ("array", b"[]"),
            ("no rootfs", br#"{"config":{}}"#),
            ("diff_ids not an array", br#"{"rootfs":{"diff_ids":{}}}"#),
            ("history not an array", br#"{"rootfs":{"diff_ids":[]},"history":{}}"#),
        ];
        for (name, bytes) in cases {
            let result = rebuild_config(bytes, &built_layer(), "x");
            assert!(matches!(result, Err(Error::Invalid(_))), "case {name}: {result:?}");
        }
    }

    fn image_manifest(media_type: Option<&str>, config_type: &str, layer_type: &str, annotations: bool) -> Vec<u8> {
        let mut value = serde_json::json!({
            "schemaVersion": 2,
            "config": {"mediaType": config_type, "digest": D1, "size": 7},
            "layers": [{"mediaType": layer_type, "digest": D1, "size": 100}]
        });
        if let Some(mt) = media_type {
            value["mediaType"] = Value::from(mt);
        }
        if annotations {
            value["annotations"] = serde_json::json!({"org.opencontainers.image.created": "2024"});
        }
        serde_json::to_vec(&value).expect("serialize")
    }

    #[test]
    fn manifests_get_new_config_and_layer() {
        let docker_config = "application/vnd.docker.container.image.v1+json";
        let oci_config = "application/vnd.oci.image.config.v1+json";
        let cases: Vec<(&str, Vec<u8>, &str, &str, &str, Option<Value>)> = vec![
            (
                "docker schema2",
                image_manifest(
                    Some(DOCKER_MANIFEST),
                    docker_config,
                    "application/vnd.docker.image.rootfs.diff.tar.gzip",
                    false,
                ),
                DOCKER_MANIFEST,
                docker_config,
                DOCKER_LAYER_GZIP,
                None,
            ),
            (
                "oci with mediaType and annotations",
                image_manifest(Some(OCI_MANIFEST), oci_config, OCI_LAYER_GZIP, true),
                OCI_MANIFEST,
                oci_config,
                OCI_LAYER_GZIP,
                Some(serde_json::json!({"org.opencontainers.image.created": "2024", "mirror": "yes"})),
            ),
            (
                "oci without mediaType",
                image_manifest(None, oci_config, "application/vnd.oci.image.layer.v1.tar+zstd", false),
                OCI_MANIFEST,
                oci_config,
                OCI_LAYER_GZIP,
                Some(serde_json::json!({"mirror": "yes"})),
            ),
        ];
        let config =
            Descriptor { media_type: "ignored".into(), digest: digest(D3), size: 1234, foreign: false, platform: None };
        let annotations = vec![("mirror".to_string(), "yes".to_string())];
        for (name, input, want_type, want_config_type, want_layer_type, want_annotations) in cases {
            let (bytes, media_type) = rebuild_manifest(&input, &config, &built_layer(), &annotations)
                .unwrap_or_else(|e| panic!("case {name}: {e}"));
            assert_eq!(media_type, want_type, "case {name}");
            let parsed =
                crate::manifest::parse(Some(&media_type), &bytes).unwrap_or_else(|e| panic!("case {name}: {e}"));
            let blobs: Vec<(String, Digest, u64)> =
                parsed.blobs.into_iter().map(|d| (d.media_type, d.digest, d.size)).collect();
            assert_eq!(
                blobs.first(),
                Some(&(want_config_type.to_string(), digest(D3), 1234)),
                "case {name}: config replaced, its media type kept"
            );
            assert_eq!(blobs.len(), 3, "case {name}: one layer appended");
            assert_eq!(blobs.last(), Some(&(want_layer_type.to_string(), digest(D2), 42)), "case {name}");
            assert_eq!(json(&bytes).get("annotations"), want_annotations.as_ref(), "case {name}");
        }
    }

    fn index(media_type: &str, child_type: &str, annotations: bool) -> Vec<u8> {
        let mut value = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": media_type,
            "manifests": [
                {"mediaType": child_type, "digest": D1, "size": 500,
                 "platform": {"architecture": "amd64", "os": "linux"}},
                {"mediaType": child_type, "digest": D2, "size": 501,
                 "platform": {"architecture": "arm64", "os": "linux", "variant": "v8"},
                 "annotations": {"keep": "me"}}
            ]
        });
        if annotations {
            value["annotations"] = serde_json::json!({"old": "1"});
        }
        serde_json::to_vec(&value).expect("serialize")
    }

    #[test]
    fn indexes_point_at_rebuilt_children() {
        let new_child = |media_type: &str| Descriptor {
            media_type: media_type.to_string(),
            digest: digest(D3),
            size: 777,
            foreign: false,
            platform: None,
        };
        let cases: Vec<(&str, Vec<u8>, &str, Option<Value>)> = vec![
            (
                "oci index",
                index(OCI_INDEX, OCI_MANIFEST, true),
                OCI_MANIFEST,
                Some(serde_json::json!({"old": "1", "mirror": "yes"})),
            ),
            ("docker manifest list", index(DOCKER_MANIFEST_LIST, DOCKER_MANIFEST, false), DOCKER_MANIFEST, None),
        ];
        let annotations = vec![("mirror".to_string(), "yes".to_string())];
        for (name, input, child_type, want_annotations) in cases {
            let children = HashMap::from([(digest(D2), new_child(child_type))]);
            let (bytes, media_type) =
                rebuild_index(&input, &children, &annotations).unwrap_or_else(|e| panic!("case {name}: {e}"));
            let parsed =
                crate::manifest::parse(Some(&media_type), &bytes).unwrap_or_else(|e| panic!("case {name}: {e}"));
            assert_eq!(parsed.kind, Kind::Index, "case {name}");
            let got: Vec<(Digest, u64)> = parsed.children.into_iter().map(|d| (d.digest, d.size)).collect();
            assert_eq!(got, vec![(digest(D1), 500), (digest(D3), 777)], "case {name}");
            let value = json(&bytes);
            assert_eq!(
                value["manifests"][1]["platform"],
                serde_json::json!({"architecture": "arm64", "os": "linux", "variant": "v8"}),
                "case {name}: platform kept"
            );
            assert_eq!(value["manifests"][1]["annotations"], serde_json::json!({"keep": "me"}), "case {name}");
            assert_eq!(value.get("annotations"), want_annotations.as_ref(), "case {name}");
        }
    }

    #[test]
    fn wrong_kinds_are_refused() {
        let image = image_manifest(Some(OCI_MANIFEST), "c", OCI_LAYER_GZIP, false);
        let list = index(OCI_INDEX, OCI_MANIFEST, false);
        let config = Descriptor { media_type: "c".into(), digest: digest(D3), size: 1, foreign: false, platform: None };
        let as_manifest = rebuild_manifest(&list, &config, &built_layer(), &[]);
        assert!(matches!(as_manifest, Err(Error::Invalid(_))), "index as manifest: {as_manifest:?}");
        let as_index = rebuild_index(&image, &HashMap::new(), &[]);
        assert!(matches!(as_index, Err(Error::Invalid(_))), "manifest as index: {as_index:?}");
        let not_json = rebuild_manifest(b"nope", &config, &built_layer(), &[]);
        assert!(matches!(not_json, Err(Error::Invalid(_))), "not json: {not_json:?}");
    }
}
