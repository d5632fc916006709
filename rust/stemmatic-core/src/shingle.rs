//! Shingles: n-grams of tokens or characters, hashed to 64 bits.
//!
//! A shingle is the UTF-8 text of its n units as they stand in the normalized
//! buffer: for `words` and `whitespace`, the n tokens joined by single spaces
//! (Python: `" ".join(tokens[i:i + n])`); for `chars`, n consecutive
//! characters of the collapsed text. Its hash is **XXH3-64 with the seed**
//! (`xxhash.xxh3_64_intdigest(shingle.encode(), seed=seed)` in Python), a
//! fixed, documented function: the same value on every platform and version.
//!
//! A text with fewer than n units (but at least one) yields one shingle of all
//! its units; an empty text (no units) yields none.

use rayon::prelude::*;
use xxhash_rust::xxh3::{xxh3_64_with_seed, xxh3_128_with_seed};

use crate::error::{CoreError, Result};
use crate::parallel::run_in_pool;
use crate::sets::{SortScratch, sort_dedup};
use crate::text::Tokenizer;
use crate::text::units::Units;

mod xxh3;

pub(crate) use xxh3::SeededXxh3;

/// The default n-gram size: word 5-grams.
pub const DEFAULT_NGRAM: usize = 5;

/// How texts become shingle hashes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ShingleSpec {
    pub tokenizer: Tokenizer,
    pub ngram: usize,
    pub seed: u64,
}

impl ShingleSpec {
    /// A validated spec.
    ///
    /// # Errors
    /// `ngram` is zero.
    pub fn new(tokenizer: Tokenizer, ngram: usize, seed: u64) -> Result<Self> {
        if ngram == 0 {
            return Err(CoreError::param("ngram", "must be at least 1"));
        }
        Ok(Self {
            tokenizer,
            ngram,
            seed,
        })
    }

    /// Call `f` with the hash of every shingle of `text` (in order, repeats
    /// included); `scratch` is reused between calls. Returns the count.
    #[inline]
    pub fn for_each_hash(&self, text: &str, scratch: &mut String, mut f: impl FnMut(u64)) -> usize {
        self.tokenizer.normalize_into(text, scratch);
        let seed = self.seed;
        for_each_ngram(
            scratch,
            self.tokenizer.is_char_level(),
            self.ngram,
            |gram| {
                f(xxh3_64_with_seed(gram, seed));
            },
        )
    }

    /// Like [`ShingleSpec::for_each_hash`], with the one-pass word-at-a-time
    /// tokenizer of [`crate::text::units`] (same tokens, same bytes, as its
    /// property tests and the Python reference tests check) for `words` and
    /// `whitespace`; `units` is reused between calls.
    #[inline]
    pub(crate) fn for_each_hash_fast(
        &self,
        text: &str,
        units: &mut Units,
        f: impl FnMut(u64),
    ) -> usize {
        units.fill_bytes(self.tokenizer, text);
        self.for_each_unit_hash(units, f)
    }

    /// [`ShingleSpec::for_each_hash_fast`] of a row's bytes; `None`, before
    /// any call of `f`, for bytes that are not UTF-8. An ASCII row is cut
    /// straight from its bytes where the kernel packs ASCII units
    /// ([`Units::fill_ascii`]), with no UTF-8 check of its own.
    #[inline]
    pub(crate) fn for_each_row_hash(
        &self,
        bytes: &[u8],
        units: &mut Units,
        f: impl FnMut(u64),
    ) -> Option<usize> {
        if !units.fill_ascii(self.tokenizer, bytes) {
            units.fill_bytes(self.tokenizer, std::str::from_utf8(bytes).ok()?);
        }
        Some(self.for_each_unit_hash(units, f))
    }

    /// Call `f` with the hash of every shingle of the units `units` holds
    /// (cut for this spec's tokenizer), in order; returns the count.
    #[inline]
    pub(crate) fn for_each_unit_hash(&self, units: &Units, mut f: impl FnMut(u64)) -> usize {
        let (bytes, starts, gap, n) = (units.bytes(), &units.starts, units.gap, self.ngram);
        let count = units.count();
        if count == 0 {
            return 0;
        }
        let hasher = SeededXxh3::new(self.seed);
        if count < n {
            f(hasher.hash(bytes));
            return 1;
        }
        for (&start, &next) in starts.iter().zip(&starts[n..]) {
            f(hasher.hash(&bytes[start..next - gap]));
        }
        count - n + 1
    }

    /// The sorted, distinct shingle hashes of `text`: the set that MinHash
    /// estimates Jaccard similarity over and that exact verification uses.
    pub fn hash_set(&self, text: &str, scratch: &mut String) -> Vec<u64> {
        let mut hashes = Vec::new();
        self.for_each_hash(text, scratch, |h| hashes.push(h));
        hashes.sort_unstable();
        hashes.dedup();
        hashes
    }
}

/// Sorted distinct shingle sets of a batch, flattened: row `i`'s set is
/// `values[offsets[i]..offsets[i + 1]]`. Null and non-UTF-8 rows get an
/// empty set (the caller knows them from the signature pass).
pub fn hash_sets_batch(
    spec: &ShingleSpec,
    rows: &[Option<&[u8]>],
    workers: usize,
) -> Result<(Vec<u64>, Vec<u64>)> {
    // Hashes are gathered and sorted in per-worker buffers; each set is
    // then copied out at its exact size.
    let one = |row: Option<&[u8]>, (units, hashes, sort): &mut SetScratch| match row
        .map(std::str::from_utf8)
    {
        Some(Ok(text)) => {
            hashes.clear();
            spec.for_each_hash_fast(text, units, |h| hashes.push(h));
            sort_dedup(hashes, sort);
            hashes.clone()
        }
        _ => Vec::new(),
    };
    let sets: Vec<Vec<u64>> = if workers <= 1 || rows.len() < 64 {
        let mut scratch = SetScratch::default();
        rows.iter().map(|r| one(*r, &mut scratch)).collect()
    } else {
        run_in_pool(workers, || {
            rows.par_iter()
                .map_init(SetScratch::default, |scratch, r| one(*r, scratch))
                .collect()
        })?
    };
    Ok(flatten_sets(&sets))
}

/// Per-worker buffers of [`hash_sets_batch`].
type SetScratch = (Units, Vec<u64>, SortScratch);

/// Sets as one flat array: `(values, offsets)`, set `i` being
/// `values[offsets[i]..offsets[i + 1]]`.
pub type FlatSets = (Vec<u64>, Vec<u64>);

/// Flatten per-row sets into [`FlatSets`].
pub fn flatten_sets(sets: &[Vec<u64>]) -> FlatSets {
    let mut offsets = Vec::with_capacity(sets.len() + 1);
    offsets.push(0u64);
    let mut values = Vec::with_capacity(sets.iter().map(Vec::len).sum());
    for set in sets {
        values.extend_from_slice(set);
        offsets.push(values.len() as u64);
    }
    (values, offsets)
}

/// The exact-duplicate key of each row: XXH3-128 (seed 0) of its normalized
/// text under `tokenizer` (for `words`: the lowercase `\w+` tokens joined by
/// single spaces), as `[low, high]` 64-bit halves. Rows without tokens, null
/// or non-UTF-8 rows get `[0, 0]`.
pub fn exact_keys_batch(
    tokenizer: Tokenizer,
    rows: &[Option<&[u8]>],
    workers: usize,
) -> Result<Vec<[u64; 2]>> {
    let one = |row: Option<&[u8]>, scratch: &mut String| match row.map(std::str::from_utf8) {
        Some(Ok(text)) => {
            tokenizer.normalize_into(text, scratch);
            if scratch.is_empty() {
                [0, 0]
            } else {
                let h = xxh3_128_with_seed(scratch.as_bytes(), 0);
                [h as u64, (h >> 64) as u64]
            }
        }
        _ => [0, 0],
    };
    if workers <= 1 || rows.len() < 64 {
        let mut scratch = String::new();
        Ok(rows.iter().map(|r| one(*r, &mut scratch)).collect())
    } else {
        run_in_pool(workers, || {
            rows.par_iter()
                .map_init(String::new, |scratch, r| one(*r, scratch))
                .collect()
        })
    }
}

/// How long the tokens of each row are, in characters: `[token characters,
/// characters in tokens of at least `long_chars` characters, longest token]`.
/// A tokenizer that does not fit a text (`words` on Chinese, say, whose
/// "words" run from one punctuation mark to the next) shows as long tokens.
/// Null and non-UTF-8 rows get zeros; for `chars` every unit is one character.
pub fn token_lengths_batch(
    tokenizer: Tokenizer,
    rows: &[Option<&[u8]>],
    long_chars: usize,
) -> Vec<[u64; 3]> {
    let mut units = Units::default();
    rows.iter()
        .map(|row| match row.map(std::str::from_utf8) {
            Some(Ok(text)) => {
                units.fill_bytes(tokenizer, text);
                let (bytes, gap) = (units.bytes(), units.gap);
                let mut out = [0u64; 3];
                for w in units.starts.windows(2) {
                    let token = &bytes[w[0]..w[1] - gap];
                    // Characters are the bytes that are not continuation bytes.
                    let chars = token.iter().filter(|&&b| (b as i8) >= -0x40).count();
                    out[0] += chars as u64;
                    if chars >= long_chars {
                        out[1] += chars as u64;
                    }
                    out[2] = out[2].max(chars as u64);
                }
                out
            }
            _ => [0; 3],
        })
        .collect()
}

/// Call `f` with each n-gram of the normalized buffer, as bytes. Units are
/// space-separated tokens, or characters when `char_level`. Returns the count.
#[inline]
pub fn for_each_ngram(
    normalized: &str,
    char_level: bool,
    n: usize,
    mut f: impl FnMut(&[u8]),
) -> usize {
    let bytes = normalized.as_bytes();
    if bytes.is_empty() || n == 0 {
        return 0;
    }
    // Ring of the start offsets of the last n units.
    let mut starts = vec![0usize; n];
    let mut units = 0usize;
    let mut emitted = 0usize;
    let mut on_unit = |start: usize, end: usize| {
        starts[units % n] = start;
        units += 1;
        if units >= n {
            f(&bytes[starts[units % n]..end]);
            emitted += 1;
        }
    };
    if char_level {
        for (start, c) in normalized.char_indices() {
            on_unit(start, start + c.len_utf8());
        }
    } else {
        // Tokens contain no space and are joined by exactly one.
        let mut start = 0;
        for end in memchr::memchr_iter(b' ', bytes) {
            on_unit(start, end);
            start = end + 1;
        }
        on_unit(start, bytes.len());
    }
    if emitted == 0 {
        f(bytes);
        emitted = 1;
    }
    emitted
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grams(text: &str, tokenizer: Tokenizer, n: usize) -> Vec<String> {
        let mut buf = String::new();
        tokenizer.normalize_into(text, &mut buf);
        let mut out = Vec::new();
        for_each_ngram(&buf, tokenizer.is_char_level(), n, |g| {
            out.push(String::from_utf8(g.to_vec()).unwrap());
        });
        out
    }

    #[test]
    fn word_ngrams_are_space_joined_tokens() {
        assert_eq!(
            grams("A b, C d!", Tokenizer::Words, 2),
            ["a b", "b c", "c d"]
        );
        assert_eq!(grams("A b, C d!", Tokenizer::Words, 4), ["a b c d"]);
        // Shorter than n: one shingle of all tokens.
        assert_eq!(grams("A b, C d!", Tokenizer::Words, 5), ["a b c d"]);
        assert!(grams(" ,. ", Tokenizer::Words, 5).is_empty());
    }

    #[test]
    fn char_ngrams_slide_over_characters() {
        assert_eq!(grams("Ab  ΣX", Tokenizer::Chars, 3), ["ab ", "b σ", " σx"]);
        assert_eq!(grams("ab", Tokenizer::Chars, 3), ["ab"]);
    }

    #[test]
    fn pinned_hash_values() {
        // These values are part of the on-disk and cross-engine contract:
        // XXH3-64 of the UTF-8 shingle with the seed. Changing them breaks
        // every stored signature and index.
        let spec = ShingleSpec::new(Tokenizer::Words, 2, 0).unwrap();
        let mut hashes = Vec::new();
        spec.for_each_hash("Hello big World", &mut String::new(), |h| hashes.push(h));
        assert_eq!(
            hashes,
            [
                xxh3_64_with_seed(b"hello big", 0),
                xxh3_64_with_seed(b"big world", 0)
            ]
        );
        // Reference values from the Python `xxhash` package (xxh3_64_intdigest).
        assert_eq!(xxh3_64_with_seed(b"hello big", 0), 0x9bc4_6b52_c259_3d12);
        assert_eq!(xxh3_64_with_seed(b"hello big", 42), 0x6c6c_8856_f713_667f);
    }

    #[test]
    fn token_lengths_count_characters() {
        let rows = [
            Some("Hello wonderful 北京大学".as_bytes()),
            None,
            Some(&b"\xff"[..]),
        ];
        assert_eq!(
            token_lengths_batch(Tokenizer::Words, &rows, 4),
            [[18, 18, 9], [0; 3], [0; 3]]
        );
        assert_eq!(
            token_lengths_batch(Tokenizer::AutoSpan, &rows, 4),
            [[18, 14, 9], [0; 3], [0; 3]]
        );
        // A fifth of the token characters are Han: one unit per character.
        assert_eq!(
            token_lengths_batch(Tokenizer::Auto, &rows, 4),
            [[18, 0, 1], [0; 3], [0; 3]]
        );
    }

    #[test]
    fn auto_shingles_are_space_joined_units() {
        assert_eq!(
            grams("我爱 Big 北京!", Tokenizer::AutoSpan, 3),
            ["我 爱 big", "爱 big 北", "big 北 京"]
        );
        assert_eq!(
            grams("我爱 Big 北京!", Tokenizer::Auto, 3),
            ["我 爱 b", "爱 b i", "b i g", "i g 北", "g 北 京"]
        );
    }

    #[test]
    fn zero_ngram_is_refused() {
        assert!(ShingleSpec::new(Tokenizer::Words, 0, 1).is_err());
    }
}
