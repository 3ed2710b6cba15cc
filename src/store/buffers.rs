//! Recycled read buffers for blob GETs.
//!
//! A large pull reads its blob in 1 MiB chunks. Allocating each chunk afresh costs page faults
//! on every megabyte, and with musl (the static build shipped for RHEL 8) an `mmap`/`munmap`
//! pair per chunk: a third of pull throughput. A few buffers are kept here instead and handed
//! out again; the pool is bounded, so it never holds more than [`KEEP`] of them.

use std::sync::Mutex;

use bytes::Bytes;

/// Buffers kept for reuse: two in flight for each of four concurrent large pulls.
const KEEP: usize = 8;

static POOL: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());

/// A buffer of exactly `len` bytes (contents unspecified: the caller overwrites all of it).
#[must_use]
pub fn take(len: usize) -> Vec<u8> {
    let recycled = POOL.lock().unwrap_or_else(std::sync::PoisonError::into_inner).pop();
    match recycled {
        Some(mut buf) => {
            buf.resize(len, 0);
            buf
        }
        None => vec![0u8; len],
    }
}

/// Wraps a filled buffer as `Bytes`; when the last clone is dropped (the response has been
/// written), the buffer goes back to the pool.
#[must_use]
pub fn into_bytes(buf: Vec<u8>) -> Bytes {
    Bytes::from_owner(Recycled(buf))
}

struct Recycled(Vec<u8>);

impl AsRef<[u8]> for Recycled {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl Drop for Recycled {
    fn drop(&mut self) {
        let buf = std::mem::take(&mut self.0);
        let mut pool = POOL.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if pool.len() < KEEP {
            pool.push(buf);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_come_back_and_keep_their_contents_separate() {
        let mut a = take(16);
        a.copy_from_slice(&[7u8; 16]);
        let ptr = a.as_ptr();
        let bytes = into_bytes(a);
        assert_eq!(&bytes[..], &[7u8; 16]);
        let clone = bytes.slice(4..8);
        drop(bytes);
        assert_eq!(&clone[..], &[7u8; 4], "a slice keeps the buffer alive");
        drop(clone);
        // Other tests may take from the shared pool at the same time; look for ours a few times.
        let again: Vec<Vec<u8>> = (0..KEEP).map(|_| take(8)).collect();
        assert!(again.iter().all(|b| b.len() == 8));
        assert!(again.iter().any(|b| b.as_ptr() == ptr), "the buffer was reused");
    }
}
