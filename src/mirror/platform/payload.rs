//! What a release payload says about itself, read from its `release-manifests/` directory:
//! the component images (`image-references`, an ImageStream), the version
//! (`release-metadata`) and the KubeVirt container image (the installer's boot images config
//! map). Pure functions over bytes, and one reader over the disk cache.

use std::path::Path;

use serde::Deserialize;

use crate::mirror::cache::Cache;
use crate::mirror::cached_image;
use crate::reference::{Digest, RepoName};

/// The directory of the payload image that holds its manifests.
pub const RELEASE_MANIFESTS: &str = "/release-manifests";
const IMAGE_REFERENCES: &str = "image-references";
const RELEASE_METADATA: &str = "release-metadata";
const BOOT_IMAGES: &str = "0000_50_installer_coreos-bootimages.yaml";
/// The component name oc-mirror gives the KubeVirt container image.
pub const KUBEVIRT_COMPONENT: &str = "kube-virt-container";

/// Why a payload could not be read.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The image could not be read from the cache.
    #[error(transparent)]
    Image(#[from] cached_image::Error),
    /// A file of `release-manifests/` is missing or unreadable.
    #[error("release-manifests/{file}: {message}")]
    File {
        /// The file.
        file: &'static str,
        /// Why.
        message: String,
    },
}

fn file_error(file: &'static str) -> impl FnOnce(String) -> Error {
    move |message| Error::File { file, message }
}

/// One component image of a release.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Component {
    /// The ImageStream tag name (`cli`, `installer`, …).
    pub name: String,
    /// The image, by digest (`quay.io/openshift-release-dev/ocp-v4.0-art-dev@sha256:…`).
    pub image: String,
}

/// The release's own account of itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payload {
    /// `release-metadata`'s version (the ImageStream's name when there is no metadata file).
    pub version: String,
    /// The component images, in the ImageStream's order.
    pub components: Vec<Component>,
    /// The KubeVirt container image of the x86_64 boot images, when the release names one.
    pub kubevirt: Option<String>,
}

#[derive(Deserialize)]
struct ImageStream {
    kind: String,
    #[serde(default)]
    metadata: Named,
    spec: StreamSpec,
}

#[derive(Deserialize, Default)]
struct Named {
    #[serde(default)]
    name: String,
}

#[derive(Deserialize)]
struct StreamSpec {
    #[serde(default)]
    tags: Vec<StreamTag>,
}

#[derive(Deserialize)]
struct StreamTag {
    name: String,
    from: Option<From>,
}

#[derive(Deserialize)]
struct From {
    #[serde(default)]
    kind: String,
    name: String,
}

/// Parses `image-references`: every tag that refers to a `DockerImage`. Returns the stream's
/// name (the version) and the components.
///
/// # Errors
/// A message when the file is not an ImageStream or lists no image.
pub fn parse_image_references(bytes: &[u8]) -> Result<(String, Vec<Component>), String> {
    let stream: ImageStream = serde_json::from_slice(bytes).map_err(|e| format!("not an ImageStream: {e}"))?;
    if stream.kind != "ImageStream" {
        return Err(format!("kind is {:?}, not ImageStream", stream.kind));
    }
    let components: Vec<Component> = stream
        .spec
        .tags
        .into_iter()
        .filter_map(|tag| {
            let from = tag.from?;
            (from.kind.is_empty() || from.kind == "DockerImage")
                .then_some(Component { name: tag.name, image: from.name })
        })
        .collect();
    if components.is_empty() {
        return Err("lists no component image".into());
    }
    Ok((stream.metadata.name, components))
}

/// The `version` of `release-metadata` (`{"kind": "cincinnati-metadata-v0", "version": …}`).
///
/// # Errors
/// A message when the file has no version.
pub fn parse_release_metadata(bytes: &[u8]) -> Result<String, String> {
    let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| format!("not JSON: {e}"))?;
    value["version"].as_str().map(str::to_string).ok_or_else(|| "has no version".to_string())
}

/// The KubeVirt container image of the boot images config map: its `data.stream` is JSON whose
/// `architectures.x86_64.images.kubevirt.digest-ref` names the image (oc-mirror reads x86_64
/// whatever the release's architecture).
///
/// # Errors
/// A message when the config map or its stream is malformed, or names no KubeVirt image.
pub fn parse_kubevirt(bytes: &[u8]) -> Result<String, String> {
    let map: serde_yaml::Value = serde_yaml::from_slice(bytes).map_err(|e| format!("not YAML: {e}"))?;
    let stream = map
        .get("data")
        .and_then(|d| d.get("stream"))
        .and_then(serde_yaml::Value::as_str)
        .ok_or("has no data.stream")?;
    let stream: serde_json::Value =
        serde_json::from_str(stream).map_err(|e| format!("data.stream is not JSON: {e}"))?;
    stream["architectures"]["x86_64"]["images"]["kubevirt"]["digest-ref"]
        .as_str()
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .ok_or_else(|| "names no architectures.x86_64.images.kubevirt.digest-ref".to_string())
}

/// Reads the payload `digest` (in `repo` of the cache): its manifests are extracted once into
/// the cache's work space. `kubevirt` asks for the KubeVirt image, which must then be named.
///
/// # Errors
/// [`Error`] naming the file that is missing or malformed.
pub async fn read(cache: &Cache, repo: &RepoName, digest: &Digest, kubevirt: bool) -> Result<Payload, Error> {
    let image = cached_image::platform_image(cache, repo, digest).await?;
    let dir = cached_image::extract_dir(cache, digest, &image, RELEASE_MANIFESTS, "release-manifests").await?;
    let references = read_file(&dir, IMAGE_REFERENCES).await?;
    let (stream_name, components) = parse_image_references(&references).map_err(file_error(IMAGE_REFERENCES))?;
    let version = match tokio::fs::read(dir.join(RELEASE_METADATA)).await {
        Ok(bytes) => parse_release_metadata(&bytes).map_err(file_error(RELEASE_METADATA))?,
        Err(_) => stream_name,
    };
    let kubevirt = if kubevirt {
        let bytes = read_file(&dir, BOOT_IMAGES).await?;
        Some(parse_kubevirt(&bytes).map_err(file_error(BOOT_IMAGES))?)
    } else {
        None
    };
    Ok(Payload { version, components, kubevirt })
}

async fn read_file(dir: &Path, file: &'static str) -> Result<Vec<u8>, Error> {
    tokio::fs::read(dir.join(file))
        .await
        .map_err(|e| Error::File { file, message: format!("{e} (is this a release payload image?)") })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_references_list_the_components() {
        let stream = br#"{"kind":"ImageStream","apiVersion":"image.openshift.io/v1",
            "metadata":{"name":"4.16.0","creationTimestamp":null},
            "spec":{"lookupPolicy":{"local":false},"tags":[
              {"name":"cli","from":{"kind":"DockerImage","name":"q.io/r/art@sha256:aa"}},
              {"name":"skipped","from":{"kind":"ImageStreamTag","name":"other:1"}},
              {"name":"installer","from":{"kind":"DockerImage","name":"q.io/r/art@sha256:bb"}}]}}"#;
        let (name, components) = parse_image_references(stream).expect("valid");
        assert_eq!(name, "4.16.0");
        let names: Vec<&str> = components.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["cli", "installer"]);
        assert_eq!(components[1].image, "q.io/r/art@sha256:bb");
    }

    #[test]
    fn malformed_files_say_what_is_wrong() {
        let cases: &[(&str, &[u8], &str)] = &[
            ("not json", b"{", "not an ImageStream"),
            ("wrong kind", br#"{"kind":"ConfigMap","spec":{}}"#, "not ImageStream"),
            ("no images", br#"{"kind":"ImageStream","spec":{"tags":[]}}"#, "no component image"),
        ];
        for (name, bytes, part) in cases {
            let e = parse_image_references(bytes).expect_err(name);
            assert!(e.contains(part), "case {name}: {e}");
        }
        assert!(parse_release_metadata(b"{}").expect_err("no version").contains("no version"));
    }

    #[test]
    fn kubevirt_image_is_read_from_the_boot_images_stream() {
        let stream = r#"{"architectures":{"x86_64":{"images":{"kubevirt":{"digest-ref":"q.io/r/art@sha256:cc"}}}}}"#;
        let map = format!("apiVersion: v1\nkind: ConfigMap\ndata:\n  releaseVersion: 4.16.0\n  stream: '{stream}'\n");
        assert_eq!(parse_kubevirt(map.as_bytes()).expect("valid"), "q.io/r/art@sha256:cc");
        let none = "data:\n  stream: '{\"architectures\":{}}'\n";
        assert!(parse_kubevirt(none.as_bytes()).expect_err("none").contains("kubevirt"));
        assert!(parse_kubevirt(b"data: {}\n").expect_err("no stream").contains("data.stream"));
    }
}
