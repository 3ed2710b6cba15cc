//! Scenario 1: many small blobs and their manifests pushed by concurrent clients.
//!
//! The corpus is a set of images, each an OCI image manifest with a config blob and a few
//! 16 KiB layers, spread over a few repositories. Each client takes the next image and pushes it
//! the way a client does: for each blob `HEAD` (skip if present), `POST` a session, then either
//! `PUT ?digest=` with the body or `PATCH` the body and `PUT ?digest=` empty; then `PUT` the
//! manifest by tag. The corpus is made before the clock starts and reused for both registries.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use bytes::Bytes;
use reqwest::{Client, Url};
use serde_json::json;

use crate::client::{self, OCI_MANIFEST};
use crate::content::{Prng, sha256};
use crate::latency::Summary;

/// Repositories the images are spread over.
const REPOSITORIES: usize = 8;

/// How a client sends a blob after `POST` opened its session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum UploadFlow {
    /// `PUT ?digest=` carrying the whole body (two requests after the `HEAD`).
    Put,
    /// `PATCH` with the body, then an empty `PUT ?digest=` (containers-image and docker).
    Patch,
}

/// A blob and its digest.
pub struct Blob {
    /// `sha256:<hex>`.
    pub digest: String,
    /// The content.
    pub bytes: Bytes,
}

/// One image: its repository, tag, blobs and manifest.
pub struct Image {
    /// Repository name.
    pub repo: String,
    /// Tag the manifest is pushed under.
    pub tag: String,
    /// The config blob, then the layers.
    pub blobs: Vec<Blob>,
    /// The manifest bytes, pushed and served exactly as they are.
    pub manifest: Bytes,
    /// The manifest's digest.
    pub manifest_digest: String,
}

/// Everything scenario 1 pushes; scenario 3 pulls from it.
pub struct Corpus {
    /// The images.
    pub images: Vec<Image>,
}

impl Corpus {
    /// Makes `images` images of `layers` layers of `layer_size` bytes each.
    pub fn generate(images: usize, layers: usize, layer_size: usize) -> Corpus {
        let images = (0..images).map(|i| image(i, layers, layer_size)).collect();
        Corpus { images }
    }

    /// How many blobs (configs and layers) the corpus holds.
    pub fn blob_count(&self) -> usize {
        self.images.iter().map(|image| image.blobs.len()).sum()
    }
}

fn image(index: usize, layers: usize, layer_size: usize) -> Image {
    let seed = u64::try_from(index).expect("usize fits in u64") << 16;
    let layer_blobs: Vec<Blob> = (0..layers)
        .map(|l| {
            let bytes = Prng::new(seed + u64::try_from(l).expect("usize fits in u64")).bytes(layer_size);
            Blob { digest: sha256(&bytes), bytes: bytes.into() }
        })
        .collect();
    // Layers are uncompressed tars by media type, so their diff_ids are their digests.
    let config = serde_json::to_vec(&json!({
        "architecture": "amd64",
        "os": "linux",
        "config": { "Labels": { "bench.image": index.to_string() } },
        "rootfs": { "type": "layers", "diff_ids": layer_blobs.iter().map(|b| &b.digest).collect::<Vec<_>>() },
    }))
    .expect("a JSON value serializes");
    let config = Blob { digest: sha256(&config), bytes: config.into() };
    let descriptor = |media_type: &str, blob: &Blob| json!({ "mediaType": media_type, "digest": blob.digest, "size": blob.bytes.len() });
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": descriptor("application/vnd.oci.image.config.v1+json", &config),
        "layers": layer_blobs.iter().map(|b| descriptor("application/vnd.oci.image.layer.v1.tar", b)).collect::<Vec<_>>(),
    }))
    .expect("a JSON value serializes");
    let mut blobs = vec![config];
    blobs.extend(layer_blobs);
    Image {
        repo: format!("bench/app{}", index % REPOSITORIES),
        tag: format!("v{index}"),
        blobs,
        manifest_digest: sha256(&manifest),
        manifest: manifest.into(),
    }
}

/// The requests of a push, for latency per kind of request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// `HEAD` of a blob.
    Head,
    /// `POST` starting a session.
    Post,
    /// `PATCH` with the body.
    Patch,
    /// `PUT ?digest=` completing the upload.
    Put,
    /// `PUT` of a manifest.
    Manifest,
}

impl Step {
    /// Every step, in the order a push sends them.
    pub const ALL: [Step; 5] = [Step::Head, Step::Post, Step::Patch, Step::Put, Step::Manifest];

    /// The request as the spec names it.
    pub fn name(self) -> &'static str {
        match self {
            Step::Head => "HEAD blob",
            Step::Post => "POST upload",
            Step::Patch => "PATCH upload",
            Step::Put => "PUT upload",
            Step::Manifest => "PUT manifest",
        }
    }
}

/// What scenario 1 measured.
#[derive(Debug, Clone)]
pub struct PushResult {
    /// Blobs pushed (configs and layers).
    pub blobs: usize,
    /// Manifests pushed.
    pub manifests: usize,
    /// Wall time from the first request to the last answer.
    pub elapsed: Duration,
    /// Latency of each kind of request that was sent.
    pub steps: Vec<(Step, Summary)>,
}

/// Latencies of one client's requests, by step.
#[derive(Default)]
struct Timings(Vec<(Step, Duration)>);

impl Timings {
    async fn time<T>(&mut self, step: Step, request: impl Future<Output = T>) -> T {
        let sent = Instant::now();
        let out = request.await;
        self.0.push((step, sent.elapsed()));
        out
    }
}

/// Pushes the whole corpus to `base` with `clients` concurrent clients.
///
/// # Errors
/// The first failed request of any client.
pub async fn run(base: &Url, corpus: Arc<Corpus>, clients: usize, flow: UploadFlow) -> anyhow::Result<PushResult> {
    let next = Arc::new(AtomicUsize::new(0));
    let mut workers = Vec::with_capacity(clients);
    let started = Instant::now();
    for _ in 0..clients {
        let (http, base, corpus, next) = (client::http_client()?, base.clone(), corpus.clone(), next.clone());
        workers.push(tokio::spawn(async move {
            let mut timings = Timings::default();
            while let Some(image) = corpus.images.get(next.fetch_add(1, Ordering::Relaxed)) {
                push_image(&http, &base, image, flow, &mut timings)
                    .await
                    .with_context(|| format!("{}:{}", image.repo, image.tag))?;
            }
            Ok::<_, anyhow::Error>(timings)
        }));
    }
    let mut timings = Vec::new();
    for worker in workers {
        timings.extend(worker.await.context("a push client panicked")??.0);
    }
    let elapsed = started.elapsed();
    let steps = Step::ALL
        .into_iter()
        .map(|step| (step, Summary::of(timings.iter().filter(|(s, _)| *s == step).map(|&(_, d)| d).collect())))
        .filter(|(_, summary)| summary.count > 0)
        .collect();
    Ok(PushResult { blobs: corpus.blob_count(), manifests: corpus.images.len(), elapsed, steps })
}

async fn push_image(
    http: &Client,
    base: &Url,
    image: &Image,
    flow: UploadFlow,
    timings: &mut Timings,
) -> anyhow::Result<()> {
    for blob in &image.blobs {
        if timings.time(Step::Head, client::blob_exists(http, base, &image.repo, &blob.digest)).await? {
            continue;
        }
        let session = timings.time(Step::Post, client::start_upload(http, base, &image.repo)).await?;
        let len = u64::try_from(blob.bytes.len())?;
        let (session, body, body_len) = match flow {
            UploadFlow::Put => (session, blob.bytes.clone(), len),
            UploadFlow::Patch => {
                let patch = client::patch_upload(http, session, blob.bytes.clone().into(), len);
                (timings.time(Step::Patch, patch).await?, Bytes::new(), 0)
            }
        };
        timings.time(Step::Put, client::finish_upload(http, session, &blob.digest, body, body_len)).await?;
    }
    let manifest = client::put_manifest(http, base, &image.repo, &image.tag, image.manifest.to_vec());
    timings.time(Step::Manifest, manifest).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn corpus_shape() {
        let corpus = Corpus::generate(3, 4, 100);
        assert_eq!(corpus.blob_count(), 15, "3 images × (1 config + 4 layers)");
        let image = &corpus.images[1];
        assert_eq!((image.repo.as_str(), image.tag.as_str()), ("bench/app1", "v1"));
        let manifest: serde_json::Value = serde_json::from_slice(&image.manifest).expect("manifest is JSON");
        assert_eq!(manifest["config"]["digest"], image.blobs[0].digest.as_str(), "config descriptor");
        assert_eq!(manifest["layers"][3]["size"], 100, "layer size");
        assert_eq!(image.manifest_digest, sha256(&image.manifest), "manifest digest");
    }

    #[test]
    fn layers_are_unique_across_images() {
        let corpus = Corpus::generate(2, 2, 64);
        let mut digests: Vec<&str> =
            corpus.images.iter().flat_map(|i| i.blobs.iter().map(|b| b.digest.as_str())).collect();
        digests.sort_unstable();
        digests.dedup();
        assert_eq!(digests.len(), 6, "2 images × 3 blobs, none shared");
    }
}
