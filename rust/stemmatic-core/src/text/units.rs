//! A document as units: its normalized bytes (exactly
//! [`Tokenizer::normalize_into`]'s), where each unit starts, and each
//! unit's [`token_hash`].
//!
//! For `words`, `auto` and `whitespace` this is one pass over the text: the bytes
//! that can belong to a token (ASCII token characters and every byte of a
//! non-ASCII character) are marked 8 at a time with SWAR range tests into a
//! 64-bit mask per 64 bytes, and runs of marked bytes are read off the mask's
//! bit transitions, so a token costs no mispredicted branch per byte. An ASCII run is a token: it
//! is lowercased and copied 8 bytes at a time, and hashed from the same
//! words. A run with non-ASCII characters is normalized on its own by
//! [`Tokenizer::normalize_into`] (for `auto`, which cuts ASCII as `words`
//! does, that is where characters of unspaced scripts become units): the ASCII separators around it separate in
//! the whole text too, and lowercasing is per character except for the
//! final sigma, whose context can reach past separators, so a text with `Σ`
//! (and every `chars` text) takes the general path: normalize the whole text,
//! then hash each unit.
//!
//! The contamination scan needs the normalized bytes of only the few
//! windows its prefilter passes, so it cuts a text into [`RawUnits`]
//! instead: the run bounds of the whole text in one branch-free pass
//! ([`token_bounds`]; with AVX-512, a block's bounds are packed by
//! `vpcompressb` and written as vectors), ASCII tokens hashed off the raw
//! bytes (the
//! [`token_hash`] of a token and of its lowercase are the same), and only
//! the runs with other characters normalized, into a side buffer.

use super::Tokenizer;
use crate::simd::{self, Kernel};

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

/// Bit 5 of every byte: set, it makes an ASCII letter lowercase.
const CASE_BITS: u64 = 0x2020_2020_2020_2020;

/// The prefilter hash of one unit's normalized bytes: the state starts at
/// the byte length, and each 8-byte little-endian word of the bytes, with
/// bit 5 of every byte set ([`CASE_BITS`]) and the last word zero-padded,
/// is mixed in with [`mix_word`]. Setting bit 5 maps an ASCII byte and its
/// lowercase to the same value, so [`ascii_token_hash`] reads the hash of
/// a token off its raw bytes, with no lowercase copy; the other bytes it
/// merges (`@` and `` ` ``, say) only make the prefilter pass a little more.
/// [`super::units`] computes the same value while it copies tokens.
pub(crate) fn token_hash(token: &[u8]) -> u64 {
    let mut state = token.len() as u64;
    let mut words = token.chunks_exact(8);
    for word in &mut words {
        let mut raw = [0u8; 8];
        raw.copy_from_slice(word);
        state = mix_word(state, u64::from_le_bytes(raw) | CASE_BITS);
    }
    let rest = words.remainder();
    if !rest.is_empty() {
        let mut raw = [0u8; 8];
        raw[..rest.len()].copy_from_slice(rest);
        state = mix_word(
            state,
            low_bytes(u64::from_le_bytes(raw) | CASE_BITS, rest.len()),
        );
    }
    state
}

/// [`token_hash`] of the lowercase of the ASCII token `bytes[start..end]`
/// (not empty), read off the raw bytes a word at a time.
#[inline(always)]
pub(crate) fn ascii_token_hash(bytes: &[u8], start: usize, end: usize) -> u64 {
    let len = end - start;
    let mut state = len as u64;
    let mut offset = 0;
    loop {
        let word = load_word(bytes, start + offset) | CASE_BITS;
        state = mix_word(state, low_bytes(word, len - offset));
        offset += 8;
        if offset >= len {
            break;
        }
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
/// byte `k` is a token byte, of the second when it is not ASCII; and how
/// [`token_bounds`] writes a block's transitions.
///
/// The methods may run instructions of CPU features that the implementing
/// type names in its documentation ([`Swar`]: none): they are `unsafe`, and
/// so is every function generic over `Classify`, with the same contract.
trait Classify {
    /// # Safety
    /// The CPU has the features the implementing type names.
    unsafe fn block(block: &[u8; 64], words_tokenizer: bool) -> (u64, u64);

    /// Write `base` plus the position of each set bit of `transitions`
    /// (`found` of them) to the front of `slots`, in order; the slots past
    /// them may get junk. Here 16, then 8 at a time whatever their number:
    /// no branch per transition.
    ///
    /// # Safety
    /// The CPU has the features the implementing type names.
    #[inline(always)]
    unsafe fn write_transitions(
        base: u32,
        mut transitions: u64,
        found: usize,
        slots: &mut [u32; 64],
    ) {
        // Past the last transition, `trailing_zeros` is 64.
        for slot in &mut slots[..16] {
            *slot = base + transitions.trailing_zeros();
            transitions &= transitions.wrapping_sub(1);
        }
        let mut written = 16;
        while written < found {
            for slot in &mut slots[written..written + 8] {
                *slot = base + transitions.trailing_zeros();
                transitions &= transitions.wrapping_sub(1);
            }
            written += 8;
        }
    }
}

/// Eight bytes at a time with [`word_token_bits`]: every target, no CPU
/// feature ([`Kernel::Portable`]).
struct Swar;

impl Classify for Swar {
    #[inline(always)]
    unsafe fn block(block: &[u8; 64], words_tokenizer: bool) -> (u64, u64) {
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

/// The whole block in a few AVX2 compares, 32 bytes at a time: needs AVX2
/// ([`Kernel::Avx2`]). Fast only inlined into code compiled with AVX2
/// enabled (see [`Units::fill_token_runs_avx2`]).
#[cfg(target_arch = "x86_64")]
struct Avx2;

#[cfg(target_arch = "x86_64")]
impl Classify for Avx2 {
    #[inline(always)]
    unsafe fn block(block: &[u8; 64], words_tokenizer: bool) -> (u64, u64) {
        let (low, high) = block.split_at(32);
        // SAFETY: the CPU has AVX2 (the caller's contract), and both halves
        // have 32 bytes.
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

/// The whole block in one 64-byte vector, compares straight into bit
/// masks: needs AVX-512 F, BW and VBMI2 (`Kernel::Avx512.token_bounds()`).
/// Fast only inlined into code compiled with them (see
/// [`token_bounds_avx512`]).
#[cfg(target_arch = "x86_64")]
struct Avx512;

#[cfg(target_arch = "x86_64")]
impl Classify for Avx512 {
    #[inline(always)]
    unsafe fn block(block: &[u8; 64], words_tokenizer: bool) -> (u64, u64) {
        // SAFETY: the CPU has AVX-512 F and BW (the caller's contract).
        unsafe { classify_avx512(block, words_tokenizer) }
    }

    #[inline(always)]
    unsafe fn write_transitions(base: u32, transitions: u64, found: usize, slots: &mut [u32; 64]) {
        // SAFETY: the CPU has AVX-512 F and VBMI2 (the caller's contract).
        unsafe { write_transitions_avx512(base, transitions, found, slots) }
    }
}

/// The token and non-ASCII bits of a 64-byte block with AVX-512: the same
/// masks as [`Swar`].
///
/// # Safety
/// The CPU must support AVX-512 F and BW.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw")]
#[inline]
fn classify_avx512(block: &[u8; 64], words_tokenizer: bool) -> (u64, u64) {
    use std::arch::x86_64::{
        __m512i, _mm512_cmpeq_epi8_mask, _mm512_cmple_epu8_mask, _mm512_loadu_si512,
        _mm512_movepi8_mask, _mm512_or_si512, _mm512_set1_epi8, _mm512_sub_epi8,
    };
    // SAFETY: `block` is 64 readable bytes; the load is unaligned.
    let v = unsafe { _mm512_loadu_si512(block.as_ptr().cast()) };
    let byte = |b: u8| _mm512_set1_epi8(b as i8);
    // `lo <= v <= hi` as `v - lo <= hi - lo`, unsigned.
    let in_range = |v: __m512i, lo: u8, hi: u8| {
        _mm512_cmple_epu8_mask(_mm512_sub_epi8(v, byte(lo)), byte(hi - lo))
    };
    let non_ascii = _mm512_movepi8_mask(v);
    let token = if words_tokenizer {
        let folded = _mm512_or_si512(v, byte(0x20));
        in_range(folded, b'a', b'z')
            | in_range(v, b'0', b'9')
            | _mm512_cmpeq_epi8_mask(v, byte(b'_'))
            | non_ascii
    } else {
        // Not `str.isspace()`: outside 0x09..=0x0D, 0x1C..=0x20.
        !(in_range(v, 0x09, 0x0D) | in_range(v, 0x1C, 0x20))
    };
    (token, non_ascii)
}

/// Call `on_run(start, end, ascii)` for each maximal run of token bytes
/// of `bytes`, in order; `ascii` is false when the run has a non-ASCII byte.
#[inline(always)]
fn for_each_run(bytes: &[u8], words_tokenizer: bool, on_run: impl FnMut(usize, usize, bool)) {
    // SAFETY: `Swar` needs no CPU feature.
    unsafe { for_each_run_with::<Swar>(bytes, words_tokenizer, on_run) };
}

/// Call `on_block(base, transitions, non_ascii)` for each 64-byte block
/// of `bytes`, in order: bit `k` of `transitions` is set where a run of
/// token bytes starts or ends at byte `base + k`, of `non_ascii` where that
/// byte is not ASCII. The last block is padded with spaces (a separator for
/// both tokenizers) and there always is one, so every run ends in a block.
///
/// # Safety
/// The CPU has the features `C` names.
#[inline(always)]
unsafe fn for_each_block<C: Classify>(
    bytes: &[u8],
    words_tokenizer: bool,
    mut on_block: impl FnMut(usize, u64, u64),
) {
    let mut carry = 0u64;
    let mut padded = [b' '; 64];
    for base in (0..=bytes.len()).step_by(64) {
        let block = if let Some(block) = bytes.get(base..).and_then(<[u8]>::first_chunk::<64>) {
            block
        } else {
            let rest = bytes.get(base..).unwrap_or_default();
            padded[..rest.len()].copy_from_slice(rest);
            &padded
        };
        // SAFETY: the CPU has `C`'s features (this function's contract).
        let (mask, non_ascii) = unsafe { C::block(block, words_tokenizer) };
        let transitions = mask ^ ((mask << 1) | carry);
        carry = mask >> 63;
        on_block(base, transitions, non_ascii);
    }
}

/// [`for_each_run`] with blocks classified by `C`.
///
/// # Safety
/// The CPU has the features `C` names.
#[inline(always)]
unsafe fn for_each_run_with<C: Classify>(
    bytes: &[u8],
    words_tokenizer: bool,
    mut on_run: impl FnMut(usize, usize, bool),
) {
    let mut run_start = 0usize;
    let mut run_ascii = true;
    let mut in_run = false;
    // Every run ends in a block, so `on_run` is inlined once.
    // SAFETY: the CPU has `C`'s features (this function's contract).
    unsafe {
        for_each_block::<C>(
            bytes,
            words_tokenizer,
            |base, mut transitions, non_ascii| {
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
            },
        );
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
    for_each_token_run(text.as_bytes(), tokenizer.ascii_words(), |start, end, _| {
        out.push((start, end));
    });
    true
}

/// [`for_each_run`], with the AVX2 classifier under the AVX2 and AVX-512
/// kernels ([`simd::kernel`]).
#[inline]
pub(crate) fn for_each_token_run(
    bytes: &[u8],
    words_tokenizer: bool,
    on_run: impl FnMut(usize, usize, bool),
) {
    match simd::kernel() {
        #[cfg(target_arch = "x86_64")]
        Kernel::Avx2 | Kernel::Avx512 => {
            // SAFETY: `simd::kernel` is one the CPU supports, and both of
            // these kernels include AVX2.
            unsafe { for_each_run_avx2(bytes, words_tokenizer, on_run) };
        }
        _ => for_each_run(bytes, words_tokenizer, on_run),
    }
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
    // SAFETY: the CPU has AVX2 (this function's contract).
    unsafe { for_each_run_with::<Avx2>(bytes, words_tokenizer, on_run) };
}

/// The longest text [`token_bounds`] takes: positions are `u32`, and
/// [`RawUnits`] marks positions in its side buffer with the top bit.
const MAX_BOUNDS_TEXT: usize = (1 << 31) - 128;

/// Where the runs of token bytes of `bytes` start and end, for `words`
/// (`words_tokenizer`) or `whitespace`: into `out`, run `p` is
/// `bytes[out[2p]..out[2p + 1]]`; the positions of the bytes that are not
/// ASCII (always inside runs) into `non_ascii`. Returns the number of
/// positions written to `out` (twice the number of runs); `None` for a text
/// of 2 GiB or more. In an ASCII text the runs are the tokens.
///
/// The run transitions of each 64-byte block are written in fixed-size
/// groups whatever their number ([`Classify::write_transitions`]), and the
/// count advanced by their number: no branch per token, unlike
/// [`for_each_run`]. The kernel is [`simd::kernel`]'s
/// [`Kernel::token_bounds`]: whole blocks in one AVX-512 vector with bounds
/// packed by `vpcompressb`, two AVX2 vectors, or SWAR.
pub(crate) fn token_bounds(
    bytes: &[u8],
    words_tokenizer: bool,
    out: &mut Vec<u32>,
    non_ascii: &mut Vec<u32>,
) -> Option<usize> {
    if bytes.len() > MAX_BOUNDS_TEXT {
        return None;
    }
    let kernel = simd::kernel().token_bounds();
    // SAFETY: `simd::kernel` is one the CPU supports, and so is its
    // `token_bounds` (it checks VBMI2 itself).
    Some(unsafe { token_bounds_on(kernel, bytes, words_tokenizer, out, non_ascii) })
}

/// [`token_bounds`] of a text at most [`MAX_BOUNDS_TEXT`] long with the
/// kernel `kernel`.
///
/// # Safety
/// `kernel` is the [`Kernel::token_bounds`] of a kernel the CPU supports
/// ([`Kernel::is_supported`]).
unsafe fn token_bounds_on(
    kernel: Kernel,
    bytes: &[u8],
    words_tokenizer: bool,
    out: &mut Vec<u32>,
    non_ascii: &mut Vec<u32>,
) -> usize {
    match kernel {
        #[cfg(target_arch = "x86_64")]
        Kernel::Avx512 => {
            // SAFETY: `Kernel::token_bounds` is `Avx512` only where the CPU
            // has VBMI2 besides AVX-512 F, BW and AVX2 (this contract).
            unsafe { token_bounds_avx512(bytes, words_tokenizer, out, non_ascii) }
        }
        #[cfg(target_arch = "x86_64")]
        Kernel::Avx2 => {
            // SAFETY: the CPU has AVX2 (this function's contract).
            unsafe { token_bounds_avx2(bytes, words_tokenizer, out, non_ascii) }
        }
        // SAFETY: `Swar` needs no CPU feature.
        _ => unsafe { token_bounds_with::<Swar>(bytes, words_tokenizer, out, non_ascii) },
    }
}

/// [`token_bounds_with`] compiled for AVX2, blocks classified by [`Avx2`].
///
/// # Safety
/// The CPU must support AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn token_bounds_avx2(
    bytes: &[u8],
    words_tokenizer: bool,
    out: &mut Vec<u32>,
    non_ascii: &mut Vec<u32>,
) -> usize {
    // SAFETY: the CPU has AVX2 (this function's contract).
    unsafe { token_bounds_with::<Avx2>(bytes, words_tokenizer, out, non_ascii) }
}

/// [`token_bounds_with`] compiled for AVX-512, blocks classified by
/// [`Avx512`] and their transitions written by [`write_transitions_avx512`].
///
/// # Safety
/// The CPU must support AVX-512 F, BW and VBMI2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vbmi2,avx2")]
unsafe fn token_bounds_avx512(
    bytes: &[u8],
    words_tokenizer: bool,
    out: &mut Vec<u32>,
    non_ascii: &mut Vec<u32>,
) -> usize {
    // SAFETY: the CPU has AVX-512 F, BW and VBMI2 (this function's contract).
    unsafe { token_bounds_with::<Avx512>(bytes, words_tokenizer, out, non_ascii) }
}

/// [`Classify::write_transitions`] as a few vectors: the bit positions
/// packed by `vpcompressb`, widened to 32 bits and offset, 16 at a time.
///
/// # Safety
/// The CPU must support AVX-512 F and VBMI2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512vbmi2")]
#[inline]
fn write_transitions_avx512(base: u32, transitions: u64, found: usize, slots: &mut [u32; 64]) {
    use std::arch::x86_64::{
        _mm512_add_epi32, _mm512_castsi512_si128, _mm512_cvtepu8_epi32, _mm512_extracti32x4_epi32,
        _mm512_loadu_si512, _mm512_maskz_compress_epi8, _mm512_set1_epi32, _mm512_storeu_si512,
    };
    /// Byte `k` is `k`: packed by a block's transition bits, their positions.
    const IOTA: [u8; 64] = {
        let mut iota = [0u8; 64];
        let mut k = 0;
        while k < 64 {
            iota[k] = k as u8;
            k += 1;
        }
        iota
    };
    // SAFETY: `IOTA` is 64 readable bytes; the load is unaligned.
    let iota = unsafe { _mm512_loadu_si512(IOTA.as_ptr().cast()) };
    let packed = _mm512_maskz_compress_epi8(transitions, iota);
    let offset = _mm512_set1_epi32(base as i32);
    let quarter = |q: usize| {
        let bytes = match q {
            0 => _mm512_castsi512_si128(packed),
            1 => _mm512_extracti32x4_epi32::<1>(packed),
            2 => _mm512_extracti32x4_epi32::<2>(packed),
            _ => _mm512_extracti32x4_epi32::<3>(packed),
        };
        _mm512_add_epi32(_mm512_cvtepu8_epi32(bytes), offset)
    };
    // The first 32 always (most blocks have fewer transitions), then the rest.
    for q in 0..(if found > 32 { 4 } else { 2 }) {
        // SAFETY: `slots` has 64 `u32`s, and quarter `q` writes 16 of them
        // from `16 q` (unaligned store).
        unsafe { _mm512_storeu_si512(slots[16 * q..].as_mut_ptr().cast(), quarter(q)) };
    }
}

/// [`token_bounds`] with blocks classified by `C`; `bytes` is at most
/// [`MAX_BOUNDS_TEXT`] long.
///
/// # Safety
/// The CPU has the features `C` names.
#[inline(always)]
unsafe fn token_bounds_with<C: Classify>(
    bytes: &[u8],
    words_tokenizer: bool,
    out: &mut Vec<u32>,
    non_ascii: &mut Vec<u32>,
) -> usize {
    // A text has at most one transition per byte boundary, plus the end;
    // each block writes up to 64 slots past the count.
    if out.len() < bytes.len() + 128 {
        out.resize(bytes.len() + 128, 0);
    }
    non_ascii.clear();
    let mut count = 0usize;
    let each_block = |base: usize, transitions: u64, mut high: u64| {
        // `base` fits: the text is at most `MAX_BOUNDS_TEXT` long.
        let base = base as u32;
        while high != 0 {
            non_ascii.push(base + high.trailing_zeros());
            high &= high - 1;
        }
        let found = transitions.count_ones() as usize;
        // Junk past the transitions is written over by the next block.
        if let Some(slots) = out
            .get_mut(count..)
            .and_then(<[u32]>::first_chunk_mut::<64>)
        {
            // SAFETY: the CPU has `C`'s features (this function's contract).
            unsafe { C::write_transitions(base, transitions, found, slots) };
        }
        count += found;
    };
    // SAFETY: the CPU has `C`'s features (this function's contract).
    unsafe { for_each_block::<C>(bytes, words_tokenizer, each_block) };
    count
}

/// What [`RawUnits::cut`] feeds each unit's [`token_hash`] to, in order: a
/// trait rather than a closure so that the hot call inlines at both of its
/// call sites.
pub(crate) trait UnitSink {
    fn unit(&mut self, hash: u64);
}

/// Marks a [`RawUnits`] position as one in its side buffer.
const EXTRA: u32 = 1 << 31;

/// A document's units for scanning, with no normalized copy of the text:
/// unit `p` is `units()[2p..2p + 2]`, the span of an ASCII token in the
/// text (lowercased when read) or, both positions marked with [`EXTRA`],
/// the span of a normalized token in a side buffer (the tokens of runs with
/// other characters). The units, their order and their bytes are exactly
/// those of [`Units::fill`].
#[derive(Debug, Default)]
pub(crate) struct RawUnits {
    /// [`token_bounds`] of the text.
    bounds: Vec<u32>,
    non_ascii: Vec<u32>,
    /// For an ASCII text, the units are `bounds[..count]`: `Some(count)`.
    ascii_count: Option<usize>,
    /// Otherwise the units are here.
    mixed: Vec<u32>,
    extra: Vec<u8>,
    normalized: String,
}

impl RawUnits {
    /// Cut `text` for `tokenizer` and give `sink` the [`token_hash`] of
    /// each unit in order; `ascii` says that the text is ASCII. False,
    /// before anything reaches `sink`, when the text needs [`Units::fill`]:
    /// `chars`, a text with `Σ` (see [`super::units`]), or one of 2 GiB.
    #[inline]
    pub(crate) fn cut(
        &mut self,
        tokenizer: Tokenizer,
        text: &str,
        ascii: bool,
        sink: &mut impl UnitSink,
    ) -> bool {
        let bytes = text.as_bytes();
        if tokenizer.is_char_level()
            || (!ascii && memchr::memmem::find(bytes, "\u{03A3}".as_bytes()).is_some())
        {
            return false;
        }
        let words = tokenizer.ascii_words();
        let Some(count) = token_bounds(bytes, words, &mut self.bounds, &mut self.non_ascii) else {
            return false;
        };
        self.ascii_count = ascii.then_some(count);
        if ascii {
            // Hashed off the raw bytes: no copy at all.
            for token in self.bounds[..count].chunks_exact(2) {
                sink.unit(ascii_token_hash(
                    bytes,
                    token[0] as usize,
                    token[1] as usize,
                ));
            }
            return true;
        }
        self.mixed.clear();
        self.extra.clear();
        // Non-ASCII bytes are inside runs and in order: the next one is in
        // this run if it is before the run's end.
        let mut next = 0;
        for run in self.bounds[..count].chunks_exact(2) {
            let (start, end) = (run[0], run[1]);
            let first = next;
            while self.non_ascii.get(next).is_some_and(|&at| at < end) {
                next += 1;
            }
            if next > first {
                let run = MixedRun {
                    text,
                    start: start as usize,
                    end: end as usize,
                    tokenizer,
                };
                for token in tokens_of(run.normalize(&mut self.normalized)) {
                    let at = self.extra.len() as u32;
                    self.extra.extend_from_slice(token);
                    self.mixed
                        .extend([EXTRA | at, EXTRA | (at + token.len() as u32)]);
                    sink.unit(token_hash(token));
                }
            } else {
                self.mixed.extend([start, end]);
                sink.unit(ascii_token_hash(bytes, start as usize, end as usize));
            }
        }
        true
    }

    /// The unit spans, two positions per unit.
    pub(crate) fn units(&self) -> &[u32] {
        match self.ascii_count {
            Some(count) => &self.bounds[..count],
            None => &self.mixed,
        }
    }

    /// Append the normalized bytes of unit `unit` of `text` and a space to `out`.
    #[inline]
    pub(crate) fn push_unit(&self, text: &[u8], unit: usize, out: &mut Vec<u8>) {
        let units = self.units();
        let (start, end) = (units[2 * unit], units[2 * unit + 1]);
        if start & EXTRA == 0 {
            push_ascii_token(text, start as usize, end as usize, out);
        } else {
            out.extend_from_slice(&self.extra[(start & !EXTRA) as usize..(end & !EXTRA) as usize]);
            out.push(b' ');
        }
    }

    /// The normalized byte length of unit `unit`.
    #[inline]
    pub(crate) fn unit_len(&self, unit: usize) -> usize {
        let units = self.units();
        (units[2 * unit + 1] - units[2 * unit]) as usize
    }

    /// For an ASCII text, the character span of each unit into `out`
    /// (as [`crate::contamination::unit_char_spans`] gives it); false for
    /// another text.
    pub(crate) fn ascii_spans(&self, out: &mut Vec<(usize, usize)>) -> bool {
        if self.ascii_count.is_none() {
            return false;
        }
        out.clear();
        out.extend(
            self.units()
                .chunks_exact(2)
                .map(|unit| (unit[0] as usize, unit[1] as usize)),
        );
        true
    }
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

/// Append the ASCII token `bytes[start..end]`, lowercased, and a space to
/// `out`, a word at a time.
#[inline]
pub(crate) fn push_ascii_token(bytes: &[u8], start: usize, end: usize, out: &mut Vec<u8>) {
    let len = end - start;
    let at = out.len();
    out.reserve(len + 8);
    for offset in (0..len).step_by(8) {
        let word = ascii_lowercase_word(load_word(bytes, start + offset));
        out.extend_from_slice(&word.to_le_bytes());
    }
    out.truncate(at + len);
    out.push(b' ');
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
        state = mix_word(state, low_bytes(word | CASE_BITS, len - offset));
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
        match simd::kernel() {
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2 | Kernel::Avx512 => {
                // SAFETY: `simd::kernel` is one the CPU supports, and both of
                // these kernels include AVX2.
                unsafe { self.fill_token_runs_avx2(text, tokenizer, on_unit) }
            }
            // SAFETY: `Swar` needs no CPU feature.
            _ => unsafe { self.fill_token_runs::<Swar>(text, tokenizer, on_unit) },
        }
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
        // SAFETY: the CPU has AVX2 (this function's contract).
        unsafe { self.fill_token_runs::<Avx2>(text, tokenizer, on_unit) }
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
    ///
    /// # Safety
    /// The CPU has the features `C` names.
    #[inline(always)]
    unsafe fn fill_token_runs<C: Classify>(
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
        let words_tokenizer = tokenizer.ascii_words();
        let (buffer, starts) = (&mut self.buffer, &mut self.starts);
        let mut written = 0;
        if bytes.is_ascii() {
            let each_run = |start, end, _| {
                // Every run is a token.
                starts.push(written);
                let (hash, next) = add_ascii_token(buffer, bytes, start, end, written);
                on_unit(hash);
                written = next;
            };
            // SAFETY: the CPU has `C`'s features (this function's contract).
            unsafe { for_each_run_with::<C>(bytes, words_tokenizer, each_run) };
        } else {
            // `memmem` rather than `str::contains`: the std two-byte search was a
            // fifth of the scan time on non-ASCII documents.
            if memchr::memmem::find(bytes, "\u{03A3}".as_bytes()).is_some() {
                return false;
            }
            let normalized = &mut self.text;
            let each_run = |start, end, ascii| {
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
            };
            // SAFETY: the CPU has `C`'s features (this function's contract).
            unsafe { for_each_run_with::<C>(bytes, words_tokenizer, each_run) };
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

impl MixedRun<'_> {
    /// The run normalized on its own (into `normalized`), its tokens joined
    /// by single spaces. The run starts and ends at ASCII bytes (or the
    /// text's ends), so it is whole characters, the ASCII separators around
    /// it separate in the whole text too, and it has no `Σ` (checked by the
    /// caller).
    fn normalize<'n>(&self, normalized: &'n mut String) -> &'n str {
        let piece = self.text.get(self.start..self.end).unwrap_or_default();
        self.tokenizer.normalize_into(piece, normalized);
        normalized
    }
}

/// The tokens of a normalized text.
fn tokens_of(normalized: &str) -> impl Iterator<Item = &[u8]> {
    normalized
        .split(' ')
        .filter(|t| !t.is_empty())
        .map(str::as_bytes)
}

/// Append the tokens of a run with non-ASCII characters at `written`; the
/// new end (past the separating space).
#[cold]
fn add_mixed_run(
    run: MixedRun<'_>,
    buffer: &mut Vec<u8>,
    starts: &mut Vec<usize>,
    normalized: &mut String,
    mut written: usize,
    on_unit: &mut impl FnMut(u64),
) -> usize {
    let normalized = run.normalize(normalized);
    // Room for the run and, at the invariant of the ASCII runs, the rest of the text.
    let need = written + normalized.len() + 1 + (run.text.len() - run.end) + 16;
    if buffer.len() < need {
        buffer.resize(need, 0);
    }
    for token in tokens_of(normalized) {
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

    /// [`fast`] with the classifier of `kernel` (which the CPU supports),
    /// whatever the process's own [`simd::kernel`].
    fn fast_on(
        kernel: Kernel,
        tokenizer: Tokenizer,
        text: &str,
    ) -> (Vec<u8>, Vec<usize>, Vec<u64>) {
        assert!(kernel.is_supported());
        let mut units = Units::default();
        let mut hashes = Vec::new();
        units.fill(tokenizer, "SOME earlier text: İİİ ß");
        let on_unit = |h| hashes.push(h);
        let cut = !tokenizer.is_char_level()
            && match kernel {
                // SAFETY: the CPU supports `kernel` (asserted), which has AVX2.
                #[cfg(target_arch = "x86_64")]
                Kernel::Avx2 | Kernel::Avx512 => unsafe {
                    units.fill_token_runs_avx2(text, tokenizer, on_unit)
                },
                // SAFETY: `Swar` needs no CPU feature.
                _ => unsafe { units.fill_token_runs::<Swar>(text, tokenizer, on_unit) },
            };
        if !cut {
            units.fill_general(tokenizer, text);
            hashes.clone_from(&units.hashes);
        }
        (units.bytes().to_vec(), units.starts, hashes)
    }

    /// Every kernel the CPU supports cuts `text` as the general path does.
    fn every_kernel_matches_the_general_path(tokenizer: Tokenizer, text: &str) {
        let expected = general(tokenizer, text);
        for kernel in Kernel::supported() {
            assert_eq!(
                fast_on(kernel, tokenizer, text),
                expected,
                "{kernel} {tokenizer} {text:?}"
            );
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn simd_blocks_match_swar() {
        if !Kernel::Avx2.is_supported() {
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
        // `Avx512` needs what the token-bounds AVX-512 kernel needs.
        let avx512 =
            Kernel::Avx512.is_supported() && Kernel::Avx512.token_bounds() == Kernel::Avx512;
        for block in &blocks {
            for words in [true, false] {
                // SAFETY: `Swar` needs no CPU feature.
                let expected = unsafe { Swar::block(block, words) };
                // SAFETY: the CPU has AVX2, checked above.
                let avx2 = unsafe { Avx2::block(block, words) };
                assert_eq!(avx2, expected, "{block:?} {words}");
                if avx512 {
                    // SAFETY: the CPU has AVX-512 F, BW and VBMI2, checked above.
                    let avx512 = unsafe { Avx512::block(block, words) };
                    assert_eq!(avx512, expected, "{block:?} {words}");
                }
            }
        }
    }

    #[test]
    fn token_bounds_at_every_length() {
        // Texts ending in and after a token at every offset of a block,
        // and blocks of 32 tokens (64 transitions, the most one holds).
        for pattern in ["Ab_c9 ", "a ", "a"] {
            let full = pattern.repeat(300);
            for len in 0..=260 {
                let text = &full.as_bytes()[..len];
                let mut runs = Vec::new();
                for_each_run(text, true, |start, end, _| {
                    runs.extend([start as u32, end as u32]);
                });
                let (mut bounds, mut non_ascii) = (Vec::new(), Vec::new());
                let count = token_bounds(text, true, &mut bounds, &mut non_ascii);
                assert_eq!(
                    &bounds[..count.unwrap_or(0)],
                    &runs[..],
                    "{pattern:?} {len}"
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
            "我爱北京天安门。Hello世界 2024年コーヒー ที่นี่ x",
            &long,
        ] {
            for tokenizer in Tokenizer::ALL {
                assert_eq!(
                    fast(tokenizer, text),
                    general(tokenizer, text),
                    "{tokenizer} {text:?}"
                );
                every_kernel_matches_the_general_path(tokenizer, text);
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(500))]
        #[test]
        fn ascii_spans_match_unit_char_spans(text in "[a-zA-Z0-9_ .,\t\n\u{0}\u{1F}-]{0,200}") {
            for tokenizer in [Tokenizer::Words, Tokenizer::Whitespace, Tokenizer::Auto] {
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
            for tokenizer in [Tokenizer::Words, Tokenizer::Whitespace, Tokenizer::Auto] {
                prop_assert_eq!(fast(tokenizer, &text), general(tokenizer, &text));
                every_kernel_matches_the_general_path(tokenizer, &text);
            }
        }

        #[test]
        fn token_bounds_are_the_runs(
            text in "([a-zA-Z0-9_ .,\t\n\u{0}\u{1F}-]|é|\u{3000}){0,300}",
            words in any::<bool>(),
        ) {
            let mut runs = Vec::new();
            for_each_run(text.as_bytes(), words, |start, end, _| {
                runs.extend([start as u32, end as u32]);
            });
            let high: Vec<u32> = (0..text.len() as u32).filter(|&i| text.as_bytes()[i as usize] >= 0x80).collect();
            // Dirty and too short: written over, grown.
            let (mut bounds, mut non_ascii) = (vec![7; 3], vec![7]);
            let count = token_bounds(text.as_bytes(), words, &mut bounds, &mut non_ascii);
            prop_assert_eq!(&bounds[..count.unwrap_or(0)], &runs[..]);
            prop_assert_eq!(&non_ascii, &high);
            // Every kernel the CPU has, whichever the process runs.
            for kernel in Kernel::supported() {
                let (mut kernel_bounds, mut non_ascii) = (vec![7; 3], vec![7]);
                // SAFETY: the CPU supports `kernel`, so its `token_bounds` too.
                let count = unsafe {
                    token_bounds_on(kernel.token_bounds(), text.as_bytes(), words, &mut kernel_bounds, &mut non_ascii)
                };
                prop_assert_eq!(&kernel_bounds[..count], &runs[..], "{}", kernel);
                prop_assert_eq!(&non_ascii, &high);
            }
        }

        #[test]
        fn raw_ascii_hashes_are_the_lowercase_token_hashes(token in "[ -~]{1,40}", pad in "[ -~]{0,9}") {
            let text = format!("{token}{pad}");
            let lower = token.to_ascii_lowercase();
            prop_assert_eq!(
                ascii_token_hash(text.as_bytes(), 0, token.len()),
                token_hash(lower.as_bytes())
            );
            let mut joined = b"x ".to_vec();
            push_ascii_token(text.as_bytes(), 0, token.len(), &mut joined);
            prop_assert_eq!(joined, format!("x {lower} ").into_bytes());
        }

        #[test]
        fn one_pass_units_match_the_general_path(
            text in "([a-zA-Z0-9_ .,\t\n\u{0}\u{1F}-]|İ|ß|é|\u{301}|σ|Σ|\u{3000}|\u{2014}|𝔘|漢|字|。|ー|ท|\u{e48}|ຄ|က|ក|𠀀){0,150}",
        ) {
            for tokenizer in [Tokenizer::Words, Tokenizer::Whitespace, Tokenizer::Auto] {
                prop_assert_eq!(fast(tokenizer, &text), general(tokenizer, &text));
                every_kernel_matches_the_general_path(tokenizer, &text);
            }
        }
    }
}
