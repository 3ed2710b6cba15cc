//! The update graph data image (`platform.graph: true`): the graph data tarball unpacked under
//! `/var/lib/cincinnati-graph-data` on top of a UBI base, with the command the OpenShift
//! Update Service's init container runs to copy it into its volume (oc-mirror's image, built
//! the same way). Built in the disk cache, deterministic: the same tarball and base give the
//! same digest, so a re-run pushes nothing.

use std::path::{Path, PathBuf};

use bytes::Bytes;

use crate::manifest::Descriptor;
use crate::mirror::cache::Cache;
use crate::mirror::cached_image::{self, parse_manifest, platform_image, read_blob};
use crate::mirror::rebuild;
use crate::reference::{Digest, Reference, RepoName, Tag};

/// The base image oc-mirror builds on; `GRAPH_BASE_IMAGE_OVERRIDE` replaces it (a site's own
/// copy, or a test's).
pub const BASE_IMAGE: &str = "registry.access.redhat.com/ubi9/ubi:latest";
/// Where the graph data is unpacked in the image.
pub const DATA_DIR: &str = "/var/lib/cincinnati-graph-data";
/// The command: copy the data into the Update Service's graph-data volume.
const COMMAND: [&str; 3] =
    ["/bin/bash", "-c", "exec cp -rp /var/lib/cincinnati-graph-data/* /var/lib/cincinnati/graph-data"];

/// Why the image could not be built.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The base image could not be read from the cache.
    #[error("base image: {0}")]
    Base(#[from] cached_image::Error),
    /// The tarball could not be unpacked.
    #[error("graph data {path}: {message}")]
    Tarball {
        /// The tarball.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// The layer, config or manifest could not be made.
    #[error(transparent)]
    Build(#[from] rebuild::Error),
    /// Storing in the cache failed.
    #[error(transparent)]
    Cache(#[from] crate::mirror::cache::Error),
}

/// Builds the graph image from `tarball` (gzip-compressed tar of the graph data) on the base
/// image `base` (already in `repo` of the cache; for an index, its linux/amd64 image) and
/// tags it `tag` in `repo`. Returns the manifest's digest.
///
/// # Errors
/// [`Error`].
pub async fn build(cache: &Cache, repo: &RepoName, tag: &Tag, base: &Digest, tarball: &Path) -> Result<Digest, Error> {
    let image = platform_image(cache, repo, base).await?;
    let work = cache.work_dir(base).join(format!("graph-{}", uuid::Uuid::new_v4()));
    let result = async {
        let (data, layer_file, source) = (work.join("data"), work.join("layer.tar.gz"), tarball.to_path_buf());
        let layer = tokio::task::spawn_blocking(move || -> Result<rebuild::BuiltLayer, Error> {
            unpack(&source, &data)?;
            Ok(rebuild::build_layer(&data, DATA_DIR, &[], &layer_file)?)
        })
        .await
        .map_err(|e| Error::Base(e.into()))??;
        cache.put_blob_file(repo, &layer.file, &layer.digest, layer.size).await?;

        let config = read_blob(cache, &image.config.digest).await?;
        let config = with_command(&rebuild::rebuild_config(&config, &layer, "mirror-registry: update graph data")?)?;
        let config_digest = Digest::of(image.config.digest.algorithm(), &config);
        cache.put_blob(repo, &config, &config_digest).await?;
        let descriptor = Descriptor {
            media_type: image.config.media_type.clone(),
            digest: config_digest,
            size: config.len() as u64,
            foreign: false,
            platform: None,
        };
        let stored = cache.get_manifest(repo, &Reference::Digest(image.digest.clone())).await?;
        parse_manifest(&stored.bytes, &image.digest)?;
        let (bytes, _) = rebuild::rebuild_manifest(&stored.bytes, &descriptor, &layer, &[])?;
        let digest = Digest::of(image.digest.algorithm(), &bytes);
        cache.put_manifest(repo, &Bytes::from(bytes), &digest, Some(tag)).await?;
        Ok(digest)
    }
    .await;
    let _ = tokio::fs::remove_dir_all(&work).await;
    result
}

/// Unpacks the gzip tarball into `out`, refusing entries that leave it.
fn unpack(tarball: &Path, out: &Path) -> Result<(), Error> {
    let bad = |message: String| Error::Tarball { path: tarball.to_path_buf(), message };
    let file = std::fs::File::open(tarball).map_err(|e| bad(e.to_string()))?;
    std::fs::create_dir_all(out).map_err(|e| bad(format!("{}: {e}", out.display())))?;
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(std::io::BufReader::new(file)));
    archive.set_preserve_permissions(false);
    let mut files = 0usize;
    for entry in archive.entries().map_err(|e| bad(e.to_string()))? {
        let mut entry = entry.map_err(|e| bad(e.to_string()))?;
        let kind = entry.header().entry_type();
        if !(kind.is_file() || kind.is_dir()) {
            continue;
        }
        // `unpack_in` refuses paths with `..` or a root, so nothing lands outside `out`.
        if entry.unpack_in(out).map_err(|e| bad(e.to_string()))? && kind.is_file() {
            files += 1;
        }
    }
    if files == 0 {
        return Err(bad("holds no file (is it a gzip-compressed tar of the graph data?)".into()));
    }
    Ok(())
}

/// The config with the copy command as `Cmd` (and no entrypoint that would wrap it).
fn with_command(config: &[u8]) -> Result<Vec<u8>, Error> {
    let mut value: serde_json::Value = serde_json::from_slice(config)
        .map_err(|e| rebuild::Error::Invalid(format!("the base image config is not JSON: {e}")))?;
    let object = value
        .as_object_mut()
        .ok_or_else(|| rebuild::Error::Invalid("the base image config is not an object".into()))?;
    let run = object.entry("config").or_insert_with(|| serde_json::json!({}));
    if run.is_null() {
        *run = serde_json::json!({});
    }
    let run =
        run.as_object_mut().ok_or_else(|| rebuild::Error::Invalid("the config's config is not an object".into()))?;
    run.insert("Cmd".into(), serde_json::json!(COMMAND));
    run.remove("Entrypoint");
    Ok(serde_json::to_vec(&value).map_err(|e| rebuild::Error::Invalid(e.to_string()))?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_replaces_the_base_command() {
        let config = br#"{"architecture":"amd64","config":{"Cmd":["/bin/bash"],"Entrypoint":["/x"],"Env":["A=1"]},"rootfs":{"type":"layers","diff_ids":[]}}"#;
        let out: serde_json::Value = serde_json::from_slice(&with_command(config).expect("config")).expect("json");
        assert_eq!(out["config"]["Cmd"], serde_json::json!(COMMAND));
        assert!(out["config"].get("Entrypoint").is_none());
        assert_eq!(out["config"]["Env"][0], "A=1");
        let bare: serde_json::Value =
            serde_json::from_slice(&with_command(br#"{"config":null}"#).expect("config")).expect("json");
        assert_eq!(bare["config"]["Cmd"][0], "/bin/bash");
    }

    #[test]
    fn tarballs_unpack_inside_the_directory_only() {
        let dir = tempfile::tempdir().expect("tempdir");
        let tarball = dir.path().join("g.tar.gz");
        let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(
            std::fs::File::create(&tarball).expect("create"),
            flate2::Compression::fast(),
        ));
        let mut header = tar::Header::new_gnu();
        header.set_size(5);
        header.set_mode(0o644);
        header.set_cksum();
        builder.append_data(&mut header, "channels/stable-4.1.yaml", &b"name:"[..]).expect("append");
        builder.into_inner().expect("tar").finish().expect("gzip");
        let out = dir.path().join("out");
        unpack(&tarball, &out).expect("unpack");
        assert!(out.join("channels/stable-4.1.yaml").is_file());

        std::fs::write(dir.path().join("empty.tar.gz"), []).expect("write");
        assert!(unpack(&dir.path().join("empty.tar.gz"), &dir.path().join("o2")).is_err());
    }
}
