//! Digest verification on the fly: a stream adapter that hashes blob bytes as they pass and
//! fails the stream, instead of handing out its last chunk, when the content does not match
//! the descriptor. A registry receiving the stream therefore never gets a complete wrong blob,
//! and nothing is buffered beyond the chunk in flight.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::Stream;

use crate::reference::{Digest, Hasher};

/// Why a blob stream was cut.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The content hashed to another digest.
    #[error("blob {expected}: content hashes to {actual}")]
    Digest {
        /// What the descriptor says.
        expected: Digest,
        /// What arrived.
        actual: Digest,
    },
    /// More or fewer bytes than the descriptor's size.
    #[error("blob {digest}: expected {expected} bytes, got {actual}")]
    Size {
        /// The blob.
        digest: Digest,
        /// The descriptor's size.
        expected: u64,
        /// Bytes seen.
        actual: u64,
    },
    /// The underlying stream failed (connection reset, disk error).
    #[error("blob {digest}: {message}")]
    Source {
        /// The blob.
        digest: Digest,
        /// The underlying error.
        message: String,
    },
}

/// Counts bytes moved, for progress and statistics. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct ByteCounter(Arc<AtomicU64>);

impl ByteCounter {
    /// Adds `n` bytes.
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    /// Bytes so far.
    #[must_use]
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A stream of blob bytes checked against a digest and size.
pub struct Verified<S> {
    inner: S,
    hasher: Option<Hasher>,
    expected: Digest,
    size: u64,
    seen: u64,
    counter: ByteCounter,
}

impl<S> Verified<S> {
    /// Wraps `inner`, which yields the blob from byte `offset`; `hasher` has already consumed
    /// bytes `0..offset` (a resumed download), or is fresh when `offset` is 0.
    pub fn new(inner: S, expected: Digest, size: u64, hasher: Hasher, offset: u64, counter: ByteCounter) -> Self {
        Verified { inner, hasher: Some(hasher), expected, size, seen: offset, counter }
    }

    /// Wraps a stream of the whole blob.
    pub fn whole(inner: S, expected: &Digest, size: u64, counter: ByteCounter) -> Self {
        let hasher = expected.algorithm().hasher();
        Self::new(inner, expected.clone(), size, hasher, 0, counter)
    }
}

impl<S, E> Stream for Verified<S>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    type Item = Result<Bytes, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        let Some(hasher) = this.hasher.as_mut() else { return Poll::Ready(None) };
        match Pin::new(&mut this.inner).poll_next(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Some(Err(e))) => {
                this.hasher = None;
                Poll::Ready(Some(Err(Error::Source { digest: this.expected.clone(), message: e.to_string() })))
            }
            Poll::Ready(Some(Ok(chunk))) => {
                this.seen += chunk.len() as u64;
                if this.seen > this.size {
                    this.hasher = None;
                    return Poll::Ready(Some(Err(Error::Size {
                        digest: this.expected.clone(),
                        expected: this.size,
                        actual: this.seen,
                    })));
                }
                hasher.update(&chunk);
                if this.seen == this.size {
                    // Check before the last chunk leaves, so a wrong blob is never complete.
                    let actual = this.hasher.take().map(Hasher::finish);
                    if let Some(actual) = actual
                        && actual != this.expected
                    {
                        return Poll::Ready(Some(Err(Error::Digest { expected: this.expected.clone(), actual })));
                    }
                }
                this.counter.add(chunk.len() as u64);
                Poll::Ready(Some(Ok(chunk)))
            }
            Poll::Ready(None) => {
                this.hasher = None;
                if this.seen == this.size {
                    // Reached only for an empty blob: its digest is checked here.
                    let actual = this.expected.algorithm().hasher().finish();
                    if this.size == 0 && actual != this.expected {
                        return Poll::Ready(Some(Err(Error::Digest { expected: this.expected.clone(), actual })));
                    }
                    return Poll::Ready(None);
                }
                Poll::Ready(Some(Err(Error::Size {
                    digest: this.expected.clone(),
                    expected: this.size,
                    actual: this.seen,
                })))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reference::Algorithm;
    use futures_util::StreamExt;

    async fn run(chunks: Vec<&'static [u8]>, digest: &Digest, size: u64) -> (Vec<u8>, Option<String>) {
        let inner =
            futures_util::stream::iter(chunks.into_iter().map(|c| Ok::<_, std::io::Error>(Bytes::from_static(c))));
        let mut s = Verified::whole(inner, digest, size, ByteCounter::default());
        let mut out = Vec::new();
        while let Some(item) = s.next().await {
            match item {
                Ok(b) => out.extend_from_slice(&b),
                Err(e) => return (out, Some(e.to_string())),
            }
        }
        (out, None)
    }

    #[tokio::test]
    async fn verifies_and_withholds_the_last_chunk() {
        let good = Digest::of(Algorithm::Sha256, b"hello world");
        let cases: Vec<(&str, Vec<&'static [u8]>, u64, usize, Option<&str>)> = vec![
            ("matching content", vec![b"hello ", b"world"], 11, 11, None),
            ("wrong content: last chunk withheld", vec![b"hello ", b"w0rld"], 11, 6, Some("hashes to")),
            ("too short", vec![b"hello "], 11, 6, Some("expected 11 bytes, got 6")),
            ("too long", vec![b"hello ", b"world!"], 11, 6, Some("expected 11 bytes, got 12")),
        ];
        for (name, chunks, size, delivered, error) in cases {
            let (out, err) = run(chunks, &good, size).await;
            assert_eq!(out.len(), delivered, "case {name}");
            match (err, error) {
                (None, None) => {}
                (Some(e), Some(want)) => assert!(e.contains(want), "case {name}: {e}"),
                (got, want) => panic!("case {name}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[tokio::test]
    async fn empty_blob() {
        let empty = Digest::of(Algorithm::Sha256, b"");
        assert_eq!(run(vec![], &empty, 0).await, (vec![], None));
        let other = Digest::of(Algorithm::Sha256, b"x");
        assert!(run(vec![], &other, 0).await.1.is_some());
    }
}
