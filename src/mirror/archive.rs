//! Archives: the `mirror_NNNNNN.tar` files that carry an image set across the air gap, in
//! oc-mirror v2's format.
//!
//! ```text
//! DIR/mirror_000001.tar, mirror_000002.tar, ...     plain tar, regular files only
//!   docker/registry/v2/repositories/...             the cache's repositories tree (links)
//!   docker/registry/v2/blobs/<alg>/<hh>/<hex>/data  blobs that earlier archives lack
//!   working-dir/...                                 what disk to mirror reads (see `bundle`)
//!   isc_<RFC 3339 time>                             the image set configuration used
//! ```
//!
//! Writing splits at `archiveSize` GiB of file content: a file that does not fit in the current
//! chunk starts the next one; a file larger than the limit gets a chunk of its own (with a
//! warning), or fails the run with `--strict-archive`. Each run numbers its chunks after the
//! highest already in the directory and never replaces one: a later run's archives sit next to
//! the earlier ones and hold only the blobs those lack (see `history`). Reading extracts every
//! chunk of a directory in numeric order, so the later runs' files win: cache content into the
//! cache (each blob hashed on the way and checked against the digest its path names; a blob
//! already there is skipped), `working-dir/` into the working dir.
//!
//! Both directions are blocking file I/O: callers run them on a blocking thread.

use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::{Component, Path, PathBuf};

use super::cache;
use crate::reference::Digest;

/// Prefix of the cache's content inside an archive.
pub const CACHE_PREFIX: &str = "docker/registry/v2";
/// Prefix of the working dir inside an archive.
pub const WORKING_DIR: &str = "working-dir";
/// Bytes per GiB of `archiveSize`.
pub const GIB: u64 = 1024 * 1024 * 1024;

/// Why an archive could not be written or read.
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
    /// `--strict-archive` and a file larger than `archiveSize`.
    #[error(
        "{name} is {size} bytes, more than archiveSize allows ({max} bytes); raise archiveSize to at least {recommended} or drop --strict-archive"
    )]
    Oversized {
        /// The file's name in the archive.
        name: String,
        /// Its size.
        size: u64,
        /// The limit.
        max: u64,
        /// The smallest `archiveSize` (GiB) that fits it.
        recommended: u64,
    },
    /// A blob in an archive does not hash to the digest its path names.
    #[error("{archive}: {name}: content hashes to {actual}")]
    Digest {
        /// The archive.
        archive: PathBuf,
        /// The entry.
        name: String,
        /// What it hashed to.
        actual: Digest,
    },
    /// An entry's path would leave the extraction directory, or is not a regular file.
    #[error("{archive}: refusing entry {name:?}: {reason}")]
    Entry {
        /// The archive.
        archive: PathBuf,
        /// The entry.
        name: String,
        /// Why.
        reason: &'static str,
    },
    /// `--from` holds no archive.
    #[error("no mirror_NNNNNN.tar archive in {0}")]
    NoArchives(PathBuf),
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io { path: path.to_path_buf(), source }
}

/// One file to put in an archive.
#[derive(Debug, Clone)]
pub struct Member {
    /// Where it is on disk.
    pub source: PathBuf,
    /// Its name in the archive (`/`-separated, relative).
    pub name: String,
}

/// What writing produced.
#[derive(Debug, Default)]
pub struct Written {
    /// The chunk files, in order.
    pub chunks: Vec<PathBuf>,
    /// Files larger than the limit, each alone in a chunk: name and size.
    pub oversized: Vec<(String, u64)>,
}

/// The `NNNNNN`-th chunk's file name.
#[must_use]
pub fn chunk_name(n: usize) -> String {
    format!("mirror_{n:06}.tar")
}

fn is_chunk_name(name: &str) -> bool {
    name.strip_prefix("mirror_")
        .and_then(|r| r.strip_suffix(".tar"))
        .is_some_and(|n| n.len() == 6 && n.bytes().all(|b| b.is_ascii_digit()))
}

/// The archives in `dir`, in order.
///
/// # Errors
/// [`Error::Io`] when `dir` can't be listed.
pub fn list_chunks(dir: &Path) -> Result<Vec<PathBuf>, Error> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(io_error(dir))?
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_str().is_some_and(is_chunk_name))
        .map(|e| e.path())
        .collect();
    out.sort();
    Ok(out)
}

/// Every regular file under `dir`, named `prefix/relative/path`, skipping directories named in
/// `skip` (such as distribution's `_uploads`).
///
/// # Errors
/// [`Error::Io`].
pub fn collect_tree(dir: &Path, prefix: &str, skip: &[&str]) -> Result<Vec<Member>, Error> {
    let mut out = Vec::new();
    if !dir.exists() {
        return Ok(out);
    }
    let mut stack = vec![dir.to_path_buf()];
    while let Some(current) = stack.pop() {
        let mut entries: Vec<_> =
            std::fs::read_dir(&current).map_err(io_error(&current))?.filter_map(Result::ok).collect();
        entries.sort_by_key(std::fs::DirEntry::file_name);
        for entry in entries {
            let path = entry.path();
            let kind = entry.file_type().map_err(io_error(&path))?;
            if kind.is_dir() {
                if !entry.file_name().to_str().is_some_and(|n| skip.contains(&n)) {
                    stack.push(path);
                }
            } else if kind.is_file() {
                let relative = path.strip_prefix(dir).expect("walked paths are under the root");
                let rel: Vec<&str> = relative.iter().filter_map(|c| c.to_str()).collect();
                out.push(Member { source: path.clone(), name: format!("{prefix}/{}", rel.join("/")) });
            }
        }
    }
    Ok(out)
}

/// The number after the highest archive in `dir` (1 when there is none).
///
/// # Errors
/// [`Error::Io`] when `dir` can't be listed.
pub fn next_chunk_number(dir: &Path) -> Result<usize, Error> {
    let highest = list_chunks(dir)?
        .iter()
        .filter_map(|p| p.file_name()?.to_str()?.strip_prefix("mirror_")?.strip_suffix(".tar")?.parse::<usize>().ok())
        .max()
        .unwrap_or(0);
    Ok(highest + 1)
}

/// Writes `members` into `dir` as archives of at most `max_bytes` of content each, numbered
/// after the highest archive already there (oc-mirror's rule: a second run into the same
/// directory adds `mirror_000002.tar`, ...). An existing archive is never replaced: each chunk
/// is written under a temporary name and linked to its final name only if that name is free.
///
/// # Errors
/// [`Error::Oversized`] (only when `strict`, and before anything is written), [`Error::Io`].
pub fn write(dir: &Path, members: &[Member], max_bytes: u64, strict: bool) -> Result<Written, Error> {
    let mut sized = Vec::with_capacity(members.len());
    for m in members {
        let size = std::fs::metadata(&m.source).map_err(io_error(&m.source))?.len();
        if strict && size > max_bytes {
            return Err(Error::Oversized {
                name: m.name.clone(),
                size,
                max: max_bytes,
                recommended: size.div_ceil(GIB),
            });
        }
        sized.push((m, size));
    }
    std::fs::create_dir_all(dir).map_err(io_error(dir))?;
    let first = next_chunk_number(dir)?;
    let mut out = Written::default();
    let mut current: Option<Chunk> = None;
    let mut current_size = 0u64;
    for (member, size) in sized {
        if size > max_bytes {
            tracing::warn!(file = %member.name, size, max_bytes, "file larger than archiveSize: it gets an archive of its own");
            let mut alone = Chunk::create(dir, first + out.chunks.len())?;
            out.chunks.push(alone.target.clone());
            alone.append(member, size)?;
            alone.finish()?;
            out.oversized.push((member.name.clone(), size));
            continue;
        }
        if current.is_some()
            && current_size + size > max_bytes
            && let Some(chunk) = current.take()
        {
            chunk.finish()?;
        }
        if current.is_none() {
            let chunk = Chunk::create(dir, first + out.chunks.len())?;
            out.chunks.push(chunk.target.clone());
            current = Some(chunk);
            current_size = 0;
        }
        if let Some(chunk) = current.as_mut() {
            chunk.append(member, size)?;
        }
        current_size += size;
    }
    if let Some(chunk) = current.take() {
        chunk.finish()?;
    }
    Ok(out)
}

/// One archive being written: `.mirror_NNNNNN.tar.partial` until [`Chunk::finish`] links it to
/// `mirror_NNNNNN.tar`, so that a crash never leaves a truncated archive under a final name.
struct Chunk {
    builder: tar::Builder<BufWriter<File>>,
    partial: PathBuf,
    target: PathBuf,
}

impl Chunk {
    fn create(dir: &Path, n: usize) -> Result<Chunk, Error> {
        let target = dir.join(chunk_name(n));
        let partial = dir.join(format!(".{}.partial", chunk_name(n)));
        let file = File::create(&partial).map_err(io_error(&partial))?;
        Ok(Chunk { builder: tar::Builder::new(BufWriter::new(file)), partial, target })
    }

    fn append(&mut self, member: &Member, size: u64) -> Result<(), Error> {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Regular);
        header.set_size(size);
        header.set_mode(0o644);
        let mtime = std::fs::metadata(&member.source)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_secs());
        header.set_mtime(mtime);
        let file = File::open(&member.source).map_err(io_error(&member.source))?;
        // A file that changed size since it was measured would corrupt the archive: take exactly
        // `size` bytes.
        self.builder.append_data(&mut header, &member.name, file.take(size)).map_err(io_error(&member.source))
    }

    /// Completes the tar, syncs it and gives it its final name; fails rather than replace a
    /// file that has that name.
    fn finish(self) -> Result<(), Error> {
        let Chunk { builder, partial, target } = self;
        let mut inner = builder.into_inner().map_err(io_error(&partial))?;
        inner.flush().map_err(io_error(&partial))?;
        inner.get_ref().sync_all().map_err(io_error(&partial))?;
        drop(inner);
        // A hard link is created only when the name is free, atomically.
        match std::fs::hard_link(&partial, &target) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Err(io_error(&target)(e)),
            // File systems without hard links: the check and the rename are two steps there.
            Err(_) if !target.exists() => std::fs::rename(&partial, &target).map_err(io_error(&target))?,
            Err(e) => return Err(io_error(&target)(e)),
        }
        match std::fs::remove_file(&partial) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io_error(&partial)(e)),
            _ => Ok(()),
        }
    }
}

/// What reading extracted.
#[derive(Debug, Default)]
pub struct Extracted {
    /// Archives read.
    pub archives: usize,
    /// Blobs verified and stored (or found already present).
    pub blobs: usize,
    /// Other files written.
    pub files: usize,
}

/// Extracts every archive in `from`: cache content under `cache_root`, `working-dir/` under
/// `from`. Blobs are hashed while extracted and refused when they do not match their path.
///
/// # Errors
/// [`Error::NoArchives`], [`Error::Digest`], [`Error::Entry`], [`Error::Io`].
pub fn extract(from: &Path, cache_root: &Path) -> Result<Extracted, Error> {
    let chunks = list_chunks(from)?;
    if chunks.is_empty() {
        return Err(Error::NoArchives(from.to_path_buf()));
    }
    let mut out = Extracted::default();
    for chunk in &chunks {
        extract_one(chunk, from, cache_root, &mut out)?;
        out.archives += 1;
    }
    Ok(out)
}

fn extract_one(archive_path: &Path, from: &Path, cache_root: &Path, out: &mut Extracted) -> Result<(), Error> {
    let file = File::open(archive_path).map_err(io_error(archive_path))?;
    let mut archive = tar::Archive::new(std::io::BufReader::with_capacity(1 << 20, file));
    let refuse =
        |name: &str, reason| Error::Entry { archive: archive_path.to_path_buf(), name: name.to_string(), reason };
    for entry in archive.entries().map_err(io_error(archive_path))? {
        let mut entry = entry.map_err(io_error(archive_path))?;
        let name = entry.path().map_err(io_error(archive_path))?.to_string_lossy().into_owned();
        let kind = entry.header().entry_type();
        if kind.is_dir() {
            continue;
        }
        if !kind.is_file() {
            return Err(refuse(&name, "not a regular file"));
        }
        let relative = Path::new(&name);
        if relative.components().any(|c| !matches!(c, Component::Normal(_))) {
            return Err(refuse(&name, "absolute path or '..'"));
        }
        let target = if let Ok(inside) = relative.strip_prefix(CACHE_PREFIX) {
            if let Some(digest) = cache::digest_of_blob_path(inside) {
                extract_blob(&mut entry, &digest, &cache_root.join(relative), archive_path, &name)?;
                out.blobs += 1;
                continue;
            }
            if inside.starts_with("blobs") {
                return Err(refuse(&name, "blob path that names no digest"));
            }
            cache_root.join(relative)
        } else if relative.starts_with(WORKING_DIR) {
            from.join(relative)
        } else {
            // The image set configuration copy and anything unknown: not needed to mirror.
            continue;
        };
        write_entry(&mut entry, &target)?;
        out.files += 1;
    }
    Ok(())
}

fn write_entry(entry: &mut impl Read, target: &Path) -> Result<(), Error> {
    let dir = target.parent().expect("entry paths have a parent");
    std::fs::create_dir_all(dir).map_err(io_error(dir))?;
    let tmp = dir.join(format!(".extract.{}", uuid::Uuid::new_v4()));
    let mut file = File::create(&tmp).map_err(io_error(&tmp))?;
    std::io::copy(entry, &mut file).map_err(io_error(&tmp))?;
    std::fs::rename(&tmp, target).map_err(io_error(target))
}

fn extract_blob(
    entry: &mut impl Read,
    digest: &Digest,
    target: &Path,
    archive: &Path,
    name: &str,
) -> Result<(), Error> {
    if target.is_file() {
        return Ok(());
    }
    let dir = target.parent().expect("blob paths have a parent");
    std::fs::create_dir_all(dir).map_err(io_error(dir))?;
    let tmp = dir.join(format!(".extract.{}", uuid::Uuid::new_v4()));
    let mut file = BufWriter::with_capacity(1 << 20, File::create(&tmp).map_err(io_error(&tmp))?);
    let mut hasher = digest.algorithm().hasher();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = entry.read(&mut buf).map_err(io_error(archive))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        file.write_all(&buf[..n]).map_err(io_error(&tmp))?;
    }
    file.flush().map_err(io_error(&tmp))?;
    drop(file);
    let actual = hasher.finish();
    if actual != *digest {
        let _ = std::fs::remove_file(&tmp);
        return Err(Error::Digest { archive: archive.to_path_buf(), name: name.to_string(), actual });
    }
    std::fs::rename(&tmp, target).map_err(io_error(target))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reference::Algorithm;

    fn member(dir: &Path, name: &str, bytes: &[u8]) -> Member {
        let source = dir.join(name.replace('/', "_"));
        std::fs::write(&source, bytes).expect("write");
        Member { source, name: name.to_string() }
    }

    fn names(chunk: &Path) -> Vec<String> {
        let mut a = tar::Archive::new(File::open(chunk).expect("open"));
        a.entries()
            .expect("entries")
            .map(|e| e.expect("entry").path().expect("path").to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn splits_at_the_limit_and_isolates_oversized_files() {
        let src = tempfile::tempdir().expect("temp dir");
        let out = tempfile::tempdir().expect("temp dir");
        let members = vec![
            member(src.path(), "a", &[1; 40]),
            member(src.path(), "b", &[2; 40]),
            member(src.path(), "big", &[3; 150]),
            member(src.path(), "c", &[4; 20]),
        ];
        let written = write(out.path(), &members, 100, false).expect("write");
        let chunk_names: Vec<Vec<String>> = written.chunks.iter().map(|c| names(c)).collect();
        assert_eq!(chunk_names, vec![vec!["a", "b", "c"], vec!["big"]]);
        assert_eq!(written.oversized, vec![("big".to_string(), 150)]);
        assert_eq!(
            written
                .chunks
                .iter()
                .map(|c| c.file_name().expect("name").to_string_lossy().into_owned())
                .collect::<Vec<_>>(),
            vec!["mirror_000001.tar", "mirror_000002.tar"]
        );
        let strict = write(out.path(), &members, 100, true);
        assert!(matches!(strict, Err(Error::Oversized { ref name, size: 150, .. }) if name == "big"), "{strict:?}");
    }

    /// A second mirror to disk into the same directory replaced `mirror_000001.tar` of the first.
    #[test]
    fn a_later_write_numbers_after_the_highest_archive_and_replaces_none() {
        let src = tempfile::tempdir().expect("temp dir");
        let out = tempfile::tempdir().expect("temp dir");
        let first = write(out.path(), &[member(src.path(), "a", &[1; 40])], 100, false).expect("first");
        let first_bytes = std::fs::read(&first.chunks[0]).expect("read");
        // A crash of another run left a partial chunk: it is no archive and is not counted.
        std::fs::write(out.path().join(".mirror_000002.tar.partial"), b"cut short").expect("partial");
        let cases: Vec<(&str, Option<&str>, Vec<&str>)> = vec![
            ("after the first", None, vec!["mirror_000002.tar"]),
            ("after the third", None, vec!["mirror_000003.tar"]),
            ("after a gap", Some("mirror_000007.tar"), vec!["mirror_000008.tar"]),
        ];
        for (name, existing, expected) in cases {
            if let Some(existing) = existing {
                std::fs::write(out.path().join(existing), b"kept").expect("existing");
            }
            let written = write(out.path(), &[member(src.path(), "b", &[2; 40])], 100, false).expect("write");
            let got: Vec<String> =
                written.chunks.iter().map(|c| c.file_name().expect("name").to_string_lossy().into_owned()).collect();
            assert_eq!(got, expected, "case {name}");
            assert_eq!(names(&written.chunks[0]), vec!["b"], "case {name}");
        }
        assert_eq!(std::fs::read(&first.chunks[0]).expect("read"), first_bytes, "the first archive is untouched");
        assert_eq!(std::fs::read(out.path().join("mirror_000007.tar")).expect("read"), b"kept");
        assert!(
            std::fs::read_dir(out.path()).expect("list").filter_map(Result::ok).all(|e| !e
                .file_name()
                .to_string_lossy()
                .ends_with(".partial")
                || e.file_name() == ".mirror_000002.tar.partial"),
            "finished chunks leave no partial file"
        );
    }

    #[test]
    fn extraction_reads_the_archives_of_every_run_in_order() {
        let src = tempfile::tempdir().expect("temp dir");
        let from = tempfile::tempdir().expect("temp dir");
        let blob = |bytes: &[u8]| {
            let d = Digest::of(Algorithm::Sha256, bytes);
            format!("{CACHE_PREFIX}/{}", cache::blob_relative_path(&d).to_string_lossy())
        };
        let link = format!("{CACHE_PREFIX}/repositories/a/_manifests/tags/v1/current/link");
        let runs: [&[(String, &[u8])]; 2] =
            [&[(blob(b"one"), b"one"), (link.clone(), b"first")], &[(blob(b"two"), b"two"), (link.clone(), b"second")]];
        for (run, entries) in runs.iter().enumerate() {
            let members: Vec<Member> = entries
                .iter()
                .map(|(n, b)| member(src.path(), &format!("{run}/{n}"), b))
                .map(|m| Member { name: m.name.split_once('/').expect("run prefix").1.to_string(), ..m })
                .collect();
            write(from.path(), &members, GIB, false).expect("write");
        }
        let cache_root = tempfile::tempdir().expect("temp dir");
        let x = extract(from.path(), cache_root.path()).expect("extract");
        assert_eq!((x.archives, x.blobs, x.files), (2, 2, 2));
        assert!(cache_root.path().join(blob(b"one")).is_file(), "the first run's blob");
        assert!(cache_root.path().join(blob(b"two")).is_file(), "the second run's blob");
        assert_eq!(std::fs::read(cache_root.path().join(&link)).expect("link"), b"second", "the later run wins");
    }

    #[test]
    fn extraction_verifies_blobs_and_refuses_escapes() {
        let src = tempfile::tempdir().expect("temp dir");
        let good = b"blob content";
        let digest = Digest::of(Algorithm::Sha256, good);
        let blob_name = format!("{CACHE_PREFIX}/{}", cache::blob_relative_path(&digest).to_string_lossy());
        let cases: Vec<(&str, Vec<(String, &[u8])>, Option<&str>)> = vec![
            ("good", vec![(blob_name.clone(), good), ("working-dir/logs/x.txt".into(), b"log")], None),
            ("corrupt blob", vec![(blob_name.clone(), b"tampered")], Some("content hashes to")),
        ];
        for (name, entries, error) in cases {
            let from = tempfile::tempdir().expect("temp dir");
            let cache_root = tempfile::tempdir().expect("temp dir");
            let members: Vec<Member> = entries.iter().map(|(n, b)| member(src.path(), n, b)).collect();
            write(from.path(), &members, GIB, false).expect("write");
            match (extract(from.path(), cache_root.path()), error) {
                (Ok(x), None) => {
                    assert_eq!((x.blobs, x.files), (1, 1), "case {name}");
                    assert!(cache_root.path().join(&blob_name).is_file(), "case {name}");
                    assert!(from.path().join("working-dir/logs/x.txt").is_file(), "case {name}");
                }
                (Err(e), Some(want)) => assert!(e.to_string().contains(want), "case {name}: {e}"),
                (got, _) => panic!("case {name}: {got:?}"),
            }
        }
        let escape = tempfile::tempdir().expect("temp dir");
        let path = escape.path().join(chunk_name(1));
        let mut builder = tar::Builder::new(File::create(&path).expect("create"));
        let mut header = tar::Header::new_gnu();
        header.set_size(1);
        header.set_entry_type(tar::EntryType::Regular);
        // `append_data` refuses '..', so the name is written into the header directly.
        header.as_gnu_mut().expect("gnu header").name[..9].copy_from_slice(b"../escape");
        header.set_cksum();
        builder.append(&header, &b"x"[..]).expect("append");
        builder.finish().expect("finish");
        let cache_root = tempfile::tempdir().expect("temp dir");
        let err = extract(escape.path(), cache_root.path()).expect_err("must refuse");
        assert!(err.to_string().contains("refusing entry"), "{err}");
    }
}
