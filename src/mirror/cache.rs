//! The disk cache: a directory in the CNCF distribution filesystem layout, so that Debian's
//! `docker-registry` (distribution 2.8) pointed at it serves its images, and so that archives
//! interoperate with oc-mirror's. Only this module builds paths inside it.
//!
//! ```text
//! <cache>/docker/registry/v2/
//!   blobs/<alg>/<hh>/<hex>/data                          content (blobs and manifests), verified
//!   repositories/<name>/
//!     _layers/<alg>/<hex>/link                           "alg:hex": the repository holds the blob
//!     _manifests/revisions/<alg>/<hex>/link              the repository holds the manifest
//!     _manifests/tags/<tag>/current/link                 the tag points at this manifest
//!     _manifests/tags/<tag>/index/<alg>/<hex>/link       and has pointed at it
//! <cache>/partial/<alg>-<hex>                            downloads in progress (resumable)
//! <cache>/extracted/<alg>-<hex>/                         work space of the image with that digest:
//!                                                        a catalog's configs and rebuild files, a
//!                                                        release's release-manifests
//! <cache>/destinations/<host[:port]>.blobs               blobs known to be on that destination
//!                                                        registry (see `known_blobs`)
//! ```
//!
//! `delete --force-cache-delete` removes tags and revision links ([`Cache::delete_manifest`]);
//! nothing removes blobs yet.
//!
//! A blob file appears only complete and verified: it is written under `partial/`, hashed on
//! the way, fsynced and renamed into `blobs/`. Links are written after the content they name.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::reference::{Digest, Hasher, Reference, RepoName, Tag};

/// Why a cache operation failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file operation failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The cache has no such manifest, tag or blob.
    #[error("{what} is not in the cache")]
    NotFound {
        /// What was looked for.
        what: String,
    },
    /// A link or blob holds something else than expected.
    #[error("{path}: {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io { path: path.to_path_buf(), source }
}

/// A manifest read from the cache, verified against its digest.
#[derive(Debug, Clone)]
pub struct CachedManifest {
    /// The bytes as stored.
    pub bytes: Bytes,
    /// Its digest.
    pub digest: Digest,
}

/// The cache directory.
#[derive(Debug, Clone)]
pub struct Cache {
    root: PathBuf,
}

impl Cache {
    /// The cache rooted at `root` (the directory that holds `docker/`). Nothing is created yet.
    #[must_use]
    pub fn new(root: &Path) -> Cache {
        Cache { root: root.to_path_buf() }
    }

    /// The cache directory.
    #[must_use]
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `docker/registry/v2` under the root.
    #[must_use]
    pub fn v2(&self) -> PathBuf {
        self.root.join("docker/registry/v2")
    }

    /// Where the content of `digest` lives.
    #[must_use]
    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.v2().join(blob_relative_path(digest))
    }

    /// Work space for files read out of the image whose manifest has `digest` (a catalog's
    /// configs, a release's manifests). Never archived: only `docker/registry/v2` goes into
    /// archives.
    #[must_use]
    pub fn work_dir(&self, digest: &Digest) -> PathBuf {
        self.root.join("extracted").join(format!("{}-{}", digest.algorithm().name(), digest.hex()))
    }

    /// The record of blobs known to be on destination `registry` (`host[:port]`). Characters
    /// other than letters, digits, `.`, `-` and `:` are replaced, so the name stays one file.
    #[must_use]
    pub fn known_blobs_file(&self, registry: &str) -> PathBuf {
        let name: String = registry
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':') { c } else { '_' })
            .collect();
        self.root.join("destinations").join(format!("{name}.blobs"))
    }

    /// Stores a small blob (a config) given whole, verified against `digest`, and links it into
    /// `repo`.
    ///
    /// # Errors
    /// [`Error::Corrupt`] when `bytes` do not hash to `digest`, [`Error::Io`].
    pub async fn put_blob(&self, repo: &RepoName, bytes: &[u8], digest: &Digest) -> Result<(), Error> {
        if !self.has_blob(digest).await {
            let mut writer = self.resume_blob(digest, bytes.len() as u64).await?;
            writer.reset().await?;
            writer.write(bytes).await?;
            writer.commit(digest, bytes.len() as u64).await?;
        }
        self.link_blob(repo, digest).await
    }

    /// Stores the blob in file `source` (streamed, verified against `digest` and `size`), and
    /// links it into `repo`.
    ///
    /// # Errors
    /// [`Error::Corrupt`] on a mismatch, [`Error::Io`].
    pub async fn put_blob_file(&self, repo: &RepoName, source: &Path, digest: &Digest, size: u64) -> Result<(), Error> {
        if !self.has_blob(digest).await {
            let mut file = tokio::fs::File::open(source).await.map_err(io_error(source))?;
            let mut writer = self.resume_blob(digest, size).await?;
            writer.reset().await?;
            let mut buf = vec![0u8; 1 << 20];
            loop {
                let n = file.read(&mut buf).await.map_err(io_error(source))?;
                if n == 0 {
                    break;
                }
                writer.write(&buf[..n]).await?;
            }
            writer.commit(digest, size).await?;
        }
        self.link_blob(repo, digest).await
    }

    fn partial_path(&self, digest: &Digest) -> PathBuf {
        self.root.join("partial").join(format!("{}-{}", digest.algorithm().name(), digest.hex()))
    }

    fn repo_dir(&self, repo: &RepoName) -> PathBuf {
        self.v2().join("repositories").join(repo.as_str())
    }

    fn layer_link(&self, repo: &RepoName, digest: &Digest) -> PathBuf {
        self.repo_dir(repo).join("_layers").join(digest.algorithm().name()).join(digest.hex()).join("link")
    }

    fn revision_link(&self, repo: &RepoName, digest: &Digest) -> PathBuf {
        self.repo_dir(repo).join("_manifests/revisions").join(digest.algorithm().name()).join(digest.hex()).join("link")
    }

    fn tag_dir(&self, repo: &RepoName, tag: &Tag) -> PathBuf {
        self.repo_dir(repo).join("_manifests/tags").join(tag.as_str())
    }

    /// Whether the blob's content is in the cache.
    pub async fn has_blob(&self, digest: &Digest) -> bool {
        tokio::fs::metadata(self.blob_path(digest)).await.is_ok_and(|m| m.is_file())
    }

    /// Opens a blob for reading; returns the file and its size.
    ///
    /// # Errors
    /// [`Error::NotFound`] when absent, [`Error::Io`] otherwise.
    pub async fn open_blob(&self, digest: &Digest) -> Result<(tokio::fs::File, u64), Error> {
        let path = self.blob_path(digest);
        let file = match tokio::fs::File::open(&path).await {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::NotFound { what: format!("blob {digest}") });
            }
            Err(e) => return Err(io_error(&path)(e)),
        };
        let size = file.metadata().await.map_err(io_error(&path))?.len();
        Ok((file, size))
    }

    /// Starts or resumes writing a blob: hashes what an interrupted download left, and returns
    /// a writer positioned after it.
    ///
    /// # Errors
    /// [`Error::Io`].
    pub async fn resume_blob(&self, digest: &Digest, size: u64) -> Result<BlobWriter, Error> {
        let path = self.partial_path(digest);
        let dir = path.parent().expect("partial path has a parent");
        tokio::fs::create_dir_all(dir).await.map_err(io_error(dir))?;
        let mut hasher = digest.algorithm().hasher();
        let mut offset = 0;
        if let Ok(mut file) = tokio::fs::File::open(&path).await {
            let mut buf = vec![0u8; 1 << 20];
            loop {
                let n = file.read(&mut buf).await.map_err(io_error(&path))?;
                if n == 0 {
                    break;
                }
                hasher.update(&buf[..n]);
                offset += n as u64;
            }
        }
        if offset >= size && size > 0 {
            // A partial file as long as the blob did not verify last time: start over.
            hasher = digest.algorithm().hasher();
            offset = 0;
        }
        let file =
            tokio::fs::OpenOptions::new().create(true).append(true).open(&path).await.map_err(io_error(&path))?;
        if offset == 0 {
            file.set_len(0).await.map_err(io_error(&path))?;
        }
        Ok(BlobWriter {
            file: tokio::io::BufWriter::with_capacity(1 << 20, file),
            partial: path,
            target: self.blob_path(digest),
            hasher,
            offset,
        })
    }

    /// Records that `repo` holds the blob (its `_layers` link).
    ///
    /// # Errors
    /// [`Error::Io`].
    pub async fn link_blob(&self, repo: &RepoName, digest: &Digest) -> Result<(), Error> {
        write_link(&self.layer_link(repo, digest), digest).await
    }

    /// Whether `repo` links the blob and its content is present.
    pub async fn repo_has_blob(&self, repo: &RepoName, digest: &Digest) -> bool {
        tokio::fs::metadata(self.layer_link(repo, digest)).await.is_ok() && self.has_blob(digest).await
    }

    /// Stores a manifest in `repo`: content, revision link and, with a tag, the tag links.
    /// `digest` must be the digest of `bytes` (it is checked).
    ///
    /// # Errors
    /// [`Error::Corrupt`] when `bytes` do not hash to `digest`, [`Error::Io`].
    pub async fn put_manifest(
        &self,
        repo: &RepoName,
        bytes: &Bytes,
        digest: &Digest,
        tag: Option<&Tag>,
    ) -> Result<(), Error> {
        let target = self.blob_path(digest);
        if !self.has_blob(digest).await {
            let actual = Digest::of(digest.algorithm(), bytes);
            if actual != *digest {
                return Err(Error::Corrupt { path: target, reason: format!("manifest hashes to {actual}") });
            }
            // Manifests are small and may be stored by several images at once (shared
            // children): each writer uses its own temporary file.
            let dir = target.parent().expect("blob path has a parent");
            tokio::fs::create_dir_all(dir).await.map_err(io_error(dir))?;
            let tmp = dir.join(format!(".data.{}", uuid::Uuid::new_v4()));
            tokio::fs::write(&tmp, bytes).await.map_err(io_error(&tmp))?;
            tokio::fs::rename(&tmp, &target).await.map_err(io_error(&target))?;
        }
        write_link(&self.revision_link(repo, digest), digest).await?;
        if let Some(tag) = tag {
            let dir = self.tag_dir(repo, tag);
            let index = dir.join("index").join(digest.algorithm().name()).join(digest.hex()).join("link");
            write_link(&index, digest).await?;
            write_link(&dir.join("current/link"), digest).await?;
        }
        Ok(())
    }

    /// Takes a manifest out of `repo` (`delete --force-cache-delete`): by tag, that tag; by
    /// digest, every tag pointing at it. The revision link goes too once no tag of the
    /// repository points at the digest, so the manifest is no longer in the repository. Its
    /// content and its blobs stay in `blobs/`: other images may share them, and the cache has
    /// no collector yet. Returns whether anything was removed.
    ///
    /// # Errors
    /// [`Error::Io`] or [`Error::Corrupt`] for an unreadable link.
    pub async fn delete_manifest(&self, repo: &RepoName, reference: &Reference) -> Result<bool, Error> {
        let tags = self.tags_of(repo).await?;
        let (digest, doomed): (Digest, Vec<&Tag>) = match reference {
            Reference::Tag(tag) => match tags.iter().find(|(t, _)| t == tag) {
                Some((t, d)) => (d.clone(), vec![t]),
                None => return Ok(false),
            },
            Reference::Digest(d) => (d.clone(), tags.iter().filter(|(_, td)| td == d).map(|(t, _)| t).collect()),
        };
        let mut removed = false;
        for tag in &doomed {
            let dir = self.tag_dir(repo, tag);
            tokio::fs::remove_dir_all(&dir).await.map_err(io_error(&dir))?;
            removed = true;
        }
        let still_tagged = tags.iter().any(|(t, d)| *d == digest && !doomed.contains(&t));
        let revision = self.revision_link(repo, &digest);
        let revision_dir = revision.parent().expect("link paths have a parent");
        if !still_tagged && tokio::fs::metadata(&revision).await.is_ok() {
            tokio::fs::remove_dir_all(revision_dir).await.map_err(io_error(revision_dir))?;
            removed = true;
        }
        Ok(removed)
    }

    /// Every tag of `repo` with the digest it points at.
    async fn tags_of(&self, repo: &RepoName) -> Result<Vec<(Tag, Digest)>, Error> {
        let dir = self.repo_dir(repo).join("_manifests/tags");
        let mut entries = match tokio::fs::read_dir(&dir).await {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io_error(&dir)(e)),
        };
        let mut out = Vec::new();
        while let Some(entry) = entries.next_entry().await.map_err(io_error(&dir))? {
            let Some(tag) = entry.file_name().to_str().and_then(|n| n.parse::<Tag>().ok()) else { continue };
            if let Some(digest) = read_link(&entry.path().join("current/link")).await? {
                out.push((tag, digest));
            }
        }
        Ok(out)
    }

    /// The digest a tag points at, if the tag exists.
    ///
    /// # Errors
    /// [`Error::Io`] or [`Error::Corrupt`] for an unreadable link.
    pub async fn resolve_tag(&self, repo: &RepoName, tag: &Tag) -> Result<Option<Digest>, Error> {
        read_link(&self.tag_dir(repo, tag).join("current/link")).await
    }

    /// Reads a manifest by tag or digest, verifying its content against its digest.
    ///
    /// # Errors
    /// [`Error::NotFound`], [`Error::Corrupt`] (content does not match), [`Error::Io`].
    pub async fn get_manifest(&self, repo: &RepoName, reference: &Reference) -> Result<CachedManifest, Error> {
        let not_found = || Error::NotFound { what: format!("manifest {repo}:{reference}") };
        let digest = match reference {
            Reference::Tag(tag) => self.resolve_tag(repo, tag).await?.ok_or_else(not_found)?,
            Reference::Digest(d) => {
                if read_link(&self.revision_link(repo, d)).await?.is_none() {
                    return Err(not_found());
                }
                d.clone()
            }
        };
        let path = self.blob_path(&digest);
        let bytes = match tokio::fs::read(&path).await {
            Ok(b) => Bytes::from(b),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(not_found()),
            Err(e) => return Err(io_error(&path)(e)),
        };
        let actual = Digest::of(digest.algorithm(), &bytes);
        if actual != digest {
            return Err(Error::Corrupt { path, reason: format!("content hashes to {actual}, not {digest}") });
        }
        Ok(CachedManifest { bytes, digest })
    }
}

/// `blobs/<alg>/<hh>/<hex>/data`, relative to `docker/registry/v2`.
#[must_use]
pub fn blob_relative_path(digest: &Digest) -> PathBuf {
    let hex = digest.hex();
    Path::new("blobs").join(digest.algorithm().name()).join(&hex[..2]).join(hex).join("data")
}

/// The digest a `blobs/<alg>/<hh>/<hex>/data` path (relative to `docker/registry/v2`) names.
#[must_use]
pub fn digest_of_blob_path(relative: &Path) -> Option<Digest> {
    let parts: Vec<&str> = relative.iter().filter_map(|p| p.to_str()).collect();
    match parts.as_slice() {
        ["blobs", alg, prefix, hex, "data"] if hex.starts_with(prefix) && prefix.len() == 2 => {
            format!("{alg}:{hex}").parse().ok()
        }
        _ => None,
    }
}

async fn write_link(path: &Path, digest: &Digest) -> Result<(), Error> {
    let dir = path.parent().expect("link paths have a parent");
    tokio::fs::create_dir_all(dir).await.map_err(io_error(dir))?;
    let tmp = dir.join(format!(".link.{}", uuid::Uuid::new_v4()));
    tokio::fs::write(&tmp, digest.to_string()).await.map_err(io_error(&tmp))?;
    tokio::fs::rename(&tmp, path).await.map_err(io_error(path))
}

async fn read_link(path: &Path) -> Result<Option<Digest>, Error> {
    match tokio::fs::read_to_string(path).await {
        Ok(text) => text
            .trim()
            .parse::<Digest>()
            .map(Some)
            .map_err(|e| Error::Corrupt { path: path.to_path_buf(), reason: e.to_string() }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_error(path)(e)),
    }
}

/// A blob being written into the cache: appended under `partial/` while hashed, renamed into
/// `blobs/` by [`BlobWriter::commit`] once size and digest match.
pub struct BlobWriter {
    file: tokio::io::BufWriter<tokio::fs::File>,
    partial: PathBuf,
    target: PathBuf,
    hasher: Hasher,
    offset: u64,
}

impl BlobWriter {
    /// Bytes already present (from an interrupted download).
    #[must_use]
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Drops what an interrupted download left (the source could not resume it).
    ///
    /// # Errors
    /// [`Error::Io`].
    pub async fn reset(&mut self) -> Result<(), Error> {
        self.file.flush().await.map_err(io_error(&self.partial))?;
        self.file.get_ref().set_len(0).await.map_err(io_error(&self.partial))?;
        self.hasher = self.hasher.algorithm().hasher();
        self.offset = 0;
        Ok(())
    }

    /// Appends bytes.
    ///
    /// # Errors
    /// [`Error::Io`].
    pub async fn write(&mut self, chunk: &[u8]) -> Result<(), Error> {
        self.file.write_all(chunk).await.map_err(io_error(&self.partial))?;
        self.hasher.update(chunk);
        self.offset += chunk.len() as u64;
        Ok(())
    }

    /// Keeps what was written for a later resume.
    ///
    /// # Errors
    /// [`Error::Io`].
    pub async fn suspend(mut self) -> Result<(), Error> {
        self.file.flush().await.map_err(io_error(&self.partial))
    }

    /// Checks size and digest, then fsyncs and renames the blob into place. A mismatch deletes
    /// the partial file.
    ///
    /// # Errors
    /// [`Error::Corrupt`] on a mismatch, [`Error::Io`].
    pub async fn commit(mut self, digest: &Digest, size: u64) -> Result<(), Error> {
        self.file.flush().await.map_err(io_error(&self.partial))?;
        let actual = self.hasher.finish();
        if self.offset != size || actual != *digest {
            let _ = tokio::fs::remove_file(&self.partial).await;
            return Err(Error::Corrupt {
                path: self.partial,
                reason: format!("{} bytes hashing to {actual}; expected {size} bytes of {digest}", self.offset),
            });
        }
        self.file.get_ref().sync_all().await.map_err(io_error(&self.partial))?;
        let dir = self.target.parent().expect("blob path has a parent");
        tokio::fs::create_dir_all(dir).await.map_err(io_error(dir))?;
        tokio::fs::rename(&self.partial, &self.target).await.map_err(io_error(&self.target))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn manifests_round_trip_through_distribution_layout() {
        let dir = tempfile::tempdir().expect("temp dir");
        let cache = Cache::new(dir.path());
        let repo: RepoName = "ns/app".parse().expect("repo");
        let tag: Tag = "v1".parse().expect("tag");
        let body = Bytes::from_static(br#"{"schemaVersion":2}"#);
        let digest = Digest::of(crate::reference::Algorithm::Sha256, &body);
        cache.put_manifest(&repo, &body, &digest, Some(&tag)).await.expect("put");
        let hex = digest.hex();
        let v2 = dir.path().join("docker/registry/v2");
        let link =
            std::fs::read_to_string(v2.join("repositories/ns/app/_manifests/tags/v1/current/link")).expect("link");
        assert_eq!(link, digest.to_string());
        assert!(v2.join(format!("blobs/sha256/{}/{hex}/data", &hex[..2])).is_file());
        assert!(v2.join(format!("repositories/ns/app/_manifests/revisions/sha256/{hex}/link")).is_file());
        assert!(v2.join(format!("repositories/ns/app/_manifests/tags/v1/index/sha256/{hex}/link")).is_file());
        let by_tag = cache.get_manifest(&repo, &Reference::Tag(tag)).await.expect("by tag");
        assert_eq!(by_tag.bytes, body);
        let by_digest = cache.get_manifest(&repo, &Reference::Digest(digest.clone())).await.expect("by digest");
        assert_eq!(by_digest.digest, digest);
    }

    #[tokio::test]
    async fn deleting_a_manifest_untags_and_unlinks_it_but_keeps_its_content() {
        let dir = tempfile::tempdir().expect("temp dir");
        let cache = Cache::new(dir.path());
        let repo: RepoName = "ns/app".parse().expect("repo");
        let body = Bytes::from_static(br#"{"schemaVersion":2}"#);
        let digest = Digest::of(crate::reference::Algorithm::Sha256, &body);
        let (v1, v2): (Tag, Tag) = ("v1".parse().expect("tag"), "v2".parse().expect("tag"));
        cache.put_manifest(&repo, &body, &digest, Some(&v1)).await.expect("put v1");
        cache.put_manifest(&repo, &body, &digest, Some(&v2)).await.expect("put v2");

        assert!(cache.delete_manifest(&repo, &Reference::Tag(v1.clone())).await.expect("delete v1"));
        assert!(cache.get_manifest(&repo, &Reference::Tag(v1.clone())).await.is_err(), "v1 untagged");
        let by_digest = Reference::Digest(digest.clone());
        assert!(cache.get_manifest(&repo, &by_digest).await.is_ok(), "v2 still names the manifest");

        assert!(cache.delete_manifest(&repo, &Reference::Tag(v2)).await.expect("delete v2"));
        assert!(cache.get_manifest(&repo, &by_digest).await.is_err(), "no tag left: unlinked");
        assert!(cache.has_blob(&digest).await, "content stays for a later cleanup");
        assert!(!cache.delete_manifest(&repo, &Reference::Tag(v1)).await.expect("again"), "nothing left to remove");
        assert!(!cache.delete_manifest(&repo, &by_digest).await.expect("again"), "nothing left to remove");
    }

    #[tokio::test]
    async fn blobs_appear_only_when_verified_and_resume() {
        let dir = tempfile::tempdir().expect("temp dir");
        let cache = Cache::new(dir.path());
        let data = b"0123456789";
        let digest = Digest::of(crate::reference::Algorithm::Sha256, data);
        let mut w = cache.resume_blob(&digest, 10).await.expect("start");
        w.write(&data[..4]).await.expect("write");
        w.suspend().await.expect("suspend");
        assert!(!cache.has_blob(&digest).await, "a partial blob must not be visible");
        let mut w = cache.resume_blob(&digest, 10).await.expect("resume");
        assert_eq!(w.offset(), 4);
        w.write(&data[4..]).await.expect("write");
        w.commit(&digest, 10).await.expect("commit");
        assert!(cache.has_blob(&digest).await);

        let wrong = Digest::of(crate::reference::Algorithm::Sha256, b"other");
        let mut w = cache.resume_blob(&wrong, 10).await.expect("start");
        w.write(data).await.expect("write");
        assert!(w.commit(&wrong, 10).await.is_err());
        assert!(!cache.has_blob(&wrong).await);
    }

    #[test]
    fn blob_paths_parse_back() {
        let digest: Digest =
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855".parse().expect("digest");
        assert_eq!(digest_of_blob_path(&blob_relative_path(&digest)), Some(digest));
        assert_eq!(digest_of_blob_path(Path::new("blobs/sha256/zz/abc/data")), None);
        assert_eq!(digest_of_blob_path(Path::new("repositories/x/_layers/sha256/ab/link")), None);
    }
}
