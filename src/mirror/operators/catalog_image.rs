//! Catalog images in the disk cache: the configs directory extracted from a catalog's layers and
//! read, and the filtered catalog built next to the original (new layer, configs, manifests,
//! index), every blob verified on the way in.

use std::collections::HashMap;
use std::path::PathBuf;

use bytes::Bytes;

use super::fbc::{self, Catalog};
use super::select::Selection;
use super::{Error, prune};
use crate::manifest::{Descriptor, Kind};
use crate::mirror::cache::{self, Cache};
use crate::mirror::cached_image::{self, parse_manifest, platform_image, read_blob};
use crate::mirror::rebuild;
use crate::reference::{Digest, Reference, RepoName, Tag};

/// Failures while reading or rebuilding a catalog image, before the catalog's name is known to
/// the message.
#[derive(Debug, thiserror::Error)]
pub(super) enum ImageError {
    #[error(transparent)]
    Cache(#[from] cache::Error),
    #[error(transparent)]
    Image(#[from] cached_image::Error),
    #[error(transparent)]
    Rebuild(#[from] rebuild::Error),
    #[error(transparent)]
    Fbc(#[from] fbc::Error),
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
/// The extraction is kept in the cache's work space, so a re-run reads it again instead of
/// unpacking the layers.
pub(super) async fn read_catalog(cache: &Cache, repo: &RepoName, digest: &Digest) -> Result<ReadCatalog, ImageError> {
    let image = platform_image(cache, repo, digest).await?;
    let config_bytes = read_blob(cache, &image.config.digest).await?;
    let (configs_label, serve_cache) = catalog_dirs(&config_bytes)?;
    let configs = cached_image::extract_dir(cache, digest, &image, &configs_label, "configs").await?;
    let dir = configs.clone();
    let catalog = tokio::task::spawn_blocking(move || fbc::read_dir(&dir)).await??;
    Ok(ReadCatalog { catalog, configs, configs_label, serve_cache })
}

/// What a catalog config says about itself: the configs directory (label
/// `operators.operatorframework.io.index.configs.v1`) and the cache directory of `opm serve`
/// (`--cache-dir=DIR` or `--cache-dir DIR` in `Cmd` or `Entrypoint`), if any.
///
/// # Errors
/// [`rebuild::Error::Invalid`] when the config is not JSON or lacks the label.
pub(super) fn catalog_dirs(config: &[u8]) -> Result<(String, Option<String>), rebuild::Error> {
    let object = rebuild::parse_object(config, "image config")?;
    let run = object.get("config").and_then(serde_json::Value::as_object);
    let configs = run
        .and_then(|c| c.get("Labels"))
        .and_then(serde_json::Value::as_object)
        .and_then(|labels| labels.get(CONFIGS_LABEL))
        .and_then(serde_json::Value::as_str)
        .filter(|dir| !dir.trim().is_empty())
        .ok_or_else(|| {
            rebuild::Error::Invalid(format!("the image config has no {CONFIGS_LABEL} label: not a file-based catalog"))
        })?
        .to_string();
    // Entrypoint then Cmd is the command line the runtime runs. Each argument is also split at
    // whitespace so that a shell form (`sh -c "opm serve ... --cache-dir=/tmp/cache"`) is read.
    let words: Vec<&str> = ["Entrypoint", "Cmd"]
        .iter()
        .filter_map(|key| run.and_then(|c| c.get(*key)).and_then(serde_json::Value::as_array))
        .flatten()
        .filter_map(serde_json::Value::as_str)
        .flat_map(str::split_whitespace)
        .collect();
    let mut cache = None;
    let mut iter = words.iter();
    while let Some(word) = iter.next() {
        if let Some(dir) = word.strip_prefix("--cache-dir=") {
            cache = Some(dir);
        } else if *word == "--cache-dir" {
            cache = iter.next().copied();
        }
    }
    let cache = cache.map(|dir| dir.trim_matches(['"', '\''])).filter(|dir| !dir.is_empty()).map(str::to_string);
    Ok((configs, cache))
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
    let work = cache.work_dir(original).join(format!("rebuild-{}", uuid::Uuid::new_v4()));
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
                    children.insert(
                        child.digest.clone(),
                        Descriptor { media_type, digest, size, foreign: false, platform: child.platform.clone() },
                    );
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
        platform: None,
    };
    Ok(rebuild::rebuild_manifest(manifest_bytes, &descriptor, layer, annotations)?)
}

/// The label naming the configs directory of a file-based catalog image.
pub const CONFIGS_LABEL: &str = "operators.operatorframework.io.index.configs.v1";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalog_dirs_are_read_from_the_config() {
        let config =
            |run: serde_json::Value| serde_json::to_vec(&serde_json::json!({"config": run})).expect("serialize");
        let label = serde_json::json!({CONFIGS_LABEL: "/configs"});
        let cases: Vec<(&str, Vec<u8>, Option<(&str, Option<&str>)>)> = vec![
            (
                "upstream catalog",
                config(serde_json::json!({
                    "Labels": label, "Entrypoint": ["/bin/opm"],
                    "Cmd": ["serve", "/configs", "--cache-dir=/tmp/cache"]
                })),
                Some(("/configs", Some("/tmp/cache"))),
            ),
            (
                "separate argument in entrypoint",
                config(serde_json::json!({
                    "Labels": label, "Entrypoint": ["/bin/opm", "serve", "/configs", "--cache-dir", "/var/cache"],
                    "Cmd": null
                })),
                Some(("/configs", Some("/var/cache"))),
            ),
            (
                "shell form",
                config(serde_json::json!({
                    "Labels": label, "Cmd": ["/bin/sh", "-c", "exec opm serve /configs --cache-dir=/tmp/c"]
                })),
                Some(("/configs", Some("/tmp/c"))),
            ),
            (
                "no cache",
                config(serde_json::json!({"Labels": label, "Entrypoint": null, "Cmd": ["serve", "/configs"]})),
                Some(("/configs", None)),
            ),
            ("no label", config(serde_json::json!({"Labels": {"other": "x"}})), None),
            ("no labels at all", config(serde_json::json!({})), None),
            ("not json", b"{".to_vec(), None),
        ];
        for (name, bytes, want) in cases {
            let got = catalog_dirs(&bytes);
            match (got, want) {
                (Ok((configs, cache)), Some((want_configs, want_cache))) => {
                    assert_eq!((configs.as_str(), cache.as_deref()), (want_configs, want_cache), "case {name}");
                }
                (Err(rebuild::Error::Invalid(_)), None) => {}
                (got, want) => panic!("case {name}: got {got:?}, want {want:?}"),
            }
        }
    }
}
