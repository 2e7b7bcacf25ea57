//! The sw tables' hashing: rustc's Fx hash (the `rustc-hash` crate), one multiply per
//! word, non-cryptographic.

/// A `HashMap` with the Fx hasher.
pub(crate) type FxHashMap<K, V> = rustc_hash::FxHashMap<K, V>;

/// Hashes `words` (hash pipes' fields, the RSS 5-tuple) to 64 bits whose every bit
/// depends on every input bit: Fx, then a final avalanche (MurmurHash3's fmix64), so
/// that `% n` over the result spreads well for any `n`.
#[inline]
pub(crate) fn hash_words(words: impl IntoIterator<Item = u128>) -> u64 {
    use core::hash::Hasher;
    let mut h = rustc_hash::FxHasher::default();
    for w in words {
        h.write_u128(w);
    }
    let mut x = h.finish();
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    x
}
