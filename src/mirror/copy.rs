//! The copy engine: copies the images of a plan from a source (registries, or the disk cache)
//! to a destination (a registry, or the disk cache).
//!
//! Per image: fetch the root manifest (verified against its digest), skip the image when the
//! destination tag already points at the same digest, copy an index's children first (each
//! child's blobs, then the child by digest), then an image's blobs, then the root under its tag.
//!
//! Per blob, cheapest first:
//! 1. the destination repository has it (HEAD, or the cache's link): nothing to do;
//! 2. another image of this run already brought it to the destination, or was found complete
//!    there: a cross-repository mount (or, in the cache, a link);
//! 3. an earlier run left it in another repository of the destination registry (the
//!    [`KnownBlobs`] kept in the cache): a mount from there;
//! 4. otherwise one transfer, streamed from source to destination and verified on the way;
//!    every other image needing the blob waits for that transfer instead of starting its own.
//!
//! Transfers are retried whole (a stream can't be replayed). Downloads into the cache keep
//! their partial file, so a retry or a re-run continues with a `Range` request. Images run
//! `parallel_images` at a time, blobs of an image `parallel_layers` at a time.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures_util::{StreamExt, TryStreamExt};

use super::cache::{self, Cache};
use super::client::{self, ClientPool, Mount, RetryPolicy};
use super::known_blobs::KnownBlobs;
use super::plan::ImagePlan;
use super::progress::Progress;
use super::verify::{self, ByteCounter, Verified};
use crate::manifest::{self, Descriptor, Kind};
use crate::reference::image::ImageRef;
use crate::reference::{Digest, Reference, RepoName};

/// Deepest nesting of indexes followed (an index of indexes of images is depth 2).
const MAX_INDEX_DEPTH: usize = 4;

/// Why an image could not be copied.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A registry call failed.
    #[error(transparent)]
    Registry(#[from] client::Error),
    /// The cache failed.
    #[error(transparent)]
    Cache(#[from] cache::Error),
    /// A blob stream failed verification.
    #[error(transparent)]
    Verify(#[from] verify::Error),
    /// A manifest could not be parsed.
    #[error("manifest {digest}: {source}")]
    Manifest {
        /// Its digest.
        digest: Digest,
        /// Why.
        source: manifest::Error,
    },
    /// Indexes nested deeper than the engine follows (four levels).
    #[error("manifest {0}: indexes nested too deep")]
    TooDeep(Digest),
    /// The image took longer than `--image-timeout`.
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    /// The source and destination are both the cache.
    #[error("copying from the cache to the cache is not a workflow")]
    CacheToCache,
}

impl Error {
    fn is_retryable(&self) -> bool {
        match self {
            Error::Registry(e) => e.is_retryable(),
            Error::Verify(_) | Error::Cache(cache::Error::Corrupt { .. }) => true,
            _ => false,
        }
    }
}

/// One side of a copy.
pub enum Endpoint {
    /// Registries, reached through a pool of clients.
    Registry(ClientPool),
    /// The disk cache.
    Cache(Cache),
}

/// Limits and retries of the engine.
#[derive(Debug, Clone, Copy)]
pub struct EngineOptions {
    /// Images copied at once.
    pub parallel_images: usize,
    /// Blobs of one image copied at once.
    pub parallel_layers: usize,
    /// Attempts of a blob transfer (the same policy as every request's).
    pub retry: RetryPolicy,
    /// Longest time one image may take.
    pub image_timeout: Duration,
}

/// What the engine did, for the summary.
#[derive(Debug, Default)]
pub struct Stats {
    /// Bytes of blob content transferred.
    pub bytes: ByteCounter,
    /// Blobs transferred.
    pub blobs_copied: AtomicU64,
    /// Blobs the destination already had.
    pub blobs_present: AtomicU64,
    /// Blobs mounted or linked from another repository of the destination.
    pub blobs_mounted: AtomicU64,
    /// Manifests written.
    pub manifests: AtomicU64,
    /// Images skipped because the destination already had them.
    pub images_unchanged: AtomicU64,
}

/// The result of one image.
#[derive(Debug)]
pub struct ImageOutcome {
    /// The image.
    pub plan: ImagePlan,
    /// Its root digest, or why it failed.
    pub result: Result<Digest, Error>,
}

type Landing = Arc<tokio::sync::OnceCell<RepoName>>;

/// The copy engine of one run.
pub struct Engine {
    source: Endpoint,
    sink: Endpoint,
    options: EngineOptions,
    /// Where each blob of this run landed first, so that it is transferred once.
    landed: Mutex<HashMap<Digest, Landing>>,
    /// Where earlier runs left blobs on the destination registry.
    known: Option<KnownBlobs>,
    stats: Stats,
    progress: Progress,
}

/// A manifest in hand: bytes as served, media type, digest.
struct Fetched {
    bytes: Bytes,
    media_type: Option<String>,
    digest: Digest,
}

impl Engine {
    /// An engine copying from `source` to `sink`.
    #[must_use]
    pub fn new(source: Endpoint, sink: Endpoint, options: EngineOptions, progress: Progress) -> Engine {
        Engine {
            source,
            sink,
            options,
            landed: Mutex::new(HashMap::new()),
            known: None,
            stats: Stats::default(),
            progress,
        }
    }

    /// Uses and keeps up to date what earlier runs learnt about where blobs are on the
    /// destination registry; written back at the end of each [`Engine::copy_all`].
    #[must_use]
    pub fn with_known_blobs(mut self, known: KnownBlobs) -> Engine {
        self.known = Some(known);
        self
    }

    /// Why registries this engine reads or writes are unreachable, one line each.
    #[must_use]
    pub fn unreachable(&self) -> Vec<String> {
        [&self.source, &self.sink]
            .into_iter()
            .filter_map(|e| match e {
                Endpoint::Registry(pool) => Some(pool.unreachable()),
                Endpoint::Cache(_) => None,
            })
            .flatten()
            .collect()
    }

    /// What was done so far.
    #[must_use]
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Copies every image, `parallel_images` at a time, and reports each outcome (in the order
    /// the copies finish, not the order of `images`).
    pub async fn copy_all(&self, images: &[ImagePlan]) -> Vec<ImageOutcome> {
        self.progress.start_images(images.len() as u64, self.stats.bytes.clone());
        let outcomes: Vec<ImageOutcome> = futures_util::stream::iter(images.iter().cloned())
            .map(|plan| async move {
                let result = match tokio::time::timeout(self.options.image_timeout, self.copy_image(&plan)).await {
                    Ok(r) => r,
                    Err(_) => Err(Error::Timeout(self.options.image_timeout)),
                };
                match &result {
                    Ok(_) => self.progress.image_done(&plan.destination),
                    Err(e) => self.progress.image_failed(&plan.origin, e),
                }
                ImageOutcome { plan, result }
            })
            .buffer_unordered(self.options.parallel_images.max(1))
            .collect()
            .await;
        self.progress.finish();
        if let Some(known) = &self.known
            && let Err(e) = known.save().await
        {
            tracing::warn!(error = %e, "could not keep where blobs are on the destination for later runs");
        }
        outcomes
    }

    async fn copy_image(&self, plan: &ImagePlan) -> Result<Digest, Error> {
        let root = self.fetch_manifest(&plan.source, &plan.source.reference()).await?;
        let tag = plan.destination.tag().cloned().map(Reference::Tag);
        let dest_ref = tag.unwrap_or_else(|| Reference::Digest(root.digest.clone()));
        if self.sink_manifest_digest(&plan.destination, &dest_ref).await?.as_ref() == Some(&root.digest) {
            tracing::debug!(image = %plan.destination, "already mirrored");
            self.stats.images_unchanged.fetch_add(1, Ordering::Relaxed);
            self.remember_blobs(plan, &root, 0).await;
            return Ok(root.digest);
        }
        self.copy_tree(plan, &root, 0).await?;
        self.put_manifest(&plan.destination, &dest_ref, &root).await?;
        Ok(root.digest)
    }

    /// Copies what a manifest references (children first), not the manifest itself.
    fn copy_tree<'a>(
        &'a self,
        plan: &'a ImagePlan,
        fetched: &'a Fetched,
        depth: usize,
    ) -> futures_util::future::BoxFuture<'a, Result<(), Error>> {
        Box::pin(async move {
            let parsed = manifest::parse(fetched.media_type.as_deref(), &fetched.bytes)
                .map_err(|source| Error::Manifest { digest: fetched.digest.clone(), source })?;
            match parsed.kind {
                Kind::Index => {
                    if depth >= MAX_INDEX_DEPTH {
                        return Err(Error::TooDeep(fetched.digest.clone()));
                    }
                    for child in &parsed.children {
                        let child_ref = Reference::Digest(child.digest.clone());
                        if self.sink_manifest_digest(&plan.destination, &child_ref).await?.is_some() {
                            continue;
                        }
                        let child_manifest = self.fetch_manifest(&plan.source, &child_ref).await?;
                        self.copy_tree(plan, &child_manifest, depth + 1).await?;
                        self.put_manifest(&plan.destination, &child_ref, &child_manifest).await?;
                    }
                    Ok(())
                }
                Kind::Image => {
                    let blobs: Vec<Descriptor> = parsed.blobs.into_iter().filter(|d| !d.foreign).collect();
                    futures_util::stream::iter(blobs)
                        .map(|d| async move { self.copy_blob(plan, &d).await })
                        .buffer_unordered(self.options.parallel_layers.max(1))
                        .try_collect::<Vec<()>>()
                        .await?;
                    Ok(())
                }
            }
        })
    }

    /// Records that the destination repository of an image found complete at the destination
    /// holds the image's blobs, so that other images of this run mount them from there instead
    /// of transferring them (incremental runs add images that share layers with earlier ones).
    /// Best effort: a child manifest that can't be read is skipped.
    fn remember_blobs<'a>(
        &'a self,
        plan: &'a ImagePlan,
        fetched: &'a Fetched,
        depth: usize,
    ) -> futures_util::future::BoxFuture<'a, ()> {
        Box::pin(async move {
            let Ok(parsed) = manifest::parse(fetched.media_type.as_deref(), &fetched.bytes) else { return };
            match parsed.kind {
                Kind::Image => {
                    for blob in parsed.blobs.iter().filter(|d| !d.foreign) {
                        let landing = {
                            let mut landed = self.landed.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                            landed.entry(blob.digest.clone()).or_default().clone()
                        };
                        // Already set means another image brought it first: keep that one.
                        let _ = landing.set(plan.destination.repository().clone());
                        self.record_blob(plan, &blob.digest);
                    }
                }
                Kind::Index if depth < MAX_INDEX_DEPTH => {
                    for child in &parsed.children {
                        let reference = Reference::Digest(child.digest.clone());
                        if let Ok(child_manifest) = self.fetch_manifest(&plan.source, &reference).await {
                            self.remember_blobs(plan, &child_manifest, depth + 1).await;
                        }
                    }
                }
                Kind::Index => {}
            }
        })
    }

    async fn fetch_manifest(&self, image: &ImageRef, reference: &Reference) -> Result<Fetched, Error> {
        match &self.source {
            Endpoint::Registry(pool) => {
                let m = pool.client(image.registry()).get_manifest(image.repository(), reference).await?;
                Ok(Fetched { bytes: m.bytes, media_type: m.media_type, digest: m.digest })
            }
            Endpoint::Cache(cache) => {
                let m = cache.get_manifest(image.repository(), reference).await?;
                Ok(Fetched { bytes: m.bytes, media_type: None, digest: m.digest })
            }
        }
    }

    /// The digest `reference` resolves to at the destination, if it exists there.
    async fn sink_manifest_digest(&self, image: &ImageRef, reference: &Reference) -> Result<Option<Digest>, Error> {
        match &self.sink {
            Endpoint::Registry(pool) => {
                Ok(pool.client(image.registry()).head_manifest(image.repository(), reference).await?)
            }
            Endpoint::Cache(cache) => match cache.get_manifest(image.repository(), reference).await {
                Ok(m) => Ok(Some(m.digest)),
                Err(cache::Error::NotFound { .. } | cache::Error::Corrupt { .. }) => Ok(None),
                Err(e) => Err(e.into()),
            },
        }
    }

    async fn put_manifest(&self, image: &ImageRef, reference: &Reference, fetched: &Fetched) -> Result<(), Error> {
        match &self.sink {
            Endpoint::Registry(pool) => {
                let media_type = manifest::parse(fetched.media_type.as_deref(), &fetched.bytes)
                    .map_err(|source| Error::Manifest { digest: fetched.digest.clone(), source })?
                    .media_type;
                pool.client(image.registry())
                    .put_manifest(image.repository(), reference, &media_type, &fetched.bytes)
                    .await?;
            }
            Endpoint::Cache(cache) => {
                let tag = match reference {
                    Reference::Tag(t) => Some(t),
                    Reference::Digest(_) => None,
                };
                cache.put_manifest(image.repository(), &fetched.bytes, &fetched.digest, tag).await?;
            }
        }
        self.stats.manifests.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    async fn copy_blob(&self, plan: &ImagePlan, blob: &Descriptor) -> Result<(), Error> {
        self.place_blob(plan, blob).await?;
        self.record_blob(plan, &blob.digest);
        Ok(())
    }

    /// Makes the blob appear in the image's destination repository, the cheapest way known.
    async fn place_blob(&self, plan: &ImagePlan, blob: &Descriptor) -> Result<(), Error> {
        let dest_repo = plan.destination.repository();
        if self.sink_has_blob(&plan.destination, &blob.digest).await? {
            self.stats.blobs_present.fetch_add(1, Ordering::Relaxed);
            return Ok(());
        }
        let landing = {
            let mut landed = self.landed.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            landed.entry(blob.digest.clone()).or_default().clone()
        };
        let first = landing
            .get_or_try_init(|| async {
                let known = self.known.as_ref().and_then(|k| k.repository(plan.destination.registry(), &blob.digest));
                if let Some(from) = known.filter(|from| from != dest_repo) {
                    match self.mount_blob(plan, blob, &from).await {
                        Ok(()) => return Ok(dest_repo.clone()),
                        // The record is advice: a registry that fails the mount (the repository
                        // was deleted, access changed) gets the blob uploaded instead.
                        Err(e) => tracing::debug!(blob = %blob.digest, %from, error = %e, "mount refused; uploading"),
                    }
                }
                self.transfer_with_retries(plan, blob, None).await?;
                self.stats.blobs_copied.fetch_add(1, Ordering::Relaxed);
                Ok::<_, Error>(dest_repo.clone())
            })
            .await?;
        if first == dest_repo {
            return Ok(());
        }
        self.mount_blob(plan, blob, first).await
    }

    /// Keeps, for later runs, that the image's destination repository holds the blob.
    fn record_blob(&self, plan: &ImagePlan, digest: &Digest) {
        if let Some(known) = &self.known {
            known.record(plan.destination.registry(), digest, plan.destination.repository());
        }
    }

    async fn sink_has_blob(&self, image: &ImageRef, digest: &Digest) -> Result<bool, Error> {
        match &self.sink {
            Endpoint::Registry(pool) => {
                Ok(pool.client(image.registry()).has_blob(image.repository(), digest, true).await?)
            }
            Endpoint::Cache(cache) => {
                if cache.repo_has_blob(image.repository(), digest).await {
                    return Ok(true);
                }
                // Content from an earlier run under another repository only needs a link.
                if cache.has_blob(digest).await {
                    cache.link_blob(image.repository(), digest).await?;
                    return Ok(true);
                }
                Ok(false)
            }
        }
    }

    /// Makes a blob that this run already brought to repository `from` appear in the image's
    /// destination repository.
    async fn mount_blob(&self, plan: &ImagePlan, blob: &Descriptor, from: &RepoName) -> Result<(), Error> {
        let dest = &plan.destination;
        match &self.sink {
            Endpoint::Registry(pool) => {
                match pool.client(dest.registry()).mount_blob(dest.repository(), &blob.digest, from).await? {
                    Mount::Mounted => {}
                    // Registries may decline a mount (policy, or no access to `from`): copy.
                    Mount::Upload(location) => {
                        self.transfer_with_retries(plan, blob, Some(location)).await?;
                        self.stats.blobs_copied.fetch_add(1, Ordering::Relaxed);
                        return Ok(());
                    }
                }
            }
            Endpoint::Cache(cache) => cache.link_blob(dest.repository(), &blob.digest).await?,
        }
        self.stats.blobs_mounted.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Transfers a blob, trying the whole transfer again (its body is a stream, which can't be
    /// replayed) up to the policy's attempts. Only failures of the streamed part are retried
    /// here: the requests around it (the source GET, opening the upload) have had their own
    /// attempts in the client, and a final client error is never retried again.
    async fn transfer_with_retries(
        &self,
        plan: &ImagePlan,
        blob: &Descriptor,
        mut location: Option<String>,
    ) -> Result<(), Error> {
        let mut attempt = 1;
        loop {
            match self.transfer(plan, blob, location.take()).await {
                Ok(()) => return Ok(()),
                Err(e) if e.is_retryable() && attempt < self.options.retry.attempts() => {
                    tracing::warn!(blob = %blob.digest, error = %e, attempt, "blob transfer failed; retrying");
                    tokio::time::sleep(self.options.retry.wait(attempt - 1, None)).await;
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// One attempt at moving a blob's bytes from the source to the destination.
    async fn transfer(&self, plan: &ImagePlan, blob: &Descriptor, location: Option<String>) -> Result<(), Error> {
        let (src, dest) = (&plan.source, &plan.destination);
        let counter = self.stats.bytes.clone();
        match (&self.source, &self.sink) {
            (Endpoint::Registry(from), Endpoint::Registry(to)) => {
                let (resp, _) = from.client(src.registry()).get_blob(src.repository(), &blob.digest, 0).await?;
                let stream = Verified::whole(resp.bytes_stream(), &blob.digest, blob.size, counter);
                self.push(to, dest, blob, location, reqwest::Body::wrap_stream(stream)).await
            }
            (Endpoint::Cache(from), Endpoint::Registry(to)) => {
                let (file, _) = from.open_blob(&blob.digest).await?;
                let reader = tokio_util::io::ReaderStream::with_capacity(file, 256 * 1024);
                let stream = Verified::whole(reader, &blob.digest, blob.size, counter);
                self.push(to, dest, blob, location, reqwest::Body::wrap_stream(stream)).await
            }
            (Endpoint::Registry(from), Endpoint::Cache(to)) => {
                self.download(from, src, to, blob, &counter).await?;
                to.link_blob(dest.repository(), &blob.digest).await?;
                Ok(())
            }
            (Endpoint::Cache(_), Endpoint::Cache(_)) => Err(Error::CacheToCache),
        }
    }

    async fn push(
        &self,
        pool: &ClientPool,
        dest: &ImageRef,
        blob: &Descriptor,
        location: Option<String>,
        body: reqwest::Body,
    ) -> Result<(), Error> {
        let client = pool.client(dest.registry());
        let location = match location {
            Some(l) => l,
            None => client.start_upload(dest.repository()).await?,
        };
        client.finish_upload(dest.repository(), &location, &blob.digest, blob.size, body).await?;
        Ok(())
    }

    /// Downloads a blob into the cache, continuing a partial download when the source allows.
    async fn download(
        &self,
        pool: &ClientPool,
        src: &ImageRef,
        cache: &Cache,
        blob: &Descriptor,
        counter: &ByteCounter,
    ) -> Result<(), Error> {
        let mut writer = cache.resume_blob(&blob.digest, blob.size).await?;
        let client = pool.client(src.registry());
        let (resp, start) = client.get_blob(src.repository(), &blob.digest, writer.offset()).await?;
        if start == 0 && writer.offset() > 0 {
            writer.reset().await?;
        }
        let mut stream = resp.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = match chunk {
                Ok(c) => c,
                Err(e) => {
                    writer.suspend().await?;
                    return Err(verify::Error::Source { digest: blob.digest.clone(), message: e.to_string() }.into());
                }
            };
            if writer.offset() + chunk.len() as u64 > blob.size {
                writer.reset().await?;
                return Err(verify::Error::Size {
                    digest: blob.digest.clone(),
                    expected: blob.size,
                    actual: writer.offset() + chunk.len() as u64,
                }
                .into());
            }
            writer.write(&chunk).await?;
            counter.add(chunk.len() as u64);
        }
        writer.commit(&blob.digest, blob.size).await?;
        Ok(())
    }
}
