//! A document as units: its normalized bytes (exactly
//! [`Tokenizer::normalize_into`]'s), where each unit starts, and each
//! unit's [`token_hash`].
//!
//! For `words` and `whitespace` this is one pass over the text: the bytes
//! that can belong to a token (ASCII token characters and every byte of a
//! non-ASCII character) are marked 8 at a time with SWAR range tests into a
//! 64-bit mask per 64 bytes, and runs of marked bytes are read off the mask's
//! bit transitions, so a token costs no mispredicted branch per byte. An ASCII run is a token: it
//! is lowercased and copied 8 bytes at a time, and hashed from the same
//! words. A run with non-ASCII characters is normalized on its own by
//! [`Tokenizer::normalize_into`]: the ASCII separators around it separate in
//! the whole text too, and lowercasing is per character except for the
//! final sigma, whose context can reach past separators, so a text with `Σ`
//! (and every `chars` text) takes the general path: normalize the whole text,
//! then hash each unit.

use super::Tokenizer;

const TOKEN_XOR: u64 = 0x243F_6A88_85A3_08D3;
const TOKEN_MULTIPLIER: u64 = 0x1319_8A2E_0370_7345;

/// The 128-bit product of `a` and `b`, folded to 64 bits (high half XOR low
/// half): one multiply that mixes every input bit into the output.
#[inline(always)]
fn folded_multiply(a: u64, b: u64) -> u64 {
    let product = u128::from(a) * u128::from(b);
    (product as u64) ^ ((product >> 64) as u64)
}

/// One step of [`token_hash`]: mix the next 8-byte word into the state.
#[inline(always)]
pub(crate) fn mix_word(state: u64, word: u64) -> u64 {
    folded_multiply(state ^ word ^ TOKEN_XOR, TOKEN_MULTIPLIER)
}

/// The low `len` bytes of a little-endian word (`len` in 1..=8).
#[inline(always)]
pub(crate) fn low_bytes(word: u64, len: usize) -> u64 {
    word & (u64::MAX >> (64 - 8 * len.clamp(1, 8)))
}

/// The prefilter hash of one unit's normalized bytes: the state starts at
/// the byte length, and each 8-byte little-endian word of the bytes (the
/// last one zero-padded) is mixed in with [`mix_word`].
/// [`super::units`] computes the same value while it copies tokens.
pub(crate) fn token_hash(token: &[u8]) -> u64 {
    let mut state = token.len() as u64;
    let mut words = token.chunks_exact(8);
    for word in &mut words {
        let mut raw = [0u8; 8];
        raw.copy_from_slice(word);
        state = mix_word(state, u64::from_le_bytes(raw));
    }
    let rest = words.remainder();
    if !rest.is_empty() {
        let mut raw = [0u8; 8];
        raw[..rest.len()].copy_from_slice(rest);
        state = mix_word(state, u64::from_le_bytes(raw));
    }
    state
}

/// Start byte of every unit of a normalized buffer, then a sentinel: unit
/// `p` is `normalized[starts[p]..starts[p + 1] - gap]`, with `gap` 1 for
/// tokens (joined by one space) and 0 for characters.
pub(crate) fn unit_starts(normalized: &str, char_level: bool, starts: &mut Vec<usize>) -> usize {
    starts.clear();
    if normalized.is_empty() {
        starts.push(0);
        return 0;
    }
    if char_level {
        starts.extend(normalized.char_indices().map(|(i, _)| i));
        starts.push(normalized.len());
        0
    } else {
        starts.push(0);
        starts.extend(
            normalized
                .bytes()
                .enumerate()
                .filter(|&(_, b)| b == b' ')
                .map(|(i, _)| i + 1),
        );
        starts.push(normalized.len() + 1);
        1
    }
}

/// Bit `k` set when byte `k` of the little-endian word is a token byte,
/// and bit `k` set when it is not ASCII.
#[inline(always)]
fn word_token_bits(word: u64, words_tokenizer: bool) -> (u64, u64) {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const LOW_SEVEN: u64 = 0x7F7F_7F7F_7F7F_7F7F;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let low = word & LOW_SEVEN;
    // High bit of each byte set when `low` is in `lo..=hi` (no carries: low <= 0x7F).
    let in_range =
        |value: u64, lo: u64, hi: u64| (value + (0x80 - lo) * ONES) & !(value + (0x7F - hi) * ONES);
    let token = if words_tokenizer {
        let folded = low | 0x2020_2020_2020_2020;
        in_range(folded, 0x61, 0x7A)
            | in_range(low, 0x30, 0x39)
            | !((low ^ 0x5F5F_5F5F_5F5F_5F5F) + LOW_SEVEN)
    } else {
        // Not `str.isspace()`: outside 0x09..=0x0D, 0x1C..=0x20.
        !(in_range(low, 0x09, 0x0D) | in_range(low, 0x1C, 0x20))
    };
    // Non-ASCII bytes always belong to a run.
    let high_bits = (token | word) & HIGH;
    // Gather the 8 high bits into the top byte.
    let gather = |bits: u64| bits.wrapping_mul(0x0002_0408_1020_4081) >> 56;
    (gather(high_bits), gather(word & HIGH))
}

/// How a 64-byte block is classified: bit `k` of the first mask set when
/// byte `k` is a token byte, of the second when it is not ASCII.
trait Classify {
    fn block(block: &[u8; 64], words_tokenizer: bool) -> (u64, u64);
}

/// Eight bytes at a time with [`word_token_bits`]: every target.
struct Swar;

impl Classify for Swar {
    #[inline(always)]
    fn block(block: &[u8; 64], words_tokenizer: bool) -> (u64, u64) {
        let (mut mask, mut non_ascii) = (0u64, 0u64);
        for (k, chunk) in block.chunks_exact(8).enumerate() {
            let mut raw = [0u8; 8];
            raw.copy_from_slice(chunk);
            let (token, high) = word_token_bits(u64::from_le_bytes(raw), words_tokenizer);
            mask |= token << (8 * k);
            non_ascii |= high << (8 * k);
        }
        (mask, non_ascii)
    }
}

/// The whole block in a few AVX2 compares, 32 bytes at a time. Only for
/// code compiled with AVX2 enabled (see [`Units::fill_token_runs_avx2`]).
#[cfg(target_arch = "x86_64")]
struct Avx2;

#[cfg(target_arch = "x86_64")]
impl Classify for Avx2 {
    #[inline(always)]
    fn block(block: &[u8; 64], words_tokenizer: bool) -> (u64, u64) {
        let (low, high) = block.split_at(32);
        // SAFETY: `Avx2` is only used by `Units::fill_token_runs_avx2`,
        // which runs only where the CPU has AVX2.
        let (low, high) = unsafe {
            (
                classify_avx2(low, words_tokenizer),
                classify_avx2(high, words_tokenizer),
            )
        };
        (
            u64::from(low.0) | u64::from(high.0) << 32,
            u64::from(low.1) | u64::from(high.1) << 32,
        )
    }
}

/// The token and non-ASCII bits of the first 32 bytes of `half` with AVX2:
/// the same masks as [`Swar`].
///
/// # Safety
/// The CPU must support AVX2, and `half` must have at least 32 bytes.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
// The intrinsics are safe to call here from Rust 1.87 on, unsafe before.
#[allow(unused_unsafe)]
unsafe fn classify_avx2(half: &[u8], words_tokenizer: bool) -> (u32, u32) {
    use std::arch::x86_64::{
        __m256i, _mm256_cmpeq_epi8, _mm256_loadu_si256, _mm256_min_epu8, _mm256_movemask_epi8,
        _mm256_or_si256, _mm256_set1_epi8, _mm256_sub_epi8,
    };
    debug_assert!(half.len() >= 32);
    // SAFETY: `half` has 32 readable bytes (the caller's contract); the
    // load is unaligned. The other intrinsics only need AVX2.
    unsafe {
        let v = _mm256_loadu_si256(half.as_ptr().cast());
        let byte = |b: u8| _mm256_set1_epi8(b as i8);
        // `lo <= v <= hi` as `min(v - lo, hi - lo) == v - lo`, unsigned.
        let in_range = |v: __m256i, lo: u8, hi: u8| {
            let shifted = _mm256_sub_epi8(v, byte(lo));
            _mm256_cmpeq_epi8(_mm256_min_epu8(shifted, byte(hi - lo)), shifted)
        };
        // The sign bit of each byte: not ASCII.
        let non_ascii = _mm256_movemask_epi8(v) as u32;
        let token = if words_tokenizer {
            let folded = _mm256_or_si256(v, byte(0x20));
            let word = _mm256_or_si256(
                _mm256_or_si256(in_range(folded, b'a', b'z'), in_range(v, b'0', b'9')),
                _mm256_cmpeq_epi8(v, byte(b'_')),
            );
            _mm256_movemask_epi8(word) as u32 | non_ascii
        } else {
            // Not `str.isspace()`: outside 0x09..=0x0D, 0x1C..=0x20.
            let space = _mm256_or_si256(in_range(v, 0x09, 0x0D), in_range(v, 0x1C, 0x20));
            !(_mm256_movemask_epi8(space) as u32)
        };
        (token, non_ascii)
    }
}

/// Call `on_run(start, end, ascii)` for each maximal run of token bytes
/// of `bytes`, in order; `ascii` is false when the run has a non-ASCII byte.
#[inline(always)]
fn for_each_run(bytes: &[u8], words_tokenizer: bool, on_run: impl FnMut(usize, usize, bool)) {
    for_each_run_with::<Swar>(bytes, words_tokenizer, on_run);
}

/// [`for_each_run`] with blocks classified by `C`.
#[inline(always)]
fn for_each_run_with<C: Classify>(
    bytes: &[u8],
    words_tokenizer: bool,
    mut on_run: impl FnMut(usize, usize, bool),
) {
    let mut run_start = 0usize;
    let mut run_ascii = true;
    let mut in_run = false;
    let mut carry = 0u64;
    // The last block is padded with spaces (a separator for both
    // tokenizers) and always has one, so every run ends inside the loop
    // and `on_run` is inlined once.
    let mut padded = [b' '; 64];
    for base in (0..=bytes.len()).step_by(64) {
        let block = if let Some(block) = bytes.get(base..).and_then(<[u8]>::first_chunk::<64>) {
            block
        } else {
            let rest = bytes.get(base..).unwrap_or_default();
            padded[..rest.len()].copy_from_slice(rest);
            &padded
        };
        let (mask, non_ascii) = C::block(block, words_tokenizer);
        // A set bit where a run starts or ends.
        let mut transitions = mask ^ ((mask << 1) | carry);
        carry = mask >> 63;
        // Bits from the start of the current run (or of the block) on.
        let mut from = 0u32;
        while transitions != 0 {
            let bit = transitions.trailing_zeros();
            transitions &= transitions - 1;
            if in_run {
                let run_bits = (u64::MAX << from) & !(u64::MAX << bit);
                run_ascii &= non_ascii & run_bits == 0;
                on_run(run_start, base + bit as usize, run_ascii);
            } else {
                run_start = base + bit as usize;
                run_ascii = true;
                from = bit;
            }
            in_run = !in_run;
        }
        if in_run {
            run_ascii &= non_ascii & (u64::MAX << from) == 0;
        }
    }
}

/// For an ASCII text cut by `words` or `whitespace`, the character span of
/// each unit (as [`crate::contamination::unit_char_spans`] gives it) into `out`; false,
/// with `out` untouched, for any other text.
pub(crate) fn ascii_unit_spans(
    tokenizer: Tokenizer,
    text: &str,
    out: &mut Vec<(usize, usize)>,
) -> bool {
    if tokenizer.is_char_level() || !text.is_ascii() {
        return false;
    }
    out.clear();
    for_each_token_run(
        text.as_bytes(),
        tokenizer == Tokenizer::Words,
        |start, end, _| out.push((start, end)),
    );
    true
}

/// [`for_each_run`], with the AVX2 classifier where the CPU has AVX2.
#[inline]
pub(crate) fn for_each_token_run(
    bytes: &[u8],
    words_tokenizer: bool,
    on_run: impl FnMut(usize, usize, bool),
) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2, checked just above.
        unsafe { for_each_run_avx2(bytes, words_tokenizer, on_run) };
        return;
    }
    for_each_run(bytes, words_tokenizer, on_run);
}

/// [`for_each_run`] compiled for AVX2, blocks classified by [`Avx2`].
///
/// # Safety
/// The CPU must support AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn for_each_run_avx2(
    bytes: &[u8],
    words_tokenizer: bool,
    on_run: impl FnMut(usize, usize, bool),
) {
    for_each_run_with::<Avx2>(bytes, words_tokenizer, on_run);
}

/// ASCII uppercase letters of a word plus 0x20; other bytes unchanged.
#[inline(always)]
fn ascii_lowercase_word(word: u64) -> u64 {
    const LOW_SEVEN: u64 = 0x7F7F_7F7F_7F7F_7F7F;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let low = word & LOW_SEVEN;
    // High bit of each byte: low >= b'A', then low > b'Z' (no carries: low <= 0x7F).
    let at_least_a = low + 0x3F3F_3F3F_3F3F_3F3F;
    let above_z = low + 0x2525_2525_2525_2525;
    let upper = at_least_a & !above_z & !word & HIGH;
    word | (upper >> 2)
}

/// The 8 bytes of `bytes` from `at`, zero-padded past its end.
#[inline(always)]
fn load_word(bytes: &[u8], at: usize) -> u64 {
    if let Some(word) = bytes.get(at..).and_then(<[u8]>::first_chunk::<8>) {
        return u64::from_le_bytes(*word);
    }
    let mut raw = [0u8; 8];
    let rest = bytes.get(at..).unwrap_or_default();
    raw[..rest.len()].copy_from_slice(rest);
    u64::from_le_bytes(raw)
}

/// Copy the ASCII token `bytes[start..end]`, lowercased, to `buffer` at
/// `written`, followed by a space, a word at a time; returns its
/// [`token_hash`] (computed from the same words) and the new end. `buffer`
/// must have 8 spare bytes past the space.
#[inline(always)]
fn add_ascii_token(
    buffer: &mut [u8],
    bytes: &[u8],
    start: usize,
    end: usize,
    written: usize,
) -> (u64, usize) {
    let len = end - start;
    let mut state = len as u64;
    let mut offset = 0;
    loop {
        let word = ascii_lowercase_word(load_word(bytes, start + offset));
        let at = written + offset;
        buffer[at..at + 8].copy_from_slice(&word.to_le_bytes());
        state = mix_word(state, low_bytes(word, len - offset));
        offset += 8;
        if offset >= len {
            break;
        }
    }
    buffer[written + len] = b' ';
    (state, written + len + 1)
}

/// Reusable buffers holding the units of one document.
#[derive(Debug, Default)]
pub(crate) struct Units {
    /// The normalized text, possibly followed by spare bytes.
    buffer: Vec<u8>,
    len: usize,
    /// Start of each unit in the normalized bytes, then a sentinel: unit `p`
    /// is `bytes()[starts[p]..starts[p + 1] - gap]`.
    pub(crate) starts: Vec<usize>,
    /// [`token_hash`] of each unit.
    pub(crate) hashes: Vec<u64>,
    /// 1 for tokens (joined by one space), 0 for characters.
    pub(crate) gap: usize,
    text: String,
}

impl Units {
    /// The normalized text.
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.buffer[..self.len]
    }

    /// Number of units.
    pub(crate) fn count(&self) -> usize {
        self.starts.len().saturating_sub(1)
    }

    /// Cut `text` into units.
    pub(crate) fn fill(&mut self, tokenizer: Tokenizer, text: &str) {
        let mut hashes = std::mem::take(&mut self.hashes);
        hashes.clear();
        let fast = self.fill_tokens(tokenizer, text, |hash| hashes.push(hash));
        self.hashes = hashes;
        if !fast {
            self.fill_general(tokenizer, text);
        }
    }

    /// Cut `text` into units for their bytes only ([`Units::bytes`] and
    /// `starts`, not the unit hashes, which are left stale): what shingling
    /// needs. The hash a token would get is never computed (the callback is a
    /// no-op, so the compiler drops it) but on the general path.
    pub(crate) fn fill_bytes(&mut self, tokenizer: Tokenizer, text: &str) {
        if !self.fill_tokens(tokenizer, text, |_| {}) {
            self.fill_general(tokenizer, text);
        }
    }

    /// The one-pass tokenizer for `words` and `whitespace`: fills
    /// [`Units::bytes`] and `starts` as [`Units::fill`] does and calls
    /// `on_unit` with the [`token_hash`] of each unit in order, but leaves
    /// `hashes` alone. False, before any call of `on_unit` and with the
    /// buffers in any state, when the text needs the general path: `chars`,
    /// or a text with `Σ`.
    #[inline]
    pub(crate) fn fill_tokens(
        &mut self,
        tokenizer: Tokenizer,
        text: &str,
        on_unit: impl FnMut(u64),
    ) -> bool {
        if tokenizer.is_char_level() {
            return false;
        }
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2, checked just above.
            return unsafe { self.fill_token_runs_avx2(text, tokenizer, on_unit) };
        }
        self.fill_token_runs::<Swar>(text, tokenizer, on_unit)
    }

    /// [`Units::fill_token_runs`] compiled for AVX2, blocks classified by
    /// [`Avx2`].
    ///
    /// # Safety
    /// The CPU must support AVX2.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn fill_token_runs_avx2(
        &mut self,
        text: &str,
        tokenizer: Tokenizer,
        on_unit: impl FnMut(u64),
    ) -> bool {
        self.fill_token_runs::<Avx2>(text, tokenizer, on_unit)
    }

    /// Normalize the whole text, then hash each unit.
    pub(crate) fn fill_general(&mut self, tokenizer: Tokenizer, text: &str) {
        tokenizer.normalize_into(text, &mut self.text);
        self.buffer.clear();
        self.buffer.extend_from_slice(self.text.as_bytes());
        self.len = self.buffer.len();
        self.gap = unit_starts(&self.text, tokenizer.is_char_level(), &mut self.starts);
        self.hashes.clear();
        let (bytes, gap) = (&self.buffer, self.gap);
        self.hashes.extend(
            self.starts
                .windows(2)
                .map(|w| token_hash(&bytes[w[0]..w[1] - gap])),
        );
    }

    /// [`Units::fill_tokens`] for `words` and `whitespace`, in one pass over
    /// the runs of token bytes: an ASCII run is copied and hashed as it is
    /// cut, a run with other characters is normalized on its own.
    #[inline(always)]
    fn fill_token_runs<C: Classify>(
        &mut self,
        text: &str,
        tokenizer: Tokenizer,
        mut on_unit: impl FnMut(u64),
    ) -> bool {
        let bytes = text.as_bytes();
        self.starts.clear();
        self.gap = 1;
        // Spare bytes are overwritten, never read: grow, but do not clear.
        if self.buffer.len() < bytes.len() + 16 {
            self.buffer.resize(bytes.len() + 16, 0);
        }
        let words_tokenizer = tokenizer == Tokenizer::Words;
        let (buffer, starts) = (&mut self.buffer, &mut self.starts);
        let mut written = 0;
        if bytes.is_ascii() {
            // Every run is a token.
            for_each_run_with::<C>(bytes, words_tokenizer, |start, end, _| {
                starts.push(written);
                let (hash, next) = add_ascii_token(buffer, bytes, start, end, written);
                on_unit(hash);
                written = next;
            });
        } else {
            // `memmem` rather than `str::contains`: the std two-byte search was a
            // fifth of the scan time on non-ASCII documents.
            if memchr::memmem::find(bytes, "\u{03A3}".as_bytes()).is_some() {
                return false;
            }
            let normalized = &mut self.text;
            for_each_run_with::<C>(bytes, words_tokenizer, |start, end, ascii| {
                if ascii {
                    // Each token is preceded by a separator in `bytes` (or is
                    // the first), so `written - start` never grows along ASCII
                    // runs: the buffer, sized by the text or by the last mixed
                    // run, holds them.
                    starts.push(written);
                    let (hash, next) = add_ascii_token(buffer, bytes, start, end, written);
                    on_unit(hash);
                    written = next;
                } else {
                    let run = MixedRun {
                        text,
                        start,
                        end,
                        tokenizer,
                    };
                    written = add_mixed_run(run, buffer, starts, normalized, written, &mut on_unit);
                }
            });
        }
        // `written` counts a space after the last unit: the sentinel of `starts`.
        self.starts.push(written);
        self.len = written.saturating_sub(1);
        true
    }
}

/// A run of token bytes with non-ASCII characters: `text[start..end]`.
#[derive(Clone, Copy)]
struct MixedRun<'a> {
    text: &'a str,
    start: usize,
    end: usize,
    tokenizer: Tokenizer,
}

/// Normalize a run with non-ASCII characters on its own and append its
/// tokens at `written`; the new end (past the separating space). The run
/// starts and ends at ASCII bytes (or the text's ends), so it is whole
/// characters, the ASCII separators around it separate in the whole text
/// too, and it has no `Σ` (checked by the caller).
#[cold]
fn add_mixed_run(
    run: MixedRun<'_>,
    buffer: &mut Vec<u8>,
    starts: &mut Vec<usize>,
    normalized: &mut String,
    mut written: usize,
    on_unit: &mut impl FnMut(u64),
) -> usize {
    let piece = run.text.get(run.start..run.end).unwrap_or_default();
    run.tokenizer.normalize_into(piece, normalized);
    // Room for the run and, at the invariant of the ASCII runs, the rest of the text.
    let need = written + normalized.len() + 1 + (run.text.len() - run.end) + 16;
    if buffer.len() < need {
        buffer.resize(need, 0);
    }
    for token in normalized.split(' ').filter(|t| !t.is_empty()) {
        let token = token.as_bytes();
        starts.push(written);
        on_unit(token_hash(token));
        buffer[written..written + token.len()].copy_from_slice(token);
        written += token.len();
        buffer[written] = b' ';
        written += 1;
    }
    written
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// For each byte: 1 if it can be part of a `words` token.
    static WORD_BYTES: [u8; 256] = byte_classes(true);
    /// For each byte: 1 if it can be part of a `whitespace` token.
    static NON_SPACE_BYTES: [u8; 256] = byte_classes(false);

    const fn byte_classes(words: bool) -> [u8; 256] {
        let mut table = [1u8; 256];
        let mut i = 0;
        while i < 128 {
            table[i] = crate::text::is_ascii_token_byte(i as u8, words) as u8;
            i += 1;
        }
        table
    }

    fn general(tokenizer: Tokenizer, text: &str) -> (Vec<u8>, Vec<usize>, Vec<u64>) {
        let mut units = Units::default();
        units.fill_general(tokenizer, text);
        (units.bytes().to_vec(), units.starts, units.hashes)
    }

    fn fast(tokenizer: Tokenizer, text: &str) -> (Vec<u8>, Vec<usize>, Vec<u64>) {
        let mut units = Units::default();
        // Dirty buffers must not leak into the next text.
        units.fill(
            tokenizer,
            "SOME earlier text, longer than the next one: İİİ ß",
        );
        units.fill(tokenizer, text);
        let filled = (units.bytes().to_vec(), units.starts.clone(), units.hashes);
        // The bytes-only fill cuts the same units.
        let mut bytes_only = Units::default();
        bytes_only.fill_bytes(tokenizer, "SOME earlier text: İİİ ß, Σ");
        bytes_only.fill_bytes(tokenizer, text);
        assert_eq!(
            (bytes_only.bytes(), &bytes_only.starts),
            (&filled.0[..], &filled.1)
        );
        assert_eq!(bytes_only.gap, units.gap);
        filled
    }

    #[test]
    fn word_masks_match_the_tables() {
        for words in [true, false] {
            let table = if words { &WORD_BYTES } else { &NON_SPACE_BYTES };
            for b in 0..=255u8 {
                for position in 0..8 {
                    let mut raw = [b'x'; 8];
                    raw[position] = b;
                    let (bits, high) = word_token_bits(u64::from_le_bytes(raw), words);
                    assert_eq!(high, u64::from(b >> 7) << position);
                    let expected: u64 = raw
                        .iter()
                        .enumerate()
                        .map(|(k, &c)| u64::from(table[usize::from(c)]) << k)
                        .sum();
                    assert_eq!(bits, expected, "byte {b:#x} at {position}");
                }
            }
        }
    }

    /// [`fast`] with the portable classifier, which machines with AVX2
    /// would otherwise never run.
    fn fast_swar(tokenizer: Tokenizer, text: &str) -> (Vec<u8>, Vec<usize>, Vec<u64>) {
        let mut units = Units::default();
        let mut hashes = Vec::new();
        units.fill(tokenizer, "SOME earlier text: İİİ ß");
        if tokenizer.is_char_level()
            || !units.fill_token_runs::<Swar>(text, tokenizer, |h| hashes.push(h))
        {
            units.fill_general(tokenizer, text);
            hashes.clone_from(&units.hashes);
        }
        (units.bytes().to_vec(), units.starts, hashes)
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn avx2_blocks_match_swar() {
        if !std::arch::is_x86_feature_detected!("avx2") {
            return;
        }
        let mut blocks = Vec::new();
        for b in 0..=255u8 {
            for position in [0, 1, 7, 8, 31, 32, 62, 63] {
                let mut block = [b'x'; 64];
                block[position] = b;
                blocks.push(block);
                let mut block = [b' '; 64];
                block[position] = b;
                blocks.push(block);
            }
        }
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        for _ in 0..2000 {
            let mut block = [0u8; 64];
            for byte in &mut block {
                state = state
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1);
                *byte = (state >> 56) as u8;
            }
            blocks.push(block);
        }
        for block in &blocks {
            for words in [true, false] {
                assert_eq!(
                    Avx2::block(block, words),
                    Swar::block(block, words),
                    "{block:?} {words}"
                );
            }
        }
    }

    #[test]
    fn examples_match_the_general_path() {
        let long = "Xy_z ".repeat(40);
        for text in [
            "",
            " ",
            "a",
            "Hello, World! foo_bar 42x",
            "İstanbul ΟΔΟΣ. x",
            "café—Straße ñ 𝔘𝔫𝔦 cafe\u{301}x",
            "trailing  ",
            "AVeryLongIdentifierThatSpansSeveralWordsOfEightBytes x",
            &long,
        ] {
            for tokenizer in Tokenizer::ALL {
                assert_eq!(
                    fast(tokenizer, text),
                    general(tokenizer, text),
                    "{tokenizer} {text:?}"
                );
                assert_eq!(
                    fast_swar(tokenizer, text),
                    general(tokenizer, text),
                    "{tokenizer} {text:?}"
                );
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(500))]
        #[test]
        fn ascii_spans_match_unit_char_spans(text in "[a-zA-Z0-9_ .,\t\n\u{0}\u{1F}-]{0,200}") {
            for tokenizer in [Tokenizer::Words, Tokenizer::Whitespace] {
                let (mut fast, mut general) = (Vec::new(), Vec::new());
                prop_assert!(ascii_unit_spans(tokenizer, &text, &mut fast));
                crate::contamination::unit_char_spans(tokenizer, &text, &mut general);
                prop_assert_eq!(fast, general);
            }
        }

        #[test]
        fn long_ascii_tokens_match_the_general_path(
            text in "([a-zA-Z0-9_]{1,80}[ .,\t\n-]{1,3}){0,12}[a-zA-Z0-9_]{0,70}",
        ) {
            for tokenizer in [Tokenizer::Words, Tokenizer::Whitespace] {
                prop_assert_eq!(fast(tokenizer, &text), general(tokenizer, &text));
                prop_assert_eq!(fast_swar(tokenizer, &text), general(tokenizer, &text));
            }
        }

        #[test]
        fn one_pass_units_match_the_general_path(
            text in "([a-zA-Z0-9_ .,\t\n\u{0}\u{1F}-]|İ|ß|é|\u{301}|σ|Σ|\u{3000}|\u{2014}|𝔘){0,150}",
        ) {
            for tokenizer in [Tokenizer::Words, Tokenizer::Whitespace] {
                prop_assert_eq!(fast(tokenizer, &text), general(tokenizer, &text));
                prop_assert_eq!(fast_swar(tokenizer, &text), general(tokenizer, &text));
            }
        }
    }
}
