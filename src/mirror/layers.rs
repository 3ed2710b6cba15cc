//! Reading one directory out of an image's layers: the layers are applied in order, as a
//! container runtime would (OCI image-spec "Applying Changesets"), whiteouts included, but only
//! entries below the wanted directory are written. Layers are tar, gzip or zstd (recognised by
//! their first bytes, whatever the media type says), read as streams.
//!
//! Whiteouts (image-spec `layer.md`, "Whiteouts"): `DIR/.wh.NAME` hides `NAME` as lower layers
//! left it, and `DIR/.wh..wh..opq` hides everything lower layers put in `DIR`. Neither hides
//! what the same layer writes, whatever the order of the entries in the tar stream, so each
//! layer remembers the paths it wrote and a whiteout removes only the others.

use std::collections::HashSet;
use std::ffi::OsString;
use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Component, Path, PathBuf};

use tar::EntryType;

/// Why a directory could not be extracted.
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
    /// A layer is not a tar stream in a known compression, or an entry is unsafe.
    #[error("layer {path}: {message}")]
    Layer {
        /// The layer's blob file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> Error + '_ {
    move |source| Error::Io { path: path.to_path_buf(), source }
}

fn layer_error(path: &Path, message: impl Into<String>) -> Error {
    Error::Layer { path: path.to_path_buf(), message: message.into() }
}

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];
const WHITEOUT_PREFIX: &str = ".wh.";
const OPAQUE_WHITEOUT: &str = ".wh..wh..opq";

/// Writes what the directory `subtree` (for example `/configs`, from the catalog label) holds
/// after applying `layers` (blob files, lowest first) into `out` (created; must not exist).
/// Regular files and directories are written; symlinks, devices and hard links below `subtree`
/// are skipped with a warning. Returns the number of files written.
///
/// # Errors
/// [`Error`]; entries whose path leaves the root (`..`) are refused.
pub fn extract_subtree(layers: &[PathBuf], subtree: &str, out: &Path) -> Result<usize, Error> {
    let subtree_parts = normalize(Path::new(subtree))
        .map_err(|message| layer_error(Path::new(subtree), format!("directory to extract: {message}")))?;
    create_out(out)?;
    for layer in layers {
        let reader = open_layer(layer)?;
        let mut applier = LayerApplier { out, subtree: &subtree_parts, layer, written: HashSet::new() };
        applier.apply(reader)?;
    }
    count_files(out)
}

/// Creates `out`. An existing empty directory is accepted too: callers often hand over a fresh
/// temporary directory, and nothing in it can be stale.
fn create_out(out: &Path) -> Result<(), Error> {
    if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent).map_err(io_error(parent))?;
    }
    match fs::create_dir(out) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            let mut entries = fs::read_dir(out).map_err(io_error(out))?;
            if entries.next().is_some() {
                return Err(Error::Io { path: out.to_path_buf(), source: e });
            }
            Ok(())
        }
        Err(e) => Err(io_error(out)(e)),
    }
}

/// The components of a tar path (`configs/x`, `./configs/x` and `/configs/x` are the same path).
/// Names are kept as the OS strings they are: a base image may hold names that are not UTF-8,
/// and they must not fail the extraction of a directory elsewhere.
fn normalize(path: &Path) -> Result<Vec<OsString>, String> {
    let mut parts = Vec::new();
    for component in path.components() {
        match component {
            Component::RootDir | Component::CurDir => {}
            Component::Normal(name) => parts.push(name.to_os_string()),
            Component::ParentDir => return Err(format!("{} has a `..` component", path.display())),
            Component::Prefix(_) => return Err(format!("{} has a drive prefix", path.display())),
        }
    }
    Ok(parts)
}

/// Opens a layer blob as an uncompressed tar stream, choosing the decoder from its first bytes.
fn open_layer(layer: &Path) -> Result<Box<dyn Read>, Error> {
    let mut file = File::open(layer).map_err(io_error(layer))?;
    let mut magic = Vec::with_capacity(ZSTD_MAGIC.len());
    (&mut file).take(ZSTD_MAGIC.len() as u64).read_to_end(&mut magic).map_err(io_error(layer))?;
    file.seek(SeekFrom::Start(0)).map_err(io_error(layer))?;
    let buffered = BufReader::with_capacity(1 << 16, file);
    if magic.starts_with(&GZIP_MAGIC) {
        // Concatenated gzip members are one valid stream (pigz and some builders write them).
        Ok(Box::new(flate2::bufread::MultiGzDecoder::new(buffered)))
    } else if magic.starts_with(&ZSTD_MAGIC) {
        Ok(Box::new(ZstdFrames::new(buffered)))
    } else {
        Ok(Box::new(buffered))
    }
}

/// A zstd stream of any number of frames, skippable frames included: `zstd:chunked` layers are
/// many frames plus skippable metadata frames, and ruzstd's `StreamingDecoder` reads only one.
struct ZstdFrames<R: BufRead> {
    source: R,
    decoder: ruzstd::decoding::FrameDecoder,
    in_frame: bool,
}

impl<R: BufRead> ZstdFrames<R> {
    fn new(source: R) -> Self {
        ZstdFrames { source, decoder: ruzstd::decoding::FrameDecoder::new(), in_frame: false }
    }

    /// Starts the next frame; `false` at the end of the stream.
    fn next_frame(&mut self) -> io::Result<bool> {
        use ruzstd::decoding::errors::{FrameDecoderError, ReadFrameHeaderError};
        loop {
            if self.source.fill_buf()?.is_empty() {
                return Ok(false);
            }
            match self.decoder.reset(&mut self.source) {
                Ok(()) => return Ok(true),
                Err(FrameDecoderError::ReadFrameHeaderError(ReadFrameHeaderError::SkipFrame { length, .. })) => {
                    let skipped = io::copy(&mut (&mut self.source).take(u64::from(length)), &mut io::sink())?;
                    if skipped != u64::from(length) {
                        return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "truncated skippable zstd frame"));
                    }
                }
                Err(e) => return Err(io::Error::other(e)),
            }
        }
    }
}

impl<R: BufRead> Read for ZstdFrames<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            if !self.in_frame {
                if !self.next_frame()? {
                    return Ok(0);
                }
                self.in_frame = true;
            }
            while self.decoder.can_collect() == 0 && !self.decoder.is_finished() {
                self.decoder
                    .decode_blocks(&mut self.source, ruzstd::decoding::BlockDecodingStrategy::UptoBlocks(1))
                    .map_err(io::Error::other)?;
            }
            let n = self.decoder.read(buf)?;
            if n > 0 {
                return Ok(n);
            }
            if self.decoder.is_finished() {
                self.in_frame = false;
            }
        }
    }
}

/// One layer being applied onto `out`.
struct LayerApplier<'a> {
    out: &'a Path,
    subtree: &'a [OsString],
    layer: &'a Path,
    /// Paths (relative to `out`) this layer wrote, with their parents: whiteouts of the same
    /// layer must not remove them.
    written: HashSet<PathBuf>,
}

impl LayerApplier<'_> {
    fn apply(&mut self, reader: Box<dyn Read>) -> Result<(), Error> {
        let mut archive = tar::Archive::new(reader);
        let entries = archive.entries().map_err(|e| layer_error(self.layer, e.to_string()))?;
        for entry in entries {
            let entry = entry.map_err(|e| layer_error(self.layer, format!("not a readable tar stream: {e}")))?;
            self.apply_entry(entry)?;
        }
        Ok(())
    }

    fn apply_entry<R: Read>(&mut self, mut entry: tar::Entry<'_, R>) -> Result<(), Error> {
        let raw = entry.path().map_err(|e| layer_error(self.layer, format!("entry path: {e}")))?.into_owned();
        let parts = normalize(&raw).map_err(|message| layer_error(self.layer, message))?;
        let Some((name, parent)) = parts.split_last() else { return Ok(()) };
        if name.as_encoded_bytes() == OPAQUE_WHITEOUT.as_bytes() {
            if let Some(rel) = self.relative_dir(parent) {
                self.hide_lower_children(&rel)?;
            }
            return Ok(());
        }
        if name.as_encoded_bytes().starts_with(WHITEOUT_PREFIX.as_bytes()) {
            // A whiteout of an empty name hides nothing; one whose name is not UTF-8 cannot be
            // split safely with the standard library, and only matters below the subtree.
            let hidden = name.to_str().and_then(|n| n.strip_prefix(WHITEOUT_PREFIX)).filter(|n| !n.is_empty());
            let Some(hidden) = hidden else {
                tracing::warn!(layer = %self.layer.display(), path = %raw.display(), "ignoring a malformed whiteout");
                return Ok(());
            };
            let mut target = parent.to_vec();
            target.push(OsString::from(hidden));
            if let Some(rel) = self.relative_path(&target) {
                self.hide_lower(&rel)?;
            } else if target.len() < self.subtree.len() && self.subtree.starts_with(&target) {
                // An ancestor of the subtree is gone, and with it all lower content of the subtree.
                self.hide_lower_children(Path::new(""))?;
            }
            return Ok(());
        }
        let Some(rel) = self.relative_path(&parts) else { return Ok(()) };
        let entry_type = entry.header().entry_type();
        match entry_type {
            EntryType::Directory => self.write_dir(&rel),
            EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse => self.write_file(&rel, &mut entry),
            // Extension headers are folded into the entries they describe by the tar reader.
            EntryType::XGlobalHeader | EntryType::XHeader | EntryType::GNULongName | EntryType::GNULongLink => Ok(()),
            other => {
                tracing::warn!(
                    layer = %self.layer.display(),
                    path = %raw.display(),
                    "skipping {other:?} entry in the catalog directory: only regular files and directories are extracted"
                );
                // It still replaces whatever lower layers had at that path.
                if rel.as_os_str().is_empty() {
                    self.hide_lower_children(&rel)
                } else {
                    remove_path(&self.out.join(&rel))
                }
            }
        }
    }

    /// `parts` relative to the subtree, when it is the subtree or below it.
    fn relative_path(&self, parts: &[OsString]) -> Option<PathBuf> {
        parts.strip_prefix(self.subtree).map(|rest| rest.iter().collect())
    }

    /// For an opaque directory: the directory below `out` whose lower content it hides (the
    /// root when the opaque directory is the subtree or one of its ancestors).
    fn relative_dir(&self, dir: &[OsString]) -> Option<PathBuf> {
        self.relative_path(dir).or_else(|| self.subtree.starts_with(dir).then(PathBuf::new))
    }

    /// Removes `rel` if this layer did not write it; otherwise removes what lower layers left
    /// below it.
    fn hide_lower(&self, rel: &Path) -> Result<(), Error> {
        let path = self.out.join(rel);
        if rel.as_os_str().is_empty() || self.written.contains(rel) {
            return self.hide_lower_children(rel);
        }
        remove_path(&path)
    }

    fn hide_lower_children(&self, rel: &Path) -> Result<(), Error> {
        let dir = self.out.join(rel);
        match fs::symlink_metadata(&dir) {
            Ok(meta) if meta.is_dir() => {}
            Ok(_) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(io_error(&dir)(e)),
        }
        for child in fs::read_dir(&dir).map_err(io_error(&dir))? {
            let child = child.map_err(io_error(&dir))?;
            self.hide_lower(&rel.join(child.file_name()))?;
        }
        Ok(())
    }

    /// Records `rel` and its parents as written by this layer.
    fn mark_written(&mut self, rel: &Path) {
        for ancestor in rel.ancestors() {
            if !self.written.insert(ancestor.to_path_buf()) {
                break;
            }
        }
    }

    /// Makes sure every parent of `rel` is a directory: a lower layer's file in the way is
    /// replaced, as the runtime would when this layer's entry needs the directory.
    fn prepare_parents(&mut self, rel: &Path) -> Result<(), Error> {
        let Some(parent) = rel.parent() else { return Ok(()) };
        let mut current = self.out.to_path_buf();
        for component in parent.components() {
            current.push(component);
            match fs::symlink_metadata(&current) {
                Ok(meta) if meta.is_dir() => continue,
                Ok(_) => remove_path(&current)?,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_error(&current)(e)),
            }
            fs::create_dir(&current).map_err(io_error(&current))?;
        }
        self.mark_written(parent);
        Ok(())
    }

    fn write_dir(&mut self, rel: &Path) -> Result<(), Error> {
        self.prepare_parents(rel)?;
        let path = self.out.join(rel);
        match fs::symlink_metadata(&path) {
            Ok(meta) if meta.is_dir() => {}
            Ok(_) => {
                remove_path(&path)?;
                fs::create_dir(&path).map_err(io_error(&path))?;
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => fs::create_dir(&path).map_err(io_error(&path))?,
            Err(e) => return Err(io_error(&path)(e)),
        }
        self.mark_written(rel);
        Ok(())
    }

    fn write_file(&mut self, rel: &Path, entry: &mut impl Read) -> Result<(), Error> {
        if rel.as_os_str().is_empty() {
            tracing::warn!(layer = %self.layer.display(), "the catalog directory is a file in this layer; it is empty");
            return self.hide_lower_children(rel);
        }
        self.prepare_parents(rel)?;
        let path = self.out.join(rel);
        if fs::symlink_metadata(&path).is_ok_and(|m| m.is_dir()) {
            remove_path(&path)?;
        }
        let mut file = File::create(&path).map_err(io_error(&path))?;
        let mut buf = vec![0u8; 1 << 16];
        loop {
            // Read errors are the layer's fault, write errors the disk's: keep them apart.
            let n = entry.read(&mut buf).map_err(|e| layer_error(self.layer, format!("{}: {e}", rel.display())))?;
            if n == 0 {
                break;
            }
            file.write_all(buf.get(..n).unwrap_or_default()).map_err(io_error(&path))?;
        }
        self.mark_written(rel);
        Ok(())
    }
}

/// Removes a file or a whole directory; an absent path is fine.
fn remove_path(path: &Path) -> Result<(), Error> {
    let result = match fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => fs::remove_dir_all(path),
        Ok(_) => fs::remove_file(path),
        Err(e) => Err(e),
    };
    match result {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(io_error(path)(e)),
        _ => Ok(()),
    }
}

fn count_files(dir: &Path) -> Result<usize, Error> {
    let mut count = 0;
    for child in fs::read_dir(dir).map_err(io_error(dir))? {
        let child = child.map_err(io_error(dir))?;
        let path = child.path();
        let file_type = child.file_type().map_err(io_error(&path))?;
        if file_type.is_dir() {
            count += count_files(&path)?;
        } else if file_type.is_file() {
            count += 1;
        }
    }
    Ok(count)
}

#[cfg(test)]
pub(super) mod tests {
    use std::collections::BTreeMap;

    use super::*;

    /// One tar entry of a test layer; names are written raw, so `/x`, `./x` and `../x` are
    /// possible.
    #[derive(Clone, Copy)]
    enum Item {
        Dir(&'static str),
        File(&'static str, &'static str),
        Symlink(&'static str, &'static str),
    }

    fn tar_bytes(items: &[Item]) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        for item in items {
            let mut header = tar::Header::new_gnu();
            let (name, kind, data): (&str, EntryType, &[u8]) = match item {
                Item::Dir(name) => (name, EntryType::Directory, b""),
                Item::File(name, body) => (name, EntryType::Regular, body.as_bytes()),
                Item::Symlink(name, target) => {
                    header.set_link_name(target).expect("link name");
                    (name, EntryType::Symlink, b"")
                }
            };
            header.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
            header.set_entry_type(kind);
            header.set_mode(if kind == EntryType::Directory { 0o755 } else { 0o644 });
            header.set_size(data.len() as u64);
            header.set_cksum();
            builder.append(&header, data).expect("append");
        }
        builder.into_inner().expect("finish tar")
    }

    #[derive(Clone, Copy, Debug)]
    enum Compression {
        Plain,
        Gzip,
        Zstd,
    }

    fn write_layer(dir: &Path, index: usize, compression: Compression, items: &[Item]) -> PathBuf {
        let tar = tar_bytes(items);
        let bytes = match compression {
            Compression::Plain => tar,
            Compression::Gzip => {
                let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
                enc.write_all(&tar).expect("gzip");
                enc.finish().expect("gzip")
            }
            Compression::Zstd => {
                ruzstd::encoding::compress_to_vec(tar.as_slice(), ruzstd::encoding::CompressionLevel::Fastest)
            }
        };
        let path = dir.join(format!("layer-{index}"));
        fs::write(&path, bytes).expect("write layer");
        path
    }

    /// Every path under `dir`: directories end with `/`, files map to their content.
    pub(in crate::mirror) fn tree(dir: &Path) -> BTreeMap<String, String> {
        fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
            for child in fs::read_dir(dir).expect("read dir") {
                let path = child.expect("dir entry").path();
                let rel = path.strip_prefix(root).expect("below root").to_string_lossy().into_owned();
                if path.is_dir() {
                    out.insert(format!("{rel}/"), String::new());
                    walk(root, &path, out);
                } else {
                    out.insert(rel, fs::read_to_string(&path).expect("read file"));
                }
            }
        }
        let mut out = BTreeMap::new();
        walk(dir, dir, &mut out);
        out
    }

    fn expected(items: &[(&str, &str)]) -> BTreeMap<String, String> {
        items.iter().map(|(k, v)| ((*k).to_string(), (*v).to_string())).collect()
    }

    /// The lowest layer of most cases: a small catalog, and a file elsewhere.
    fn base_layer() -> Vec<Item> {
        use Item::{Dir, File};
        vec![
            Dir("configs/"),
            Dir("configs/a/"),
            File("configs/a/catalog.json", "a1"),
            Dir("configs/b/"),
            File("configs/b/catalog.json", "b1"),
            File("configs/b/extra.yaml", "b-extra"),
            File("configs/c.json", "c1"),
            File("etc/passwd", "root"),
        ]
    }

    /// Cases: name, subtree, layers (lowest first), expected tree below the subtree.
    fn whiteout_cases() -> Vec<(&'static str, &'static str, Vec<Vec<Item>>, Vec<(&'static str, &'static str)>)> {
        use Item::{Dir, File, Symlink};
        let base = base_layer();
        vec![
            (
                "files across layers and overwrite",
                "/configs",
                vec![base.clone(), vec![File("configs/a/catalog.json", "a2"), File("./configs/d.json", "d")]],
                vec![
                    ("a/", ""),
                    ("a/catalog.json", "a2"),
                    ("b/", ""),
                    ("b/catalog.json", "b1"),
                    ("b/extra.yaml", "b-extra"),
                    ("c.json", "c1"),
                    ("d.json", "d"),
                ],
            ),
            (
                "whiteout of a file and of a directory",
                "configs",
                vec![base.clone(), vec![File("configs/.wh.c.json", ""), File("/configs/.wh.b", "")]],
                vec![("a/", ""), ("a/catalog.json", "a1")],
            ),
            (
                "opaque directory keeps the same layer's entries",
                "configs/",
                vec![
                    base.clone(),
                    vec![
                        File("configs/b/new.json", "new"),
                        File("configs/b/.wh..wh..opq", ""),
                        File("configs/b/later.json", "later"),
                    ],
                ],
                vec![
                    ("a/", ""),
                    ("a/catalog.json", "a1"),
                    ("b/", ""),
                    ("b/later.json", "later"),
                    ("b/new.json", "new"),
                    ("c.json", "c1"),
                ],
            ),
            (
                "opaque subtree replaced by new files",
                "/configs",
                vec![
                    base.clone(),
                    vec![Dir("configs/"), File("configs/.wh..wh..opq", ""), File("configs/z/catalog.json", "z")],
                ],
                vec![("z/", ""), ("z/catalog.json", "z")],
            ),
            ("whiteout of the subtree itself", "/configs", vec![base.clone(), vec![File(".wh.configs", "")]], vec![]),
            ("opaque root hides the subtree", "/configs", vec![base.clone(), vec![File("./.wh..wh..opq", "")]], vec![]),
            (
                "whiteout of an ancestor of the subtree",
                "/var/lib/catalog",
                vec![vec![File("var/lib/catalog/x.json", "x")], vec![File("var/.wh.lib", "")]],
                vec![],
            ),
            (
                "same-layer directory survives a whiteout of its lower version",
                "configs",
                vec![base.clone(), vec![File("configs/.wh.a", ""), File("configs/a/fresh.json", "fresh")]],
                vec![
                    ("a/", ""),
                    ("a/fresh.json", "fresh"),
                    ("b/", ""),
                    ("b/catalog.json", "b1"),
                    ("b/extra.yaml", "b-extra"),
                    ("c.json", "c1"),
                ],
            ),
            (
                "a file replaces a directory and a directory a file",
                "configs",
                vec![base.clone(), vec![File("configs/b", "now a file"), Dir("configs/c.json/")]],
                vec![("a/", ""), ("a/catalog.json", "a1"), ("b", "now a file"), ("c.json/", "")],
            ),
            (
                "an empty whiteout name hides nothing",
                "configs",
                vec![vec![File("configs/a/x.json", "x")], vec![File("configs/a/.wh.", "")]],
                vec![("a/", ""), ("a/x.json", "x")],
            ),
            (
                "entries outside the subtree and symlinks are ignored",
                "configs",
                vec![vec![
                    File("configsx/no.json", "no"),
                    File("etc/hosts", "no"),
                    File("configs/ok.json", "ok"),
                    Symlink("configs/link.json", "ok.json"),
                ]],
                vec![("ok.json", "ok")],
            ),
        ]
    }

    #[test]
    fn layers_are_applied_with_whiteouts() {
        let cases = whiteout_cases();
        for compression in [Compression::Plain, Compression::Gzip, Compression::Zstd] {
            for (name, subtree, layers, want) in &cases {
                let dir = tempfile::tempdir().expect("temp dir");
                let paths: Vec<PathBuf> = layers
                    .iter()
                    .enumerate()
                    .map(|(i, items)| write_layer(dir.path(), i, compression, items))
                    .collect();
                let out = dir.path().join("out");
                let count = extract_subtree(&paths, subtree, &out)
                    .unwrap_or_else(|e| panic!("case {name} ({compression:?}): {e}"));
                let got = tree(&out);
                assert_eq!(got, expected(want), "case {name} ({compression:?})");
                let files = want.iter().filter(|(p, _)| !p.ends_with('/')).count();
                assert_eq!(count, files, "case {name} ({compression:?}): file count");
            }
        }
    }

    #[test]
    fn bad_layers_are_refused() {
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("parent component", tar_bytes(&[Item::File("configs/../../etc/x", "x")])),
            ("parent component outside the subtree", tar_bytes(&[Item::File("../x", "x")])),
            ("corrupt gzip", [&GZIP_MAGIC[..], b"\x08\x00garbage that is not deflate at all"].concat()),
            ("corrupt zstd", [&ZSTD_MAGIC[..], b"\xff\xff\xff\xffgarbage"].concat()),
            ("not a tar", b"this is not a tar archive, just text that is long enough to look at".repeat(10)),
        ];
        for (name, bytes) in cases {
            let dir = tempfile::tempdir().expect("temp dir");
            let layer = dir.path().join("layer");
            fs::write(&layer, bytes).expect("write layer");
            match extract_subtree(&[layer], "/configs", &dir.path().join("out")) {
                Err(Error::Layer { .. }) => {}
                other => panic!("case {name}: expected a layer error, got {other:?}"),
            }
        }
    }

    #[test]
    fn multi_frame_zstd_with_skippable_frame_is_read() {
        let tar = tar_bytes(&[Item::File("configs/a.json", "a"), Item::File("configs/b.json", "b")]);
        let (first, second) = tar.split_at(512 + 256);
        let level = ruzstd::encoding::CompressionLevel::Fastest;
        let skippable = [&0x184D_2A50_u32.to_le_bytes()[..], &3u32.to_le_bytes()[..], b"xyz"].concat();
        let bytes = [
            ruzstd::encoding::compress_to_vec(first, level),
            skippable,
            ruzstd::encoding::compress_to_vec(second, level),
        ]
        .concat();
        let dir = tempfile::tempdir().expect("temp dir");
        let layer = dir.path().join("layer");
        fs::write(&layer, bytes).expect("write layer");
        let out = dir.path().join("out");
        let count = extract_subtree(&[layer], "configs", &out).expect("extract");
        assert_eq!(count, 2);
        assert_eq!(tree(&out), expected(&[("a.json", "a"), ("b.json", "b")]));
    }

    #[test]
    fn non_utf8_names_outside_the_subtree_are_ignored() {
        let mut builder = tar::Builder::new(Vec::new());
        for (name, body) in [(&b"usr/share/caf\xe9.txt"[..], &b"latin-1"[..]), (b"configs/a.json", b"a")] {
            let mut header = tar::Header::new_gnu();
            header.as_old_mut().name[..name.len()].copy_from_slice(name);
            header.set_entry_type(EntryType::Regular);
            header.set_mode(0o644);
            header.set_size(body.len() as u64);
            header.set_cksum();
            builder.append(&header, body).expect("append");
        }
        let dir = tempfile::tempdir().expect("temp dir");
        let layer = dir.path().join("layer");
        fs::write(&layer, builder.into_inner().expect("finish tar")).expect("write layer");
        let out = dir.path().join("out");
        assert_eq!(extract_subtree(&[layer], "/configs", &out).expect("extract"), 1);
        assert_eq!(tree(&out), expected(&[("a.json", "a")]));
    }

    #[test]
    fn existing_output_with_content_is_refused() {
        let dir = tempfile::tempdir().expect("temp dir");
        let out = dir.path().join("out");
        fs::create_dir(&out).expect("mkdir");
        fs::write(out.join("stale"), "x").expect("write");
        assert!(matches!(extract_subtree(&[], "configs", &out), Err(Error::Io { .. })));
    }
}
