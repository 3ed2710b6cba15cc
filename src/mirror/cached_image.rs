//! Images in the disk cache read as files: an image (or one platform image of an index)
//! resolved to its config and layers, small blobs read verified, and one directory of the
//! image's filesystem extracted once into the cache's work space. Operator catalogs (their
//! configs directory) and release payloads (their `release-manifests`) are read this way.

use std::path::PathBuf;

use super::cache::{self, Cache};
use super::layers;
use crate::manifest::{self, Descriptor, Kind};
use crate::reference::{Digest, Reference, RepoName};

/// Why an image in the cache could not be read.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The cache lacks something or can't read it.
    #[error(transparent)]
    Cache(#[from] cache::Error),
    /// Applying the layers failed.
    #[error(transparent)]
    Layers(#[from] layers::Error),
    /// A manifest does not parse.
    #[error("manifest {digest}: {source}")]
    Manifest {
        /// Its digest.
        digest: Digest,
        /// Why.
        source: manifest::Error,
    },
    /// The image is not shaped as expected, or a file operation failed.
    #[error("{0}")]
    Other(String),
}

impl From<tokio::task::JoinError> for Error {
    fn from(e: tokio::task::JoinError) -> Self {
        Error::Other(format!("background task failed: {e}"))
    }
}

/// One platform image: its manifest's config and layers.
pub struct PlatformImage {
    /// The digest of the image manifest.
    pub digest: Digest,
    /// The config blob.
    pub config: Descriptor,
    /// The layers, lowest first.
    pub layers: Vec<Descriptor>,
}

/// The image `digest` of `repo` itself, or for an index its linux/amd64 child (the platforms
/// of a catalog or release carry the same files), else its first child.
///
/// # Errors
/// [`Error`] when a manifest is missing or is not an image.
pub async fn platform_image(cache: &Cache, repo: &RepoName, digest: &Digest) -> Result<PlatformImage, Error> {
    let root = cache.get_manifest(repo, &Reference::Digest(digest.clone())).await?;
    let parsed = parse_manifest(&root.bytes, digest)?;
    let (digest, image) = match parsed.kind {
        Kind::Image => (digest.clone(), parsed),
        Kind::Index => {
            let child = preferred_child(&root.bytes)
                .or_else(|| parsed.children.first().map(|c| c.digest.clone()))
                .ok_or_else(|| Error::Other(format!("index {digest} lists no manifest")))?;
            let stored = cache.get_manifest(repo, &Reference::Digest(child.clone())).await?;
            let image = parse_manifest(&stored.bytes, &child)?;
            if image.kind != Kind::Image {
                return Err(Error::Other(format!("index {digest}: child {child} is not an image")));
            }
            (child, image)
        }
    };
    let mut blobs = image.blobs.into_iter();
    let config = blobs.next().ok_or_else(|| Error::Other(format!("manifest {digest} has no config")))?;
    Ok(PlatformImage { digest, config, layers: blobs.collect() })
}

/// Parses manifest bytes whatever their media type field says (OCI manifests may omit it).
///
/// # Errors
/// [`Error::Manifest`].
pub fn parse_manifest(bytes: &[u8], digest: &Digest) -> Result<manifest::Manifest, Error> {
    manifest::parse(None, bytes)
        .or_else(|_| manifest::parse(Some(manifest::OCI_MANIFEST), bytes))
        .map_err(|source| Error::Manifest { digest: digest.clone(), source })
}

/// The linux/amd64 child of an index, if it lists one.
#[must_use]
pub fn preferred_child(index: &[u8]) -> Option<Digest> {
    let value: serde_json::Value = serde_json::from_slice(index).ok()?;
    value["manifests"].as_array()?.iter().find_map(|m| {
        let platform = &m["platform"];
        (platform["os"] == "linux" && platform["architecture"] == "amd64")
            .then(|| m["digest"].as_str()?.parse().ok())
            .flatten()
    })
}

/// Reads a small blob (a config) whole, verified against its digest.
///
/// # Errors
/// [`Error::Other`] when it is missing or does not match.
pub async fn read_blob(cache: &Cache, digest: &Digest) -> Result<Vec<u8>, Error> {
    let path = cache.blob_path(digest);
    let bytes = tokio::fs::read(&path).await.map_err(|e| Error::Other(format!("{}: {e}", path.display())))?;
    if Digest::of(digest.algorithm(), &bytes) != *digest {
        return Err(Error::Other(format!("{}: content does not match {digest}", path.display())));
    }
    Ok(bytes)
}

/// Extracts the directory `subtree` of `image` (whose root manifest is `root`) into
/// `<work dir of root>/<name>` once; later calls find it complete and return at once. Returns
/// the extracted directory.
///
/// # Errors
/// [`Error`] when a layer is missing or broken.
pub async fn extract_dir(
    cache: &Cache,
    root: &Digest,
    image: &PlatformImage,
    subtree: &str,
    name: &str,
) -> Result<PathBuf, Error> {
    let work = cache.work_dir(root);
    let out = work.join(name);
    let done = work.join(format!("{name}.complete"));
    if tokio::fs::metadata(&done).await.is_ok() {
        return Ok(out);
    }
    let layers: Vec<PathBuf> = image.layers.iter().map(|l| cache.blob_path(&l.digest)).collect();
    let (subtree, dir) = (subtree.to_string(), out.clone());
    tokio::task::spawn_blocking(move || -> Result<(), Error> {
        let other = |path: &std::path::Path, e: std::io::Error| Error::Other(format!("{}: {e}", path.display()));
        if dir.exists() {
            std::fs::remove_dir_all(&dir).map_err(|e| other(&dir, e))?;
        }
        if let Some(parent) = dir.parent() {
            std::fs::create_dir_all(parent).map_err(|e| other(parent, e))?;
        }
        let files = layers::extract_subtree(&layers, &subtree, &dir)?;
        tracing::debug!(files, dir = %dir.display(), "extracted from the image's layers");
        // The marker is written last: an interrupted extraction is redone, never half-read.
        std::fs::write(&done, b"").map_err(|e| other(&done, e))
    })
    .await??;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multi_arch_images_are_read_from_their_amd64_child() {
        let d = |n: u8| format!("sha256:{}", hex::encode([n; 32]));
        let index = serde_json::json!({"manifests": [
            {"digest": d(1), "platform": {"os": "linux", "architecture": "arm64"}},
            {"digest": d(2), "platform": {"os": "linux", "architecture": "amd64"}},
        ]});
        assert_eq!(preferred_child(index.to_string().as_bytes()), Some(d(2).parse().expect("digest")));
        let no_amd64 =
            serde_json::json!({"manifests": [{"digest": d(1), "platform": {"os": "linux", "architecture": "s390x"}}]});
        assert_eq!(preferred_child(no_amd64.to_string().as_bytes()), None);
    }
}
