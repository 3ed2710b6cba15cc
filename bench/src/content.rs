//! Test content: incompressible pseudo-random bytes from a seed, and their digests.
//!
//! The bytes only need to be unique per blob and cheap to make (the generator must not be what
//! the big-blob scenario measures), so a splitmix64 stream is enough; it is not for cryptography.

use sha2::{Digest as _, Sha256};

/// A seeded stream of pseudo-random bytes (splitmix64).
pub struct Prng(u64);

impl Prng {
    /// A generator whose output depends only on `seed`.
    pub fn new(seed: u64) -> Self {
        Prng(seed)
    }

    fn next_word(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Fills `buf` with the next bytes of the stream.
    pub fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let word = self.next_word().to_le_bytes();
            chunk.copy_from_slice(&word[..chunk.len()]);
        }
    }

    /// The next `len` bytes of the stream.
    pub fn bytes(&mut self, len: usize) -> Vec<u8> {
        let mut buf = vec![0; len];
        self.fill(&mut buf);
        buf
    }

    /// A number in `0..n` (`n` > 0), for picking targets; the slight modulo bias does not matter.
    pub fn below(&mut self, n: usize) -> usize {
        let n = u64::try_from(n).expect("usize fits in u64 on supported targets");
        usize::try_from(self.next_word() % n).expect("below n, which came from a usize")
    }
}

/// The `sha256:<hex>` digest of a finished hash.
pub fn digest_string(hasher: Sha256) -> String {
    format!("sha256:{}", hex::encode(hasher.finalize()))
}

/// The `sha256:<hex>` digest of `bytes`.
pub fn sha256(bytes: &[u8]) -> String {
    digest_string(Sha256::new_with_prefix(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_bytes_other_seed_other_bytes() {
        let a = Prng::new(7).bytes(1000);
        assert_eq!(a, Prng::new(7).bytes(1000), "seed 7 twice");
        assert_ne!(a, Prng::new(8).bytes(1000), "seeds 7 and 8");
    }

    #[test]
    fn fill_in_pieces_equals_fill_at_once_when_aligned() {
        let whole = Prng::new(3).bytes(64);
        let mut prng = Prng::new(3);
        let mut pieces = vec![0; 64];
        let (first, second) = pieces.split_at_mut(24);
        prng.fill(first);
        prng.fill(second);
        assert_eq!(whole, pieces, "24 + 40 bytes");
    }

    #[test]
    fn digest_of_empty_input() {
        assert_eq!(sha256(b""), "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    }
}
