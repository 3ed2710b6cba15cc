//! OCI image layouts on disk (`oci://DIR` catalogs): `oci-layout`, `index.json` and
//! `blobs/<alg>/<hex>`, imported into the disk cache so that the rest of the run treats the
//! catalog like one pulled from a registry. Every blob is verified against its digest on the way.
//!
//! ```text
//! DIR/oci-layout                  {"imageLayoutVersion": "1.0.0"}
//! DIR/index.json                  an OCI index: the images, named by org.opencontainers.image.ref.name
//! DIR/blobs/<alg>/<hex>           manifests, configs and layers
//! ```

use std::collections::{HashSet, VecDeque};
use std::path::{Path, PathBuf};

use bytes::Bytes;
use serde_json::Value;
use tokio::io::AsyncReadExt;

use crate::manifest::{Descriptor, Kind, Manifest};
use crate::mirror::cache::Cache;
use crate::reference::{Digest, RepoName, Tag};

/// Why a layout could not be read.
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
    /// The directory is not an OCI layout, or its content does not match its digests.
    #[error("{path}: {message}")]
    Invalid {
        /// The layout or the file at fault.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The cache failed.
    #[error(transparent)]
    Cache(#[from] crate::mirror::cache::Error),
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io { path: path.to_path_buf(), source }
}

fn invalid(path: &Path, message: impl Into<String>) -> Error {
    Error::Invalid { path: path.to_path_buf(), message: message.into() }
}

/// The annotation naming an image of a layout (image-spec `annotations.md`).
pub const REF_NAME_ANNOTATION: &str = "org.opencontainers.image.ref.name";
/// Manifests larger than this are refused, as registries refuse them (distribution's limit).
const MAX_MANIFEST_SIZE: u64 = 4 << 20;

/// Copies the image of the layout at `dir` into `cache` under `repo`, tagged `tag` when given,
/// with every manifest and blob it references (an index's children too). The image is the one
/// `index.json` names with `org.opencontainers.image.ref.name` equal to `reference`, or, with no
/// reference, the only one it lists. Returns the root manifest's digest.
///
/// # Errors
/// [`Error`].
pub async fn import(
    dir: &Path,
    reference: Option<&str>,
    cache: &Cache,
    repo: &RepoName,
    tag: Option<&Tag>,
) -> Result<Digest, Error> {
    let root = select_image(dir, reference).await?;

    // Breadth first from the root, so that storing in reverse order puts every child manifest
    // in the cache before the index that references it.
    let mut manifests: Vec<(Digest, Bytes, Manifest)> = Vec::new();
    let mut seen = HashSet::new();
    let mut queue = VecDeque::from([root.clone()]);
    while let Some(descriptor) = queue.pop_front() {
        if !seen.insert(descriptor.digest.clone()) {
            continue;
        }
        let (bytes, manifest) = read_manifest(dir, &descriptor).await?;
        queue.extend(manifest.children.iter().cloned());
        manifests.push((descriptor.digest, bytes, manifest));
    }

    let mut copied = HashSet::new();
    for (digest, bytes, manifest) in manifests.iter().rev() {
        if manifest.kind == Kind::Image {
            for blob in &manifest.blobs {
                if copied.insert(blob.digest.clone()) {
                    copy_blob(dir, blob, cache, repo).await?;
                }
            }
        }
        let manifest_tag = if *digest == root.digest { tag } else { None };
        cache.put_manifest(repo, bytes, digest, manifest_tag).await?;
    }
    Ok(root.digest)
}

/// The descriptor of `index.json` that `reference` names, or the only one.
async fn select_image(dir: &Path, reference: Option<&str>) -> Result<Descriptor, Error> {
    let marker = dir.join("oci-layout");
    match tokio::fs::metadata(&marker).await {
        Ok(meta) if meta.is_file() => {}
        Ok(_) => return Err(invalid(&marker, "is not a file: not an OCI layout")),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(invalid(dir, "has no oci-layout file: not an OCI image layout"));
        }
        Err(e) => return Err(io_error(&marker)(e)),
    }
    let index_path = dir.join("index.json");
    let bytes = tokio::fs::read(&index_path).await.map_err(io_error(&index_path))?;
    let index = crate::manifest::parse(None, &bytes).map_err(|e| invalid(&index_path, e.to_string()))?;
    if index.kind != Kind::Index {
        return Err(invalid(&index_path, format!("is a {}, not an image index", index.media_type)));
    }
    // `parse` validated the entries, so they line up with the JSON array read here for names.
    let value: Value = serde_json::from_slice(&bytes).map_err(|e| invalid(&index_path, e.to_string()))?;
    let names: Vec<Option<String>> = value
        .get("manifests")
        .and_then(Value::as_array)
        .map(|entries| {
            entries
                .iter()
                .map(|entry| {
                    entry
                        .get("annotations")
                        .and_then(|a| a.get(REF_NAME_ANNOTATION))
                        .and_then(Value::as_str)
                        .map(str::to_string)
                })
                .collect()
        })
        .unwrap_or_default();
    let listed = || {
        let known: Vec<&str> = names.iter().flatten().map(String::as_str).collect();
        if known.is_empty() { "none is named".to_string() } else { format!("names: {}", known.join(", ")) }
    };
    let mut entries = index.children.into_iter().zip(names.iter());
    match reference {
        Some(wanted) => entries
            .find(|(_, name)| name.as_deref() == Some(wanted))
            .map(|(descriptor, _)| descriptor)
            .ok_or_else(|| invalid(&index_path, format!("no image named {wanted:?} ({})", listed()))),
        None => match (entries.next(), entries.next()) {
            (Some((descriptor, _)), None) => Ok(descriptor),
            (None, _) => Err(invalid(&index_path, "lists no image")),
            (Some(_), Some(_)) => Err(invalid(
                &index_path,
                format!("lists {} images; name one with oci://DIR:NAME ({})", names.len(), listed()),
            )),
        },
    }
}

fn blob_path(dir: &Path, digest: &Digest) -> PathBuf {
    dir.join("blobs").join(digest.algorithm().name()).join(digest.hex())
}

/// Reads a manifest of the layout, checked against its descriptor's size and digest.
async fn read_manifest(dir: &Path, descriptor: &Descriptor) -> Result<(Bytes, Manifest), Error> {
    let path = blob_path(dir, &descriptor.digest);
    if descriptor.size > MAX_MANIFEST_SIZE {
        return Err(invalid(&path, format!("manifest of {} bytes is larger than 4 MiB", descriptor.size)));
    }
    let bytes = match tokio::fs::read(&path).await {
        Ok(bytes) => Bytes::from(bytes),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(invalid(&path, format!("manifest {} is missing from the layout", descriptor.digest)));
        }
        Err(e) => return Err(io_error(&path)(e)),
    };
    let actual = Digest::of(descriptor.digest.algorithm(), &bytes);
    if bytes.len() as u64 != descriptor.size || actual != descriptor.digest {
        return Err(invalid(
            &path,
            format!(
                "{} bytes hashing to {actual}; expected {} bytes of {}",
                bytes.len(),
                descriptor.size,
                descriptor.digest
            ),
        ));
    }
    let manifest = crate::manifest::parse(None, &bytes).map_err(|e| invalid(&path, e.to_string()))?;
    Ok((bytes, manifest))
}

/// Streams a blob of the layout into the cache (verified by the commit) and links it to `repo`.
async fn copy_blob(dir: &Path, blob: &Descriptor, cache: &Cache, repo: &RepoName) -> Result<(), Error> {
    if !cache.has_blob(&blob.digest).await {
        let path = blob_path(dir, &blob.digest);
        let mut file = match tokio::fs::File::open(&path).await {
            Ok(file) => file,
            // Foreign layers (Windows base layers) live at their URLs, not in layouts.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && blob.foreign => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(invalid(&path, format!("blob {} is missing from the layout", blob.digest)));
            }
            Err(e) => return Err(io_error(&path)(e)),
        };
        let mut writer = cache.resume_blob(&blob.digest, blob.size).await?;
        // What an interrupted download left may be from another source; the layout has it all.
        if writer.offset() > 0 {
            writer.reset().await?;
        }
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = file.read(&mut buf).await.map_err(io_error(&path))?;
            if n == 0 {
                break;
            }
            writer.write(buf.get(..n).unwrap_or_default()).await?;
        }
        writer.commit(&blob.digest, blob.size).await?;
    }
    cache.link_blob(repo, &blob.digest).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::{OCI_INDEX, OCI_MANIFEST};
    use crate::reference::{Algorithm, Reference};

    /// Writes blobs into a layout under construction.
    struct LayoutWriter {
        dir: PathBuf,
    }

    impl LayoutWriter {
        fn new(dir: &Path) -> Self {
            std::fs::create_dir_all(dir.join("blobs/sha256")).expect("mkdir blobs");
            std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).expect("oci-layout");
            LayoutWriter { dir: dir.to_path_buf() }
        }

        fn blob(&self, media_type: &str, bytes: &[u8]) -> Value {
            let digest = Digest::of(Algorithm::Sha256, bytes);
            std::fs::write(blob_path(&self.dir, &digest), bytes).expect("write blob");
            serde_json::json!({"mediaType": media_type, "digest": digest.to_string(), "size": bytes.len()})
        }

        /// An image whose config names `arch`, with `layers` as its layer contents.
        fn image(&self, arch: &str, layers: &[&[u8]]) -> Value {
            let config = self.blob(
                "application/vnd.oci.image.config.v1+json",
                format!(r#"{{"architecture":"{arch}","os":"linux","rootfs":{{"type":"layers","diff_ids":[]}}}}"#)
                    .as_bytes(),
            );
            let layers: Vec<Value> =
                layers.iter().map(|l| self.blob("application/vnd.oci.image.layer.v1.tar+gzip", l)).collect();
            let manifest = serde_json::json!({
                "schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": config, "layers": layers
            });
            self.blob(OCI_MANIFEST, &serde_json::to_vec(&manifest).expect("serialize"))
        }

        fn index(&self, entries: &[(Value, Option<&str>)]) {
            let manifests: Vec<Value> = entries
                .iter()
                .map(|(descriptor, name)| {
                    let mut descriptor = descriptor.clone();
                    if let Some(name) = name {
                        descriptor["annotations"] = serde_json::json!({REF_NAME_ANNOTATION: name});
                    }
                    descriptor
                })
                .collect();
            let index = serde_json::json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests});
            std::fs::write(self.dir.join("index.json"), serde_json::to_vec(&index).expect("serialize"))
                .expect("index.json");
        }
    }

    fn digest_of(descriptor: &Value) -> Digest {
        descriptor["digest"].as_str().expect("digest").parse().expect("valid digest")
    }

    #[tokio::test]
    async fn single_image_is_imported_and_tagged() {
        let tmp = tempfile::tempdir().expect("temp dir");
        let layout = LayoutWriter::new(&tmp.path().join("layout"));
        let image = layout.image("amd64", &[b"layer one", b"layer two"]);
        layout.index(&[(image.clone(), Some("v4.16"))]);
        let cache = Cache::new(&tmp.path().join("cache"));
        let repo: RepoName = "redhat/redhat-operator-index".parse().expect("repo");
        let tag: Tag = "v4.16".parse().expect("tag");

        for (name, reference) in [("by name", Some("v4.16")), ("the only image", None)] {
            let digest = import(&layout.dir, reference, &cache, &repo, Some(&tag))
                .await
                .unwrap_or_else(|e| panic!("case {name}: {e}"));
            assert_eq!(digest, digest_of(&image), "case {name}");
            let stored = cache.get_manifest(&repo, &Reference::Tag(tag.clone())).await.expect("tagged manifest");
            assert_eq!(stored.digest, digest, "case {name}");
            let parsed = crate::manifest::parse(None, &stored.bytes).expect("manifest");
            for blob in &parsed.blobs {
                assert!(cache.repo_has_blob(&repo, &blob.digest).await, "case {name}: blob {}", blob.digest);
            }
        }
    }

    #[tokio::test]
    async fn index_children_and_shared_layers_are_imported() {
        let tmp = tempfile::tempdir().expect("temp dir");
        let layout = LayoutWriter::new(&tmp.path().join("layout"));
        let amd = layout.image("amd64", &[b"shared base", b"amd64 catalog"]);
        let arm = layout.image("arm64", &[b"shared base", b"arm64 catalog"]);
        let mut amd_entry = amd.clone();
        amd_entry["platform"] = serde_json::json!({"architecture": "amd64", "os": "linux"});
        let mut arm_entry = arm.clone();
        arm_entry["platform"] = serde_json::json!({"architecture": "arm64", "os": "linux"});
        let inner =
            serde_json::json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [amd_entry, arm_entry]});
        let inner = layout.blob(OCI_INDEX, &serde_json::to_vec(&inner).expect("serialize"));
        let other = layout.image("amd64", &[b"another image"]);
        layout.index(&[(other, Some("other")), (inner.clone(), Some("catalog"))]);

        let cache = Cache::new(&tmp.path().join("cache"));
        let repo: RepoName = "catalog".parse().expect("repo");
        let tag: Tag = "latest".parse().expect("tag");
        let digest = import(&layout.dir, Some("catalog"), &cache, &repo, Some(&tag)).await.expect("import");
        assert_eq!(digest, digest_of(&inner));
        let root = cache.get_manifest(&repo, &Reference::Tag(tag)).await.expect("tagged index");
        let index = crate::manifest::parse(None, &root.bytes).expect("index");
        assert_eq!(index.children.len(), 2);
        for child in [&amd, &arm] {
            let stored = cache.get_manifest(&repo, &Reference::Digest(digest_of(child))).await.expect("child manifest");
            let parsed = crate::manifest::parse(None, &stored.bytes).expect("child");
            assert_eq!(parsed.blobs.len(), 3);
            for blob in &parsed.blobs {
                assert!(cache.repo_has_blob(&repo, &blob.digest).await, "blob {}", blob.digest);
            }
        }
    }

    #[tokio::test]
    async fn bad_layouts_are_refused() {
        let cases: Vec<(&str, fn(&LayoutWriter), Option<&str>, fn(&Error) -> bool)> = vec![
            (
                "unknown reference names the available ones",
                |l| {
                    let one = l.image("amd64", &[b"a"]);
                    let two = l.image("arm64", &[b"b"]);
                    l.index(&[(one, Some("v1")), (two, Some("v2"))]);
                },
                Some("v3"),
                |e| e.to_string().contains("v1, v2"),
            ),
            (
                "several images and no reference",
                |l| {
                    let one = l.image("amd64", &[b"a"]);
                    let two = l.image("arm64", &[b"b"]);
                    l.index(&[(one, Some("v1")), (two, Some("v2"))]);
                },
                None,
                |e| e.to_string().contains("2 images") && e.to_string().contains("v1, v2"),
            ),
            ("empty index", |l| l.index(&[]), None, |e| matches!(e, Error::Invalid { .. })),
            (
                "tampered layer",
                |l| {
                    let image = l.image("amd64", &[b"good layer"]);
                    let layer = Digest::of(Algorithm::Sha256, b"good layer");
                    std::fs::write(blob_path(&l.dir, &layer), b"evil layer").expect("tamper");
                    l.index(&[(image, None)]);
                },
                None,
                |e| matches!(e, Error::Cache(crate::mirror::cache::Error::Corrupt { .. })),
            ),
            (
                "tampered manifest",
                |l| {
                    let image = l.image("amd64", &[b"layer"]);
                    let path = blob_path(&l.dir, &digest_of(&image));
                    let mut bytes = std::fs::read(&path).expect("read");
                    bytes.push(b' ');
                    std::fs::write(&path, bytes).expect("tamper");
                    l.index(&[(image, None)]);
                },
                None,
                |e| matches!(e, Error::Invalid { .. }),
            ),
            (
                "missing child manifest",
                |l| {
                    let absent = serde_json::json!({
                        "mediaType": OCI_MANIFEST,
                        "digest": Digest::of(Algorithm::Sha256, b"absent").to_string(),
                        "size": 6
                    });
                    let inner = serde_json::json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [absent]});
                    let inner = l.blob(OCI_INDEX, &serde_json::to_vec(&inner).expect("serialize"));
                    l.index(&[(inner, None)]);
                },
                None,
                |e| e.to_string().contains("missing"),
            ),
            (
                "not a layout",
                |l| {
                    l.index(&[]);
                    std::fs::remove_file(l.dir.join("oci-layout")).expect("remove marker");
                },
                None,
                |e| e.to_string().contains("oci-layout"),
            ),
        ];
        for (name, setup, reference, check) in cases {
            let tmp = tempfile::tempdir().expect("temp dir");
            let layout = LayoutWriter::new(&tmp.path().join("layout"));
            setup(&layout);
            let cache = Cache::new(&tmp.path().join("cache"));
            let repo: RepoName = "catalog".parse().expect("repo");
            match import(&layout.dir, reference, &cache, &repo, None).await {
                Err(e) => assert!(check(&e), "case {name}: unexpected error {e}"),
                Ok(digest) => panic!("case {name}: imported {digest}"),
            }
        }
    }
}
