//! Scenario 2: one big blob pushed and pulled, never held in memory on the client side.
//!
//! Push: `POST` a session, one streamed `PATCH` whose body comes from a generator that hashes
//! each chunk as it makes it (as a client hashing while it reads a layer from disk), then `PUT
//! ?digest=` with no body. Pull: `GET` the blob, hashing each chunk as it arrives, and check
//! digest and size at the end.

use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use bytes::Bytes;
use futures_util::{Stream, StreamExt, stream};
use reqwest::{Body, Url};
use sha2::{Digest as _, Sha256};
use tokio::sync::oneshot;

use crate::client;
use crate::content::{Prng, digest_string};

/// Size of each generated chunk (a multiple of 8, so the generator's words stay aligned).
const CHUNK: usize = 1 << 20;

/// The repository the big blob goes to.
const REPO: &str = "bench/big";

/// A finished push.
pub struct Pushed {
    /// The blob's digest.
    pub digest: String,
    /// From `POST` to the `PUT`'s answer.
    pub elapsed: Duration,
    /// The final `PUT` alone: where the registry verifies and moves the blob into place.
    pub finish: Duration,
}

/// Pushes a `size`-byte blob made from `seed`.
///
/// # Errors
/// Failed requests.
pub async fn push(base: &Url, size: u64, seed: u64) -> anyhow::Result<Pushed> {
    let http = client::http_client()?;
    let started = Instant::now();
    let session = client::start_upload(&http, base, REPO).await?;
    let (digest_tx, digest_rx) = oneshot::channel();
    let session =
        client::patch_upload(&http, session, Body::wrap_stream(generate(size, seed, digest_tx)), size).await?;
    let digest = digest_rx.await.context("the generator stopped before the end of the blob")?;
    let finishing = Instant::now();
    client::finish_upload(&http, session, &digest, Bytes::new(), 0).await?;
    Ok(Pushed { digest, elapsed: started.elapsed(), finish: finishing.elapsed() })
}

/// Pulls the blob `digest` of `size` bytes that [`push`] pushed; returns the time from `GET` to
/// the last byte.
///
/// # Errors
/// Failed requests, or content that differs from what was pushed.
pub async fn pull(base: &Url, digest: &str, size: u64) -> anyhow::Result<Duration> {
    let http = client::http_client()?;
    let started = Instant::now();
    let response = client::get_blob(&http, base, REPO, digest).await?;
    let mut body = response.bytes_stream();
    let (mut hasher, mut received) = (Sha256::new(), 0u64);
    while let Some(chunk) = body.next().await {
        let chunk = chunk.context("reading the blob")?;
        hasher.update(&chunk);
        received += u64::try_from(chunk.len())?;
    }
    let pulled = digest_string(hasher);
    let elapsed = started.elapsed();
    ensure!(received == size, "pulled {received} bytes, pushed {size}");
    if pulled != digest {
        bail!("pulled content has digest {pulled}, pushed {digest}");
    }
    Ok(elapsed)
}

/// How fast this machine generates and hashes `size` bytes with no registry involved: the
/// ceiling the client puts on both push and pull (it does that much work for each, on cores it
/// shares with the server).
pub async fn client_ceiling(size: u64) -> Duration {
    let (digest_tx, _digest_rx) = oneshot::channel();
    let started = Instant::now();
    let mut chunks = std::pin::pin!(generate(size, 1, digest_tx));
    while chunks.next().await.is_some() {}
    started.elapsed()
}

/// `size` pseudo-random bytes in chunks, hashed as they are made; the digest is sent on `done` as
/// soon as the last chunk is made (the HTTP client need not poll the stream past its length).
fn generate(size: u64, seed: u64, done: oneshot::Sender<String>) -> impl Stream<Item = std::io::Result<Bytes>> {
    struct State {
        prng: Prng,
        hasher: Sha256,
        left: u64,
        done: Option<oneshot::Sender<String>>,
    }
    let state = State { prng: Prng::new(seed), hasher: Sha256::new(), left: size, done: Some(done) };
    stream::unfold(state, |mut state| async move {
        if state.left == 0 {
            return None;
        }
        let len = usize::try_from(state.left).map_or(CHUNK, |left| left.min(CHUNK));
        let chunk = state.prng.bytes(len);
        state.hasher.update(&chunk);
        state.left -= u64::try_from(len).expect("a chunk length fits in u64");
        if state.left == 0
            && let Some(done) = state.done.take()
        {
            // The receiver is gone only if the push was abandoned; nothing to tell then.
            let _ = done.send(digest_string(std::mem::take(&mut state.hasher)));
        }
        Some((Ok(Bytes::from(chunk)), state))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::content::sha256;

    #[tokio::test]
    async fn generator_yields_size_bytes_and_their_digest() {
        let (tx, rx) = oneshot::channel();
        let size = 2 * CHUNK + 5;
        let chunks: Vec<Bytes> = generate(size as u64, 9, tx).map(|c| c.expect("infallible")).collect().await;
        let all: Vec<u8> = chunks.concat();
        assert_eq!(all.len(), size, "length");
        assert_eq!(chunks.len(), 3, "two full chunks and a short one");
        assert_eq!(rx.await.expect("digest sent"), sha256(&all), "digest of what was yielded");
        assert_eq!(all, Prng::new(9).bytes(size), "same bytes as the generator");
    }
}
