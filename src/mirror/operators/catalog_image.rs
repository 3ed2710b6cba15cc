//! Catalog images in the disk cache: the configs directory extracted from a catalog's layers and
//! read, and the filtered catalog built next to the original (new layer, configs, manifests,
//! index), every blob verified on the way in.

use std::collections::HashMap;
use std::path::PathBuf;

use bytes::Bytes;

use super::fbc::{self, Catalog};
use super::select::Selection;
use super::{Error, layers, prune, rebuild};
use crate::manifest::{self, Descriptor, Kind};
use crate::mirror::cache::{self, Cache};
use crate::reference::{Digest, Reference, RepoName, Tag};

/// Failures while reading or rebuilding a catalog image, before the catalog's name is known to
/// the message.
#[derive(Debug, thiserror::Error)]
pub(super) enum ImageError {
    #[error(transparent)]
    Cache(#[from] cache::Error),
    #[error(transparent)]
    Layers(#[from] layers::Error),
    #[error(transparent)]
    Rebuild(#[from] rebuild::Error),
    #[error(transparent)]
    Fbc(#[from] fbc::Error),
    #[error("manifest {digest}: {source}")]
    Manifest { digest: Digest, source: manifest::Error },
    #[error("{0}")]
    Other(String),
}

impl ImageError {
    pub(super) fn named(self, catalog: &str) -> Error {
        Error::image(catalog, self)
    }
}

impl From<tokio::task::JoinError> for ImageError {
    fn from(e: tokio::task::JoinError) -> Self {
        ImageError::Other(format!("background task failed: {e}"))
    }
}

/// A catalog image read from the cache: its model and where its configs were extracted.
pub struct ReadCatalog {
    /// The catalog.
    pub catalog: Catalog,
    /// The extracted configs directory.
    pub configs: PathBuf,
    /// The configs directory inside the image (the label's value).
    pub configs_label: String,
    /// The `opm serve` cache directory inside the image, stale once the catalog is filtered.
    pub serve_cache: Option<String>,
}

/// Extracts the configs of the catalog `digest` (stored in `repo` of the cache) and reads them.
/// The extraction is kept under the cache's catalog directory, so a re-run reads it again
/// instead of unpacking the layers.
pub(super) async fn read_catalog(cache: &Cache, repo: &RepoName, digest: &Digest) -> Result<ReadCatalog, ImageError> {
    let image = platform_image(cache, repo, digest).await?;
    let config_bytes = read_blob(cache, &image.config.digest).await?;
    let (configs_label, serve_cache) = rebuild::catalog_dirs(&config_bytes)?;
    let work = cache.catalog_dir(digest);
    let configs = work.join("configs");
    let done = work.join("configs.complete");
    if tokio::fs::metadata(&done).await.is_err() {
        let layers: Vec<PathBuf> = image.layers.iter().map(|l| cache.blob_path(&l.digest)).collect();
        let (label, out, marker) = (configs_label.clone(), configs.clone(), done.clone());
        tokio::task::spawn_blocking(move || -> Result<(), ImageError> {
            if out.exists() {
                std::fs::remove_dir_all(&out).map_err(|e| ImageError::Other(format!("{}: {e}", out.display())))?;
            }
            if let Some(parent) = out.parent() {
                std::fs::create_dir_all(parent).map_err(|e| ImageError::Other(format!("{}: {e}", parent.display())))?;
            }
            let files = layers::extract_subtree(&layers, &label, &out)?;
            tracing::debug!(files, dir = %out.display(), "catalog configs extracted");
            std::fs::write(&marker, b"").map_err(|e| ImageError::Other(format!("{}: {e}", marker.display())))?;
            Ok(())
        })
        .await??;
    }
    let dir = configs.clone();
    let catalog = tokio::task::spawn_blocking(move || fbc::read_dir(&dir)).await??;
    Ok(ReadCatalog { catalog, configs, configs_label, serve_cache })
}

/// One platform image of a catalog: its manifest, config and layers.
struct PlatformImage {
    config: Descriptor,
    layers: Vec<Descriptor>,
}

/// The image whose configs are read: the catalog itself, or for a multi-arch catalog the
/// linux/amd64 child (every platform carries the same configs; only the `opm` binary differs),
/// else the first child.
async fn platform_image(cache: &Cache, repo: &RepoName, digest: &Digest) -> Result<PlatformImage, ImageError> {
    let root = cache.get_manifest(repo, &Reference::Digest(digest.clone())).await?;
    let parsed = parse_manifest(&root.bytes, digest)?;
    let image = match parsed.kind {
        Kind::Image => parsed,
        Kind::Index => {
            let child = preferred_child(&root.bytes)
                .or_else(|| parsed.children.first().map(|c| c.digest.clone()))
                .ok_or_else(|| ImageError::Other(format!("index {digest} lists no manifest")))?;
            let stored = cache.get_manifest(repo, &Reference::Digest(child.clone())).await?;
            let image = parse_manifest(&stored.bytes, &child)?;
            if image.kind != Kind::Image {
                return Err(ImageError::Other(format!("index {digest}: child {child} is not an image")));
            }
            image
        }
    };
    let mut blobs = image.blobs.into_iter();
    let config = blobs.next().ok_or_else(|| ImageError::Other(format!("manifest {digest} has no config")))?;
    Ok(PlatformImage { config, layers: blobs.collect() })
}

fn parse_manifest(bytes: &[u8], digest: &Digest) -> Result<manifest::Manifest, ImageError> {
    manifest::parse(None, bytes)
        .or_else(|_| manifest::parse(Some(manifest::OCI_MANIFEST), bytes))
        .map_err(|source| ImageError::Manifest { digest: digest.clone(), source })
}

/// The linux/amd64 child of an index, if it lists one.
fn preferred_child(index: &[u8]) -> Option<Digest> {
    let value: serde_json::Value = serde_json::from_slice(index).ok()?;
    value["manifests"].as_array()?.iter().find_map(|m| {
        let platform = &m["platform"];
        (platform["os"] == "linux" && platform["architecture"] == "amd64")
            .then(|| m["digest"].as_str()?.parse().ok())
            .flatten()
    })
}

async fn read_blob(cache: &Cache, digest: &Digest) -> Result<Vec<u8>, ImageError> {
    let path = cache.blob_path(digest);
    let bytes = tokio::fs::read(&path).await.map_err(|e| ImageError::Other(format!("{}: {e}", path.display())))?;
    if Digest::of(digest.algorithm(), &bytes) != *digest {
        return Err(ImageError::Other(format!("{}: content does not match {digest}", path.display())));
    }
    Ok(bytes)
}

/// Builds the filtered catalog in the cache under `repo:tag` and returns its digest: the
/// selected documents written, one new layer, and for each platform image a new config and
/// manifest (and a new index for a multi-arch catalog).
pub(super) async fn rebuild_catalog(
    cache: &Cache,
    repo: &RepoName,
    tag: &Tag,
    original: &Digest,
    read: &ReadCatalog,
    selection: &Selection,
    annotations: &[(String, String)],
) -> Result<Digest, ImageError> {
    let work = cache.catalog_dir(original).join(format!("rebuild-{}", uuid::Uuid::new_v4()));
    let result = async {
        tokio::fs::create_dir_all(&work).await.map_err(|e| ImageError::Other(format!("{}: {e}", work.display())))?;
        let (configs, filtered, layer_file) = (read.configs.clone(), work.join("configs"), work.join("layer.tar.gz"));
        let (label, remove) = (read.configs_label.clone(), read.serve_cache.iter().cloned().collect::<Vec<_>>());
        let selection = selection.clone();
        let layer = tokio::task::spawn_blocking(move || -> Result<rebuild::BuiltLayer, ImageError> {
            prune::write_filtered(&configs, &selection, &filtered)?;
            Ok(rebuild::build_layer(&filtered, &label, &remove, &layer_file)?)
        })
        .await??;
        cache.put_blob_file(repo, &layer.file, &layer.digest, layer.size).await?;

        let root = cache.get_manifest(repo, &Reference::Digest(original.clone())).await?;
        let parsed = parse_manifest(&root.bytes, original)?;
        let (bytes, _) = match parsed.kind {
            Kind::Image => rebuild_image(cache, repo, &root.bytes, original, &layer, annotations).await?,
            Kind::Index => {
                let mut children = HashMap::new();
                for child in &parsed.children {
                    let stored = cache.get_manifest(repo, &Reference::Digest(child.digest.clone())).await?;
                    let (bytes, media_type) =
                        rebuild_image(cache, repo, &stored.bytes, &child.digest, &layer, annotations).await?;
                    let digest = Digest::of(child.digest.algorithm(), &bytes);
                    cache.put_manifest(repo, &Bytes::from(bytes.clone()), &digest, None).await?;
                    let size = bytes.len() as u64;
                    children.insert(child.digest.clone(), Descriptor { media_type, digest, size, foreign: false });
                }
                rebuild::rebuild_index(&root.bytes, &children, annotations)?
            }
        };
        let digest = Digest::of(original.algorithm(), &bytes);
        cache.put_manifest(repo, &Bytes::from(bytes), &digest, Some(tag)).await?;
        Ok(digest)
    }
    .await;
    // The scratch files (filtered configs, layer file) are not needed once the blobs are in.
    let _ = tokio::fs::remove_dir_all(&work).await;
    result
}

/// One platform image with the new layer: new config blob, new manifest bytes (not stored).
async fn rebuild_image(
    cache: &Cache,
    repo: &RepoName,
    manifest_bytes: &[u8],
    digest: &Digest,
    layer: &rebuild::BuiltLayer,
    annotations: &[(String, String)],
) -> Result<(Vec<u8>, String), ImageError> {
    let parsed = parse_manifest(manifest_bytes, digest)?;
    let config = parsed.blobs.first().ok_or_else(|| ImageError::Other(format!("manifest {digest} has no config")))?;
    let config_bytes = read_blob(cache, &config.digest).await?;
    let new_config = rebuild::rebuild_config(&config_bytes, layer, "mirror-registry: filtered file-based catalog")?;
    let new_digest = Digest::of(config.digest.algorithm(), &new_config);
    cache.put_blob(repo, &new_config, &new_digest).await?;
    let descriptor = Descriptor {
        media_type: config.media_type.clone(),
        digest: new_digest,
        size: new_config.len() as u64,
        foreign: false,
    };
    Ok(rebuild::rebuild_manifest(manifest_bytes, &descriptor, layer, annotations)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multi_arch_catalogs_are_read_from_their_amd64_image() {
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
