//! Scenario 3: many concurrent pullers fetching manifests (by tag) and small blobs.
//!
//! Each puller is a client of its own, taking request numbers from a shared counter until the
//! fixed total is reached. Request `n` picks its target from a generator seeded with `n`, so both
//! registries get the same sequence: half manifests, half layers or configs. Each latency runs
//! from sending the request to the last byte of the body, whose digest is checked.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use reqwest::{Client, Url};

use crate::client;
use crate::content::{Prng, sha256};
use crate::latency::Summary;
use crate::small_push::Corpus;

/// What scenario 3 measured.
#[derive(Debug, Clone, Copy)]
pub struct PullResult {
    /// Wall time of the whole run.
    pub elapsed: Duration,
    /// Every request.
    pub all: Summary,
    /// The manifest GETs alone.
    pub manifests: Summary,
    /// The blob GETs alone.
    pub blobs: Summary,
}

impl PullResult {
    /// Requests answered per second.
    pub fn per_second(&self) -> f64 {
        f64::from(u32::try_from(self.all.count).unwrap_or(u32::MAX)) / self.elapsed.as_secs_f64()
    }
}

/// Runs `requests` GETs against `base` from `pullers` concurrent clients over `corpus`, which
/// must have been pushed there.
///
/// # Errors
/// The first failed or wrong answer.
pub async fn run(base: &Url, corpus: Arc<Corpus>, pullers: usize, requests: usize) -> anyhow::Result<PullResult> {
    ensure!(!corpus.images.is_empty(), "nothing to pull");
    let next = Arc::new(AtomicUsize::new(0));
    let mut workers = Vec::with_capacity(pullers);
    let started = Instant::now();
    for _ in 0..pullers {
        let (http, base, corpus, next) = (client::http_client()?, base.clone(), corpus.clone(), next.clone());
        workers.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= requests {
                    return Ok::<_, anyhow::Error>(latencies);
                }
                let sent = Instant::now();
                let kind = pull_one(&http, &base, &corpus, n).await.with_context(|| format!("request {n}"))?;
                latencies.push((kind, sent.elapsed()));
            }
        }));
    }
    let mut latencies = Vec::with_capacity(requests);
    for worker in workers {
        latencies.extend(worker.await.context("a puller panicked")??);
    }
    let elapsed = started.elapsed();
    let only = |want: Target| latencies.iter().filter(|(kind, _)| *kind == want).map(|&(_, d)| d).collect();
    Ok(PullResult {
        elapsed,
        manifests: Summary::of(only(Target::Manifest)),
        blobs: Summary::of(only(Target::Blob)),
        all: Summary::of(latencies.into_iter().map(|(_, d)| d).collect()),
    })
}

/// What a request fetched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    Manifest,
    Blob,
}

async fn pull_one(http: &Client, base: &Url, corpus: &Corpus, n: usize) -> anyhow::Result<Target> {
    let mut pick = Prng::new(u64::try_from(n)?);
    let image = &corpus.images[pick.below(corpus.images.len())];
    let (target, response, want) = if pick.below(2) == 0 {
        let response = client::get_manifest(http, base, &image.repo, &image.tag).await?;
        (Target::Manifest, response, &image.manifest_digest)
    } else {
        let blob = &image.blobs[pick.below(image.blobs.len())];
        (Target::Blob, client::get_blob(http, base, &image.repo, &blob.digest).await?, &blob.digest)
    };
    let body = response.bytes().await.context("reading the body")?;
    let got = sha256(&body);
    ensure!(&got == want, "got content with digest {got}, expected {want}");
    Ok(target)
}
