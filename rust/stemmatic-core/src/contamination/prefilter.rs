//! The rolling prefilter: which token windows of a document may be indexed
//! n-grams, at O(1) per window instead of one XXH3 of ~70 bytes.
//!
//! Every unit (token or character) gets a cheap 64-bit hash of its
//! normalized bytes ([`crate::text::units::token_hash`]), and a window of units `t_j..t_{j+m}`
//! the polynomial key `K = Σ t_{j+k} · B^(m-1-k) mod 2^64` (Karp and Rabin
//! 1987), read off prefix sums in one multiply ([`window_key`]). The index
//! keeps a filter of the keys of its n-grams ([`KeyFilter`]: four bits of one
//! 64-bit word per key): a window with any of its bits clear is not an
//! indexed n-gram, and only the others pay for the documented XXH3 hash and
//! the exact lookup. The prefilter only skips work: the same text always has
//! the same key, so no window whose XXH3 hash is indexed is skipped (the one
//! exception would be an XXH3 collision between different texts, which the
//! hashing contract already treats as impossible).
//!
//! The token hash, the base `B` and the filter's bit layout are part of the
//! index file format ([`super::FORMAT_VERSION`]): the stored filter was made
//! with them.

use crate::minhash::SplitMix64;

/// The base `B` of the polynomial window keys (odd, so multiplying by it is
/// a bijection modulo 2^64).
pub(crate) const WINDOW_BASE: u64 = 0x9E37_79B9_7F4A_7C15;
/// `prefix[i]` = key of the first `i` units (`prefix[0] = 0`), written into
/// `prefix` (cleared first).
pub(crate) fn prefix_keys(token_hashes: &[u64], prefix: &mut Vec<u64>) {
    prefix.clear();
    prefix.reserve(token_hashes.len() + 1);
    let mut key = 0u64;
    prefix.push(key);
    for &hash in token_hashes {
        key = key.wrapping_mul(WINDOW_BASE).wrapping_add(hash);
        prefix.push(key);
    }
}

/// `B^len mod 2^64`, the factor [`window_key`] needs for windows of `len` units.
pub(crate) fn window_factor(len: usize) -> u64 {
    let (mut base, mut exp, mut out) = (WINDOW_BASE, len, 1u64);
    while exp > 0 {
        if exp & 1 == 1 {
            out = out.wrapping_mul(base);
        }
        base = base.wrapping_mul(base);
        exp >>= 1;
    }
    out
}

/// The key of the `len` units from `start`, given `factor` =
/// [`window_factor`]`(len)`. `start + len` must be at most `prefix.len() - 1`.
#[inline(always)]
pub(crate) fn window_key(prefix: &[u64], start: usize, len: usize, factor: u64) -> u64 {
    prefix[start + len].wrapping_sub(prefix[start].wrapping_mul(factor))
}

/// The key of a whole unit sequence.
pub(crate) fn sequence_key(token_hashes: &[u64]) -> u64 {
    token_hashes.iter().fold(0u64, |key, &hash| {
        key.wrapping_mul(WINDOW_BASE).wrapping_add(hash)
    })
}

/// How many bit patterns [`KeyFilter`] picks from.
const PATTERNS_LEN: usize = 2048;
const PATTERN_MASK: u64 = PATTERNS_LEN as u64 - 1;

/// [`PATTERNS_LEN`] words of four distinct bits each (16 KiB: it stays in
/// the L1 cache), drawn from [`SplitMix64`] at compile time.
static PATTERNS: [u64; PATTERNS_LEN] = patterns();

const fn patterns() -> [u64; PATTERNS_LEN] {
    let mut out = [0u64; PATTERNS_LEN];
    let mut stream = SplitMix64::new(0x9E37_79B9_7F4A_7C15);
    let mut i = 0;
    while i < PATTERNS_LEN {
        let mut word = 0u64;
        while word.count_ones() < 4 {
            // A bit position from the output's top six bits.
            word |= 1 << (stream.next_u64() >> 58);
        }
        out[i] = word;
        i += 1;
    }
    out
}

/// A set of 64-bit keys as a blocked Bloom filter (Putze, Sanders and
/// Singler 2007) with pattern-table bits: each key sets four bits of one
/// 64-bit word, the word addressed by the key's top bits and the four bits
/// one of [`PATTERNS`], picked by the key's low 11 bits: one table load
/// instead of computing four shifts per probe. False positives: 0.5% of
/// the windows of the contamination benchmark's corpus at 16 bits per key
/// (four bits computed from the key: 0.4%, but the scan is 5% slower; one
/// bit per key: 5.3%), never false negatives; a probe is one load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KeyFilter {
    words: Vec<u64>,
    /// `64 - log2(words.len())`: the key's top bits pick the word.
    shift: u32,
}

impl KeyFilter {
    /// A filter of at least `bits_per_key` bits per key for `len` keys.
    pub(crate) fn with_capacity(len: usize, bits_per_key: usize) -> Self {
        let bits = len
            .saturating_mul(bits_per_key)
            .clamp(128, 1 << 40)
            .next_power_of_two();
        Self::from_words(vec![0; bits / 64]).unwrap_or_else(|| Self {
            words: vec![0; 2],
            shift: 63,
        })
    }

    /// A filter over stored words: `None` unless their count is a power of
    /// two and at least 2.
    pub(crate) fn from_words(words: Vec<u64>) -> Option<Self> {
        if !words.len().is_power_of_two() || words.len() < 2 {
            return None;
        }
        let shift = 64 - words.len().trailing_zeros();
        Some(Self { words, shift })
    }

    /// The filter of `keys`, at 16 bits per key.
    pub(crate) fn of(keys: &[u64]) -> Self {
        let mut filter = Self::with_capacity(keys.len(), 16);
        for &key in keys {
            filter.insert(key);
        }
        filter
    }

    pub(crate) fn words(&self) -> &[u64] {
        &self.words
    }

    /// The word of `key` and its bits there.
    #[inline(always)]
    fn locate(&self, key: u64) -> (usize, u64) {
        (
            (key >> self.shift) as usize,
            PATTERNS[(key & PATTERN_MASK) as usize],
        )
    }

    pub(crate) fn insert(&mut self, key: u64) {
        let (word, bits) = self.locate(key);
        if let Some(word) = self.words.get_mut(word) {
            *word |= bits;
        }
    }

    /// Start loading the word of `key` into the cache: a probe some windows
    /// later then finds it there instead of waiting for it (the filter is
    /// megabytes, and its words are read in random order).
    #[inline(always)]
    pub(crate) fn prefetch(&self, key: u64) {
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
            let (word, _) = self.locate(key);
            let address = self.words.as_ptr().wrapping_add(word).cast::<i8>();
            // SAFETY: a prefetch is only a hint: it never faults and reads
            // nothing into the program, whatever the address (which is in
            // the filter anyway: the key's top bits index its words).
            #[allow(unused_unsafe)]
            unsafe {
                _mm_prefetch::<_MM_HINT_T0>(address);
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = key;
    }

    /// False means `key` was never inserted.
    #[inline(always)]
    pub(crate) fn may_contain(&self, key: u64) -> bool {
        let (word, bits) = self.locate(key);
        self.words.get(word).is_some_and(|word| word & bits == bits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::units::{low_bytes, mix_word, token_hash};

    /// XXH3 of the little-endian bytes of [`PATTERNS`] in format version 3.
    const PATTERNS_CHECKSUM: u64 = 1_488_221_179_594_922_598;

    #[test]
    fn window_keys_are_sequence_keys() {
        let hashes: Vec<u64> = (0..20u64).map(|i| token_hash(&i.to_le_bytes())).collect();
        let mut prefix = Vec::new();
        prefix_keys(&hashes, &mut prefix);
        for len in 1..=hashes.len() {
            let factor = window_factor(len);
            for start in 0..=hashes.len() - len {
                assert_eq!(
                    window_key(&prefix, start, len, factor),
                    sequence_key(&hashes[start..start + len])
                );
            }
        }
    }

    #[test]
    fn token_hash_reads_zero_padded_words() {
        let case = 0x2020_2020_2020_2020;
        let mut state = 11u64;
        state = mix_word(state, u64::from_le_bytes(*b"abcdefgh") | case);
        state = mix_word(state, low_bytes(u64::from_le_bytes(*b"ijkXXXXX") | case, 3));
        assert_eq!(token_hash(b"abcdefghijk"), state);
        assert_eq!(token_hash(b"ABCDEFGHIJK"), state);
        assert_ne!(token_hash(b"a"), token_hash(b"a\0"));
    }

    #[test]
    fn patterns_have_four_bits_and_are_fixed() {
        assert!(PATTERNS.iter().all(|p| p.count_ones() == 4));
        // The patterns are part of the index format: a change to how they
        // are drawn must come with a new format version.
        let bytes: Vec<u8> = PATTERNS.iter().flat_map(|p| p.to_le_bytes()).collect();
        assert_eq!(xxhash_rust::xxh3::xxh3_64(&bytes), PATTERNS_CHECKSUM);
    }

    #[test]
    fn filter_has_no_false_negatives_and_few_false_positives() {
        // Pseudo-random keys: the first 1,000 inserted, the next 100,000 not.
        let mut stream = SplitMix64::new(7);
        let keys: Vec<u64> = stream.by_ref().take(1000).collect();
        let filter = KeyFilter::of(&keys);
        assert!(keys.iter().all(|&k| filter.may_contain(k)));
        assert_eq!(filter.words().len(), 16384 / 64);
        assert!(KeyFilter::from_words(vec![0; 3]).is_none());
        assert!(KeyFilter::from_words(vec![0; 1]).is_none());
        // Keys that were never inserted: under 1% pass (0.5% expected at
        // 16 bits and four bits per key).
        let passed = stream
            .take(100_000)
            .filter(|&key| filter.may_contain(key))
            .count();
        assert!(passed < 1000, "{passed} of 100000 passed");
        // The smallest filter still holds its key.
        let tiny = KeyFilter::of(&[u64::MAX]);
        assert!(tiny.may_contain(u64::MAX));
    }
}
