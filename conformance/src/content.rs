//! Test content (blobs and manifests) and the push steps every workflow's setup uses.

use reqwest::Method;
use serde_json::{Value, json};
use sha2::Digest as _;

use crate::client::{Body, Client, Reply};

/// OCI image manifest.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image index.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// OCI image config.
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
/// OCI empty descriptor media type.
pub const OCI_EMPTY: &str = "application/vnd.oci.empty.v1+json";
/// Docker schema2 manifest.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker manifest list.
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";

/// `sha256:<hex>` of `data`.
#[must_use]
pub fn sha256(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(data)))
}

/// `sha512:<hex>` of `data`.
#[must_use]
pub fn sha512(data: &[u8]) -> String {
    format!("sha512:{}", hex::encode(sha2::Sha512::digest(data)))
}

/// Bytes no earlier run produced (so no registry already holds them).
#[must_use]
pub fn unique(label: &str, size: usize) -> Vec<u8> {
    let seed = format!("{label} {} ", uuid::Uuid::new_v4());
    seed.bytes().cycle().take(size.max(seed.len())).collect()
}

/// A blob and its digest.
#[derive(Clone)]
pub struct Blob {
    /// Digest.
    pub digest: String,
    /// Content.
    pub data: Vec<u8>,
}

impl Blob {
    /// A sha256 blob of `data`.
    #[must_use]
    pub fn new(data: Vec<u8>) -> Blob {
        Blob { digest: sha256(&data), data }
    }

    /// A descriptor for it.
    #[must_use]
    pub fn descriptor(&self, media_type: &str) -> Value {
        json!({"mediaType": media_type, "digest": self.digest, "size": self.data.len()})
    }
}

/// An image: config, layers and the manifest bytes.
#[derive(Clone)]
pub struct Image {
    /// Config blob.
    pub config: Blob,
    /// Layer blobs.
    pub layers: Vec<Blob>,
    /// Manifest bytes as pushed.
    pub manifest: Vec<u8>,
    /// Manifest media type.
    pub media_type: String,
}

impl Image {
    /// An OCI image with a fresh config and `layers` fresh layers.
    #[must_use]
    pub fn oci(label: &str, layers: usize) -> Image {
        let config = Blob::new(
            format!("{{\"architecture\":\"amd64\",\"os\":\"linux\",\"label\":\"{label} {}\"}}", uuid::Uuid::new_v4())
                .into_bytes(),
        );
        let layers: Vec<Blob> = (0..layers).map(|i| Blob::new(unique(&format!("{label} layer {i}"), 2048))).collect();
        let manifest = json!({
            "schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "config": config.descriptor(OCI_CONFIG),
            "layers": layers.iter().map(|l| l.descriptor("application/vnd.oci.image.layer.v1.tar")).collect::<Vec<_>>(),
        });
        Image {
            manifest: serde_json::to_vec(&manifest).unwrap_or_default(),
            config,
            layers,
            media_type: OCI_MANIFEST.into(),
        }
    }

    /// The manifest's digest.
    #[must_use]
    pub fn digest(&self) -> String {
        sha256(&self.manifest)
    }

    /// Every blob the manifest references.
    pub fn blobs(&self) -> impl Iterator<Item = &Blob> {
        std::iter::once(&self.config).chain(self.layers.iter())
    }
}

/// Pushes a blob monolithically (POST then PUT, which every registry supports).
///
/// # Errors
/// When the registry does not answer 201.
pub fn push_blob(c: &Client, repo: &str, blob: &Blob) -> Result<(), String> {
    let r = c.send(&Method::POST, &format!("/v2/{repo}/blobs/uploads/"), &[], &Body::Empty)?;
    if r.status != 202 {
        return Err(format!("POST upload answered {}", r.status));
    }
    let location = r.header("location");
    let sep = if location.contains('?') { '&' } else { '?' };
    let r = c.send(
        &Method::PUT,
        &format!("{location}{sep}digest={}", blob.digest),
        &[("content-type", "application/octet-stream".into())],
        &Body::Bytes(blob.data.clone()),
    )?;
    if r.status == 201 {
        Ok(())
    } else {
        Err(format!("PUT upload answered {}: {}", r.status, String::from_utf8_lossy(&r.body)))
    }
}

/// Pushes a manifest under a tag or digest.
///
/// # Errors
/// Transport failures.
pub fn put_manifest(c: &Client, repo: &str, reference: &str, media_type: &str, body: &[u8]) -> Result<Reply, String> {
    c.send(
        &Method::PUT,
        &format!("/v2/{repo}/manifests/{reference}"),
        &[("content-type", media_type.to_string())],
        &Body::Bytes(body.to_vec()),
    )
}

/// Pushes an image's blobs and its manifest under `reference`.
///
/// # Errors
/// When any step fails.
pub fn push_image(c: &Client, repo: &str, reference: &str, image: &Image) -> Result<(), String> {
    for b in image.blobs() {
        push_blob(c, repo, b)?;
    }
    let r = put_manifest(c, repo, reference, &image.media_type, &image.manifest)?;
    if r.status == 201 {
        Ok(())
    } else {
        Err(format!("manifest PUT answered {}: {}", r.status, String::from_utf8_lossy(&r.body)))
    }
}
